"""MLflow's fluent API (``mlflow.start_run``, ``mlflow.search_runs`` ...) with MLflow's
signatures and return shapes, on top of :mod:`gittrack.api`.

``import gittrack as mlflow`` reaches these through ``gittrack/__init__.py``. gittrack's own
richer views keep their own names: :func:`gittrack.query_runs` (typed params, lower-case
status, every experiment, OR/NOT filters), ``gittrack.get_run_record``.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from gittrack import api
from gittrack.compat import entities, experiments
from gittrack.compat import search as mlsearch
from gittrack.compat.entities import STATUS_FROM_MLFLOW, Experiment, Run, ViewType
from gittrack.core.errors import InvalidInputError
from gittrack.core.store import Store
from gittrack.tracking import stack

if TYPE_CHECKING:
    import pandas as pd

    from gittrack.tracking.active import ActiveRun

_MLFLOW_ID = re.compile(r"[0-9a-f]{32}")


# -- where runs go ------------------------------------------------------------------------
def set_tracking_uri(uri: str | os.PathLike[str]) -> None:
    """Record runs in the git repository at ``uri``: a path or a ``file:`` URI.

    >>> gittrack.set_tracking_uri("file:///home/ada/forecasting")
    """
    text = os.fspath(uri)
    parsed = urlparse(text)
    if parsed.scheme == "file":
        text = unquote(parsed.path) or "."
    elif parsed.scheme and len(parsed.scheme) > 1:  # not a Windows drive letter
        raise InvalidInputError(
            f"gittrack records runs in a git repository, not at {text!r}; give a repository "
            "path, or bring an MLflow store in with `gittrack import mlflow --tracking-uri URI`.")
    api.set_tracking_repo(text)


def get_tracking_uri() -> str:
    """The repository runs are recorded in: its work tree (or git dir when bare), as a path."""
    return root()


def root(store: Store | None = None) -> str:
    repo = (store or api.open_store()).repo
    return str(repo.workdir if repo.workdir is not None else repo.git_dir).rstrip("/")


# -- experiments --------------------------------------------------------------------------
def _name_of(store: Store, experiment_id: str) -> str:
    name = experiments.resolve_id(store, experiment_id, api.get_experiment())
    if name is None:
        raise InvalidInputError(f"No experiment with id {experiment_id!r}; list them with "
                                "gittrack.search_experiments().")
    return name


def set_experiment(experiment_name: str | None = None,
                   experiment_id: str | None = None) -> Experiment:
    """Make an experiment (by name, or by id) the one new runs go to; returns it."""
    store = api.open_store()
    if (experiment_name is None) == (experiment_id is None):
        raise InvalidInputError("set_experiment takes experiment_name or experiment_id, one of them.")
    name = experiment_name if experiment_name is not None else _name_of(store, str(experiment_id))
    api.set_experiment(name)
    return experiments.experiment_of(store, name, experiments.read_record(store, name), root(store))


def create_experiment(name: str, artifact_location: str | None = None,
                      tags: Mapping[str, Any] | None = None) -> str:
    """Create an experiment with tags; returns its id (its name)."""
    from gittrack.core import names  # lazy: loaded only by the calls that need it

    store = api.open_store()
    names.validate_name("experiment", name)
    if name in store.experiments() or experiments.read_record(store, name) is not None:
        raise InvalidInputError(f"Experiment '{name}' already exists; use set_experiment('{name}').")
    experiments.write_record(store, name, experiments.new_record(name, tags, artifact_location))
    return name


def get_experiment(experiment_id: str | None = None) -> Experiment:
    """The experiment with this id (its name, or the MLflow id it was imported with); with
    no id, the active experiment."""
    store = api.open_store()
    name = api.get_experiment() if experiment_id is None else _name_of(store, experiment_id)
    return experiments.experiment_of(store, name, experiments.read_record(store, name), root(store))


def get_experiment_by_name(name: str) -> Experiment | None:
    """The experiment called ``name``, or None."""
    store = api.open_store()
    record = experiments.read_record(store, name)
    if record is None and name not in store.experiments() and name != api.get_experiment():
        return None
    return experiments.experiment_of(store, name, record, root(store))


def search_experiments(view_type: int = ViewType.ACTIVE_ONLY, max_results: int | None = None,
                       filter_string: str | None = None,
                       order_by: list[str] | None = None) -> list[Experiment]:
    """Experiments, filtered by ``name``/``tags.*`` as in MLflow; ordered by name."""
    store = api.open_store()
    found = list(experiments.all_experiments(store, root(store)).values())
    wanted = {ViewType.ACTIVE_ONLY: ("active",), ViewType.DELETED_ONLY: ("deleted",),
              ViewType.ALL: ("active", "deleted")}[view_type]
    found = [e for e in found if e.lifecycle_stage in wanted]
    for clause in mlsearch.parse_experiment_filter(filter_string):
        found = [e for e in found if mlsearch.experiment_matches(e, clause)]
    found = mlsearch.order_experiments(found, order_by or [])
    return found if max_results is None else found[:max_results]


def delete_experiment(experiment_id: str) -> None:
    """Mark an experiment deleted (its runs stay; search_experiments hides it)."""
    store = api.open_store()
    name = _name_of(store, experiment_id)
    record = experiments.read_record(store, name) or experiments.new_record(name)
    experiments.write_record(store, name, {**record, "lifecycle_stage": "deleted"})


def set_experiment_tags(tags: Mapping[str, Any], experiment_id: str | None = None) -> None:
    store = api.open_store()
    name = api.get_experiment() if experiment_id is None else _name_of(store, experiment_id)
    record = experiments.read_record(store, name) or experiments.new_record(name)
    merged = {**(record.get("tags") or {}), **{str(k): str(v) for k, v in tags.items()}}
    experiments.write_record(store, name, {**record, "tags": merged})


def set_experiment_tag(key: str, value: Any) -> None:
    """Set a tag on the active experiment."""
    set_experiment_tags({key: value})


# -- runs -------------------------------------------------------------------------------
def start_run(run_id: str | None = None, experiment_id: str | None = None,
              run_name: str | None = None, nested: bool = False,
              parent_run_id: str | None = None, tags: Mapping[str, Any] | None = None,
              description: str | None = None, log_system_metrics: bool | None = None,
              *, experiment: str | None = None) -> ActiveRun:
    """Start (or with ``run_id`` resume) a run: MLflow's signature, plus gittrack's
    ``experiment=`` (a name). Use it as a context manager.

    >>> with gittrack.start_run(run_name="baseline") as run:
    ...     gittrack.log_param("alpha", 0.5)
    """
    del log_system_metrics  # gittrack records no system metrics
    if experiment_id is not None:
        experiment = _name_of(api.open_store(), experiment_id)
    if run_id is not None:
        run_id = resolve_run_id(api.open_store(), run_id)
    return api.start_run(run_name=run_name, experiment=experiment, tags=tags,
                         description=description, nested=nested, run_id=run_id,
                         parent_run_id=parent_run_id)


def end_run(status: str = "FINISHED") -> None:
    """End the active run with MLflow's status names (FINISHED, FAILED, KILLED) or gittrack's."""
    api.end_run(_status(status))


def _status(status: str) -> str:
    if not isinstance(status, str):
        raise InvalidInputError(f"A run status is a string such as 'FINISHED'; got {status!r}.")
    return STATUS_FROM_MLFLOW.get(status.upper(), status.lower())


def active_run() -> ActiveRun | None:
    """The active run (it answers ``run.info.run_id`` and MLflow's other info fields)."""
    return api.active_run()


def last_active_run() -> Run | None:
    """The active run, or else the run this process ended last, as an MLflow ``Run``."""
    run = api.active_run() or stack.last
    return None if run is None else get_run(run.id)


def resolve_run_id(store: Store, run_id: str) -> str:
    """gittrack's id of a run named by its id (or prefix, or name) or by the MLflow run id
    it was imported with."""
    from gittrack import query  # lazy: loaded only by the calls that need it

    if isinstance(run_id, str) and _MLFLOW_ID.fullmatch(run_id):
        hit = store.resolve_id(run_id[:16])
        if hit is not None:
            return hit[0].rpartition("/")[2]
    return query.resolve(store, run_id)[0].rpartition("/")[2]


def get_run(run_id: str) -> Run:
    """MLflow's ``Run`` (``info``, ``data`` with string params, ``inputs``); the gittrack record
    is ``run.record``."""
    from gittrack import query  # lazy: loaded only by the calls that need it

    if not isinstance(run_id, str) or not run_id:
        raise InvalidInputError(f"get_run takes a run id; got {run_id!r}.")
    store = api.open_store()
    wanted = resolve_run_id(store, run_id)
    for live in list(stack.runs):
        if live.id == wanted and hasattr(live, "commit"):
            live.flush()  # MLflow's stores show what was logged at once
            live.commit()
    return entities.from_record(query.get(store, wanted), root(store))


@contextlib.contextmanager
def logging_to(run_id: str | None) -> Iterator[ActiveRun]:
    """The active run, or the run ``run_id`` (reopened for the call and ended as it was)."""
    current = api.active_run()
    if run_id is None:
        yield current or api.start_run()
        return
    store = api.open_store()
    wanted = resolve_run_id(store, run_id)
    if current is not None and current.id == wanted:
        yield current
        return
    from gittrack import query  # lazy: loaded only by the calls that need it
    from gittrack.tracking.lifecycle import resume_run  # lazy: on use

    ref, commit = query.resolve(store, wanted)
    status = store.read_run(commit).status
    run = resume_run(store, ref, commit)
    try:
        yield run
    finally:
        run.end(status if status in ("finished", "failed", "killed") else "finished")


def log_param(key: str, value: Any, synchronous: bool | None = None) -> Any:
    """Log a parameter of the active run; returns the value."""
    return api.log_param(key, value)


def log_params(params: Mapping[str, Any], synchronous: bool | None = None,
               run_id: str | None = None) -> None:
    with logging_to(run_id) as run:
        run.log_params(params)


def log_metric(key: str, value: float, step: int | None = None,
               synchronous: bool | None = None, timestamp: int | None = None,
               run_id: str | None = None, model_id: str | None = None,
               dataset: Any = None) -> None:
    """Log one metric point (MLflow's keywords; ``synchronous``, ``model_id`` and ``dataset``
    change nothing: gittrack's logging is buffered and crash-safe either way)."""
    with logging_to(run_id) as run:
        run.log_metric(key, value, step, timestamp)


def log_metrics(metrics: Mapping[str, float], step: int | None = None,
                synchronous: bool | None = None, run_id: str | None = None,
                timestamp: int | None = None, model_id: str | None = None,
                dataset: Any = None) -> None:
    with logging_to(run_id) as run:
        run.log_metrics(metrics, step, timestamp)


def set_tag(key: str, value: Any, synchronous: bool | None = None) -> None:
    api.set_tag(key, value)


def set_tags(tags: Mapping[str, Any], synchronous: bool | None = None) -> None:
    api.set_tags(tags)


def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None,
                 run_id: str | None = None) -> None:
    """Store a file at ``<artifact_path>/<file name>`` (the root by default), as MLflow; a
    directory goes to ``<artifact_path>/<directory name>/...``."""
    src = Path(local_path)
    try:
        is_dir = stat.S_ISDIR(os.stat(src).st_mode)
    except (OSError, ValueError):
        raise InvalidInputError(f"No file or directory at '{src}' to log; check the path.") from None
    prefix = artifact_path.strip("/") if artifact_path else ""
    with logging_to(run_id) as run:
        if is_dir:
            _log_tree(run, src, f"{prefix}/{src.resolve().name}".lstrip("/"))
        else:
            _log_file(run, src, f"{prefix}/{src.name}".lstrip("/"))


