"""The derived summary index: run summaries in columnar segment files, keyed by commit id.

Commits never change, so a summary keyed by commit id never goes stale (DESIGN section 7).
The files live under ``.git/gittrack/index/v2/``; any of them can be deleted at any time and
what is missing is read from git again on the next query. The index is never the source of
truth: every answer is computed from the refs of the moment, looked up by commit.

Why columnar (measured on a 2-core machine, 100,000 runs): one JSON line a run costs ~2 s
to parse, and `gittrack log --where ... -n 20` only needs the columns it filters and sorts
on. A segment holds, per column, either float64s (metrics) or a JSON list of distinct values
plus int32 codes (everything else), and each run's full summary as one JSON line that is
parsed only for the runs shown. Segments are written whole under a unique name and renamed
into place, so concurrent writers never tear one; small segments are merged as they pile up.

Nothing derived is trusted blindly: every section of a segment carries a CRC-32 checked when it
is first read, every row its own; a segment that fails a check is rebuilt from git (with a
warning naming the file), and one whose commit column is damaged is dropped and its runs read
again. A noted summary line carries a CRC-32 too. A commit the index cannot read from git
(objects missing) gets no row on disk: it is marked damaged in the table and left out of answers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import mmap
import os
import struct
import sys
import threading
import uuid
import zlib
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import ScalarNode

from gittrack.core import archive, names
from gittrack.core.errors import GitError, GittrackError
from gittrack.core.gitio import Repo, append_file, read_packed_refs
from gittrack.core.records import load_yaml
from gittrack.core.store import Store

INDEX_FORMAT = 3
MAGIC = b"GTIDX3\n"
LEGACY = ("summaries-v1.jsonl", "v2")  # earlier index files, removed by clear()
MAX_SEGMENTS = 8
REFS_CACHE = "refs.cache"  # rows of the packed run refs (Index.runs)
REFS_MAGIC = b"GTREFS1\n"
NOTED_PREFIX = "noted-"  # files of summaries noted by writers (note_runs)
PARALLEL_MIN = 4000  # summarise in several processes from this many missing runs
# Attribute columns: summary key -> column name (the names filters and search_runs use).
ATTRIBUTES = {
    "commit": "commit", "id": "run_id", "name": "name", "experiment": "experiment",
    "status": "status", "start_time": "start_time", "end_time": "end_time", "user": "user",
    "baseline": "baseline_commit", "parent": "parent_run_id",
}
SECTIONS = ("params", "metrics", "tags")
log = logging.getLogger("gittrack")


class Damaged(Exception):
    """A derived index file failed its checks (internal: healed, never shown as is)."""


Healer = Callable[["Segment", str], "Segment"]
# ("f8", float64 values, missing mask) | ("dict", distinct values + [None], int32 codes) | None
Vector = tuple[str, Any, Any] | None
TAKE_FROM_ROWS = 64  # up to this many rows, Segment.take reads their summaries, not the column
_KEY_OF = {col: key for key, col in ATTRIBUTES.items()}


class Segment:
    """One segment file (or one just encoded in memory), decoded column by column.

    Each section is checked against its CRC-32 on first read, each row on every read; a
    failed check hands the segment to ``healer``, which rebuilds it from git.
    """

    def __init__(self, data: bytes | mmap.mmap, path: Path | None,
                 healer: Healer | None = None) -> None:
        try:
            self._load(data)
        except (ValueError, KeyError, TypeError, AttributeError, struct.error) as exc:
            raise Damaged(f"unreadable header: {exc}") from None
        self.path = path
        self.healer = healer
        self._commits: list[str] | None = None
        self._vectors: dict[str, Vector] = {}
        self._offsets: array[int] | None = None
        self._sums: array[int] | None = None

    def _load(self, data: bytes | mmap.mmap) -> None:
        if data[: len(MAGIC)] != MAGIC:
            raise ValueError("not an index segment")
        (size,) = struct.unpack_from("<Q", data, len(MAGIC))
        start = len(MAGIC) + 8
        header = json.loads(bytes(data[start : start + size]))
        if header.get("byteorder") != sys.byteorder:
            raise ValueError("segment written on a machine of another byte order")
        self.data, self.base = data, start + size
        self.n: int = int(header["n"])
        self.sections: dict[str, list[int]] = dict(header["sections"])
        self.encodings: dict[str, str] = dict(header["columns"])
        self.checksums: dict[str, int] = dict(header["crc32"])
        if len(data) != self.base + int(header["body"]):
            raise ValueError(f"{len(data)} bytes where the header says "
                             f"{self.base + int(header['body'])}")
        self._verified: set[str] = set()

    def _bytes(self, name: str) -> bytes:
        try:
            return self._checked(name)
        except Damaged as exc:
            self._heal(str(exc))
            return self._checked(name)

    def _checked(self, name: str) -> bytes:
        try:
            off, length = self.sections[name]
        except (KeyError, ValueError, TypeError):
            raise Damaged(f"section {name} is not listed") from None
        blob = bytes(self.data[self.base + off : self.base + off + length])
        if name not in self._verified:
            if len(blob) != length or zlib.crc32(blob) != self.checksums.get(name):
                raise Damaged(f"section {name} fails its checksum")
            self._verified.add(name)
        return blob

    def _heal(self, why: str) -> None:
        if self.healer is None:
            raise GitError(f"An index segment in memory is damaged ({why}); rerun the command.")
        fresh = self.healer(self, why)
        self.data, self.base, self.n = fresh.data, fresh.base, fresh.n
        self.sections, self.encodings = fresh.sections, fresh.encodings
        self.checksums, self.path = fresh.checksums, fresh.path
        self._verified, self._offsets, self._sums = set(), None, None
        self._vectors = {}

    def column(self, name: str) -> list[Any]:
        """The values of column ``name``, None where a run has none."""
        try:
            return self._column(name)
        except (Damaged, ValueError, TypeError, IndexError) as exc:
            self._heal(f"column {name}: {exc}")
            return self._column(name)

    def _column(self, name: str) -> list[Any]:
        kind = self.encodings.get(name)
        if kind is None:
            return [None] * self.n
        if kind == "f8":
            floats = array("d")
            floats.frombytes(self._checked(name + "/v"))
            out: list[Any] = floats.tolist()
            missing = array("i")
            missing.frombytes(self._checked(name + "/m"))
            for i in missing:
                out[i] = None
        else:
            values = json.loads(self._checked(name + "/v"))
            codes = array("i")
            codes.frombytes(self._checked(name + "/c"))
            values.append(None)  # code -1 reads the last item
            out = [values[c] for c in codes]
        if len(out) != self.n:
            raise Damaged(f"column {name} has {len(out)} values for {self.n} rows")
        return out

    # -- columns as arrays (numpy, for whole-table filters and orderings) ----------------
    def vector(self, name: str) -> Vector:
        """Column ``name`` as arrays: ``("f8", values, missing)`` for float columns,
        ``("dict", distinct values + [None], codes)`` otherwise (code -1 is the None),
        ``None`` when no row of the segment has it."""
        try:
            return self._vector(name)
        except (Damaged, ValueError, TypeError, IndexError) as exc:
            self._heal(f"column {name}: {exc}")
            return self._vector(name)

    def _vector(self, name: str) -> Vector:
        import numpy as np

        if name in self._vectors:
            return self._vectors[name]
        kind = self.encodings.get(name)
        out: Vector
        if kind is None:
            out = None
        elif kind == "f8":
            values = np.frombuffer(self._checked(name + "/v"), dtype=np.float64)
            at = np.frombuffer(self._checked(name + "/m"), dtype=np.int32)
            if len(values) != self.n or (len(at) and (at.min() < 0 or at.max() >= self.n)):
                raise Damaged(f"column {name} does not fit {self.n} rows")
            missing = np.zeros(self.n, dtype=bool)
            missing[at] = True
            out = ("f8", values, missing)
        else:
            distinct = json.loads(self._checked(name + "/v"))
            codes = np.frombuffer(self._checked(name + "/c"), dtype=np.int32)
            if not isinstance(distinct, list) or len(codes) != self.n or (
                    len(codes) and (codes.min() < -1 or codes.max() >= len(distinct))):
                raise Damaged(f"column {name} does not fit {self.n} rows")
            distinct.append(None)  # code -1 reads the last item
            out = ("dict", distinct, codes)
        self._vectors[name] = out
        return out

    def take(self, name: str, local: Sequence[int]) -> list[Any]:
        """The values of column ``name`` at rows ``local`` of this segment (None where
        absent). A few rows are read from their summaries, so a column of a million
        distinct values (run ids) is not decoded to show twenty."""
        if len(local) <= TAKE_FROM_ROWS and name not in self._vectors:
            return [_summary_value(json.loads(self.row_bytes(int(i))), name) for i in local]
        vec = self.vector(name)
        if vec is None:
            return [None] * len(local)
        if vec[0] == "f8":
            values, missing = vec[1], vec[2]
            out: list[Any] = values[local].tolist()
            for i, gone in enumerate(missing[local].tolist()):
                if gone:
                    out[i] = None
            return out
        distinct = vec[1]
        return [distinct[c] for c in vec[2][local].tolist()]

    def commits(self) -> list[str]:
        if self._commits is None:
            self._commits = self._column("commit")  # damaged: the segment is dropped (Index)
        return self._commits

    def row_bytes(self, i: int) -> bytes:
        """The JSON summary of row ``i``, checked against its CRC-32."""
        try:
            return self._row(i)
        except (Damaged, ValueError, IndexError) as exc:
            self._heal(f"row {i}: {exc}")
            return self._row(i)

    def _row(self, i: int) -> bytes:
        if self._offsets is None or self._sums is None:
            self._offsets, self._sums = array("q"), array("I")
            self._offsets.frombytes(self._checked("rows/o"))
            self._sums.frombytes(self._checked("rows/k"))
        off, _length = self.sections["rows/b"]
        lo, hi = self._offsets[i], self._offsets[i + 1]
        row = bytes(self.data[self.base + off + lo : self.base + off + hi])
        if zlib.crc32(row) != self._sums[i]:
            raise Damaged(f"row {i} fails its checksum")
        return row


def summary_columns(summaries: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Flat columns (``run_id``, ``params.alpha``, ...) of run summaries."""
    n = len(summaries)
    cols: dict[str, list[Any]] = {col: [s.get(key) for s in summaries]
                                  for key, col in ATTRIBUTES.items()}
    for section in SECTIONS:
        for i, s in enumerate(summaries):
            for key, value in s[section].items():
                col = cols.get(f"{section}.{key}")
                if col is None:
                    col = cols[f"{section}.{key}"] = [None] * n
                col[i] = value
    return cols


