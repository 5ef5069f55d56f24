"""``mlflow.sklearn`` for ``import gittrack as mlflow``: log_model, save_model, load_model, autolog.

A facade over gittrack.compat.models (docs/mlflow.md); ``load_model`` gives the sklearn object.
"""

from gittrack.compat.models import autolog as autolog
from gittrack.compat.models import load_native as load_model  # noqa: F401 - MLflow's name
from gittrack.compat.models import log_model as log_model
from gittrack.compat.models import save_model as save_model

FLAVOR_NAME = "sklearn"
