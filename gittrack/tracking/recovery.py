"""Commit the runs whose process died, marked ``crashed`` (DESIGN section 3)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

from gittrack.core import journal
from gittrack.core.errors import GittrackError
from gittrack.core.records import TERMINAL, iso_from_ms
from gittrack.core.store import Store
from gittrack.tracking import sides
from gittrack.tracking.state import RunState


def recover_dead_runs(store: Store) -> list[str]:
    """Replay and commit every dead live run of this host; the ids of those recovered."""
    recovered = []
    for path, fh in journal.dead_journals(store.repo.state_dir / "journal"):
        try:
            if sides.is_side_journal(path):  # replayed with its run's own journal
                sides.remove_if_orphan(path)
                continue
            run_id = _recover(store, path, fh)
            if run_id:
                recovered.append(run_id)
        finally:
            fh.close()
    return recovered


def _recover(store: Store, path: Path, fh: IO[bytes]) -> str | None:
    header, events = journal.read(fh)
    ref, base = header.get("ref"), header.get("base_commit")
    current = store.repo.resolve_ref(ref) if ref else None
    if not ref or not base or current is None:
        path.unlink(missing_ok=True)
        return None
    if _is_terminal(store, current):
        path.unlink(missing_ok=True)  # the owner committed its end, then died before cleaning up
        return None
    state = RunState.from_commit(store, base)
    for event in events:
        try:
            state.apply(event)
        except (GittrackError, ValueError, TypeError, IndexError, KeyError):
            continue  # an event the live run would have refused
    side_files = sides.replay_side_journals(state, path)  # what `gittrack run`'s children logged
    if state.info.get("status") not in TERMINAL:
        # no end in the journal: the process died without saying
        state.info["status"] = "crashed"
        state.info["end_time"] = iso_from_ms(int(os.fstat(fh.fileno()).st_mtime * 1000))
    commit = store.write_commit(store.code_tree_of(base), header.get("parent"),
                                state.files(store), state.message())
    store.repo.set_ref(ref, commit)
    path.unlink(missing_ok=True)
    for side in side_files:
        side.unlink(missing_ok=True)
    return str(state.info.get("id"))


def _is_terminal(store: Store, commit: str) -> bool:
    info = store.read_file(commit, "run.yaml") or {}
    return info.get("status") in TERMINAL
