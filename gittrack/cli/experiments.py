"""``gittrack experiments``: the experiments and how many runs each has."""

from __future__ import annotations

import click

from gittrack import api, query
from gittrack.cli import render


@click.command("experiments")
@click.option("--format", "fmt", type=click.Choice(render.FORMATS), default="table",
              show_default=True, help="Output format.")
def command(fmt: str) -> None:
    """List experiments with their number of runs and latest start.

    \b
    Example:
      gittrack experiments --format json
    """
    store = api.open_store()
    stats: dict[str, list[object]] = {}
    for row in query.summaries(store):
        entry = stats.setdefault(row["experiment"], [row["experiment"], 0, row["start_time"]])
        entry[1] = int(str(entry[1])) + 1
    headers = ["experiment", "runs", "latest_start"]
    rows = sorted(stats.values(), key=lambda r: str(r[0]))
    if fmt == "json":
        click.echo(render.json_text([dict(zip(headers, r)) for r in rows]))
    elif fmt == "csv":
        click.echo(render.csv_text(headers, rows))
    elif fmt == "md":
        click.echo(render.markdown(headers, rows))
    else:
        click.echo(render.table(headers, rows) if rows else "No experiments yet.")
