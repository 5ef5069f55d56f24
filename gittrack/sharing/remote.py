"""Push, fetch and pull: runs and registry tags through the git CLI, artifacts through dvc-data.

Refs travel with ``git push`` / ``git fetch`` and explicit refspecs, so the user's credential
helpers, SSH config and proxies apply (DVC's in-process transports fail on them). A push sends
the artifacts first and the refs after, so a ref on the remote never names an artifact the
artifact remote lacks; dvc-data skips objects already there, so rerunning an interrupted push
completes it. Which refs travel is decided by :mod:`gittrack.sharing.refsync`; registry tags the remote
took meanwhile are renumbered by :mod:`gittrack.registry.renumber`, never force-pushed. Nothing here
prints: progress goes to a callback ``(phase, done, total)`` that the CLI renders.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack import query
from gittrack.artifacts.local import cache_for, unsafe_record_path
from gittrack.artifacts.transfer import (  # noqa: F401 - artifact transfer is part of a push/pull
    ENV_ARTIFACT_REMOTE,
    Progress,
    _quiet,
    artifact_remote_url,
    fetch_artifacts,
    open_artifact_remote,
    pointers_of,
    push_artifacts,
)
from gittrack.core import archive, names
from gittrack.core.errors import PushRejectedError, RemoteError
from gittrack.core.gitio import Repo
from gittrack.core.store import Store
from gittrack.query.baseline import BASELINES_PREFIX
from gittrack.registry import tags
from gittrack.registry.renumber import Renamed, renumber
from gittrack.registry.resolver import TagCache
from gittrack.sharing import gitobjects, leftovers, pushstatus, refsync

if TYPE_CHECKING:
    pass

FETCH_REFSPECS = ("refs/gittrack/*:refs/gittrack/*", "refs/tags/*:refs/tags/*")
PUSH_REFSPECS = ("refs/gittrack/*:refs/gittrack/*", "refs/tags/*:refs/tags/*")
ARG_BUDGET = 256 * 1024  # bytes of refspecs per git invocation (ARG_MAX is 2 MB here)
MAX_ROUNDS = 5
STAGE_THRESHOLD = 64  # refs; below it explicit refspecs are as fast


@dataclass
class PushResult:
    """What a push did."""

    remote: str
    refs: int = 0  # refs created or updated on the remote
    deleted: int = 0
    tags: int = 0
    artifacts: int = 0  # artifacts whose objects were sent
    behind: list[str] = field(default_factory=list)  # refs the remote holds newer
    renamed: list[Renamed] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # ref -> git's reason


@dataclass
class FetchResult:
    """What a fetch (or pull) did."""

    remote: str
    created: int = 0
    updated: int = 0
    deleted: int = 0
    kept: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    artifacts: int = 0
    refused: list[str] = field(default_factory=list)  # one sentence per ref not taken, and why


# ---------------------------------------------------------------- git plumbing


def resolve_remote(repo: Repo, remote: str | None) -> str:
    """The remote to use: the name or URL given, else ``origin``, else the only remote."""
    if remote:
        if remote.startswith("-") or "\n" in remote or "\0" in remote:
            raise RemoteError(f"{remote!r} is not a remote name or URL; name a remote such "
                              "as 'origin', or give its URL.")
        return remote
    configured = repo.run_git("remote", check=False).stdout.split()
    if "origin" in configured:
        return "origin"
    if len(configured) == 1:
        return configured[0]
    raise RemoteError("No remote given and no 'origin' remote configured; name one, as in "
                      "`gittrack push origin`, or add one with `git remote add`.")


def _git(repo: Repo, *args: str) -> Any:
    proc = repo.run_git(*args, check=False)
    return proc


def ref_patterns(experiment: str | None = None) -> list[str]:
    """The ref patterns a push or fetch reads from a remote: all gittrack refs, or only one
    experiment's (runs, trash, emptied records, archive, baseline), and the registry tags.

    The objects fetched are those of the matching refs only: ``git fetch`` sends the names
    to the server (protocol v2's ``ref-prefix``), so a clone fetching one experiment of a
    million runs receives that experiment's commits. ``git ls-remote`` still receives the
    remote's whole list of refs and filters it here, as ``git push`` does.
    """
    if experiment is None:
        return [f"{refsync.GITTRACK_PREFIX}*", f"{refsync.TAGS_PREFIX}*"]
    component = names.encode_component(experiment)
    return [names.experiment_ref_prefix(experiment) + "*",
            *(prefix + component + "/*" for prefix in (names.TRASH_PREFIX, names.EMPTIED_PREFIX)),
            archive.ref_name(component), BASELINES_PREFIX + component,
            f"{refsync.TAGS_PREFIX}*"]


def ls_remote(repo: Repo, remote: str, experiment: str | None = None) -> dict[str, str]:
    """``{ref: oid}`` of the remote's gittrack refs (or one experiment's) and registry-named
    tags."""
    proc = _git(repo, "ls-remote", "--", remote, *ref_patterns(experiment))
    if proc.returncode != 0:
        raise RemoteError(f"Cannot read remote '{remote}' ({_git_reason(proc.stderr)}); check "
                          "the name or URL and that `git ls-remote` works for it.")
    out: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        oid, _, ref = line.partition("\t")
        if ref.endswith("^{}"):
            continue
        if ref.startswith(refsync.GITTRACK_PREFIX) or refsync.is_registry_tag_ref(ref):
            out[ref] = oid
    return out


def _git_reason(text: str) -> str:
    """git's own reason from its stderr (gittrack.sharing.pushstatus.failure)."""
    return pushstatus.failure(text)


