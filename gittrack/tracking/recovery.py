"""Commit the runs whose process died, marked ``crashed`` (DESIGN section 3).

Recovery runs at the start of most commands, so it must never stop them: a journal is read
line by line (a damaged line costs only itself), the bytes that cannot be read are kept under
``.git/gittrack/quarantine/`` with a warning naming the file, a journal with no readable
header is replayed onto the run's last commit without doubling the points committed
already, and an empty one still ends its run ``crashed``. A journal whose run cannot be
recovered now (a ref lock held by git's maintenance) is left for the next command.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path
from typing import IO, Any

from gittrack.core import journal, names
from gittrack.core.errors import GittrackError, MissingObjectError
from gittrack.core.records import TERMINAL, format_float, iso_from_ms, parse_tsv
from gittrack.core.store import Store
from gittrack.tracking import sides
from gittrack.tracking.state import RunState

log = logging.getLogger("gittrack")
Point = tuple[str, int, int, str]


def recover_dead_runs(store: Store) -> list[str]:
    """Replay and commit every dead live run of this host; the ids of those recovered."""
    recovered = []
    for path, fh in journal.dead_journals(store.repo.state_dir / "journal"):
        try:
            if sides.is_side_journal(path):  # replayed with its run's own journal
                sides.remove_if_orphan(path)
                continue
            run_id = _recover_safely(store, path, fh)
            if run_id:
                recovered.append(run_id)
        finally:
            fh.close()
    return recovered


def _recover_safely(store: Store, path: Path, fh: IO[bytes]) -> str | None:
    run_id = sides.run_id_of(path)
    try:
        return _recover(store, path, fh)
    except MissingObjectError as exc:
        # The run's own commits are gone: nothing to replay onto. Keep every byte.
        kept = _keep_all(store, path, fh)
        log.warning("Run %s could not be recovered: %s Its journal is kept in %s.",
                    run_id, exc, kept)
        path.unlink(missing_ok=True)
    except (GittrackError, OSError) as exc:
        log.warning("Run %s could not be recovered yet (%s); the next gittrack command "
                    "tries again.", run_id, exc)
    return None


def _recover(store: Store, path: Path, fh: IO[bytes]) -> str | None:
    contents = journal.read_all(fh)
    run_id = sides.run_id_of(path)
    header = contents.header
    ref = header.get("ref") if isinstance(header.get("ref"), str) else None
    parsed = names.parse_run_ref(ref) if ref else None
    if parsed is None or parsed[1] != run_id:  # only this run's own ref, whatever the header says
        ref = store.ref_of(run_id)
    current = store.commit_of(ref) if ref else None
    if ref is None or current is None:
        if contents.size:  # no run to commit into (removed meanwhile): keep the bytes
            kept = _keep_all(store, path, fh)
            log.warning("Run %s has a journal but no run ref any more; the journal is kept "
                        "in %s.", run_id, kept)
        path.unlink(missing_ok=True)
        return None
    if _is_terminal(store, current):
        path.unlink(missing_ok=True)  # the owner committed its end, then died before cleaning up
        return None
    state = _replay(store, current, header, contents.events)
    _report_damage(store, path, run_id, contents)
    side_files = sides.replay_side_journals(state, path)  # what `gittrack run`'s children logged
    if state.info.get("status") not in TERMINAL:
        # no end in the journal: the process died without saying
        state.info["status"] = "crashed"
        state.info["end_time"] = iso_from_ms(int(os.fstat(fh.fileno()).st_mtime * 1000))
    parent = header.get("parent") if "parent" in header else _first_parent(store, current)
    if parent is not None and not (isinstance(parent, str) and len(parent) == 40
                                   and all(c in "0123456789abcdef" for c in parent)
                                   and store.repo.has_object(parent)):
        parent = _first_parent(store, current)  # a damaged header names no commit of ours
    commit = store.write_commit(store.code_tree_of(current), parent, state.files(store),
                                state.message())
    store.repo.set_ref(ref, commit)
    path.unlink(missing_ok=True)
    for side in side_files:
        side.unlink(missing_ok=True)
    return str(state.info.get("id"))


def _replay(store: Store, current: str, header: dict[str, Any],
            events: list[journal.Event]) -> RunState:
    """The run's state with the journal's events applied.

    The journal holds every event since its header's ``base_commit`` (the run's first commit,
    or the commit it was resumed from). Without that commit (a damaged header), the events
    go onto the last commit instead, skipping the metric points it holds already.
    """
    base = header.get("base_commit")
    if isinstance(base, str) and store.repo.has_object(base):
        state, committed = RunState.from_commit(store, base), Counter[Point]()
    else:
        state = RunState.from_commit(store, current)
        committed = _points(state)
    for event in events:
        if event[0] == "m":
            point = (event[1], event[3], event[4], format_float(event[2]))
            if committed[point] > 0:
                committed[point] -= 1
                continue
        try:
            state.apply(event)
        except (GittrackError, ValueError, TypeError, IndexError, KeyError):
            continue  # an event the live run would have refused
    return state


def _points(state: RunState) -> Counter[Point]:
    counts: Counter[Point] = Counter()
    for key, history in state.history.items():
        for step, ts, value in parse_tsv(history.decode("utf-8", "replace")):
            counts[key, step, ts, format_float(value)] += 1
    return counts


def _report_damage(store: Store, path: Path, run_id: str, contents: journal.Contents) -> None:
    if not contents.size:
        log.warning("Run %s: its journal %s was empty; the run is ended as crashed with what "
                    "it last committed.", run_id, path)
        return
    if not contents.header:
        log.warning("Run %s: its journal %s has no readable header; its intact lines were "
                    "applied to the run's last commit.", run_id, path)
    if contents.intact:
        return
    damaged = b"".join(line + b"\n" for line in contents.damaged) + contents.torn
    kept = journal.quarantine(store.repo.state_dir, run_id, damaged)
    count = len(contents.damaged) + bool(contents.torn)
    log.warning("Run %s: %d damaged line(s) of its journal %s were skipped and the rest "
                "recovered; the damaged bytes are in %s.", run_id, count, path,
                kept or "no file (the state directory is not writable)")


def _keep_all(store: Store, path: Path, fh: IO[bytes]) -> Path | None:
    fh.seek(0)
    return journal.quarantine(store.repo.state_dir, sides.run_id_of(path), fh.read())


def _first_parent(store: Store, commit: str) -> str | None:
    parents = store.repo.commit_parents(commit)
    return parents[0] if parents else None


def _is_terminal(store: Store, commit: str) -> bool:
    info = store.read_file(commit, "run.yaml") or {}
    return isinstance(info, dict) and info.get("status") in TERMINAL
