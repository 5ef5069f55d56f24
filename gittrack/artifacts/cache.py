"""Content-addressed artifacts: files and directories in a dvc-data object store.

This is the only module of gittrack that imports dvc_data / dvc_objects, and it imports
them lazily so that `gittrack --help` stays instant. Objects live at
``<cache>/files/md5/xx/rest``; a directory is a ``<md5>.dir`` JSON listing of its files.
dvc-data does the hashing, the inode/mtime/size memo and the transfers; verification,
checkout and gc are done here because the store's own ``check()`` trusts any 0444 file
and deletes what it finds corrupt (NOTES.md, dvc-data).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import os
import posixpath
import re
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import unquote, urlsplit

from gittrack.core import paths
from gittrack.core.names import check_text
from gittrack.core.errors import (
    ArtifactError,
    GittrackError,
    IntegrityError,
    InvalidInputError,
    UnsafePathError,
)

if TYPE_CHECKING:
    from dvc_data.hashfile.db import HashFileDB
    from dvc_data.hashfile.hash_info import HashInfo
    from dvc_data.hashfile.state import StateBase

KINDS = ("file", "dir", "model")
LINKS = ("copy", "reflink", "hardlink")
_CHUNK = 4 << 20
SMALL_FILE = 1 << 20  # files up to this size are stored without dvc-data (Cache._add_small)
_OID = re.compile(r"[0-9a-f]{32}(\.dir)?")
_DRIVE = re.compile(r"[A-Za-z]:")
log = logging.getLogger("gittrack")
# What dvc-data raises underneath; anything else is a bug and should surface as such.
_DVC_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, AssertionError)


def _dvc_errors() -> tuple[type[BaseException], ...]:
    from dvc_data.hashfile.build import IgnoreInCollectedDirError
    from dvc_data.hashfile.tree import TreeError
    from dvc_objects.errors import ObjectDBError, ObjectFormatError

    extra = (IgnoreInCollectedDirError, TreeError, ObjectDBError, ObjectFormatError)
    return _DVC_ERRORS + extra


@dataclass(frozen=True)
class Pointer:
    """What a run record stores for one artifact."""

    md5: str
    size: int
    nfiles: int
    kind: str

    def __post_init__(self) -> None:
        if not isinstance(self.md5, str) or not _OID.fullmatch(self.md5):
            raise ArtifactError(f"Artifact hash {self.md5!r} is not an md5; the record is damaged.")
        if self.kind not in KINDS:
            raise ArtifactError(f"Artifact kind {self.kind!r} is not one of {', '.join(KINDS)}.")
        if self.md5.endswith(".dir") != (self.kind != "file"):
            raise ArtifactError(f"Artifact {self.md5} does not match its kind {self.kind!r}.")
        for name in ("size", "nfiles"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ArtifactError(f"Artifact {name} {value!r} is not a count; the record is damaged.")

    @property
    def isdir(self) -> bool:
        """True for a directory (or model) artifact."""
        return self.md5.endswith(".dir")

    def to_dict(self) -> dict[str, object]:
        """The mapping stored in a run record."""
        return {"md5": self.md5, "size": self.size, "nfiles": self.nfiles, "kind": self.kind}

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> Pointer:
        """Read a pointer back from a run record; ArtifactError on anything malformed."""
        if not isinstance(d, Mapping) or not {"md5", "size", "nfiles", "kind"} <= set(d):
            raise ArtifactError(f"Artifact pointer {d!r} needs md5, size, nfiles and kind; the record is damaged.")
        return cls(md5=d["md5"], size=d["size"], nfiles=d["nfiles"], kind=d["kind"])  # type: ignore[arg-type]


@dataclass(frozen=True)
class GcReport:
    """What gc deleted (or, on a dry run, would delete)."""

    objects: int
    bytes: int
    paths: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- paths


def _normalise(p: object) -> tuple[str | None, str]:
    """Return (normalised path, "") or (None, why it is refused)."""
    if not isinstance(p, str) or not p:
        return None, "is empty"
    if "\x00" in p or "\\" in p:
        return None, "contains a backslash or NUL; use '/' as the separator"
    if p.startswith("/") or _DRIVE.match(p):
        return None, "is absolute"
    parts = [part for part in p.split("/") if part not in ("", ".")]
    if ".." in parts:
        return None, "leaves the workspace"
    if not parts:
        return None, "is empty"
    norm = "/".join(parts)
    why = paths.tree_path_problem(norm)
    return (norm, "") if why is None else (None, why)


def validate_artifact_path(p: str) -> str:
    """Normalise a logical artifact path to posix form; InvalidInputError if it cannot be one."""
    norm, why = _normalise(p)
    if norm is None:
        raise InvalidInputError(f"Artifact path {p!r} {why}; give a relative path such as 'models/m.pkl'.")
    return check_text("The artifact path", norm)


def _safe_relpath(p: object) -> str:
    """A path read from a record or a listing: it must already pass git's tree-path rules."""
    return paths.check_tree_path(p, "Recorded artifact path")


