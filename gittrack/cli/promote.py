"""``gittrack promote MODEL vN STAGE``: make a version the current one of a stage."""

from __future__ import annotations

import click

from gittrack import api
from gittrack.cli.models import warnings_to_stderr


@click.command("promote")
@click.argument("model")
@click.argument("version", metavar="vN")
@click.argument("stage")
@click.option("-m", "--message", "note", metavar="NOTE", help="A note kept in the stage tag.")
def command(model: str, version: str, stage: str, note: str | None) -> None:
    """Promote version vN of MODEL to STAGE (it becomes the stage's current version).

    Writes the annotated tag MODEL/STAGE/vN on the version's run commit. When
    .gittrack/config.yaml lists `stages: [dev, staging, prod]`, only those stages are
    allowed and a version must be active in the previous stage first.

    \b
    Example:
      gittrack promote forecaster v3 prod
    """
    with warnings_to_stderr():
        event = api.promote(model, version, stage, note)
    click.echo(f"Promoted {model} v{event.version} to {stage} (tag {event.tag}).")