def _chunks(items: Sequence[str]) -> Iterable[list[str]]:
    chunk: list[str] = []
    size = 0
    for item in items:
        if chunk and size + len(item) + 1 > ARG_BUDGET:
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += len(item) + 1
    if chunk:
        yield chunk


def _fetch_objects(repo: Repo, remote: str, refs: Sequence[str], progress: Progress) -> None:
    """Bring the objects of ``refs`` without writing any ref (refs are applied by the rules)."""
    done = 0
    for chunk in _chunks(refs):
        proc = _git(repo, "fetch", "--no-tags", "--no-write-fetch-head", "--quiet", "--", remote,
                    *chunk)
        if proc.returncode != 0:
            raise RemoteError(f"`git fetch {remote}` failed ({_git_reason(proc.stderr)}); check "
                              "access to the remote and retry.")
        done += len(chunk)
        progress("fetch refs", done, len(refs))


def _push_refs(repo: Repo, remote: str, specs: Sequence[str], leases: Sequence[str],
               progress: Progress, phase: str) -> dict[str, pushstatus.RefStatus]:
    """``git push --porcelain`` of refspecs; the status of each ref, with git's reason for
    each rejection (gittrack.sharing.pushstatus)."""
    status: dict[str, pushstatus.RefStatus] = {}
    done = 0
    for chunk in _chunks(specs):
        lease = [f"--force-with-lease={ref}:{old}" for ref, old in
                 (item.split(":", 1) for item in leases) if any(s.endswith(":" + ref) for s in chunk)]
        proc = _git(repo, "push", "--porcelain", "--no-verify", *lease, "--", remote, *chunk)
        parsed = pushstatus.parse(proc.stdout, proc.stderr)
        if proc.returncode != 0 and not parsed:
            raise RemoteError(f"`git push {remote}` failed ({_git_reason(proc.stderr)}); check "
                              "access to the remote and retry.")
        status.update(parsed)
        done += len(chunk)
        progress(phase, done, len(specs))
    return status


# ---------------------------------------------------------------- local refs


def local_refs(repo: Repo, experiment: str | None = None,
               runs: Iterable[str] = ()) -> dict[str, str]:
    """``{ref: oid}`` of the gittrack refs and gittrack registry tags a push would offer."""

    refs = select(repo.list_refs(refsync.GITTRACK_PREFIX), experiment, runs)
    for name, obj in TagCache(repo).tags():
        if obj.header and tags.parse_tag(name) is not None:
            refs[refsync.TAGS_PREFIX + name] = repo.resolve_ref(refsync.TAGS_PREFIX + name) or ""
    return {r: o for r, o in refs.items() if o}


