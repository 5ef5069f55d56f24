"""``gittrack doctor``: check the repository's gittrack state and repair what is safe to."""

from __future__ import annotations

import click

from gittrack import api
from gittrack.cli import render
from gittrack.sharing import doctor


@click.command("doctor")
@click.option("--check", "check_only", is_flag=True,
              help="Only report what is wrong; change nothing.")
@click.option("--remote", metavar="REMOTE",
              help="Fetch objects a run is missing from REMOTE (default: origin, if any).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def command(ctx: click.Context, check_only: bool, remote: str | None, as_json: bool) -> None:
    """Check and repair what crashes and killed commands leave behind.

    Looks at the summary index, noted summaries, registry caches and the cache-state
    database (verified in full, rebuilt from git when damaged); run records whose git
    objects are missing (fetched again from REMOTE when it has them); runs whose process
    died (ended as crashed); mirrors of killed pushes; lock files older than 10 minutes.
    Exits 0 when nothing is left wrong, 1 otherwise.

    \b
    Example:
      gittrack doctor --check && gittrack doctor --json
    """
    report = doctor.examine(api._store(), repair=not check_only, remote=remote)
    if as_json:
        click.echo(render.json_text(report.to_dict()))
    else:
        for f in report.findings:
            state = "fixed" if f.repaired else "problem"
            click.echo(f"{state:8} {f.check}: {f.problem}"
                       + (f"; {f.action}" if f.action and not f.repaired else ""))
        checked = ", ".join(f"{n} {what}" for what, n in report.checked.items())
        verdict = "healthy" if report.healthy else "problems remain"
        if not report.findings:
            verdict = "nothing wrong"
        click.echo(f"gittrack doctor: {verdict} (checked {checked}).")
    ctx.exit(0 if report.healthy else 1)
