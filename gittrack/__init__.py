"""gittrack: machine-learning experiment tracking in the git repository you already have.

Runs are commits on hidden refs (``refs/gittrack/runs/<experiment>/<id>``), the registry is
annotated tags. ``import gittrack`` stays light: the API module is loaded on first use.

``import gittrack as mlflow`` works for MLflow scripts: the MLflow-named functions come from
gittrack.compat with MLflow's signatures and return shapes (docs/mlflow.md); gittrack's richer
views keep gittrack's names (``query_runs``, ``get_run`` records, the CLI).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = (
    "set_tracking_repo", "get_tracking_repo", "active_run", "get_run",
    "register_model", "promote", "rollback", "get_model_version", "list_models",
    "resolve_model_uri",
    "metric_history", "diff_runs", "set_baseline", "get_baseline",
    "log_text", "log_dict", "log_figure", "log_table",
    "log_input", "log_model", "push", "pull", "log_runs", "flush",
)
# gittrack's own names for views the MLflow-named functions no longer give
_RENAMED = {"query_runs": "search_runs", "current_experiment": "get_experiment"}
_FLUENT = (
    "set_tracking_uri", "get_tracking_uri", "set_experiment", "get_experiment",
    "get_experiment_by_name", "create_experiment", "search_experiments", "delete_experiment",
    "set_experiment_tag", "set_experiment_tags", "start_run", "end_run", "last_active_run",
    "log_param", "log_params", "log_metric", "log_metrics", "set_tag", "set_tags",
    "log_artifact", "log_artifacts", "get_artifact_uri", "search_runs",
)
_OPTIONAL: dict[str, str] = {"autolog": "gittrack.compat.autolog",
                             "load_model": "gittrack.compat.models",
                             "MlflowClient": "gittrack.compat.client",
                             "monitor": "gittrack.monitoring"}
# MLflow's submodules, so `mlflow.sklearn.autolog()` works after a bare `import mlflow`
_SUBMODULES = ("sklearn", "xgboost", "pyfunc", "entities", "tracking", "client")

__all__ = [*_API, *_RENAMED, *_FLUENT, *_OPTIONAL, "GittrackError", "__version__"]

if TYPE_CHECKING:
    from gittrack.api import (  # noqa: F401
        active_run,
        flush,
        get_run,
        get_tracking_repo,
        set_tracking_repo,
    )
    from gittrack.compat.fluent import (  # noqa: F401
        end_run,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        set_experiment,
        set_tag,
        set_tags,
        start_run,
    )
    from gittrack.core.errors import GittrackError  # noqa: F401


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_SUBMODULES})


def __getattr__(name: str) -> Any:
    import importlib

    if name in _FLUENT:
        return getattr(importlib.import_module("gittrack.compat.fluent"), name)
    if name in _API or name in _RENAMED:
        from gittrack import api  # lazy: `import gittrack` stays light
        return getattr(api, _RENAMED.get(name, name))
    if name in _OPTIONAL:
        return getattr(importlib.import_module(_OPTIONAL[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"gittrack.{name}")
    if name == "GittrackError":
        from gittrack.core.errors import GittrackError  # lazy: `import gittrack` stays light

        return GittrackError
    raise AttributeError(f"module 'gittrack' has no attribute {name!r}")


def _facade(name: str) -> Any:
    """What a layer package offers as an MLflow name without importing the layers above it
    (``gittrack.tracking.MlflowClient``): the package facade hands it down on request."""
    return __getattr__(name)
