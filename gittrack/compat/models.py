"""MLflow's flavor modules (``mlflow.sklearn``, ``mlflow.xgboost``, ``mlflow.pyfunc``): log_model,
save_model, load_model and autolog with MLflow's signatures, on gittrack's models.

``log_model(model, "model", registered_model_name="m")`` logs the model in the active run and
registers it as the next version of ``m`` when the run ends (a gittrack version is a tag on the
run's final commit, so it is written once that commit exists). Model URIs take MLflow's stage
names: ``models:/m/Production`` is ``models:/m/prod``, ``Staging`` is ``staging``, and an
alias ``models:/m@Champion`` is the stage ``champion``.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack import api
from gittrack.core.errors import GittrackError
from gittrack.core.gitio import Repo
from gittrack.tracking import services

if TYPE_CHECKING:
    from gittrack.artifacts.models import LoadedModel

log = logging.getLogger("gittrack")
STAGES = {"production": "prod", "staging": "staging", "archived": "archived"}
_pending: dict[str, list[tuple[str, str]]] = {}  # run id -> [(artifact path, model name)]
_lock = threading.Lock()


@dataclass(frozen=True)
class ModelInfo:
    """What MLflow's log_model returns: where the model is and, if registered, its version."""

    model_uri: str
    artifact_path: str
    run_id: str
    flavors: dict[str, Any]
    signature: Any
    registered_model_name: str | None = None


def stage_name(stage: str) -> str:
    """gittrack's stage for MLflow's stage name or an alias: Production -> prod ..."""
    return STAGES.get(stage.lower(), stage.lower())


def translate_uri(uri: str) -> str:
    """``models:/NAME/Production`` -> ``models:/NAME/prod``; ``models:/NAME@Champion`` ->
    ``models:/NAME@champion``; ``runs:/<MLflow run id>/path`` -> gittrack's run id."""
    m = re.fullmatch(r"models:/([^/@]+)(/|@)([^/]+)(/.*)?", uri)
    if m and not re.fullmatch(r"[vV]?[0-9]+|latest", m[3]):
        return f"models:/{m[1]}{m[2]}{stage_name(m[3])}{m[4] or ''}"
    m = re.fullmatch(r"runs:/([0-9a-f]{32})(/.*)", uri)
    if m:
        from gittrack.compat.fluent import resolve_run_id  # lazy: on use

        return f"runs:/{resolve_run_id(api.open_store(), m[1])}{m[2]}"
    return uri


def log_model(model: object, artifact_path: str | None = None, *, name: str | None = None,
              registered_model_name: str | None = None, signature: Any = None,
              input_example: Any = None, pip_requirements: Sequence[str] | None = None,
              **mlflow_only: Any) -> ModelInfo:
    """Log ``model`` as the artifact ``name`` (or ``artifact_path``; default ``model``) of the
    active run; with ``registered_model_name`` it becomes that model's next version when the
    run ends. MLflow's other keywords (conda_env, serialization_format, ...) are accepted and
    have no effect."""
    path = name or artifact_path or "model"
    given = signature if isinstance(signature, Mapping) or signature is None else None
    run = api.active_run() or api.start_run()
    logged = run.log_model(model, path, input_example, given,
                           list(pip_requirements) if pip_requirements else None)
    if registered_model_name:
        with _lock:
            _pending.setdefault(run.id, []).append((logged.artifact_path, registered_model_name))
        services.on_ended(_register_pending)
    spec = logged.info
    return ModelInfo(logged.model_uri, logged.artifact_path, run.id,
                     {str(getattr(spec, "flavor", "python_function")): {}},
                     getattr(spec, "signature", None), registered_model_name)


def _register_pending(repo: Repo, ended: Sequence[tuple[str, Mapping[str, bytes | str], Any]]) -> None:
    """Register the models logged with registered_model_name once their run has ended."""
    for _commit, files, _summary in ended:
        if _pending:
            _register_run(repo, files)


def _register_run(repo: Repo, files: Mapping[str, bytes | str]) -> None:
    from gittrack.core.records import load_yaml  # lazy: loaded only by the calls that need it
    from gittrack.core.store import Store  # lazy: loaded only by the calls that need it
    from gittrack.registry.resolver import Registry  # lazy: loaded only by the calls that need it

    info = files.get("run.yaml")
    run_id = str((load_yaml(info) or {}).get("id")) if isinstance(info, bytes) else None
    with _lock:
        todo = _pending.pop(run_id or "", [])
    for path, model_name in todo:
        try:
            Registry(Store(repo)).register(f"runs:/{run_id}/{path}", model_name)
        except GittrackError as exc:  # the run ended already; say why it is not registered
            log.warning("could not register %s as %s: %s", path, model_name, exc)


def save_model(model: object, path: str | os.PathLike[str], *, signature: Any = None,
               input_example: Any = None, pip_requirements: Sequence[str] | None = None,
               **mlflow_only: Any) -> None:
    """Save ``model`` into the directory ``path`` with model.yaml (no run needed)."""
    from gittrack.artifacts.models import save_model as save  # lazy: on use

    save(model, Path(path), input_example=input_example,
         signature=signature if isinstance(signature, Mapping) else None,
         pip_requirements=list(pip_requirements) if pip_requirements else None)


def load_model(model_uri: str, dst_path: str | None = None, *, trust: bool = False,
               **mlflow_only: Any) -> LoadedModel:
    """Load from ``runs:/``, ``models:/NAME/Production``, ``models:/NAME@alias``, a path...

    ``trust=True`` loads a pickled model that nothing here vouches for (docs/security.md)."""
    return api.load_model(translate_uri(model_uri), trust=trust)


def load_native(model_uri: str, dst_path: str | None = None) -> Any:
    """The flavor's own object (the scikit-learn estimator, the XGBoost model)."""
    return load_model(model_uri).raw


def autolog(log_input_examples: bool = False, log_model_signatures: bool = True,
            log_models: bool = True, log_datasets: bool = True, disable: bool = False,
            exclusive: bool = False, disable_for_unsupported_versions: bool = False,
            silent: bool = False, max_tuning_runs: int | None = 5, **mlflow_only: Any) -> None:
    """MLflow's ``mlflow.sklearn.autolog`` / ``mlflow.xgboost.autolog``: one call patches
    scikit-learn and XGBoost (see docs/autolog.md)."""
    from gittrack.compat import autolog as auto  # lazy: loaded only by the calls that need it

    auto.autolog(disable=disable, log_models=log_models, log_datasets=log_datasets,
                 max_tuning_runs=max_tuning_runs)
