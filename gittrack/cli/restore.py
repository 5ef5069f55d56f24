"""``gittrack restore RUN...``: bring runs back from the trash."""

from __future__ import annotations

import click

from gittrack import api
from gittrack.sharing import trash


@click.command("restore")
@click.argument("runs", nargs=-1, required=True, metavar="RUN...")
def command(runs: tuple[str, ...]) -> None:
    """Bring each RUN (id, id prefix, EXPERIMENT/NAME or name) back from the trash.

    \b
    Example:
      gittrack restore 4b609412
    """
    store = api.open_store()
    for spec in runs:
        t = trash.restore_run(store, spec)
        click.echo(f"restored run {t.run_id} ({t.experiment}/{t.name})")
