"""Artifacts through the git remote itself, when no artifact remote is configured.

The artifacts ref (gittrack.artifacts.gitobjects) travels with ``git push``/``git fetch``
like the runs, so any git host carries it and ``gittrack push`` works with no setup. A push
builds on the remote's value of the ref (fetched first) and adds what the runs being pushed
need, so it is always a fast-forward; another clone that pushed meanwhile makes git reject it
and the push starts again on the new value. A fetch takes the remote's value, or the union
with this clone's own when both added objects. Files above the size limit stop the push
before anything is sent, naming them and how to add an artifact remote.
"""

from __future__ import annotations

from collections.abc import Sequence

from gittrack.artifacts import gitobjects
from gittrack.artifacts.cache import Pointer
from gittrack.artifacts.local import cache_for, read_pointers, stored_inputs
from gittrack.artifacts.transfer import (
    Progress,
    _quiet,
    artifact_remote_url,
    pointers_of,
    push_artifacts,
)
from gittrack.core.errors import GittrackError, RemoteError
from gittrack.core.gitio import Repo
from gittrack.core.store import Store
from gittrack.sharing import pushstatus

REF = gitobjects.ARTIFACTS_REF
MAX_ROUNDS = 5


def push(store: Store, remote: str, commits: Sequence[str], progress: Progress = _quiet) -> int:
    """Send the artifacts of the run commits: to the artifact remote when one is configured,
    else through ``remote`` as git objects. Returns how many artifacts had something to send."""
    pointers = pointers_of(store, commits)
    if artifact_remote_url(store.repo) is not None:
        return push_artifacts(store, pointers, progress)
    if not pointers:
        return 0
    _check_sizes(store, commits, pointers)
    repo = store.repo
    for _round in range(MAX_ROUNDS):
        there = remote_tip(repo, remote)
        if there is not None and not repo.has_object(there):
            _fetch(repo, remote)
        base = gitobjects.union(repo, repo.resolve_ref(REF), there)
        added = gitobjects.add_objects(repo, cache_for(repo), pointers, base)
        if added.unknown:
            raise RemoteError(
                f"{len(added.unknown)} artifact(s) of the runs to push are neither in the local "
                f"cache nor on {remote}; run `gittrack pull --artifacts` first, or push with "
                "--no-artifacts.")
        head = base if added.tree is None else repo.write_commit(
            added.tree, base, f"gittrack artifacts: {added.artifacts} artifact(s)\n")
        if head is None or head == there:
            return 0
        progress("artifacts", 0, added.artifacts)
        proc = repo.run_git("push", "--porcelain", "--no-verify", "--", remote, f"{head}:{REF}",
                            check=False)
        if proc.returncode == 0:
            repo.set_ref(REF, head)
            progress("artifacts", added.artifacts, added.artifacts)
            return added.artifacts
        if not any(line.startswith("!\t") for line in proc.stdout.splitlines()):
            raise RemoteError(f"`git push {remote}` of the artifacts failed "
                              f"({pushstatus.failure(proc.stderr)}); check access to the remote and retry.")
        # rejected: another clone pushed artifacts meanwhile; build on its value
    raise RemoteError(f"Remote '{remote}' kept changing during the push ({MAX_ROUNDS} rounds); "
                      "run `gittrack push` again.")


def fetch(store: Store, remote: str) -> bool:
    """Bring the remote's artifacts ref (its objects stay in git until a checkout or
    load_model copies what it needs into the cache); True when it brought anything."""
    repo = store.repo
    there = remote_tip(repo, remote)
    here = repo.resolve_ref(REF)
    if there is None or there == here:
        return False
    if not repo.has_object(there):
        _fetch(repo, remote)
    merged = gitobjects.union(repo, here, there)
    if merged is not None and merged != here:
        repo.set_ref(REF, merged)
    return True


def remote_tip(repo: Repo, remote: str) -> str | None:
    """The remote's value of the artifacts ref (None when it has none)."""
    proc = repo.run_git("ls-remote", "--", remote, REF, check=False)
    if proc.returncode != 0:
        raise RemoteError(f"Cannot read remote '{remote}' ({pushstatus.failure(proc.stderr)}); check the "
                          "name or URL and that `git ls-remote` works for it.")
    for line in proc.stdout.splitlines():
        oid, _, ref = line.partition("\t")
        if ref == REF:
            return oid
    return None


def _fetch(repo: Repo, remote: str) -> None:
    proc = repo.run_git("fetch", "--no-tags", "--no-write-fetch-head", "--quiet", "--", remote,
                        REF, check=False)
    if proc.returncode != 0:
        raise RemoteError(f"`git fetch {remote}` of the artifacts failed ({pushstatus.failure(proc.stderr)}); "
                          "check access to the remote and retry.")


def _check_sizes(store: Store, commits: Sequence[str], pointers: Sequence[Pointer]) -> None:
    limit_mb = gitobjects.max_mb(store.repo)
    limit = int(limit_mb * gitobjects.MB)
    cache = cache_for(store.repo)
    if not any(size > limit for p in pointers if cache.has(p)
               for _rel, _md5, size in cache.list_files(p)):
        return
    big = gitobjects.too_large(cache, pointers, limit, _labels(store, commits))
    shown = ", ".join(f"{label} ({size / gitobjects.MB:.1f} MB)" for label, size in big[:5])
    more = f" and {len(big) - 5} more" if len(big) > 5 else ""
    raise RemoteError(
        f"{len(big)} artifact file(s) exceed the {limit_mb:g} MB that travel through "
        f"the git remote: {shown}{more}; add an artifact remote (`artifact_remote: "
        "s3://bucket/prefix` or a shared directory in .gittrack/config.yaml, see "
        f"docs/sharing.md), raise `{gitobjects.MAX_MB_KEY}` there, or push with --no-artifacts.")


def _labels(store: Store, commits: Sequence[str]) -> dict[str, str]:
    """``{md5: "run <name> (<id>): <path>"}`` for naming artifacts in messages."""
    labels: dict[str, str] = {}
    for commit in commits:
        try:
            info = store.read_file(commit, "run.yaml") or {}
            pointers = {**read_pointers(store, commit),
                        **{f"input {k}": v for k, v in stored_inputs(store, commit).items()}}
        except GittrackError:
            continue
        run = f"run {info.get('name', '?')} ({str(info.get('id', ''))[:8]})"
        for path, pointer in pointers.items():
            labels.setdefault(pointer.md5, f"{run}: {path}")
    return labels
