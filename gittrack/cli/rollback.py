"""``gittrack rollback MODEL STAGE [--to vN]``: demote until an earlier version is current."""

from __future__ import annotations

import click

from gittrack import api
from gittrack.cli.models import warnings_to_stderr


@click.command("rollback")
@click.argument("model")
@click.argument("stage")
@click.option("--to", "to", metavar="vN", help="Demote until this version is current again.")
@click.option("-m", "--message", "note", metavar="NOTE", help="A note kept in the demotion tags.")
@click.option("--sign/--no-sign", "sign", default=None,
              help="Sign the tag with git (`git tag -s`); default: `sign:` in .gittrack/config.yaml.")
def command(model: str, stage: str, to: str | None, note: str | None, sign: bool | None) -> None:
    """Roll STAGE of MODEL back to the previous active version (or to vN with --to).

    Only adds demotion tags MODEL/STAGE/vN!; no tag is moved or deleted, so the
    history keeps every event.

    \b
    Example:
      gittrack rollback forecaster prod
      gittrack rollback forecaster prod --to v1
    """
    with warnings_to_stderr():
        demoted = api.rollback(model, stage, to, note, sign)
        current = api.resolve_model_uri(f"models:/{model}/{stage}").version
    for event in demoted:
        click.echo(f"Demoted {model} v{event.version} from {stage} (tag {event.tag}).")
    click.echo(f"{model}/{stage} is now v{current.version} (run {current.run}).")
