"""``gittrack doctor``: find what a crash, a killed command or a lost object left wrong, and fix
what can be fixed safely.

What it looks at, and what a repair does:

- derived state (the summary index, noted summaries, registry caches, the cache-state
  database): verified in full; a damaged file is deleted and rebuilt from git;
- run records whose objects are missing: named; with a remote (``origin`` by default) they
  are fetched again (``git fetch --refetch`` of those refs), otherwise they stay reported;
- journals of runs whose process died: recovered (ended ``crashed``); leftover temporary
  journal files of processes that died before their run started are removed;
- mirrors ``refs/gittrack-push/<token>/`` of killed pushes, with the lock files a killed git
  left in them: removed;
- lock files under ``refs/`` and ``packed-refs.lock`` older than
  :data:`gittrack.sharing.leftovers.STALE_LOCK_SECONDS`: removed (git itself asks you to remove
  them by hand).

Nothing here prints; the CLI renders the :class:`Report`.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gittrack.artifacts.local import cache_for
from gittrack.core import archive, journal, names
from gittrack.core.errors import GitError, MissingObjectError, RemoteError
from gittrack.core.gitio import missing
from gittrack.core.store import Store
from gittrack.query.index import Index
from gittrack.registry.resolver import LineCache, Registry, TagCache
from gittrack.sharing import leftovers
from gittrack.sharing.remote import resolve_remote
from gittrack.tracking import recovery

QUARANTINE = "quarantine"


@dataclass
class Finding:
    """One thing found wrong: what, whether it was repaired, and what to do if not."""

    check: str
    problem: str
    repaired: bool = False
    action: str = ""


@dataclass
class Report:
    """What doctor checked and found."""

    findings: list[Finding] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    repair: bool = True

    @property
    def healthy(self) -> bool:
        """Nothing left wrong (everything found was repaired)."""
        return all(f.repaired for f in self.findings)

    def add(self, check: str, problem: str, repaired: bool, action: str = "") -> None:
        self.findings.append(Finding(check, problem, repaired, action))

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {"healthy": self.healthy, "repair": self.repair, "checked": self.checked,
                "findings": [asdict(f) for f in self.findings]}


def examine(store: Store, repair: bool = True, remote: str | None = None) -> Report:
    """Check the repository's gittrack state; with ``repair``, fix what can be fixed."""
    report = Report(repair=repair)
    _journals(store, report, repair)
    _push_leftovers(store, report, repair)
    _derived(store, report, repair)
    _objects(store, report, repair, remote)
    report.checked["quarantined files"] = len(quarantined(store))
    return report


def quarantined(store: Store) -> list[Path]:
    """Damaged journal bytes kept under ``.git/gittrack/quarantine/`` (never deleted here)."""
    folder = store.repo.state_dir / QUARANTINE
    return sorted(folder.iterdir()) if folder.is_dir() else []


# ---------------------------------------------------------------- journals


def _journals(store: Store, report: Report, repair: bool) -> None:
    directory = store.repo.state_dir / "journal"
    dead = [p for p, fh in _peek_dead(directory)]
    report.checked["journals"] = len(list(directory.glob("*.jsonl"))) if directory.is_dir() else 0
    if dead:
        recovered = recovery.recover_dead_runs(store) if repair else []
        for path in dead:
            run_id = path.name.split(".", 1)[0]
            done = run_id in recovered or not path.exists()
            report.add("journals", f"run {run_id} died without ending (journal {path.name})",
                       done, "" if done else "run `gittrack doctor` to end it as crashed")
    for tmp in _dead_temporaries(directory):
        if repair:
            tmp.unlink(missing_ok=True)
        report.add("journals", f"temporary journal {tmp.name} of a process that died before its "
                   "run started", repair, "" if repair else "run `gittrack doctor` to remove it")


def _peek_dead(directory: Path) -> list[tuple[Path, None]]:
    found = []
    for path, fh in journal.dead_journals(directory):
        fh.close()
        if ".side." not in path.name:
            found.append((path, None))
    return found


