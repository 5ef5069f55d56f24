"""Data profiles: per column statistics of a table in one streaming pass (docs/monitoring.md).

A profile holds, for every column, its type, row count, nulls and, by kind:

- numbers: min, max, mean, std, quantiles and an exact-count histogram on a power-of-two grid
  that depends on the values only, so two profiles can be compared on shared bin edges with
  no raw row at hand (gittrack.artifacts.sketches);
- strings and booleans: counts of the most frequent categories (all of them up to 1,000)
  and of the rest;
- timestamps and dates: min and max.

Files are read with pyarrow in chunks (CSV blocks, Parquet row groups one column at a time),
so memory stays bounded whatever the number of rows. Profiles of the same bytes are identical.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gittrack.artifacts.sketches import CategorySketch, CountSketch, NumericSketch, RangeSketch
from gittrack.core.errors import InvalidInputError

FORMAT = 1
CSV_BLOCK = 16 << 20
FRAME_CHUNK = 1 << 20
THREADS = min(4, os.cpu_count() or 1)  # columns are sketched in parallel (NumPy frees the GIL)
SKIP_PREFIX = "_gittrack_"  # request-log bookkeeping columns (gittrack serve --log-requests)


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
        rows, columns = doc.get("rows") or 0, doc["columns"]
        if type(rows) is not int or rows < 0 or not all(
                isinstance(c, dict) and isinstance(c.get("name"), str) for c in columns):
            raise InvalidInputError("This data profile is damaged (its row count or a column "
                                    "is not what gittrack writes); make it again with "
                                    "`gittrack profile`.")
        return cls(rows, list(columns))

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
        return _profile_files(table_files(path), skip)
    if not path.is_file():
        raise InvalidInputError(f"No file or directory at '{path}' to profile; check the path.")
    return _profile_files([path], skip)


def table_files(path: Path) -> list[Path]:
    """The table files of a directory in path order (names starting with a dot, such as a
    request log still being written, left out); one format, else an error."""
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
