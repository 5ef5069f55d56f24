"""Monitoring runs: a production batch scored and compared with the training data, recorded
as a run in the experiment ``<model>/monitoring`` (DESIGN section 9, docs/monitoring.md).

A monitoring run holds, at step N (the batch's number):

- params: the model, the URI, the stage, the serving ``version`` (the version that answered
  the batch's requests when it is a request log, else the one the URI resolves to), the
  reference run and input, the batch and its rows;
- the batch as an input (``context: monitoring``: md5 and its profile: the data version);
- metrics: ``drift/<column>`` (the column's test score), ``drift/share``, ``drift/columns``
  (how many drifted), ``drift/dataset`` (1 when the dataset drifts) and, with a target, the
  error metrics the version's training run logged (gittrack.monitoring.scores);
- ``drift.json``: the whole drift report (gittrack.monitoring.drift), with the distributions;
- tags ``alert`` and ``rollback_to`` when a threshold of ``monitoring:`` in
  .gittrack/config.yaml is crossed.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gittrack import api
from gittrack.artifacts import profiles
from gittrack.artifacts.profiles import Profile
from gittrack.core import project
from gittrack.core.errors import InvalidInputError
from gittrack.core.store import Store
from gittrack.monitoring import drift, scores, sources
from gittrack.registry import uris
from gittrack.registry.resolver import ModelVersion, Registry, parse_model_ref

VERSION_COLUMN = "_gittrack_model_version"
SUFFIX = "monitoring"


@dataclass
class MonitorResult:
    """What a monitoring run recorded, and what to do about it."""

    run_id: str
    run_name: str
    experiment: str
    model: str
    stage: str | None
    version: int
    step: int
    drift: drift.DriftReport
    metrics: dict[str, float]
    served: dict[int, int] = field(default_factory=dict)  # version -> rows it answered
    alerts: list[str] = field(default_factory=list)
    rollback_to: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data (``gittrack monitor --json``)."""
        return {"run_id": self.run_id, "run_name": self.run_name, "experiment": self.experiment,
                "model": self.model, "stage": self.stage, "version": self.version,
                "step": self.step, "served": self.served, "metrics": self.metrics,
                "alerts": self.alerts, "rollback_to": self.rollback_to,
                "drift": self.drift.to_dict(display=False)}


def experiment_of(model: str) -> str:
    """The experiment of a model's monitoring runs."""
    return f"{model}/{SUFFIX}"


def monitor(model_uri: str, data: Any, target: str | None = None, *, name: str | None = None,
            step: int | None = None, input_name: str | None = None) -> MonitorResult:
    """Record a monitoring run of ``model_uri`` on the batch ``data``.

    ``data`` is a CSV, TSV or Parquet file, a directory of ``gittrack serve --log-requests``
    logs, or a pandas DataFrame; ``target`` names the column of actual values (error metrics
    need it). The drift reference is the training data of the serving version, found through
    the registry.

    >>> result = gittrack.monitor("models:/forecaster/prod", "data/june.csv", target="hours")
    >>> result.alerts, result.rollback_to
    """
    store = api.open_store()
    registry = Registry(store)
    model, selector = parse_model_ref(model_uri)
    resolved = registry.resolve(model_uri)
    served = served_versions(data)
    version = registry.version(model, max(served, key=lambda v: served[v])) if served else resolved
    reference = sources.from_model(store, f"models:/{model}/v{version.version}", input_name)
    current = _profile(data)
    settings = drift.settings_for(store.repo)
    report = drift.compare(reference.profile, current, settings)
    label = _label(data, name)
    report.reference = {"label": reference.label, **reference.source}
    report.current = {"label": label, "rows": current.rows}
    errors = _errors(store, version, data, target) if target else {}
    stage = None if re.fullmatch(r"v[0-9]+|latest", selector) else selector
    metrics = {**errors, **drift_metrics(report)}
    alerts = check_alerts(metrics, project.config(store.repo).get("monitoring"))
    rollback_to = _rollback_target(registry, model, stage, version.version) if alerts else None
    experiment = experiment_of(model)
    number = step if step is not None else len(store.refs(experiment)) + 1
    run_name = f"{stage or f'v{version.version}'}-{label}"
    tags = {"monitoring.model": model}
    if alerts:
        tags["alert"] = "; ".join(alerts)
    if rollback_to is not None:
        tags["rollback_to"] = f"v{rollback_to}"
    with api.start_run(run_name=run_name, experiment=experiment, tags=tags) as run:
        run.log_params({"model": model, "model_uri": model_uri, "stage": stage,
                        "version": version.version, "reference_run": version.run,
                        "reference_input": reference.source.get("input"), "batch": label,
                        "rows": current.rows, "target": target,
                        "served_versions": ",".join(f"v{v}" for v in sorted(served)) or None})
        _log_batch(run, data, current)
        run.log_metrics(metrics, step=number)
        run.log_dict(report.to_dict(), "drift.json")
    return MonitorResult(run.id, run.name, experiment, model, stage, version.version, number,
                         report, metrics, served, alerts, rollback_to)


