"""Scoring payloads: MLflow's request formats in, ``{"predictions": ...}`` out.

``POST /invocations`` takes JSON holding exactly one of ``dataframe_split``,
``dataframe_records``, ``instances`` or ``inputs`` (with optional ``params``), CSV
(``text/csv``) or Parquet (``application/vnd.apache.parquet``), as MLflow's scoring server does.
A request whose model has an all-``double`` signature and whose JSON holds plain numbers takes
a fast path straight to a float array (no DataFrame per request); anything else, or anything
that path cannot read, goes through pandas and :meth:`InputSchema.conform`, which decides.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gittrack.core.errors import InvalidInputError
from gittrack.serving.schema import InputSchema, SchemaError

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
JSON, CSV, PARQUET = "application/json", "text/csv", "application/vnd.apache.parquet"


class UnsupportedMediaError(InvalidInputError):
    """The request's content type is not one the scoring protocol accepts (HTTP 415)."""


@dataclass
class Parsed:
    """One request's input, ready to predict and to batch with others of the same ``key``."""

    data: Any  # a float array in signature order ("rows"), a DataFrame, or an array
    kind: str  # "rows", "frame" or "array"
    rows: int
    key: tuple[Any, ...]
    params: dict[str, Any] | None = None
    arrived: Any = None  # the DataFrame as it arrived (request logs); None for "rows"


def parse(body: bytes, content_type: str | None, schema: InputSchema) -> Parsed:
    """Read a scoring request body; InvalidInputError (400) or UnsupportedMediaError (415)."""
    mime = _mime(content_type)
    if mime == JSON:
        return parse_json(_loads(body), schema)
    import pandas as pd

    try:
        if mime == CSV:
            strings = {c: "str" for c, t in zip(schema.columns or (), schema.types) if t == "string"}
            frame = pd.read_csv(io.BytesIO(body), dtype=strings or None)
        else:
            frame = pd.read_parquet(io.BytesIO(body))
    except Exception as exc:  # any parser failure is the client's input
        what = "CSV as written by DataFrame.to_csv" if mime == CSV else "Parquet"
        raise InvalidInputError(f"Failed to parse the input as a DataFrame ({type(exc).__name__}: "
                                f"{exc}); send {what}.") from exc
    return _frame(frame, schema, None)


def _mime(content_type: str | None) -> str:
    parts = [p.strip() for p in (content_type or "").split(";")]
    mime = parts[0].lower()
    options = dict(p.partition("=")[::2] for p in parts[1:] if p)
    if options.get("charset", "utf-8").lower() != "utf-8":
        raise UnsupportedMediaError("The scoring server only supports UTF-8; send charset=utf-8.")
    if set(options) - {"charset"}:
        raise UnsupportedMediaError(f"Unrecognized content type parameters "
                                    f"{', '.join(sorted(set(options) - {'charset'}))}; drop them.")
    if mime not in (JSON, CSV, PARQUET):
        raise UnsupportedMediaError(f"Content type {content_type!r} is not supported; send one of "
                                    f"{JSON}, {CSV} or {PARQUET}.")
    return mime


def _loads(body: bytes) -> Any:
    import orjson

    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"The request body is not valid JSON ({exc}); send a JSON "
                                "object with one of " + ", ".join(FORMATS) + ".") from exc


def parse_json(document: Any, schema: InputSchema) -> Parsed:
    """A decoded JSON request: exactly one of the input fields, and optional ``params``."""
    found = [k for k in FORMATS if isinstance(document, dict) and k in document]
    if len(found) != 1:
        got = f"fields {sorted(document)}" if isinstance(document, dict) else type(document).__name__
        raise InvalidInputError(f"The input must be a JSON object with exactly one of the input "
                                f"fields {', '.join(FORMATS)} (got {got}); see MLflow's scoring "
                                "protocol.")
    params = document.get("params")
    if params is not None and not isinstance(params, dict):
        raise InvalidInputError("'params' must be a JSON object of parameter names to values.")
    fmt, value = found[0], document[found[0]]
    if schema.all_double:
        rows = _fast_rows(fmt, value, schema.columns or ())
        if rows is not None:
            return Parsed(rows, "rows", len(rows), ("rows", _params_key(params)), params)
    return _structured(fmt, value, schema, params)


