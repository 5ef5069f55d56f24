"""``gittrack artifacts RUN``: the artifacts a run recorded."""

from __future__ import annotations

import click

from gittrack import api
from gittrack.artifacts.local import read_pointers
from gittrack.cli import render
from gittrack.sharing import workspace

HEADERS = ("path", "kind", "size", "nfiles", "md5")


@click.command("artifacts")
@click.argument("run")
@click.option("--format", "fmt", type=click.Choice(render.FORMATS), default="table",
              show_default=True, help="Output format.")
def command(run: str, fmt: str) -> None:
    """List the artifacts of RUN: logical path, kind, size in bytes, file count and md5.

    \b
    Example:
      gittrack artifacts brisk-lamb-417 --format json
    """
    store = api.open_store()
    pointers = read_pointers(store, workspace.resolve_record(store, run))
    rows = [(path, p.kind, p.size, p.nfiles, p.md5) for path, p in sorted(pointers.items())]
    click.echo(render.rows_text(fmt, HEADERS, rows))
