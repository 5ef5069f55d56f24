"""Joining a live run from a child process through side journals (docs/format.md).

``gittrack run -- COMMAND`` owns its run and the run's locked journal (DESIGN section 3 stays
true: one process commits a run). It hands the run id to COMMAND in ``$GITTRACK_RUN_ID``. A
child that logs (Python through ``gittrack.log_*``, a shell script through ``gittrack
log-metric``) never starts a second run: it appends its events to its own side journal
``<state dir>/journal/<run-id>.side.<pid>.jsonl``, in the main journal's line format, one
``write()`` on an ``O_APPEND`` descriptor per call. The owner reads the bytes added since its
last offset (whole lines only) before each commit and at the end, applies them to its state,
and deletes the side journals once the run is committed. Crash recovery replays them with
the dead run's journal.

A param that a side journal logs with another value than the run already holds is dropped
at merge time; the message is appended to the run's tag ``gittrack.warnings``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gittrack import journal, names
from gittrack.errors import GittrackError, InvalidInputError, RunStateError
from gittrack.state import MAX_TAG_CHARS, RunState
from gittrack.store import Store
from gittrack.tracking import ActiveRun

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


class AttachedRun(ActiveRun):
    """The run of a parent ``gittrack run``, joined from a child process.

    It has ActiveRun's methods and checks, but writes every call straight to its side
    journal and never commits; ``end()`` only detaches (the parent owns the run's status).
    ActiveRun.__init__ is deliberately not called: no journal lock, no flusher thread.
    """

    def __init__(self, store: Store, ref: str, info: dict[str, Any], side: SideJournal) -> None:
        self.store = store
        self.state = RunState(info)
        self.ref = ref
        self._parent = None
        self._code_tree = None
        self._lock = threading.Lock()
        self._git_lock = threading.Lock()
        self._pending: list[tuple[str, float, int, int]] = []
        self._events: list[list[Any]] = []
        self._metric_keys: set[str] = set()
        self._ended = False
        self._dirty = False
        self._journal = side  # type: ignore[assignment]  # same append/close interface
        self._sides = None

    def __repr__(self) -> str:
        return f"<AttachedRun {self.id} {self.experiment}/{self.name}>"

    def log_metric(self, key: str, value: float, step: int | None = None,
                   timestamp: int | None = None) -> None:
        """Record one point of a metric of the parent's run."""
        super().log_metric(key, value, step, timestamp)
        self.flush()

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None,
                    timestamp: int | None = None) -> None:
        """Record several metrics at one step."""
        super().log_metrics(metrics, step, timestamp)
        self.flush()

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record params; a value conflicting with the parent's is dropped when merged."""
        super().log_params(params)
        self.flush()

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags of the parent's run."""
        super().set_tags(tags)
        self.flush()

    def record(self, event: list[Any]) -> None:
        """Apply and write a prepared event."""
        super().record(event)
        self.flush()

    def flush(self) -> None:
        """Write what is buffered to the side journal (no local metric history is kept)."""
        with self._lock:
            pending, self._pending = self._pending, []
            events, self._events = self._events, []
            rows = "".join(f"m\t{k}\t{s}\t{t}\t{v!r}\n" for k, v, s, t in pending)
            self._journal.append(events, rows)

    def commit(self) -> str:
        """Nothing to commit here: the parent commits the run; returns ''."""
        self.flush()
        return ""

    def end(self, status: str = "finished") -> None:
        """Detach from the run; its status is the parent's to set."""
        with self._lock:
            if self._ended:
                return
        self.flush()
        with self._lock:
            self._ended = True
            self.state.info["status"] = "detached"
        self._journal.close(remove=False)


def attach(store: Store, run_id: str, tags: Mapping[str, Any] | None = None) -> AttachedRun:
    """Join the live run ``run_id`` (from ``$GITTRACK_RUN_ID``) of a parent process."""
    run_id = run_id.strip()
    if not names.is_run_id(run_id):
        raise InvalidInputError(
            f"${RUN_ID_ENV} holds {run_id!r}, which is not a run id; unset it to start a new run."
        )
    directory = store.repo.state_dir / "journal"
    ref = store.ref_of(run_id)
    commit = store.repo.resolve_ref(ref) if ref else None
    if ref is None or commit is None or not journal.is_live(directory, run_id):
        raise RunStateError(
            f"Run {run_id} named by ${RUN_ID_ENV} is not live in this repository; unset "
            f"{RUN_ID_ENV} to start a new run, or log from inside `gittrack run -- COMMAND`."
        )
    info = dict(store.read_file(commit, "run.yaml") or {"id": run_id})
    info.update(id=run_id, tags={})
    run = AttachedRun(store, ref, info, SideJournal(side_path(directory, run_id, os.getpid())))
    if tags:
        run.set_tags(tags)
    return run


# ---------------------------------------------------------------- merging (the owner)


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
    """One journal line as an event; None for a line that cannot be read."""
    try:
        if raw.startswith(b"m\t"):
            _m, key, step, ts, value = raw.decode("utf-8").split("\t")
            return ["m", key, float(value), int(step), int(ts)]
        event = json.loads(raw)
    except ValueError:
        return None
    return event if isinstance(event, list) and event and event[0] != "h" else None


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
