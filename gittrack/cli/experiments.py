"""``gittrack experiments``: the experiments and how many runs each has."""

from __future__ import annotations

from collections import Counter

import click

from gittrack import api
from gittrack.cli import render
from gittrack.query.index import Index


@click.command("experiments")
@click.option("--format", "fmt", type=click.Choice(render.FORMATS), default="table",
              show_default=True, help="Output format.")
def command(fmt: str) -> None:
    """List experiments with their number of runs and latest start.

    \b
    Example:
      gittrack experiments --format json
    """
    table, found = Index(api.open_store()).runs()
    # Two columns of the index, not each run's whole summary; runs git cannot read are left
    # out (with a warning, by the index) as everywhere.
    rows = [r for r in found.tolist() if r not in table.damaged]
    experiments, starts = table.take("experiment", rows), table.take("start_time", rows)
    counts: dict[str, int] = dict(Counter(experiments))
    latest: dict[str, str] = {}
    for name, start in zip(experiments, starts):
        if start is not None and start > latest.get(name, ""):
            latest[name] = start
        latest.setdefault(name, "")
    headers = ["experiment", "runs", "latest_start"]
    rows = [[name, counts[name], latest[name]] for name in sorted(counts)]
    click.echo(render.rows_text(fmt, headers, rows, empty="No experiments yet."))
