"""Experiments as MLflow sees them: ids, tags, creation times, deletion.

In gittrack an experiment is a name (the ref folder of its runs), so the experiment id *is* the
name: stable across clones with no counter to collide on. What MLflow keeps besides the name
(tags, creation time, the id an imported experiment had in MLflow, deleted or not) lives in
``experiment.yaml`` on the ref ``refs/gittrack/experiments/<encoded name>`` (a commit with that
one file), written by ``create_experiment``, ``set_experiment_tag`` and the MLflow import.
An experiment that only has runs has no such record and reads as created at its first run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from gittrack.compat.entities import Experiment, LifecycleStage
from gittrack.core import names
from gittrack.core.errors import InvalidInputError
from gittrack.core.records import dump_yaml, load_yaml
from gittrack.core.store import Store

PREFIX = "refs/gittrack/experiments/"
RECORD = "experiment.yaml"
DEFAULT_ALIASES = ("0",)  # MLflow's Default experiment id reaches gittrack's default experiment


def _ref(name: str) -> str:
    return PREFIX + names.encode_component(name)


def read_record(store: Store, name: str) -> dict[str, Any] | None:
    commit = store.repo.resolve_ref(_ref(name))
    if commit is None:
        return None
    data = store.repo.read_blob(commit, RECORD)
    doc = load_yaml(data) if data is not None else None
    return doc if isinstance(doc, dict) else None


def write_record(store: Store, name: str, record: Mapping[str, Any]) -> None:
    """Write ``experiment.yaml`` for ``name`` (a new commit on the experiment's ref)."""
    repo = store.repo
    blob = repo.write_blob(dump_yaml(dict(record), sort_keys=False))
    tree = repo.write_tree({RECORD: blob})
    parent = repo.resolve_ref(_ref(name))
    commit = repo.write_commit(tree, parent, f"experiment {name}\n")
    repo.set_ref(_ref(name), commit)


def records(store: Store) -> dict[str, dict[str, Any]]:
    """``{name: record}`` of every experiment that has a record."""
    out = {}
    for ref in store.repo.list_refs(PREFIX):
        name = names.decode_component(ref[len(PREFIX):])
        rec = read_record(store, name)
        if rec is not None:
            out[name] = rec
    return out


def new_record(name: str, tags: Mapping[str, Any] | None = None,
               artifact_location: str | None = None, created: int | None = None,
               mlflow_id: str | None = None) -> dict[str, Any]:
    now = int(time.time() * 1000) if created is None else created
    return {"name": name, "creation_time": now, "last_update_time": now,
            "lifecycle_stage": LifecycleStage.ACTIVE,
            "tags": {str(k): str(v) for k, v in (tags or {}).items()},
            "artifact_location": artifact_location, "mlflow_experiment_id": mlflow_id}


def experiment_of(store: Store, name: str, record: Mapping[str, Any] | None,
                  root: str) -> Experiment:
    rec = record or {}
    return Experiment(
        experiment_id=name, name=name,
        artifact_location=str(rec.get("artifact_location") or f"{root}/experiments/{name}"),
        lifecycle_stage=str(rec.get("lifecycle_stage") or LifecycleStage.ACTIVE),
        tags={str(k): str(v) for k, v in (rec.get("tags") or {}).items()},
        creation_time=rec.get("creation_time"), last_update_time=rec.get("last_update_time"),
    )


def all_experiments(store: Store, root: str) -> dict[str, Experiment]:
    """Every experiment: those with runs and those with only a record."""
    recs = records(store)
    found = set(store.experiments()) | set(recs)
    return {name: experiment_of(store, name, recs.get(name), root) for name in sorted(found)}


def resolve_id(store: Store, experiment_id: str, default: str) -> str | None:
    """The experiment name an MLflow experiment id names: the name itself, ``"0"`` for the
    default experiment, or the id an imported experiment had in MLflow."""
    if not isinstance(experiment_id, str) or not experiment_id:
        raise InvalidInputError(f"An experiment id must be a non-empty string; got {experiment_id!r}.")
    if experiment_id in store.experiments() or read_record(store, experiment_id) is not None:
        return experiment_id
    for name, rec in records(store).items():
        if str(rec.get("mlflow_experiment_id")) == experiment_id:
            return name
    if experiment_id in DEFAULT_ALIASES:
        return default
    return None
