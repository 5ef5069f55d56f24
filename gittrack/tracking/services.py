"""What an active run needs from the layers above it, provided by the layer that composes them.

Imports point down (docs/architecture.md), yet a run logs artifacts through gittrack.artifacts
and, when it ends, notes its summary in gittrack.query's index. Both sit above tracking, so the
run does not import them: gittrack.api, which composes the layers, provides them here when it is
imported, before it can start a run. Each provider is a loader, so nothing above is imported
until a run first uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

from gittrack.core.errors import RunStateError
from gittrack.core.gitio import Repo

ArtifactsLoader = Callable[[], ModuleType]
# An ended run: its commit, its record files as rendered, and its summary when the writer
# could make it without parsing the files (gittrack.tracking.state.RunState.summary).
Ended = tuple[str, Mapping[str, bytes | str], dict[str, Any] | None]
EndedHook = Callable[[Repo, Sequence[Ended]], None]

_artifacts: ArtifactsLoader | None = None
_ended: list[EndedHook] = []


def provide(artifacts: ArtifactsLoader, ended: EndedHook) -> None:
    """Install the artifact logger and the hook told of each ended run (idempotent)."""
    global _artifacts
    _artifacts = artifacts
    if ended not in _ended:
        _ended.append(ended)


def on_ended(hook: EndedHook) -> None:
    """Also tell ``hook`` of each ended run (idempotent)."""
    if hook not in _ended:
        _ended.append(hook)


def artifacts() -> Any:
    """The module whose ``log_artifact(run, ...)`` and friends store a run's artifacts."""
    if _artifacts is None:
        raise RunStateError(
            "This run cannot log artifacts: no artifact store was provided; start runs with "
            "gittrack.start_run()."
        )
    return _artifacts()


def runs_ended(repo: Repo, ended: Sequence[Ended]) -> None:
    """Tell the providers that runs ended, each as ``(commit, rendered record files,
    summary or None)``; a bulk writer tells thousands at once."""
    if ended:
        for hook in _ended:
            hook(repo, ended)
