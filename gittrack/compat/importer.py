"""``gittrack import mlflow``: an MLflow store's experiments, runs, artifacts and registry in git.

The store is read with MLflow's own client (any store it opens: ``sqlite:///mlflow.db``, a
``file:`` store, a server), so MLflow must be installed (``pip install gittrack[mlflow]``).
Each MLflow run becomes a run commit whose id is the first 16 hex digits of its MLflow run
id, and whose ``run.yaml`` keeps the whole MLflow id as ``mlflow_run_id``: a rerun finds the
runs it has and imports only the new ones. Metric histories keep every step and timestamp;
artifacts go into the cache at their MLflow paths. A registered version becomes a registry
tag whose annotation keeps MLflow's user and time; its model (a run artifact, or MLflow 3's
logged model) is loaded with MLflow once and saved as a gittrack model artifact of its run.
MLflow's current stage of each version and each alias become promotions (Production ->
``prod``, Staging -> ``staging``, Archived -> ``archived``, alias -> its name in lower case).
"""

from __future__ import annotations

import datetime as _dt
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gittrack.compat import experiments
from gittrack.compat.entities import STATUS_FROM_MLFLOW
from gittrack.compat.models import stage_name
from gittrack.core import names
from gittrack.core.errors import GittrackError, InvalidInputError, RegistryError
from gittrack.core.paths import check_tree_path
from gittrack.core.records import FORMAT_VERSION
from gittrack.core.store import Store

Progress = Callable[[str, int, int], None]  # (what, done, total)
DERIVED_TAGS = ("mlflow.runName", "mlflow.user", "mlflow.parentRunId", "mlflow.note.content")
IMPORT_NOTE = "imported from MLflow: {name} version {version}"


@dataclass
class ImportReport:
    """What one import added (a rerun with nothing new reports zeros)."""

    experiments: int = 0
    runs: int = 0
    skipped_runs: int = 0
    metric_points: int = 0
    artifacts: int = 0
    versions: int = 0
    stage_events: int = 0
    warnings: list[str] = field(default_factory=list)


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc).isoformat(timespec="microseconds")


def open_client(tracking_uri: str) -> Any:
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # ours is shown
    try:
        from mlflow import MlflowClient
    except ImportError as exc:
        raise InvalidInputError("Importing an MLflow store needs MLflow; install it with "
                                "`pip install 'gittrack[mlflow]'`.") from exc
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def import_mlflow(store: Store, tracking_uri: str, experiment_names: Sequence[str] = (),
                  progress: Progress | None = None) -> ImportReport:
    """Copy the MLflow store at ``tracking_uri`` (or only ``experiment_names``) into ``store``."""
    from mlflow.entities import ViewType

    client = open_client(tracking_uri)
    report = ImportReport()
    found = client.search_experiments(view_type=ViewType.ALL)
    if experiment_names:
        missing = set(experiment_names) - {e.name for e in found}
        if missing:
            raise InvalidInputError(f"The MLflow store has no experiment {sorted(missing)[0]!r}; "
                                    "leave --experiment out to import them all.")
        found = [e for e in found if e.name in experiment_names]
    runs = []
    for exp in found:
        _import_experiment(store, exp, report)
        runs += [(exp, r) for r in _all_runs(client, exp.experiment_id, ViewType.ALL)]
    have = {ref.rpartition("/")[2] for ref in store.refs()}
    for done, (exp, run) in enumerate(runs, 1):
        if run.info.run_id[:16] in have:
            report.skipped_runs += 1
        elif not names.is_run_id(run.info.run_id[:16]):  # MLflow's are 32 hex digits
            report.warnings.append(f"run {run.info.run_id!r} not imported: its id is not "
                                   "MLflow's 32 hex digits.")
        else:
            _import_run(store, client, exp.name, run, report)
        if progress:
            progress("runs", done, len(runs))
    imported_runs = {r.info.run_id for _e, r in runs}
    _import_registry(store, client, imported_runs, report, progress)
    return report


