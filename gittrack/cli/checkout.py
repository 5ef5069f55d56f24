"""``gittrack checkout [RUN]``: put a run's artifacts back into the work tree."""

from __future__ import annotations

import click

from gittrack import api
from gittrack.core.errors import ArtifactError
from gittrack.sharing import workspace


@click.command("checkout")
@click.argument("run", required=False)
@click.option("-f", "--force", is_flag=True, help="Overwrite files that differ from the artifacts.")
def command(run: str | None, force: bool) -> None:
    """Restore the artifacts of RUN at their paths in the work tree, verifying every hash.

    Without RUN, restores the artifacts of the run record that HEAD holds (after
    `git checkout` of a run ref or a registry tag). RUN may also be a registry tag.
    A file that differs locally is left alone unless --force is given.

    \b
    Example:
      git checkout forecaster/prod/v3 && gittrack checkout
      gittrack checkout brisk-lamb-417 --force
    """
    store = api.open_store()
    commit = workspace.head_run_commit(store) if run is None else workspace.resolve_record(store, run)
    report = workspace.checkout_commit(store, commit, force=force)
    for path in report.restored:
        click.echo(f"restored  {path}")
    click.echo(f"{len(report.restored)} restored, {len(report.unchanged)} unchanged"
               + (f", {len(report.modified)} modified locally" if report.modified else "") + ".")
    untracked = store.repo.untracked(report.restored)
    if untracked:
        shown = ", ".join(untracked[:5]) + (" ..." if len(untracked) > 5 else "")
        click.echo(f"Not tracked by git: {shown}. Artifacts live in gittrack's cache; list them "
                   "in .gitignore to keep `git status` clean.", err=True)
    if report.modified:
        listed = ", ".join(report.modified[:5])
        raise ArtifactError(f"Left {len(report.modified)} locally modified path(s) alone ({listed}); "
                            "rerun with --force to overwrite them.")
