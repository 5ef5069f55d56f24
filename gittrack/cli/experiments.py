"""``gittrack experiments``: the experiments and how many runs each has."""

from __future__ import annotations

import click

from gittrack import api
from gittrack.cli import render
from gittrack.query import search


@click.command("experiments")
@click.option("--format", "fmt", type=click.Choice(render.FORMATS), default="table",
              show_default=True, help="Output format.")
def command(fmt: str) -> None:
    """List experiments with their number of runs and latest start.

    \b
    Example:
      gittrack experiments --format json
    """
    table, found = search.select(api.open_store())
    # Two columns of the index, not each run's whole summary.
    experiments, starts = table.column("experiment"), table.column("start_time")
    counts: dict[str, int] = {}
    latest: dict[str, str] = {}
    for r in found:
        name = experiments[r]
        counts[name] = counts.get(name, 0) + 1
        latest[name] = max(latest.get(name, ""), starts[r] or "")
    headers = ["experiment", "runs", "latest_start"]
    rows = [[name, counts[name], latest[name]] for name in sorted(counts)]
    click.echo(render.rows_text(fmt, headers, rows, empty="No experiments yet."))
