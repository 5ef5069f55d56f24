"""Air-gapped exchange: runs, registry tags and their artifacts in one file.

A gittrack bundle is a tar archive:

    gittrack-bundle.yaml    manifest: format, created, since, refs {ref: oid}, objects [md5...]
    refs.bundle             a `git bundle` of those refs (absent when nothing changed)
    cache/<xx>/<rest>       the cache objects the refs' runs point at (layout of the cache)

``create(..., since=...)`` takes an earlier bundle file (only refs that changed since it, and
only objects it did not hold; its commits become the git bundle's prerequisites), a commit
(refs reachable from it are left out) or a date (refs written since). Importing applies the
same rules as a fetch (gittrack.sharing.refsync), so importing a bundle twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack.artifacts import transfer
from gittrack.artifacts.cache import listing_entries
from gittrack.artifacts.local import cache_for, cache_lock
from gittrack.core import archive
from gittrack.core.errors import GittrackError, RemoteError
from gittrack.core.gitio import Repo
from gittrack.core.records import dump_yaml, load_yaml
from gittrack.core.store import Store
from gittrack.sharing import refsync, remote

if TYPE_CHECKING:
    from gittrack.artifacts.cache import Cache

FORMAT = 1
MANIFEST = "gittrack-bundle.yaml"
GIT_BUNDLE = "refs.bundle"
_OBJECT = re.compile(r"cache/([0-9a-f]{2})/([0-9a-f]{30}(?:\.dir)?)")


@dataclass(frozen=True)
class BundleInfo:
    """What a bundle holds."""

    path: Path
    refs: int
    runs: int
    tags: int
    objects: int
    missing_artifacts: int  # pointers whose objects were not in the local cache


@dataclass(frozen=True)
class ImportResult:
    """What importing a bundle changed here."""

    created: int
    updated: int
    deleted: int
    objects: int
    conflicts: list[str]
    refused: list[str] = field(default_factory=list)  # refs and listings not taken, and why


# ---------------------------------------------------------------- create


def create(store: Store, path: str | os.PathLike[str], since: str | None = None) -> BundleInfo:
    """Write a bundle of the runs, trash, baselines and registry tags (changed ``since``)."""

    repo = store.repo
    refs = remote.local_refs(repo)
    previous: dict[str, Any] = {}
    prerequisites: list[str] = []
    if since is not None:
        refs, prerequisites, previous = _since(repo, refs, since)
    target = Path(path).absolute()
    with tempfile.TemporaryDirectory(prefix="gittrack-bundle-") as tmp:
        work = Path(tmp)
        if refs:
            _git_bundle(repo, work / GIT_BUNDLE, refs, prerequisites)
        commits = [refsync.peel(repo, r, o) for r, o in refs.items()]
        archived = [c for r, o in refs.items() if refsync.kind_of(r) == "archive"
                    for c in archive.visible(repo, r, o).values()]  # their runs' artifacts too
        commits += archived
        objects, missing = _objects(store, commits, set(previous.get("objects") or ()))
        manifest = {
            "format": FORMAT, "created": dt.datetime.now(dt.timezone.utc).isoformat(),
            "since": since, "refs": dict(sorted(refs.items())), "objects": sorted(objects),
            "prerequisites": prerequisites,
        }
        (work / MANIFEST).write_bytes(dump_yaml(manifest))
        _write_tar(target, work, objects, cache_for(repo))
    runs = sum(1 for r in refs if refsync.kind_of(r) == "run") + len(archived)
    tags = sum(1 for r in refs if refsync.kind_of(r) == "tag")
    return BundleInfo(target, len(refs), runs, tags, len(objects), missing)


def _since(repo: Repo, refs: dict[str, str], since: str
           ) -> tuple[dict[str, str], list[str], dict[str, Any]]:
    if Path(since).is_file():
        previous = read_manifest(Path(since))
        before: Mapping[str, str] = previous.get("refs") or {}
        changed = {r: o for r, o in refs.items() if before.get(r) != o}
        prereq = sorted({refsync.peel(repo, r, o) for r, o in before.items() if repo.has_object(o)})
        return changed, prereq, previous
    rev = repo.run_git("rev-parse", "--verify", "--quiet", "--end-of-options",
                       f"{since}^{{commit}}", check=False)
    if rev.returncode == 0:
        base = rev.stdout.strip()
        reachable = set(repo.run_git("rev-list", base).stdout.split())
        return {r: o for r, o in refs.items() if refsync.peel(repo, r, o) not in reachable}, [base], {}
    cutoff = _parse_date(since)
    times = _creation_times(repo)
    return {r: o for r, o in refs.items() if times.get(r, 0) >= cutoff}, [], {}


def _parse_date(text: str) -> float:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise RemoteError(f"--since {text!r} is neither a bundle file, a commit nor an ISO date "
                          "such as 2026-05-01 or 2026-05-01T12:00:00+00:00.") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.timestamp()


def _creation_times(repo: Repo) -> dict[str, int]:
    proc = repo.run_git("for-each-ref", "--format=%(refname) %(creatordate:unix)",
                        refsync.GITTRACK_PREFIX, refsync.TAGS_PREFIX)
    out = {}
    for line in proc.stdout.splitlines():
        ref, _, when = line.rpartition(" ")
        out[ref] = int(when or 0)
    return out



def _git_bundle(repo: Repo, out: Path, refs: Mapping[str, str], prerequisites: list[str]) -> None:
    import subprocess

    lines = [*sorted(refs), *(f"^{oid}" for oid in prerequisites)]
    proc = subprocess.run(["git", f"--git-dir={repo.git_dir}", "bundle", "create", "--quiet",
                           str(out.absolute()), "--stdin"], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not out.exists():
        raise RemoteError(f"`git bundle create` failed ({proc.stderr.strip()[-300:]}); check the "
                          "repository with `git fsck`.")


def _objects(store: Store, commits: list[str], already: set[str]) -> tuple[set[str], int]:

    cache = cache_for(store.repo)
    objects: set[str] = set()
    missing = 0
    for pointer in transfer.pointers_of(store, commits):
        if not cache.has(pointer):
            missing += 1
            continue
        objects.update(oid for oid in cache._oids(pointer) if oid not in already)  # noqa: SLF001
    return objects, missing


def _write_tar(target: Path, work: Path, objects: set[str], cache: Cache) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        with tarfile.open(tmp, "w") as tar:
            tar.add(work / MANIFEST, MANIFEST)
            if (work / GIT_BUNDLE).exists():
                tar.add(work / GIT_BUNDLE, GIT_BUNDLE)
            for oid in sorted(objects):
                tar.add(cache.object_path(oid), f"cache/{oid[:2]}/{oid[2:]}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------- import


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of a bundle file."""
    try:
        with tarfile.open(path, "r") as tar:
            member = tar.extractfile(MANIFEST)
            data = load_yaml(member.read()) if member is not None else None
    except (tarfile.TarError, KeyError, OSError) as exc:
        raise RemoteError(f"{path} is not a gittrack bundle ({exc}); create one with "
                          "`gittrack bundle create FILE`.") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RemoteError(f"{path} is not a gittrack bundle of format {FORMAT}; create it again "
                          "with this gittrack version.")
    return data


