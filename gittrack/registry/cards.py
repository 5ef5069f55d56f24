"""Registered models as HTML cards in a notebook (and a few lines of text in a console).

A version's card is its run's card under the version's name and stages; a model's card lists
its stages and its newest versions with their runs' metrics. Built from
gittrack.query.cards, so the same escaping holds: no script, every user value escaped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gittrack.core.errors import GittrackError
from gittrack.core.gitio import Repo
from gittrack.core.records import Run
from gittrack.core.store import Store, repo_from_env
from gittrack.query import cards, uilink

if TYPE_CHECKING:
    from gittrack.registry.resolver import Model, ModelVersion

VERSIONS = 8  # versions a model's card lists, newest first
STAGE_COLOR = "#6639ba"


def version_card(version: ModelVersion) -> str:
    """The card of one registered version: its run's params, metrics and charts."""
    repo, run = _run_of(version.commit)
    url = uilink.running_url(repo) if repo is not None else None
    body: list[str] = []
    if run is not None and repo is not None:
        store = Store(repo)
        data = run.card_data(lambda key: [(float(s), v) for s, _t, v in
                                          store.metric_history(run.commit, key)])
        body = [cards.metrics_table(data.metrics), cards.params_table(data.params),
                cards.charts(data.metrics, data.history)]
    subtitle = f"run {version.experiment}/{run.name if run else version.run} · {version.run}" \
               f" · artifact {version.artifact}"
    return cards.frame(f"{version.model} v{version.version}", None, subtitle,
                       f"{url}#/models" if url else None, body, _stage_badges(version.stages))


def model_card(model: Model) -> str:
    """The card of a model: current version of each stage, newest versions with metrics."""
    repo = _repo()
    url = uilink.running_url(repo) if repo is not None else None
    stages = [cards.badge(f"{stage}: v{number}", STAGE_COLOR)
              for stage, number in sorted(model.stages.items())]
    rows = []
    for number in sorted(model.versions, reverse=True)[:VERSIONS]:
        version = model.versions[number]
        run = _run_of(version.commit, repo)[1]
        metrics = ", ".join(f"{k}={m.value:.6g}" for k, m in list(run.metrics.items())[:3]) \
            if run is not None else ""
        rows.append((f"v{number}", f"{run.name if run else version.run} ({version.run[:8]})",
                     " ".join([*version.stages, metrics]).strip()))
    more = len(model.versions) - VERSIONS
    subtitle = f"{len(model.versions)} version(s)" + (f", newest {VERSIONS} shown" if more > 0
                                                       else "")
    return cards.frame(model.name, None, subtitle, f"{url}#/models" if url else None,
                       [cards.table("versions", rows)], stages)


def version_text(version: ModelVersion) -> str:
    stages = f" [{', '.join(version.stages)}]" if version.stages else ""
    return (f"ModelVersion {version.model} v{version.version}{stages}  run {version.experiment}/"
            f"{version.run}  artifact {version.artifact}")


def model_text(model: Model) -> str:
    stages = ", ".join(f"{s}: v{n}" for s, n in sorted(model.stages.items())) or "no stages"
    latest = f"latest v{model.latest.version}" if model.latest else "no versions"
    return f"Model {model.name}  {latest}  ({stages})"


def _stage_badges(stages: tuple[str, ...]) -> list[str]:
    return [cards.badge(stage, STAGE_COLOR) for stage in stages]


def _repo() -> Repo | None:
    try:
        return repo_from_env()
    except GittrackError:
        return None


def _run_of(commit: str, repo: Repo | None = None) -> tuple[Repo | None, Run | None]:
    repo = repo or _repo()
    if repo is None or not repo.has_object(commit):
        return repo, None
    try:
        return repo, Store(repo).read_run(commit)
    except GittrackError:
        return repo, None
