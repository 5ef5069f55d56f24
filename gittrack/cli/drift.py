"""``gittrack drift REFERENCE CURRENT``: which columns drifted, and whether the dataset did.

Exit 0 when the dataset did not drift, 1 when it did (or on an error, said on stderr), 2 on a
usage error: cron jobs and CI can act on it.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from gittrack.cli import render
from gittrack.core.errors import NotARepositoryError
from gittrack.core.store import Store

FORMATS = ("table", "json", "md")


@click.command("drift")
@click.argument("reference")
@click.argument("current")
@click.option("--input", "input_name", metavar="NAME",
              help="The input of a run (or model version) to use when it read several.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="Output format.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--html", "html_path", metavar="FILE.html",
              help="Also write an HTML report with each column's distributions overlaid.")
def command(reference: str, current: str, input_name: str | None, fmt: str, as_json: bool,
            html_path: str | None) -> int:
    """Compare CURRENT data with REFERENCE data, column by column, from their profiles.

    REFERENCE is a run, models:/NAME/STAGE (the training data of the version in that stage,
    found through the registry), a data file or a profile; CURRENT a data file, a directory
    of `gittrack serve --log-requests` Parquet logs, or a profile. Each column gets the test
    Evidently would choose (KS or chi-squared up to 1,000 reference rows, normalized
    Wasserstein or Jensen-Shannon above) and PSI; thresholds come from `drift:` in
    .gittrack/config.yaml. Exit 0: no dataset drift; 1: drift.

    \b
    Example:
      gittrack drift models:/forecaster/prod data/june.csv
      gittrack drift train.parquet requests/ --html drift.html
    """
    from gittrack.monitoring import (  # lazy: `gittrack --help` loads every command
        drift,
        report,
        sources,
    )

    store = _store()
    ref = sources.load(reference, store, input_name)
    cur = sources.load(current, store)
    result = drift.compare(ref.profile, cur.profile,
                           drift.settings_for(store.repo if store else None))
    result.reference = {"label": ref.label, **ref.source, "rows": ref.profile.rows}
    result.current = {"label": cur.label, **cur.source, "rows": cur.profile.rows}
    if html_path:
        Path(html_path).write_text(report.render_html(result, f"Drift: {current} vs {reference}"),
                                   encoding="utf-8")
    if as_json or fmt == "json":
        click.echo(json.dumps(result.to_dict(display=False), indent=2, default=str))
    elif fmt == "md":
        click.echo(report.markdown(result), nl=False)
    else:
        click.echo(f"reference: {ref.label} ({ref.profile.rows:,} rows)")
        click.echo(f"current:   {cur.label} ({cur.profile.rows:,} rows)")
        click.echo(render.table(report.HEADERS, report.rows(result)))
        click.echo(report.summary(result))
    if html_path and not (as_json or fmt == "json"):
        click.echo(f"Wrote {html_path}.")
    return 1 if result.dataset_drift else 0


def _store() -> Store | None:
    from gittrack import api  # lazy: `gittrack --help` loads every command

    try:
        return api.open_store()
    except NotARepositoryError:
        return None