def _log_file(run: ActiveRun, src: Path, logical: str) -> None:
    from gittrack.artifacts import run_artifacts  # lazy: only runs that log files load it

    run_artifacts.log_file_at(run, src, logical)


def _log_tree(run: ActiveRun, src: Path, prefix: str) -> None:
    from gittrack.artifacts import run_artifacts  # lazy: only runs that log files load it

    run_artifacts.log_files_under(run, src, prefix)


def log_artifacts(local_dir: str | os.PathLike[str], artifact_path: str | None = None,
                  run_id: str | None = None) -> None:
    """Store every file under ``local_dir`` at ``<artifact_path>/<relative path>`` (at the
    root by default: ``log_artifacts("outputs")`` stores ``test.txt``, as MLflow)."""
    src = Path(local_dir)
    if not src.is_dir():
        raise InvalidInputError(f"'{src}' is not a directory; log a single file with log_artifact.")
    with logging_to(run_id) as run:
        _log_tree(run, src, artifact_path.strip("/") if artifact_path else "")


def log_text(text: str, artifact_file: str, run_id: str | None = None) -> None:
    with logging_to(run_id) as run:
        run.log_text(text, artifact_file)


def log_dict(dictionary: Mapping[str, Any], artifact_file: str, run_id: str | None = None) -> None:
    with logging_to(run_id) as run:
        run.log_dict(dictionary, artifact_file)