def served_versions(data: Any) -> dict[int, int]:
    """``{version: rows}`` of a request log's ``_gittrack_model_version`` column ({} without)."""
    if not isinstance(data, (str, os.PathLike)):
        if hasattr(data, "columns") and VERSION_COLUMN in data.columns:
            counts = data[VERSION_COLUMN].value_counts()
            return {int(k): int(v) for k, v in counts.items()}
        return {}
    path = Path(data)
    files = [f for f in (profiles.table_files(path) if path.is_dir() else [path])
             if f.suffix.lower() in (".parquet", ".pq")]
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    out: dict[int, int] = {}
    for f in files:
        if VERSION_COLUMN not in pq.ParquetFile(f).schema_arrow.names:
            continue
        counted = pc.value_counts(pq.read_table(f, columns=[VERSION_COLUMN]).column(0))
        for value, count in zip(counted.field("values").to_pylist(),
                                counted.field("counts").to_pylist()):
            if value is not None:
                out[int(value)] = out.get(int(value), 0) + int(count)
    return out


def _profile(data: Any) -> Profile:
    if isinstance(data, (str, os.PathLike)):
        return profiles.profile_path(Path(data))
    return profiles.profile_frame(data)


def _label(data: Any, name: str | None) -> str:
    if name:
        return name
    if isinstance(data, (str, os.PathLike)):
        return Path(data).stem or str(data)
    return "dataframe"


def _log_batch(run: Any, data: Any, profile: Profile) -> None:
    if isinstance(data, (str, os.PathLike)):
        run.log_input(str(data), name="batch", context="monitoring", profile=profile)
    else:
        run.log_input(data, name="batch", context="monitoring", profile=profile)


def drift_metrics(report: drift.DriftReport) -> dict[str, float]:
    """``drift/<column>`` scores and the dataset's share, count and verdict."""
    out = {f"drift/{metric_part(c.column)}": float(c.score)
           for c in report.tested if c.score is not None and math.isfinite(c.score)}
    out.update({"drift/share": report.share, "drift/columns": float(len(report.drifted)),
                "drift/dataset": 1.0 if report.dataset_drift else 0.0})
    return out


def metric_part(column: str) -> str:
    """A column name as one part of a metric key (characters MLflow refuses become _)."""
    text = re.sub(r"[^0-9A-Za-z_\-. :]", "_", column).strip() or "_"
    return "_" if text in (".", "..") else text[:200]


def check_alerts(metrics: Mapping[str, float], config: Any) -> list[str]:
    """The thresholds of ``monitoring: {max: {...}, min: {...}}`` that ``metrics`` cross."""
    if not config:
        return []
    if not isinstance(config, Mapping) or set(config) - {"max", "min"}:
        raise InvalidInputError("monitoring in .gittrack/config.yaml takes 'max' and 'min', "
                                "each mapping metric names to numbers.")
    alerts = []
    for bound in ("max", "min"):
        limits = config.get(bound) or {}
        if not isinstance(limits, Mapping):
            raise InvalidInputError(f"monitoring.{bound} in .gittrack/config.yaml maps metric "
                                    "names to numbers.")
        for key, limit in limits.items():
            if isinstance(limit, bool) or not isinstance(limit, (int, float)):
                raise InvalidInputError(f"monitoring.{bound}.{key} in .gittrack/config.yaml "
                                        f"must be a number; got {limit!r}.")
            value = metrics.get(str(key))
            if value is None:
                continue
            if (bound == "max" and value > limit) or (bound == "min" and value < limit):
                sign = ">" if bound == "max" else "<"
                alerts.append(f"{key} {value:.6g} {sign} {limit:g}")
    return alerts


def _rollback_target(registry: Registry, model: str, stage: str | None,
                     version: int) -> int | None:
    """The version `gittrack rollback MODEL STAGE` would make current, if ``version`` is it."""
    if stage is None:
        return None
    active = list(registry.model(model).active.get(stage, ()))
    if len(active) < 2 or active[-1] != version:
        return None
    return active[-2]


def _errors(store: Store, version: ModelVersion, data: Any, target: str) -> dict[str, float]:
    frame = _frame(data)
    if target not in frame.columns:
        raise InvalidInputError(f"The batch has no target column '{target}'; its columns are "
                                f"{', '.join(map(str, frame.columns))}.")
    frame = frame[frame[target].notna()]
    if "prediction" in frame.columns and VERSION_COLUMN in frame.columns:
        predicted = frame["prediction"].to_numpy()  # what production answered
    else:
        features = frame.drop(columns=[c for c in frame.columns if c == target
                                       or str(c).startswith(profiles.SKIP_PREFIX)])
        model = uris.load_model(store, f"models:/{version.model}/v{version.version}")
        predicted = model.predict(features)
    training = store.read_run(version.commit).metrics
    return scores.compute(frame[target].to_numpy(), predicted, training)


def _frame(data: Any) -> Any:
    import pandas as pd

    if not isinstance(data, (str, os.PathLike)):
        return data
    path = Path(data)
    files = profiles.table_files(path) if path.is_dir() else [path]
    frames = [pd.read_parquet(f) if f.suffix.lower() in (".parquet", ".pq")
              else pd.read_csv(f, sep="\t" if f.suffix.lower() == ".tsv" else ",")
              for f in files]
    if not frames:
        raise InvalidInputError(f"No CSV, TSV or Parquet file in '{path}' to score.")
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
