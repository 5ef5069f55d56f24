"""``gittrack baseline``: mark, show and clear the run an experiment is compared with."""

from __future__ import annotations

import click

from gittrack import api
from gittrack.cli import render
from gittrack.query import baseline
from gittrack.registry import references


@click.group("baseline")
def command() -> None:
    """Mark the baseline run of an experiment (a git ref, shared by push and pull).

    `gittrack log` then shows each metric's difference from the baseline, and
    `gittrack diff RUN` compares RUN with it.

    \b
    Example:
      gittrack baseline set cost_center_forecasting/brisk-lamb-417
    """


@command.command("set")
@click.argument("run")
def set_command(run: str) -> None:
    """Make RUN (or a registry reference such as forecaster/prod) the baseline of its
    experiment.

    \b
    Example:
      gittrack baseline set brisk-lamb-417
      gittrack baseline set forecaster/prod
    """
    store = api.open_store()
    experiment, commit = baseline.set_baseline_commit(store, references.resolve(store, run).commit)
    record = store.read_run(commit)
    click.echo(f"Baseline of '{experiment}' is now {record.id} ({record.name}).")


@command.command("show")
@click.argument("experiment", required=False)
@click.option("--format", "fmt", type=click.Choice(render.FORMATS), default="table",
              show_default=True, help="Output format.")
def show_command(experiment: str | None, fmt: str) -> None:
    """Show the baseline of EXPERIMENT, or of every experiment that has one.

    \b
    Example:
      gittrack baseline show cost_center_forecasting
    """
    store = api.open_store()
    marked = baseline.baselines(store)
    if experiment is not None:
        marked = {experiment: baseline.require_baseline(store, experiment)}
    headers = ["experiment", "id", "name", "status", "commit"]
    rows = []
    for exp, commit in marked.items():
        run = store.read_run(commit)
        rows.append([exp, run.id, run.name, run.status, commit])
    click.echo(render.rows_text(fmt, headers, rows, empty="No baselines yet."))


@command.command("clear")
@click.argument("experiment")
def clear_command(experiment: str) -> None:
    """Remove the baseline of EXPERIMENT.

    \b
    Example:
      gittrack baseline clear cost_center_forecasting
    """
    store = api.open_store()
    if baseline.clear_baseline(store, experiment):
        click.echo(f"Cleared the baseline of '{experiment}'.")
    else:
        click.echo(f"Experiment '{experiment}' had no baseline.")