def encode(columns: Mapping[str, list[Any]], rows: Sequence[bytes]) -> bytes:
    """A segment file holding ``columns`` and the JSON summary of each row."""
    body: list[bytes] = []
    sections: dict[str, list[int]] = {}
    encodings: dict[str, str] = {}
    size = 0

    def put(name: str, blob: bytes) -> None:
        nonlocal size
        sections[name] = [size, len(blob)]
        body.append(blob)
        size += len(blob)

    for name, values in columns.items():
        present = [v for v in values if v is not None]
        if present and all(type(v) is float for v in present):
            encodings[name] = "f8"
            put(name + "/v", array("d", [0.0 if v is None else v for v in values]).tobytes())
            put(name + "/m", array("i", [i for i, v in enumerate(values) if v is None]).tobytes())
        else:
            encodings[name] = "dict"
            codes, texts = _dictionary(values)
            put(name + "/v", ("[" + ",".join(texts) + "]").encode("utf-8"))
            put(name + "/c", array("i", codes).tobytes())
    offsets = array("q", [0])
    for row in rows:
        offsets.append(offsets[-1] + len(row))
    put("rows/o", offsets.tobytes())
    put("rows/k", array("I", [zlib.crc32(row) for row in rows]).tobytes())
    put("rows/b", b"".join(rows))  # checked row by row (rows/k), as rows are read one by one
    sums = {name: zlib.crc32(blob) for name, blob in zip(sections, body) if name != "rows/b"}
    header = json.dumps({"format": INDEX_FORMAT, "byteorder": sys.byteorder, "n": len(rows),
                         "columns": encodings, "sections": sections, "crc32": sums,
                         "body": size}).encode("utf-8")
    return b"".join([MAGIC, struct.pack("<Q", len(header)), header, *body])


