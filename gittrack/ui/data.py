"""The JSON payloads of the web UI, built from the library functions the CLI calls.

Every function takes a :class:`~gittrack.core.store.Store` and returns plain data; the web layer
(:mod:`gittrack.ui.app`) only parses requests and serialises these. Reading never executes
anything from the repository: records are safe-loaded YAML, models are described by their
``model.yaml`` only (never unpickled), and artifact bytes come through the verified cache.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from gittrack import query
from gittrack.core import journal
from gittrack.core.errors import InvalidInputError
from gittrack.core.records import Run, flatten, ms_from_iso
from gittrack.core.store import Store
from gittrack.query import baseline, diff, direction, search
from gittrack.query.index import ATTRIBUTES, Index, Table
from gittrack.query.series import jsonable, many_series, metric_series  # noqa: F401 - the UI's payloads

PAGE_LIMIT_MAX = 500
DEFAULT_METRICS, DEFAULT_PARAMS = 8, 8
# Columns of the runs table that are run attributes (the rest are metrics./params./tags.).
ATTRIBUTE_COLUMNS = ("name", "status", "start_time", "duration", "user", "run_id", "end_time")
SORTABLE_ATTRIBUTES = ("name", "status", "start_time", "end_time", "user", "run_id")


# -- experiments --------------------------------------------------------------------------
def experiments(store: Store) -> list[dict[str, Any]]:
    """Every experiment with its run count, running count, newest start and baseline."""
    refs = store.refs()
    table, rows = Index(store).table(list(refs.values()), complete=True)
    exps, statuses, starts = (table.column(c) for c in ("experiment", "status", "start_time"))
    marked = baseline.baselines(store)
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r in table.damaged:
            continue
        item = out.setdefault(exps[r], {"name": exps[r], "runs": 0, "running": 0,
                                        "last_start": None, "baseline": None})
        item["runs"] += 1
        item["running"] += statuses[r] == "running"
        if starts[r] and (item["last_start"] is None or starts[r] > item["last_start"]):
            item["last_start"] = starts[r]
    for name, item in out.items():
        if name in marked:
            item["baseline"] = marked[name]
    return sorted(out.values(), key=lambda e: e["last_start"] or "", reverse=True)


# -- the runs table -----------------------------------------------------------------------
def runs_page(store: Store, experiment: str, where: str = "", order: str = "",
              offset: int = 0, limit: int = 50, columns: Sequence[str] | None = None
              ) -> dict[str, Any]:
    """One page of an experiment's runs, filtered and sorted on the server (gittrack.query.search).

    ``where`` is the filter grammar of ``gittrack log --where``; a malformed one raises
    FilterError. ``order`` is ``"metrics.rmse DESC"`` or empty (newest first).
    """
    if limit < 1 or limit > PAGE_LIMIT_MAX or offset < 0:
        raise InvalidInputError(f"Paging takes 0 <= offset and 1 <= limit <= {PAGE_LIMIT_MAX}.")
    table, all_rows = search.select(store, [experiment])
    if not all_rows:
        if experiment not in store.experiments():
            raise LookupError(f"No experiment '{experiment}'; see the experiments page.")
    table, rows = search.select(store, [experiment], where, [order] if order else None)
    available = available_columns(table, all_rows)
    shown = [c for c in columns if c in available or c in ATTRIBUTE_COLUMNS] if columns \
        else default_columns(table, all_rows, available)
    base = _baseline_summary(store, experiment)
    page = [table.summary(r) for r in rows[offset: offset + limit]]
    return dict(jsonable({
        "experiment": experiment, "total": len(rows), "all": len(all_rows),
        "offset": offset, "limit": limit, "order": order, "where": where,
        "columns": shown, "available": available,
        "baseline": None if base is None else {"id": base["id"], "name": base["name"],
                                               "commit": base["commit"]},
        "rows": [table_row(s, shown, base) for s in page],
        "better": {f"metrics.{k}": v for k, v in direction.directions(
            store.repo, [c.partition(".")[2] for c in shown if c.startswith("metrics.")]).items()},
    }))


def available_columns(table: Table, rows: Sequence[int]) -> list[str]:
    """Attribute columns, then the metrics, params and tags that some of ``rows`` have."""
    names = set(table.names()) - set(ATTRIBUTES.values())
    found: list[str] = []
    for section in ("metrics", "params", "tags"):
        for name in sorted(n for n in names if n.startswith(section + ".")):
            column = table.column(name)
            if any(column[r] is not None for r in rows):
                found.append(name)
    return [*ATTRIBUTE_COLUMNS, *found]


def default_columns(table: Table, rows: Sequence[int], available: Sequence[str]) -> list[str]:
    """name, status, start, duration, the first metrics, and the params that vary."""
    metrics = [c for c in available if c.startswith("metrics.")][:DEFAULT_METRICS]
    params = []
    for name in (c for c in available if c.startswith("params.")):
        column = table.column(name)
        seen: set[str] = set()
        for r in rows:
            seen.add(repr(column[r]))
            if len(seen) > 1 or len(rows) == 1:
                params.append(name)
                break
    return ["name", "status", "start_time", "duration", *params[:DEFAULT_PARAMS], *metrics]


def table_row(summary: dict[str, Any], columns: Iterable[str],
              base: dict[str, Any] | None) -> dict[str, Any]:
    """A row of the runs table: the cells of ``columns`` and metric deltas to the baseline."""
    values: dict[str, Any] = {}
    delta: dict[str, Any] = {}
    for col in columns:
        values[col] = cell(summary, col)
        section, _, key = col.partition(".")
        if section == "metrics" and base is not None and summary["commit"] != base["commit"]:
            a, b = base["metrics"].get(key), summary["metrics"].get(key)
            if isinstance(a, (int, float)) and isinstance(b, (int, float)):
                delta[col] = b - a
    return {"id": summary["id"], "name": summary["name"], "status": summary["status"],
            "commit": summary["commit"], "values": values, "delta": delta,
            "baseline": base is not None and summary["commit"] == base["commit"]}


def cell(summary: dict[str, Any], column: str) -> Any:
    """The value of one column of a run summary (None when the run has none)."""
    if column == "duration":
        return duration(summary)
    if column == "run_id":
        return summary["id"]
    section, _, key = column.partition(".")
    if section in ("metrics", "params", "tags") and key:
        return summary[section].get(key)
    return summary.get(column)


def duration(summary: dict[str, Any]) -> float | None:
    """Seconds between start and end (None while running)."""
    start, end = ms_from_iso(summary.get("start_time")), ms_from_iso(summary.get("end_time"))
    return None if start is None or end is None else round((end - start) / 1000, 1)


def _baseline_summary(store: Store, experiment: str) -> dict[str, Any] | None:
    commit = baseline.get_baseline(store, experiment)
    if commit is None:
        return None
    table, rows = Index(store).table([commit])
    return table.summary(rows[0])


# -- one run ------------------------------------------------------------------------------
INFO_KEYS = ("start_time", "end_time", "user", "host", "command", "baseline", "dirty",
             "untracked", "python", "platform", "parent", "description", "branch")


def run_detail(store: Store, spec: str) -> dict[str, Any]:
    """Everything the run page shows except curves, artifacts' content and the code diff."""
    run = query.get(store, spec)
    return dict(jsonable({
        "id": run.id, "name": run.name, "experiment": run.experiment, "status": run.status,
        "commit": run.commit, "live": is_live(store, run),
        "info": {k: run.info.get(k) for k in INFO_KEYS if run.info.get(k) is not None},
        "duration": duration(run.summary()),
        "params": flatten(run.params),
        "metrics": {k: {"value": m.value, "step": m.step, "timestamp": m.timestamp}
                    for k, m in sorted(run.metrics.items())},
        "metric_keys": store.metric_keys(run.commit), "tags": run.tags,
        "inputs": run.inputs, "artifacts": run.artifacts,
        "packages": run.info.get("packages") or {},
    }))


