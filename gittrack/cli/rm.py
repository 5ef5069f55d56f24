"""``gittrack rm RUN...``: move runs to the trash (``gittrack restore`` brings them back)."""

from __future__ import annotations

import click

from gittrack import api
from gittrack.sharing import trash


@click.command("rm")
@click.argument("runs", nargs=-1, required=True, metavar="RUN...")
def command(runs: tuple[str, ...]) -> None:
    """Move each RUN to the trash (refs/gittrack/trash/); its artifacts stay in the cache.

    `gittrack gc` empties trash older than `trash_days` (default 30) of .gittrack/config.yaml.

    \b
    Example:
      gittrack rm brisk-lamb-417 && gittrack restore brisk-lamb-417
    """
    store = api.open_store()
    for spec in runs:
        t = trash.trash_run(store, spec)
        click.echo(f"moved run {t.run_id} ({t.experiment}/{t.name}) to the trash; "
                   f"`gittrack restore {t.run_id}` brings it back")
