"""gittrack: machine-learning experiment tracking in the git repository you already have.

Runs are commits on hidden refs (``refs/gittrack/runs/<experiment>/<id>``), the registry is
annotated tags. ``import gittrack`` stays light: the API module is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = (
    "set_tracking_repo", "get_tracking_repo", "set_experiment", "get_experiment",
    "start_run", "end_run", "active_run", "log_param", "log_params", "log_metric",
    "log_metrics", "set_tag", "set_tags", "get_run",
    "register_model", "promote", "rollback", "get_model_version", "list_models",
    "resolve_model_uri",
    "search_runs", "metric_history", "diff_runs", "set_baseline", "get_baseline",
    "log_artifact", "log_artifacts", "log_text", "log_dict", "log_figure", "log_table",
    "log_input", "log_model", "load_model", "push", "pull", "log_runs", "flush",
)
_OPTIONAL: dict[str, str] = {"autolog": "gittrack.compat.autolog",
                             "monitor": "gittrack.monitoring"}

__all__ = [*_API, *_OPTIONAL, "GittrackError", "__version__"]

if TYPE_CHECKING:
    from gittrack.api import (  # noqa: F401
        active_run,
        end_run,
        flush,
        get_experiment,
        get_run,
        get_tracking_repo,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        set_experiment,
        set_tag,
        set_tags,
        set_tracking_repo,
        start_run,
    )
    from gittrack.core.errors import GittrackError  # noqa: F401


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_OPTIONAL})


def __getattr__(name: str) -> Any:
    if name in _API:
        from gittrack import api  # lazy: `import gittrack` stays light
        return getattr(api, name)
    if name in _OPTIONAL:
        import importlib

        return getattr(importlib.import_module(_OPTIONAL[name]), name)
    if name == "GittrackError":
        from gittrack.core.errors import GittrackError  # lazy: `import gittrack` stays light

        return GittrackError
    raise AttributeError(f"module 'gittrack' has no attribute {name!r}")
