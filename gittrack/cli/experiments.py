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
    click.echo(render.rows_text(fmt, headers, rows, empty="No experiments yet."))