def select(refs: Mapping[str, str], experiment: str | None, runs: Iterable[str]) -> dict[str, str]:
    """The refs of one experiment and/or of the given run ids (tags always pass)."""
    ids = set(runs)
    if experiment is None and not ids:
        return dict(refs)
    out = {}
    for ref, oid in refs.items():
        kind = refsync.kind_of(ref)
        if kind == "tag":
            out[ref] = oid
            continue
        if kind in ("run", "trash", "emptied"):
            prefix = {"run": names.RUNS_PREFIX, "trash": names.TRASH_PREFIX,
                      "emptied": names.EMPTIED_PREFIX}[kind]
            parsed = names.parse_run_ref(ref, prefix)
            if parsed is None:
                continue
            if (experiment is None or parsed[0] == experiment) \
                    and (not ids or any(parsed[1].startswith(i) for i in ids)):
                out[ref] = oid
        elif kind == "baseline" and experiment is not None and not ids \
                and ref == BASELINES_PREFIX + names.encode_component(experiment):
            out[ref] = oid
        elif kind == "archive" and (experiment is None or ref == archive.ref_name(
                names.encode_component(experiment))):
            out[ref] = oid  # the runs it holds are judged by it, so it goes with them
    return out


def _run_ids(store: Store, specs: Sequence[str]) -> list[str]:
    out = []
    for spec in specs:
        ref, _commit = query.resolve(store, spec)
        out.append(ref.rpartition("/")[2])
    return out


# ---------------------------------------------------------------- push


def push(store: Store, remote: str | None = None, experiment: str | None = None,
         runs: Sequence[str] = (), artifacts: bool = True,
         progress: Progress = _quiet) -> PushResult:
    """Push runs, trash, baselines and registry tags to a git remote, artifacts first.

    ``experiment`` and ``runs`` (run specs) narrow the runs sent; registry tags always go.
    A version number the remote took meanwhile is renumbered locally (``result.renamed``).
    """
    repo = store.repo
    name = resolve_remote(repo, remote)
    ids = _run_ids(store, runs)
    result = PushResult(name)
    for _round in range(MAX_ROUNDS):
        listed = ls_remote(repo, name, experiment)
        there = select(listed, experiment, ids)
        here = local_refs(repo, experiment, ids)
        plan = refsync.plan_push(here, there, refsync.Judge(repo))
        if plan.conflicts:
            result.renamed += _resolve_conflicts(repo, name, here, there, plan.conflicts, progress)
            continue
        if artifacts:
            commits = [refsync.peel(repo, r, o) for r, o in
                       [*plan.send.items(), *((r, n) for r, (n, _) in plan.force.items())]
                       if refsync.kind_of(r) != "archive"]
            sent = set(there.values())  # a run the remote holds a ref to: its artifacts went
            commits += [c for r, o in plan.send.items() if refsync.kind_of(r) == "archive"
                        for c in _newly_archived(repo, r, o, there.get(r)) if c not in sent]
            result.artifacts += gitobjects.push(store, name, commits, progress)
        result.behind = sorted(set(plan.behind))
        if len(plan.folded) < STAGE_THRESHOLD or not _prune_folded(repo, name, plan.folded,
                                                                    listed, result):
            plan.delete.update(plan.folded)  # few, or the prune could not be staged: one by one
        moved = _send(repo, name, plan, result, progress)
        if result.rejected:
            raise _rejection(name, result)
        if not moved and not any(refsync.kind_of(r) == "archive" for r in plan.send):
            return result  # (an archive sent: one more round deletes the refs it holds there)
    raise RemoteError(f"Remote '{name}' kept changing during the push ({MAX_ROUNDS} rounds); "
                      "run `gittrack push` again.")


