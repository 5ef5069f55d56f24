"""``mlflow.entities`` for ``import gittrack as mlflow``: Run, RunInfo, RunData, Experiment,
ViewType, RunStatus, Metric, Param, RunTag, FileInfo (a facade over gittrack.compat.entities)."""

from gittrack.compat.entities import Experiment as Experiment
from gittrack.compat.entities import FileInfo as FileInfo
from gittrack.compat.entities import LifecycleStage as LifecycleStage
from gittrack.compat.entities import Metric as Metric
from gittrack.compat.entities import Param as Param
from gittrack.compat.entities import Run as Run
from gittrack.compat.entities import RunData as RunData
from gittrack.compat.entities import RunInfo as RunInfo
from gittrack.compat.entities import RunStatus as RunStatus
from gittrack.compat.entities import RunTag as RunTag
from gittrack.compat.entities import ViewType as ViewType
