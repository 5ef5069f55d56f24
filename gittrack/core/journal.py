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
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

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


def read(path: Path | IO[bytes]) -> tuple[dict[str, Any], list[Event]]:
    """Header and events of a journal (a path or an open file); a torn last line is dropped."""
    if not isinstance(path, Path):
        path.seek(0)
        return _parse(path)
    with open(path, "rb") as fh:
        return _parse(fh)


def _parse(fh: IO[bytes]) -> tuple[dict[str, Any], list[Event]]:
    header: dict[str, Any] = {}
    events: list[Event] = []
    for raw in fh:
        if not raw.endswith(b"\n"):
            break  # the last line, torn by a kill
        if raw.startswith(b"m\t"):
            # Metric points are "m<TAB>key<TAB>step<TAB>timestamp<TAB>value": cheaper than
            # JSON in the flush path; keys never hold tabs (names.validate_key).
            _m, key, step, ts, value = raw.decode("utf-8").rstrip("\n").split("\t")
            events.append(["m", key, float(value), int(step), int(ts)])
            continue
        try:
            event = json.loads(raw)
        except ValueError:
            break
        if event and event[0] == "h":
            header = event[1]
        else:
            events.append(event)
    return header, events


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
