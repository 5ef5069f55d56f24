"""Side journals: what the children of ``gittrack run`` log, and how the run's owner merges it.

A child appends its events to ``<state dir>/journal/<run-id>.side.<pid>.jsonl``, in the main
journal's line format, one ``write()`` on an ``O_APPEND`` descriptor per call. The owner reads
the bytes added since its last offset (whole lines only) before each commit and at the end,
applies them to its state, and deletes the side journals once the run is committed. Crash
recovery replays them with the dead run's journal (gittrack.tracking.attach joins the run).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from gittrack.core import journal
from gittrack.core.errors import GittrackError
from gittrack.tracking.state import MAX_TAG_CHARS, RunState

log = logging.getLogger("gittrack")

RUN_ID_ENV = "GITTRACK_RUN_ID"
REPO_ENV = "GITTRACK_REPO"
WARNINGS_TAG = "gittrack.warnings"
SIDE_INFIX = ".side."

Event = list[Any]


# ---------------------------------------------------------------- paths


def side_path(directory: Path, run_id: str, pid: int) -> Path:
    """The side journal of process ``pid`` for run ``run_id``."""
    return directory / f"{run_id}{SIDE_INFIX}{pid}.jsonl"


def side_paths(directory: Path, run_id: str) -> list[Path]:
    """Every side journal of run ``run_id``, in a stable order."""
    prefix = f"{run_id}{SIDE_INFIX}"
    try:  # not Path.glob: it compiles a new regex for every run id
        names = [e.name for e in os.scandir(directory)
                 if e.name.startswith(prefix) and e.name.endswith(".jsonl")]
    except OSError:
        return []
    return [directory / name for name in sorted(names)]


def is_side_journal(path: os.PathLike[str] | str) -> bool:
    """Whether ``path`` is a side journal rather than a run's own journal."""
    return SIDE_INFIX in Path(path).name


def run_id_of(path: os.PathLike[str] | str) -> str:
    """The run id a journal or side journal belongs to."""
    return Path(path).name.split(".", 1)[0]


# ---------------------------------------------------------------- writing (the child)


class SideJournal:
    """A child's side journal: every append is one ``write()`` on an ``O_APPEND`` descriptor.

    The writer holds a shared ``flock`` while attached, so crash recovery (which takes
    journals it can lock exclusively) leaves the file of a live child alone.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._lock = threading.Lock()

    def append(self, events: list[Event], metric_rows: str = "") -> None:
        """Append JSON events and metric lines (``m<TAB>key<TAB>step<TAB>ts<TAB>value``)."""
        data = b"".join(_line(e) for e in events) + metric_rows.encode("utf-8")
        if not data:
            return
        with self._lock:
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                fcntl.flock(self._fd, fcntl.LOCK_SH)
            view = memoryview(data)
            while view:  # a regular file takes it whole; loop only for a short write
                view = view[os.write(self._fd, view):]

    def close(self, remove: bool = False) -> None:
        """Close the descriptor (the owner deletes the file once merged)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        if remove:
            self.path.unlink(missing_ok=True)


def _line(event: Event) -> bytes:
    return json.dumps(event, separators=(",", ":"), allow_nan=True).encode("utf-8") + b"\n"


class SideJournals:
    """The owner's reader of its run's side journals: the offset merged so far in each."""

    def __init__(self, directory: Path, run_id: str) -> None:
        self.directory = directory
        self.run_id = run_id
        self._offsets: dict[Path, int] = {}

    def merge(self, state: RunState, lock: Any) -> bool:
        """Apply the whole lines added since the last merge; whether anything was applied."""
        changed = False
        for path in side_paths(self.directory, self.run_id):
            events, self._offsets[path] = read_new(path, self._offsets.get(path, 0))
            if events:
                with lock:
                    apply_events(state, events)
                changed = True
        return changed

    def remove(self) -> None:
        """Delete the side journals (after the run's final commit)."""
        for path in side_paths(self.directory, self.run_id):
            path.unlink(missing_ok=True)


def read_new(path: Path, offset: int) -> tuple[list[Event], int]:
    """Events in the whole lines of ``path`` after ``offset``, and the offset after them."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1  # a line still being written waits for the next merge
    events = [e for raw in data[:end].splitlines() if (e := parse_line(raw)) is not None]
    return events, offset + end


def parse_line(raw: bytes) -> Event | None:
    """One journal line as an event; None for a line that cannot be read (or a header)."""
    event = journal.parse_line(raw)
    return event if event is not None and event[0] != "h" else None


def apply_events(state: RunState, events: list[Event]) -> list[str]:
    """Apply side-journal events as the live run would; conflicting params are dropped."""
    problems: list[str] = []
    for event in events:
        try:
            if event[0] == "p":
                state.check_params(event[1])
            state.apply(event)
        except (GittrackError, ValueError, TypeError, IndexError, KeyError) as exc:
            problems.append(f"dropped a value logged by a child process: {exc}")
    if problems:
        for text in problems:
            log.warning("%s", text)
        tags = state.info.setdefault("tags", {})
        joined = "\n".join(filter(None, [tags.get(WARNINGS_TAG, ""), *problems]))
        state.apply(["t", WARNINGS_TAG, joined[-MAX_TAG_CHARS:]])
    return problems


# ---------------------------------------------------------------- crash recovery


def replay_side_journals(state: RunState, journal_path: os.PathLike[str] | str) -> list[Path]:
    """Apply every side journal of the run whose journal is ``journal_path``; their paths."""
    main = Path(journal_path)
    paths = side_paths(main.parent, run_id_of(main))
    for path in paths:
        events, _end = read_new(path, 0)
        apply_events(state, events)
    return paths


def remove_if_orphan(path: os.PathLike[str] | str) -> None:
    """Delete a dead writer's side journal whose run has no journal any more (it ended)."""
    side = Path(path)
    if not (side.parent / f"{run_id_of(side)}.jsonl").exists():
        side.unlink(missing_ok=True)
