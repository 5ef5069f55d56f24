"""Artifact remotes: moving cache objects to and from a dvc-data store named in the config.

A directory path or any fsspec URL (s3://, gs://, ssh://, ...) in ``artifact_remote`` of
``.gittrack/config.yaml``, or ``$GITTRACK_ARTIFACT_REMOTE``. Pushing refs is the sharing layer's
work (gittrack.sharing.remote); this module only moves objects, in batches of :data:`BATCH`, so
that the artifacts layer can fetch a missing object on its own (run_artifacts.ensure_local).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from gittrack.artifacts import gitobjects
from gittrack.artifacts.cache import Pointer, open_remote
from gittrack.artifacts.cache import Remote as ArtifactRemote
from gittrack.artifacts.local import cache_for, cache_lock, read_pointers, stored_inputs
from gittrack.core import project
from gittrack.core.errors import GittrackError, RemoteError
from gittrack.core.gitio import Repo
from gittrack.core.names import RECORD_DIR
from gittrack.core.store import Store, load_record_file

Progress = Callable[[str, int, int], None]
ENV_ARTIFACT_REMOTE = "GITTRACK_ARTIFACT_REMOTE"
BATCH = 16  # artifacts per transfer: the unit of progress and of work lost to a kill


def _quiet(_phase: str, _done: int, _total: int) -> None:
    """A progress callback that says nothing."""


def artifact_remote_url(repo: Repo) -> tuple[str, dict[str, Any]] | None:
    """The artifact remote (URL, fsspec options) from $GITTRACK_ARTIFACT_REMOTE or the config."""
    config = project.config(repo)
    url = os.environ.get(ENV_ARTIFACT_REMOTE) or config.get("artifact_remote")
    if not url:
        return None
    if not isinstance(url, str):
        raise RemoteError("The config key 'artifact_remote' must be a directory or a URL string.")
    options = config.get("artifact_remote_options") or {}
    if not isinstance(options, dict):
        raise RemoteError("The config key 'artifact_remote_options' must be a mapping, "
                          "such as {endpoint_url: 'http://127.0.0.1:9000'}.")
    if "://" not in url and not os.path.isabs(url) and repo.workdir is not None:
        url = str((repo.workdir / url).resolve())
    return url, options


def open_artifact_remote(repo: Repo) -> ArtifactRemote | None:
    """The configured artifact remote, opened; None when none is configured."""
    found = artifact_remote_url(repo)
    if found is None:
        return None
    url, options = found
    if "://" not in url or url.startswith("file://"):
        return open_remote(url)
    # fsspec caches filesystems by their arguments; a cached one keeps the endpoint and
    # credentials the environment had when it was made, so take a fresh one per remote.
    return open_remote(url, {"skip_instance_cache": True, **options})


def pointers_of(store: Store, commits: Iterable[str]) -> list[Pointer]:
    """Every distinct artifact pointer (artifacts.yaml and stored inputs) of the commits."""
    commits = list(dict.fromkeys(commits))
    records = _Records(store.repo, {name: store.repo.read_blobs(commits, f"{RECORD_DIR}/{name}")
                                    for name in ("artifacts.yaml", "inputs.yaml")})
    seen: dict[str, Pointer] = {}
    for commit in records.commits():
        try:
            found = [*read_pointers(records, commit).values(),
                     *stored_inputs(records, commit).values()]
        except GittrackError:
            continue  # not a run commit, or a damaged record: nothing to carry
        for pointer in found:
            seen.setdefault(pointer.md5, pointer)
    return list(seen.values())


class _Records(Store):
    """Record files read for many commits at once (Repo.read_blobs), read as Store reads them."""

    def __init__(self, repo: Repo, files: dict[str, dict[str, bytes]]) -> None:
        super().__init__(repo)
        self.files = files

    def commits(self) -> list[str]:
        return list(dict.fromkeys(c for by_commit in self.files.values() for c in by_commit))

    def read_file(self, commit: str, name: str) -> Any:
        data = self.files.get(name, {}).get(commit)
        return None if data is None else load_record_file(data, commit, name)


@contextmanager
def _artifact_errors(url: str) -> Iterator[None]:
    """Errors of the artifact remote's client libraries (botocore, aiohttp, ...) become
    RemoteError; they share no base class, so anything but gittrack's own is wrapped."""
    try:
        yield
    except GittrackError:
        raise
    except Exception as exc:  # noqa: BLE001 - the edge with fsspec backends
        raise RemoteError(f"The artifact remote {url} failed ({type(exc).__name__}: {exc}); "
                          "check its URL, endpoint and credentials, then retry.") from exc


