"""``gittrack import mlflow --tracking-uri URI``: bring an MLflow store's history into git."""

from __future__ import annotations

import sys

import click

from gittrack.cli import render


@click.group("import")
def command() -> None:
    """Bring runs and models recorded by another tracker into this repository.

    \b
    Example:
      gittrack import mlflow --tracking-uri sqlite:///mlflow.db
    """


@command.command("mlflow")
@click.option("--tracking-uri", required=True, metavar="URI",
              help="The MLflow store: sqlite:///mlflow.db, file:///path/mlruns, a server URL.")
@click.option("--experiment", "experiments", multiple=True, metavar="NAME",
              help="Import only this experiment (repeat for more); default: all.")
@click.option("--json", "as_json", is_flag=True, help="Print what was imported as JSON.")
def mlflow_command(tracking_uri: str, experiments: tuple[str, ...], as_json: bool) -> None:
    """Copy an MLflow store's experiments, runs and registry into this repository.

    Runs keep their params, full metric histories (steps and timestamps), tags, status,
    times, parent runs, inputs and artifacts (into the cache); each run remembers its MLflow
    run id (run.yaml: mlflow_run_id), and its gittrack id is the first 16 digits of it.
    Registered versions become registry tags with MLflow's user and time; MLflow stages and
    aliases become stage promotions (Production -> prod, Staging -> staging). Running it
    again imports only what is new.

    \b
    Example:
      gittrack import mlflow --tracking-uri sqlite:///mlflow.db --experiment forecast
    """
    from gittrack import api  # lazy: the CLI loads commands on use
    from gittrack.compat.importer import import_mlflow  # lazy: the CLI loads commands on use

    bar = _ProgressBar() if sys.stderr.isatty() or not as_json else None
    report = import_mlflow(api.open_store(), tracking_uri, experiments,
                           bar.update if bar else None)
    if bar:
        bar.close()
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        click.echo(render.json_text(report.__dict__))
        return
    click.echo(f"Imported {report.experiments} experiment(s), {report.runs} run(s) "
               f"({report.metric_points} metric points, {report.artifacts} artifact files), "
               f"{report.versions} model version(s) and {report.stage_events} stage event(s); "
               f"{report.skipped_runs} run(s) were already here.")


class _ProgressBar:
    """One line on stderr per phase: ``runs  [#####     ] 512/1000``."""

    def __init__(self) -> None:
        self.phase = ""

    def update(self, phase: str, done: int, total: int) -> None:
        if phase != self.phase and self.phase:
            click.echo("", err=True)
        self.phase = phase
        width = 30
        filled = width * done // max(total, 1)
        click.echo(f"\r{phase:<7}[{'#' * filled}{' ' * (width - filled)}] {done}/{total}",
                   err=True, nl=False)

    def close(self) -> None:
        if self.phase:
            click.echo("", err=True)
