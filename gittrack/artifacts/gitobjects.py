"""Artifacts as git objects: the local half of pushing artifacts through the git remote itself.

With no artifact remote configured, ``gittrack push`` carries artifacts as git blobs, so any
git host carries them and a push needs no setup. Each cache object (a file, a directory's
``.dir`` listing and the files it lists) is a blob at ``<xx>/<rest>`` of its md5 (the cache's
own layout) in the tree of the commit that :data:`ARTIFACTS_REF` names. Content addressing
makes every tree a set: two clones' trees merge by union, with no conflict possible.

Files above a size limit (``git_artifacts_max_mb`` in .gittrack/config.yaml, default 50 MB:
GitHub warns above 50 MB and refuses 100 MB) do not go this way; they need an artifact remote.
This module stores objects into that tree and restores them into the cache; moving the ref
through ``git push``/``git fetch`` is gittrack.sharing.gitobjects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from gittrack.artifacts.cache import Cache, Pointer
from gittrack.core import project
from gittrack.core.errors import ArtifactError, GittrackError
from gittrack.core.gitio import Repo

ARTIFACTS_REF = "refs/gittrack-artifacts/objects"
DEFAULT_MAX_MB = 50
MAX_MB_KEY = "git_artifacts_max_mb"
MB = 1024 * 1024


def max_mb(repo: Repo) -> float:
    """The per-file size limit, in MB (2**20 bytes), for artifacts carried as git objects."""
    value = project.config(repo).get(MAX_MB_KEY, DEFAULT_MAX_MB)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ArtifactError(f"The config key '{MAX_MB_KEY}' must be a positive number of MB, "
                            f"such as {DEFAULT_MAX_MB}.")
    return float(value)


def tree_path(oid: str) -> str:
    """Where object ``oid`` lives in the artifacts tree."""
    return f"{oid[:2]}/{oid[2:]}"


@dataclass
class Addition:
    """What :func:`add_objects` made: the new tree (None when nothing was new), how many
    artifacts had objects to add, and the artifacts known nowhere."""

    tree: str | None
    artifacts: int = 0
    unknown: list[Pointer] = field(default_factory=list)


def too_large(cache: Cache, pointers: Iterable[Pointer], limit: int,
              labels: Mapping[str, str]) -> list[tuple[str, int]]:
    """``(label, size)`` of every file of the artifacts in the cache that exceeds ``limit``;
    a file of a directory is labelled ``<artifact label>/<path inside it>``."""
    out = []
    for pointer in pointers:
        if not cache.has(pointer):
            continue
        label = labels.get(pointer.md5, pointer.md5)
        for rel, _md5, size in cache.list_files(pointer):
            if size > limit:
                out.append((f"{label}/{rel}" if rel else label, size))
    return out


def add_objects(repo: Repo, cache: Cache, pointers: Sequence[Pointer],
                base: str | None) -> Addition:
    """The tree of commit ``base`` (None: empty) plus every object of ``pointers`` it lacks.

    An artifact neither in the cache nor in ``base``'s tree is listed as unknown.
    """
    local = [p for p in pointers if cache.has(p)]
    per_pointer = [{tree_path(oid): oid for oid in cache.oids(p)} for p in local]
    everything = {path for paths in per_pointer for path in paths}
    present = repo.paths_in(base, everything | {tree_path(p.md5) for p in pointers})
    unknown = [p for p in pointers if not cache.has(p) and tree_path(p.md5) not in present]
    wanted: dict[str, str] = {}  # tree path -> oid, for objects in the cache
    artifacts = 0
    for pointer, paths in zip(local, per_pointer):
        new = {p: o for p, o in paths.items() if p not in present}
        if new:
            cache.verify(pointer)  # never spread a corrupt object
            artifacts += 1
            wanted.update(new)
    if not wanted:
        return Addition(None, 0, unknown)
    blobs = {path: repo.write_blob_from_file(cache.object_path(oid)) for path, oid in wanted.items()}
    base_tree = repo.commit_tree(base) if base else None
    return Addition(repo.tree_with_blobs(base_tree, blobs), artifacts, unknown)


def union(repo: Repo, ours: str | None, theirs: str | None) -> str | None:
    """One artifacts commit holding every object of both (either may be None)."""
    if ours is None or theirs is None or ours == theirs:
        return ours or theirs
    if repo.is_ancestor(ours, theirs):
        return theirs
    if repo.is_ancestor(theirs, ours):
        return ours
    entries = {path: oid for path, oid, is_tree in repo.list_tree(theirs, "") if not is_tree}
    have = repo.paths_in(ours, entries)
    tree = repo.tree_with_blobs(repo.commit_tree(ours),
                                {p: o for p, o in entries.items() if p not in have})
    return repo.write_commit(tree, ours, "gittrack artifacts: merge\n", [theirs])


def restore(repo: Repo, cache: Cache, pointers: Iterable[Pointer]) -> list[Pointer]:
    """Copy into the cache what the pointers need from the local artifacts ref; the pointers
    still incomplete afterwards (each object is checked against its md5 on the way)."""
    pointers = list(pointers)
    tip = repo.resolve_ref(ARTIFACTS_REF)
    if tip is None:
        return [p for p in pointers if not cache.has(p)]
    for pointer in pointers:
        if cache.has(pointer):
            continue
        try:
            _restore_object(repo, cache, tip, pointer.md5)  # a dir's listing names the rest
            if pointer.isdir and cache.object_path(pointer.md5).is_file():
                for oid in cache.oids(pointer):
                    _restore_object(repo, cache, tip, oid)
        except GittrackError:
            continue  # reported below as still missing
    return [p for p in pointers if not cache.has(p)]


def _restore_object(repo: Repo, cache: Cache, tip: str, oid: str) -> None:
    if cache.object_path(oid).is_file():
        return
    data = repo.read_blob(tip, tree_path(oid))
    if data is not None:
        cache.put_object(oid, data)
