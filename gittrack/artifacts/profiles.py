"""Data profiles: per column statistics of a table in one streaming pass (docs/monitoring.md).

A profile holds, for every column, its type, row count, nulls and, by kind:

- numbers: min, max, mean, std, quantiles and an exact-count histogram on a power-of-two grid
  (bin ``i`` is ``[i * 2**exp, (i + 1) * 2**exp)``). ``exp`` is the smallest exponent at which
  the column has at most ``MAX_BINS`` non-empty bins, and never finer than float64 resolves
  at the column's largest magnitude. The grid depends on the values only, never on their
  order or on chunk boundaries, and two grids always nest, so two profiles can be compared
  on shared bin edges with no raw row at hand. A column with at most ``MAX_BINS`` distinct
  values is held exactly (one bin a value: ``exact``).
- strings and booleans: counts of the most frequent categories (all of them up to
  ``MAX_CATEGORIES``) and of the rest.
- timestamps and dates: min and max.

Files are read with pyarrow in chunks (CSV blocks, Parquet row groups one column at a time),
so memory stays bounded whatever the number of rows. Profiles of the same bytes are identical.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gittrack.core.errors import InvalidInputError

FORMAT = 1
MAX_BINS = 1024  # non-empty histogram bins kept per numeric column
MAX_CATEGORIES = 1000  # categories stored per column; the rest are counted as "other"
TEXT_CATEGORIES = 20  # stored for a column with more distinct values than half its rows
TRACKED_CATEGORIES = 100_000  # distinct categories counted exactly while streaming
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
CSV_BLOCK = 16 << 20
FRAME_CHUNK = 1 << 20
THREADS = min(4, os.cpu_count() or 1)  # columns are sketched in parallel (NumPy frees the GIL)
SKIP_PREFIX = "_gittrack_"  # request-log bookkeeping columns (gittrack serve --log-requests)


# -- numbers ------------------------------------------------------------------------------
class NumericSketch:
    """Running statistics and the power-of-two histogram of one numeric column."""

    def __init__(self) -> None:
        self.count = 0
        self.nulls = 0
        self.infinite = 0
        self.min = math.inf
        self.max = -math.inf
        self.mean = 0.0
        self.m2 = 0.0
        self.exp: int | None = None
        self.floor_exp: int | None = None  # finest exponent float64 resolves at max |x|
        self.keys: Any = None
        self.counts: Any = None

    def update(self, values: Any, nulls: int = 0) -> None:
        """Add a float64 NumPy array (NaN counts as null, infinities are counted apart)."""
        import numpy as np

        finite = np.isfinite(values)
        n_finite = int(finite.sum())
        if n_finite < len(values):
            nan = int(np.isnan(values).sum())
            self.nulls += nan
            self.infinite += len(values) - n_finite - nan
            values = values[finite]
        self.nulls += nulls
        if not n_finite:
            return
        lo, hi = float(values.min()), float(values.max())
        self.min, self.max = min(self.min, lo), max(self.max, hi)
        mean = float(values.mean())
        centered = values - mean
        m2 = float(np.dot(centered, centered))
        del centered
        total = self.count + n_finite
        delta = mean - self.mean
        self.mean += delta * n_finite / total
        self.m2 += m2 + delta * delta * self.count * n_finite / total
        self.count = total
        self._bin(values, lo, hi)

    def _bin(self, values: Any, lo: float, hi: float) -> None:
        import numpy as np

        floor_exp = max(math.frexp(max(abs(lo), abs(hi)))[1] - 53, -1074)  # -1074: subnormals
        if self.floor_exp is None or floor_exp > self.floor_exp:
            self.floor_exp = floor_exp
        if self.exp is None:
            self.exp = _first_exponent(values[:65536], lo, hi, self.floor_exp)
        if self.exp < self.floor_exp:
            self._coarsen(self.floor_exp - self.exp)
        scaled = np.ldexp(values, -self.exp)  # exact: a power of two
        np.floor(scaled, out=scaled)
        keys, counts = _count(scaled.astype(np.int64))
        del scaled
        if self.keys is not None:
            keys, counts = _merge(self.keys, self.counts, keys, counts)
        self.keys, self.counts = keys, counts
        while len(self.keys) > MAX_BINS:
            self._coarsen(1)

    def _coarsen(self, shift: int) -> None:
        assert self.exp is not None
        self.exp += shift
        if self.keys is not None:
            self.keys, self.counts = _reduce(self.keys >> shift, self.counts)

    def to_dict(self) -> dict[str, Any]:
        """The profile entry of the column (numbers rounded to what float64 holds)."""
        doc: dict[str, Any] = {"count": self.count, "nulls": self.nulls}
        if self.infinite:
            doc["infinite"] = self.infinite
        if not self.count:
            return doc
        hist = Histogram(int(self.exp or 0), self.keys.tolist(), self.counts.tolist(),
                         self.exp == self.floor_exp)
        doc.update({"min": self.min, "max": self.max, "mean": self.mean,
                    "std": math.sqrt(self.m2 / self.count),
                    "distinct": len(hist.keys) if hist.exact else None,
                    "quantiles": {str(q): hist.quantile(q, self.min, self.max) for q in QUANTILES},
                    "histogram": hist.to_dict()})
        return doc


def _first_exponent(sample: Any, lo: float, hi: float, floor_exp: int) -> int:
    """The smallest exponent >= floor_exp at which ``sample`` fills at most MAX_BINS bins."""
    import numpy as np

    ordered = np.sort(sample)

    def fits(exp: int) -> bool:
        bins = np.floor(np.ldexp(ordered, -exp))
        return 1 + int(np.count_nonzero(np.diff(bins))) <= MAX_BINS

    span = max(hi - lo, math.ldexp(1.0, floor_exp))
    high = max(floor_exp, math.frexp(span / MAX_BINS)[1] + 1)
    while not fits(high):  # the span bound holds for the whole chunk, not only the sample
        high += 1
    low = floor_exp
    if fits(low):
        return low
    while high - low > 1:  # fits(high) and not fits(low): bins only merge as exp grows
        mid = (low + high) // 2
        if fits(mid):
            high = mid
        else:
            low = mid
    return high


def _count(keys: Any) -> tuple[Any, Any]:
    import numpy as np

    lo, hi = int(keys.min()), int(keys.max())
    if hi - lo <= max(4 * len(keys), 1 << 16):
        keys -= lo
        counts = np.bincount(keys)
        found = np.flatnonzero(counts)
        return found.astype(np.int64) + lo, counts[found].astype(np.int64)
    uniq, counts = np.unique(keys, return_counts=True)
    return uniq, counts.astype(np.int64)


def _merge(keys_a: Any, counts_a: Any, keys_b: Any, counts_b: Any) -> tuple[Any, Any]:
    import numpy as np

    keys = np.concatenate([keys_a, keys_b])
    order = np.argsort(keys, kind="stable")
    return _reduce(keys[order], np.concatenate([counts_a, counts_b])[order])


def _reduce(sorted_keys: Any, counts: Any) -> tuple[Any, Any]:
    """Sum the counts of equal keys (keys sorted)."""
    import numpy as np

    if len(sorted_keys) < 2:
        return sorted_keys, counts
    starts = np.flatnonzero(np.concatenate([[True], sorted_keys[1:] != sorted_keys[:-1]]))
    return sorted_keys[starts], np.add.reduceat(counts, starts)


@dataclass
class Histogram:
    """Counts on the grid ``[i * 2**exp, (i + 1) * 2**exp)`` for the keys ``i`` listed."""

    exp: int
    keys: list[int]
    counts: list[int]
    exact: bool = False  # one distinct value a bin: the bin's lower edge is the value

    @property
    def width(self) -> float:
        return math.ldexp(1.0, self.exp)

    def to_dict(self) -> dict[str, Any]:
        """``{exp, exact, bins: [[first key, [counts...]], ...]}``: runs of nearby bins."""
        runs: list[list[Any]] = []
        last = None
        for key, count in zip(self.keys, self.counts):
            if last is not None and key - last <= 8:
                runs[-1][1].extend([0] * (key - last - 1) + [count])
            else:
                runs.append([key, [count]])
            last = key
        return {"exp": self.exp, "exact": self.exact, "bins": runs}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Histogram:
        keys: list[int] = []
        counts: list[int] = []
        for first, run in doc.get("bins", []):
            for i, count in enumerate(run):
                if count:
                    keys.append(int(first) + i)
                    counts.append(int(count))
        return cls(int(doc["exp"]), keys, counts, bool(doc.get("exact")))

    def quantile(self, q: float, lo: float, hi: float) -> float:
        """The q-quantile: NumPy's linear interpolation when exact, else within a bin."""
        n = sum(self.counts)
        if self.exact:
            pos = (n - 1) * q
            below = math.floor(pos)
            a, b = self._order_stat(below), self._order_stat(min(below + 1, n - 1))
            return a + (b - a) * (pos - below)
        target, seen = q * n, 0
        for key, count in zip(self.keys, self.counts):
            if seen + count >= target:
                left = math.ldexp(float(key), self.exp)
                value = left + (target - seen) / count * self.width
                return min(max(value, lo), hi)
            seen += count
        return hi

    def _order_stat(self, rank: int) -> float:
        seen = 0
        for key, count in zip(self.keys, self.counts):
            seen += count
            if seen > rank:
                return math.ldexp(float(key), self.exp)
        return math.ldexp(float(self.keys[-1]), self.exp)