def _dead_temporaries(directory: Path) -> list[Path]:
    out = []
    for tmp in sorted(directory.glob(".*.tmp")) if directory.is_dir() else []:
        try:
            fd = os.open(tmp, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            out.append(tmp)  # its creator holds it locked while alive
        except BlockingIOError:
            pass
        finally:
            os.close(fd)
    return out


# ---------------------------------------------------------------- push leftovers and locks


def _push_leftovers(store: Store, report: Report, repair: bool) -> None:
    repo = store.repo
    stale = leftovers.stale_stages(repo)
    report.checked["push leftovers"] = len(stale.scratch) + len(stale.mirrors)
    if stale:
        if repair:
            leftovers.drop_stale_stages(repo)
        what = [f"{len(stale.scratch)} scratch repositor(ies) under {repo.state_dir}"] \
            if stale.scratch else []
        what += [f"{len(stale.mirrors)} mirror ref(s) under {leftovers.STAGE_PREFIX}"] \
            if stale.mirrors else []
        report.add("push", f"killed pushes left {' and '.join(what)}", repair,
                   "" if repair else "run `gittrack doctor` or `gittrack push` to remove them")
    locks = leftovers.stale_locks(repo)
    report.checked["stale locks"] = len(locks)
    for lock in locks:
        if repair:
            lock.unlink(missing_ok=True)
        report.add("locks", f"lock file {lock} is older than {leftovers.STALE_LOCK_SECONDS} s "
                   "(left by a git process that died)", repair,
                   "" if repair else "run `gittrack doctor` to remove it")


# ---------------------------------------------------------------- derived state


def _derived(store: Store, report: Report, repair: bool) -> None:
    repo = store.repo
    index = Index(store)
    for problem in index.verify(repair=repair):
        report.add("index", problem, repair, "" if repair else "run `gittrack doctor`")
    report.checked["index segments"] = len(list(index.dir.glob("*.seg")))
    caches = [TagCache(repo).lines, LineCache(Registry(store).facts_cache.path)]
    for cache in caches:
        bad = cache.verify(repair=repair)
        if bad:
            report.add("registry cache", f"{bad} line(s) of {cache.path.name} fail their "
                       "checksum", repair, "" if repair else "run `gittrack doctor`")
    state = cache_for(repo).check_state(repair=repair)
    if state:
        report.add("cache state", f"the cache-state database is damaged ({state})", repair,
                   "" if repair else "run `gittrack doctor`")


# ---------------------------------------------------------------- objects


def _objects(store: Store, report: Report, repair: bool, remote: str | None) -> None:
    broken = missing_objects(store)
    report.checked["refs"] = len(store.repo.list_refs("refs/gittrack/"))
    if broken and repair:
        fetched = _refetch(store, list(broken), remote)
        broken = {r: why for r, why in broken.items() if r not in fetched}
        for ref in fetched:
            report.add("objects", f"{ref}: its missing objects were fetched again", True)
    for ref, why in broken.items():
        report.add("objects", f"{ref}: {why}", False,
                   "fetch it from a clone that has it: `gittrack pull REMOTE`, then "
                   "`gittrack doctor --remote REMOTE`")


def missing_objects(store: Store) -> dict[str, str]:
    """``{ref: why}`` of gittrack refs (runs, trash, baselines, registry tags) whose objects
    are not all here: the commit, and for a run the whole record under ``.gittrack/run/``."""
    repo = store.repo
    out: dict[str, str] = {}
    tags = {f"refs/tags/{name}": obj for name, obj in TagCache(repo).tags() if obj.header}
    refs = {**repo.list_refs("refs/gittrack/"), **{r: o.target for r, o in tags.items()}}
    for ref, oid in archive.entries(repo).items():  # archived runs: checked as their refs
        refs.setdefault(ref, oid)
    for ref, oid in sorted(refs.items()):
        if ref.startswith(leftovers.STAGE_PREFIX):
            continue
        try:
            if not repo.has_object(oid):
                raise missing(oid, "the commit the ref names")
            if ref.startswith(names.RUNS_PREFIX):
                store.check_record(oid)
        except MissingObjectError as exc:
            out[ref] = str(exc)
        except GitError as exc:
            out[ref] = str(exc)
    return out


def _refetch(store: Store, refs: list[str], remote: str | None) -> set[str]:
    """Fetch every object of ``refs`` again from ``remote`` (by default the one push and pull
    use); the refs that are whole afterwards."""
    repo = store.repo
    try:
        remote = resolve_remote(repo, remote)
    except RemoteError:
        if remote is not None:
            raise  # a name that is not one
        return set()  # nowhere to fetch from: the report says what is missing
    repo.run_git("fetch", "--refetch", "--no-tags", "--no-write-fetch-head", "--quiet", "--",
                 remote, *refs, check=False)
    still = missing_objects(store)
    return {r for r in refs if r not in still}
