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

import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gittrack.core import journal, names
from gittrack.core.errors import InvalidInputError, RunStateError
from gittrack.core.store import Store
from gittrack.tracking import stack
from gittrack.tracking.active import ActiveRun
from gittrack.tracking.sides import (  # noqa: F401 - re-exported: attach is the public door
    REPO_ENV,
    RUN_ID_ENV,
    SIDE_INFIX,
    WARNINGS_TAG,
    Event,
    SideJournal,
    SideJournals,
    apply_events,
    is_side_journal,
    parse_line,
    read_new,
    remove_if_orphan,
    replay_side_journals,
    run_id_of,
    side_path,
    side_paths,
)
from gittrack.tracking.state import RunState

log = logging.getLogger("gittrack")



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
        self.logged_paths: list[Path] = []

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
        stack.discard(self)
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
    commit = store.commit_of(ref) if ref else None
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


