"""Models and data for tests/test_models.py, in an importable module.

Pickled python_function models refer to their classes and functions by module, so the fresh
process that loads them must be able to import this module (the tests put tests/ on PYTHONPATH).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

COLUMNS = [f"f{i}" for i in range(10)]


def make_frame(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """A deterministic numeric frame with columns f0..f9."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(rows, len(COLUMNS))), columns=COLUMNS)


def make_target(frame: pd.DataFrame) -> np.ndarray:
    """A target that depends on the first three columns, with deterministic noise."""
    noise = np.random.default_rng(1).normal(scale=0.1, size=len(frame))
    return np.asarray(3 * frame["f0"] - 2 * frame["f1"] + frame["f2"] ** 2 + noise)


def weighted_sum(frame: pd.DataFrame) -> np.ndarray:
    """A module-level function used as a python_function model."""
    weights = np.arange(1, frame.shape[1] + 1, dtype=float)
    return np.asarray(np.asarray(frame, dtype=float) @ weights)


def first_column(frame: pd.DataFrame) -> np.ndarray:
    """A python_function model that returns its first input column."""
    return np.asarray(frame.iloc[:, 0])


class ScaledSum:
    """An object with predict, used as a python_function model."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Row sums times the factor."""
        return np.asarray(np.asarray(frame, dtype=float).sum(axis=1) * self.factor)


class HandMadeEstimator(BaseEstimator):  # type: ignore[misc]
    """A BaseEstimator subclass outside the sklearn package: still the sklearn flavor."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def fit(self, frame: Any, target: Any) -> HandMadeEstimator:
        """Learn the mean of the target."""
        self.mean_ = float(np.mean(target))
        return self

    def predict(self, frame: Any) -> np.ndarray:
        """The learnt mean plus the offset for every row."""
        return np.full(len(frame), self.mean_ + self.offset)