def _dictionary(values: Iterable[Any]) -> tuple[list[int], list[str]]:
    # Distinct by JSON text: it tells 1, 1.0, True and "1" apart (so does the (type, value)
    # key used first, with -0.0, NaN and unhashable values keyed by their text), and only
    # each distinct value is dumped.
    seen: dict[Any, int] = {}
    texts: list[str] = []
    by_text: dict[str, int] = {}
    codes = []
    for v in values:
        if v is None:
            codes.append(-1)
            continue
        kind = type(v)
        key: Any = (kind, v) if kind is str or kind is int or kind is bool or (
            kind is float and v == v and v != 0.0) else None
        code = seen.get(key) if key is not None else None
        if code is None:
            text = json.dumps(v, separators=(",", ":"))
            code = by_text.get(text)
            if code is None:
                code = by_text[text] = len(texts)
                texts.append(text)
            if key is not None:
                seen[key] = code
        codes.append(code)
    return codes, texts


def _summary_value(summary: Mapping[str, Any], column: str) -> Any:
    """The value of ``column`` (``run_id``, ``params.alpha``...) in a run summary."""
    key = _KEY_OF.get(column)
    if key is not None:
        return summary.get(key)
    section, dot, name = column.partition(".")
    values = summary.get(section) if dot and section in SECTIONS else None
    return values.get(name) if isinstance(values, dict) else None


def row_json(summary: Mapping[str, Any]) -> bytes:
    return json.dumps(summary, separators=(",", ":")).encode("utf-8")


class Table:
    """Rows of several segments seen as one: global row numbers, columns decoded on demand.

    ``damaged`` maps the rows of commits that could not be read from git (kept in memory
    only, with empty summaries) to why: answers leave them out.
    """

    def __init__(self, segments: list[Segment], damaged: Mapping[int, str] | None = None) -> None:
        self.segments = segments
        self.damaged: dict[int, str] = dict(damaged or {})
        self.starts: list[int] = []
        self.n = 0
        for seg in segments:
            self.starts.append(self.n)
            self.n += seg.n
        self._columns: dict[str, list[Any]] = {}

    def column(self, name: str) -> list[Any]:
        """Column ``name`` over every row of the table (None where absent)."""
        col = self._columns.get(name)
        if col is None:
            col = []
            for seg in self.segments:
                col.extend(seg.column(name))
            self._columns[name] = col
        return col

    def take(self, name: str, rows: Sequence[int]) -> list[Any]:
        """The values of column ``name`` at ``rows`` (None where absent), decoding no more
        of the column than the rows need."""
        if name in self._columns:
            col = self._columns[name]
            return [col[r] for r in rows]
        if len(self.segments) == 1:
            return self.segments[0].take(name, rows)
        import numpy as np

        at = np.asarray(rows, dtype=np.int64)
        which = np.searchsorted(np.asarray(self.starts, dtype=np.int64), at, side="right") - 1
        out: list[Any] = [None] * len(at)
        for k in np.unique(which).tolist():
            where = np.flatnonzero(which == k)
            values = self.segments[k].take(name, at[where] - self.starts[k])
            for i, v in zip(where.tolist(), values):
                out[i] = v
        return out

    def names(self) -> list[str]:
        """Every column name some segment holds."""
        found: dict[str, None] = {}
        for seg in self.segments:
            found.update(dict.fromkeys(seg.encodings))
        return list(found)

    def locate(self, row: int) -> tuple[Segment, int]:
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:  # the last segment whose start is <= row
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= row:
                lo = mid
            else:
                hi = mid - 1
        return self.segments[lo], row - self.starts[lo]

    def row_bytes(self, row: int) -> bytes:
        seg, i = self.locate(row)
        return seg.row_bytes(i)

    def summary(self, row: int) -> dict[str, Any]:
        """The full summary of a row, as :meth:`gittrack.core.records.Run.summary` made it."""
        result: dict[str, Any] = json.loads(self.row_bytes(row))
        return result

    def row_of(self) -> dict[str, int]:
        """``{commit: row}``; a commit held twice maps to its last row."""
        out: dict[str, int] = {}
        for seg, start in zip(self.segments, self.starts):
            out.update(zip(seg.commits(), range(start, start + seg.n)))
        return out


_warned: set[str] = set()  # commits warned about in this process (the UI asks again and again)


