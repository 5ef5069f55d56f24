"""Many git objects and refs at once: one pack through `git index-pack`, refs into packed-refs.

Written one by one, a run costs a file per object (~1 ms each on a virtual disk) and a ref
creation that re-reads the whole packed-refs file. A bulk writer (gittrack.log_runs) instead
computes the objects in memory, hashes them as git does, sends them to ``git index-pack
--stdin`` as one pack (which checks every object and writes the .idx), then adds all the refs
to ``packed-refs`` in one locked rewrite, with git's own lock protocol (``packed-refs.lock``
created exclusively, renamed over the file), so git and libgit2 writers wait for it or it for
them. Objects are written before refs, so a ref never names a missing object.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path

from gittrack.core.errors import GitError

MODE_TREE, MODE_BLOB = "40000", "100644"
_TYPES = {"commit": 1, "tree": 2, "blob": 3}
PACKED_HEADER = b"# pack-refs with: peeled fully-peeled sorted \n"
LOCK_TRIES = 200  # x 25 ms: how long to wait for another writer's packed-refs.lock


class PackBuilder:
    """Git objects made in memory, deduplicated by id, until written as one pack."""

    def __init__(self) -> None:
        self._objects: dict[str, bytes] = {}  # id -> pack entry (header + zlib data)
        self.known: set[str] = set()  # ids already in the repository: never packed again

    def __len__(self) -> int:
        return len(self._objects)

    def add(self, kind: str, data: bytes) -> str:
        """Hash ``data`` as a git object of ``kind``; keep it for the pack unless known."""
        oid = hashlib.sha1(b"%s %d\0%s" % (kind.encode(), len(data), data),
                           usedforsecurity=False).hexdigest()
        if oid not in self._objects and oid not in self.known:
            self._objects[oid] = _entry_header(_TYPES[kind], len(data)) + zlib.compress(data, 1)
        return oid

    def blob(self, data: bytes) -> str:
        return self.add("blob", data)

    def tree(self, entries: Iterable[tuple[str, str, str]]) -> str:
        """A tree from ``(mode, name, id)`` entries, in git's order (a tree sorts as name/)."""
        items = sorted(entries, key=lambda e: e[1].encode() + (b"/" if e[0] == MODE_TREE else b""))
        data = b"".join(b"%s %s\0%s" % (mode.encode(), name.encode(), bytes.fromhex(oid))
                        for mode, name, oid in items)
        return self.add("tree", data)

    def commit(self, tree: str, parents: Iterable[str], signature: str, message: str) -> str:
        """A commit as libgit2 writes one: author and committer are the same signature."""
        lines = [f"tree {tree}", *(f"parent {p}" for p in parents),
                 f"author {signature}", f"committer {signature}", "", message]
        return self.add("commit", "\n".join(lines).encode())

    def write(self, git_dir: Path) -> None:
        """Send the objects to ``git index-pack --stdin`` as one pack; forget them."""
        if not self._objects:
            return
        body = hashlib.sha1(usedforsecurity=False)
        chunks = [b"PACK" + (2).to_bytes(4, "big") + len(self._objects).to_bytes(4, "big")]
        chunks.extend(self._objects.values())
        for chunk in chunks:
            body.update(chunk)
        chunks.append(body.digest())
        proc = subprocess.run(["git", "--git-dir", str(git_dir), "index-pack", "--stdin"],
                              input=b"".join(chunks), capture_output=True)
        if proc.returncode != 0:
            raise GitError(f"git index-pack refused a pack of {len(self._objects)} objects "
                           f"({proc.stderr.decode(errors='replace').strip()}); check the disk.")
        self.known.update(self._objects)
        self._objects.clear()


def _entry_header(kind: int, size: int) -> bytes:
    # The pack entry header: type in bits 4-6 of the first byte, the size in 4 + 7n bits.
    out = bytearray()
    byte = (kind << 4) | (size & 0x0F)
    size >>= 4
    while size:
        out.append(byte | 0x80)
        byte = size & 0x7F
        size >>= 7
    out.append(byte)
    return bytes(out)


def add_packed_refs(git_dir: Path, refs: Mapping[str, str]) -> None:
    """Create every ref of ``refs`` in packed-refs, in one locked rewrite of the file.

    Refuses (before writing anything) a name that exists already, loose or packed.
    """
    if not refs:
        return
    for name in refs:
        if (git_dir / name).exists():
            raise GitError(f"Ref {name} exists already; run ids are never reused.")
    lock = git_dir / "packed-refs.lock"
    fd = _take_lock(lock)
    try:
        current = git_dir / "packed-refs"
        entries = _read_packed(current)
        taken = [name for name in refs if name in entries]
        if taken:
            raise GitError(f"Ref {taken[0]} exists already; run ids are never reused.")
        for name, oid in refs.items():
            entries[name] = f"{oid} {name}\n".encode()
        with os.fdopen(fd, "wb") as fh:
            fd = -1
            fh.write(_header(current))
            for name in sorted(entries, key=str.encode):
                fh.write(entries[name])
        os.replace(lock, current)
    finally:
        if fd >= 0:
            os.close(fd)
        lock.unlink(missing_ok=True)


def _header(path: Path) -> bytes:
    # Keep what the old file promised about peeled tags (its tags' ^ lines are kept as they
    # are); a new file holds no tags, so it can promise everything. Always sorted: it is.
    try:
        with open(path, "rb") as fh:
            first = fh.readline()
    except FileNotFoundError:
        return PACKED_HEADER
    if not first.startswith(b"# pack-refs with:"):
        return b"# pack-refs with: sorted \n"
    traits = [t for t in first.split(b":", 1)[1].split() if t in (b"peeled", b"fully-peeled")]
    return b"# pack-refs with: " + b" ".join([*traits, b"sorted"]) + b" \n"


def _take_lock(lock: Path) -> int:
    for _ in range(LOCK_TRIES):
        try:
            return os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            time.sleep(0.025)  # another writer holds it for a moment (git, libgit2, gittrack)
    raise GitError(f"{lock} stays locked by another process; if none is running, delete it "
                   "(`gittrack doctor` does) and retry.")


def _read_packed(path: Path) -> dict[str, bytes]:
    """``{ref: its line(s)}``; a peeled line (``^<id>``) stays with the ref above it."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    entries: dict[str, bytes] = {}
    last = None
    for line in data.splitlines(keepends=True):
        if line.startswith(b"#"):
            continue
        if line.startswith(b"^") and last is not None:
            entries[last] += line
            continue
        oid, _, name = line.rstrip(b"\n").partition(b" ")
        last = name.decode()
        entries[last] = line if line.endswith(b"\n") else line + b"\n"
    return entries
