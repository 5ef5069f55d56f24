"""``gittrack gate CANDIDATE``: pass or fail a candidate against prod, a baseline or a run."""

from __future__ import annotations

from pathlib import Path

import click

from gittrack import api
from gittrack.cli import render
from gittrack.core.errors import InvalidInputError
from gittrack.gates import gate, report

EXIT_FAIL = 1


@click.command("gate")
@click.argument("candidate")
@click.option("--against", metavar="REF",
              help="models:/NAME/STAGE, NAME/STAGE, 'baseline' or a run (default: the gate's "
                   "'against', else the candidate experiment's baseline).")
@click.option("--rule", "rules", multiple=True, metavar="RULE",
              help="A rule such as 'rmse <= ref * 1.02' or 'rmse <= +2%' (repeatable); replaces "
                   "the configured rules.")
@click.option("--gate", "name", metavar="NAME", help="The gate under 'gates:' in .gittrack/config.yaml.")
@click.option("--confidence", type=float, help="Confidence of the bootstrap interval (default 0.95).")
@click.option("--group-by", metavar="TAG", help="The tag that groups seeds (default gittrack.group).")
@click.option("--match", multiple=True, metavar="KEY",
              help="Compare only with reference runs that agree with the candidate on KEY "
                   "(e.g. params.test_month; repeatable).")
@click.option("--inconclusive", type=click.Choice(["pass", "fail"]),
              help="What a difference within the noise counts as (default pass).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "md"]), default="table",
              show_default=True, help="Output: a table, JSON, or a Markdown pull-request comment.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--chart", type=click.Path(dir_okay=False, path_type=Path), metavar="PNG",
              help="Also write a small chart of the metrics to PNG.")
@click.option("--chart-url", metavar="URL",
              help="Where the Markdown comment links the chart (default: the --chart path).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to a file instead of stdout.")
def command(candidate: str, against: str | None, rules: tuple[str, ...], name: str | None,
            confidence: float | None, group_by: str | None, match: tuple[str, ...],
            inconclusive: str | None, fmt: str, as_json: bool, chart: Path | None,
            chart_url: str | None, output: Path | None) -> int:
    """Compare CANDIDATE (a run and its seeds) with a reference by rules; exit 0 when every
    rule passes, 1 when one fails (or the runs cannot be found), 2 on a usage error.

    Runs that share the group tag (`gittrack run --repeat N` sets it) are compared as
    groups with a bootstrap interval; one run a side is reported as a single sample.

    \b
    Example:
      gittrack gate brisk-lamb-417 --against models:/forecaster/prod --rule 'rmse <= ref * 1.02'
      gittrack gate brisk-lamb-417 --format md --chart gate.png > comment.md
    """
    store = api.open_store()
    try:
        spec = gate.gate_spec(store, name, against).with_options(
            rules, confidence, group_by, match, inconclusive)
        if not spec.rules:
            raise InvalidInputError("The gate has no rules; pass --rule 'rmse <= ref * 1.02' or "
                                    "add them under 'gates:' in .gittrack/config.yaml.")
    except InvalidInputError as exc:
        raise click.UsageError(str(exc)) from exc
    result = gate.evaluate(store, candidate, against, spec)
    if chart is not None:
        report.write_chart(result, chart)
    fmt = "json" if as_json else fmt
    if fmt == "json":
        doc = result.to_dict()
        doc["chart"] = None if chart is None else str(chart)
        text = render.json_text(doc)
    elif fmt == "md":
        text = report.markdown(result, chart_url or (None if chart is None else str(chart)))
    else:
        text = report.text(result, render.table(report.HEADERS, report.rows(result)))
    if output is not None:
        output.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    else:
        click.echo(text.rstrip("\n"))
    return 0 if result.passed else EXIT_FAIL
