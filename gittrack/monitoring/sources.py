"""What ``gittrack drift`` compares: a run's data, a model version's training data, a file,
a directory of request logs, or a saved profile, each turned into a profile.

- ``models:/NAME/STAGE`` (or ``/vN``, ``@STAGE``, ``/latest``): the one registry resolver
  names the version's run; its training input's stored profile is the reference, so no path
  is needed and the data need not be at hand.
- a run (id, id prefix, ``<experiment>/<name>``, ``runs:/ID``): its input's stored profile.
- a ``.json`` file written by ``gittrack profile``: that profile.
- a CSV, TSV or Parquet file, or a directory of them (``gittrack serve --log-requests``
  writes one): profiled now, in one streaming pass, without the ``_gittrack_*`` and
  prediction columns of request logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gittrack import query
from gittrack.artifacts import datasets, profiles
from gittrack.artifacts.profiles import Profile
from gittrack.artifacts.run_artifacts import read_input_profile
from gittrack.core.errors import InvalidInputError, RunNotFoundError
from gittrack.core.store import Store
from gittrack.registry.resolver import Registry


@dataclass
class Side:
    """A profile and where it came from (``source`` is plain data for reports)."""

    profile: Profile
    label: str
    source: dict[str, Any] = field(default_factory=dict)


def load(spec: str, store: Store | None, input_name: str | None = None) -> Side:
    """The profile ``spec`` names (see the module doc); ``store`` None: files only."""
    path = Path(spec)
    if spec.startswith("models:/"):
        return from_model(_need(store, spec), spec, input_name)
    if spec.startswith("runs:/"):
        return from_run(_need(store, spec), spec[len("runs:/"):].strip("/"), input_name)
    if path.exists():
        return from_path(path)
    if store is not None:
        try:
            return from_run(store, spec, input_name)
        except RunNotFoundError:
            pass
    raise InvalidInputError(
        f"'{spec}' is neither a file, a directory, a profile (.json), a run nor models:/NAME/STAGE; "
        "check the name.")


def _need(store: Store | None, spec: str) -> Store:
    if store is None:
        raise InvalidInputError(f"'{spec}' names a run or model, which needs a gittrack "
                                "repository; run this inside one or pass --repo.")
    return store


def from_path(path: Path) -> Side:
    """A saved profile (.json), or a table file or directory profiled now."""
    if path.is_file() and path.suffix.lower() == ".json":
        return Side(Profile.from_json(path.read_bytes()), str(path),
                    {"kind": "profile", "path": str(path)})
    if path.is_dir() or profiles.can_profile(path):
        profile = profiles.profile_path(path)
        return Side(profile, str(path), {"kind": "directory" if path.is_dir() else "file",
                                         "path": str(path), "rows": profile.rows})
    raise InvalidInputError(f"Cannot profile '{path}': give a CSV, TSV or Parquet file, a "
                            "directory of them, or a profile written by `gittrack profile`.")


def from_model(store: Store, uri: str, input_name: str | None = None) -> Side:
    """The training data profile of the model version ``uri`` names."""
    version = Registry(store).resolve(uri)
    side = _run_input(store, version.commit, version.run, input_name)
    side.label = f"{uri} (v{version.version}, run {version.run[:8]}, {side.source['input']})"
    side.source.update({"kind": "model", "uri": uri, "model": version.model,
                        "version": version.version})
    return side


def from_run(store: Store, spec: str, input_name: str | None = None) -> Side:
    """The profile of a run's input (its training input when it read several)."""
    run = query.get(store, spec)
    side = _run_input(store, run.commit, run.id, input_name)
    side.label = f"run {run.id[:8]} ({run.name}), {side.source['input']}"
    return side


def _run_input(store: Store, commit: str, run_id: str, input_name: str | None) -> Side:
    inputs = store.read_file(commit, "inputs.yaml") or {}
    name, entry = pick_input(run_id, inputs, input_name)
    profile = read_input_profile(store, commit, entry)
    if profile is None:
        profile = _profile_from_workspace(store, run_id, name, entry)
    return Side(profile, f"run {run_id[:8]}", {
        "kind": "run", "run": run_id, "input": name, "md5": entry.get("md5"),
        "path": entry.get("path"), "rows": profile.rows})


def pick_input(run_id: str, inputs: Mapping[str, Any], wanted: str | None
               ) -> tuple[str, dict[str, Any]]:
    """The input named ``wanted``, else the run's one training input (or one input)."""
    if not inputs:
        raise InvalidInputError(f"Run {run_id[:8]} logged no input data; log the training data "
                                "with log_input so drift has a reference.")
    if wanted is not None:
        if wanted not in inputs:
            raise InvalidInputError(f"Run {run_id[:8]} has no input '{wanted}'; it has "
                                    f"{', '.join(sorted(inputs))}.")
        return wanted, dict(inputs[wanted])
    training = [n for n, e in inputs.items() if isinstance(e, dict)
                and e.get("context", "training") == "training"]
    choices = training or list(inputs)
    if len(choices) > 1:
        raise InvalidInputError(f"Run {run_id[:8]} read several inputs ({', '.join(sorted(choices))}); "
                                "name one with --input.")
    return choices[0], dict(inputs[choices[0]])


def _profile_from_workspace(store: Store, run_id: str, name: str,
                            entry: Mapping[str, Any]) -> Profile:
    # A run logged before profiles existed: profile the file at its recorded path when it
    # still holds the same bytes.
    rel = entry.get("path")
    workdir = store.repo.workdir
    if isinstance(rel, str) and workdir is not None:
        path = workdir / rel
        if path.exists() and profiles.can_profile(path) \
                and datasets.describe_path(path).get("md5") == entry.get("md5"):
            return profiles.profile_path(path)
    raise InvalidInputError(
        f"Input '{name}' of run {run_id[:8]} has no stored profile and its data is not at "
        f"'{rel}' with the same content; restore it (`gittrack checkout`) or give the file.")