# -- categories and other columns ----------------------------------------------------------
class CategorySketch:
    """Counts of a string or boolean column's values (exact for the first TRACKED_CATEGORIES)."""

    def __init__(self) -> None:
        self.count = 0
        self.nulls = 0
        self.seen: dict[str, int] = {}
        self.untracked = 0

    def update(self, array: Any) -> None:
        """Add a pyarrow array."""
        import pyarrow.compute as pc

        self.nulls += array.null_count
        array = array.drop_null()
        self.count += len(array)
        if not len(array):
            return
        counted = pc.value_counts(array)
        values = counted.field("values").to_pylist()
        counts = counted.field("counts").to_pylist()
        seen = self.seen
        for value, count in zip(values, counts):
            key = _category_key(value)
            if key in seen:
                seen[key] += count
            elif len(seen) < TRACKED_CATEGORIES:
                seen[key] = count
            else:
                self.untracked += count

    def to_dict(self) -> dict[str, Any]:
        ranked = sorted(self.seen.items(), key=lambda kv: (-kv[1], kv[0]))
        text_like = self.untracked or len(self.seen) > max(MAX_CATEGORIES, self.count // 2)
        top = ranked[:TEXT_CATEGORIES if text_like else MAX_CATEGORIES]
        return {"count": self.count, "nulls": self.nulls,
                "distinct": len(self.seen) if not self.untracked else None,
                "top": [[k, c] for k, c in top],
                "other": self.count - sum(c for _k, c in top)}


def _category_key(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


class RangeSketch:
    """Count, nulls, min and max of a temporal column (ISO 8601 text)."""

    def __init__(self) -> None:
        self.count = 0
        self.nulls = 0
        self.min: Any = None
        self.max: Any = None

    def update(self, array: Any) -> None:
        import pyarrow.compute as pc

        self.nulls += array.null_count
        self.count += len(array) - array.null_count
        if len(array) == array.null_count:
            return
        bounds = pc.min_max(array).as_py()
        lo, hi = bounds["min"], bounds["max"]
        self.min = lo if self.min is None or lo < self.min else self.min
        self.max = hi if self.max is None or hi > self.max else self.max

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"count": self.count, "nulls": self.nulls}
        if self.min is not None:
            doc.update({"min": _iso(self.min), "max": _iso(self.max)})
        return doc


def _iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


class CountSketch:
    """Count and nulls only (lists, structs, binary)."""

    def __init__(self) -> None:
        self.count = 0
        self.nulls = 0

    def update(self, array: Any) -> None:
        self.nulls += array.null_count
        self.count += len(array) - array.null_count

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "nulls": self.nulls}


