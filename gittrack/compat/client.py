"""``MlflowClient``: MLflow's client methods for runs, experiments, artifacts and the registry.

Runs and experiments go through :mod:`gittrack.compat.fluent`; the registry through the one
resolver (gittrack.registry.resolver.Registry), with MLflow's stages mapped onto stage tags
(Production -> ``prod``, Staging -> ``staging``, Archived -> ``archived``, None -> demoted
from its stages) and each alias a stage of the same name (lower case).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack import api
from gittrack.compat import entities, fluent
from gittrack.compat.entities import Experiment, FileInfo, Metric, Run, ViewType
from gittrack.compat.models import stage_name
from gittrack.core.errors import InvalidInputError, RegistryError
from gittrack.core.records import ms_from_iso

if TYPE_CHECKING:
    from gittrack.registry.resolver import Model
    from gittrack.registry.resolver import ModelVersion as Version
    from gittrack.tracking.active import ActiveRun

MLFLOW_STAGES = {"prod": "Production", "staging": "Staging", "archived": "Archived"}


@dataclass(frozen=True)
class ModelVersion:
    """MLflow's ``ModelVersion`` of a gittrack version."""

    name: str
    version: str
    creation_timestamp: int | None
    last_updated_timestamp: int | None
    user_id: str
    current_stage: str
    source: str
    run_id: str
    status: str = "READY"
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    creation_timestamp: int | None
    last_updated_timestamp: int | None
    latest_versions: list[ModelVersion]
    aliases: dict[str, str]
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


def _version_entity(model: Model, version: Version) -> ModelVersion:
    stages = [s for s, n in model.stages.items() if n == version.version]
    mlflow_stage = next((MLFLOW_STAGES[s] for s in ("prod", "staging", "archived") if s in stages),
                        "None")
    return ModelVersion(
        name=model.name, version=str(version.version),
        creation_timestamp=ms_from_iso(version.time), last_updated_timestamp=ms_from_iso(version.time),
        user_id=version.actor, current_stage=mlflow_stage,
        source=f"runs:/{version.run}/{version.artifact}", run_id=version.run,
        description=version.note,
        aliases=sorted(s for s in stages if s not in MLFLOW_STAGES))


