"""Which flavor a model has, and the flavor modules that save and load it.

A flavor module (sklearn.py, xgboost.py, pyfunc.py) provides:
NAME, MODEL_FILE (the usual file name), LIBRARY_MODULES (top-level modules always pinned),
accepts(model), save(model, directory) -> Saved (file, hash, serialization), model_class(model),
load(path, spec=None, *, allow_pickle=True) -> the raw model, predict(raw, data).
model.yaml's `loader` names `<module>:load`; only these registered modules are ever
imported from it, so an edited model.yaml cannot make load_model import arbitrary code.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, cast

from gittrack.artifacts.models.spec import Saved
from gittrack.core.errors import InvalidInputError, ModelError

FLAVOR_MODULES = {
    "sklearn": "gittrack.artifacts.models.sklearn",
    "xgboost": "gittrack.artifacts.models.xgboost",
    "python_function": "gittrack.artifacts.models.pyfunc",
}
# model.yaml's `loader` is a name in the on-disk format (docs/format.md), not an import path:
# it keeps the spelling models were first saved with, whichever package holds the flavor now.
LOADER_PREFIX = "gittrack.models."


class Flavor(Protocol):
    """What a flavor module provides (modules satisfy this structurally)."""

    NAME: str
    MODEL_FILE: str
    LIBRARY_MODULES: tuple[str, ...]

    def accepts(self, model: object) -> bool: ...

    def save(self, model: object, directory: Path) -> Saved: ...

    def model_class(self, model: object) -> str: ...

    def load(self, path: str | Path, spec: Mapping[str, Any] | None = None, *,
             allow_pickle: bool = True) -> object: ...

    def predict(self, raw: object, data: Any) -> Any: ...


def _mro(model: object) -> tuple[type, ...]:
    return type(model).__mro__


def _in_package(module: str, package: str) -> bool:
    """module is package or one of its submodules (not a look-alike such as sklearn_extra)."""
    return module == package or module.startswith(package + ".")


def is_xgboost(model: object) -> bool:
    """An xgboost Booster or sklearn-API model (XGBRegressor, XGBClassifier, ...) from xgboost itself."""
    if not _in_package(type(model).__module__, "xgboost"):
        return False
    return any(_in_package(c.__module__, "xgboost") and c.__name__ in ("Booster", "XGBModel") for c in _mro(model))


def is_sklearn(model: object) -> bool:
    """A scikit-learn estimator or pipeline, or any BaseEstimator subclass."""
    if _in_package(type(model).__module__, "sklearn"):
        return True
    return any(c.__module__ == "sklearn.base" and c.__name__ == "BaseEstimator" for c in _mro(model))


def is_python_function(model: object) -> bool:
    """Anything with a callable predict, or a callable."""
    return callable(getattr(model, "predict", None)) or callable(model)


def detect_flavor(model: object) -> str:
    """Name the flavor that will save `model`: "xgboost", "sklearn" or "python_function".

    Example: ``detect_flavor(RandomForestRegressor())`` returns ``"sklearn"``.
    """
    if isinstance(model, type):
        raise ModelError(f"{model.__name__} is a class, not a model; pass a fitted instance of it.")
    if is_xgboost(model):
        return "xgboost"
    if is_sklearn(model):
        return "sklearn"
    if is_python_function(model):
        return "python_function"
    raise ModelError(
        f"Cannot save an object of type {type(model).__name__!r} as a model because it has no predict "
        "method and is not callable; wrap it in an object with predict(data)."
    )


def flavor_module(name: str) -> Flavor:
    """Import the module of a registered flavor."""
    if name not in FLAVOR_MODULES:
        raise InvalidInputError(f"Unknown flavor {name!r}; use one of {', '.join(FLAVOR_MODULES)}.")
    return cast(Flavor, importlib.import_module(FLAVOR_MODULES[name]))


def loader_of(name: str) -> str:
    """The `module:function` recorded in model.yaml for a flavor."""
    return f"{LOADER_PREFIX}{FLAVOR_MODULES[name].rpartition('.')[2]}:load"


def module_for_spec(spec: Mapping[str, Any]) -> Flavor:
    """The flavor module named by model.yaml, refusing loaders that are not gittrack flavors."""
    name = spec.get("flavor")
    if name not in FLAVOR_MODULES or spec.get("loader") != loader_of(str(name)):
        raise ModelError(
            f"model.yaml names flavor {name!r} with loader {spec.get('loader')!r}, which this gittrack "
            f"does not provide; upgrade gittrack or re-log the model."
        )
    return flavor_module(str(name))