class Index:
    """Summaries of run commits, read from the segment files or from git when missing."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.dir: Path = store.repo.state_dir / "index" / f"v{INDEX_FORMAT}"

    def table(self, commits: Sequence[str], complete: bool = False) -> tuple[Table, list[int]]:
        """The table, and the row of each of ``commits`` (read from git when not indexed).

        ``complete`` says ``commits`` are all the runs there are, so rows of other commits
        (runs since updated or deleted) may be dropped when they outnumber the live ones.
        A commit that cannot be read from git gets a row in ``table.damaged``.
        """
        table = Table(self._segments())
        row_of = table.row_of()
        table, broken = self._add(table, row_of, commits)
        intact = [c for c in commits if c not in broken]
        rows = [row_of[c] for c in intact]
        if len(table.segments) > MAX_SEGMENTS or (complete and table.n > 2 * max(len(rows), 500)):
            table, row_of = self._compact(table, rows, complete)
        if broken:
            table, row_of = _with_damaged(table, row_of, broken)
        return table, [row_of[c] for c in commits]

    def _add(self, table: Table, row_of: dict[str, int],
             commits: Sequence[str]) -> tuple[Table, dict[str, str]]:
        """``table`` with a new segment holding the ``commits`` not in ``row_of`` (which is
        updated), and ``{commit: why}`` of those that cannot be read from git."""
        missing = [c for c in dict.fromkeys(commits) if c not in row_of]
        broken: dict[str, str] = {}
        if missing:
            # Summaries the writers noted at the end of their runs come first (no git
            # read); all of them go into the new segment, so their files can go.
            noted, read = self._noted()
            new = {c: s for c, s in noted.items() if c not in row_of}
            unknown = [c for c in missing if c not in new]
            found, broken = summarize_each(self.store.repo, unknown)
            new.update(found)
            if new:
                summaries = list(new.values())
                segment = self._write(summary_columns(summaries),
                                      [row_json(s) for s in summaries])
                table = Table([*table.segments, segment])
                row_of.update(zip(new, range(table.n - len(new), table.n)))
                if segment.path is not None:
                    _remove(read)
        return table, broken

    def runs(self, experiments: Sequence[str] | None = None) -> tuple[Table, Any]:
        """The table and the rows (an int64 array) of every run of ``experiments`` (every
        run when None), as :meth:`table` gives them for the refs of the moment.

        A million runs live in packed-refs (83 MB) and one big segment: reading the one and
        mapping its commits to the other's rows costs seconds. So the rows of the packed run
        refs are kept in ``refs.cache`` beside the segments, valid while packed-refs is the
        same file (inode, size, mtime) and the segments it names exist; loose refs (live
        and new runs) are read every time and override packed ones, as in git.
        """
        import numpy as np

        if experiments is not None:  # a name git cannot hold (a lone surrogate) has no runs
            experiments = [e for e in experiments if e.encode("utf-8", "replace") == e.encode(
                "utf-8", "surrogatepass")]
        seen = self._bulk_state()
        segments = self._segments()
        cache = _RefsCache.load(self.dir / REFS_CACHE, seen, segments)
        if cache is None or len(segments) > MAX_SEGMENTS:
            refs = self.store.refs()
            bulk = self._bulk_refs() if seen is not None else {}
            # The packed or archived records that loose refs override go into the table
            # too, so the cache can hold every one (the loose ref still wins when read).
            live = set(refs.values())
            hidden = [c for c in dict.fromkeys(bulk.values()) if c not in live]
            table, rows = self.table([*refs.values(), *hidden], complete=True)
            rows = rows[:len(refs)]
            if seen is not None and not table.damaged and self._bulk_state() == seen:
                _RefsCache.write(self.dir / REFS_CACHE, seen, table, bulk)  # else it changed
            if experiments is not None:
                dirs = {names.experiment_ref_prefix(e) for e in experiments}
                rows = [r for ref, r in zip(refs, rows)
                        if _experiment_dir(ref) in dirs]
            return table, np.asarray(rows, dtype=np.int64)
        loose = self.store.repo.list_loose_refs(names.RUNS_PREFIX)
        table = Table(segments)
        newer = [seg for k, seg in enumerate(segments) if k not in set(cache.seg_map.tolist())]
        if len(segments) > MAX_SEGMENTS // 2 and len(newer) > 1:
            # merge the segments made since the cache (the cached ones keep their rows)
            merged, _row_of = self._compact(Table(newer), [], complete=False)
            table = Table([*(s for s in segments if s not in newer), *merged.segments])
            cache.remap(table)
        keep = cache.rows(table, loose, experiments)
        if experiments is not None:
            dirs = {names.experiment_ref_prefix(e) for e in experiments}
            loose = {ref: c for ref, c in loose.items()
                     if _experiment_dir(ref) in dirs}
        if not loose:
            return table, keep
        found = cache.find(table, list(loose.values()))
        table, broken = self._add(table, found, list(loose.values()))
        if broken:
            table, found = _with_damaged(table, found, broken)
        more = np.asarray([found[c] for c in loose.values()], dtype=np.int64)
        return table, np.concatenate([keep, more])

    def _bulk_state(self) -> list[int] | None:
        """What tells the refs kept in ``refs.cache`` from others: the packed-refs file, and
        the archives with the removed runs they hide (None when there is neither)."""
        seen = _fingerprint(self.store.repo.common_dir / "packed-refs")
        key = archive.state_key(self.store.repo)
        return seen if key is None else [*(seen or [0, 0, 0, 0]), key]

    def _bulk_refs(self) -> dict[str, str]:
        """The run refs kept in ``refs.cache``: the packed ones, and those the archives
        stand for where no packed ref is (a loose ref overrides both when read)."""
        refs = archive.entries(self.store.repo)
        refs.update(read_packed_refs(self.store.repo.common_dir / "packed-refs",
                                     names.RUNS_PREFIX))
        return refs

    def rebuild(self) -> int:
        """Drop the index and summarise every run again; returns the number of runs."""
        self.clear()
        refs = self.store.refs()
        self.table(list(refs.values()), complete=True)
        return len(refs)

    def clear(self) -> None:
        """Delete every index file (noted summaries and the legacy files too)."""
        for path in [*self._paths(), *self._noted_paths()]:
            path.unlink(missing_ok=True)
        for name in LEGACY:
            legacy = self.dir.parent / name
            if legacy.is_dir():
                _remove(sorted(legacy.iterdir()))
                with contextlib.suppress(OSError):
                    legacy.rmdir()
            else:
                legacy.unlink(missing_ok=True)

    def stats(self) -> dict[str, Any]:
        """Segments, indexed rows and bytes on disk."""
        segments = self._segments()
        return {"path": str(self.dir), "segments": len(segments),
                "rows": sum(s.n for s in segments),
                "bytes": sum(p.stat().st_size for p in self._paths() if p.exists())}

    def verify(self, repair: bool = False) -> list[str]:
        """Check every index file in full (each section, each row, each noted line); the
        problems found (gittrack doctor). With ``repair``, damaged files are rebuilt."""
        problems: list[str] = []
        for path in self._paths():
            if not self._valid(path):
                continue
            try:
                seg = Segment(_read(path), path)
                seg.commits()
                for name in seg.encodings:
                    seg._column(name)
                for i in range(seg.n):
                    seg._row(i)
            except (Damaged, ValueError, TypeError, IndexError, KeyError, OSError) as exc:
                problems.append(f"index segment {path.name} is damaged ({exc})")
                if repair:
                    path.unlink(missing_ok=True)
        for path in self._noted_paths():
            _found, bad = _noted_lines(path)
            if bad:
                problems.append(f"{bad} noted summary line(s) in {path.name} fail their checksum")
                if repair:
                    path.unlink(missing_ok=True)
        if problems and repair:
            refs = self.store.refs()
            self.table(list(refs.values()), complete=True)
        return problems

    # -- summaries noted by writers ------------------------------------------------------
    def _noted_paths(self) -> list[Path]:
        try:
            return sorted(p for p in self.dir.iterdir() if p.name.startswith(NOTED_PREFIX))
        except OSError:
            return []

    def _noted(self) -> tuple[dict[str, dict[str, Any]], list[Path]]:
        """``{commit: summary}`` of the noted files, and the files read."""
        paths = self._noted_paths()
        found: dict[str, dict[str, Any]] = {}
        for path in paths:
            summaries, bad = _noted_lines(path)
            found.update(summaries)
            if bad:
                log.warning("%d noted run summary line(s) in %s fail their checksum; those runs "
                            "are read from git again.", bad, path)
        return found, paths

    # -- files --------------------------------------------------------------------------
    def _paths(self) -> list[Path]:
        try:
            return sorted(self.dir.glob("*.seg"))
        except OSError:
            return []

    def _segments(self) -> list[Segment]:
        for _attempt in range(3):
            try:
                return [seg for p in self._paths() if self._valid(p)
                        if (seg := self._open(p)) is not None]
            except FileNotFoundError:
                continue  # a concurrent compaction removed a file we listed: list again
        return []

    def _valid(self, path: Path) -> bool:
        return not path.name.startswith("tmp")

    def _open(self, path: Path) -> Segment | None:
        data = _read(path)
        try:
            seg = Segment(data, path, self._heal)
            if seg.n:  # the commit column is checked (CRC-32), decoded only when needed
                if seg.encodings.get("commit") != "dict":
                    raise Damaged("no commit column")
                seg._checked("commit/v")
                seg._checked("commit/c")
        except (Damaged, ValueError, TypeError, IndexError) as exc:
            # Without a readable commit column there is nothing to rebuild it from: drop it,
            # and its runs are read from git again as runs missing from the index.
            log.warning("The summary index file %s is damaged (%s); it is removed and its "
                        "runs are read from git again.", path, exc)
            path.unlink(missing_ok=True)
            return None
        return seg

    def _heal(self, seg: Segment, why: str) -> Segment:
        """Rebuild a damaged segment from git: same commits, same order (rows keep their
        numbers)."""
        commits = seg.commits()
        summaries = summarize(self.store.repo, commits)
        fresh = self._write(summary_columns(summaries), [row_json(s) for s in summaries])
        if seg.path is not None:
            seg.path.unlink(missing_ok=True)
        log.warning("The summary index file %s was damaged (%s); its %d run(s) were read from "
                    "git again.", seg.path, why, len(commits))
        return fresh

    def _write(self, columns: Mapping[str, list[Any]], rows: Sequence[bytes]) -> Segment:
        data = encode(columns, rows)
        name = f"{os.urandom(4).hex()}-{uuid.uuid4().hex[:8]}.seg"
        path = self.dir / name
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = self.dir / f"tmp-{name}"
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError:
            path = None  # type: ignore[assignment]  # a read-only state dir only costs speed
        return Segment(data, path, self._heal)

    def _compact(self, table: Table, rows: list[int],
                 complete: bool) -> tuple[Table, dict[str, int]]:
        """Merge every segment into one (keeping only ``rows`` when ``complete``)."""
        keep = list(dict.fromkeys(rows)) if complete else _last_rows(table)
        columns = {name: _take(table.column(name), keep) for name in table.names()}
        columns = {k: v for k, v in columns.items() if any(x is not None for x in v)}
        segment = self._write(columns, [table.row_bytes(r) for r in keep])
        for seg in table.segments:
            if seg.path is not None and seg.path != segment.path:
                seg.path.unlink(missing_ok=True)
        merged = Table([segment])
        return merged, merged.row_of()


def _with_damaged(table: Table, row_of: dict[str, int],
                  broken: Mapping[str, str]) -> tuple[Table, dict[str, int]]:
    """``table`` plus an in-memory segment of empty summaries for the commits that could not
    be read, marked damaged (never written: a later fetch of the objects makes them whole)."""
    stubs = [_stub(commit) for commit in broken]
    segment = Segment(encode(summary_columns(stubs), [row_json(s) for s in stubs]), None)
    start = table.n
    damaged = {**table.damaged, **{start + i: why for i, why in enumerate(broken.values())}}
    out = Table([*table.segments, segment], damaged)
    return out, {**row_of, **{c: start + i for i, c in enumerate(broken)}}


def _stub(commit: str) -> dict[str, Any]:
    return {"id": "", "name": "", "experiment": "", "status": "damaged", "commit": commit,
            "start_time": None, "end_time": None, "user": None, "baseline": None,
            "parent": None, "params": {}, "metrics": {}, "steps": {}, "tags": {}}


def summarize_each(repo: Repo, commits: Sequence[str]
                   ) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """``({commit: summary}, {commit: why not})``: all at once when every commit reads, else
    one by one, so that one damaged run costs only itself (with a warning naming it)."""
    if not commits:
        return {}, {}
    try:
        return dict(zip(commits, summarize(repo, commits))), {}
    except GittrackError:
        pass
    found: dict[str, dict[str, Any]] = {}
    broken: dict[str, str] = {}
    store = _FastStore(repo)
    for commit in commits:
        try:
            found[commit] = store.read_run(commit).summary()
        except GittrackError as exc:
            broken[commit] = str(exc)
            if commit not in _warned:
                _warned.add(commit)
                log.warning("Run commit %s is left out: %s", commit[:12], exc)
    return found, broken


def _noted_lines(path: Path) -> tuple[dict[str, dict[str, Any]], int]:
    """``{commit: summary}`` of a noted file's lines that pass their CRC-32, and how many
    complete lines did not (a last line torn by a crash is not counted)."""
    try:
        data = path.read_bytes()
    except OSError:
        return {}, 0
    found: dict[str, dict[str, Any]] = {}
    bad = 0
    lines = data.split(b"\n")
    lines.pop()  # b"" after the last newline, or a torn line
    for line in lines:
        body, _, crc = line.rpartition(b"\t")
        try:
            if int(crc, 16) != zlib.crc32(body):
                raise ValueError("checksum")
            summary = json.loads(body)
        except ValueError:
            bad += 1
            continue
        if isinstance(summary, dict) and isinstance(summary.get("commit"), str):
            found[summary["commit"]] = summary
    return found, bad


def noted_line(summary: Mapping[str, Any]) -> bytes:
    """A noted summary line: its JSON, a tab, the JSON's CRC-32 in hex."""
    body = row_json(summary)
    return body + b"\t%08x\n" % zlib.crc32(body)


