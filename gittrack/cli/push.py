"""``gittrack push [REMOTE] [RUN...]``: send runs, registry tags and their artifacts."""

from __future__ import annotations

import sys

import click

from gittrack import api
from gittrack.artifacts.transfer import Progress
from gittrack.core.errors import PushRejectedError
from gittrack.sharing import remote
from gittrack.sharing.remote import PushResult


def progress_renderer(enabled: bool | None) -> Progress:
    """A progress callback writing one updating line to stderr (on a TTY, or when asked)."""
    show = sys.stderr.isatty() if enabled is None else enabled
    tty = sys.stderr.isatty()

    def render(phase: str, done: int, total: int) -> None:
        if not show or total == 0:
            return
        line = f"{phase}: {done}/{total}"
        if tty:
            click.echo(f"\r{line}" + ("\n" if done >= total else ""), err=True, nl=False)
        else:
            click.echo(line, err=True)

    return render


def report_push(result: PushResult) -> None:
    """Print what a push did."""
    for item in result.renamed:
        click.echo(f"renumbered {item.old} -> {item.new}: the remote already had "
                   f"{item.model} v{item.old_version}")
    click.echo(f"Pushed to {result.remote}: {result.refs} ref(s), {result.deleted} deletion(s), "
               f"{result.tags} tag(s), {result.artifacts} artifact(s).")
    if result.behind:
        shown = ", ".join(result.behind[:3]) + (" ..." if len(result.behind) > 3 else "")
        click.echo(f"{len(result.behind)} ref(s) not pushed because the remote holds newer "
                   f"records ({shown}); run `gittrack pull` first.", err=True)


@click.command("push")
@click.argument("remote_name", metavar="[REMOTE]", required=False)
@click.argument("runs", nargs=-1)
@click.option("-e", "--experiment", help="Push only this experiment's runs.")
@click.option("--no-artifacts", is_flag=True, help="Push refs only; send no artifacts.")
@click.option("--progress/--no-progress", "show_progress", default=None,
              help="Show progress on stderr (default: only on a terminal).")
def command(remote_name: str | None, runs: tuple[str, ...], experiment: str | None,
            no_artifacts: bool, show_progress: bool | None) -> None:
    """Push runs, the trash, baselines and registry tags to REMOTE (default: origin).

    Artifacts go first to the artifact remote of .gittrack/config.yaml, then the refs
    through the git CLI, so a pushed run never names a missing artifact. A version number
    the remote took meanwhile is renumbered here and reported. Nothing is force-pushed.
    A ref the remote rejects is reported with git's reason (a lock file held on the
    remote, an unpacker error, an object missing here, ...) and the push exits 1.

    \b
    Example:
      gittrack push origin --experiment forecasting
    """
    store = api.open_store()
    try:
        result = remote.push(store, remote_name, experiment, runs, artifacts=not no_artifacts,
                             progress=progress_renderer(show_progress))
    except PushRejectedError as exc:
        if len(exc.rejected) > 1:  # the error names the first; list them all
            for ref, reason in exc.rejected.items():
                click.echo(f"rejected {ref}: {reason}", err=True)
        raise
    report_push(result)