class MlflowClient:
    """MLflow's client over the tracking repository (``tracking_uri``: a path or ``file:`` URI)."""

    def __init__(self, tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
        if tracking_uri is not None:
            fluent.set_tracking_uri(tracking_uri)
        self._open: dict[str, ActiveRun] = {}

    # -- experiments ----------------------------------------------------------------------
    def create_experiment(self, name: str, artifact_location: str | None = None,
                          tags: dict[str, Any] | None = None) -> str:
        return fluent.create_experiment(name, artifact_location, tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return fluent.get_experiment(experiment_id)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return fluent.get_experiment_by_name(name)

    def search_experiments(self, view_type: int = ViewType.ACTIVE_ONLY,
                           max_results: int | None = None, filter_string: str | None = None,
                           order_by: list[str] | None = None) -> list[Experiment]:
        return fluent.search_experiments(view_type, max_results, filter_string, order_by)

    def delete_experiment(self, experiment_id: str) -> None:
        fluent.delete_experiment(experiment_id)

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        fluent.set_experiment_tags({key: value}, experiment_id)

    # -- runs -----------------------------------------------------------------------------
    def create_run(self, experiment_id: str, start_time: int | None = None,
                   tags: dict[str, Any] | None = None, run_name: str | None = None) -> Run:
        """Start a run that stays open until :meth:`set_terminated` (not the active run)."""
        from gittrack.tracking.lifecycle import create_run  # lazy: on use

        store = api.open_store()
        run = create_run(store, fluent._name_of(store, experiment_id), run_name, tags)
        self._open[run.id] = run
        return self.get_run(run.id)

    def _run(self, run_id: str) -> Any:
        store = api.open_store()
        wanted = fluent.resolve_run_id(store, run_id)
        if wanted in self._open:
            return _Open(self._open[wanted])
        return fluent.logging_to(wanted)

    def get_run(self, run_id: str) -> Run:
        if run_id in self._open:
            self._open[run_id].flush()
            self._open[run_id].commit()
        return fluent.get_run(run_id)

    def search_runs(self, experiment_ids: list[str] | str, filter_string: str = "",
                    run_view_type: int = ViewType.ACTIVE_ONLY, max_results: int = 1000,
                    order_by: list[str] | None = None, page_token: str | None = None) -> list[Run]:
        found = fluent.search_runs(experiment_ids, filter_string, run_view_type, max_results,
                                   order_by, output_format="list")
        assert isinstance(found, list)
        return found

    def log_metric(self, run_id: str, key: str, value: float, timestamp: int | None = None,
                   step: int | None = None, synchronous: bool | None = None, **_: Any) -> None:
        with self._run(run_id) as run:
            run.log_metric(key, value, step, timestamp)

    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        with self._run(run_id) as run:
            return run.log_param(key, value)

    def set_tag(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> None:
        with self._run(run_id) as run:
            run.set_tag(key, value)

    def log_batch(self, run_id: str, metrics: Sequence[Any] = (), params: Sequence[Any] = (),
                  tags: Sequence[Any] = (), synchronous: bool | None = None) -> None:
        with self._run(run_id) as run:
            if params:
                run.log_params({p.key: p.value for p in params})
            for m in metrics:
                run.log_metric(m.key, m.value, m.step, m.timestamp)
            if tags:
                run.set_tags({t.key: t.value for t in tags})

    def set_terminated(self, run_id: str, status: str | None = None,
                       end_time: int | None = None) -> None:
        run = self._open.pop(run_id, None)
        if run is not None:
            run.end(fluent._status(status or "FINISHED"))

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        from gittrack import query  # lazy: loaded only by the calls that need it

        store = api.open_store()
        ref, commit = query.resolve(store, fluent.resolve_run_id(store, run_id))
        rid = ref.rpartition("/")[2]
        return [Metric(key, entities.metric_value(v), ts, step, rid)
                for step, ts, v in store.metric_history(commit, key)]

    # -- artifacts ------------------------------------------------------------------------
    def _pointers(self, run_id: str) -> tuple[Any, dict[str, Any]]:
        from gittrack import query  # lazy: loaded only by the calls that need it
        from gittrack.artifacts.local import read_pointers  # lazy: on use

        store = api.open_store()
        _ref, commit = query.resolve(store, fluent.resolve_run_id(store, run_id))
        return store, read_pointers(store, commit)

    def _files(self, run_id: str) -> tuple[Any, dict[str, tuple[Any, str | None, int]]]:
        """``{path: (pointer, path inside it, size)}`` of every file of the run."""
        from gittrack.artifacts.local import cache_for  # lazy: on use

        store, pointers = self._pointers(run_id)
        files: dict[str, tuple[Any, str | None, int]] = {}
        cache = cache_for(store.repo)
        for logical, pointer in pointers.items():
            if pointer.isdir:
                from gittrack.artifacts.run_artifacts import ensure_local  # lazy: on use

                ensure_local(store, [pointer])
                for rel, _md5, size in cache.list_files(pointer):
                    files[f"{logical}/{rel}"] = (pointer, rel, size)
            else:
                files[logical] = (pointer, None, pointer.size)
        return store, files

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """The files and directories directly under ``path`` (the root by default)."""
        _store, files = self._files(run_id)
        prefix = path.strip("/") + "/" if path else ""
        out: dict[str, FileInfo] = {}
        for name, (_p, _rel, size) in files.items():
            if not name.startswith(prefix):
                continue
            head, sep, _rest = name[len(prefix):].partition("/")
            full = prefix + head
            out[full] = FileInfo(full, True, None) if sep else FileInfo(full, False, size)
        return [out[k] for k in sorted(out)]

    def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str:
        """Copy an artifact file or directory out of the cache; returns the local path."""
        from gittrack.artifacts.local import cache_for  # lazy: on use

        store, files = self._files(run_id)
        path = path.strip("/")
        wanted = {n: v for n, v in files.items() if n == path or n.startswith(path + "/")
                  or not path}
        if not wanted:
            raise InvalidInputError(f"Run {run_id} has no artifact '{path}'; list them with "
                                    "list_artifacts().")
        dest_root = Path(dst_path or tempfile.mkdtemp(prefix="gittrack-artifacts-"))
        cache = cache_for(store.repo)
        for name, (pointer, rel, _size) in wanted.items():
            target = dest_root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with cache.open(pointer, rel) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
        return str(dest_root / path) if path else str(dest_root)

    def log_artifact(self, run_id: str, local_path: str | os.PathLike[str],
                     artifact_path: str | None = None) -> None:
        fluent.log_artifact(local_path, artifact_path, run_id=run_id)

    def log_artifacts(self, run_id: str, local_dir: str | os.PathLike[str],
                      artifact_path: str | None = None) -> None:
        fluent.log_artifacts(local_dir, artifact_path, run_id=run_id)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        fluent.log_text(text, artifact_file, run_id=run_id)

    def log_dict(self, run_id: str, dictionary: dict[str, Any], artifact_file: str) -> None:
        fluent.log_dict(dictionary, artifact_file, run_id=run_id)

    # -- the registry ---------------------------------------------------------------------
    def _registry(self) -> Any:
        from gittrack.registry.resolver import Registry  # lazy: on use

        return Registry(api.open_store())

    def _model(self, name: str) -> Model:
        model: Model = self._registry().model(name)
        return model

    def create_registered_model(self, name: str, tags: dict[str, Any] | None = None,
                                description: str | None = None) -> RegisteredModel:
        """A model exists in gittrack once it has a version; this only checks the name."""
        from gittrack.registry import tags as grammar  # lazy: loaded only by the calls that need it

        grammar.validate_model(name)
        return RegisteredModel(name, None, None, [], {}, description, dict(tags or {}))

    def get_registered_model(self, name: str) -> RegisteredModel:
        model = self._model(name)
        versions = [_version_entity(model, v) for v in model.versions.values()]
        created = min((v.creation_timestamp or 0 for v in versions), default=None)
        aliases = {a: v.version for v in versions for a in v.aliases}
        latest = [versions[-1]] if versions else []
        return RegisteredModel(name, created, max((v.creation_timestamp or 0 for v in versions),
                                                  default=None), latest, aliases)

    def search_registered_models(self, filter_string: str | None = None,
                                 max_results: int = 100) -> list[RegisteredModel]:
        names = sorted(self._registry().models())
        if filter_string:
            clause = filter_string.replace(" ", "")
            if clause.startswith("name="):
                names = [n for n in names if n == clause[5:].strip("'\"")]
        return [self.get_registered_model(n) for n in names][:max_results]

    def create_model_version(self, name: str, source: str, run_id: str | None = None,
                             tags: dict[str, Any] | None = None, run_link: str | None = None,
                             description: str | None = None, **_: Any) -> ModelVersion:
        """Register ``source`` (``runs:/<run>/<path>``, or ``run_id`` with the path) as the
        next version of ``name``."""
        from gittrack.compat.models import translate_uri  # lazy: on use

        spec = translate_uri(source) if source.startswith("runs:/") else \
            f"runs:/{run_id}/{source.strip('/').rpartition('/artifacts/')[2] or source}"
        version = self._registry().register(spec, name, None, description)
        return self.get_model_version(name, str(version.version))

    def get_model_version(self, name: str, version: str | int) -> ModelVersion:
        model = self._model(name)
        from gittrack.registry import tags as grammar  # lazy: loaded only by the calls that need it

        number = grammar.parse_version(version)
        if number not in model.versions:
            raise RegistryError(f"Model '{name}' has no version {version}; list versions with "
                                "`gittrack models`.")
        return _version_entity(model, model.versions[number])

    def search_model_versions(self, filter_string: str | None = None,
                              max_results: int = 10000) -> list[ModelVersion]:
        models = self._registry().models()
        out = [_version_entity(m, v) for m in models.values() for v in m.versions.values()]
        if filter_string:
            key, _, value = filter_string.replace(" ", "").partition("=")
            value = value.strip("'\"")
            out = [v for v in out if str(getattr(v, key, None)) == value]
        return out[:max_results]

    def get_latest_versions(self, name: str, stages: list[str] | None = None) -> list[ModelVersion]:
        versions = [self.get_model_version(name, n) for n in self._model(name).versions]
        out = []
        for stage in stages or sorted({v.current_stage for v in versions}):
            hits = [v for v in versions if v.current_stage.lower() == stage.lower()]
            if hits:
                out.append(hits[-1])
        return out

    def transition_model_version_stage(self, name: str, version: str | int, stage: str,
                                       archive_existing_versions: bool = False) -> ModelVersion:
        """Production/Staging/Archived promote to prod/staging/archived (so the version
        leaves its other MLflow stage, as in MLflow); None demotes it from them."""
        registry = self._registry()
        model = self._model(name)
        number = int(version)
        current = [s for s, n in model.stages.items() if n == number and s in MLFLOW_STAGES]
        target = None if stage.lower() == "none" else stage_name(stage)
        for s in current:
            if s != target:
                self._demote(registry, name, number, s)
        if target is not None and model.stages.get(target) != number:
            if archive_existing_versions and target in model.stages:
                self._demote(registry, name, model.stages[target], target)
            registry.promote(name, number, target)
        return self.get_model_version(name, number)

    def _demote(self, registry: Any, name: str, number: int, stage: str) -> None:
        model = registry.model(name)
        active = list(model.active.get(stage, ()))
        if number in active:
            registry.demote(name, number, stage)

    def set_registered_model_alias(self, name: str, alias: str, version: str | int) -> None:
        """Point ``alias`` at ``version``: a promotion to the stage ``alias`` (lower case)."""
        registry = self._registry()
        stage = stage_name(alias)
        if self._model(name).stages.get(stage) != int(version):
            registry.promote(name, int(version), stage)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        stage = stage_name(alias)
        model = self._model(name)
        if stage in model.stages:
            self._demote(self._registry(), name, model.stages[stage], stage)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        model = self._model(name)
        stage = stage_name(alias)
        if stage not in model.stages:
            raise RegistryError(f"Model '{name}' has no alias '{alias}'; set one with "
                                "set_registered_model_alias().")
        return _version_entity(model, model.versions[model.stages[stage]])

    def get_model_version_download_uri(self, name: str, version: str | int) -> str:
        return f"models:/{name}/{version}"


class _Open:
    """A context over a run this client created and keeps open."""

    def __init__(self, run: ActiveRun) -> None:
        self.run = run

    def __enter__(self) -> ActiveRun:
        return self.run

    def __exit__(self, *exc: object) -> None:
        return None
