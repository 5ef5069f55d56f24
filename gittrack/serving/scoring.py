"""Batch scoring of files (``gittrack predict``): CSV, Parquet or JSON lines, in chunks.

The input is read ``chunk_rows`` rows at a time (pandas' chunked CSV and JSON readers,
pyarrow's Parquet batches), each chunk is conformed to the model's signature and predicted,
and its predictions are appended to the output before the next chunk is read, so memory holds
one chunk whatever the file's size. The output is written under a dot-name beside the target
and renamed into place at the end: a failed run leaves no half-written file. Prediction columns
are named as in the server's request logs: ``prediction``, or ``prediction_0``,
``prediction_1``, ... for several outputs.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from gittrack.core.errors import InvalidInputError
from gittrack.serving.follower import Served
from gittrack.serving.schema import SchemaError

SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl",
            ".ndjson": "jsonl", ".json": "jsonl"}
FORMAT_NAMES = ("csv", "parquet", "jsonl")


@dataclass(frozen=True)
class Scored:
    """What a scoring run did."""

    rows: int
    chunks: int
    output: Path


def file_format(path: str | os.PathLike[str], given: str | None) -> str:
    """The format named by ``given`` or by the file's suffix."""
    if given is not None:
        if given not in FORMAT_NAMES:
            raise InvalidInputError(f"Unknown format {given!r}; use one of {', '.join(FORMAT_NAMES)}.")
        return given
    found = SUFFIXES.get(Path(path).suffix.lower())
    if found is None:
        raise InvalidInputError(f"Cannot tell the format of {path} from its suffix; name it with "
                                f"--input-format/--output-format ({', '.join(FORMAT_NAMES)}).")
    return found


def progress_total(path: str | os.PathLike[str], fmt: str) -> int:
    """The units :func:`score_file` reports progress in: rows for Parquet, bytes otherwise."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    return os.path.getsize(path)


def score_file(served: Served, source: str | os.PathLike[str], target: str | os.PathLike[str], *,
               input_format: str | None = None, output_format: str | None = None,
               chunk_rows: int = 100_000, keep_input: bool = False,
               progress: Callable[[int], None] | None = None) -> Scored:
    """Predict every row of ``source`` into ``target``, one chunk in memory at a time."""
    if chunk_rows < 1:
        raise InvalidInputError("chunk_rows must be at least 1.")
    fmt_in = file_format(source, input_format)
    fmt_out = file_format(target, output_format)
    target = Path(target)
    partial = target.with_name(f".{target.name}.partial")
    rows = chunks = 0
    try:
        with _writer(fmt_out, partial) as write:
            for frame, advance in read_chunks(source, fmt_in, chunk_rows, served):
                write(_scored(served, frame, rows, keep_input))
                rows += len(frame)
                chunks += 1
                if progress is not None:
                    progress(advance)
        os.replace(partial, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return Scored(rows, chunks, target)


def _scored(served: Served, frame: Any, first_row: int, keep_input: bool) -> Any:
    import numpy as np
    import pandas as pd

    try:
        data = served.schema.conform(frame)
    except SchemaError as exc:
        raise SchemaError(f"Rows {first_row + 1}-{first_row + len(frame)}: {exc}") from exc
    output = served.predict("frame", data)
    values = output.to_numpy() if hasattr(output, "columns") else np.asarray(output)
    if values.ndim == 0 or len(values) != len(frame):
        raise InvalidInputError(f"The model answered {values.size} values for {len(frame)} rows; "
                                "batch scoring needs one prediction per row.")
    if values.ndim == 1:
        predictions = pd.DataFrame({"prediction": values}, index=frame.index)
    else:
        flat = values.reshape(len(frame), -1)
        predictions = pd.DataFrame({f"prediction_{i}": flat[:, i] for i in range(flat.shape[1])},
                                   index=frame.index)
    return pd.concat([frame, predictions], axis=1) if keep_input else predictions


def read_chunks(source: str | os.PathLike[str], fmt: str, chunk_rows: int,
                served: Served) -> Iterator[tuple[Any, int]]:
    """``(frame, progress units)`` of each chunk of the input file."""
    import pandas as pd

    if fmt == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(source).iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas(), batch.num_rows
        return
    schema = served.schema
    strings = {c: "str" for c, t in zip(schema.columns or (), schema.types) if t == "string"}
    with open(source, "rb") as handle:
        reader: Any
        if fmt == "csv":
            reader = pd.read_csv(handle, chunksize=chunk_rows, dtype=strings or None)
        else:
            reader = pd.read_json(handle, lines=True, chunksize=chunk_rows, dtype=False,
                                  precise_float=True)
        done = 0
        with reader:
            for frame in reader:
                position = handle.tell()
                yield frame, position - done
                done = position


@contextlib.contextmanager
def _writer(fmt: str, path: Path) -> Iterator[Callable[[Any], None]]:
    if fmt == "parquet":
        with _parquet_writer(path) as write:
            yield write
        return
    with open(path, "w", encoding="utf-8", newline="") as handle:
        yield _text_writer(fmt, handle)


def _text_writer(fmt: str, handle: IO[str]) -> Callable[[Any], None]:
    first = [True]

    def write(frame: Any) -> None:
        if fmt == "csv":
            frame.to_csv(handle, index=False, header=first[0])
        else:  # orjson: every float round-trips (pandas' to_json keeps at most 15 digits)
            import orjson

            records = frame.to_dict(orient="records")
            handle.write(b"\n".join(orjson.dumps(r, default=_json_default) for r in records)
                         .decode() + "\n")
        first[0] = False

    return write


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


@contextlib.contextmanager
def _parquet_writer(path: Path) -> Iterator[Callable[[Any], None]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    state: dict[str, Any] = {}

    def write(frame: Any) -> None:
        if "writer" not in state:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            state["writer"] = pq.ParquetWriter(path, table.schema)
        else:
            table = pa.Table.from_pandas(frame, schema=state["writer"].schema, preserve_index=False)
        state["writer"].write_table(table)

    try:
        yield write
    finally:
        if "writer" in state:
            state["writer"].close()
        else:
            pq.write_table(pa.table({"prediction": pa.array([], pa.float64())}), path)
