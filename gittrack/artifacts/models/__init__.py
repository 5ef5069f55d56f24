"""Models: save a model with how to load it and what it needs, and load it back.

A model directory holds the serialized model (model.pkl or model.ubj), model.yaml and,
when given, input_example.json. This package works on plain directories; wiring to runs
and to the content-addressed cache happens elsewhere.

Example::

    info = save_model(forest, "out/model", input_example=frame.head())
    model = load_model("out/model")
    model.predict(frame)
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gittrack.artifacts.models import requirements as reqs
from gittrack.artifacts.models import signature as sig
from gittrack.artifacts.models.flavors import (
    Flavor,
    detect_flavor,
    flavor_module,
    loader_of,
    module_for_spec,
)
from gittrack.artifacts.models.loaded import LoadedModel
from gittrack.artifacts.models.spec import (
    FORMAT_VERSION,
    SKOPS_FORMAT_VERSION,
    ModelInfo,
    now_utc,
    python_version,
    read_model_yaml,
    uses_pickle,
    write_model_yaml,
    yaml_path,
)
from gittrack.core.errors import ModelError

__all__ = [
    "LoadedModel",
    "ModelInfo",
    "detect_flavor",
    "load_input_example",
    "load_model",
    "read_model_yaml",
    "save_model",
    "uses_pickle",
]


def save_model(
    model: object,
    path: str | Path,
    *,
    input_example: object = None,
    signature: Mapping[str, Any] | None = None,
    pip_requirements: Sequence[str] | None = None,
    flavor: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> ModelInfo:
    """Save `model` into the directory `path` (new or empty) with model.yaml.

    The flavor is detected unless given; requirements are pinned from the model's classes
    unless `pip_requirements` replaces them; the signature is inferred by running predict
    on `input_example` unless given. Example: ``save_model(forest, "out/model", input_example=X[:5])``.
    """
    name = flavor or detect_flavor(model)
    module = flavor_module(name)
    if not module.accepts(model):
        raise ModelError(f"The {name} flavor cannot save a {type(model).__name__}; omit flavor= to detect one.")
    given_signature = sig.check_signature(signature) if signature is not None else None
    user_pins = reqs.user_requirements(pip_requirements) if pip_requirements is not None else None
    directory, created = _prepare_directory(Path(path))
    try:
        spec = _write(model, directory, module, input_example, given_signature, user_pins, metadata)
    except BaseException:
        _clean_up(directory, created)
        raise
    return ModelInfo.from_spec(directory, spec)


def _prepare_directory(directory: Path) -> tuple[Path, bool]:
    """Create the model directory; refuse a file or a non-empty directory."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ModelError(f"{directory} already exists and is not an empty directory; save the model to a new path.")
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    return directory, created


def _clean_up(directory: Path, created: bool) -> None:
    """Remove what a failed save wrote."""
    if created:
        shutil.rmtree(directory, ignore_errors=True)
        return
    for child in directory.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()


def _write(
    model: object,
    directory: Path,
    module: Flavor,
    input_example: object,
    signature: dict[str, Any] | None,
    user_pins: list[str] | None,
    metadata: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Serialize the model, the example and model.yaml; return the model.yaml mapping."""
    saved = module.save(model, directory)
    example = sig.as_frame_if_records(input_example) if input_example is not None else None
    if signature is None and example is not None:
        signature = sig.infer_signature(example, _predict_example(module, model, example))
    spec = {
        "format_version": SKOPS_FORMAT_VERSION if saved.serialization == "skops" else FORMAT_VERSION,
        "flavor": module.NAME,
        "loader": loader_of(module.NAME),
        "model_file": saved.model_file,
        "serialization": saved.serialization,  # pickle: loads only from trusted authors
        **({"serialization_note": saved.note} if saved.note else {}),
        "model_hash": saved.model_hash,
        "model_class": module.model_class(model),
        "python": python_version(),
        "requirements": user_pins if user_pins is not None
        else _pin(model, module, signature, saved.serialization),
        "signature": signature,
        "input_example": sig.write_example(directory, example) if example is not None else None,
        "created": now_utc(),
        "metadata": dict(metadata or {}),
    }
    write_model_yaml(directory, spec)
    return spec


def _predict_example(module: Flavor, model: object, example: Any) -> Any:
    """Run the model on its input example to learn the output signature."""
    try:
        return module.predict(model, example)
    except Exception as exc:
        raise ModelError(
            f"predict failed on input_example ({type(exc).__name__}: {exc}); pass an example the model "
            "accepts, or a signature."
        ) from exc


def _pin(model: object, module: Flavor, signature: Mapping[str, Any] | None,
         serialization: str) -> list[str]:
    """Pinned requirements inferred from the model, its flavor library, numpy and pandas
    (and skops when it wrote the file)."""
    modules = reqs.object_modules(model) | set(module.LIBRARY_MODULES) | {"numpy"}
    if serialization == "skops":
        modules.add("skops")
    if sig.column_names(signature) is not None:
        modules.add("pandas")
    return reqs.pin_modules(modules)


def load_model(path: str | Path, *, check_requirements: bool = True,
               allow_pickle: bool = True) -> LoadedModel:
    """Load a model directory saved by save_model.

    The model file's hash is verified before anything is deserialized (IntegrityError on a
    mismatch); pinned requirements that this environment does not meet are reported in one
    UserWarning. A model that would be unpickled (:func:`uses_pickle`) is refused with
    UntrustedModelError when ``allow_pickle`` is False; a directory of your own loads as it
    is, models from runs go through gittrack.load_model, which decides trust first.
    Example: ``load_model("out/model").predict(frame)``.
    """
    directory = yaml_path(path).parent
    spec = read_model_yaml(directory)
    module = module_for_spec(spec)
    if check_requirements:
        _warn_mismatches(spec)
    return LoadedModel(module.load(directory, spec, allow_pickle=allow_pickle), spec, directory)


def _warn_mismatches(spec: Mapping[str, Any]) -> None:
    """One UserWarning listing every requirement this environment does not meet."""
    problems = reqs.mismatches(spec.get("requirements") or (), spec.get("python"), python_version())
    if problems:
        warnings.warn(
            f"This environment differs from the model's requirements: {'; '.join(problems)}; "
            "predictions may differ, install the pinned versions.",
            UserWarning,
            stacklevel=3,
        )


def load_input_example(path: str | Path) -> Any:
    """The input example saved with a model, as a DataFrame or numpy array (None if there is none)."""
    directory = yaml_path(path).parent
    spec = read_model_yaml(directory)
    name = spec.get("input_example")
    return sig.read_example(directory / str(name), spec.get("signature")) if name else None
