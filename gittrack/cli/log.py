"""``gittrack log``: the runs, newest first, as a table or for scripts."""

from __future__ import annotations

from typing import Any

import click

from gittrack import api, query
from gittrack.cli import render
from gittrack.records import ms_from_iso

BASE_COLUMNS = ("id", "name", "experiment", "status", "start", "duration")


@click.command("log")
@click.argument("experiment", required=False)
@click.option("-n", "limit", type=click.IntRange(min=1), help="Show at most N runs.")
@click.option("--format", "fmt", type=click.Choice(render.FORMATS), default="table",
              show_default=True, help="Output format.")
def command(experiment: str | None, limit: int | None, fmt: str) -> None:
    """List runs, newest first, with the params and metrics that vary between them.

    \b
    Example:
      gittrack log cost_center_forecasting -n 10
      gittrack log --format csv > runs.csv
    """
    store = api.open_store()
    rows = query.summaries(store, experiment)
    if limit is not None:
        rows = rows[:limit]
    if fmt == "json":
        click.echo(render.json_text(rows))
        return
    headers, table_rows = log_table(rows, short_ids=fmt in ("table", "md"))
    if fmt == "table":
        click.echo(render.table(headers, table_rows) if rows else "No runs yet.")
    elif fmt == "md":
        click.echo(render.markdown(headers, table_rows))
    else:
        click.echo(render.csv_text(headers, table_rows))


def log_table(rows: list[dict[str, Any]], short_ids: bool) -> tuple[list[str], list[list[Any]]]:
    """Headers and cells: the base columns, then params and metrics that vary."""
    params = _varying(rows, "params")
    metrics = _varying(rows, "metrics")
    headers = [*BASE_COLUMNS, *(f"params.{k}" for k in params), *(f"metrics.{k}" for k in metrics)]
    out = []
    for r in rows:
        start = r.get("start_time") or ""
        cells: list[Any] = [
            r["id"][:8] if short_ids else r["id"], r["name"], r["experiment"], r["status"],
            start[:19].replace("T", " ") if short_ids else start, _duration(r),
        ]
        cells += [r["params"].get(k) for k in params]
        cells += [r["metrics"].get(k) for k in metrics]
        out.append(cells)
    return headers, out


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