def kind_of(arrow_type: Any) -> str:
    """numeric, categorical, datetime or other, from a pyarrow type."""
    import pyarrow.types as t

    if t.is_dictionary(arrow_type):
        return kind_of(arrow_type.value_type)
    if t.is_integer(arrow_type) or t.is_floating(arrow_type) or t.is_decimal(arrow_type):
        return "numeric"
    if t.is_boolean(arrow_type) or t.is_string(arrow_type) or t.is_large_string(arrow_type):
        return "categorical"
    if t.is_temporal(arrow_type):
        return "datetime"
    return "other"


def _type_name(arrow_type: Any) -> str:
    import pyarrow.types as t

    if t.is_dictionary(arrow_type):
        return _type_name(arrow_type.value_type)
    return str(arrow_type).removeprefix("large_")


class Column:
    """One column's sketch, fed pyarrow arrays."""

    def __init__(self, name: str, arrow_type: Any) -> None:
        self.name = name
        self.dtype = _type_name(arrow_type)
        self.kind = kind_of(arrow_type)
        sketches: dict[str, type[NumericSketch | CategorySketch | RangeSketch | CountSketch]] = {
            "numeric": NumericSketch, "categorical": CategorySketch, "datetime": RangeSketch}
        self.sketch = sketches.get(self.kind, CountSketch)()

    def update(self, array: Any) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(array, pa.ChunkedArray):
            for chunk in array.chunks:
                self.update(chunk)
            return
        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        if isinstance(self.sketch, NumericSketch):
            nulls = array.null_count
            values = pc.cast(array, pa.float64()) if array.type != pa.float64() else array
            self.sketch.update(values.drop_null().to_numpy(zero_copy_only=False), nulls)
        elif isinstance(self.sketch, CategorySketch) and pa.types.is_large_string(array.type):
            self.sketch.update(array.cast(pa.string()))
        else:
            self.sketch.update(array)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "kind": self.kind,
                **self.sketch.to_dict()}