def _prune_folded(repo: Repo, remote: str, folded: Mapping[str, str],
                  there: Mapping[str, str], result: PushResult) -> bool:
    """Delete the run refs ``folded`` on the remote by one ``git push --atomic --prune`` of
    their experiments' run refs from a scratch repository holding the others as the remote
    listed them (``listed``: every ref under those experiments); whether it was done (False:
    delete them one by one instead).

    git matches every explicit refspec and lease against every remote ref, so deleting 10,000
    refs by name took 53 s at 10,000 refs; the prune takes 1.7 s for 50,000 of 100,000. The
    refs kept are pushed at the very values the remote showed, so a run updated there meanwhile
    fails the (atomic) push rather than going back; a run ref created there meanwhile in those
    experiments is pruned, and its clone's next push sends it again (docs/sharing.md).
    """
    prefixes = {r[: r.rfind("/") + 1] for r in folded}
    keep = {r: o for r, o in there.items() if r[: r.rfind("/") + 1] in prefixes and r not in folded}
    if not all(repo.has_object(o) for o in keep.values()):
        return False  # a kept ref's commit is not here: the scratch repository cannot hold it
    with _staged(repo, keep, force=True) as stage:
        assert stage is not None
        specs = [f"{p}*:{p}*" for p in sorted(prefixes)]
        proc = _git(stage, "push", "--porcelain", "--no-verify", "--atomic", "--prune", "--",
                    remote, *specs)
    if proc.returncode != 0:
        return True  # the remote moved meanwhile: the next push deletes them
    status = pushstatus.parse(proc.stdout, proc.stderr)
    result.deleted += sum(1 for r, st in status.items() if st.flag == "-" and r in folded)
    return True


def _newly_archived(repo: Repo, ref: str, tip: str, there: str | None) -> list[str]:
    """The run commits the archive ``tip`` lists that the archive ``there`` does not (runs
    removed here left out)."""
    theirs = archive.read(repo, there) if there and repo.has_object(there) else {}
    return [c for i, c in archive.visible(repo, ref, tip).items() if theirs.get(i) != c]


def _rejection(remote: str, result: PushResult) -> PushRejectedError:
    (ref, reason), more = next(iter(result.rejected.items())), len(result.rejected) - 1
    others = f" (and {more} more ref(s))" if more else ""
    return PushRejectedError(
        f"Remote '{remote}' rejected {ref}{others}: {reason}; fix that and run `gittrack push` "
        "again.", result.rejected)


def _send(repo: Repo, remote: str, plan: refsync.PushPlan, result: PushResult,
          progress: Progress) -> bool:
    """Push every planned ref in one ``git push``; True when the remote moved a ref
    meanwhile (plan again). Refs rejected for good go to ``result.rejected`` with git's
    reason."""
    explicit = [f"{n}:{r}" for r, (n, _old) in plan.force.items()]  # the lease allows it
    explicit += [f":{r}" for r in plan.delete]
    leases = [f"{r}:{old}" for r, (_n, old) in plan.force.items()]
    leases += [f"{r}:{old}" for r, old in plan.delete.items()]
    total = len(plan.send) + len(explicit)
    with _staged(repo, plan.send) as stage:
        if stage is None:
            specs = [f"{o}:{r}" for r, o in plan.send.items()] + explicit
            status = _push_refs(repo, remote, specs, leases, progress, "refs") if specs else {}
        else:  # the planned refs by namespace glob, from the scratch repository
            kinds = {"tags" if refsync.kind_of(r) == "tag" else "gittrack" for r in plan.send}
            specs = [f"refs/{k}/*:refs/{k}/*" for k in sorted(kinds)] + explicit
            progress("refs", 0, total)
            status = _push_refs(stage, remote, specs, leases, _quiet, "refs")
            progress("refs", total, total)
    moved = False
    for ref, st in status.items():
        if st.rejected and st.kind == pushstatus.MOVED:
            moved = True
        elif st.rejected:
            result.rejected[ref] = st.reason
        elif refsync.kind_of(ref) == "tag":
            result.tags += st.flag != "="
        elif st.flag == "-":
            result.deleted += 1
        elif st.flag != "=":
            result.refs += 1
    return moved


