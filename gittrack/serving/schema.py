"""The model's input signature as the server enforces it: required columns, safe conversions.

The rules follow MLflow's scoring server, so a payload MLflow accepts is accepted here: extra
columns are ignored, columns are put in signature order, and a value of another type is
converted when the conversion keeps its meaning (an integer or a numeric string for a
``double`` column, ``0``/``1`` or ``"true"``/``"false"`` for a ``boolean``, an ISO string for
a ``datetime``). Unlike MLflow, a float with a fraction is never truncated into a ``long``
column: that is refused, naming the column. Every refusal names the columns at fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gittrack.core.errors import InvalidInputError

NUMERIC = {"double": "float64", "float": "float32", "long": "int64", "integer": "int32"}


class SchemaError(InvalidInputError):
    """The input does not fit the model's signature (a 400 for the server)."""


@dataclass(frozen=True)
class InputSchema:
    """The input side of a model's signature, read once per served version."""

    columns: tuple[str, ...] | None  # named columns, in signature order
    types: tuple[str, ...]  # MLflow type name of each named column
    tensor_dtype: str | None  # the dtype of a one-tensor signature

    @classmethod
    def of(cls, signature: Mapping[str, Any] | None) -> InputSchema:
        """The schema of a model.yaml signature (None or empty: anything is accepted)."""
        inputs = (signature or {}).get("inputs") or []
        if inputs and all(isinstance(s, Mapping) and "name" in s for s in inputs):
            return cls(tuple(str(s["name"]) for s in inputs),
                       tuple(str(s.get("type", "")) for s in inputs), None)
        tensor = inputs[0] if len(inputs) == 1 and isinstance(inputs[0], Mapping) else {}
        dtype = tensor.get("dtype") if tensor.get("type") == "tensor" else None
        return cls(None, (), str(dtype) if dtype else None)

    @property
    def all_double(self) -> bool:
        """Every named column is a double: requests can be stacked as one float array."""
        return bool(self.columns) and all(t == "double" for t in self.types)

    def conform(self, frame: Any) -> Any:
        """The frame with the signature's columns in order, each converted to its type."""
        if self.columns is None:
            return frame
        present = {str(c) for c in frame.columns}
        missing = [c for c in self.columns if c not in present]
        if missing:
            raise SchemaError(
                f"The input column(s) {', '.join(map(repr, missing))} required by the model "
                f"signature are missing from the input data; send them (it has "
                f"{', '.join(map(repr, sorted(present))) or 'no columns'}).")
        if any(not isinstance(c, str) for c in frame.columns):
            frame = frame.rename(columns=str)
        import pandas as pd

        converted: dict[str, Any] = {}
        wrong: list[str] = []
        for name, kind in zip(self.columns, self.types):
            try:
                converted[name] = _convert(frame[name], kind)
            except (TypeError, ValueError, OverflowError) as exc:
                wrong.append(f"{name!r} must be {kind} ({_short(exc)})")
        if wrong:
            raise SchemaError(f"Input column {'; '.join(wrong)}; send values of the signature's "
                              "types.")
        return pd.DataFrame(converted, index=frame.index)


def _convert(series: Any, kind: str) -> Any:
    """``series`` as the signature type ``kind``; ValueError when that would change values."""
    import numpy as np
    import pandas as pd

    dtype = series.dtype
    if kind in NUMERIC:
        target = np.dtype(NUMERIC[kind])
        if dtype == target:
            return series
        if dtype.kind == "b" or (dtype.kind == "f" and target.kind == "i"):
            return _exact(series, target)
        if dtype.kind in "OUST" or isinstance(dtype, pd.StringDtype):
            as_float = series.astype("float64")  # numeric strings, None as NaN
            return as_float.astype(target) if target.kind == "f" else _exact(as_float, target)
        return series.astype(target)
    if kind == "boolean":
        return _boolean(series)
    if kind == "string":
        if dtype.kind in "UST" or isinstance(dtype, pd.StringDtype):
            return series
        return series.map(lambda v: v if isinstance(v, str) or missing(v) else str(v))
    if kind == "datetime":
        if dtype.kind == "M":
            return series
        return pd.to_datetime(series, format="ISO8601")
    return series


def missing(value: Any) -> bool:
    """None, NaN, NaT or pandas' NA (a list or an array is never missing)."""
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _exact(series: Any, target: Any) -> Any:
    """Cast to an integer type only when no value changes (no fraction, no null)."""
    import numpy as np

    if series.isna().any():
        raise ValueError("it holds nulls, which an integer column cannot")
    values = series.to_numpy()
    cast = values.astype(target)
    if not np.array_equal(cast.astype("float64"), values.astype("float64")):
        bad = values[cast.astype("float64") != values.astype("float64")][0]
        raise ValueError(f"{bad.item()!r} is not a whole number")
    return series.astype(target)


def _boolean(series: Any) -> Any:
    if series.dtype.kind == "b":
        return series
    words = {"true": True, "false": False, "1": True, "0": False, 1: True, 0: False}

    def one(value: Any) -> bool:
        key = value.lower() if isinstance(value, str) else value
        if isinstance(key, float) and key.is_integer():
            key = int(key)
        if key not in words:
            raise ValueError(f"{value!r} is not true/false or 1/0")
        return words[key]

    return series.map(one).astype(bool)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().rstrip(".")
    return text if len(text) <= 120 else text[:117] + "..."
