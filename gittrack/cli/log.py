"""``gittrack log``: the runs, newest first (or as sorted), as a table or for scripts.

This command never imports pandas: filtering and sorting run on the summary index
(gittrack.query.search), so it stays instant at 100,000 runs.
"""

from __future__ import annotations

import math
from typing import Any

import click

from gittrack import api
from gittrack.cli import render
from gittrack.core.errors import InvalidInputError
from gittrack.core.records import ms_from_iso
from gittrack.query import baseline, search
from gittrack.query.index import Index

BASE_COLUMNS = ("id", "name", "experiment", "status", "start", "duration")
MAX_SHOWN = 12  # params and metrics columns in a table before the rest are left to --columns
# --columns names of run attributes -> summary key
ATTRIBUTE_CELLS = {
    "id": "id", "run_id": "id", "name": "name", "experiment": "experiment",
    "status": "status", "start": "start_time", "start_time": "start_time",
    "end": "end_time", "end_time": "end_time", "user": "user", "commit": "commit",
    "baseline_commit": "baseline", "parent_run_id": "parent",
}


@click.command("log")
@click.argument("experiment", required=False)
@click.option("-n", "limit", type=click.IntRange(min=1), help="Show at most N runs.")
@click.option("--where", "where", metavar="EXPR", default="",
              help="Only runs matching EXPR: MLflow's filter syntax plus OR, NOT and "
                   "parentheses, e.g. \"metrics.rmse < 400 AND params.model = 'rf'\".")
@click.option("--sort", "sort", metavar="KEY", multiple=True,
              help="Order by KEY ascending, or -KEY descending (repeatable); "
                   "default: newest first.")
@click.option("--columns", "columns", metavar="A,B,...",
              help="Show exactly these columns (id, name, status, start, duration, "
                   "metrics.K, params.K, tags.K, ...) instead of the ones that vary.")
@click.option("--baseline", "against", metavar="RUN",
              help="Show metric differences from RUN (a run, or a registry reference such as "
                   "forecaster/prod) instead of each experiment's baseline.")
@click.option("--format", "fmt", type=click.Choice(render.FORMATS), default="table",
              show_default=True, help="Output format.")
def command(experiment: str | None, limit: int | None, where: str, sort: tuple[str, ...],
            columns: str | None, against: str | None, fmt: str) -> None:
    """List runs, newest first, with the params and metrics that vary between them.

    When the experiment has a baseline (`gittrack baseline set RUN`), metrics show their
    difference from it: "0.41 (-0.02)" in tables, delta.metrics.K columns in CSV.

    \b
    Example:
      gittrack log cost_center_forecasting -n 10
      gittrack log --where "metrics.rmse < 400 AND params.model = 'rf'" --sort metrics.rmse -n 20
      gittrack log --format csv > runs.csv
      gittrack log cost_center_forecasting --where "metrics.rmse < 400" --baseline forecaster/prod
    """
    store = api.open_store()
    if experiment and experiment not in store.experiments():
        raise InvalidInputError(
            f"No experiment '{experiment}' in this repository; list them with "
            "`gittrack experiments`."
        )
    order = [_order_spec(part) for s in sort for part in s.split(",") if part.strip()]
    table, found = search.select(store, [experiment] if experiment else None, where, order,
                                 limit)
    for column, close in search.unknown_columns(table, where, order):
        hint = f"; did you mean {close}?" if close else ""
        click.echo(f"gittrack: warning: no run has {column}{hint}", err=True)
    rows = [table.summary(r) for r in found]
    bases = _baselines(store, rows) if against is None else _reference(store, rows, against)
    if fmt == "json" and not columns:
        click.echo(render.json_text([_with_delta(r, bases) for r in rows]))
        return
    wide = fmt in ("table", "md") and not columns
    chosen, more = _chosen_columns(rows, MAX_SHOWN if wide else None)
    if more:
        narrow = "" if experiment else "name an experiment, "
        click.echo(f"gittrack: {len(more)} more varying column(s) not shown ("
                   f"{', '.join(more[:4])}{', ...' if len(more) > 4 else ''}); {narrow}"
                   "pick them with --columns, or use --format csv.", err=True)
    headers, cells = log_table(rows, short_ids=fmt in ("table", "md"), columns=columns,
                               bases=bases, annotate=fmt in ("table", "md"), chosen=chosen)
    if fmt == "table":
        click.echo(render.table(headers, cells) if rows else
                   ("No runs match." if where else "No runs yet."))
    elif fmt == "md":
        click.echo(render.markdown(headers, cells))
    elif fmt == "json":
        click.echo(render.json_text([dict(zip(headers, row)) for row in cells]))
    else:
        click.echo(render.csv_text(headers, cells))


def _order_spec(text: str) -> str:
    text = text.strip()
    if text.startswith("-") and " " not in text:
        return f"{text[1:]} DESC"
    return text.removeprefix("+")


def log_table(rows: list[dict[str, Any]], short_ids: bool, columns: str | None = None,
              bases: dict[str, dict[str, Any]] | None = None, annotate: bool = False,
              chosen: list[str] | None = None) -> tuple[list[str], list[list[Any]]]:
    """Headers and cells: the base columns, then ``chosen`` params and metrics (default:
    all that vary), or exactly ``columns``.

    With ``bases`` (experiment -> baseline summary), metric cells carry their delta to the
    baseline as an annotation, or as extra ``delta.metrics.K`` columns.
    """
    bases = bases or {}
    if columns:
        headers = [c.strip() for c in columns.split(",") if c.strip()]
    else:
        headers = [*BASE_COLUMNS, *(_chosen_columns(rows, None)[0] if chosen is None
                                    else chosen)]
    getters = [_getter(h, short_ids) for h in headers]
    metric_cols = [h for h in headers if _metric_key(h) is not None] if bases else []
    out = []
    for r in rows:
        base = bases.get(r["experiment"])
        cells = [get(r) for get in getters]
        if base is not None and annotate:
            cells = [render.Annotated(v, _note(r, base, h)) if h in metric_cols else v
                     for h, v in zip(headers, cells)]
            if r["commit"] == base["commit"] and "name" in headers:
                cells[headers.index("name")] = f"{r['name']} (baseline)"
        elif not annotate:
            cells += [_delta(r, base, h) for h in metric_cols]
        out.append(cells)
    if not annotate:
        headers = headers + [f"delta.metrics.{_metric_key(h)}" for h in metric_cols]
    return headers, out


