"""The trash (soft-deleted runs) and garbage collection of the artifact cache.

``rm`` moves a run's ref to ``refs/gittrack/trash/<experiment>/<id>``, pointing at a small
marker commit: its parent is the run commit, its tree is the run's tree plus
``.gittrack/trash/record.yaml`` (deletion time, original ref, actor). Being a commit on a
ref, it survives `git gc` and travels with ``git push`` of ``refs/gittrack/*``
(docs/artifacts.md). ``gc`` keeps every object that a commit on any ref under
``refs/gittrack/``, ``refs/tags/`` or ``refs/heads/``, HEAD, or a live run's journal points at.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gittrack import query
from gittrack.artifacts.cache import GcReport, Pointer
from gittrack.artifacts.local import cache_for, cache_lock, read_pointers, stored_inputs
from gittrack.core import archive, journal, names, project
from gittrack.core.errors import (
    AmbiguousRunError,
    ArtifactError,
    GitError,
    InvalidInputError,
    RunNotFoundError,
    RunStateError,
)
from gittrack.core.records import dump_yaml, load_yaml
from gittrack.core.store import Store
from gittrack.sharing import refsync

TRASH_DIR = ".gittrack/trash"
TRASH_RECORD = f"{TRASH_DIR}/record.yaml"
DEFAULT_TRASH_DAYS = 30.0


@dataclass(frozen=True)
class TrashedRun:
    """A run in the trash."""

    ref: str
    marker: str
    run_commit: str
    run_id: str
    experiment: str
    name: str
    original_ref: str
    deleted: dt.datetime | None  # None when the record cannot be read: never emptied by age


@dataclass(frozen=True)
class GcResult:
    """What gc emptied from the trash and freed from the cache (or would, on a dry run)."""

    emptied: list[TrashedRun]
    report: GcReport
    objects: list[str] = field(default_factory=list)
    model_copies: list[str] = field(default_factory=list)  # md5s of copies load_model made
    model_bytes: int = 0
    younger: int = 0  # runs left in the trash: deleted less than the limit ago


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# ---------------------------------------------------------------- rm and restore


def trash_run(store: Store, spec: str, when: dt.datetime | None = None) -> TrashedRun:
    """Move a run to the trash; ``when`` (default now) is the recorded deletion time."""
    ref, commit = query.resolve(store, spec)
    parsed = names.parse_run_ref(ref)
    if parsed is None:
        raise RunNotFoundError(f"'{spec}' is not a run ref that can be moved to the trash.")
    experiment, run_id = parsed
    if journal.is_live(store.repo.state_dir / "journal", run_id):
        raise RunStateError(f"Run {run_id} is live in another process; end it before deleting it.")
    repo = store.repo
    deleted = (when or _now()).astimezone(dt.timezone.utc)
    record = {"deleted": deleted.isoformat(), "ref": ref, "run": run_id, "by": repo.actor()}
    subtree = repo.write_tree({"record.yaml": repo.write_blob(dump_yaml(record, sort_keys=False))})
    tree = repo.graft(repo.commit_tree(commit), TRASH_DIR, subtree)
    info = store.read_file(commit, "run.yaml") or {}
    name = str(info.get("name", ""))
    marker = repo.write_commit(tree, commit, f"gittrack trash: run {name} ({run_id})\n\n"
                                             f"deleted: {record['deleted']}\nref: {ref}\n")
    trash_ref = names.run_ref(experiment, run_id, prefix=names.TRASH_PREFIX)
    repo.set_ref(trash_ref, marker)  # the trash ref first: a crash in between loses nothing
    if repo.resolve_ref(ref) is not None:  # an archived run has none: its trash ref hides it
        repo.delete_ref(ref)
    return TrashedRun(trash_ref, marker, commit, run_id, experiment, name, ref, deleted)


def list_trash(store: Store) -> list[TrashedRun]:
    """Every run in the trash, oldest deletion first (unreadable records last)."""
    found = [t for ref, marker in store.repo.list_refs(names.TRASH_PREFIX).items()
             if (t := _read_trashed(store, ref, marker)) is not None]
    far = dt.datetime.max.replace(tzinfo=dt.timezone.utc)
    return sorted(found, key=lambda t: (t.deleted or far, t.ref))


def _read_trashed(store: Store, ref: str, marker: str) -> TrashedRun | None:
    parsed = names.parse_run_ref(ref, prefix=names.TRASH_PREFIX)
    if parsed is None:
        return None
    experiment, run_id = parsed
    try:
        parents = store.repo.commit_parents(marker)
        record = load_yaml(store.repo.read_blob(marker, TRASH_RECORD) or b"") or {}
        info = store.read_file(marker, "run.yaml") or {}
    except (GitError, KeyError, ValueError):
        return None
    deleted = _parse_time(record.get("deleted") if isinstance(record, dict) else None)
    original = record.get("ref") if isinstance(record, dict) else None
    return TrashedRun(ref, marker, parents[0] if parents else marker, run_id, experiment,
                      str(info.get("name", "")) if isinstance(info, dict) else "",
                      str(original or names.run_ref(experiment, run_id)), deleted)


def _parse_time(text: Any) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def find_trashed(store: Store, spec: str) -> TrashedRun:
    """The trashed run named by id, id prefix, ``<experiment>/<name>`` or a unique name."""
    spec = spec.strip()
    trashed = list_trash(store)
    hits = [t for t in trashed if t.run_id == spec]
    if not hits and len(spec) >= 4:
        hits = [t for t in trashed if t.run_id.startswith(spec)]
    if not hits:
        hits = [t for t in trashed if spec in (t.name, f"{t.experiment}/{t.name}")]
    if len(hits) > 1:
        ids = ", ".join(t.run_id for t in hits[:5])
        raise AmbiguousRunError(f"'{spec}' names {len(hits)} runs in the trash ({ids}); give the run id.")
    if not hits:
        raise RunNotFoundError(
            f"No run '{spec}' in the trash; list it with `git for-each-ref {names.TRASH_PREFIX}`."
        )
    return hits[0]


def restore_run(store: Store, spec: str) -> TrashedRun:
    """Bring a run back from the trash to its original ref."""
    trashed = find_trashed(store, spec)
    if not store.repo.create_ref(trashed.original_ref, trashed.run_commit):
        raise RunStateError(f"Ref {trashed.original_ref} exists already; delete it before restoring.")
    store.repo.delete_ref(trashed.ref)
    return trashed


# ---------------------------------------------------------------- gc


def trash_days(store: Store) -> float:
    """The configured age (``trash_days`` in .gittrack/config.yaml) after which gc empties the trash."""
    value = project.config(store.repo).get("trash_days", DEFAULT_TRASH_DAYS)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise InvalidInputError(f"trash_days in .gittrack/config.yaml must be a number of days; got {value!r}.")
    return float(value)


def gc(store: Store, days: float | None = None, dry_run: bool = False,
       now: dt.datetime | None = None) -> GcResult:
    """Empty the trash older than ``days`` and delete cache objects nothing references."""
    days = trash_days(store) if days is None else days
    if days < 0:
        raise InvalidInputError(f"The trash age must be zero or more days; got {days}.")
    cutoff = (now or _now()) - dt.timedelta(days=days)
    with cache_lock(store.repo, exclusive=True):
        in_trash = list_trash(store)
        expired = [t for t in in_trash if t.deleted is not None and t.deleted <= cutoff]
        keep = list(kept_pointers(store, {t.ref for t in expired}))
        if not dry_run:
            for trashed in expired:
                empty(store, trashed)
        report = cache_for(store.repo).gc(keep, dry_run=dry_run)
        copies = unused_model_copies(store, keep)
        copy_bytes = sum(_size(c) for c in copies)
        if not dry_run:
            for copy in copies:
                shutil.rmtree(copy, onerror=_make_writable_and_retry)
    objects = sorted(Path(p).parent.name + Path(p).name for p in report.paths)
    return GcResult(expired, report, objects, [c.name for c in copies], copy_bytes,
                    len(in_trash) - len(expired))


def unused_model_copies(store: Store, keep: list[Pointer]) -> list[Path]:
    """Copies under ``.git/gittrack/models/`` (made by load_model, one per model hash) of
    models that nothing kept references any more."""
    folder = store.repo.state_dir / "models"
    if not folder.is_dir():
        return []
    kept = {p.md5.removesuffix(".dir") for p in keep if p.isdir}
    return sorted(d for d in folder.iterdir() if d.name not in kept)


def _size(path: Path) -> int:
    return sum(p.lstat().st_size for p in path.rglob("*") if not p.is_dir()) if path.is_dir() \
        else path.lstat().st_size


def _make_writable_and_retry(func: Any, path: str, _exc: Any) -> None:
    # Files checked out of the cache may be read-only; so may their directory.
    os.chmod(os.path.dirname(path), 0o755)
    if os.path.isdir(path) and not os.path.islink(path):
        os.chmod(path, 0o755)
    func(path)


def empty(store: Store, trashed: TrashedRun) -> str:
    """Replace a trash ref by a record that the run was emptied, on ``refs/gittrack/emptied/``:
    a commit listing every run commit and trash marker of the run emptied so far, whose
    parent is the previous list (never the run, so neither the run nor its artifacts stay
    reachable). It travels like the trash, so a pull does not bring the run back from a
    remote that still holds it, and a push removes it there (gittrack.sharing.refsync)."""
    repo = store.repo
    ref = names.run_ref(trashed.experiment, trashed.run_id, prefix=names.EMPTIED_PREFIX)
    previous = repo.resolve_ref(ref)
    entries = refsync.emptied_entries(repo, previous)
    entries.append({"run_commit": trashed.run_commit, "marker": trashed.marker,
                    "deleted": trashed.deleted.isoformat() if trashed.deleted else None,
                    "emptied": _now().isoformat(), "by": repo.actor()})
    commit = refsync.write_emptied(repo, ref, entries, [previous] if previous else [])
    repo.set_ref(ref, commit)  # the record first: a crash in between loses nothing
    repo.delete_ref(trashed.ref)
    return commit


def kept_pointers(store: Store, skip_refs: set[str]) -> Iterator[Pointer]:
    """Every pointer that a ref, HEAD or a live run's journal still needs."""
    # Journals before refs: a run that ends in between has its pointers on its ref by then.
    yield from list(_journal_pointers(store.repo.state_dir / "journal"))
    for commit in sorted(_kept_commits(store, skip_refs)):
        try:
            pointers = [*read_pointers(store, commit).values(), *stored_inputs(store, commit).values()]
        except GitError:
            continue  # a ref to an object this clone lacks: nothing readable to keep
        except ArtifactError as exc:
            raise ArtifactError(
                f"gc stopped because commit {commit[:12]} has a damaged artifact record ({exc}); "
                "fix or delete its ref first."
            ) from exc
        yield from pointers


def _kept_commits(store: Store, skip_refs: set[str]) -> set[str]:
    repo = store.repo
    commits = {oid for prefix in ("refs/gittrack/", "refs/heads/")
               for ref, oid in repo.list_refs(prefix).items() if ref not in skip_refs}
    commits.update(t.target for t in repo.list_tags() if t.target_type == "commit")
    commits.update(archive.entries(repo).values())  # archived runs, except removed ones
    head = repo.head_commit()
    if head:
        commits.add(head)
    return commits


def _journal_pointers(directory: Path) -> Iterator[Pointer]:
    for path in sorted(directory.glob("*.jsonl")) if directory.is_dir() else ():
        try:
            _header, events = journal.read(path)
        except FileNotFoundError:
            continue  # the run ended meanwhile: its commit is on its ref
        for event in events:
            if len(event) == 3 and event[0] == "a":
                yield Pointer.from_dict(event[2])
            elif len(event) == 3 and event[0] == "i" and isinstance(event[2], dict) \
                    and event[2].get("stored"):
                yield Pointer.from_dict(event[2]["stored"])