@contextmanager
def _staged(repo: Repo, refs: Mapping[str, str], force: bool = False) -> Iterator[Repo | None]:
    """A scratch repository holding exactly ``refs``, for one glob push of each namespace.

    git matches each explicit refspec against every ref, so 10,000 of them cost minutes
    where one glob costs a second (benchmarks/bench_remote.py). The scratch repository
    (``<git dir>/gittrack/push-<pid>/``) borrows this one's objects (``objects/info/
    alternates``) and configuration (``include.path``: remotes, credentials, URL rewrites),
    and holds the planned refs in one written ``packed-refs`` file: no ref of this repository
    is written, and refs written meanwhile (whose artifacts were not sent) never travel.
    Small pushes use explicit refspecs (None). While the push lives it holds a ``flock`` on
    the scratch repository's ``gittrack-push.lock``, so the next push (and ``gittrack
    doctor``) removes the scratch repository of a push that was killed
    (gittrack.sharing.leftovers).
    """
    leftovers.drop_stale_stages(repo)
    if len(refs) < STAGE_THRESHOLD and not force:
        yield None
        return
    root = repo.state_dir / f"push-{os.getpid()}-{threading.get_ident()}"
    try:
        _write_stage(repo, root, refs)
        owner = leftovers.hold(root)
        stage = Repo(root)
    except OSError as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise RemoteError(f"Could not prepare the push in {root} ({exc}); check that the "
                          "repository is writable and retry.") from exc
    try:
        yield stage
    finally:
        shutil.rmtree(root, ignore_errors=True)
        os.close(owner)


def _write_stage(repo: Repo, root: Path, refs: Mapping[str, str]) -> None:
    shutil.rmtree(root, ignore_errors=True)
    (root / "objects" / "info").mkdir(parents=True)
    (root / "refs").mkdir()
    (root / "HEAD").write_text("ref: refs/heads/gittrack-push\n")
    (root / "objects" / "info" / "alternates").write_text(f"{repo.common_dir / 'objects'}\n")
    config = str(repo.common_dir / "config").replace("\\", "\\\\").replace('"', '\\"')
    (root / "config").write_text(f'[core]\n\tbare = true\n[include]\n\tpath = "{config}"\n')
    lines = [f"{oid} {ref}\n" for ref, oid in sorted(refs.items(), key=lambda kv: kv[0].encode())]
    (root / "packed-refs").write_text("# pack-refs with: sorted \n" + "".join(lines))


def _resolve_conflicts(repo: Repo, remote: str, here: Mapping[str, str],
                       there: Mapping[str, str], conflicts: list[str],
                       progress: Progress) -> list[Renamed]:
    models = {p.model for ref in conflicts
              if (p := tags.parse_tag(ref[len(refsync.TAGS_PREFIX):])) is not None}
    theirs = [r for r in there if refsync.kind_of(r) == "tag"
              and r[len(refsync.TAGS_PREFIX):].partition("/")[0] in models]
    _fetch_objects(repo, remote, theirs, progress)
    renamed = renumber(repo, here, there, conflicts)
    # Take the remote's events of those models now, so this clone agrees with it at once.
    local_tags = repo.list_refs(refsync.TAGS_PREFIX)
    for ref in theirs:
        if ref not in local_tags and repo.has_object(there[ref]):
            repo.create_ref(ref, there[ref])
    return renamed


# ---------------------------------------------------------------- fetch


def fetch(store: Store, remote: str | None = None, experiment: str | None = None,
          runs: Sequence[str] = (), artifacts: bool = False,
          progress: Progress = _quiet) -> FetchResult:
    """Fetch runs, trash, baselines and registry tags from a git remote (or a bundle file).

    ``runs`` are run ids. With ``artifacts``, the artifacts of every selected run are fetched
    into the cache too; otherwise they come when a checkout or ``load_model`` needs them.
    """
    repo = store.repo
    name = resolve_remote(repo, remote)
    there = select(ls_remote(repo, name, experiment), experiment, runs)
    result = apply_remote(store, name, there, progress)
    gitobjects.fetch(store, name)  # artifacts pushed through the git remote itself
    if artifacts:
        commits = [c for r, o in there.items()
                   if refsync.kind_of(r) in ("run", "tag") and repo.has_object(o)
                   and unsafe_record_path(store, c := refsync.peel(repo, r, o)) is None]
        commits += [c for r, o in there.items() if refsync.kind_of(r) == "archive"
                    and repo.resolve_ref(r) == o for c in archive.visible(repo, r, o).values()
                    if repo.has_object(c) and unsafe_record_path(store, c) is None]
        before = len([p for p in pointers_of(store, commits) if not cache_for(store.repo).has(p)])
        still = fetch_artifacts(store, pointers_of(store, commits), progress)
        result.artifacts = before - len(still)
        if still:
            raise RemoteError(f"{len(still)} artifact(s) are neither on the artifact remote nor "
                              f"in {name}'s artifacts; push them from the clone that logged them.")
    return result


