"""The active run: buffered logging, the journal, timed commits, child processes and crash recovery."""

from __future__ import annotations

import sys
from typing import Any

# MLflow scripts write `from mlflow.tracking import MlflowClient`. The client lives in
# gittrack.compat, above this layer, so this package does not import it: the package facade
# (gittrack/__init__.py, always loaded before any subpackage) hands the name down on request.
_FROM_FACADE = ("MlflowClient",)


def __getattr__(name: str) -> Any:
    if name in _FROM_FACADE:
        return sys.modules["gittrack"]._facade(name)
    raise AttributeError(f"module 'gittrack.tracking' has no attribute {name!r}")