def _read(path: Path) -> bytes | mmap.mmap:
    with open(path, "rb") as fh:
        try:
            return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file cannot be mapped
            return b""


def _remove(paths: Iterable[Path]) -> None:
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass  # not ours to delete: read again next time, nothing lost


def _take(values: list[Any], rows: list[int]) -> list[Any]:
    return [values[r] for r in rows]


def _last_rows(table: Table) -> list[int]:
    return sorted(table.row_of().values())


def _experiment_dir(ref: str) -> str:
    """``refs/gittrack/runs/<encoded experiment>/`` of a run ref ("" for another ref)."""
    return ref[: ref.find("/", len(names.RUNS_PREFIX)) + 1]


def _fingerprint(path: Path) -> list[int] | None:
    """What tells one packed-refs file from another: git replaces it by a rename."""
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_dev]


def _name_hash(names_: Iterable[str]) -> Any:
    import hashlib

    import numpy as np

    return np.fromiter((int.from_bytes(hashlib.blake2b(n.encode(), digest_size=8).digest(),
                                       "little") for n in names_), dtype=np.uint64)


def _commit_key(commits: Iterable[str]) -> Any:
    import numpy as np

    return np.fromiter((int(c[:16], 16) for c in commits), dtype=np.uint64)


class _RefsCache:
    """Rows of the packed run refs, and a commit -> row lookup, for one packed-refs file
    and a set of segments (see :meth:`Index.runs`). Checked by CRC-32; any doubt (another
    file, a missing segment, a failed check) makes it None, and the refs are read again."""

    ARRAYS = ("ref_hash", "ref_seg", "ref_row", "ref_dir", "commit_key", "commit_seg",
              "commit_row")

    def __init__(self, header: dict[str, Any], arrays: dict[str, Any],
                 segments: list[Segment]) -> None:
        self.dirs: list[str] = header["dirs"]
        self.arrays = arrays
        self.segments: list[str] = header["segments"]
        self.seg_map: Any = None
        self.remap(Table(segments))

    def remap(self, table: Table) -> None:
        """Number the cached segments as ``table`` does (cached number -> table's)."""
        import numpy as np

        by_name = {seg.path.name: i for i, seg in enumerate(table.segments)
                   if seg.path is not None}
        self.seg_map = np.asarray([by_name[n] for n in self.segments], dtype=np.int64)

    @classmethod
    def load(cls, path: Path, seen: list[int] | None,
             segments: list[Segment]) -> _RefsCache | None:
        import numpy as np

        if seen is None:
            return None
        try:
            data = path.read_bytes()
            if not data.startswith(REFS_MAGIC):
                return None
            (size,) = struct.unpack_from("<Q", data, len(REFS_MAGIC))
            start = len(REFS_MAGIC) + 8
            header = json.loads(data[start : start + size])
            body = memoryview(data)[start + size :]
            if header.get("packed") != seen or zlib.crc32(body) != header.get("crc32") \
                    or header.get("byteorder") != sys.byteorder:
                return None
            on_disk = {seg.path.name for seg in segments if seg.path is not None}
            if not set(header["segments"]) <= on_disk:
                return None
            arrays: dict[str, Any] = {}
            for name in cls.ARRAYS:
                off, length, dtype = header["arrays"][name]
                arrays[name] = np.frombuffer(body[off : off + length], dtype=dtype)
            return cls(header, arrays, segments)
        except (OSError, ValueError, KeyError, TypeError, struct.error):
            return None

    @classmethod
    def write(cls, path: Path, seen: list[int], table: Table, refs: Mapping[str, str]) -> None:
        """Cache the rows of the packed and archived run refs ``refs`` (read apart from the
        loose ones) of the table just made."""
        import numpy as np

        if any(seg.path is None for seg in table.segments):
            return
        row_of = table.row_of()
        starts = np.asarray(table.starts, dtype=np.int64)
        pairs = [(ref, row_of[c]) for ref, c in refs.items() if c in row_of]
        if len(pairs) != len(refs):
            return  # a packed run the table does not hold: nothing to cache
        dirs: dict[str, int] = {}
        ref_dir = np.fromiter((dirs.setdefault(
            _experiment_dir(ref), len(dirs)) for ref, _r in pairs),
            dtype=np.int32, count=len(pairs))
        ref_hash = _name_hash(ref for ref, _r in pairs)
        rows = np.fromiter((r for _ref, r in pairs), dtype=np.int64, count=len(pairs))
        by_hash = np.argsort(ref_hash, kind="stable")
        commits = list(row_of)
        commit_rows = np.fromiter(row_of.values(), dtype=np.int64, count=len(row_of))
        commit_key = _commit_key(commits)
        by_key = np.argsort(commit_key, kind="stable")

        def split(global_rows: Any) -> tuple[Any, Any]:
            seg = (np.searchsorted(starts, global_rows, side="right") - 1).astype(np.int32)
            return seg, (global_rows - starts[seg]).astype(np.int32)

        ref_seg, ref_row = split(rows[by_hash])
        commit_seg, commit_row = split(commit_rows[by_key])
        arrays = {"ref_hash": ref_hash[by_hash], "ref_seg": ref_seg, "ref_row": ref_row,
                  "ref_dir": ref_dir[by_hash], "commit_key": commit_key[by_key],
                  "commit_seg": commit_seg, "commit_row": commit_row}
        layout: dict[str, list[Any]] = {}
        chunks, size = [], 0
        for name in cls.ARRAYS:
            blob = arrays[name].tobytes()
            layout[name] = [size, len(blob), arrays[name].dtype.str]
            chunks.append(blob)
            size += len(blob)
        body = b"".join(chunks)
        header = json.dumps({"packed": seen, "byteorder": sys.byteorder,
                             "segments": [seg.path.name for seg in table.segments
                                          if seg.path is not None],
                             "dirs": list(dirs), "arrays": layout,
                             "crc32": zlib.crc32(body)}).encode()
        tmp = path.with_name(f"tmp-{uuid.uuid4().hex[:8]}-{path.name}")
        try:
            tmp.write_bytes(b"".join([REFS_MAGIC, struct.pack("<Q", len(header)), header, body]))
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)  # a read-only state dir only costs speed

    def _global(self, table: Table, seg: Any, row: Any) -> Any:
        import numpy as np

        starts = np.asarray(table.starts, dtype=np.int64)
        return starts[self.seg_map[seg]] + row.astype(np.int64)

    def rows(self, table: Table, loose: Mapping[str, str],
             experiments: Sequence[str] | None) -> Any:
        """Rows of the packed run refs that no loose ref overrides, of ``experiments``."""
        import numpy as np

        a = self.arrays
        keep = np.ones(len(a["ref_hash"]), dtype=bool)
        if loose:
            hashes = _name_hash(loose)
            at = np.searchsorted(a["ref_hash"], hashes)
            at = at[at < len(keep)]
            hit = at[np.isin(a["ref_hash"][at], hashes)]
            keep[hit] = False
        if experiments is not None:
            wanted = {names.experiment_ref_prefix(e) for e in experiments}
            codes = [i for i, d in enumerate(self.dirs) if d in wanted]
            keep &= np.isin(a["ref_dir"], np.asarray(codes, dtype=np.int32))
        return self._global(table, a["ref_seg"][keep], a["ref_row"][keep])

    def find(self, table: Table, commits: Sequence[str]) -> dict[str, int]:
        """``{commit: row}`` of the ``commits`` the table holds (cached segments by the
        lookup, newer ones by their commit column)."""
        import numpy as np

        out: dict[str, int] = {}
        cached = set(self.seg_map.tolist())
        for k, seg in enumerate(table.segments):  # newer segments: small, read whole
            if k not in cached:
                local = {c: i for i, c in enumerate(seg.commits())}
                out.update({c: table.starts[k] + local[c] for c in commits if c in local})
        a = self.arrays
        rest = [c for c in dict.fromkeys(commits) if c not in out]
        if rest:
            keys = _commit_key(rest)
            lo = np.searchsorted(a["commit_key"], keys, side="left")
            hi = np.searchsorted(a["commit_key"], keys, side="right")
            pairs = [(c, r) for c, i, j in zip(rest, lo.tolist(), hi.tolist())
                     for r in self._global(table, a["commit_seg"][i:j],
                                           a["commit_row"][i:j]).tolist()]
            held = table.take("commit", [r for _c, r in pairs])  # the key is a prefix
            out.update((c, r) for (c, r), h in zip(pairs, held) if h == c)
        return out


