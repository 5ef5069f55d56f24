"""Putting a run's artifacts back into the work tree, and fetching one artifact.

Every logical path is checked before anything is written: a path that is absolute, climbs
out with ``..``, goes through a symlink that leads outside, or points into ``.git`` refuses
the whole checkout (UnsafePathError). Content is verified against its hash as it is copied.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from gittrack.artifacts.cache import Pointer, safe_join
from gittrack.artifacts.local import (
    cache_for,
    read_pointers,
    stored_input_paths,
    stored_inputs,
)
from gittrack.artifacts.run_artifacts import ensure_local
from gittrack.core import names
from gittrack.core.errors import ArtifactError, RunNotFoundError
from gittrack.core.paths import check_tree_path
from gittrack.core.store import Store
from gittrack.registry import references


@dataclass
class CheckoutReport:
    """What a checkout did to each logical path."""

    restored: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)  # left alone: differ locally, no force


def head_run_commit(store: Store) -> str:
    """The commit HEAD points at, when it holds a run record (after `git checkout <run>`)."""
    head = store.repo.head_commit()
    if head is None or store.repo.read_blob(head, f"{names.RECORD_DIR}/run.yaml") is None:
        raise RunNotFoundError(
            "HEAD holds no run record; name a RUN, or `git checkout` a run ref or registry tag first."
        )
    return head


def workdir_of(store: Store) -> Path:
    """The work tree artifacts are restored into."""
    if store.repo.workdir is None:
        raise ArtifactError("This repository has no work tree to restore artifacts into; use `gittrack get`.")
    return store.repo.workdir


def safe_targets(workdir: Path, pointers: dict[str, Pointer]) -> dict[str, Path]:
    """``{logical path: destination}``, refusing any path that would leave the work tree."""
    # safe_join applies git's tree-path rules (core/paths.py: no '.git' at any depth, in any
    # case or NTFS/HFS spelling, no '..', nothing absolute) and refuses a way out by symlink.
    return {path: safe_join(workdir, path) for path in sorted(pointers)}


def checkout_commit(store: Store, commit: str, force: bool = False) -> CheckoutReport:
    """Restore every artifact of a run commit at its logical path, and every input stored
    with ``log_input(store=True)`` at its recorded path, verifying hashes.

    A file that differs from the artifact is left alone (listed in ``modified``) unless ``force``.
    """
    pointers = {**stored_input_paths(store, commit), **read_pointers(store, commit)}
    targets = safe_targets(workdir_of(store), pointers)
    ensure_local(store, pointers.values())
    cache = cache_for(store.repo)
    report = CheckoutReport()
    for path, dest in targets.items():
        pointer = pointers[path]
        if os.path.lexists(dest) and cache._matches(pointer, dest):  # noqa: SLF001 - same package
            report.unchanged.append(path)
        elif os.path.lexists(dest) and not force:
            report.modified.append(path)
        else:
            cache.checkout(pointer, dest, force=True)
            report.restored.append(path)
    return report


def find_pointer(store: Store, commit: str, path: str) -> tuple[Pointer, str | None]:
    """The artifact holding ``path``: ``(pointer, path inside it or None)``.

    ``path`` is an artifact's logical path, a file inside a directory artifact, or the name of
    an input stored with ``log_input(store=True)``.
    """
    want = check_tree_path(path.strip("/"), "Artifact path")
    pointers = read_pointers(store, commit)
    if want in pointers:
        return pointers[want], None
    for logical, pointer in pointers.items():
        if pointer.isdir and want.startswith(logical + "/"):
            return pointer, want[len(logical) + 1:]
    inputs = stored_inputs(store, commit)
    if want in inputs:
        return inputs[want], None
    have = ", ".join(sorted(pointers)) or "none"
    raise ArtifactError(f"The run has no artifact '{want}' (it has: {have}); list them with `gittrack artifacts`.")


def get_artifact(store: Store, commit: str, path: str, dest: Path, force: bool = False) -> Path:
    """Copy one artifact (or one file inside a directory artifact) to ``dest``, verified."""
    pointer, inner = find_pointer(store, commit, path)
    ensure_local(store, [pointer])
    cache = cache_for(store.repo)
    if os.path.lexists(dest) and not force:
        raise ArtifactError(f"'{dest}' already exists; pass --force to overwrite it or choose another -o.")
    if inner is None:
        cache.checkout(pointer, dest, force=True)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.gittrack-tmp")
    try:
        with cache.open(pointer, inner) as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, 4 << 20)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def resolve_record(store: Store, spec: str) -> str:
    """The commit of a run spec, a registry reference (``forecaster/prod``,
    ``models:/forecaster/3``) or a tag on a run commit (see gittrack.registry.references)."""
    return references.resolve(store, spec).commit
