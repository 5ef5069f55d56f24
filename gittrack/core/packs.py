"""Many git objects and refs at once: packs written from Python, refs into packed-refs.

Written one by one, a run costs a file per object (~1 ms each on a virtual disk) and a ref
creation that re-reads the whole packed-refs file. Instead, objects are hashed as git does and
written as packs with their version-2 index: a live run's commit as one small pack
(:meth:`PackBuilder.write_pack`), a bulk write (gittrack.log_runs) streamed into one pack per
gigabyte (:class:`PackStream`). Packs hold whole objects only, so :func:`roll_up` merges them
by copying entries. The refs of a bulk write go into ``packed-refs`` in one locked rewrite,
with git's own lock protocol (``packed-refs.lock`` created exclusively, renamed over the file),
so git and libgit2 writers wait for it or it for them. Objects are written before refs, so a
ref never names a missing object.
"""
from __future__ import annotations

import hashlib
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from gittrack.core.errors import GitError

MODE_TREE, MODE_BLOB = "40000", "100644"
_TYPES = {"commit": 1, "tree": 2, "blob": 3}
PACKED_HEADER = b"# pack-refs with: peeled fully-peeled sorted \n"
LOCK_TRIES = 200  # x 25 ms: how long to wait for another writer's packed-refs.lock
STREAM_MAX = 1 << 30  # bytes a streamed pack grows to before the next is begun


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

    def write_pack(self, git_dir: Path) -> None:
        """Write the objects as one pack and its index from Python; forget them.

        For a live run's commit (a few dozen objects): no subprocess, two files instead of a
        loose file per object. The pack holds whole objects only (no deltas), so
        :func:`roll_up` can merge such packs by copying their entries.
        """
        if not self._objects:
            return
        name = write_pack_files(git_dir / "objects" / "pack", self._objects)
        with _LOCK:
            OWN.add(f"pack-{name}.pack")
            _UNSETTLED.setdefault(threading.get_ident(), set()).add(f"pack-{name}.pack")
        self.known.update(self._objects)
        self._objects.clear()


# Packs this process wrote, and those whose ref its writing thread has not written yet. A
# pack is rolled (roll_up deletes it) only once settled: libgit2 looks up the target of a new
# ref, and one whose pack vanished between its write and that lookup would not be found.
OWN: set[str] = set()
_UNSETTLED: dict[int, set[str]] = {}
_LOCK = threading.Lock()


def settle_thread() -> None:
    """The current thread has written the ref to the objects of the packs it wrote."""
    with _LOCK:
        _UNSETTLED.pop(threading.get_ident(), None)


def unsettled() -> set[str]:
    """Names (``pack-<sha>.pack``) of this process's packs not yet settled."""
    with _LOCK:
        return {name for names in _UNSETTLED.values() for name in names}


def write_pack_files(pack_dir: Path, objects: Mapping[str, bytes]) -> str:
    """``pack-<sha>.pack`` and ``.idx`` (version 2) holding ``{id: pack entry}``; the sha.

    The pack is renamed into place before its index, as git does, so a reader that sees the
    index finds the pack; the files are read-only, as git makes them.
    """
    head = b"PACK" + (2).to_bytes(4, "big") + len(objects).to_bytes(4, "big")
    offsets: dict[str, int] = {}
    crcs: dict[str, int] = {}
    at = len(head)
    for oid, entry in objects.items():
        offsets[oid] = at
        crcs[oid] = zlib.crc32(entry)
        at += len(entry)
    body = b"".join([head, *objects.values()])
    checksum = hashlib.sha1(body, usedforsecurity=False).digest()
    name = checksum.hex()
    if at >= 1 << 31:
        raise GitError("A pack over 2 GB cannot be written this way; write fewer runs at once.")
    idx = _index_file({bytes.fromhex(o): (offsets[o], crcs[o]) for o in objects}, checksum)
    pack_dir.mkdir(parents=True, exist_ok=True)
    for suffix, data in (("pack", body + checksum), ("idx", idx)):
        final = pack_dir / f"pack-{name}.{suffix}"
        if final.exists():
            continue  # the same objects written before: the same pack
        # tmp_*, which `git prune` removes once old (a crash's leftover), but not *.idx:
        # `git gc` deletes an .idx without its .pack as garbage, even while it is written.
        tmp = pack_dir / f"tmp_gittrack_{os.getpid()}_{threading.get_ident()}_{suffix}"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o444)
        os.replace(tmp, final)
    return name