def apply_remote(store: Store, remote: str, there: Mapping[str, str],
                 progress: Progress = _quiet, available: set[str] | None = None,
                 unsafe_objects: Mapping[str, str] | None = None) -> FetchResult:
    """Fetch the objects of ``there`` (``{ref: oid}`` read from ``remote``) and apply the rules.

    ``available`` limits the refs fetched by name (a bundle holds only the refs that changed);
    a run pointing at one of ``unsafe_objects`` (``{artifact oid: why}``: listings a bundle
    brings that name paths git refuses) is not taken.
    """
    repo = store.repo
    here = {**repo.list_refs(refsync.GITTRACK_PREFIX),
            **{r: o for r, o in repo.list_refs(refsync.TAGS_PREFIX).items()
               if refsync.is_registry_tag_ref(r)}}
    seen = frozenset(o for o in there.values() if repo.has_object(o))
    wanted = [r for r, o in there.items() if here.get(r) != o and o not in seen
              and (available is None or r in available)]
    if wanted:
        _fetch_objects(repo, remote, wanted, progress)
    there, refused = _checked_archives(store, remote, here, there, unsafe_objects or {})
    plan = refsync.plan_fetch(here, there, refsync.Judge(repo), seen)
    for ref in [r for r in plan.create if refsync.kind_of(r) == "tag"]:
        info = repo.read_tag(ref[len(refsync.TAGS_PREFIX):], plan.create[ref])
        if info is None or info.message is None or not tags.is_registry_message(info.message):
            del plan.create[ref]  # a tag gittrack did not write: not ours to bring
    refused += _refuse_unsafe(store, remote, plan, unsafe_objects or {})
    _apply(repo, plan)
    return FetchResult(remote, len(plan.create), len(plan.update), len(plan.delete),
                       plan.kept, plan.conflicts, refused=refused)


def _refuse_unsafe(store: Store, remote: str, plan: refsync.FetchPlan,
                   unsafe_objects: Mapping[str, str]) -> list[str]:
    """Drop from ``plan`` every ref whose run record names a path git would refuse in a tree
    (``.git`` at any depth, ``..``, absolute; gittrack.core.paths), or points at one of
    ``unsafe_objects``; one sentence each."""
    refused = []
    verdicts: dict[str, str | None] = {}
    for ref, oid in [*plan.create.items(), *((r, n) for r, (n, _o) in plan.update.items())]:
        commit = refsync.peel(store.repo, ref, oid)
        if commit not in verdicts:
            verdicts[commit] = unsafe_record_path(store, commit) \
                or _unsafe_pointer(store, commit, unsafe_objects)
        why = verdicts[commit]
        if why is not None:
            plan.create.pop(ref, None)
            plan.update.pop(ref, None)
            refused.append(f"Refused {ref} from {remote}: its {why}, so it is not taken.")
    return refused


def _checked_archives(store: Store, remote: str, here: Mapping[str, str],
                      there: Mapping[str, str], unsafe_objects: Mapping[str, str]
                      ) -> tuple[dict[str, str], list[str]]:
    """``there`` without the archive refs that may not be taken, and one sentence for each.
    Checked before any rule reads them: an archive decides which run refs are folded."""
    kept, refused = dict(there), []
    for ref, tip in there.items():
        if refsync.kind_of(ref) == "archive" and here.get(ref) != tip:
            why = _unsafe_archive(store, ref, tip, here.get(ref), unsafe_objects)
            if why is not None:
                del kept[ref]
                refused.append(f"Refused {ref} from {remote}: {why}, so it is not taken.")
    return kept, refused


