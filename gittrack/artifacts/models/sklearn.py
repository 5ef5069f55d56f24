"""The sklearn flavor: scikit-learn estimators and pipelines, pickled (protocol 5) and hashed.

skops is not a dependency, so the stdlib pickle is used; load_model unpickles only after the
file's sha256 matches model.yaml. Load with ``gittrack.models.sklearn:load``.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from gittrack.artifacts.models import pickled
from gittrack.artifacts.models.flavors import is_sklearn
from gittrack.artifacts.models.signature import is_dataframe

NAME = "sklearn"
MODEL_FILE = "model.pkl"
LIBRARY_MODULES = ("sklearn", "numpy")


def accepts(model: object) -> bool:
    """True for scikit-learn estimators (xgboost's sklearn API included)."""
    return is_sklearn(model)


def save(model: object, directory: Path) -> str:
    """Pickle the estimator into directory/model.pkl; return its hash."""
    return pickled.dump(model, directory / MODEL_FILE)


def model_class(model: object) -> str:
    """The estimator's class as module.qualname."""
    return pickled.class_name(model)


def load(path: str | Path, spec: Mapping[str, Any] | None = None) -> object:
    """Load the estimator from a model directory, verifying its hash before unpickling."""
    directory, spec = pickled.resolve(path, spec)
    with _quiet_version_warning(spec):
        return pickled.load(directory, spec)


@contextlib.contextmanager
def _quiet_version_warning(spec: Mapping[str, Any]) -> Iterator[None]:
    """Silence sklearn's InconsistentVersionWarning when model.yaml pins scikit-learn.

    load_model then reports the version mismatch itself, in its one warning.
    """
    pinned = any(str(line).lower().startswith("scikit-learn==") for line in spec.get("requirements") or ())
    if not pinned:
        yield
        return
    from sklearn.exceptions import InconsistentVersionWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=InconsistentVersionWarning)
        yield


def predict(raw: Any, data: Any) -> Any:
    """raw.predict(data); a DataFrame goes in as an array when the model was fit without feature names."""
    if is_dataframe(data) and hasattr(raw, "n_features_in_") and not hasattr(raw, "feature_names_in_"):
        data = data.to_numpy()
    return raw.predict(data)
