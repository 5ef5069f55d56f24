"""``gittrack get RUN PATH``: copy one artifact of a run out of the cache."""

from __future__ import annotations

from pathlib import Path

import click

from gittrack import api
from gittrack.sharing import workspace


@click.command("get")
@click.argument("run")
@click.argument("path")
@click.option("-o", "--output", "dest", metavar="DEST", type=click.Path(path_type=Path),
              help="Where to write it (default: its name in the current directory).")
@click.option("-f", "--force", is_flag=True, help="Overwrite DEST if it exists.")
def command(run: str, path: str, dest: Path | None, force: bool) -> None:
    """Copy the artifact PATH of RUN (or one file inside a directory artifact) to DEST.

    The content is verified against its hash on the way out.

    \b
    Example:
      gittrack get brisk-lamb-417 model/model.yaml -o /tmp/model.yaml
    """
    store = api.open_store()
    commit = workspace.resolve_record(store, run)
    name = path.strip("/").rpartition("/")[2] or path
    target = dest if dest is not None else Path.cwd() / name
    if target.is_dir() and not force:
        target = target / name
    written = workspace.get_artifact(store, commit, path, target.absolute(), force=force)
    click.echo(f"wrote {written}")
