"""Metric series: every point of a run's metrics, the committed history plus a live run's journal.

The web UI draws these and ``gittrack plot`` writes them to files; both read through here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from gittrack import query
from gittrack.core import journal
from gittrack.core.store import Store


def jsonable(value: Any) -> Any:
    """``value`` with non-finite floats as the strings ``nan``, ``inf``, ``-inf`` (JSON has none)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def metric_series(store: Store, spec: str, keys: Sequence[str] | None = None
                  ) -> dict[str, Any]:
    """Every point of a run's metrics: ``{key: [[step, value, timestamp ms], ...]}``.

    For a run still training, the points logged since its last commit are read (read-only)
    from its journal, so curves move between the run's timed commits.
    """
    run = query.get(store, spec)
    wanted = list(keys) if keys else store.metric_keys(run.commit)
    series: dict[str, list[list[Any]]] = {
        k: [[s, v, t] for s, t, v in store.metric_history(run.commit, k)] for k in wanted}
    if run.status == "running":
        for key, points in _journal_points(store, run.id).items():
            if keys and key not in keys:
                continue
            have = series.setdefault(key, [])
            last = (have[-1][0], have[-1][2]) if have else None
            have.extend(p for p in points if last is None or (p[0], p[2]) > last)
    return dict(jsonable({"id": run.id, "name": run.name, "status": run.status,
                     "series": {k: series[k] for k in sorted(series)}}))


def _journal_points(store: Store, run_id: str) -> dict[str, list[list[Any]]]:
    path = store.repo.state_dir / "journal" / f"{run_id}.jsonl"
    try:
        _header, events = journal.read(path)
    except FileNotFoundError:
        return {}
    out: dict[str, list[list[Any]]] = {}
    for event in events:
        if event and event[0] == "m" and len(event) == 5:
            _m, key, value, step, ts = event
            out.setdefault(key, []).append([step, value, ts])
    return out


def many_series(store: Store, specs: Sequence[str], keys: Sequence[str] | None = None
                ) -> list[dict[str, Any]]:
    """:func:`metric_series` of several runs (for overlaid curves)."""
    return [metric_series(store, s, keys) for s in specs]
