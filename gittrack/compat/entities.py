"""MLflow's entities (``mlflow.entities``) as views of gittrack's records.

An MLflow script reads ``run.info.run_id``, ``run.data.params["alpha"] == "0.5"``,
``experiment.experiment_id``; these classes give it those shapes. Params are strings as
MLflow stores them (``str(value)``: ``None`` becomes ``'None'``), system tags
(``mlflow.runName``, ``mlflow.user``, ``mlflow.parentRunId``, ``mlflow.source.*``) are derived
from ``run.yaml``, statuses are MLflow's upper-case names and times are milliseconds.
gittrack's richer record stays at ``run.record`` (typed params, the commit, artifacts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from gittrack.core.records import MAX_FLOAT as MAX_FLOAT
from gittrack.core.records import flatten, ms_from_iso, mlflow_float
from gittrack.core.records import system_tags as system_tags

if TYPE_CHECKING:
    from gittrack.core.records import Run as Record

STATUS_TO_MLFLOW = {"running": "RUNNING", "finished": "FINISHED", "failed": "FAILED",
                    "killed": "KILLED", "crashed": "FAILED", "scheduled": "SCHEDULED"}
STATUS_FROM_MLFLOW = {"RUNNING": "running", "FINISHED": "finished", "FAILED": "failed",
                      "KILLED": "killed", "SCHEDULED": "running"}


class ViewType:
    """Which experiments and runs a search sees (MLflow's integers)."""

    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3

    @classmethod
    def from_string(cls, text: str) -> int:
        return {"ACTIVE_ONLY": 1, "DELETED_ONLY": 2, "ALL": 3}[text.upper()]

    @classmethod
    def to_string(cls, view: int) -> str:
        return {1: "ACTIVE_ONLY", 2: "DELETED_ONLY", 3: "ALL"}[view]


class RunStatus:
    """MLflow's run statuses, as MLflow numbers and names them."""

    RUNNING = 1
    SCHEDULED = 2
    FINISHED = 3
    FAILED = 4
    KILLED = 5
    _NAMES: ClassVar[dict[int, str]] = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED",
                                        4: "FAILED", 5: "KILLED"}

    @classmethod
    def to_string(cls, status: int) -> str:
        return cls._NAMES[status]

    @classmethod
    def from_string(cls, text: str) -> int:
        return {v: k for k, v in cls._NAMES.items()}[text.upper()]

    @classmethod
    def is_terminated(cls, status: int | str) -> bool:
        name = status if isinstance(status, str) else cls._NAMES.get(status, "")
        return name.upper() in ("FINISHED", "FAILED", "KILLED")

    @classmethod
    def all_status(cls) -> list[int]:
        return list(cls._NAMES)


class LifecycleStage:
    ACTIVE = "active"
    DELETED = "deleted"


def param_text(value: Any) -> str:
    """A param as MLflow stores it: ``str(value)`` (so None is ``'None'``)."""
    return value if isinstance(value, str) else str(value)


metric_value = mlflow_float


@dataclass(frozen=True)
class Metric:
    key: str
    value: float
    timestamp: int
    step: int
    run_id: str | None = None


@dataclass(frozen=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True)
class RunTag:
    key: str
    value: str


@dataclass(frozen=True)
class FileInfo:
    """One entry of ``list_artifacts``: a path, whether it is a directory, its size."""

    path: str
    is_dir: bool
    file_size: int | None


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int | None
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str = LifecycleStage.ACTIVE

    @property
    def run_uuid(self) -> str:
        return self.run_id


@dataclass(frozen=True)
class RunData:
    metrics: dict[str, float]
    params: dict[str, str]
    tags: dict[str, str]


@dataclass(frozen=True)
class DatasetInput:
    name: str
    digest: str
    context: str | None
    source: str | None = None
    schema: Any = None


@dataclass(frozen=True)
class RunInputs:
    dataset_inputs: list[DatasetInput] = field(default_factory=list)


@dataclass(frozen=True)
class Run:
    """MLflow's ``Run``: ``info``, ``data``, ``inputs``; gittrack's record at ``record``."""

    info: RunInfo
    data: RunData
    inputs: RunInputs
    record: Record | None = None

    def to_dictionary(self) -> dict[str, Any]:
        return {"info": self.info.__dict__, "data": {
            "metrics": self.data.metrics, "params": self.data.params, "tags": self.data.tags}}


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str = LifecycleStage.ACTIVE
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None


# -- from gittrack's records --------------------------------------------------------------
def artifact_uri(root: str, run_id: str) -> str:
    """``<repository>/runs/<run id>/artifacts``: what ``get_artifact_uri`` answers."""
    return f"{root}/runs/{run_id}/artifacts"


def run_info(info: dict[str, Any], root: str) -> RunInfo:
    run_id = str(info.get("id", ""))
    return RunInfo(
        run_id=run_id, experiment_id=str(info.get("experiment", "")),
        run_name=str(info.get("name", "")), user_id=str(info.get("user") or ""),
        status=STATUS_TO_MLFLOW.get(str(info.get("status")), str(info.get("status")).upper()),
        start_time=ms_from_iso(info.get("start_time")),
        end_time=ms_from_iso(info.get("end_time")),
        artifact_uri=artifact_uri(root, run_id),
    )


def run_data(params: dict[str, Any], metrics: dict[str, float], tags: dict[str, str],
             info: dict[str, Any]) -> RunData:
    """MLflow's ``run.data``: string params, sanitized metrics, user tags plus system tags."""
    return RunData(
        metrics={k: metric_value(float(v)) for k, v in metrics.items()},
        params={k: param_text(v) for k, v in flatten(params).items()},
        tags={**system_tags(info), **tags},
    )


def from_record(record: Record, root: str) -> Run:
    """The MLflow view of a recorded run."""
    data = run_data(record.params, {k: m.value for k, m in record.metrics.items()},
                    record.tags, record.info)
    inputs = [DatasetInput(name=str(name), digest=str(entry.get("md5") or ""),
                           context=entry.get("context"), source=entry.get("path"),
                           schema=entry.get("schema"))
              for name, entry in record.inputs.items() if isinstance(entry, dict)]
    return Run(run_info(record.info, root), data, RunInputs(inputs), record)