def _all_runs(client: Any, experiment_id: str, view: int) -> Iterable[Any]:
    token = None
    while True:
        page = client.search_runs([experiment_id], run_view_type=view, max_results=1000,
                                  order_by=["attributes.start_time ASC"], page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def _import_experiment(store: Store, exp: Any, report: ImportReport) -> None:
    if experiments.read_record(store, exp.name) is not None:
        return
    record = experiments.new_record(exp.name, {k: v for k, v in exp.tags.items()},
                                    exp.artifact_location, exp.creation_time, exp.experiment_id)
    record["lifecycle_stage"] = exp.lifecycle_stage
    record["last_update_time"] = exp.last_update_time or exp.creation_time
    experiments.write_record(store, exp.name, record)
    report.experiments += 1


def _import_run(store: Store, client: Any, experiment: str, run: Any,
                report: ImportReport) -> None:
    from gittrack.tracking.state import RunState  # lazy: loaded only by the calls that need it

    tags = dict(run.data.tags)
    parent = tags.get("mlflow.parentRunId")
    info = {
        "format": FORMAT_VERSION, "id": run.info.run_id[:16],
        "name": run.info.run_name or tags.get("mlflow.runName") or names.generate_run_name(),
        "experiment": experiment,
        "status": STATUS_FROM_MLFLOW.get(run.info.status, "finished"),
        "start_time": _iso(run.info.start_time), "end_time": _iso(run.info.end_time),
        "user": run.info.user_id or tags.get("mlflow.user"), "host": None, "pid": None,
        "command": None, "cwd": None, "python": None, "platform": None, "baseline": None,
        "branch": None, "dirty": False, "untracked": [], "untracked_count": 0, "packages": {},
        "parent": parent[:16] if parent else None,
        "description": tags.get("mlflow.note.content"), "tags": {},
        "mlflow_run_id": run.info.run_id, "mlflow_lifecycle_stage": run.info.lifecycle_stage,
    }
    state = RunState(info)
    state.merge_params(dict(run.data.params))
    for key, value in tags.items():
        if key not in DERIVED_TAGS:
            state.apply(["t", key, value])
    for key in run.data.metrics:
        for point in client.get_metric_history(run.info.run_id, key):
            state.add_point(key, float(point.value), int(point.step), int(point.timestamp))
            report.metric_points += 1
    for ds in run.inputs.dataset_inputs if run.inputs else ():
        context = next((t.value for t in ds.tags if t.key == "mlflow.data.context"), None)
        state.inputs[names.validate_key("input", ds.dataset.name or "dataset")] = {
            "path": ds.dataset.source, "md5": ds.dataset.digest, "size": None, "rows": None,
            "columns": None, "schema": ds.dataset.schema, "context": context,
            "kind": f"mlflow:{ds.dataset.source_type}"}
    report.artifacts += _import_artifacts(store, client, run, state, report)
    commit = store.write_commit(None, None, state.files(store), state.message())
    store.repo.create_ref(names.run_ref(experiment, info["id"]), commit)
    report.runs += 1


def _import_artifacts(store: Store, client: Any, run: Any, state: Any,
                      report: ImportReport) -> int:
    from gittrack.artifacts.local import cache_for, cache_lock  # lazy: on use
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    # the run's artifact repository directly: MlflowClient.list_artifacts reads the whole run
    # from the store on every call (half of the import's time, measured)
    artifacts: Any = get_artifact_repository(run.info.artifact_uri)
    paths = list(_artifact_files(artifacts, None))
    if not paths:
        return 0
    with tempfile.TemporaryDirectory(prefix="gittrack-import-") as tmp, cache_lock(store.repo):
        local = Path(artifacts.download_artifacts("", tmp))
        cache = cache_for(store.repo)
        for path in paths:
            try:
                # a path from the store becomes a path `gittrack checkout` writes: git's rules
                state.artifacts[check_tree_path(path, "Artifact path")] = \
                    cache.add(local / path).to_dict()
            except (GittrackError, OSError) as exc:
                report.warnings.append(f"run {run.info.run_id}: artifact {path} not imported: {exc}")
    return len(paths)


def _artifact_files(artifacts: Any, path: str | None) -> Iterable[str]:
    for item in artifacts.list_artifacts(path):
        if item.is_dir:
            yield from _artifact_files(artifacts, item.path)
        else:
            yield item.path


# -- the registry ------------------------------------------------------------------------
def _import_registry(store: Store, client: Any, imported_runs: set[str], report: ImportReport,
                     progress: Progress | None) -> None:
    from gittrack.registry.resolver import Registry  # lazy: loaded only by the calls that need it

    registry = Registry(store)
    models = list(client.search_registered_models(max_results=1000))
    for done, model in enumerate(models, 1):
        versions = sorted(client.search_model_versions(f"name='{model.name}'"),
                          key=lambda v: int(v.version))
        numbers: dict[str, int] = {}
        for mv in versions:
            if mv.run_id not in imported_runs:
                continue
            number = _import_version(store, client, registry, model.name, mv, report)
            if number is not None:
                numbers[str(mv.version)] = number
        for mv in versions:
            stage = str(mv.current_stage or "None")
            if str(mv.version) in numbers and stage != "None":
                _promote(registry, model.name, numbers[str(mv.version)], stage_name(stage),
                         mv.user_id, mv.last_updated_timestamp, report)
        for alias, version in (model.aliases or {}).items():
            if str(version) in numbers:
                _promote(registry, model.name, numbers[str(version)], stage_name(alias),
                         "", model.last_updated_timestamp, report)
        if progress:
            progress("models", done, len(models))


def _import_version(store: Store, client: Any, registry: Any, name: str, mv: Any,
                    report: ImportReport) -> int | None:
    note = IMPORT_NOTE.format(name=name, version=mv.version)
    existing = registry.model(name, must_exist=False)
    for v in existing.versions.values():
        if v.note == note:
            return int(v.version)
    path = _model_artifact(store, client, mv, report)
    if path is None:
        return None
    with registry.recorded_as(mv.user_id or "mlflow", _iso(mv.creation_timestamp)):
        version = registry.register(f"runs:/{mv.run_id[:16]}/{path}", name, path, note)
    report.versions += 1
    return int(version.version)


def _model_artifact(store: Store, client: Any, mv: Any, report: ImportReport) -> str | None:
    """Load the version's model with MLflow and save it as a gittrack model artifact of its
    run (``registered/<name>/v<N>``); the artifact path, or None when it cannot be loaded."""
    from gittrack import query  # lazy: loaded only by the calls that need it
    from gittrack.artifacts.local import cache_for, cache_lock  # lazy: on use
    from gittrack.artifacts.models import save_model  # lazy: loaded only by the calls that need it
    from gittrack.tracking.state import RunState  # lazy: loaded only by the calls that need it

    path = f"registered/{mv.name}/v{mv.version}"
    ref, commit = query.resolve(store, mv.run_id[:16])
    state = RunState.from_commit(store, commit)
    if path in state.artifacts:
        return path
    try:
        model = _load_version(client, mv)
    except Exception as exc:  # noqa: BLE001 - MLflow raises anything; the version is skipped
        report.warnings.append(f"{mv.name} version {mv.version}: model not loadable ({exc}); "
                               "not registered")
        return None
    with tempfile.TemporaryDirectory(prefix="gittrack-import-") as tmp, cache_lock(store.repo):
        save_model(model, Path(tmp, "model"))
        state.artifacts[path] = cache_for(store.repo).add(Path(tmp, "model"), kind="model").to_dict()
    parents = store.repo.commit_parents(commit)
    new = store.write_commit(store.code_tree_of(commit), parents[0] if parents else None,
                             state.files(store), state.message())
    store.repo.set_ref(ref, new)
    return path


def _load_version(client: Any, mv: Any) -> Any:
    """The version's model, loaded from its files with the flavor's loader (no MLflow global
    state: the files are found through this client's store)."""
    import mlflow

    model_id = getattr(mv, "model_id", None)
    location = client.get_logged_model(model_id).artifact_location if model_id else \
        client.get_model_version_download_uri(mv.name, mv.version)
    with tempfile.TemporaryDirectory(prefix="gittrack-import-") as tmp:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=location, dst_path=tmp, tracking_uri=client.tracking_uri)
        flavors = mlflow.models.Model.load(local).flavors
        loader = mlflow.xgboost if "xgboost" in flavors else mlflow.sklearn \
            if "sklearn" in flavors else mlflow.pyfunc
        return loader.load_model(local)


def _promote(registry: Any, name: str, number: int, stage: str, user: str | None,
             when: int | None, report: ImportReport) -> None:
    if registry.model(name).stages.get(stage) == number:
        return
    try:
        with registry.recorded_as(user or "mlflow", _iso(when) or _iso(0)):
            registry.promote(name, number, stage, "imported from MLflow")
    except RegistryError as exc:
        report.warnings.append(f"{name} v{number} -> {stage}: {exc}")
        return
    report.stage_events += 1
