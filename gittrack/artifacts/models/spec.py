"""model.yaml: the description that travels with every saved model.

A model directory holds one serialized model file, `model.yaml` and, optionally,
`input_example.json`. model.yaml records the sha256 of the model file, and every
loader reads the file through `read_verified`, which checks that hash on the bytes
it returns: a pickle is only ever unpickled after its hash has matched.
The hash protects against accidental or partial modification of the model file;
it is not a signature (whoever can rewrite model.yaml can rewrite the hash too).
"""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

from gittrack.core.errors import IntegrityError, InvalidInputError, ModelError

FORMAT_VERSION = 1
# 2: the model file is not a pickle (skops), so a gittrack that would unpickle it must refuse
# it ("upgrade gittrack") rather than fail inside pickle; every other model stays 1.
SKOPS_FORMAT_VERSION = 2
READABLE_VERSIONS = (FORMAT_VERSION, SKOPS_FORMAT_VERSION)
MODEL_YAML = "model.yaml"
HASH_ALGORITHMS = ("sha256", "md5")
REQUIRED_KEYS = ("format_version", "flavor", "loader", "model_file", "model_hash")


@dataclass(frozen=True)
class ModelInfo:
    """What save_model wrote, as recorded in model.yaml."""

    flavor: str
    path: Path
    loader: str
    model_file: str
    model_hash: str
    requirements: tuple[str, ...]
    signature: Mapping[str, Any] | None
    input_example: str | None
    python: str
    model_class: str
    created: str
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, path: Path, spec: Mapping[str, Any]) -> ModelInfo:
        """Build a ModelInfo from a parsed model.yaml mapping."""
        return cls(
            flavor=spec["flavor"],
            path=path,
            loader=spec["loader"],
            model_file=spec["model_file"],
            model_hash=spec["model_hash"],
            requirements=tuple(spec.get("requirements") or ()),
            signature=spec.get("signature"),
            input_example=spec.get("input_example"),
            python=spec.get("python", ""),
            model_class=spec.get("model_class", ""),
            created=spec.get("created", ""),
            metadata=spec.get("metadata") or {},
        )


class Saved(NamedTuple):
    """What a flavor wrote: model.yaml's model_file, model_hash and serialization."""

    model_hash: str
    model_file: str
    serialization: str  # skops | pickle | xgboost-ubj | xgboost-json
    note: str | None = None  # why a pickle was written where a safe format was tried


PICKLE = "pickle"


def uses_pickle(spec: Mapping[str, Any]) -> bool:
    """Whether loading the model unpickles its file, which can run any code.

    scikit-learn models saved with skops and XGBoost models (their own JSON/UBJ) do not; a
    python_function model, and a scikit-learn model saved before skops (no
    ``serialization``) or as a stated pickle fallback, do.
    """
    flavor = spec.get("flavor")
    if flavor == "xgboost":
        return False
    if flavor == "sklearn":
        return bool(spec.get("serialization", PICKLE) != "skops")
    return True


def hash_bytes(data: bytes, algorithm: str = "sha256") -> str:
    """Return `<algorithm>:<hex digest>` of data."""
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def now_utc() -> str:
    """The current time as an ISO 8601 UTC string with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def python_version() -> str:
    """The running interpreter's version as major.minor.micro."""
    return platform.python_version()


def yaml_path(path: str | Path) -> Path:
    """model.yaml inside a model directory, or the path itself if it names the file."""
    path = Path(path)
    return path if path.name == MODEL_YAML and path.is_file() else path / MODEL_YAML


def read_model_yaml(path: str | Path) -> dict[str, Any]:
    """Read and validate model.yaml from a model directory (or the file itself).

    Example: ``read_model_yaml("outputs/model")["requirements"]``.
    """
    file = yaml_path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError(
            f"No {MODEL_YAML} in {file.parent}; point at a model directory saved by gittrack."
        ) from None
    import yaml  # lazily: importing gittrack.artifacts.models stays cheap

    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ModelError(f"{file} is not valid YAML ({exc.__class__.__name__}); re-log the model.") from exc
    return validate_spec(spec, file)


def validate_spec(spec: object, file: Path) -> dict[str, Any]:
    """Check the fields every loader relies on; return the mapping."""
    if not isinstance(spec, dict):
        raise ModelError(f"{file} does not hold a mapping; re-log the model.")
    missing = [key for key in REQUIRED_KEYS if key not in spec]
    if missing:
        raise ModelError(f"{file} lacks {', '.join(missing)}; re-log the model.")
    if spec["format_version"] not in READABLE_VERSIONS:
        raise ModelError(
            f"{file} has format_version {spec['format_version']!r}, this gittrack reads "
            f"{' and '.join(map(str, READABLE_VERSIONS))}; upgrade gittrack or re-log the model."
        )
    return spec


def write_model_yaml(directory: Path, spec: Mapping[str, Any]) -> None:
    """Write model.yaml (safe YAML, keys in the documented order)."""
    import yaml
    try:
        text = yaml.safe_dump(dict(spec), sort_keys=False, allow_unicode=True)
    except yaml.representer.RepresenterError as exc:
        raise InvalidInputError(
            "Model metadata and signature must hold only strings, numbers, booleans, "
            f"lists and mappings ({exc.args[-1]!r} is not); convert it before saving."
        ) from exc
    (directory / MODEL_YAML).write_text(text, encoding="utf-8")


def model_file_path(directory: Path, name: object) -> Path:
    """The model file named in model.yaml; refuse names that leave the directory."""
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        raise ModelError(
            f"model.yaml in {directory} names model file {name!r}, which is not a plain file "
            "name inside the model directory; re-log the model."
        )
    return directory / name


def read_verified(directory: Path, spec: Mapping[str, Any]) -> bytes:
    """Return the model file's bytes after checking them against `model_hash`."""
    file = model_file_path(directory, spec.get("model_file"))
    algorithm, _, expected = str(spec.get("model_hash", "")).partition(":")
    if algorithm not in HASH_ALGORITHMS or not expected:
        raise ModelError(
            f"model.yaml in {directory} has no usable model_hash (sha256:<hex> or md5:<hex>); "
            "re-log the model."
        )
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise ModelError(
            f"Model file {file.name} named in model.yaml is missing from {directory}; "
            "restore the model directory or re-log the model."
        ) from None
    if hash_bytes(data, algorithm) != f"{algorithm}:{expected.lower()}":
        raise IntegrityError(
            f"Model file {file.name} does not match the hash in model.yaml; the model was "
            "modified after it was saved, re-log it."
        )
    return data
