"""The sklearn flavor: scikit-learn estimators and pipelines, saved with skops (no pickle).

skops (https://skops.readthedocs.io) writes a model as a schema of plain data and rebuilds it
only from types it is told to trust, so loading a tampered file cannot run code. gittrack
trusts what skops trusts by default plus classes defined inside scikit-learn itself (its
Cython tree and neighbours structures such as ``sklearn.tree._tree.Tree``): never a function,
never a type from another package. A model that needs anything else (a transformer class of
your own, say), or any model when skops is not installed, is pickled instead, and model.yaml
says so (``serialization: pickle`` with ``serialization_note``); such a model loads only from
a trusted author (gittrack.registry.trust). Load with ``gittrack.models.sklearn:load``.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from gittrack.artifacts.models import pickled
from gittrack.artifacts.models.flavors import is_sklearn
from gittrack.artifacts.models.signature import is_dataframe
from gittrack.artifacts.models.spec import PICKLE, Saved, hash_bytes, read_verified
from gittrack.core.errors import ModelError, UntrustedModelError

NAME = "sklearn"
MODEL_FILE = "model.skops"
PICKLE_FILE = "model.pkl"  # the stated fallback, and every model saved before skops
SKOPS = "skops"
LIBRARY_MODULES = ("sklearn", "numpy")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NOT_TRUSTED_PARTS = ("tests", "_testing", "conftest")


def accepts(model: object) -> bool:
    """True for scikit-learn estimators (xgboost's sklearn API included)."""
    return is_sklearn(model)


def save(model: object, directory: Path) -> Saved:
    """Save the estimator with skops into directory/model.skops; pickle it (and say why in
    model.yaml) only when skops cannot save it with trusted types alone."""
    data, why = _skops_bytes(model)
    if data is not None:
        (directory / MODEL_FILE).write_bytes(data)
        return Saved(hash_bytes(data), MODEL_FILE, SKOPS)
    digest = pickled.dump(model, directory / PICKLE_FILE)
    return Saved(digest, PICKLE_FILE, PICKLE,
                 f"pickled because {why}; it loads only where its author is trusted")


def _skops_bytes(model: object) -> tuple[bytes | None, str]:
    """The skops file of ``model``, or None and why skops cannot be used."""
    try:
        import skops.io as sio
    except ImportError:
        return None, "skops is not installed (pip install skops)"
    try:
        data: bytes = sio.dumps(model)
        refused = untrusted(sio.get_untrusted_types(data=data))
    except Exception as exc:  # noqa: BLE001 - skops raises many kinds for objects it cannot represent
        return None, f"skops cannot save it ({type(exc).__name__}: {exc})"
    if refused:
        return None, f"skops would have to trust {', '.join(refused)}"
    return data, ""


def untrusted(names: Sequence[str]) -> list[str]:
    """The type names (from ``skops.io.get_untrusted_types``) gittrack will not trust."""
    return [name for name in names if not _sklearn_class(name)]


def _sklearn_class(name: str) -> bool:
    """Whether ``name`` is a class defined inside scikit-learn (not a function, not a class
    that a scikit-learn module merely imports from elsewhere)."""
    module, _, attribute = name.rpartition(".")
    parts = module.split(".")
    if parts[0] != "sklearn" or not _IDENT.fullmatch(attribute) \
            or not all(_IDENT.fullmatch(p) for p in parts) \
            or any(p in _NOT_TRUSTED_PARTS for p in parts):
        return False
    try:
        found = getattr(importlib.import_module(module), attribute, None)
    except ImportError:
        return False
    owner = getattr(found, "__module__", "") or ""
    return isinstance(found, type) and (owner == "sklearn" or owner.startswith("sklearn."))


def model_class(model: object) -> str:
    """The estimator's class as module.qualname."""
    return pickled.class_name(model)


def load(path: str | Path, spec: Mapping[str, Any] | None = None, *,
         allow_pickle: bool = True) -> object:
    """Load the estimator from a model directory, verifying its hash first: from skops with
    trusted types only, or (a stated fallback, or a model saved before skops) by unpickling,
    which ``allow_pickle=False`` refuses."""
    directory, spec = pickled.resolve(path, spec)
    if spec.get("serialization") == SKOPS:
        return _load_skops(directory, spec)
    with _quiet_version_warning(spec):
        return pickled.load(directory, spec, allow_pickle=allow_pickle)


def _load_skops(directory: Path, spec: Mapping[str, Any]) -> object:
    data = read_verified(directory, spec)
    try:
        import skops.io as sio
    except ImportError as exc:
        raise ModelError(f"The model in {directory} was saved with skops; install it with "
                         "`pip install skops` to load it.") from exc
    try:
        names = sio.get_untrusted_types(data=data)
    except Exception as exc:  # not a skops file at all (a zip with its schema)
        raise ModelError(f"The model file in {directory} is not a skops file ({type(exc).__name__}); "
                         "re-log the model.") from exc
    refused = untrusted(names)
    if refused:
        raise UntrustedModelError(
            f"The model in {directory} asks skops to build {', '.join(refused)}, which is not a "
            "scikit-learn type gittrack trusts, so it is not loaded; re-log it, or check who "
            "changed it.")
    with _quiet_version_warning(spec):
        try:
            return sio.loads(data, trusted=names)
        except Exception as exc:  # a schema skops cannot rebuild: never half a model
            raise ModelError(f"skops could not rebuild the model in {directory} "
                             f"({type(exc).__name__}: {exc}); re-log the model.") from exc


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