def is_live(store: Store, run: Run) -> bool:
    """Whether a process is recording ``run`` right now (it holds the run's journal)."""
    return run.status == "running" and journal.is_live(store.repo.state_dir / "journal", run.id)


def code_diff(store: Store, spec: str, max_chars: int = 400_000) -> dict[str, Any]:
    """The code the run changed against its baseline commit, as git's patch (record excluded)."""
    run = query.get(store, spec)
    base = run.baseline
    if not base:
        return {"baseline": None, "files": [], "patch": "", "truncated": False}
    entries = diff.code_entries(store, [base, run.commit])
    patch = diff.code_patch(store, base, run.commit)
    return {"baseline": base, "files": [{"path": e["key"], "change": e["change"]}
                                        for e in entries],
            "patch": patch[:max_chars], "truncated": len(patch) > max_chars}


def compare(store: Store, specs: Sequence[str]) -> dict[str, Any]:
    """The comparison of 2..N runs: diff.compare with every key, plus each run's summary."""
    if not 2 <= len(specs) <= 20:
        raise InvalidInputError("Compare takes 2 to 20 runs.")
    runs = [query.get(store, s) for s in specs]
    doc = diff.compare(store, runs, all_keys=True)
    doc["summaries"] = [{**r.summary(), "duration": duration(r.summary())} for r in runs]
    return dict(jsonable(doc))
