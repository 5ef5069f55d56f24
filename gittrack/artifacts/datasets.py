"""What a run read: content hash, size and, for tables, rows, columns and schema.

Files are streamed once (md5 and line count together), never read whole into memory.
Parquet rows and schema come from the file's footer (pyarrow metadata); a CSV's dtypes come
from its header and a sample of rows. pandas and pyarrow are imported only when needed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gittrack.artifacts.cache import directory_links
from gittrack.core.errors import InvalidInputError

log = logging.getLogger("gittrack")

_CHUNK = 4 << 20
SAMPLE_ROWS = 1000
CSV_SUFFIXES = {".csv": ",", ".tsv": "\t"}
PARQUET_SUFFIXES = (".parquet", ".pq")


def describe_path(path: Path, header: bool | None = None) -> dict[str, Any]:
    """``{md5, size, rows, columns, schema, kind}`` of a file or directory.

    ``header`` says whether a CSV's first line names its columns; None looks (a first line of
    numbers is data, else csv.Sniffer decides). Without a header the columns are 0, 1, ...
    """
    if path.is_dir():
        return _describe_dir(path)
    if not path.is_file():
        raise InvalidInputError(f"No file or directory at '{path}' to log as an input; check the path.")
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return _describe_csv(path, CSV_SUFFIXES[suffix], header)
    md5, size = _md5_stream(path)
    base = {"md5": md5, "size": size, "rows": None, "columns": None, "schema": None, "kind": "file"}
    if suffix in PARQUET_SUFFIXES:
        base.update(_parquet_shape(path))
    return base


def describe_frame(frame: Any) -> dict[str, Any]:
    """``{md5, size, rows, columns, schema, kind}`` of a pandas DataFrame.

    The md5 covers the column names, the dtypes and ``pandas.util.hash_pandas_object`` of
    the rows with their index (docs/artifacts.md), so equal frames hash equally.
    """
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise InvalidInputError(
            f"log_input takes a path or a pandas DataFrame; got {type(frame).__name__}."
        )
    schema = _dtypes(frame)
    digest = hashlib.md5(usedforsecurity=False)
    digest.update(json.dumps(list(schema.items())).encode("utf-8"))
    digest.update(_row_hashes(frame))
    return {"md5": digest.hexdigest(), "size": int(frame.memory_usage(deep=True).sum()),
            "rows": int(len(frame)), "columns": list(schema), "schema": schema,
            "kind": "dataframe"}


def _row_hashes(frame: Any) -> bytes:
    import pandas as pd

    try:
        return bytes(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    except TypeError:
        # Unhashable cells (lists, dicts): fall back to a deterministic text form.
        return frame.to_json(orient="split", date_format="iso").encode("utf-8")  # type: ignore[no-any-return]


def _dtypes(frame: Any) -> dict[str, str]:
    return {str(col): str(dtype) for col, dtype in frame.dtypes.items()}


def _md5_stream(path: Path) -> tuple[str, int]:
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _describe_csv(path: Path, sep: str, header: bool | None) -> dict[str, Any]:
    digest = hashlib.md5(usedforsecurity=False)
    size = newlines = 0
    quoted = False
    last = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            newlines += chunk.count(b"\n")
            quoted = quoted or b'"' in chunk
            last = chunk[-1:]
    lines = newlines + (1 if size and last != b"\n" else 0)
    out: dict[str, Any] = {"md5": digest.hexdigest(), "size": size, "kind": "csv"}
    if header is None:
        header = has_header(path, sep)
    out.update(_csv_shape(path, sep, lines, quoted, header))
    return out


def has_header(path: Path, sep: str) -> bool:
    """Whether a CSV's first line looks like column names: not when every field of it is a
    number; otherwise as csv.Sniffer judges it from the first lines (types and lengths of
    each column against the rest)."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            text = fh.read(64 * 1024)
    except (OSError, UnicodeDecodeError):
        return True
    lines = text.splitlines(keepends=True)
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        text = "".join(lines[:-1])  # drop a line cut by the read
    first = next(csv.reader(io.StringIO(text), delimiter=sep), [])
    if first and all(_is_number(field) for field in first):
        return False
    try:
        return csv.Sniffer().has_header(text)
    except csv.Error:
        return True


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv_shape(path: Path, sep: str, lines: int, quoted: bool, header: bool) -> dict[str, Any]:
    import pandas as pd

    head: int | None = 0 if header else None
    try:
        sample = pd.read_csv(path, sep=sep, nrows=SAMPLE_ROWS, header=head)
    except pd.errors.EmptyDataError:
        return {"rows": 0, "columns": [], "schema": {}}
    except (ValueError, UnicodeDecodeError) as exc:
        log.warning("Could not read %s as CSV (%s); recording its hash and size only.", path, exc)
        return {"rows": None, "columns": None, "schema": None, "kind": "file"}
    schema = _dtypes(sample)
    if len(sample) < SAMPLE_ROWS:
        rows = len(sample)
    elif quoted:  # a quoted field may hold newlines: let the parser count, one column at a time
        rows = sum(len(c) for c in pd.read_csv(path, sep=sep, usecols=[0], dtype=str,
                                               header=head, chunksize=1 << 16))
    else:
        rows = max(lines - (1 if header else 0), 0)
    return {"rows": int(rows), "columns": list(schema), "schema": schema, "header": header}


def _parquet_shape(path: Path) -> dict[str, Any]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return {}
    try:
        meta = pq.ParquetFile(path)
        schema = _dtypes(meta.schema_arrow.empty_table().to_pandas())
        rows = meta.metadata.num_rows
    except (OSError, ValueError) as exc:
        log.warning("Could not read %s as Parquet (%s); recording its hash and size only.", path, exc)
        return {}
    return {"rows": int(rows), "columns": list(schema), "schema": schema, "kind": "parquet"}


def _describe_dir(path: Path) -> dict[str, Any]:
    # md5 of "relpath<TAB>md5" lines in path order: a stable hash of the whole tree.
    digest = hashlib.md5(usedforsecurity=False)
    size = nfiles = 0
    links = directory_links(path)  # never followed; one leading out refuses the directory
    for rel in sorted(set(_files_below(path)) | set(links)):
        if rel in links:
            text = links[rel].encode("utf-8")
            md5, n = hashlib.md5(text, usedforsecurity=False).hexdigest(), len(text)
        else:
            md5, n = _md5_stream(path / rel)
        digest.update(f"{rel}\t{md5}\n".encode("utf-8"))
        size += n
        nfiles += 1
    return {"md5": digest.hexdigest(), "size": size, "nfiles": nfiles, "rows": None,
            "columns": None, "schema": None, "kind": "dir"}


def _files_below(path: Path) -> list[str]:
    return [Path(root, f).relative_to(path).as_posix()
            for root, _dirs, files in os.walk(path) for f in files]


def check_input_name(name: object) -> str:
    """An input name: one line of text, 1..250 characters."""
    if not isinstance(name, str) or not name.strip() or len(name) > 250 \
            or any(ord(c) < 32 for c in name):
        raise InvalidInputError(
            f"Input name {name!r} must be one line of text of 1 to 250 characters."
        )
    return name


def entry(description: Mapping[str, Any], path: str | None, context: str) -> dict[str, Any]:
    """The inputs.yaml entry: the description plus where it came from and what it was for."""
    if not isinstance(context, str) or not context:
        raise InvalidInputError(f"The input context must be a non-empty string; got {context!r}.")
    return {"path": path, **description, "context": context}
