"""``gittrack verify RUN|TAG``: is a run commit or a registry event signed by an allowed key."""

from __future__ import annotations

import click

from gittrack.cli import render
from gittrack.cli.models import warnings_to_stderr
from gittrack.core.errors import SignatureError
from gittrack.core.signing import ALLOWED_SIGNERS
from gittrack.core.store import Store, repo_from_env
from gittrack.registry.signatures import verify_target


@click.command("verify")
@click.argument("target", metavar="RUN|TAG")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
def command(target: str, as_json: bool) -> None:
    """Check the signature of a registry tag, of the tag a model reference stands on
    (MODEL/STAGE, MODEL/vN), or of a run commit, against .gittrack/allowed_signers.

    Exits 0 when it is signed by an allowed key in its actor's (or author's) name, 1 otherwise.

    \b
    Example:
      gittrack verify forecaster/prod
      gittrack verify forecaster/prod/v3
    """
    with warnings_to_stderr():
        subject, found = verify_target(Store(repo_from_env()), target)
    if as_json:
        click.echo(render.json_text({"target": target, "checked": subject, "status": found.status,
                                     "verified": found.verified, "signer": found.signer,
                                     "key": found.key, "detail": found.detail}))
    if not found.verified:
        raise SignatureError(f"The {subject} is {found.detail}; it is not verified (sign with "
                             f"--sign, and list the signer's key in {ALLOWED_SIGNERS}).")
    if not as_json:
        click.echo(f"verified: the {subject} is {found.detail}.")
