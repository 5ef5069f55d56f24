"""Finished runs in bulk: thousands of records as one pack and one ref transaction.

``gittrack.log_runs`` (MLflow has ``log_batch``; imports and backfills need more) builds each
run with the same code as a live run: the same run.yaml fields (tracking.lifecycle.run_info),
the same checks of keys and values (tracking.active), the same events applied to a RunState
and the same rendering, so a run written here holds byte for byte the record the tracking API
writes for the same input. Only the writing differs: objects stream into one pack
(gittrack.core.packs) and the refs go into packed-refs at once, instead of a pack and a ref
creation per run.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gittrack.core import names, paths, provenance
from gittrack.core.errors import InvalidInputError
from gittrack.core.packs import PackStream, add_packed_refs
from gittrack.core.records import TERMINAL, iso_from_ms, now_iso
from gittrack.core.store import Store
from gittrack.tracking import services
from gittrack.tracking.active import as_int, as_number, clean_params, clean_tags
from gittrack.tracking.lifecycle import run_info
from gittrack.tracking.state import RunState

BATCH = 5000  # runs whose summaries are noted at once: bounds the memory they hold
FIELDS = frozenset({"id", "name", "experiment", "status", "start_time", "end_time", "user",
                    "description", "parent", "params", "metrics", "tags", "artifacts", "inputs"})


def log_runs(store: Store, records: Iterable[Mapping[str, Any]], experiment: str,
             batch: int = BATCH) -> list[str]:
    """Write finished runs from ``records`` (see :func:`gittrack.log_runs`); their ids.

    One transaction: the objects stream into one pack (gittrack.core.packs.PackStream; a
    new one past a gigabyte), every ref goes into packed-refs in one locked rewrite at the
    end. Bad input anywhere writes no run; a crash leaves no ref.
    """
    snap = store.repo.snapshot()
    base = run_info(store, snap, experiment, "", None, None)
    frame = store.frame(snap.tree)
    signature = store.repo.signature_line()
    parents = [snap.baseline] if snap.baseline else []
    ids: list[str] = []
    refs: dict[str, str] = {}
    ended: list[services.Ended] = []
    stream = PackStream(store.repo.common_dir / "objects" / "pack")
    try:
        for record in records:
            state = _state(base, record, experiment)
            files = state.render()
            blobs = {path: data if isinstance(data, str) else stream.blob(data)
                     for path, data in files.items()}
            commit = frame.commit(stream, blobs, parents, signature, state.message())
            ref = names.run_ref(state.info["experiment"], state.info["id"])
            if ref in refs:
                raise InvalidInputError(f"Run id {state.info['id']} is given twice; run ids "
                                        "are never reused.")
            refs[ref] = commit
            ended.append((commit, files, state.summary(commit)))
            ids.append(state.info["id"])
            if len(ended) >= batch:
                _note(store, ended)
                ended = []
        stream.finish()
    except BaseException:
        stream.abort()
        raise
    _note(store, ended)
    add_packed_refs(store.repo.common_dir, refs)
    return ids


def _note(store: Store, ended: list[services.Ended]) -> None:
    """Tell what the writers of live runs tell (the index's summaries, provenance)."""
    # made here, as a live run's commits are (gittrack.core.provenance)
    provenance.note_made(store.repo.state_dir, *(commit for commit, _files, _summary in ended))
    services.runs_ended(store.repo, ended)


def _state(base: Mapping[str, Any], record: Mapping[str, Any], experiment: str) -> RunState:
    if not isinstance(record, Mapping):
        raise InvalidInputError(f"log_runs takes mappings, one a run; got {type(record).__name__}.")
    unknown = sorted(set(record) - FIELDS)
    if unknown:
        raise InvalidInputError(f"A run record has unknown field(s) {', '.join(unknown)}; "
                                f"use {', '.join(sorted(FIELDS))}.")
    info = dict(base)
    run_id = record.get("id") or names.new_run_id()
    if not isinstance(run_id, str) or not names.is_run_id(run_id):
        raise InvalidInputError(f"Run id {run_id!r} is not 16 lower-case hex digits; leave it out "
                                "and one is made.")
    name = record.get("name")
    status = record.get("status", "finished")
    if status not in TERMINAL:
        raise InvalidInputError(f"Status {status!r} cannot end a run; use one of {', '.join(TERMINAL)}.")
    start = _time("start_time", record.get("start_time")) or now_iso()
    info.update(id=run_id, experiment=names.validate_name("experiment", record.get("experiment", experiment)),
                name=names.validate_name("run", name) if name is not None else names.generate_run_name(),
                start_time=start, description=record.get("description"),
                parent=_parent(record.get("parent")))
    if record.get("user") is not None:
        info["user"] = str(record["user"])
    state = RunState(info)
    for key, text in clean_tags(record.get("tags") or {}).items():
        state.apply(["t", key, text])
    params = clean_params(record.get("params") or {})
    state.check_params(params)
    state.merge_params(params)
    end = _time("end_time", record.get("end_time")) or start
    default_ts = int(_dt.datetime.fromisoformat(end).timestamp() * 1000)
    for key, points in (record.get("metrics") or {}).items():
        names.validate_key("metric", key)
        state.add_points(key, _points(key, points, default_ts))
    for path, pointer in (record.get("artifacts") or {}).items():
        state.apply(["a", paths.check_tree_path(str(path), "Artifact path"), dict(pointer)])
    for input_name, entry in (record.get("inputs") or {}).items():
        state.apply(["i", str(input_name), dict(entry)])
    info.update(status=status, end_time=end)
    return state


def _parent(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and names.is_run_id(value)):
        return value
    raise InvalidInputError(f"A parent must be a run id (16 hex digits); got {value!r}.")


def _points(key: str, points: Any, default_ts: int) -> list[tuple[int, int, float]]:
    """A metric as one number (step 0), or points ``(step, timestamp ms, value)`` or
    mappings with ``step``, ``timestamp``, ``value``."""
    if isinstance(points, (int, float)) and not isinstance(points, bool):
        return [(0, default_ts, as_number(key, points))]
    if isinstance(points, (str, bytes)) or not isinstance(points, Iterable):
        raise InvalidInputError(f"Metric '{key}' must be a number or a list of (step, timestamp, "
                                f"value); got {type(points).__name__}.")
    if type(points) is list and _as_recorded(points):
        return points  # the common case, already as recorded: no further checks
    out = []
    for point in points:
        if isinstance(point, Mapping):
            point = (point.get("step", 0), point.get("timestamp", default_ts), point.get("value"))
        if not isinstance(point, Sequence) or len(point) != 3:
            raise InvalidInputError(f"A point of metric '{key}' must be (step, timestamp, value); "
                                    f"got {point!r}.")
        step, ts, value = point
        out.append((as_int("step", step), as_int("timestamp", ts), as_number(key, value)))
    return out


def _as_recorded(points: list[Any]) -> bool:
    """Whether every point is a tuple ``(int, int, float)``, checked at C speed."""
    if set(map(type, points)) != {tuple} or set(map(len, points)) != {3}:
        return False
    steps, stamps, values = zip(*points)
    return set(map(type, steps)) == {int} and set(map(type, stamps)) == {int} \
        and set(map(type, values)) == {float}


def _time(what: str, value: Any) -> str | None:
    """A time as run.yaml holds it (ISO-8601, UTC) from ISO text or epoch milliseconds."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return iso_from_ms(int(value))
    if isinstance(value, str):
        try:
            _dt.datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return value
    raise InvalidInputError(f"The {what} must be ISO-8601 text or epoch milliseconds; got {value!r}.")
