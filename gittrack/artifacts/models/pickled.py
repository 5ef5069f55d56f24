"""Pickle files for the sklearn and python_function flavors.

Pickle is stdlib and fast but executes code on load, so files are hashed when written and
unpickled only from bytes whose hash matched model.yaml (spec.read_verified). Classes and
functions are pickled by reference: their module must be importable when the model loads.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gittrack.artifacts.models.spec import (
    hash_bytes,
    read_model_yaml,
    read_verified,
    yaml_path,
)
from gittrack.core.errors import ModelError, UntrustedModelError

PROTOCOL = 5


def dump(model: object, file: Path) -> str:
    """Pickle model into file (protocol 5); return its `sha256:<hex>`."""
    try:
        data = pickle.dumps(model, protocol=PROTOCOL)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise ModelError(
            f"Cannot pickle the {type(model).__name__} model ({exc}); define its classes and "
            "functions at the top level of an importable module."
        ) from exc
    file.write_bytes(data)
    return hash_bytes(data)


def resolve(path: str | Path, spec: Mapping[str, Any] | None) -> tuple[Path, Mapping[str, Any]]:
    """The model directory and its model.yaml mapping (read when not given)."""
    directory = yaml_path(path).parent
    return directory, spec if spec is not None else read_model_yaml(directory)


def load(path: str | Path, spec: Mapping[str, Any] | None = None, *,
         allow_pickle: bool = True) -> object:
    """Unpickle the model file after verifying its hash; never when ``allow_pickle`` is False.

    Unpickling runs whatever code the file asks for, so a model from a remote is unpickled
    only when its author is trusted (gittrack.registry.trust decides, then passes True).
    """
    directory, spec = resolve(path, spec)
    if not allow_pickle:
        raise UntrustedModelError(
            f"The model in {directory} is a pickle, which runs code when loaded, and its author "
            "is not trusted here; load it with trust=True only if you trust whoever made it.")
    data = read_verified(directory, spec)
    try:
        return pickle.loads(data)
    except (ModuleNotFoundError, AttributeError) as exc:
        raise ModelError(
            f"Cannot load the model in {directory} because {exc}; install the packages in its "
            "requirements and make the module that defines it importable."
        ) from exc


def class_name(obj: object) -> str:
    """`module.qualname` of a function or class, or of the object's class."""
    target = obj if hasattr(obj, "__qualname__") and hasattr(obj, "__module__") else type(obj)
    return f"{target.__module__}.{target.__qualname__}"
