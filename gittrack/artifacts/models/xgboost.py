"""The xgboost flavor: Booster and sklearn-API models in xgboost's own JSON or UBJSON format.

`save_model("model.ubj")` is xgboost's stable, version-portable format (no pickle), and the
one gittrack writes; a model directory whose model.yaml names ``model.json`` (xgboost's text
JSON) loads too. Neither format can hold code, so these models load from any author. The
sklearn-API class (xgboost.XGBRegressor, ...) is recorded as model_class so the model loads
back as the same class. Load with ``gittrack.models.xgboost:load``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gittrack.artifacts.models import pickled
from gittrack.artifacts.models.flavors import is_xgboost
from gittrack.artifacts.models.spec import Saved, hash_bytes, read_verified
from gittrack.core.errors import ModelError

NAME = "xgboost"
MODEL_FILE = "model.ubj"
FORMATS = {".ubj": "xgboost-ubj", ".json": "xgboost-json"}  # model file suffix -> serialization
LIBRARY_MODULES = ("xgboost", "numpy")


def accepts(model: object) -> bool:
    """True for xgboost Boosters and sklearn-API models."""
    return is_xgboost(model)


def save(model: Any, directory: Path) -> Saved:
    """Save with model.save_model(directory/model.ubj)."""
    import xgboost

    file = directory / MODEL_FILE
    try:
        model.save_model(str(file))
    except (xgboost.core.XGBoostError, AttributeError, ValueError) as exc:
        raise ModelError(
            f"xgboost could not save the {type(model).__name__} ({_first_line(exc)}); fit the model before saving it."
        ) from exc
    return Saved(hash_bytes(file.read_bytes()), MODEL_FILE, FORMATS[".ubj"])


def _first_line(exc: BaseException) -> str:
    """xgboost errors carry a native stack trace after the first line; keep the sentence."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def model_class(model: object) -> str:
    """The public name of the model's class, e.g. xgboost.XGBRegressor or xgboost.Booster."""
    import xgboost

    cls = type(model)
    public = getattr(xgboost, cls.__name__, None) is cls
    return f"xgboost.{cls.__name__}" if public else f"{cls.__module__}.{cls.__qualname__}"


def resolve_class(name: str) -> type:
    """Import a recorded xgboost class, refusing anything that is not an xgboost model class."""
    import xgboost

    module_name, _, attribute = name.rpartition(".")
    cls = None
    if module_name == "xgboost" or module_name.startswith("xgboost."):
        cls = getattr(importlib.import_module(module_name), attribute, None)
    if not isinstance(cls, type) or not issubclass(cls, (xgboost.Booster, xgboost.XGBModel)):
        raise ModelError(f"model.yaml names model_class {name!r}, which is not an xgboost model class; re-log the model.")
    return cls


def load(path: str | Path, spec: Mapping[str, Any] | None = None, *,
         allow_pickle: bool = True) -> object:
    """Load the Booster or sklearn-API model from its JSON or UBJSON file, verifying the
    file's hash first (``allow_pickle`` is accepted for symmetry: nothing is unpickled)."""
    import xgboost

    directory, spec = pickled.resolve(path, spec)
    suffix = Path(str(spec.get("model_file", ""))).suffix.lower()
    if suffix not in FORMATS:
        raise ModelError(f"model.yaml in {directory} names model file {spec.get('model_file')!r}; "
                         "an xgboost model is read only from its own .json or .ubj format.")
    data = bytearray(read_verified(directory, spec))
    model = resolve_class(str(spec.get("model_class") or "xgboost.Booster"))()
    try:
        model.load_model(data)
    except xgboost.core.XGBoostError as exc:
        raise ModelError(
            f"xgboost could not read {MODEL_FILE} in {directory} ({_first_line(exc)}); re-log the model."
        ) from exc
    return model


def predict(raw: Any, data: Any) -> Any:
    """Predict; a Booster gets its input wrapped in a DMatrix."""
    import xgboost

    if isinstance(raw, xgboost.Booster):
        return raw.predict(data if isinstance(data, xgboost.DMatrix) else xgboost.DMatrix(data))
    return raw.predict(data)
