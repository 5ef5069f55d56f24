"""``gittrack install-hooks`` and the hidden ``gittrack hook NAME`` the hook scripts call."""

from __future__ import annotations

import click

from gittrack import api
from gittrack.core.errors import GittrackError
from gittrack.sharing import hooks


@click.command("install-hooks")
@click.option("-f", "--force", is_flag=True,
              help="Keep hooks that gittrack did not write under a new name "
                   "(NAME.pre-gittrack, .pre-gittrack.1, ...) and run them first.")
def command(force: bool) -> None:
    """Install gittrack's post-checkout and pre-push git hooks in this repository.

    post-checkout restores the artifacts after `git checkout` of a run or registry tag;
    pre-push runs `gittrack push` when .gittrack/config.yaml has `push_runs: true`.
    A hook gittrack did not write is refused unless --force, which keeps it under a name
    of its own and chains it: it runs first, and its failure stops the hook.
    With the pre-commit framework, use the ids in .pre-commit-hooks.yaml instead.

    \b
    Example:
      gittrack install-hooks && git checkout forecaster/prod/v3
    """
    for item in hooks.install(api.open_store().repo, force=force):
        moved = (f" (the old one is now {item.backup.name}, and runs first)"
                 if item.backup else "")
        click.echo(f"installed {item.path}{moved}")


@click.command("hook", hidden=True)
@click.argument("name", type=click.Choice(sorted(hooks.SCRIPTS)))
@click.argument("args", nargs=-1)
def hook_command(name: str, args: tuple[str, ...]) -> None:
    """Run what a gittrack git hook does (called by the scripts in hooks/).

    \b
    Example:
      gittrack hook post-checkout
    """
    try:
        store = api.open_store()
        if not hooks.uses_gittrack(store.repo):
            return
        summary = (hooks.post_checkout(store) if name == "post-checkout"
                   else hooks.pre_push(store, args[0] if args else None))
    except GittrackError as exc:  # a hook never blocks git: say what failed and go on
        click.echo(f"gittrack: {name} hook: {exc}", err=True)
        return
    if summary:
        click.echo(summary, err=True)
