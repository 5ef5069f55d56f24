"""The repository's artifact cache, its lock, and the pointers a run commit records.

The cache lives at ``<git common dir>/gittrack/cache`` and is shared by every worktree. Adding
and recording take the lock shared, gc takes it exclusively (docs/artifacts.md).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gittrack.artifacts.cache import Cache, Pointer
from gittrack.core import paths
from gittrack.core.errors import ArtifactError, GittrackError
from gittrack.core.gitio import Repo
from gittrack.core.store import Store


def cache_for(repo: Repo) -> Cache:
    """The artifact cache of a repository (shared by its worktrees)."""
    return Cache(repo.state_dir / "cache")


@contextmanager
def cache_lock(repo: Repo, exclusive: bool = False) -> Iterator[None]:
    """Hold the cache lock: shared while adding and recording, exclusive for gc."""
    lock = repo.state_dir / "cache.lock"
    try:
        fh = open(lock, "a+b")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        repo.state_dir.mkdir(parents=True, exist_ok=True)
        fh = open(lock, "a+b")  # noqa: SIM115
    with fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield


def read_pointers(store: Store, commit: str) -> dict[str, Pointer]:
    """``{logical path: pointer}`` of a run commit's artifacts.yaml (paths not yet checked)."""
    doc = store.read_file(commit, "artifacts.yaml")
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ArtifactError(f"artifacts.yaml of commit {commit[:12]} is not a mapping; the record is damaged.")
    return {str(path): Pointer.from_dict(entry) for path, entry in doc.items()}


def _stored_entries(store: Store, commit: str) -> dict[str, dict[str, Any]]:
    # inputs.yaml entries whose data the run stored in the cache (``store=True``)
    doc = store.read_file(commit, "inputs.yaml")
    if not isinstance(doc, dict):
        return {}
    return {str(name): e for name, e in doc.items() if isinstance(e, dict) and e.get("stored")}


def stored_inputs(store: Store, commit: str) -> dict[str, Pointer]:
    """``{input name: pointer}`` of the inputs a run stored in the cache (``store=True``)."""
    return {name: Pointer.from_dict(e["stored"])
            for name, e in _stored_entries(store, commit).items()}


def stored_input_paths(store: Store, commit: str) -> dict[str, Pointer]:
    """``{path: pointer}`` of the stored inputs read from a file or directory (a DataFrame
    has no path), at their recorded path relative to the work tree."""
    return {e["path"]: Pointer.from_dict(e["stored"])
            for e in _stored_entries(store, commit).values() if isinstance(e.get("path"), str)}


def unsafe_record_path(store: Store, commit: str) -> str | None:
    """The first path of a run record (artifacts, stored inputs) that git's tree-path rules
    refuse, as ``"artifact path 'x' <why>"``; None when every path passes (or there are none).

    A damaged record is not judged here: whoever reads it reports the damage.
    """
    try:
        found = [("artifact path", p) for p in read_pointers(store, commit)]
        found += [("stored input path", p) for p in stored_input_paths(store, commit)]
    except (GittrackError, TypeError, KeyError):
        return None
    for what, path in found:
        why = paths.tree_path_problem(path)
        if why is not None:
            return f"{what} {path!r} {why}"
    return None
