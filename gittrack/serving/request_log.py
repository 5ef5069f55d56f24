"""Request logs: what the server was asked and what it answered, as Parquet files.

With ``gittrack serve --log-requests DIR`` every scored row is kept: batches are buffered in
memory and written by a background thread as one new file when ``rotate_rows`` rows are
buffered, when the oldest buffered row is ``rotate_seconds`` old, and at shutdown. Files are
written under a dot-name and renamed into place, so a reader never sees half a file. The
format (docs/serving.md) is what ``gittrack drift`` reads::

    DIR/requests-<UTC yyyymmddTHHMMSS of the first row>-<pid>-<seq>.parquet

one row per scored input row: the input columns as they arrived (signature columns converted
to the signature's types; a 2-D array as ``input_0``, ``input_1``, ...), then ``prediction``
(``prediction_0``, ``prediction_1``, ... for several outputs), ``_gittrack_model_version``
(int64, null when the served URI is not a registry version) and ``_gittrack_time`` (the
request's arrival, a UTC timestamp in microseconds).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gittrack.core.errors import InvalidInputError
from gittrack.serving.schema import missing

log = logging.getLogger("gittrack.serving")
VERSION_COLUMN, TIME_COLUMN = "_gittrack_model_version", "_gittrack_time"


@dataclass
class Entry:
    """One predicted batch, kept as it was until the writer thread turns it into rows."""

    version: int | None
    times: list[float]
    rows: list[int]
    kind: str
    inputs: Any  # the batch input ("rows", "array") or the frames as they arrived ("frame")
    columns: tuple[str, ...]
    output: Any
    conformed: Any = None  # "frame": the batch as predicted (signature columns, converted)


class RequestLog:
    """Buffers scored batches and writes them as rotated Parquet files from a thread."""

    def __init__(self, directory: str | os.PathLike[str], rotate_rows: int = 50_000,
                 rotate_seconds: float = 60.0) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidInputError(f"Cannot create the request log directory {self.directory} "
                                    f"({exc.strerror}); pass a writable --log-requests DIR.") from exc
        try:
            import pyarrow  # noqa: F401 - fail now, not at the first flush, when it is missing
        except ImportError as exc:
            raise InvalidInputError("--log-requests writes Parquet and needs pyarrow; install "
                                    "it with `pip install 'gittrack[serve]'`.") from exc

        self.rotate_rows = max(1, rotate_rows)
        self.rotate_seconds = max(0.05, rotate_seconds)
        self.files_written = 0
        self._entries: list[Entry] = []
        self._rows = 0
        self._first: float | None = None
        self._seq = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name="gittrack-request-log",
                                        daemon=True)
        self._thread.start()

    def add(self, entry: Entry) -> None:
        """Keep one batch (called on the predict thread: an append, nothing more)."""
        count = sum(entry.rows)
        with self._lock:
            self._entries.append(entry)
            self._rows += count
            if self._first is None:
                self._first = entry.times[0]
            full = self._rows >= self.rotate_rows
        if full:
            self._wake.set()

    def close(self) -> None:
        """Write what is buffered and stop the writer."""
        self._closing = True
        self._wake.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._closing:
            self._wake.wait(min(1.0, self.rotate_seconds))
            self._wake.clear()
            with self._lock:
                due = self._rows >= self.rotate_rows or (
                    self._first is not None and time.time() - self._first >= self.rotate_seconds)
            if due:
                self.flush()
        self.flush()

    def flush(self) -> Path | None:
        """Write the buffered rows as one new file now; its path (None when nothing was buffered)."""
        with self._lock:
            entries, first = self._entries, self._first
            self._entries, self._rows, self._first = [], 0, None
        if not entries or first is None:
            return None
        self._seq += 1
        stamp = datetime.fromtimestamp(first, timezone.utc).strftime("%Y%m%dT%H%M%S")
        path = self.directory / f"requests-{stamp}-{os.getpid()}-{self._seq:06d}.parquet"
        try:
            frame = rows_of(entries)
            if frame is None:
                return None
            write_parquet(frame, path)
        except Exception as exc:  # noqa: BLE001 - a log that cannot be written must not stop serving
            log.error("gittrack serve: could not write request log %s: %s: %s", path,
                      type(exc).__name__, exc)
            return None
        self.files_written += 1
        return path


def rows_of(entries: list[Entry]) -> Any:
    """The logged rows of some batches, as one DataFrame (None when none can be lined up)."""
    import pandas as pd

    frames = [frame for frame in map(_frame, entries) if frame is not None]
    if not frames:
        return None
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _frame(entry: Entry) -> Any:
    import numpy as np
    import pandas as pd

    count = sum(entry.rows)
    if getattr(entry.output, "ndim", 0) < 1 or len(entry.output) != count:
        return None  # a model that does not answer row by row: nothing to line up
    if entry.kind == "rows":
        frame = pd.DataFrame(entry.inputs, columns=list(entry.columns))
    elif entry.kind == "frame":
        frame = pd.concat([f.reset_index(drop=True) for f in entry.inputs], ignore_index=True) \
            if len(entry.inputs) > 1 else entry.inputs[0].reset_index(drop=True)
        frame = frame.rename(columns=str)
        if entry.conformed is not None:  # signature columns as converted, extra ones as sent
            for column in entry.conformed.columns:
                frame[column] = entry.conformed[column].to_numpy()
    elif getattr(entry.inputs, "ndim", 0) == 2:
        frame = pd.DataFrame(entry.inputs, columns=[f"input_{i}" for i in range(entry.inputs.shape[1])])
    else:
        frame = pd.DataFrame(index=range(count))
    output = entry.output.to_numpy() if hasattr(entry.output, "columns") else np.asarray(entry.output)
    if output.ndim == 1:
        frame["prediction"] = output
    else:
        for i in range(output.reshape(count, -1).shape[1]):
            frame[f"prediction_{i}"] = output.reshape(count, -1)[:, i]
    frame[VERSION_COLUMN] = pd.array([entry.version] * count, dtype="Int64")
    micros = (np.repeat(entry.times, entry.rows) * 1e6).astype("int64")
    frame[TIME_COLUMN] = micros.astype("datetime64[us]")  # UTC; the zone is set when written
    return frame


def write_parquet(frame: Any, path: Path) -> None:
    """Write under a dot-name and rename into place (readers never see a partial file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types in an untyped column
        mixed = {c: frame[c].map(lambda v: v if missing(v) else str(v))
                 for c in frame.columns if frame[c].dtype == object}
        table = pa.Table.from_pandas(frame.assign(**mixed), preserve_index=False)
    index = table.schema.get_field_index(TIME_COLUMN)
    if index >= 0:
        utc = table.column(index).cast(pa.timestamp("us", tz="UTC"))
        table = table.set_column(index, pa.field(TIME_COLUMN, utc.type), utc)
    partial = path.with_name("." + path.name + ".partial")
    pq.write_table(table, partial)
    os.replace(partial, path)