def log_figure(figure: Any, artifact_file: str, *, save_kwargs: Any = None) -> None:
    api.log_figure(figure, artifact_file)


def log_table(data: Any, artifact_file: str, run_id: str | None = None) -> None:
    with logging_to(run_id) as run:
        run.log_table(data, artifact_file)


def get_artifact_uri(artifact_path: str | None = None) -> str:
    """Where the active run's artifacts are named: ``<repository>/runs/<id>/artifacts[/path]``
    (a name, not a directory: artifacts live in the content-addressed cache)."""
    run = api.active_run() or api.start_run()
    uri = entities.artifact_uri(root(), run.id)
    return f"{uri}/{artifact_path.strip('/')}" if artifact_path else uri


# -- searching --------------------------------------------------------------------------
def search_runs(experiment_ids: list[str] | str | None = None, filter_string: str = "",
                run_view_type: int = ViewType.ACTIVE_ONLY, max_results: int = 100000,
                order_by: list[str] | str | None = None, output_format: str = "pandas",
                search_all_experiments: bool = False,
                experiment_names: list[str] | str | None = None) -> pd.DataFrame | list[Run]:
    """Runs as MLflow returns them: by default of the active experiment only; a DataFrame
    with run_id, experiment_id, status (FINISHED ...), artifact_uri, start_time, end_time,
    ``metrics.*`` (floats), ``params.*`` (strings: ``'0.5'``, ``'None'``) and ``tags.*``
    (with ``mlflow.runName``, ``mlflow.user``, ``mlflow.parentRunId``); newest first, ties by
    run id ascending. MLflow's filter grammar (AND-ed comparisons, see
    gittrack.compat.search). gittrack's richer view is :func:`gittrack.query_runs`.

    >>> gittrack.search_runs(filter_string="params.alpha = '0.5'", order_by=["metrics.rmse"])
    """
    store = api.open_store()
    if isinstance(experiment_ids, str):
        experiment_ids = [experiment_ids]
    if isinstance(experiment_names, str):
        experiment_names = [experiment_names]
    if isinstance(order_by, str):
        order_by = [order_by]
    if output_format not in ("pandas", "list"):
        raise InvalidInputError(f"output_format must be 'pandas' or 'list'; got {output_format!r}.")
    if run_view_type not in (ViewType.ACTIVE_ONLY, ViewType.DELETED_ONLY, ViewType.ALL):
        raise InvalidInputError(f"run_view_type must be a ViewType; got {run_view_type!r}.")
    if experiment_names:
        names = [n for n in experiment_names if n in store.experiments()]
    elif experiment_ids:
        names = [n for n in (experiments.resolve_id(store, i, api.get_experiment())
                             for i in experiment_ids) if n is not None]
    elif search_all_experiments:
        names = store.experiments()
    else:
        names = [api.get_experiment()]
    if run_view_type == ViewType.DELETED_ONLY:
        names = []  # removed runs live in the trash (`gittrack restore`), not in searches
    found = mlsearch.search(store, names, filter_string, order_by, max_results, root(store))
    if output_format == "list":
        from gittrack import query  # lazy: loaded only by the calls that need it

        return [entities.from_record(query.get(store, r.run_id), root(store)) for r in found]
    return mlsearch.frame(found)