def _index_file(entries: Mapping[bytes, tuple[int, int]], checksum: bytes) -> bytes:
    """A version-2 pack index of ``{raw id: (offset, crc32)}`` (offsets below 2 GB)."""
    ids = sorted(entries)
    fanout = [0] * 256
    for oid in ids:
        fanout[oid[0]] += 1
    total = 0
    for i in range(256):
        total += fanout[i]
        fanout[i] = total
    idx = b"".join([b"\377tOc", struct.pack(">I", 2), struct.pack(">256I", *fanout),
                    b"".join(ids), struct.pack(f">{len(ids)}I", *(entries[o][1] for o in ids)),
                    struct.pack(f">{len(ids)}I", *(entries[o][0] for o in ids)), checksum])
    return idx + hashlib.sha1(idx, usedforsecurity=False).digest()


class PackStream(PackBuilder):
    """Objects written straight into a pack file as they are made, for any number of runs.

    A bulk write of a million runs makes tens of millions of objects: held in memory (as
    :class:`PackBuilder` does) they would not fit, and written as a pack per few thousand
    runs they would leave hundreds of packs for every later lookup to search. Here each
    object's entry goes to a temporary file at once, only its id, offset and CRC stay in
    memory, and :meth:`finish` writes the header, the checksum and the index (a new pack is
    begun past :data:`STREAM_MAX` bytes). Nothing is visible before :meth:`finish`; a crash
    leaves a ``tmp_*`` file that ``git prune`` removes.
    """

    def __init__(self, pack_dir: Path) -> None:
        super().__init__()
        self.pack_dir = pack_dir
        self.names: list[str] = []  # the packs finished so far
        self._file: Any = None
        self._entries: dict[bytes, tuple[int, int]] = {}
        self._at = 0

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, kind: str, data: bytes) -> str:
        digest = hashlib.sha1(b"%s %d\0%s" % (kind.encode(), len(data), data),
                              usedforsecurity=False).digest()
        if digest not in self._entries:
            if self._file is None:
                self._open()
            entry = _entry_header(_TYPES[kind], len(data)) + zlib.compress(data, 1)
            self._entries[digest] = (self._at, zlib.crc32(entry))
            self._file.write(entry)
            self._at += len(entry)
            if self._at >= STREAM_MAX:
                self._close()
        return digest.hex()

    def _tmp(self, suffix: str) -> Path:
        return self.pack_dir / f"tmp_gittrack_{os.getpid()}_{threading.get_ident()}_{suffix}"

    def _open(self) -> None:
        self.pack_dir.mkdir(parents=True, exist_ok=True)
        self._file = open(self._tmp("stream"), "w+b")  # noqa: SIM115 - closed by _close/abort
        self._file.write(b"\0" * 12)  # the header, written once the count is known
        self._at = 12

    def _close(self) -> None:
        fh, self._file = self._file, None
        try:
            fh.seek(0)
            fh.write(b"PACK" + (2).to_bytes(4, "big") + len(self._entries).to_bytes(4, "big"))
            fh.flush()
            fh.seek(0)
            body = hashlib.sha1(usedforsecurity=False)
            while chunk := fh.read(1 << 20):
                body.update(chunk)
            checksum = body.digest()
            fh.write(checksum)
            fh.flush()
            os.fsync(fh.fileno())
        finally:
            fh.close()
        name = checksum.hex()
        idx = _index_file(self._entries, checksum)
        self._entries = {}
        tmp = self._tmp("stream")
        os.chmod(tmp, 0o444)
        os.replace(tmp, self.pack_dir / f"pack-{name}.pack")  # the pack before its index
        tmp_idx = self._tmp("index")
        with open(tmp_idx, "wb") as fh:
            fh.write(idx)
        os.chmod(tmp_idx, 0o444)
        os.replace(tmp_idx, self.pack_dir / f"pack-{name}.idx")
        self.names.append(name)

    def finish(self) -> list[str]:
        """Write the last pack and its index; the names of every pack written."""
        if self._file is not None:
            self._close()
        return self.names

    def abort(self) -> None:
        """Forget the pack being written (packs already finished stay, unreferenced)."""
        if self._file is not None:
            self._file.close()
            self._file = None
            self._tmp("stream").unlink(missing_ok=True)


def read_index(idx_path: Path) -> list[tuple[int, str, int]]:
    """``(offset, id, crc32)`` of every object of a version-2 pack index, by offset."""
    data = idx_path.read_bytes()
    if data[:8] != b"\377tOc\x00\x00\x00\x02":
        raise ValueError(f"{idx_path} is not a version 2 pack index")
    count = struct.unpack_from(">I", data, 8 + 255 * 4)[0]
    base = 8 + 256 * 4
    ids = data[base : base + 20 * count]
    crcs = struct.unpack_from(f">{count}I", data, base + 20 * count)
    offsets = struct.unpack_from(f">{count}I", data, base + 24 * count)
    if any(off & 0x80000000 for off in offsets):
        raise ValueError(f"{idx_path} indexes a pack over 2 GB")
    return sorted((offsets[i], ids[20 * i : 20 * i + 20].hex(), crcs[i]) for i in range(count))