def _unsafe_archive(store: Store, ref: str, tip: str, here: str | None,
                    unsafe_objects: Mapping[str, str]) -> str | None:
    """Why the archive commit ``tip`` of ``ref`` may not be taken: a name gittrack does not
    write, or a run it lists that this clone's archive ``here`` does not whose commit it does
    not keep reachable (it would fold a ref and leave the run to gc), or whose record names a
    path git refuses."""
    repo = store.repo
    if not archive.is_archive_ref(ref):
        return "its name is no experiment's archive ref"
    if not repo.has_object(tip):
        return "its commit did not arrive"
    if not archive.names_itself(repo, tip, archive.component_of(ref)):
        return "its archive.yaml names another experiment (or none)"
    known = set(archive.read(repo, here).values()) if here and repo.has_object(here) else set()
    new = {i: c for i, c in archive.read(repo, tip).items() if c not in known}
    if not new:
        return None
    walk = repo.run_git("rev-list", tip, *(["--not", here] if known and here else []), check=False)
    if walk.returncode != 0:
        return "its history did not arrive whole"
    reachable = set(walk.stdout.split())
    for run_id, commit in sorted(new.items()):
        if commit not in reachable:
            return (f"it lists run {run_id} at commit {commit[:12]}, which it does not keep "
                    "(not among its parents)")
    for run_id, commit in sorted(new.items()):
        why = unsafe_record_path(store, commit) or _unsafe_pointer(store, commit, unsafe_objects)
        if why is not None:
            return f"run {run_id} it lists has a {why}"
    return None


def _apply(repo: Repo, plan: refsync.FetchPlan) -> None:
    judge = refsync.Judge(repo)
    for ref, (here, there) in plan.merge.items():  # two diverged records: the union
        if refsync.kind_of(ref) == "archive":
            name = archive.experiment_of(repo, there, archive.component_of(ref))
            merged = archive.merge(repo, name, here, there, judge.newer_run)
        else:
            merged = refsync.merge_emptied(repo, ref, here, there)
        plan.update[ref] = (merged, here)
    lines = [f"create {r} {o}" for r, o in plan.create.items()]
    lines += [f"update {r} {n} {o}" for r, (n, o) in plan.update.items()]
    lines += [f"delete {r} {o}" for r, o in plan.delete.items()]
    leftovers.update_refs_each(repo, lines)
    # Run refs an archive taken holds go once that archive is here (a crash before loses
    # nothing: the ref stays and wins).
    taken = {**plan.create, **{r: n for r, (n, _o) in plan.update.items()}}
    folds = [f"delete {r} {o}" for r, o in plan.fold.items()
             if (a := archive.archive_of(r)) in taken and repo.resolve_ref(a) == taken[a]]
    leftovers.update_refs_each(repo, folds)


def _unsafe_pointer(store: Store, commit: str, unsafe_objects: Mapping[str, str]) -> str | None:
    if not unsafe_objects:
        return None
    for pointer in pointers_of(store, [commit]):
        if pointer.md5 in unsafe_objects:
            return (f"artifact listing {pointer.md5} names a path git refuses in a tree or a "
                    "link leading out of it")
    return None


# ---------------------------------------------------------------- remote setup


def setup(repo: Repo, remote: str | None = None) -> list[str]:
    """Add refspecs so plain ``git fetch``/``git push`` carry runs and registry tags.

    Returns the ``remote.<name>.fetch``/``push`` values added (none when already set up).
    A remote with no push refspec also gets ``HEAD``, so ``git push`` still pushes the
    current branch.
    """
    name = resolve_remote(repo, remote)
    if repo.run_git("remote", "get-url", "--", name, check=False).returncode != 0:
        raise RemoteError(f"No remote named '{name}'; add it with `git remote add {name} URL`.")
    added = []
    for key, values in (("fetch", FETCH_REFSPECS), ("push", PUSH_REFSPECS)):
        have = repo.run_git("config", "--get-all", f"remote.{name}.{key}", check=False).stdout.split()
        wanted = list(values)
        if key == "push" and not have:
            wanted.insert(0, "HEAD")
        for value in wanted:
            if value not in have:
                repo.run_git("config", "--add", f"remote.{name}.{key}", value)
                added.append(f"remote.{name}.{key}={value}")
    return added

