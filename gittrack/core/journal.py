"""The append-only journal of a live run, and the recovery of runs whose process died.

A live run holds an exclusive ``flock`` on its journal for its whole life. The kernel drops
the lock when the process dies, however it dies, so "can I lock it?" is the liveness test:
no pid files, no pid reuse races (DESIGN section 3).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from gittrack.core import names
from gittrack.core.errors import InvalidInputError

Event = list[Any]


class Journal:
    """An open, locked journal file that events are appended to."""

    def __init__(self, directory: Path, run_id: str, header: dict[str, Any]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{run_id}.jsonl"
        tmp = directory / f".{run_id}.{os.getpid()}.tmp"
        self._file: IO[bytes] = open(tmp, "wb")  # noqa: SIM115 - lives as long as the run
        fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._file.write(_line(["h", header]))
        self._file.flush()
        # Renamed only once locked and headed, so a recoverer never sees a half-made journal.
        os.replace(tmp, self.path)

    def append(self, events: list[Event], metric_rows: str = "") -> None:
        """Append JSON events and pre-formatted metric lines (``m<TAB>key<TAB>row``)."""
        if events or metric_rows:
            self._file.write(b"".join(_line(e) for e in events) + metric_rows.encode("utf-8"))
            self._file.flush()

    def close(self, remove: bool) -> None:
        if remove:
            self.path.unlink(missing_ok=True)
        self._file.close()


def _line(event: Event) -> bytes:
    return json.dumps(event, separators=(",", ":"), allow_nan=True).encode("utf-8") + b"\n"


@dataclass
class Contents:
    """What a journal holds: its header, the events of its intact lines, and the bytes of
    the lines that could not be read (each without its newline), in file order."""

    header: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    damaged: list[bytes] = field(default_factory=list)
    torn: bytes = b""  # an unterminated last line: a write cut short by a kill
    size: int = 0

    @property
    def intact(self) -> bool:
        return not self.damaged and not self.torn


def read(path: Path | IO[bytes]) -> tuple[dict[str, Any], list[Event]]:
    """Header and events of a journal (a path or an open file); damaged lines are skipped."""
    contents = read_all(path)
    return contents.header, contents.events


def read_all(path: Path | IO[bytes]) -> Contents:
    """Every intact line of a journal, resynchronising at each newline past damage."""
    if not isinstance(path, Path):
        path.seek(0)
        return parse(path.read())
    with open(path, "rb") as fh:
        return parse(fh.read())


def parse(data: bytes) -> Contents:
    """Parse journal bytes line by line: a damaged line costs only itself."""
    out = Contents(size=len(data))
    lines = data.split(b"\n")
    out.torn = lines.pop()  # b"" when the data ends with a newline
    for raw in lines:
        if not raw:
            continue
        event = parse_line(raw)
        if event is None:
            out.damaged.append(raw)
        elif event[0] == "h":
            if not out.header:
                out.header = event[1]
        else:
            out.events.append(event)
    return out


_ARITY = {"h": 2, "p": 2, "x": 2, "t": 3, "a": 3, "i": 3, "f": 3}
_SHAPES: dict[str, tuple[type, ...]] = {
    "h": (dict,), "p": (dict,), "x": (dict,), "t": (str, str), "a": (str, dict), "i": (str, dict),
    "f": (str, str),  # a record file (a data profile): its path and blob id
}
INT64 = 2**63


def parse_line(raw: bytes) -> Event | None:
    """One journal line as an event, or None when it is not a line gittrack writes."""
    try:
        if raw.startswith(b"m\t"):
            # Metric points are "m<TAB>key<TAB>step<TAB>timestamp<TAB>value": cheaper than
            # JSON in the flush path; keys never hold tabs (names.validate_key).
            fields = raw.decode("utf-8").split("\t")
            if len(fields) != 5:
                return None
            _m, key, step, ts, value = fields
            names.validate_key("metric", key)
            steps = int(step), int(ts)
            if not all(-INT64 <= n < INT64 for n in steps):
                return None
            return ["m", key, float(value), *steps]
        event = json.loads(raw)
    except (ValueError, RecursionError, InvalidInputError):  # UnicodeDecodeError: a ValueError
        return None
    if not isinstance(event, list) or not event or not isinstance(event[0], str):
        return None
    shape = _SHAPES.get(event[0])
    if shape is None or len(event) != _ARITY[event[0]] \
            or not all(isinstance(v, t) for v, t in zip(event[1:], shape)):
        return None
    return event


def quarantine(state_dir: Path, name: str, data: bytes) -> Path | None:
    """Keep damaged journal bytes under ``<state dir>/quarantine/`` (never deleted by
    gittrack); the file written, or None when nothing could be written."""
    directory = state_dir / "quarantine"
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f"{name}.{stamp}.", suffix=".damaged", dir=directory)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    except OSError:
        return None
    return Path(tmp)


def dead_journals(directory: Path) -> Iterator[tuple[Path, IO[bytes]]]:
    """Journals of this host whose owner is gone, each yielded locked (caller closes)."""
    try:
        paths = sorted(directory.glob("*.jsonl"))
    except OSError:
        return
    host = socket.gethostname()
    for path in paths:
        try:
            fh = open(path, "rb")  # noqa: SIM115 - handed to the caller
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            continue
        # An owner that ended removed its journal before unlocking it: a file we lock with
        # no name left is such a one (or one another recoverer just finished).
        if os.fstat(fh.fileno()).st_nlink == 0:
            fh.close()
            continue
        header, _ = read(fh)
        if header.get("host", host) != host:
            fh.close()
            continue
        yield path, fh


def is_live(directory: Path, run_id: str) -> bool:
    """Whether a process holds the journal of ``run_id`` now."""
    path = directory / f"{run_id}.jsonl"
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return False
    with fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False