def roll_up(pack_dir: Path, paths: list[Path]) -> list[Path]:
    """Merge the packs ``paths`` (``.pack`` files holding whole objects only) into one pack,
    then delete them; returns the packs left out because they hold deltas.

    Entries are copied as they are (a whole object's entry is position-independent). A pack
    holding a delta (one git wrote) is left out; objects are written before any pack is
    deleted, so every object stays readable throughout.
    """
    objects: dict[str, bytes] = {}
    merged, deltas = [], []
    for path in paths:
        try:
            entries = read_index(path.with_suffix(".idx"))
            if _has_delta(path, entries):  # git wrote it: told by the type bits alone
                deltas.append(path)
                continue
            data = path.read_bytes()
        except (OSError, ValueError):
            continue  # gone (another process rolled it) or not ours to read
        ends = [off for off, _oid, _crc in entries[1:]] + [len(data) - 20]
        found: dict[str, bytes] = {}
        for (off, oid, crc), end in zip(entries, ends):
            entry = data[off:end]
            if (entry[0] >> 4) & 7 not in _TYPES.values() or zlib.crc32(entry) != crc:
                found = {}
                deltas.append(path)
                break  # a delta, or a damaged pack: leave this pack as it is
            found[oid] = entry
        if found:
            objects.update(found)
            merged.append(path)
    if len(merged) < 2:
        return deltas
    name = write_pack_files(pack_dir, objects)
    with _LOCK:
        OWN.add(f"pack-{name}.pack")
    for path in merged:
        if path.stem == f"pack-{name}":
            continue
        for suffix in (".idx", ".pack", ".rev"):
            path.with_suffix(suffix).unlink(missing_ok=True)
    return deltas


def _has_delta(path: Path, entries: list[tuple[int, str, int]]) -> bool:
    # The first byte of each entry holds its type: 6 and 7 are deltas. Packs git made have
    # them from the start, so this reads little of a big one before it answers.
    with open(path, "rb") as fh:
        for offset, _oid, _crc in entries:
            fh.seek(offset)
            if (fh.read(1)[0] >> 4) & 7 not in _TYPES.values():
                return True
    return False


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

    def add(entries: dict[str, bytes]) -> bool:
        taken = [name for name in refs if name in entries]
        if taken:
            raise GitError(f"Ref {taken[0]} exists already; run ids are never reused.")
        for name, oid in refs.items():
            entries[name] = f"{oid} {name}\n".encode()
        return True

    _rewrite_packed(git_dir, add)


def remove_packed_refs(git_dir: Path, refs: Mapping[str, str]) -> list[str]:
    """Delete from packed-refs, in one locked rewrite of the file, each ref of ``refs`` that
    it holds at exactly the value given; the names deleted. For refs with no loose file (a
    loose one would stay and win; ``git update-ref`` deletes those): git takes a lock file per
    ref it deletes, 0.25 ms each, where this rewrites the file once."""
    gone: list[str] = []

    def remove(entries: dict[str, bytes]) -> bool:
        gone.extend(name for name, oid in refs.items() if name in entries
                    and entries[name].split(b"\n", 1)[0] == f"{oid} {name}".encode())
        for name in gone:
            del entries[name]
        return bool(gone)

    if refs:
        _rewrite_packed(git_dir, remove)
    return gone


def _rewrite_packed(git_dir: Path, edit: Callable[[dict[str, bytes]], bool]) -> None:
    """Rewrite packed-refs under its lock once ``edit`` has changed its entries in place
    (``{ref: its line(s)}``); nothing is written when ``edit`` returns False or raises."""
    lock = git_dir / "packed-refs.lock"
    fd = _take_lock(lock)
    owned = True
    try:
        current = git_dir / "packed-refs"
        entries = _read_packed(current)
        if not edit(entries):
            return
        with os.fdopen(fd, "wb") as fh:
            fd = -1
            fh.write(_header(current))
            for name in sorted(entries, key=str.encode):
                fh.write(entries[name])
        os.replace(lock, current)
        owned = False  # renamed into place: a lock file there now is another writer's
    finally:
        if fd >= 0:
            os.close(fd)
        if owned:
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