def _fast_rows(fmt: str, value: Any, columns: tuple[str, ...]) -> Any:
    """A float64 array (rows x signature columns) of plain numbers, or None to go the long way."""
    import numpy as np

    try:
        if fmt == "dataframe_split" and isinstance(value, dict) and set(value) <= {"columns", "data"}:
            given = value.get("columns")
            if not isinstance(given, list) or sorted(given) != sorted(columns):
                return None
            array = np.array(value["data"], dtype=np.float64)
            if array.ndim != 2 or array.shape[1] != len(columns):
                return None
            if tuple(given) != columns:
                array = array[:, [given.index(c) for c in columns]]
            return array
        if fmt == "inputs" and isinstance(value, dict):
            if len(value) != len(columns):
                return None
            array = np.array([value[c] for c in columns], dtype=np.float64)
            return array.T if array.ndim == 2 else array.reshape(1, -1)
        if fmt != "dataframe_split" and isinstance(value, list) and value \
                and isinstance(value[0], dict):
            width = len(columns)
            if any(len(record) != width for record in value):
                return None
            return np.array([[record[c] for c in columns] for record in value], dtype=np.float64)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return None


def _structured(fmt: str, value: Any, schema: InputSchema, params: dict[str, Any] | None) -> Parsed:
    import numpy as np
    import pandas as pd

    try:
        if fmt == "dataframe_split":
            if not isinstance(value, dict) or "data" not in value \
                    or set(value) - {"columns", "data", "index"}:
                raise InvalidInputError("dataframe_split must be an object with 'data' and "
                                        "optionally 'columns' and 'index'; fix the payload.")
            data = pd.DataFrame(value["data"], columns=value.get("columns"), index=value.get("index"))
        elif fmt == "dataframe_records":
            if not isinstance(value, list):
                raise InvalidInputError("dataframe_records must be a list of records "
                                        "(one JSON object a row); fix the payload.")
            data = pd.DataFrame(value)
        elif isinstance(value, dict) and not any(isinstance(v, list) for v in value.values()):
            data = pd.DataFrame([value])  # one row of scalars, as MLflow reads it
        elif isinstance(value, dict) or (isinstance(value, list) and value
                                         and all(isinstance(v, Mapping) for v in value)):
            data = pd.DataFrame(value)
        else:
            data = _tensor(value, schema)
    except InvalidInputError:
        raise
    except Exception as exc:  # pandas or numpy refusing the shape is bad input
        raise InvalidInputError(f"The {fmt} field is not a valid table or array ({exc}); "
                                "fix the payload.") from exc
    if isinstance(data, np.ndarray):
        return Parsed(data, "array", len(data) if data.ndim else 1,
                      ("array", str(data.dtype), data.shape[1:], _params_key(params)), params, data)
    return _frame(data, schema, params)


def _tensor(value: Any, schema: InputSchema) -> Any:
    """A list input: a column for a one-column signature, a table for a positional one, or an array."""
    import numpy as np
    import pandas as pd

    columns = schema.columns
    if columns and len(columns) == 1 and isinstance(value, list) \
            and not any(isinstance(v, list) for v in value):
        return pd.DataFrame({columns[0]: value})
    array = np.asarray(value) if schema.tensor_dtype is None else _as_dtype(value, schema.tensor_dtype)
    if columns and array.ndim == 2 and array.shape[1] == len(columns):
        return pd.DataFrame(array, columns=list(columns)) if array.dtype != object \
            else pd.DataFrame(value, columns=list(columns))
    return array


def _as_dtype(value: Any, dtype: str) -> Any:
    import numpy as np

    try:
        return np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"The input must be an array of {dtype} as the model signature says "
                          f"({exc}); send values of that type.") from exc


def _frame(frame: Any, schema: InputSchema, params: dict[str, Any] | None) -> Parsed:
    conformed = schema.conform(frame)
    key = ("frame", tuple(map(str, conformed.columns)), tuple(map(str, conformed.dtypes)),
           _params_key(params))
    return Parsed(conformed, "frame", len(conformed), key, params, frame)


def _params_key(params: dict[str, Any] | None) -> str | None:
    if not params:
        return None
    import orjson

    return orjson.dumps(params, option=orjson.OPT_SORT_KEYS, default=str).decode()


def render(predictions: Any) -> bytes:
    """``{"predictions": ...}``: arrays as (nested) lists, DataFrames as records."""
    import orjson

    return orjson.dumps({"predictions": jsonable(predictions)}, default=_default,
                        option=orjson.OPT_SERIALIZE_NUMPY)


def jsonable(predictions: Any) -> Any:
    """Plain lists and dicts of a model's output (Python floats keep every bit of float32)."""
    if hasattr(predictions, "to_dict") and hasattr(predictions, "columns"):
        return predictions.to_dict(orient="records")
    if hasattr(predictions, "tolist"):
        return predictions.tolist()
    return predictions


def _default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def error_body(code: str, message: str) -> bytes:
    """MLflow's error document: ``{"error_code": ..., "message": ...}``."""
    import orjson

    return orjson.dumps({"error_code": code, "message": message})
