"""``gittrack pull`` and ``gittrack fetch``: bring runs, registry tags and (lazily) artifacts."""

from __future__ import annotations

import click

from gittrack import api
from gittrack.cli.push import progress_renderer
from gittrack.sharing import remote
from gittrack.sharing.remote import FetchResult


def report_fetch(result: FetchResult) -> None:
    """Print what a fetch did."""
    click.echo(f"From {result.remote}: {result.created} new, {result.updated} updated, "
               f"{result.deleted} removed ref(s), {result.artifacts} artifact(s) fetched.")
    for sentence in result.refused:
        click.echo(f"gittrack: {sentence}", err=True)
    if result.conflicts:
        click.echo(f"{len(result.conflicts)} registry tag(s) exist here with other content "
                   f"({', '.join(result.conflicts[:3])}); `gittrack push` renumbers yours.",
                   err=True)


def _options(func: click.decorators.FC) -> click.decorators.FC:
    for decorator in reversed((
        click.argument("remote_name", metavar="[REMOTE]", required=False),
        click.argument("runs", nargs=-1),
        click.option("-e", "--experiment", help="Fetch only this experiment's runs."),
        click.option("--artifacts", is_flag=True,
                     help="Fetch every artifact now instead of when it is needed."),
        click.option("--progress/--no-progress", "show_progress", default=None,
                     help="Show progress on stderr (default: only on a terminal)."),
    )):
        func = decorator(func)
    return func


def _run(remote_name: str | None, runs: tuple[str, ...], experiment: str | None,
         artifacts: bool, show_progress: bool | None) -> None:
    store = api.open_store()
    result = remote.fetch(store, remote_name, experiment, runs, artifacts=artifacts,
                          progress=progress_renderer(show_progress))
    report_fetch(result)


@click.command("pull")
@_options
def command(remote_name: str | None, runs: tuple[str, ...], experiment: str | None,
            artifacts: bool, show_progress: bool | None) -> None:
    """Bring runs, the trash, baselines and registry tags from REMOTE (default: origin).

    RUN arguments are run ids or id prefixes. Artifacts are fetched from the artifact
    remote when `gittrack checkout` or load_model needs them, or at once with --artifacts.
    A run recorded here more recently than on the remote keeps its local record.

    \b
    Example:
      gittrack pull origin --artifacts
    """
    _run(remote_name, runs, experiment, artifacts, show_progress)


@click.command("fetch")
@_options
def fetch_command(remote_name: str | None, runs: tuple[str, ...], experiment: str | None,
                  artifacts: bool, show_progress: bool | None) -> None:
    """Bring runs and registry tags from REMOTE, as `gittrack pull` does.

    Runs and tags have no working copy to merge into, so fetch and pull do the same.

    \b
    Example:
      gittrack fetch origin --experiment forecasting
    """
    _run(remote_name, runs, experiment, artifacts, show_progress)
