"""``gittrack monitor MODEL_URI --data BATCH``: record a monitoring run (docs/monitoring.md).

Exit 1 when a threshold of ``monitoring:`` in .gittrack/config.yaml is crossed, naming the
version to roll back to, so a scheduled job can page someone or roll back itself.
"""

from __future__ import annotations

import json

import click

from gittrack.cli import render


@click.command("monitor")
@click.argument("model_uri")
@click.option("--data", "data", required=True, metavar="BATCH",
              help="The production batch: a CSV, TSV or Parquet file, or a directory of "
                   "`gittrack serve --log-requests` logs.")
@click.option("--target", metavar="COLUMN",
              help="The column of actual values; error metrics need it.")
@click.option("--name", metavar="LABEL", help="The batch's label in the run name "
              "(default: the file name), e.g. 2025-06.")
@click.option("--step", type=int, metavar="N",
              help="The step of the run's metrics (default: the number of the batch).")
@click.option("--input", "input_name", metavar="NAME",
              help="The training input to compare with, when the training run read several.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def command(model_uri: str, data: str, target: str | None, name: str | None, step: int | None,
            input_name: str | None, as_json: bool) -> int:
    """Score a production batch with a registered model and record it as a monitoring run.

    The run goes to the experiment <model>/monitoring with the serving version, the batch's
    data version and profile, drift per column against the version's training data and,
    with --target, the error metrics its training run logged. `gittrack log`, `plot` and
    `diff` work on these runs as on any other.

    \b
    Example:
      gittrack monitor models:/forecaster/prod --data data/2025-06.csv --target hours
      gittrack monitor models:/forecaster/prod --data requests/ --name 2025-06
    """
    from gittrack.monitoring import report  # lazy: `gittrack --help` loads every command
    from gittrack.monitoring.runs import monitor  # lazy: the registry and models load there

    result = monitor(model_uri, data, target, name=name, step=step, input_name=input_name)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        click.echo(f"Recorded {result.run_name} ({result.run_id}) in {result.experiment}, "
                   f"step {result.step}: {result.model} v{result.version}"
                   + (f" ({result.stage})" if result.stage else "") + ".")
        shown = {k: v for k, v in result.metrics.items() if not k.startswith("drift/")}
        if shown:
            click.echo("errors: " + "  ".join(f"{k}={render.cell(v)}" for k, v in shown.items()))
        click.echo("drift: " + report.summary(result.drift))
    for alert in result.alerts:
        click.echo(f"gittrack: alert: {alert}", err=True)
    if result.alerts:
        if result.rollback_to is not None:
            click.echo(f"gittrack: roll back to v{result.rollback_to}: "
                       f"gittrack rollback {result.model} {result.stage}", err=True)
        else:
            click.echo("gittrack: no earlier version of this stage to roll back to.", err=True)
        return 1
    return 0
