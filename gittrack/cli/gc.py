"""``gittrack gc``: empty old trash and free cache objects that nothing references."""

from __future__ import annotations

import click

from gittrack import api
from gittrack.sharing import trash


@click.command("gc")
@click.option("-n", "--dry-run", is_flag=True, help="Print what would be freed; change nothing.")
@click.option("--trash-older-than", "days", type=click.FloatRange(min=0), metavar="DAYS",
              help="Empty trash deleted more than DAYS ago (default: trash_days in "
                   ".gittrack/config.yaml, else 30).")
def command(dry_run: bool, days: float | None) -> None:
    """Delete cache objects that no run, trashed run, tag or live run references.

    Runs in the trash longer than the limit are emptied first; copies that load_model made
    of models nothing references any more go too. Every freed object is
    printed; a dry run prints exactly what the real run would free.

    \b
    Example:
      gittrack gc --dry-run && gittrack gc --trash-older-than 7
    """
    result = trash.gc(api.open_store(), days, dry_run=dry_run)
    verb = "would " if dry_run else ""
    for t in result.emptied:
        when = t.deleted.isoformat() if t.deleted else "?"
        click.echo(f"{verb}empty trash  {t.run_id}  {t.experiment}/{t.name}  deleted {when}")
    for oid in result.objects:
        click.echo(f"{verb}free  {oid}")
    for md5 in result.model_copies:
        click.echo(f"{verb}remove model copy  {md5}")
    size = result.report.bytes
    copies = (f"; {len(result.model_copies)} unused model copy(ies), "
              f"{_human(result.model_bytes)}" if result.model_copies else "")
    click.echo(f"{'Would free' if dry_run else 'Freed'} {result.report.objects} object(s), "
               f"{size} bytes ({_human(size)}); {len(result.emptied)} run(s) emptied from the trash"
               f"{copies}.")
    if result.younger:
        limit = "the limit" if days is None else f"{days:g} day(s)"
        click.echo(f"{result.younger} run(s) stay in the trash, deleted less than {limit} ago "
                   "(trash_days in .gittrack/config.yaml, default 30); `--trash-older-than 0` "
                   "empties them now.", err=True)


def _human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} TB"