def note_runs(repo: Repo,
              ended: Sequence[tuple[str, Mapping[str, bytes | str], dict[str, Any] | None]]
              ) -> None:
    """Note the summaries of run commits a writer just made, so the next query needs no git
    read for them: each ``(commit, record files as rendered, summary or None)``.

    All lines are appended to ``noted-<pid>.jsonl`` beside the segments in one write. Each
    summary is what :func:`summarize` would read from the commit: the writer's own (made from
    the values its render wrote, which read back exactly), or else read by the same code from
    the rendered bytes.
    """
    lines = []
    for commit, files, summary in ended:
        if summary is None:
            try:
                summary = _RenderedStore(repo, files).read_run(commit).summary()
            except (GitError, ValueError, TypeError, KeyError):
                continue  # the index reads the commit from git instead
        lines.append(noted_line(summary))
    if lines:
        directory = repo.state_dir / "index" / f"v{INDEX_FORMAT}"
        append_file(directory / f"{NOTED_PREFIX}{os.getpid()}.jsonl", b"".join(lines))




# -- reading run records fast -------------------------------------------------------------
class _FastStore(Store):
    """A store whose YAML reads take the fast path of :func:`fast_yaml` (same values)."""

    def read_file(self, commit: str, name: str) -> Any:
        data = self.repo.read_blob(commit, f".gittrack/run/{name}")
        if data is None:
            return None
        try:
            return fast_yaml(data)
        except Exception as exc:  # noqa: BLE001 - yaml's errors, whatever the parser
            raise GitError(f"{name} in commit {commit[:12]} is not valid YAML "
                           f"({type(exc).__name__}); list what is damaged with "
                           "`gittrack doctor`.") from None