def safe_join(workspace: str | os.PathLike[str], relpath: str) -> Path:
    """Resolve an artifact's logical path inside `workspace`, refusing any way out of it."""
    rel = _safe_relpath(relpath)
    root = Path(workspace).resolve()
    target = root.joinpath(*rel.split("/"))
    # resolve() follows every symlink that already exists on the way, so a link
    # planted in the workspace cannot redirect a checkout elsewhere.
    real = target.resolve()
    if real != root and root not in real.parents:
        raise UnsafePathError(f"Artifact path {relpath!r} leaves the workspace through a symlink; remove the link.")
    return target


# ---------------------------------------------------------------- hashing helpers


def _md5_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_hashing(src: Path, dst: Path) -> str:
    """Stream src to a new file dst and return the md5 of what was copied."""
    from concurrent.futures import Future, ThreadPoolExecutor

    digest = hashlib.md5(usedforsecurity=False)
    pending: Future[None] | None = None
    # hashlib and write() both release the GIL: hashing chunk n while writing it
    # restores 1 GB in ~2 s instead of ~3 s here (benchmarks/bench_artifacts.py).
    with ThreadPoolExecutor(1) as pool, open(src, "rb") as fin, open(dst, "xb") as fout:
        while chunk := fin.read(_CHUNK):
            if pending is not None:
                pending.result()
            pending = pool.submit(digest.update, chunk)
            fout.write(chunk)
        if pending is not None:
            pending.result()
    return digest.hexdigest()


def _corrupt(oid: str, path: Path) -> IntegrityError:
    return IntegrityError(
        f"Cache object {oid} ({path}) does not match its hash; delete it and pull or re-add the artifact."
    )


def _stat_key(path: Path, follow: bool = True) -> tuple[int, int, int]:
    st = path.stat() if follow else path.lstat()
    return st.st_ino, st.st_mtime_ns, st.st_size


def _snapshot(path: Path) -> dict[Path, tuple[int, int, int]]:
    if path.is_file():
        return {path: _stat_key(path)}
    return {Path(root, f): _stat_key(Path(root, f), follow=False)
            for root, dirs, files in os.walk(path) for f in files + [d for d in dirs if Path(root, d).is_symlink()]}


def _present(dest: Path) -> set[str]:
    """Relative paths of the files and symbolic links below ``dest`` (links not followed)."""
    out = set()
    for root, dirs, files in os.walk(dest):
        for name in files + [d for d in dirs if Path(root, d).is_symlink()]:
            out.add(Path(root, name).relative_to(dest).as_posix())
    return out


def _regular_files(root: Path) -> list[str]:
    """Relative paths of the regular files below ``root``, symbolic links left out."""
    return sorted(Path(r, f).relative_to(root).as_posix() for r, _dirs, files in os.walk(root)
                  for f in files if not Path(r, f).is_symlink())


def checked_files(root: Path) -> list[str]:
    """Relative paths of the files below ``root`` that logging it file by file stores (links
    inside it included, as the files they lead to), once the whole directory passes the rules
    of :func:`directory_links` and git's tree-path rules; refused before anything is stored."""
    links = directory_links(root)
    files = _regular_files(root)
    for rel in files:
        _check_listed(root, rel)
    followed = [rel for rel in links if Path(root, rel).is_file()]
    return sorted(files + followed)


def directory_links(root: Path) -> dict[str, str]:
    """``{relpath: link text}`` of the symbolic links below a directory, never followed.

    A link whose target (after every link on the way) is inside ``root`` is kept, as a
    relative link; one that leads out of ``root`` refuses the whole directory with a
    sentence (UnsafePathError): logging it would copy whatever it points at, /etc/passwd
    included, into the cache and on to every remote.
    """
    real_root = os.path.realpath(root)
    found: dict[str, str] = {}
    for r, dirs, files in os.walk(root):
        for name in files + dirs:
            full = Path(r, name)
            if not full.is_symlink():
                continue
            rel = full.relative_to(root).as_posix()
            real = os.path.realpath(full)
            if os.path.commonpath([real_root, real]) != real_root or real == real_root:
                raise InvalidInputError(
                    f"'{full}' is a symbolic link to '{os.readlink(full)}', outside the directory "
                    "being logged; gittrack does not follow links out of it, so copy the file in "
                    "or remove the link.")
            text = os.path.relpath(real, os.path.realpath(full.parent)).replace(os.sep, "/")
            _check_listed(root, rel)
            _check_link(rel, text, None)
            found[rel] = text
    return found


def _check_listed(root: Path, rel: str) -> None:
    """A path inside a directory being logged must pass git's tree-path rules."""
    why = paths.tree_path_problem(rel)
    if why is not None:
        raise InvalidInputError(f"'{root}' holds '{rel}', whose path {why}; remove it from the "
                              "directory or log only the files you need.")


