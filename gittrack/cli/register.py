"""``gittrack register MODEL RUN[:ARTIFACT_PATH]``: a run's model becomes the next version."""

from __future__ import annotations

import click

from gittrack import api
from gittrack.cli import render
from gittrack.cli.models import warnings_to_stderr


@click.command("register")
@click.argument("model")
@click.argument("run", metavar="RUN[:ARTIFACT_PATH]")
@click.option("-m", "--message", "note", metavar="NOTE", help="A note kept in the version's tag.")
@click.option("--sign/--no-sign", "sign", default=None,
              help="Sign the tag with git (`git tag -s`); default: `sign:` in .gittrack/config.yaml.")
@click.option("--json", "as_json", is_flag=True, help="Print the new version as JSON.")
def command(model: str, run: str, note: str | None, sign: bool | None, as_json: bool) -> None:
    """Register an ended RUN's model artifact as the next version of MODEL.

    Writes the annotated tag MODEL/vN on the run commit. Without ARTIFACT_PATH the run's
    one artifact of kind "model" is registered. MODEL uses letters, digits, '_', '-', '.'.

    \b
    Example:
      gittrack register forecaster brisk-lamb-417 -m "retrained on May data"
      gittrack register forecaster 4b609412:models/forecaster
    """
    with warnings_to_stderr():
        version = api.register_model(run, model, note=note, sign=sign)
    if as_json:
        click.echo(render.json_text(version.to_dict()))
        return
    click.echo(f"Registered {model} v{version.version} (tag {version.tag}): run {version.run}, "
               f"artifact {version.artifact}.")
