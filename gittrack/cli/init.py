"""``gittrack init``: make the current directory a repository that gittrack can use."""

from __future__ import annotations

from pathlib import Path

import click

from gittrack.core import project


@click.command("init")
@click.argument("path", required=False, default=".", type=click.Path(file_okay=False))
def command(path: str) -> None:
    """Prepare a repository for gittrack (runs `git init` when needed).

    Writes .gittrack/config.yaml (commit it to share settings) and the ignore entries.
    Nothing else changes: HEAD, the index and your files stay as they are.

    \b
    Example:
      gittrack init && python train.py && gittrack log
    """
    result = project.init(Path(path))
    if result.created_repo:
        click.echo(f"Initialized an empty git repository in {result.workdir}")
    for written in result.written:
        click.echo(f"wrote {written}")
    if result.written:
        click.echo("Commit .gittrack/ with your code to share these settings.")
    click.echo("gittrack is ready: log runs with `import gittrack`, list them with `gittrack log`.")