# -- profiles -----------------------------------------------------------------------------
@dataclass
class Profile:
    """A table's profile: its row count and one entry per column (see the module doc)."""

    rows: int
    columns: list[dict[str, Any]] = field(default_factory=list)

    def column(self, name: str) -> dict[str, Any] | None:
        return next((c for c in self.columns if c["name"] == name), None)

    @property
    def names(self) -> list[str]:
        return [c["name"] for c in self.columns]

    def to_dict(self) -> dict[str, Any]:
        return {"gittrack_profile": FORMAT, "rows": self.rows, "columns": self.columns}

    def to_json(self) -> bytes:
        """Canonical JSON bytes: equal profiles, equal bytes (and git blob ids)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"),
                          allow_nan=False).encode("utf-8") + b"\n"

    @classmethod
    def from_dict(cls, doc: Any) -> Profile:
        if not isinstance(doc, dict) or doc.get("gittrack_profile") != FORMAT \
                or not isinstance(doc.get("columns"), list):
            raise InvalidInputError("This is not a gittrack data profile (format 1); make one "
                                    "with `gittrack profile FILE -o profile.json`.")
        return cls(int(doc.get("rows") or 0), list(doc["columns"]))

    @classmethod
    def from_json(cls, data: bytes | str) -> Profile:
        try:
            return cls.from_dict(json.loads(data))
        except ValueError as exc:
            raise InvalidInputError(f"A data profile is not valid JSON ({exc}).") from exc


class Profiler:
    """Feeds record batches (or per-column arrays) into one sketch per column."""

    def __init__(self, schema: Any, skip: Sequence[str] = ()) -> None:
        request_log = any(n.startswith(SKIP_PREFIX) for n in schema.names)
        self.columns = {f.name: Column(f.name, f.type) for f in schema
                        if not _skipped(f.name, skip, request_log)}
        self.rows = 0

    def add_batch(self, batch: Any) -> None:
        present = []
        for name, column in self.columns.items():
            index = batch.schema.get_field_index(name)
            if index < 0:
                column.sketch.nulls += batch.num_rows
            else:
                present.append((column, batch.column(index)))
        workers = max(1, min(THREADS, len(present))) if batch.num_rows >= 1 << 16 else 1

        def feed(share: list[tuple[Column, Any]]) -> None:
            for column, array in share:
                column.update(array)

        _in_threads(feed, [present[i::workers] for i in range(workers)])
        self.rows += batch.num_rows

    def profile(self) -> Profile:
        return Profile(self.rows, [c.to_dict() for c in self.columns.values()])


def _skipped(name: str, skip: Sequence[str], request_log: bool) -> bool:
    """Skip what the caller names, and in request logs of ``gittrack serve --log-requests``
    (tables with ``_gittrack_*`` columns) the bookkeeping and ``prediction[_<i>]`` columns."""
    if name in skip or name.startswith(SKIP_PREFIX):
        return True
    return request_log and re.fullmatch(r"prediction(_[0-9]+)?", name) is not None


def profile_path(path: str | Path, skip: Sequence[str] = ()) -> Profile:
    """The profile of a CSV, TSV or Parquet file, or of a directory of them (all the same
    format, read in path order; request logs of ``gittrack serve`` among them)."""
    path = Path(path)
    if path.is_dir():
        return _profile_files(_table_files(path), skip)
    if not path.is_file():
        raise InvalidInputError(f"No file or directory at '{path}' to profile; check the path.")
    return _profile_files([path], skip)


def _table_files(path: Path) -> list[Path]:
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    tables = [p for p in files if _format_of(p) is not None]
    formats = {_format_of(p) for p in tables}
    if not tables or len(formats) > 1:
        raise InvalidInputError(
            f"Directory '{path}' must hold CSV, TSV or Parquet files of one format to profile; "
            f"it holds {len(tables)} table file(s) in {len(formats)} format(s).")
    return tables


def _format_of(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".tsv"):
        return "csv"
    return None


def _profile_files(files: list[Path], skip: Sequence[str]) -> Profile:
    _need_pyarrow()
    fmt = _format_of(files[0])
    if fmt is None:
        raise InvalidInputError(f"Cannot profile '{files[0]}': only CSV, TSV and Parquet "
                                "files (or a directory of them) have profiles.")
    profiler: Profiler | None = None
    for path in files:
        if fmt == "parquet":
            profiler = _feed_parquet(path, profiler, skip)
        else:
            profiler = _feed_csv(path, profiler, skip)
    assert profiler is not None
    return profiler.profile()


def _need_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise InvalidInputError("Data profiles need pyarrow; install it with "
                                "`pip install 'gittrack[monitoring]'`.") from exc


def _feed_parquet(path: Path, profiler: Profiler | None, skip: Sequence[str]) -> Profiler:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise InvalidInputError(f"Cannot read '{path}' as Parquet ({exc}).") from exc
    schema = source.schema_arrow
    if profiler is None:
        profiler = Profiler(schema, skip)
    present = set(schema.names)
    groups = [source.metadata.row_group(g).num_rows for g in range(source.num_row_groups)]
    for name, column in profiler.columns.items():
        if name not in present:
            column.sketch.nulls += sum(groups)
    wanted = [(n, c) for n, c in profiler.columns.items() if n in present]
    workers = max(1, min(THREADS, len(wanted)))

    def feed(share: list[tuple[str, Column]]) -> None:
        # Each thread reads its own columns through its own file handle, one column of one
        # row group in memory at a time; a column's sketch is only ever fed by one thread.
        own = pq.ParquetFile(path)
        for group in range(len(groups)):
            for name, column in share:
                column.update(own.read_row_group(group, columns=[name]).column(0))

    _in_threads(feed, [wanted[i::workers] for i in range(workers)])
    profiler.rows += sum(groups)
    return profiler


def _in_threads(work: Callable[[Any], None], shares: list[Any]) -> None:
    if len(shares) <= 1:
        for share in shares:
            work(share)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(shares)) as pool:
        for future in [pool.submit(work, share) for share in shares]:
            future.result()


def _feed_csv(path: Path, profiler: Profiler | None, skip: Sequence[str]) -> Profiler:
    import pickle

    import pyarrow as pa

    saved = pickle.dumps(profiler) if profiler is not None else None
    types: dict[str, Any] = {}
    for _attempt in range(4):
        target = pickle.loads(saved) if saved is not None else None
        try:
            return _read_csv(path, target, skip, types)
        except pa.ArrowInvalid as exc:
            # A later block disagrees with the types pyarrow inferred from the first one:
            # widen that column (integers to floats, then anything to text) and start over.
            widened = _widened(path, types, str(exc))
            if widened == types:
                break
            types = widened
    raise InvalidInputError(f"Cannot read '{path}' as CSV; check that every row has the "
                            "columns of the header.")


def _read_csv(path: Path, profiler: Profiler | None, skip: Sequence[str],
              types: Mapping[str, Any]) -> Profiler:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    if path.stat().st_size == 0:
        return profiler or Profiler(pa.schema([]), skip)
    reader = pcsv.open_csv(
        path, read_options=pcsv.ReadOptions(block_size=CSV_BLOCK),
        parse_options=pcsv.ParseOptions(delimiter=_delimiter(path)),
        convert_options=pcsv.ConvertOptions(column_types=dict(types)))
    target = profiler or Profiler(reader.schema, skip)
    for batch in reader:
        target.add_batch(batch)
    return target


def _delimiter(path: Path) -> str:
    return "\t" if path.suffix.lower() == ".tsv" else ","


def _widened(path: Path, types: Mapping[str, Any], message: str) -> dict[str, Any]:
    import re

    import pyarrow as pa
    import pyarrow.csv as pcsv

    found = re.search(r"column #(\d+)", message)
    names = pcsv.open_csv(path, parse_options=pcsv.ParseOptions(
        delimiter=_delimiter(path))).schema.names
    widened = dict(types)
    if found is None or int(found.group(1)) >= len(names):
        return widened
    name = names[int(found.group(1))]
    widened[name] = pa.float64() if name not in types and "to int" in message else pa.string()
    return widened


def profile_frame(frame: Any, skip: Sequence[str] = ()) -> Profile:
    """The profile of a pandas DataFrame, fed in chunks of FRAME_CHUNK rows."""
    _need_pyarrow()
    import pyarrow as pa

    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError):
        table = pa.Table.from_pandas(frame.astype({c: str for c in frame.columns
                                                   if frame[c].dtype == object}),
                                     preserve_index=False)
    profiler = Profiler(table.schema, skip)
    for batch in table.to_batches(max_chunksize=FRAME_CHUNK):
        profiler.add_batch(batch)
    return profiler.profile()


def can_profile(path: Path) -> bool:
    """Whether log_input makes a profile of ``path``: a table file, or a directory holding
    table files of one format and nothing else."""
    if path.is_dir():
        files = [p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")]
        formats = {_format_of(p) for p in files}
        return bool(files) and len(formats) == 1 and None not in formats
    return _format_of(path) is not None
