"""A model's monitoring page: error and drift of its monitoring runs over time, version
changes, and one batch's drift report.

Monitoring runs are ordinary runs of the experiment ``<model>/monitoring`` (written by
``gittrack monitor``); their params name the serving version and their ``drift.json``
artifact holds the report (docs/monitoring.md). This module only reads them.
"""

from __future__ import annotations

import json
from typing import Any

from gittrack import query
from gittrack.core.errors import GittrackError
from gittrack.core.store import Store
from gittrack.query.series import jsonable
from gittrack.ui import previews

MAX_REPORT = 20_000_000
DRIFT_PREFIX = "drift/"


def monitoring(store: Store, model: str) -> dict[str, Any]:
    """The model's monitoring runs in step order, the metric keys, and where the version
    changed: ``{model, experiment, runs, errors, drift, changes}``."""
    experiment = f"{model}/monitoring"
    runs: list[dict[str, Any]] = []
    for commit in store.refs(experiment).values():
        run = store.read_run(commit)
        steps = [m.step for m in run.metrics.values()]
        runs.append({
            "id": run.id, "name": run.name, "status": run.status,
            "step": max(steps) if steps else None,
            "start_time": run.info.get("start_time"),
            "version": run.params.get("version"), "stage": run.params.get("stage"),
            "batch": run.params.get("batch"), "rows": run.params.get("rows"),
            "metrics": {k: m.value for k, m in sorted(run.metrics.items())},
            "alert": run.tags.get("alert"), "rollback_to": run.tags.get("rollback_to")})
    runs.sort(key=lambda r: (r["step"] is None, r["step"] or 0, r["start_time"] or ""))
    keys = sorted({k for r in runs for k in r["metrics"]})
    changes = [{"step": after["step"], "version": after["version"]}
               for before, after in zip(runs, runs[1:]) if after["version"] != before["version"]]
    return dict(jsonable({
        "model": model, "experiment": experiment, "runs": runs, "changes": changes,
        "errors": [k for k in keys if not k.startswith(DRIFT_PREFIX)],
        "drift": [k for k in keys if k.startswith(DRIFT_PREFIX)]}))


def drift_report(store: Store, spec: str) -> dict[str, Any]:
    """The ``drift.json`` report a monitoring run stored."""
    run = query.get(store, spec)
    data, _name, truncated = previews.read_bytes(store, run.id, "drift.json", None, MAX_REPORT)
    if truncated:
        raise GittrackError(f"The drift report of run {run.id} is larger than 20 MB.")
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise GittrackError(f"The drift report of run {run.id} is not valid JSON ({exc}).") from exc
    if not isinstance(doc, dict):
        raise GittrackError(f"The drift report of run {run.id} is not a JSON object; it was not "
                            "written by `gittrack monitor` or `gittrack drift --json`.")
    return dict(jsonable({**doc, "run": run.id, "name": run.name}))
