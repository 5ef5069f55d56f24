"""``gittrack bundle create|import``: exchange runs, tags and artifacts as one file."""

from __future__ import annotations

import click

from gittrack import api
from gittrack.sharing import bundle


@click.group("bundle")
def command() -> None:
    """Carry runs, registry tags and their artifacts where no remote reaches.

    \b
    Example:
      gittrack bundle create week1.tar && gittrack bundle import week1.tar
    """


@command.command("create")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--since", metavar="BUNDLE|REV|DATE",
              help="Only what changed since an earlier bundle file, a commit, or an ISO date.")
def create_command(file: str, since: str | None) -> None:
    """Write the runs, trash, baselines, registry tags and their cached artifacts to FILE.

    \b
    Example:
      gittrack bundle create week2.tar --since week1.tar
    """
    info = bundle.create(api.open_store(), file, since)
    click.echo(f"Wrote {info.path}: {info.refs} ref(s) ({info.runs} run(s), {info.tags} tag(s)), "
               f"{info.objects} artifact object(s).")
    if info.missing_artifacts:
        click.echo(f"{info.missing_artifacts} artifact(s) were not in the local cache and are not "
                   "in the bundle; run `gittrack pull --artifacts` first to include them.", err=True)


@command.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def import_command(file: str) -> None:
    """Add the runs, tags and artifacts of a bundle FILE here (importing twice is harmless).

    \b
    Example:
      gittrack bundle import week1.tar && gittrack log
    """
    result = bundle.import_bundle(api.open_store(), file)
    click.echo(f"Imported {file}: {result.created} new, {result.updated} updated, "
               f"{result.deleted} removed ref(s), {result.objects} artifact object(s).")
    for sentence in result.refused:
        click.echo(f"gittrack: {sentence}", err=True)
    if result.conflicts:
        click.echo(f"{len(result.conflicts)} registry tag(s) exist here with other content "
                   f"({', '.join(result.conflicts[:3])}); they were left as they are.", err=True)