def _check_link(rel: str, target: object, md5: str | None) -> None:
    """A symbolic link of a listing: its text, its name, and where it leads (inside)."""
    if not isinstance(target, str) or not target:
        raise UnsafePathError(f"Listed link '{rel}' has no target; the listing is damaged, so "
                              "gittrack will not use it.")
    if md5 is not None and hashlib.md5(target.encode("utf-8"), usedforsecurity=False).hexdigest() != md5:
        raise ArtifactError(f"Listed link '{rel}' does not match its hash; the listing is damaged.")
    why = paths.link_name_problem(rel)
    lands = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
    if why is None and (target.startswith("/") or lands == "."
                        or paths.tree_path_problem(lands) is not None):
        why = f"leads to '{target}', outside the directory (or into .git)"
    if why is not None:
        raise UnsafePathError(f"Link '{rel}' {why}; gittrack refuses to store or restore it.")


def _tmp_sibling(dest: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    os.unlink(name)
    return Path(name)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


# ---------------------------------------------------------------- cache

# dvc-data's State (two SQLite databases: the inode/mtime/size -> md5 memo) stays open for
# the life of the process, one per cache: opening and closing it per artifact cost ~28 ms
# (an fdatasync on close), half of a short run's time. Uses are serialised by the lock;
# a forked child forgets its parent's connections instead of sharing them.
_STATES: dict[str, StateBase] = {}
_STATE_LOCK = threading.RLock()


def _open_state(cache: Cache) -> StateBase:
    from dvc_data.hashfile.state import State

    key = str(cache.state_dir)
    state = _STATES.get(key)
    if state is not None and not _usable(state):
        cache.reset_state("its file was replaced while open")  # drops it from _STATES
        state = None
    if state is None:
        if not _STATES:
            atexit.register(_close_states)
            os.register_at_fork(after_in_child=_STATES.clear)
        try:
            state = State(str(cache.path.parent), key)
        except Exception as exc:
            # Only a memo of hashes: a database SQLite cannot read (overwritten, truncated)
            # is rebuilt empty with a warning, and files are hashed again.
            if not _is_damaged_db(exc):
                raise
            cache.reset_state("it could not be opened")
            state = State(str(cache.path.parent), key)
        _STATES[key] = state
    return state


def _usable(state: StateBase) -> bool:
    """Whether an open State still reads (one cheap SELECT in each of its databases)."""
    try:
        for db in (getattr(state, "links", None), getattr(state, "hashes", None)):
            if db is not None:
                db.get("gittrack-probe")
    except Exception as exc:
        if _is_damaged_db(exc):
            return False
        raise
    return True


def _forget_state(cache: Cache) -> None:
    """Close and drop this process's open State of ``cache`` (its files are being removed)."""
    with _STATE_LOCK:
        state = _STATES.pop(str(cache.state_dir), None)
        if state is not None:
            with suppress(Exception):  # a damaged database may fail to close cleanly
                state.close()


def _close_states() -> None:
    with _STATE_LOCK:
        for state in _STATES.values():
            with suppress(Exception):  # at exit: a state already closed or its files gone
                state.close()
        _STATES.clear()


class Cache:
    """A dvc-data local object store; nothing is created on disk until first written."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).absolute()
        self.objects_dir = self.path / "files" / "md5"
        # The state memo lives beside the store, not in it, so size() and gc see objects only.
        self.state_dir = self.path.parent / f"{self.path.name}-state"

    @contextmanager
    def _odb(self, memo: bool = True) -> Iterator[HashFileDB]:
        from dvc_data.hashfile.db import get_odb
        from dvc_data.hashfile.state import StateNoop
        from dvc_objects.fs.local import LocalFileSystem

        with _STATE_LOCK:
            state: StateBase = _open_state(self) if memo else StateNoop()
            try:
                # No "hardlink": a cached object must never share an inode with a user's file.
                yield get_odb(LocalFileSystem(), str(self.objects_dir), state=state,
                              hash_name="md5", type=["reflink", "copy"])
            except Exception as exc:
                if not _is_damaged_db(exc):
                    raise
                self.reset_state(str(exc))
                raise ArtifactError(
                    f"The cache-state database under {self.state_dir} was damaged ({exc}) "
                    "and has been rebuilt empty; run the command again."
                ) from None

    def reset_state(self, why: str) -> None:
        """Delete the cache-state memo (derived: it refills as files are hashed)."""
        log.warning("The cache-state database under %s is damaged (%s); it is rebuilt and files "
                    "are hashed again.", self.state_dir, why)
        _forget_state(self)
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def check_state(self, repair: bool = False) -> str | None:
        """Why the cache-state memo is damaged, or None when it opens and passes SQLite's
        quick check (gittrack doctor); ``repair`` rebuilds a damaged one."""
        import sqlite3

        for db in sorted(self.state_dir.rglob("*.db")) if self.state_dir.is_dir() else []:
            try:
                with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
                    row = con.execute("PRAGMA quick_check").fetchone()
                problem = None if row and row[0] == "ok" else f"{db.name}: {row}"
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                    continue
                problem = f"{db.relative_to(self.state_dir)}: {exc}"
            if problem:
                if repair:
                    _forget_state(self)
                    shutil.rmtree(self.state_dir, ignore_errors=True)
                return problem
        return None

    def object_path(self, oid: str) -> Path:
        """Where object `oid` lives in the store (whether or not it is there)."""
        if not _OID.fullmatch(oid):
            raise ArtifactError(f"{oid!r} is not an object hash; the record is damaged.")
        return self.objects_dir / oid[:2] / oid[2:]

    def add(self, src: str | os.PathLike[str], kind: str | None = None) -> Pointer:
        """Hash `src` (a file or directory) and store it; identical content is stored once.

        Symbolic links inside a directory are never followed: a link that stays inside it is
        stored as a link, one that leads out of it is refused (InvalidInputError).
        """
        path = Path(src).absolute()
        if kind in (None, "file"):
            small = self._add_small(path)
            if small is not None:
                return small
        kind = _pick_kind(path, kind)
        links = directory_links(path) if path.is_dir() else {}
        before = _snapshot(path)
        try:
            with self._odb() as odb:
                if links:
                    md5, size, nfiles = self._add_linked_dir(odb, path, links)
                else:
                    hash_info, meta = _build_and_transfer(odb, path)
                    md5, size = str(hash_info.value), meta.size or 0
                    nfiles = (meta.nfiles or 0) if hash_info.isdir else 1
        except GittrackError:
            raise
        except _dvc_errors() as exc:
            raise ArtifactError(
                f"Could not store '{src}' in the artifact cache ({exc}); check the path and disk space."
            ) from exc
        if _snapshot(path) != before:
            raise ArtifactError(f"'{src}' changed while it was being stored; log it again once it is written.")
        return Pointer(md5=md5, size=size, nfiles=nfiles, kind=kind)

    def _add_linked_dir(self, odb: HashFileDB, root: Path, links: Mapping[str, str]
                        ) -> tuple[str, int, int]:
        """Store a directory holding symbolic links: its files through dvc-data one by one,
        each link as a listing entry ``{"md5", "relpath", "symlink": <target>}`` whose object
        is the target's text. dvc-data itself would follow every link."""
        entries: list[dict[str, str]] = []
        size = 0
        for rel in _regular_files(root):
            _check_listed(root, rel)
            hash_info, meta = _build_and_transfer(odb, root.joinpath(*rel.split("/")))
            entries.append({"md5": str(hash_info.value), "relpath": rel})
            size += meta.size or 0
        for rel, target in links.items():
            data = target.encode("utf-8")
            entries.append({"md5": self.add_bytes(data, "link").md5, "relpath": rel,
                            "symlink": target})
            size += len(data)
        entries.sort(key=lambda e: tuple(e["relpath"].split("/")))
        raw = json.dumps(entries, sort_keys=True).encode("utf-8")  # dvc-data's own layout
        oid = hashlib.md5(raw, usedforsecurity=False).hexdigest() + ".dir"
        self._write_object(oid, raw)
        self._listing(oid)  # the checks every reader applies, before a pointer names it
        return oid, size, len(entries)

    def _add_small(self, path: Path) -> Pointer | None:
        """A small regular file stored without dvc-data (None for anything else).

        Read, hashed and written in one go, the object exactly where dvc-data puts it
        (read-only, renamed into place): a 10 KB file in ~0.2 ms instead of ~5 ms through
        dvc-data's build and transfer, whose State memo only pays for big files.
        """
        try:  # one open; the checks are on what was opened (a rename after it is harmless)
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            return None  # dvc-data says what is wrong
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode) or before.st_size > SMALL_FILE:
                return None
            chunks = []
            while chunk := os.read(fd, SMALL_FILE + 1):
                chunks.append(chunk)
            data = b"".join(chunks)
            after = os.fstat(fd)
        except OSError:
            return None
        finally:
            os.close(fd)
        if (after.st_ino, after.st_mtime_ns, after.st_size) != \
                (before.st_ino, before.st_mtime_ns, len(data)):
            raise ArtifactError(f"'{path}' changed while it was being stored; log it again once it is written.")
        return self._store_bytes(data)

    def add_bytes(self, data: bytes, name: str) -> Pointer:
        """Store small in-memory content (log_text, log_dict) as a file artifact."""
        validate_artifact_path(name)
        return self._store_bytes(data)

    def _store_bytes(self, data: bytes) -> Pointer:
        oid = hashlib.md5(data, usedforsecurity=False).hexdigest()
        self._write_object(oid, data)
        return Pointer(md5=oid, size=len(data), nfiles=1, kind="file")

    def _write_object(self, oid: str, data: bytes) -> None:
        path = self.object_path(oid)
        if path.is_file() and _md5_file(path) == oid.removesuffix(".dir"):
            return
        # Written under a name of this thread's own, created read-only, renamed into place:
        # a reader sees the whole object or none (one open, no mkstemp round trip).
        tmp = f"{path.parent}{os.sep}.{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        try:
            fd = os.open(tmp, flags, 0o444)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, flags, 0o444)
        except FileExistsError:  # a dead process's leftover under the same pid and thread
            os.unlink(tmp)
            fd = os.open(tmp, flags, 0o444)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def put_object(self, oid: str, data: bytes) -> None:
        """Store one object's bytes (fetched from elsewhere) after checking them against ``oid``."""
        if hashlib.md5(data, usedforsecurity=False).hexdigest() != oid.removesuffix(".dir"):
            raise IntegrityError(f"Object {oid} arrived with other content; push it again from "
                                 "a clone that has it intact.")
        self._write_object(oid, data)

    def oids(self, pointer: Pointer) -> list[str]:
        """Every object of the artifact: the file, or a dir's listing and then its files
        (the listing must be in the store)."""
        return self._oids(pointer)

    def has(self, pointer: Pointer) -> bool:
        """True when every object of the artifact (a dir's listing and files) is in the store."""
        try:
            return all(self.object_path(oid).is_file() for oid in self._oids(pointer))
        except UnsafePathError:
            raise  # a listing that must not be used says so, rather than "missing"
        except ArtifactError:
            return False

    def verify(self, pointer: Pointer) -> None:
        """Re-hash every stored object of the artifact; IntegrityError names the first bad one."""
        for oid in self._oids(pointer):
            self._verify_object(oid)

    def _verify_object(self, oid: str) -> Path:
        path = self._require(oid)
        if _md5_file(path) != oid.removesuffix(".dir"):
            raise _corrupt(oid, path)
        return path

    def _require(self, oid: str) -> Path:
        path = self.object_path(oid)
        if not path.is_file():
            raise ArtifactError(f"Object {oid} is not in the artifact cache; pull it from a remote first.")
        return path

    def _listing(self, oid: str) -> list[tuple[str, str]]:
        """(relpath, md5) of a verified .dir object, every relpath checked safe."""
        return [(rel, md5) for rel, md5, _link in self._entries(oid)]

    def _entries(self, oid: str) -> list[tuple[str, str, str | None]]:
        """(relpath, md5, link target or None) of a verified .dir object.

        Every relpath passes git's tree-path rules, and every symbolic link stays inside the
        directory (core/paths.py): a listing that breaks either is refused as a whole.
        """
        return listing_entries(oid, self._verify_object(oid).read_bytes())

    def _oids(self, pointer: Pointer) -> list[str]:
        if not pointer.isdir:
            return [pointer.md5]
        return [pointer.md5, *(md5 for _, md5 in self._listing(pointer.md5))]

    def list_files(self, pointer: Pointer) -> list[tuple[str, str, int]]:
        """(relpath, md5, size) of each file; [("", md5, size)] for a file artifact."""
        if not pointer.isdir:
            return [("", pointer.md5, pointer.size)]
        return [(rel, md5, self._require(md5).stat().st_size) for rel, md5 in self._listing(pointer.md5)]

    def open(self, pointer: Pointer, relpath: str | None = None) -> BinaryIO:
        """A read stream of a file artifact, or of `relpath` inside a dir, verified before it opens."""
        return open(self._verify_object(self._file_oid(pointer, relpath)), "rb")

    def _file_oid(self, pointer: Pointer, relpath: str | None) -> str:
        if not pointer.isdir:
            if relpath:
                raise ArtifactError(f"Artifact {pointer.md5} is a single file; open it without a path.")
            return pointer.md5
        if relpath is None:
            raise ArtifactError(f"Artifact {pointer.md5} is a directory; name a file inside it to open.")
        want = validate_artifact_path(relpath)
        for rel, md5 in self._listing(pointer.md5):
            if rel == want:
                return md5
        raise ArtifactError(f"No file '{want}' in this directory artifact; list the run's "
                            "artifacts with `gittrack artifacts RUN`.")

    def checkout(self, pointer: Pointer, dest: str | os.PathLike[str], *,
                 force: bool = False, link: str = "copy") -> None:
        """Restore the artifact at `dest`, verifying hashes; refuses to overwrite local edits."""
        if link not in LINKS:
            raise InvalidInputError(f"Link type {link!r} is not one of {', '.join(LINKS)}.")
        dest = Path(dest).absolute()
        try:
            self._checkout(pointer, dest, force, link)
        except OSError as exc:
            raise ArtifactError(f"Could not restore '{dest}' ({exc}); check permissions and disk space.") from exc

    def _checkout(self, pointer: Pointer, dest: Path, force: bool, link: str) -> None:
        if os.path.lexists(dest):
            if self._matches(pointer, dest):
                return
            if not force:
                raise ArtifactError(
                    f"'{dest}' differs from the artifact; move it away or pass force=True to overwrite it."
                )
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = _tmp_sibling(dest)
        try:
            self._materialise(pointer, tmp, link)
            _swap_in(tmp, dest)
        except BaseException:
            _remove(tmp)
            raise
        self._remember(pointer, dest)

    def _remember(self, pointer: Pointer, dest: Path) -> None:
        """Memo the hashes just verified, so that the next checkout of an unchanged dest is instant."""
        from dvc_data.hashfile.hash_info import HashInfo

        pairs = [(rel, md5) for rel, md5, link in self._entries(pointer.md5) if link is None] \
            if pointer.isdir else [("", pointer.md5)]
        with self._odb() as odb:
            items = [(str(dest.joinpath(*rel.split("/")) if rel else dest), HashInfo("md5", md5), None)
                     for rel, md5 in pairs]
            odb.state.save_many(items, odb.fs)

    def _materialise(self, pointer: Pointer, tmp: Path, link: str) -> None:
        if not pointer.isdir:
            self._place(pointer.md5, tmp, link)
            return
        entries = self._entries(pointer.md5)
        tmp.mkdir()
        for rel, md5, symlink in entries:
            target = tmp.joinpath(*rel.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            if symlink is not None:
                os.symlink(symlink, target)  # checked to stay inside by _entries
            else:
                self._place(md5, target, link)

    def _place(self, oid: str, target: Path, link: str) -> None:
        src = self._require(oid)
        if link == "copy":
            if _copy_hashing(src, target) != oid:
                raise _corrupt(oid, src)
            return
        self._verify_object(oid)
        _link(link, src, target)

    def _matches(self, pointer: Pointer, dest: Path) -> bool:
        with self._odb() as odb:
            if not pointer.isdir:
                return dest.is_file() and not dest.is_symlink() and _memo_md5(odb, dest) == pointer.md5
            if not dest.is_dir() or dest.is_symlink():
                return False
            entries = self._entries(pointer.md5)
            if _present(dest) != {rel for rel, _, _ in entries}:
                return False
            for rel, md5, link in entries:
                path = dest.joinpath(*rel.split("/"))
                if link is not None:
                    if not path.is_symlink() or os.readlink(path) != link:
                        return False
                elif path.is_symlink() or _memo_md5(odb, path) != md5:
                    return False
            return True

    def referenced_objects(self, pointers: Iterable[Pointer]) -> set[str]:
        """Every object hash the pointers need: files, .dir listings and the files they list."""
        oids: set[str] = set()
        for pointer in pointers:
            oids.add(pointer.md5)
            # A listing that was never pulled names nothing we could keep; a corrupt one
            # raises, so that gc refuses to run rather than delete what it lists.
            if pointer.isdir and self.object_path(pointer.md5).is_file():
                oids.update(md5 for _, md5 in self._listing(pointer.md5))
        return oids

    def _objects(self) -> Iterator[tuple[str, Path]]:
        if not self.objects_dir.is_dir():
            return
        for prefix in sorted(self.objects_dir.iterdir()):
            for path in sorted(prefix.iterdir()) if prefix.is_dir() else ():
                oid = prefix.name + path.name
                if _OID.fullmatch(oid) and path.is_file():
                    yield oid, path

    def gc(self, keep: Iterable[Pointer], dry_run: bool = False) -> GcReport:
        """Delete every stored object that `keep` does not reference; dry_run only reports."""
        wanted = self.referenced_objects(keep)
        doomed = [(path, path.stat().st_size) for oid, path in self._objects() if oid not in wanted]
        if not dry_run:
            for path, _ in doomed:
                path.unlink(missing_ok=True)
                with suppress(OSError):
                    path.parent.rmdir()  # only succeeds once the prefix dir is empty
        return GcReport(objects=len(doomed), bytes=sum(size for _, size in doomed),
                        paths=[str(path) for path, _ in doomed])

    def size(self) -> int:
        """Bytes held by the store's objects."""
        return sum(path.stat().st_size for _, path in self._objects())


def _pick_kind(path: Path, kind: str | None) -> str:
    if not path.exists():
        raise ArtifactError(f"No file or directory at '{path}' to store; check the path.")
    auto = "dir" if path.is_dir() else "file"
    if kind is None:
        return auto
    if kind not in KINDS:
        raise InvalidInputError(f"Artifact kind {kind!r} is not one of {', '.join(KINDS)}.")
    if (kind == "file") != (auto == "file"):
        raise InvalidInputError(f"'{path}' is a {auto}, so it cannot be stored as kind {kind!r}.")
    return kind


def _build_and_transfer(odb: HashFileDB, path: Path) -> tuple[HashInfo, Any]:
    from dvc_data.hashfile.build import build
    from dvc_data.hashfile.transfer import transfer

    staging, meta, obj = build(odb, str(path), odb.fs, "md5")
    if obj.hash_info.isdir:
        for entry in obj.as_list():  # type: ignore[attr-defined]  # a Tree; refuse now what checkout would refuse later
            _check_listed(path, entry["relpath"])
    # shallow=False: the default copies only a directory's listing (NOTES.md).
    result = transfer(staging, odb, {obj.hash_info}, shallow=False, hardlink=False)
    if result.failed:
        raise OSError(f"{len(result.failed)} object(s) failed to copy")
    return obj.hash_info, meta


def listing_entries(oid: str, raw: bytes) -> list[tuple[str, str, str | None]]:
    """(relpath, md5, link target or None) of the bytes of directory listing ``oid``; the
    checks of :meth:`Cache._entries` (git's tree-path rules, links that stay inside)."""
    try:
        entries = json.loads(raw)
        triples = [(_safe_relpath(e["relpath"]), e["md5"], e.get("symlink")) for e in entries]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ArtifactError(f"Directory listing {oid} is malformed; delete it and pull it again.") from exc
    _check_entries(oid, [(rel, md5) for rel, md5, _ in triples])
    for rel, md5, link in triples:
        if link is not None:
            _check_link(rel, link, md5)
    return triples


def _check_entries(oid: str, pairs: list[tuple[str, str]]) -> None:
    seen = {rel for rel, _ in pairs}
    for rel, md5 in pairs:
        if not isinstance(md5, str) or not _OID.fullmatch(md5) or md5.endswith(".dir"):
            raise ArtifactError(f"Directory listing {oid} has a bad hash for '{rel}'; delete it and pull it again.")
        parent = posixpath.dirname(rel)
        while parent:
            if parent in seen:
                raise ArtifactError(f"Directory listing {oid} has '{parent}' as both a file and a directory.")
            parent = posixpath.dirname(parent)
    if len(seen) != len(pairs):
        raise ArtifactError(f"Directory listing {oid} names a file twice; delete it and pull it again.")


def _is_damaged_db(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite saying a database file is not one (not "locked", not I/O)."""
    import sqlite3

    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError)


def _memo_md5(odb: HashFileDB, path: Path) -> str:
    from dvc_data.hashfile.hash import hash_file

    # State remembers (inode, mtime, size) -> md5, so an unchanged big file is not re-read.
    _, hash_info = hash_file(str(path), odb.fs, "md5", state=odb.state)
    return str(hash_info.value)


def _link(link: str, src: Path, target: Path) -> None:
    if link == "hardlink":
        os.link(src, target)
        return
    from dvc_objects.fs.local import LocalFileSystem

    LocalFileSystem().reflink(str(src), str(target))
    target.chmod(0o644)


def _swap_in(tmp: Path, dest: Path) -> None:
    if not os.path.lexists(dest) or not (dest.is_dir() or tmp.is_dir()):
        os.replace(tmp, dest)
        return
    # rename() cannot replace a non-empty directory (or a file by a directory): park the
    # old one under a temporary name, swap, then delete it.
    aside = _tmp_sibling(dest)
    os.rename(dest, aside)
    try:
        os.rename(tmp, dest)
    except OSError:
        os.rename(aside, dest)
        raise
    _remove(aside)


# ---------------------------------------------------------------- remotes


class Remote:
    """A dvc-data object store elsewhere (a directory, S3, any fsspec filesystem)."""

    def __init__(self, odb: HashFileDB, url: str) -> None:
        self.odb = odb
        self.url = url

    def _has(self, oids: Iterable[str]) -> set[str]:
        return set(self.odb.oids_exist(list(oids)))

    def _listing_oids(self, pointer: Pointer, cache: Cache | None) -> list[str]:
        if not pointer.isdir:
            return [pointer.md5]
        if cache is not None and cache.object_path(pointer.md5).is_file():
            return cache._oids(pointer)
        try:
            raw = self.odb.fs.cat_file(self.odb.oid_to_path(pointer.md5))
        except FileNotFoundError:
            return [pointer.md5]
        if hashlib.md5(raw, usedforsecurity=False).hexdigest() != pointer.md5.removesuffix(".dir"):
            raise IntegrityError(f"Remote listing {pointer.md5} at {self.url} does not match its hash; push it again.")
        try:
            oids = [pointer.md5, *(e["md5"] for e in json.loads(raw))]
        except (ValueError, TypeError, KeyError):
            oids = []
        if not oids or not all(isinstance(oid, str) and _OID.fullmatch(oid) for oid in oids):
            raise ArtifactError(f"Remote listing {pointer.md5} at {self.url} is malformed; push it again.")
        return oids

    def missing(self, pointers: Iterable[Pointer], cache: Cache | None = None) -> list[str]:
        """Object hashes the pointers need that the remote lacks.

        A directory's files are named by its listing, read from `cache` when given, else from the remote.
        """
        try:
            wanted = {oid for p in pointers for oid in self._listing_oids(p, cache)}
            return sorted(wanted - self._has(wanted))
        except _dvc_errors() as exc:
            raise ArtifactError(
                f"Could not list artifacts at {self.url} ({exc}); check the remote URL and access."
            ) from exc

    def push(self, cache: Cache, pointers: Iterable[Pointer]) -> int:
        """Send every object the pointers need that the remote lacks; returns how many were sent."""
        pointers = list(pointers)
        for oid in self.missing(pointers, cache):
            cache._verify_object(oid)  # never spread a corrupt object
        return self._transfer(cache, pointers, upload=True)

    def pull(self, cache: Cache, pointers: Iterable[Pointer]) -> int:
        """Fetch into `cache` every object the pointers need; returns how many were fetched."""
        pointers = list(pointers)
        fetched = 0
        for pointer in pointers:  # listings first, so that their files can be named
            if pointer.isdir and not cache.object_path(pointer.md5).is_file():
                fetched += self._fetch_listing(cache, pointer.md5)
            if pointer.isdir and not cache.object_path(pointer.md5).is_file():
                raise ArtifactError(
                    f"Remote {self.url} lacks artifact {pointer.md5}; push it from a clone that has it."
                )
        fetched += self._transfer(cache, pointers, upload=False)
        for pointer in pointers:
            if not cache.has(pointer):
                raise ArtifactError(
                    f"Remote {self.url} lacks part of artifact {pointer.md5}; push it from a clone that has it."
                )
            _verify_or_drop(cache, pointer)
        return fetched

    def _fetch_listing(self, cache: Cache, oid: str) -> int:
        with cache._odb(memo=False) as odb:
            try:
                odb.add(self.odb.oid_to_path(oid), self.odb.fs, oid)
            except FileNotFoundError:
                return 0  # the caller reports the missing listing
            except _dvc_errors() as exc:
                raise ArtifactError(f"Could not fetch listing {oid} from {self.url} ({exc}); check access.") from exc
        _verify_or_drop(cache, Pointer(oid, 0, 0, "dir"), listing_only=True)
        return 1

    def _transfer(self, cache: Cache, pointers: list[Pointer], upload: bool) -> int:
        from dvc_data.hashfile.hash_info import HashInfo
        from dvc_data.hashfile.transfer import transfer

        infos = {HashInfo("md5", oid) for p in pointers for oid in cache._oids(p)}
        try:
            with cache._odb(memo=False) as local:
                src, dst = (local, self.odb) if upload else (self.odb, local)
                result = transfer(src, dst, infos, shallow=False, hardlink=False)
        except _dvc_errors() as exc:
            raise ArtifactError(
                f"Could not transfer artifacts with {self.url} ({exc}); check the remote and retry."
            ) from exc
        if result.failed:
            raise ArtifactError(f"{len(result.failed)} object(s) failed to transfer with {self.url}; retry.")
        return len(result.transferred)


def _verify_or_drop(cache: Cache, pointer: Pointer, listing_only: bool = False) -> None:
    oids = [pointer.md5] if listing_only else cache._oids(pointer)
    for oid in oids:
        try:
            cache._verify_object(oid)
            if oid.endswith(".dir"):
                cache._entries(oid)  # a listing git's path rules refuse never stays
        except (IntegrityError, UnsafePathError):
            cache.object_path(oid).unlink(missing_ok=True)
            raise


def open_remote(url: str, options: Mapping[str, Any] | None = None) -> Remote:
    """Open a remote object store: a directory path, file://, s3:// (needs s3fs) or any fsspec URL.

    ``options`` are fsspec storage options for URL remotes (``endpoint_url`` ...).
    """
    from dvc_data.hashfile.db import get_odb

    scheme = urlsplit(url).scheme
    if scheme in ("", "file") or _DRIVE.fullmatch(scheme + ":"):
        from dvc_objects.fs.local import LocalFileSystem

        fs: Any = LocalFileSystem()
        root = str(Path(unquote(urlsplit(url).path) if scheme == "file" else url).absolute())
        path = os.path.join(root, "files", "md5")
    elif scheme == "memory":
        # dvc-data treats every memory:// store as its staging area and reports any
        # object as present there, so a push would silently send nothing.
        raise ArtifactError(f"Remote {url!r} is in memory, which dvc-data cannot push to; use a directory.")
    else:
        fs, root = _fsspec_fs(url, options)
        path = fs.join(root, "files", "md5")
    return Remote(get_odb(fs, path, hash_name="md5"), url)


def _fsspec_fs(url: str, options: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    from dvc_objects.fs.base import FileSystem
    from fsspec.core import url_to_fs

    try:
        fsspec_fs, root = url_to_fs(url, **dict(options or {}))
    except ImportError as exc:
        hint = "pip install s3fs" if url.startswith("s3://") else "install the fsspec backend for it"
        raise ArtifactError(f"No filesystem for remote {url!r}; {hint}.") from exc
    except ValueError as exc:
        raise ArtifactError(
            f"Remote URL {url!r} is not understood; give a directory or a URL like s3://bucket/path."
        ) from exc
    # A bare dvc-objects FileSystem around the fsspec instance: the dvc-s3 plugin would pull
    # in the whole of DVC (NOTES.md), and md5 is set on the store, not taken from the fs.
    fs = FileSystem(fs=fsspec_fs)
    fs.protocol = urlsplit(url).scheme
    return fs, root
