"""``gittrack log-metric``, ``log-param`` and ``set-tag``: log into the run of ``gittrack run``.

For shell scripts and other programs run by ``gittrack run -- COMMAND``: each call appends
one line to this process's side journal of the run named by $GITTRACK_RUN_ID
(gittrack.tracking.attach); the ``gittrack run`` process merges it into the run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

from gittrack import api
from gittrack.core.errors import RunStateError


def _with_attached(action: Callable[[Any], None]) -> None:
    if not os.environ.get("GITTRACK_RUN_ID"):
        raise RunStateError(
            "GITTRACK_RUN_ID is not set, so there is no run to log into; run the script "
            "under `gittrack run -- COMMAND`."
        )
    run = api.start_run()
    try:
        action(run)
    finally:
        api.end_run()


@click.command("log-metric")
@click.argument("key")
@click.argument("value", type=float)
@click.option("--step", type=int, default=None, help="The step of the point (default 0).")
def log_metric(key: str, value: float, step: int | None) -> None:
    """Log one point of metric KEY into the run of the enclosing `gittrack run`.

    \b
    Example:
      gittrack run -- bash -c 'for i in 1 2 3; do gittrack log-metric loss 0.$i --step $i; done'
    """
    _with_attached(lambda run: run.log_metric(key, value, step))


@click.command("log-param")
@click.argument("key")
@click.argument("value")
def log_param(key: str, value: str) -> None:
    """Log param KEY (VALUE read as a YAML scalar) into the run of the enclosing `gittrack run`.

    A value that conflicts with one the run already holds is dropped when merged and noted
    in the run's tag gittrack.warnings.

    \b
    Example:
      gittrack run -- bash -c 'gittrack log-param epochs 10 && ./train.sh'
    """
    from gittrack.cli.run import parse_scalar  # lazy: `gittrack --help` stays instant

    _with_attached(lambda run: run.log_param(key, parse_scalar(value)))


@click.command("set-tag")
@click.argument("key")
@click.argument("value")
def set_tag(key: str, value: str) -> None:
    """Set tag KEY to VALUE on the run of the enclosing `gittrack run`.

    \b
    Example:
      gittrack run -- bash -c 'gittrack set-tag dataset "$(git rev-parse --short HEAD)"'
    """
    _with_attached(lambda run: run.set_tag(key, value))