def push_artifacts(store: Store, pointers: Sequence[Pointer],
                   progress: Progress = _quiet) -> int:
    """Send to the artifact remote every object the pointers need that it lacks.

    Returns how many artifacts had something to send. An artifact that is neither here nor
    there stops the push, so that no ref is pushed that names it.
    """
    if not pointers:
        return 0
    found = artifact_remote_url(store.repo)
    with _artifact_errors(found[0] if found else "?"):
        return _push_artifacts(store, pointers, progress)


def _push_artifacts(store: Store, pointers: Sequence[Pointer], progress: Progress) -> int:
    remote = open_artifact_remote(store.repo)
    if remote is None:
        raise RemoteError(
            f"The runs to push hold {len(pointers)} artifact(s) but no artifact remote is "
            "configured; set artifact_remote in .gittrack/config.yaml, or push with --no-artifacts."
        )
    cache = cache_for(store.repo)
    here = [p for p in pointers if cache.has(p)]
    elsewhere = [p for p in pointers if not cache.has(p)]
    if elsewhere and remote.missing(elsewhere):
        raise RemoteError(
            f"{len(elsewhere)} artifact(s) of the runs to push are neither in the local cache nor "
            f"on {remote.url}; run `gittrack pull --artifacts` first, or push with --no-artifacts."
        )
    lacking = set(remote.missing(here, cache))
    todo = [p for p in here if lacking.intersection(cache._oids(p))]  # noqa: SLF001
    progress("artifacts", 0, len(todo))
    for start in range(0, len(todo), BATCH):
        remote.push(cache, todo[start:start + BATCH])
        progress("artifacts", min(start + BATCH, len(todo)), len(todo))
    return len(todo)


def fetch_artifacts(store: Store, pointers: Iterable[Pointer],
                    progress: Progress = _quiet) -> list[Pointer]:
    """Fetch what the pointers need from the artifact remote; the pointers still missing.

    The hook behind lazy fetching (:func:`gittrack.artifacts.run_artifacts.ensure_local`). Objects
    that came through the git remote (gittrack.artifacts.gitobjects) are taken first; with no
    artifact remote configured nothing else is fetched.
    """
    cache = cache_for(store.repo)
    missing = [p for p in pointers if not cache.has(p)]
    if not missing:
        return []
    with cache_lock(store.repo):  # what `gittrack pull` brought through the git remote
        missing = gitobjects.restore(store.repo, cache, missing)
    if not missing:
        return []
    found = artifact_remote_url(store.repo)
    if found is None:
        return missing
    with _artifact_errors(found[0]):
        return _fetch_artifacts(store, missing, progress)


def _fetch_artifacts(store: Store, missing: list[Pointer], progress: Progress) -> list[Pointer]:
    cache = cache_for(store.repo)
    remote = open_artifact_remote(store.repo)
    if remote is None:
        return missing
    lacking = set(remote.missing(missing))
    available = [p for p in missing if p.md5 not in lacking]
    progress("artifacts", 0, len(available))
    with cache_lock(store.repo):
        for start in range(0, len(available), BATCH):
            remote.pull(cache, available[start:start + BATCH])
            progress("artifacts", min(start + BATCH, len(available)), len(available))
    return [p for p in missing if not cache.has(p)]
