"""``mlflow.client`` for ``import gittrack as mlflow``: MlflowClient (gittrack.compat.client)."""

from gittrack.compat.client import MlflowClient as MlflowClient
