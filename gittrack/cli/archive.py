"""``gittrack archive``: fold finished runs' refs into one archive ref per experiment."""

from __future__ import annotations

import click

from gittrack import api
from gittrack.sharing import archive


@click.command("archive")
@click.argument("experiments", nargs=-1, metavar="[EXPERIMENT]...")
@click.option("--older-than", "days", type=click.FloatRange(min=0), required=True,
              metavar="DAYS", help="Fold runs that ended more than DAYS days ago (0: every "
                                   "ended run).")
@click.option("-n", "--dry-run", is_flag=True, help="Print what would be folded; change nothing.")
def command(experiments: tuple[str, ...], days: float, dry_run: bool) -> None:
    """Fold the refs of runs that ended more than DAYS ago into one ref per experiment.

    Each EXPERIMENT (default: every experiment) keeps one ref,
    refs/gittrack/archive/<experiment>, for all its archived runs, so git's own work (push,
    fetch, pack-refs) no longer grows with them. Archived runs stay readable, resolvable by
    id, searchable and pushable, exactly as before; a run changed later (resumed, tagged) gets
    its own ref back. Running and live runs are never folded.

    \b
    Example:
      gittrack archive --older-than 90 --dry-run && gittrack archive --older-than 90
    """
    results = archive.archive_experiments(api.open_store(), days, experiments, dry_run=dry_run)
    verb = "would fold" if dry_run else "folded"
    for r in results:
        moved = f"; {r.moved} changed meanwhile and keep their ref" if r.moved else ""
        click.echo(f"{r.experiment}: {verb} {r.folded} run(s) into {r.ref} ({r.total} in all); "
                   f"{r.stay} stay as refs{moved}")
    if not results:
        click.echo("No experiment has run refs to fold.")
