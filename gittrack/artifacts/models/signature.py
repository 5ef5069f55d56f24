"""Signatures and input examples.

A signature describes the model's inputs and outputs with MLflow's type names:
columns `{name, type}` for tabular data, `{type: tensor, dtype, shape}` for arrays
(shape uses -1 for the batch dimension). The input example is stored as
`input_example.json` in pandas' "split" orient without index:
`{"columns": [...], "data": [[row], ...]}` (arrays: `{"data": nested lists}`), written
with the stdlib json module so floats round-trip exactly; NaN, NaT and NA become null
and datetimes ISO strings. Column dtypes come back from the signature's types.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gittrack.core.errors import InvalidInputError, ModelError

EXAMPLE_FILE = "input_example.json"
SIGNATURE_KEYS = frozenset({"inputs", "outputs"})
PANDAS_DTYPES = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
}  # "string" is left to pandas' inference: object in pandas 2, the str dtype in pandas 3


def is_dataframe(data: object) -> bool:
    """True for a pandas DataFrame, without importing pandas."""
    return type(data).__name__ == "DataFrame" and type(data).__module__.startswith("pandas")


def is_ndarray(data: object) -> bool:
    """True for a numpy array, without importing numpy."""
    return type(data).__name__ == "ndarray" and type(data).__module__ == "numpy"


def _is_scalar(value: object) -> bool:
    return not isinstance(value, (list, tuple, dict)) and not is_ndarray(value)


def as_frame_if_records(data: object) -> Any:
    """Turn a dict (of lists or of scalars) or a list of dicts into a DataFrame; pass anything else."""
    if isinstance(data, Mapping):
        import pandas as pd

        rows = [dict(data)] if all(_is_scalar(v) for v in data.values()) else dict(data)
        return pd.DataFrame(rows)
    if isinstance(data, list) and data and all(isinstance(row, Mapping) for row in data):
        import pandas as pd

        return pd.DataFrame(data)
    return data


def type_name(dtype: Any, column: str) -> str:
    """MLflow-style type name of a pandas/numpy dtype."""
    kind = dtype.kind
    size = getattr(dtype, "itemsize", 8)  # pandas' StringDtype (kind "O") has no itemsize
    if kind == "f":
        return "double" if size >= 8 else "float"
    if kind == "i":
        return "long" if size >= 8 else "integer"
    if kind == "u":
        return "long" if size >= 4 else "integer"
    if kind == "b":
        return "boolean"
    if kind == "M":
        return "datetime"
    if kind in "OUS":
        return "string"
    raise ModelError(
        f"Column {column!r} has dtype {dtype}, which a signature cannot describe; "
        "convert it or pass signature= explicitly."
    )


def describe(data: Any, name_prefix: str | None = None) -> list[dict[str, Any]]:
    """Describe a DataFrame, Series or array as a list of column or tensor specs."""
    import numpy as np

    if is_dataframe(data):
        return [{"name": str(c), "type": type_name(t, str(c))} for c, t in data.dtypes.items()]
    if type(data).__name__ == "Series":
        spec = {"type": type_name(data.dtype, str(data.name))}
        return [{"name": str(data.name), **spec} if data.name is not None else spec]
    array = np.asarray(data)
    if array.ndim <= 1:
        return [{"type": type_name(array.dtype, "output")}]
    return [{"type": "tensor", "dtype": str(array.dtype), "shape": [-1, *array.shape[1:]]}]


def infer_signature(example: Any, output: Any) -> dict[str, Any]:
    """Signature from an input example (already a DataFrame or array) and the model's output on it."""
    return {"inputs": describe(example), "outputs": describe(output)}


def check_signature(signature: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a user-given signature: a mapping with `inputs` (and optional `outputs`) lists."""
    if not isinstance(signature, Mapping) or not isinstance(signature.get("inputs"), list):
        raise InvalidInputError(
            "signature must be a mapping with an 'inputs' list, like "
            "{'inputs': [{'name': 'x', 'type': 'double'}], 'outputs': [{'type': 'double'}]}."
        )
    extra = set(signature) - SIGNATURE_KEYS
    if extra or not isinstance(signature.get("outputs", []), list):
        raise InvalidInputError(
            f"signature may hold only 'inputs' and 'outputs' lists (got {sorted(map(str, signature))}); fix it."
        )
    return {"inputs": list(signature["inputs"]), "outputs": list(signature.get("outputs", []))}


def column_names(signature: Mapping[str, Any] | None) -> list[str] | None:
    """The input column names of a column-based signature, else None."""
    inputs = (signature or {}).get("inputs") or []
    if inputs and all(isinstance(spec, Mapping) and "name" in spec for spec in inputs):
        return [str(spec["name"]) for spec in inputs]
    return None


def _json_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "isoformat"):
        return None if str(value) == "NaT" else value.isoformat()
    if hasattr(value, "item") and callable(value.item):
        return _json_value(value.item())
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    return value


def example_document(example: Any) -> dict[str, Any]:
    """The JSON document for an example: split orient without index, or {"data": ...} for arrays."""
    import numpy as np

    if is_dataframe(example):
        columns = [example[c].tolist() for c in example.columns]
        rows = [[_json_value(v) for v in row] for row in zip(*columns)]
        return {"columns": [str(c) for c in example.columns], "data": rows}
    return {"data": _json_tree(np.asarray(example).tolist())}


def _json_tree(value: Any) -> Any:
    if isinstance(value, list):
        return [_json_tree(item) for item in value]
    return _json_value(value)


def write_example(directory: Path, example: Any) -> str:
    """Write input_example.json and return its file name."""
    document = example_document(example)
    try:
        text = json.dumps(document, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ModelError(
            f"input_example holds a value JSON cannot store ({exc}); pass plain numbers, strings, "
            "booleans or datetimes."
        ) from exc
    (directory / EXAMPLE_FILE).write_text(text, encoding="utf-8")
    return EXAMPLE_FILE


def read_example(path: Path, signature: Mapping[str, Any] | None) -> Any:
    """Read input_example.json back as a DataFrame (typed from the signature) or a numpy array."""
    document = json.loads(path.read_text(encoding="utf-8"))
    inputs = (signature or {}).get("inputs") or []
    if "columns" not in document:
        import numpy as np

        dtype = inputs[0].get("dtype") if len(inputs) == 1 and inputs[0].get("type") == "tensor" else None
        return np.asarray(document["data"], dtype=dtype)
    import pandas as pd

    frame = pd.DataFrame(document["data"], columns=document["columns"])
    types = {str(spec.get("name")): spec.get("type") for spec in inputs if isinstance(spec, Mapping)}
    for column in frame.columns:
        frame[column] = _typed(frame[column], types.get(str(column)))
    return frame


def _typed(series: Any, kind: str | None) -> Any:
    import pandas as pd

    try:
        if kind == "datetime":
            return pd.to_datetime(series, format="ISO8601")
        if kind in PANDAS_DTYPES and not series.isna().any():  # astype(bool) would turn null into False
            return series.astype(PANDAS_DTYPES[kind])
    except (TypeError, ValueError):
        pass  # nulls in an integer or boolean column: keep what JSON gave back
    return series
