"""``gittrack remote setup [REMOTE]``: let plain git fetch and push carry runs."""

from __future__ import annotations

import click

from gittrack import api
from gittrack.sharing import remote


@click.group("remote")
def command() -> None:
    """Configure git remotes for gittrack.

    \b
    Example:
      gittrack remote setup origin
    """


@command.command("setup")
@click.argument("remote_name", metavar="[REMOTE]", required=False)
def setup_command(remote_name: str | None) -> None:
    """Add refspecs for runs and registry tags to REMOTE in .git/config.

    Afterwards `git fetch` brings runs (refusing to move a run that differs locally: use
    `gittrack pull` for those) and `git push` sends the current branch, runs and tags.
    Plain git moves no artifacts: `gittrack push` does, or the pre-push hook.

    \b
    Example:
      gittrack remote setup origin && git fetch origin
    """
    added = remote.setup(api.open_store().repo, remote_name)
    for line in added:
        click.echo(f"added {line}")
    click.echo("Remote already set up." if not added else f"{len(added)} refspec(s) added.")
