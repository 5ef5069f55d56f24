"""``mlflow.pyfunc`` for ``import gittrack as mlflow``: load_model gives an object with
``predict(frame)`` for any flavor; log_model, save_model and autolog as the flavor modules.

A facade over gittrack.compat.models (docs/mlflow.md).
"""

from gittrack.compat.models import autolog as autolog
from gittrack.compat.models import load_model as load_model
from gittrack.compat.models import log_model as log_model
from gittrack.compat.models import save_model as save_model

FLAVOR_NAME = "python_function"
