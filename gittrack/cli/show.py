"""``gittrack show RUN``: the whole record of one run."""

from __future__ import annotations

import click

from gittrack import api
from gittrack.cli import render
from gittrack.core.records import dump_yaml
from gittrack.registry import references


@click.command("show")
@click.argument("run")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml",
              show_default=True, help="Output format.")
def command(run: str, fmt: str) -> None:
    """Show the whole record of RUN (an id, id prefix, EXPERIMENT/NAME or unique name, or
    a registry reference such as forecaster/prod, forecaster/v3 or models:/forecaster/prod).

    \b
    Example:
      gittrack show cost_center_forecasting/brisk-lamb-417
      gittrack show forecaster/prod
    """
    store = api.open_store()
    record = references.get(store, run)
    doc = {
        "run": record.info,
        "commit": record.commit,
        "params": record.params,
        "metrics": {k: {"value": m.value, "step": m.step, "timestamp": m.timestamp}
                    for k, m in record.metrics.items()},
        "artifacts": record.artifacts,
        "inputs": record.inputs,
    }
    if fmt == "json":
        click.echo(render.json_text(doc))
    else:
        click.echo(dump_yaml(doc, sort_keys=False).decode("utf-8").rstrip())