class _RenderedStore(Store):
    """A store that reads a record from the bytes just rendered for its commit."""

    def __init__(self, repo: Repo, files: Mapping[str, bytes | str]) -> None:
        super().__init__(repo)
        self.files = files

    def read_file(self, commit: str, name: str) -> Any:
        data = self.files.get(name)
        return fast_yaml(data) if isinstance(data, bytes) else None


def summarize(repo: Repo, commits: Sequence[str]) -> list[dict[str, Any]]:
    """``Run.summary()`` of each commit; several processes for many commits when safe.

    Forking is only safe with one thread (a live run's flusher could hold a lock), so a
    process with threads summarises alone.
    """
    import multiprocessing  # only big rebuilds pay for the import

    workers = min(os.cpu_count() or 1, 8)
    if len(commits) < PARALLEL_MIN or workers < 2 or threading.active_count() > 1 \
            or "fork" not in multiprocessing.get_all_start_methods():
        store = _FastStore(repo)
        return [store.read_run(c).summary() for c in commits]
    size = -(-len(commits) // (workers * 4))
    chunks = [list(commits[i : i + size]) for i in range(0, len(commits), size)]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers) as pool:
        parts = pool.map(_summarize_chunk, [(str(repo.git_dir), c) for c in chunks])
    return [s for part in parts for s in part]