def import_bundle(store: Store, path: str | os.PathLike[str]) -> ImportResult:
    """Apply a bundle's refs (with the rules of a fetch) and add its cache objects."""
    source = Path(path).absolute()
    manifest = read_manifest(source)
    there = {r: o for r, o in (manifest.get("refs") or {}).items()
             if r.startswith(refsync.GITTRACK_PREFIX) or refsync.is_registry_tag_ref(r)}
    with tempfile.TemporaryDirectory(prefix="gittrack-import-") as tmp, \
            tarfile.open(source, "r") as tar:
        result = remote.FetchResult(str(source))
        unsafe = _unsafe_listings(tar, Path(tmp))  # a run pointing at one is not taken
        if _member(tar, GIT_BUNDLE) is not None:
            bundle = Path(tmp) / GIT_BUNDLE
            _extract(tar, GIT_BUNDLE, bundle)
            heads = _verify(store.repo, bundle)
            result = remote.apply_remote(store, str(bundle), there, available=heads,
                                         unsafe_objects=unsafe)
        refused = [f"Refused artifact listing {oid} from the bundle: {why}"
                   for oid, why in sorted(unsafe.items())]
        objects = _import_objects(store, tar, set(unsafe))
    return ImportResult(result.created, result.updated, result.deleted, objects,
                        result.conflicts, [*result.refused, *refused])


def _member(tar: tarfile.TarFile, name: str) -> tarfile.TarInfo | None:
    try:
        return tar.getmember(name)
    except KeyError:
        return None


def _extract(tar: tarfile.TarFile, name: str, dest: Path) -> None:
    member = tar.extractfile(name)
    if member is None:
        raise RemoteError(f"The bundle's {name} is not a file; create the bundle again.")
    with open(dest, "wb") as out:
        while chunk := member.read(1 << 20):
            out.write(chunk)


def _verify(repo: Repo, bundle: Path) -> set[str]:
    bundle = bundle.absolute()  # a user's file name never reaches git as an option
    proc = repo.run_git("bundle", "verify", str(bundle), check=False)
    if proc.returncode != 0:
        if "prerequisite" in proc.stderr or "lacks these" in proc.stderr:
            raise RemoteError("This bundle builds on an earlier one whose runs are not here; "
                              "import the earlier bundle first.")
        raise RemoteError(f"The git bundle inside is damaged ({proc.stderr.strip()[-200:]}); "
                          "create it again.")
    heads = repo.run_git("bundle", "list-heads", str(bundle)).stdout.splitlines()
    return {line.partition(" ")[2] for line in heads if " " in line}


def _unsafe_listings(tar: tarfile.TarFile, tmp: Path) -> dict[str, str]:
    """``{listing oid: why}`` of the bundle's directory listings that name a path git refuses
    or a link leading out (the checks every reader of the cache applies)."""
    found = {}
    for member in tar.getmembers():
        m = _OBJECT.fullmatch(member.name)
        if m is None or not member.isfile() or not m[2].endswith(".dir"):
            continue
        staged = tmp / f"{m[1]}{m[2]}"
        _extract(tar, member.name, staged)
        try:
            listing_entries(m[1] + m[2], staged.read_bytes())
        except GittrackError as exc:
            found[m[1] + m[2]] = str(exc)
    return found


def _import_objects(store: Store, tar: tarfile.TarFile, skip: set[str]) -> int:
    cache = cache_for(store.repo)
    added = 0
    with cache_lock(store.repo):
        for member in tar.getmembers():
            m = _OBJECT.fullmatch(member.name)
            if m is None or not member.isfile():
                continue
            oid = m[1] + m[2]
            dest = cache.object_path(oid)
            if dest.is_file() or oid in skip:
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            staged = dest.with_name(f".{dest.name}.import")  # same file system: atomic rename
            try:
                _extract(tar, member.name, staged)
                if _md5(staged) != oid.removesuffix(".dir"):
                    raise RemoteError(f"Object {oid} in the bundle does not match its hash; "
                                      "create the bundle again.")
                staged.chmod(0o444)
                os.replace(staged, dest)
            finally:
                staged.unlink(missing_ok=True)
            added += 1
    return added


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
