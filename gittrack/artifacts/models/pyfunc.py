"""The python_function flavor: any object with predict(data), or a callable.

The object is pickled with the stdlib (cloudpickle is not a dependency), so its class, or
the function itself, is stored by reference: the module that defines it must be importable
where the model is loaded. Lambdas, nested functions and classes defined in __main__ do not
travel; define them at the top level of a module. Load with ``gittrack.models.pyfunc:load``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gittrack.artifacts.models import pickled
from gittrack.artifacts.models.flavors import is_python_function
from gittrack.artifacts.models.spec import PICKLE, Saved

NAME = "python_function"
MODEL_FILE = "model.pkl"
LIBRARY_MODULES: tuple[str, ...] = ()


def accepts(model: object) -> bool:
    """True for objects with a callable predict and for callables."""
    return is_python_function(model)


def save(model: object, directory: Path) -> Saved:
    """Pickle the object into directory/model.pkl."""
    target = model if callable(model) and not hasattr(model, "predict") else type(model)
    if getattr(target, "__module__", None) == "__main__":
        warnings.warn(
            f"{pickled.class_name(model)} is defined in __main__, so the saved model loads only where "
            "__main__ defines it too; move it into an importable module.",
            UserWarning,
            stacklevel=4,
        )
    return Saved(pickled.dump(model, directory / MODEL_FILE), MODEL_FILE, PICKLE)


def model_class(model: object) -> str:
    """The function's or the object's class's module.qualname."""
    return pickled.class_name(model)


def load(path: str | Path, spec: Mapping[str, Any] | None = None, *,
         allow_pickle: bool = True) -> object:
    """Load the object from a model directory, verifying its hash before unpickling."""
    directory, spec = pickled.resolve(path, spec)
    return pickled.load(directory, spec, allow_pickle=allow_pickle)


def predict(raw: Any, data: Any) -> Any:
    """raw.predict(data) when raw has predict, else raw(data)."""
    method = getattr(raw, "predict", None)
    return method(data) if callable(method) else raw(data)