def _summarize_chunk(job: tuple[str, list[str]]) -> list[dict[str, Any]]:
    store = _FastStore(Repo(job[0]))
    return [store.read_run(c).summary() for c in job[1]]


class _Fallback(Exception):
    pass


_RESOLVERS = yaml.resolver.Resolver.yaml_implicit_resolvers
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_BUILD: dict[str, Callable[[str], Any]] = {
    "tag:yaml.org,2002:null": lambda t: None,
    "tag:yaml.org,2002:bool": lambda t: _CONSTRUCTOR.construct_yaml_bool(ScalarNode("", t)),
    "tag:yaml.org,2002:int": lambda t: _CONSTRUCTOR.construct_yaml_int(ScalarNode("", t)),
    "tag:yaml.org,2002:float": lambda t: _CONSTRUCTOR.construct_yaml_float(ScalarNode("", t)),
}
_SPECIAL = frozenset("-?:,[]{}#&*!|>'\"%@`")


def _scalar(text: str) -> Any:
    if not text:
        return None
    first = text[0]
    if first == "'":
        if len(text) < 2 or text[-1] != "'":
            raise _Fallback
        body = text[1:-1]
        if "'" in body.replace("''", ""):
            raise _Fallback
        return body.replace("''", "'")
    if first == '"':
        body = text[1:-1]
        if len(text) < 2 or text[-1] != '"' or "\\" in body or '"' in body:
            raise _Fallback
        return body
    if text in ("[]", "{}"):
        return [] if text == "[]" else {}
    if (first in _SPECIAL and not (first == "-" and len(text) > 1 and text[1] != " ")) \
            or ": " in text or " #" in text or text.endswith((":", " ")) or "\t" in text:
        raise _Fallback
    for tag, regexp in _RESOLVERS.get(first, ()):
        if regexp.match(text):
            build = _BUILD.get(tag)
            if build is None:
                raise _Fallback
            return build(text)
    return text


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block(lines: list[str], i: int, indent: int) -> tuple[Any, int]:
    if lines[i][indent:].startswith("- ") or lines[i][indent:] == "-":
        return _sequence(lines, i, indent)
    return _mapping(lines, i, indent)


def _mapping(lines: list[str], i: int, indent: int) -> tuple[dict[Any, Any], int]:
    out: dict[Any, Any] = {}
    while i < len(lines):
        line = lines[i]
        ind = _indent(line)
        if ind < indent:
            break
        if ind > indent or line[ind:].startswith("- "):
            raise _Fallback
        body = line[ind:]
        if body[0] in "'\"":
            close = body.find(body[0] + ":", 1)
            if close < 0:
                raise _Fallback
            key, rest = _scalar(body[: close + 1]), body[close + 2 :]
        else:
            sep = body.find(":")
            if sep <= 0:
                raise _Fallback
            key, rest = _scalar(body[:sep]), body[sep + 1 :]
        if isinstance(key, (list, dict)):
            raise _Fallback
        i += 1
        if rest == "":
            nxt = lines[i] if i < len(lines) else ""
            nind = _indent(nxt) if nxt else -1
            if nxt and (nind > indent or (nind == indent and nxt[nind:].startswith("- "))):
                out[key], i = _block(lines, i, nind)
            else:
                out[key] = None
        elif rest[0] == " ":
            out[key] = _scalar(rest[1:])
            if i < len(lines) and _indent(lines[i]) > indent:
                raise _Fallback  # a continued scalar
        else:
            raise _Fallback
    return out, i


def _sequence(lines: list[str], i: int, indent: int) -> tuple[list[Any], int]:
    out = []
    while i < len(lines):
        line = lines[i]
        ind = _indent(line)
        if ind < indent or (ind == indent and not line[ind:].startswith("- ")):
            break
        if ind > indent:
            raise _Fallback
        item = line[ind + 2 :]
        if not item or item.startswith(("- ", "? ")) or _looks_like_key(item):
            raise _Fallback
        out.append(_scalar(item))
        i += 1
    return out, i


def _looks_like_key(text: str) -> bool:
    return ": " in text or text.endswith(":")


def fast_yaml(data: bytes) -> Any:
    """``load_yaml(data)`` for the block YAML gittrack writes, ~2x faster.

    Block mappings and sequences of plain or quoted scalars are read here, plain scalars
    resolved by PyYAML's own implicit resolvers and constructors; anything else (flow
    collections, escapes, anchors, tags, multi-line scalars) goes to the real loader.
    """
    try:
        text = data.decode("utf-8")
        if "\t" in text or "\r" in text or text.startswith(("%", "---")) or "\n..." in text \
                or "\x85" in text or "\u2028" in text or "\u2029" in text:  # YAML 1.1 breaks
            raise _Fallback
        lines = [ln for ln in text.split("\n") if ln]
        if not lines:
            return None
        if len(lines) == 1 and lines[0] == "{}":
            return {}
        if _indent(lines[0]) != 0:
            raise _Fallback
        value, end = _block(lines, 0, 0)
        if end != len(lines):
            raise _Fallback
        return value
    except (_Fallback, UnicodeDecodeError, IndexError, ValueError, yaml.YAMLError):
        return load_yaml(data)
