"""The public Python API, with MLflow's names and semantics where they fit."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from gittrack import query
from gittrack.core import display, names
from gittrack.core.errors import InvalidInputError, RunStateError
from gittrack.core.store import Store, repo_from_env, set_tracking_path
from gittrack.tracking import services, stack
from gittrack.tracking.recovery import recover_dead_runs

if TYPE_CHECKING:  # the writing side loads on the first start_run: the CLI reads only
    from gittrack.core.gitio import Repo
    from gittrack.core.records import Run
    from gittrack.tracking.active import ActiveRun

DEFAULT_EXPERIMENT = "default"

_experiment: str | None = None
Terminated = stack.Terminated


def _run_artifacts() -> ModuleType:
    from gittrack.artifacts import run_artifacts  # lazy: only a run that logs an artifact loads it

    return run_artifacts


def _note_ended(repo: Repo, ended: Sequence[services.Ended]) -> None:
    from gittrack.query import index  # lazy: only an ending run notes its summary

    index.note_runs(repo, ended)


def _card(obj: object) -> str | None:
    from gittrack.query import cards  # lazy: only a notebook showing a run draws its card

    return cards.card(obj)


services.provide(artifacts=_run_artifacts, ended=_note_ended)
display.provide(_card)


def set_tracking_repo(path: str | os.PathLike[str] | None) -> None:
    """Record runs in the repository at ``path`` (a bare repository works); None resets."""
    set_tracking_path(path)


def get_tracking_repo() -> str:
    """The git directory runs are recorded in."""
    return str(_store().repo.git_dir)


def _store() -> Store:
    return Store(repo_from_env())


def open_store() -> Store:
    """The store of the tracking repository, with dead live runs recovered first and the
    final commits of the runs this process ended written."""
    stack.wait_all()
    return _writing_store()


def _writing_store() -> Store:
    # A new run needs no other run's final commit: it starts while they are written.
    store = _store()
    recover_dead_runs(store)
    return store


def flush() -> None:
    """Wait until every run this process ended is committed to its ref.

    ``end_run`` returns once the end is in the run's journal (safe from a crash) and the
    run's thread writes the final commit right after; gittrack's own reads wait for it, and
    so does the exit of the process. Call this before reading the runs with other tools
    (the git CLI) in the same process.
    """
    stack.wait_all()


def set_experiment(name: str) -> str:
    """Make ``name`` the experiment of the runs started from now on."""
    global _experiment
    _experiment = names.validate_name("experiment", name)
    return _experiment


def get_experiment() -> str:
    return _experiment or os.environ.get("GITTRACK_EXPERIMENT") or DEFAULT_EXPERIMENT


def start_run(run_name: str | None = None, experiment: str | None = None,
              tags: Mapping[str, Any] | None = None, description: str | None = None,
              nested: bool = False, run_id: str | None = None,
              parent_run_id: str | None = None) -> ActiveRun:
    """Start (or with ``run_id`` resume) a run; use it as a context manager.

    In a child of ``gittrack run`` ($GITTRACK_RUN_ID set) this joins the parent's run instead
    (gittrack.tracking.attach); ``nested=True`` then starts a run nested under it.

    >>> with gittrack.start_run(run_name="baseline") as run:
    ...     run.log_param("alpha", 0.5)
    ...     run.log_metric("rmse", 380.2)
    """
    with stack.lock:
        if run_id is None and os.environ.get("GITTRACK_RUN_ID"):
            stack.wait_all()  # a run this process ended is not live once its commit is in
            from gittrack.tracking import attach  # lazy: a child of `gittrack run` joins that run

            if not stack.runs:
                stack.push(attach.attach(_store(), os.environ["GITTRACK_RUN_ID"]))
            if not nested and isinstance(stack.runs[-1], attach.AttachedRun):
                if tags:
                    stack.runs[-1].set_tags(tags)
                return stack.runs[-1]
        if stack.runs and not nested:
            raise RunStateError(
                f"Run {stack.runs[-1].id} ({stack.runs[-1].name}) is already active; end it with "
                "end_run() first, or pass nested=True to start a nested run."
            )
        from gittrack.tracking.lifecycle import (  # lazy: loads on first use; reads stay light
            create_run,
            resume_run,
        )

        # resuming reads the run's last commit; a new run needs no other run's final commit
        store = _writing_store() if run_id is None else open_store()
        parent = stack.runs[-1].id if stack.runs else None
        if parent_run_id is not None:  # MLflow's explicit parent (a run id or name)
            parent = query.resolve(store, parent_run_id)[0].rpartition("/")[2]
        if run_id is not None:
            ref, commit = query.resolve(store, run_id)
            run = resume_run(store, ref, commit)
        else:
            run = create_run(store, get_experiment() if experiment is None else experiment,
                             run_name, tags,
                             description, parent)
        stack.push(run)
        return run


def active_run() -> ActiveRun | None:
    """The innermost run of this process, or None (with $GITTRACK_RUN_ID: the joined run)."""
    with stack.lock:
        if not stack.runs and os.environ.get("GITTRACK_RUN_ID"):
            return start_run()
        return stack.runs[-1] if stack.runs else None


def end_run(status: str = "finished") -> None:
    """End the active run (and any nested run still open inside it)."""
    with stack.lock:
        if stack.runs:
            end_run_object(stack.runs[-1], status)


def end_run_object(run: ActiveRun, status: str) -> None:
    """End ``run`` and the nested runs above it on the stack."""
    stack.end_run_object(run, status)


def _current() -> ActiveRun:
    # As in MLflow, logging with no active run starts one.
    return active_run() or start_run()


def log_param(key: str, value: Any) -> Any:
    """Log a parameter of the active run; it cannot change once logged."""
    return _current().log_param(key, value)


def log_params(params: Mapping[str, Any]) -> None:
    """Log several parameters (nested mappings allowed) of the active run."""
    _current().log_params(params)


def log_metric(key: str, value: float, step: int | None = None,
               timestamp: int | None = None) -> None:
    """Log one point of a metric of the active run (buffered: microseconds a call)."""
    _current().log_metric(key, value, step, timestamp)


def log_metrics(metrics: Mapping[str, float], step: int | None = None,
                timestamp: int | None = None) -> None:
    """Log several metrics of the active run at one step."""
    _current().log_metrics(metrics, step, timestamp)


def set_tag(key: str, value: Any) -> None:
    """Set a tag of the active run."""
    _current().set_tag(key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    """Set several tags of the active run."""
    _current().set_tags(tags)


def get_run(run: str) -> Run:
    """The recorded run named by id, id prefix, ``<experiment>/<name>``, a unique name, or a
    registry reference (``forecaster/prod``, ``models:/forecaster/3``, a registry tag).

    >>> gittrack.get_run("models:/forecaster/prod").metrics["rmse"].value
    """
    if not isinstance(run, str) or not run:
        raise InvalidInputError(f"get_run takes a run id or name; got {run!r}.")
    from gittrack.registry import references  # lazy: the registry loads when a run is read

    return references.get(open_store(), run)


def log_runs(records: Iterable[Mapping[str, Any]], experiment: str | None = None) -> list[str]:
    """Write many finished runs at once (imports, backfills); the new run ids, in order.

    Each record is a mapping with any of: ``name``, ``experiment``, ``params`` (nested
    allowed), ``metrics`` (``{key: value}`` or ``{key: [(step, timestamp ms, value), ...]}``),
    ``tags``, ``status`` (default finished), ``start_time``/``end_time`` (ISO text or epoch
    ms), ``user``, ``description``, ``parent`` (a run id), ``id`` (16 hex digits; default a
    new one), ``artifacts``/``inputs`` (pointers as run records hold them). The runs hold the
    same records the tracking API writes for the same values, and are written as one
    transaction (a pack, then every ref at once): thousands a second. Bad input anywhere
    writes no run.

    >>> gittrack.log_runs([{"name": "r1", "params": {"alpha": 0.5}, "metrics": {"rmse": 3.2}}])
    """
    from gittrack.tracking import bulk  # lazy: loads on first use; reads stay light

    return bulk.log_runs(open_store(), records, get_experiment() if experiment is None else experiment)


# -- the model registry: every function goes through gittrack.registry.resolver, the one resolver -----
from typing import TYPE_CHECKING  # noqa: E402 - the registry section is self-contained

if TYPE_CHECKING:
    from gittrack.registry.resolver import Model, ModelVersion, Registry, ResolvedModel
    from gittrack.registry.tags import Event


def _registry() -> Registry:
    from gittrack.registry.resolver import Registry  # lazy: loads on first use; reads stay light

    return Registry(open_store())


def register_model(run_or_uri: str | Run | ActiveRun, name: str,
                   artifact_path: str | None = None, note: str | None = None,
                   sign: bool | None = None) -> ModelVersion:
    """Register an ended run's model artifact as the next version of model ``name``.

    ``run_or_uri`` is a run (object, id, id prefix, ``EXPERIMENT/NAME``), ``RUN:PATH`` or
    MLflow's ``runs:/<run id>/<artifact path>``. Without a path, the run's one artifact of kind
    ``model`` is registered. Writes the annotated tag ``<name>/v<N>``, signed by git
    (``git tag -s``) with ``sign=True`` or ``sign: true`` in ``.gittrack/config.yaml``.

    >>> gittrack.register_model("runs:/4b609412af556160/model", "forecaster").version
    1
    """
    spec = run_or_uri if isinstance(run_or_uri, str) else run_or_uri.id
    return _registry().register(spec, name, artifact_path, note, sign=sign)


def promote(name: str, version: int | str, stage: str, note: str | None = None,
            sign: bool | None = None) -> Event:
    """Make ``version`` (3 or "v3") the current version of ``stage``; returns the event.
    ``sign`` as for :func:`register_model`.

    >>> gittrack.promote("forecaster", 3, "prod").tag
    'forecaster/prod/v3'
    """
    return _registry().promote(name, version, stage, note, sign=sign)


def rollback(name: str, stage: str, to: int | str | None = None,
             note: str | None = None, sign: bool | None = None) -> list[Event]:
    """Demote the current version of ``stage`` so the previous active one (or ``to``) is current.

    Only creates demotion tags (``<name>/<stage>/v<N>!``); no tag is moved or deleted.
    ``sign`` as for :func:`register_model`.
    """
    return _registry().rollback(name, stage, to, note, sign=sign)


def get_model_version(name: str, version: int | str) -> ModelVersion:
    """One registered version of a model (3 or "v3")."""
    return _registry().version(name, version)


def list_models() -> list[Model]:
    """Every registered model with its versions, current stages and history."""
    return list(_registry().models().values())


def resolve_model_uri(uri: str) -> ResolvedModel:
    """``(run commit, artifact path, version)`` of ``models:/NAME/STAGE``, ``models:/NAME/N``,
    ``models:/NAME@STAGE`` or ``models:/NAME/latest``.

    >>> commit, path, version = gittrack.resolve_model_uri("models:/forecaster/prod")
    """
    return _registry().resolve_uri(uri)


# -- comparing runs (search, history, diff, baselines) --------------------------------------
def search_runs(experiment_names: list[str] | str | None = None, filter_string: str = "",
                order_by: list[str] | str | None = None,
                max_results: int | None = None, *,
                experiment_ids: list[str] | str | None = None,
                output_format: str = "pandas") -> Any:
    """Runs as a pandas DataFrame, one row a run, with MLflow's column names.

    Columns: run_id, experiment, name, status, start_time and end_time (UTC datetimes), user,
    baseline_commit, parent_run_id, commit, then ``metrics.*`` (floats), ``params.*`` (the
    values as logged) and ``tags.*``. ``filter_string`` is MLflow's filter syntax plus OR,
    NOT and parentheses; ``order_by`` items are like ``"metrics.rmse ASC"``; newest first
    otherwise. As in MLflow, ``experiment_ids`` may name the experiments (an experiment's id
    is its name here) and ``output_format="list"`` gives :class:`Run` objects instead.

    >>> gittrack.search_runs(["forecast"], "metrics.rmse < 400 OR params.model = 'rf'",
    ...                      order_by=["metrics.rmse ASC"], max_results=10)
    """
    from gittrack.query import search  # lazy: loads on first use; reads stay light
    if experiment_ids is not None:
        if experiment_names is not None:
            raise InvalidInputError("Give experiment_names or experiment_ids, not both; an "
                                    "experiment's id is its name in gittrack.")
        experiment_names = experiment_ids
    if output_format not in ("pandas", "list"):
        raise InvalidInputError(f"output_format must be 'pandas' or 'list'; got {output_format!r}.")
    store = open_store()
    frame = search.search_runs(store, experiment_names, filter_string, order_by, max_results)
    if output_format == "list":
        return [store.read_run(commit) for commit in frame["commit"]]
    return frame


def metric_history(runs: Any, keys: list[str] | str | None = None) -> Any:
    """Every logged point of metrics as a long DataFrame: run_id, key, step, timestamp, value.

    ``runs`` is a run id or name, a list of them, or a DataFrame from :func:`search_runs`;
    ``keys`` limits the metrics (default: all of each run). Timestamps are UTC datetimes.

    >>> gittrack.metric_history(gittrack.search_runs(max_results=5), ["loss"])
    """
    from gittrack.query import search  # lazy: loads on first use; reads stay light
    return search.metric_history(open_store(), runs, keys)


def diff_runs(runs: list[str], all_keys: bool = False, code_patch: bool = False
              ) -> dict[str, Any]:
    """What differs between runs (docs/diff.md); one run is compared with its baseline.
    Runs may be named by the registry too (``forecaster/prod``, ``models:/forecaster/3``).

    >>> gittrack.diff_runs(["brisk-lamb-417", "forecaster/prod"])["params"]
    """
    from gittrack.query import baseline, diff  # lazy: loads on first use; reads stay light
    from gittrack.registry import references  # lazy: the registry loads when runs are compared
    store = open_store()
    records = [references.get(store, spec) for spec in runs]
    if len(records) == 1:
        records.insert(0, store.read_run(baseline.require_baseline(store,
                                                                   records[0].experiment)))
    return diff.compare(store, records, all_keys=all_keys, patch=code_patch)


def set_baseline(run: str) -> str:
    """Mark ``run`` as the baseline of its experiment (a git ref); returns the experiment.

    >>> gittrack.set_baseline("forecast/brisk-lamb-417")
    """
    from gittrack.query import baseline  # lazy: loads on first use; reads stay light
    from gittrack.registry import references  # lazy: the registry loads when a run is named
    store = open_store()
    experiment, _commit = baseline.set_baseline_commit(store, references.resolve(store, run).commit)
    return experiment


def get_baseline(experiment: str | None = None) -> Run | None:
    """The baseline run of ``experiment`` (default: the current one), or None.

    >>> gittrack.get_baseline("forecast")
    """
    from gittrack.query import baseline  # lazy: loads on first use; reads stay light
    store = open_store()
    commit = baseline.get_baseline(store, experiment or get_experiment())
    return None if commit is None else store.read_run(commit)


# -- artifacts, inputs and models of the active run (gittrack.artifacts.run_artifacts) -----------------
if TYPE_CHECKING:
    from gittrack.artifacts.cache import Pointer
    from gittrack.artifacts.models import LoadedModel
    from gittrack.artifacts.run_artifacts import LoggedModel


def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None) -> Pointer:
    """Store a file (or directory) in the cache and record it in the active run.

    >>> gittrack.log_artifact("outputs/report.html")
    """
    return _current().log_artifact(local_path, artifact_path)  # type: ignore[no-any-return]


def log_artifacts(local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> Pointer:
    """Store a directory as one artifact of the active run.

    >>> gittrack.log_artifacts("outputs/plots", artifact_path="plots")
    """
    return _current().log_artifacts(local_dir, artifact_path)  # type: ignore[no-any-return]


def log_text(text: str, artifact_file: str) -> Pointer:
    """Store text as the file artifact ``artifact_file`` of the active run."""
    return _current().log_text(text, artifact_file)  # type: ignore[no-any-return]


def log_dict(dictionary: Mapping[str, Any], artifact_file: str) -> Pointer:
    """Store a mapping as YAML (.yaml/.yml) or JSON (any other extension)."""
    return _current().log_dict(dictionary, artifact_file)  # type: ignore[no-any-return]


def log_figure(figure: Any, artifact_file: str) -> Pointer:
    """Store a matplotlib figure (png, svg, pdf ... by extension)."""
    return _current().log_figure(figure, artifact_file)  # type: ignore[no-any-return]


def log_table(data: Any, artifact_file: str) -> Pointer:
    """Store a DataFrame or dict of columns as .json, .csv or .parquet."""
    return _current().log_table(data, artifact_file)  # type: ignore[no-any-return]


def log_input(source: Any, name: str | None = None, context: str = "training",
              store: bool = False, profile: bool = True,
              header: bool | None = None) -> dict[str, Any]:
    """Record a dataset (path or DataFrame) the active run read: hash, size, rows, columns,
    schema and, for tables, a data profile (``profile=False`` skips it).

    ``header``: whether a CSV's first line names its columns; by default it is detected (a
    first line of numbers is data), and a file without one gets columns 0, 1, ...

    >>> gittrack.log_input("data/train.csv", context="training")["rows"]
    1000
    """
    return _current().log_input(source, name, context, store, profile, header=header)


def log_model(model: object, name: str, input_example: object = None,
              signature: Mapping[str, Any] | None = None,
              pip_requirements: list[str] | None = None) -> LoggedModel:
    """Save a model (scikit-learn, XGBoost or any predict/callable) as artifact ``name``.

    >>> gittrack.log_model(forest, "model", input_example=X.head()).model_uri
    'runs:/4b609412af556160/model'
    """
    return _current().log_model(  # type: ignore[no-any-return]
        model, name, input_example, signature, pip_requirements)


def load_model(model_uri: str, trust: bool = False) -> LoadedModel:
    """Load a model from ``runs:/<run>/<path>``, ``<experiment>/<run name>/<path>``,
    ``models:/<name>/<stage or version>`` or a local directory; ``.predict(frame)`` works.

    A model that would be unpickled (python_function models, pickled scikit-learn models)
    loads only when its run or registry tag was made in this clone or is signed by a key in
    ``.gittrack/allowed_signers``, or with ``trust=True`` (or ``GITTRACK_TRUST_ALL=1``);
    otherwise UntrustedModelError names its author. skops and XGBoost models load from anyone.

    >>> gittrack.load_model("models:/forecaster/prod").predict(frame)
    """
    from gittrack.registry import uris  # lazy: loading a model needs the registry and models

    return uris.load_model(open_store(), model_uri, trust=trust)


# -- sharing (gittrack.sharing.remote) --------------------------------------------------------------
if TYPE_CHECKING:
    from gittrack.sharing.remote import FetchResult, PushResult


def push(remote: str | None = None, experiment: str | None = None, runs: Sequence[str] = (),
         artifacts: bool = True) -> PushResult:
    """Push runs, the trash, baselines and registry tags to a git remote (default: origin),
    their artifacts first to the artifact remote of ``.gittrack/config.yaml``; as
    ``gittrack push``. Nothing is force-pushed; a version number the remote took meanwhile is
    renumbered here (``result.renamed``, each also a warning on the ``gittrack`` logger).

    >>> gittrack.push("origin", experiment="forecast").refs
    12
    """
    import logging

    from gittrack.sharing import remote as remotes  # lazy: loads on first use; reads stay light
    result = remotes.push(open_store(), remote, experiment, runs, artifacts=artifacts)
    for item in result.renamed:  # the CLI prints these; from Python they are warnings
        logging.getLogger("gittrack").warning(
            "renumbered %s -> %s: the remote already had %s v%s", item.old, item.new,
            item.model, item.old_version)
    return result


def pull(remote: str | None = None, experiment: str | None = None, runs: Sequence[str] = (),
         artifacts: bool = False) -> FetchResult:
    """Bring runs, the trash, baselines and registry tags from a git remote (default: origin);
    as ``gittrack pull``. Artifacts come when a checkout or load_model needs them, or at once
    with ``artifacts=True``.

    >>> gittrack.pull("origin", artifacts=True).created
    12
    """
    from gittrack.sharing import remote as remotes  # lazy: loads on first use; reads stay light
    return remotes.fetch(open_store(), remote, experiment, runs, artifacts=artifacts)