def _getter(header: str, short_ids: bool) -> Any:
    if header == "duration":
        return _duration
    if header in ("id", "run_id") and short_ids:
        return lambda r: r["id"][:8]
    if header in ("start", "end") and short_ids:
        key = ATTRIBUTE_CELLS[header]
        return lambda r: (r.get(key) or "")[:19].replace("T", " ")
    if header in ("start", "end"):
        key = ATTRIBUTE_CELLS[header]
        return lambda r: r.get(key) or ""
    if header in ATTRIBUTE_CELLS:
        key = ATTRIBUTE_CELLS[header]
        return lambda r: r.get(key)
    column = _column(header)
    section, _, key = column.partition(".")
    if section in ("params", "metrics", "tags") and key:
        return lambda r: r[section].get(key)
    attr = {v: k for k, v in ATTRIBUTE_CELLS.items()}.get(column)
    if attr is None:
        raise InvalidInputError(f"Unknown column '{header}'; use id, name, metrics.K, ...")
    return lambda r: r.get(ATTRIBUTE_CELLS[attr])


def _metric_key(header: str) -> str | None:
    if header in ATTRIBUTE_CELLS or header == "duration":
        return None
    column = _column(header)
    return column[len("metrics."):] if column.startswith("metrics.") else None


def _column(header: str) -> str:
    """The flat column a header names: ``metrics.val loss`` as is, ``rmse`` as a metric."""
    if header.startswith(("metrics.", "params.", "tags.")):
        return header
    return search.sort_key(header)[0]


def _delta(row: dict[str, Any], base: dict[str, Any] | None, header: str) -> float | None:
    key = _metric_key(header)
    if base is None or key is None:
        return None
    a, b = base["metrics"].get(key), row["metrics"].get(key)
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return None
    return b - a


def _note(row: dict[str, Any], base: dict[str, Any], header: str) -> str:
    delta = _delta(row, base, header)
    if delta is None or row["commit"] == base["commit"]:
        return ""
    return f"{delta:+.4g}" if math.isfinite(delta) else repr(delta)


def _baselines(store: Any, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """experiment -> summary of its baseline run, for the experiments shown."""
    marked = baseline.baselines(store)
    wanted = {r["experiment"]: marked[r["experiment"]] for r in rows
              if r["experiment"] in marked}
    if not wanted:
        return {}
    table, found = Index(store).table(list(wanted.values()))
    return {exp: table.summary(r) for exp, r in zip(wanted, found)}


def _reference(store: Any, rows: list[dict[str, Any]], spec: str) -> dict[str, dict[str, Any]]:
    """experiment -> summary of the run ``spec`` names, for every experiment shown."""
    from gittrack.registry import references  # lazy: only --baseline needs the registry

    commit = references.resolve(store, spec).commit
    table, found = Index(store).table([commit])
    summary = table.summary(found[0])
    return {r["experiment"]: summary for r in rows}


def _with_delta(row: dict[str, Any], bases: dict[str, dict[str, Any]]) -> dict[str, Any]:
    base = bases.get(row["experiment"])
    if base is None:
        return row
    deltas = {k: _delta(row, base, f"metrics.{k}") for k in row["metrics"]}
    return {**row, "vs_baseline": {"run": base["id"], "commit": base["commit"],
                                   "metrics": deltas}}


def _chosen_columns(rows: list[dict[str, Any]], limit: int | None) -> tuple[list[str], list[str]]:
    """The params and metrics columns that vary, and those left out beyond ``limit``: the
    ones most runs have are kept, params and metrics sharing the room."""
    params = [f"params.{k}" for k in _varying(rows, "params")]
    metrics = [f"metrics.{k}" for k in _varying(rows, "metrics")]
    if limit is None or len(params) + len(metrics) <= limit:
        return [*params, *metrics], []

    def most_held(columns: list[str]) -> list[str]:
        held = {c: sum(1 for r in rows if c.partition(".")[2] in r[c.partition(".")[0]])
                for c in columns}
        return sorted(columns, key=lambda c: (-held[c], c))

    params, metrics = most_held(params), most_held(metrics)
    n_metrics = min(len(metrics), max(limit // 2, limit - len(params)))
    n_params = min(len(params), limit - n_metrics)
    kept = set(params[:n_params]) | set(metrics[:n_metrics])
    shown = [c for c in (*sorted(params), *sorted(metrics)) if c in kept]
    return shown, [c for c in (*params, *metrics) if c not in kept]


def _varying(rows: list[dict[str, Any]], section: str) -> list[str]:
    keys: dict[str, set[str]] = {}
    for r in rows:
        for k, v in r[section].items():
            keys.setdefault(k, set()).add(repr(v))
    present = {k for k in keys if all(k in r[section] for r in rows)}
    return sorted(k for k, vals in keys.items() if len(vals) > 1 or k not in present
                  or len(rows) == 1)


def _duration(row: dict[str, Any]) -> float | None:
    start, end = ms_from_iso(row.get("start_time")), ms_from_iso(row.get("end_time"))
    if start is None or end is None:
        return None
    return round((end - start) / 1000, 1)
