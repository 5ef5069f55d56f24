"""LoadedModel: a loaded model with one predict for every flavor."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gittrack.artifacts.models.flavors import flavor_module
from gittrack.artifacts.models.signature import (
    as_frame_if_records,
    column_names,
    is_dataframe,
    is_ndarray,
    read_example,
)
from gittrack.core.errors import ModelError


class LoadedModel:
    """A model loaded by load_model: `predict(data)`, the underlying `.raw` model and `.metadata`."""

    def __init__(self, raw: object, metadata: Mapping[str, Any], path: Path) -> None:
        self._raw = raw
        self._metadata = dict(metadata)
        self._path = path

    @property
    def raw(self) -> Any:
        """The underlying model object (estimator, Booster, function, ...)."""
        return self._raw

    @property
    def metadata(self) -> dict[str, Any]:
        """The model.yaml mapping."""
        return self._metadata

    @property
    def flavor(self) -> str:
        """The flavor that saved and loaded the model."""
        return str(self._metadata["flavor"])

    @property
    def signature(self) -> Mapping[str, Any] | None:
        """The input/output signature, if one was recorded."""
        return self._metadata.get("signature")

    @property
    def path(self) -> Path:
        """The model directory."""
        return self._path

    def input_example(self) -> Any:
        """The saved input example as a DataFrame or numpy array, or None."""
        name = self._metadata.get("input_example")
        return read_example(self._path / str(name), self.signature) if name else None

    def predict(self, data: Any) -> Any:
        """Predict on a DataFrame, a numpy array, a list of dicts or a dict of lists.

        Columns are reordered to the signature; the result is a numpy array, or a DataFrame
        when the model returns one. Example: ``load_model("model").predict(frame)``.
        """
        prepared = prepare_input(data, self.signature)
        return as_output(flavor_module(self.flavor).predict(self._raw, prepared))

    def __repr__(self) -> str:
        return f"LoadedModel(flavor={self.flavor!r}, path={str(self._path)!r})"


def prepare_input(data: Any, signature: Mapping[str, Any] | None) -> Any:
    """Records become a DataFrame; DataFrames are put in signature column order."""
    data = as_frame_if_records(data)
    columns = column_names(signature)
    if columns is None:
        return data
    if is_dataframe(data):
        present = {str(c) for c in data.columns}
        missing = [c for c in columns if c not in present]
        if missing:
            raise ModelError(
                f"Input is missing column(s) {', '.join(map(repr, missing))} that the model's signature "
                "requires; add them or rename the columns."
            )
        data = data.rename(columns=str) if any(not isinstance(c, str) for c in data.columns) else data
        return data[columns]
    if is_ndarray(data) and data.ndim == 2 and data.shape[1] == len(columns):
        import pandas as pd

        return pd.DataFrame(data, columns=columns)
    return data


def as_output(result: Any) -> Any:
    """A DataFrame stays a DataFrame; anything else becomes a numpy array."""
    if is_dataframe(result):
        return result
    import numpy as np

    return np.asarray(result)
