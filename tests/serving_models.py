"""Models for the serving tests, in an importable module (no scikit-learn: a server that
unpickles them starts fast). Pickled python_function models refer to these classes by module,
so the server's process gets tests/ on its PYTHONPATH."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

GATE = threading.Event()  # Gated models wait for it (in-process servers only)


class Affine:
    """``f0 * scale + shift``: exact in floating point, so every answer can be checked."""

    def __init__(self, scale: float, shift: float) -> None:
        self.scale, self.shift = scale, shift

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """One prediction per row."""
        return np.asarray(frame["f0"], dtype=float) * self.scale + self.shift


class WithParams:
    """Takes MLflow-style ``params``: ``f0 * params['k']``."""

    def predict(self, frame: pd.DataFrame, params: dict[str, Any] | None = None) -> np.ndarray:
        """One prediction per row, scaled by params['k'] (default 1)."""
        k = float((params or {}).get("k", 1))
        return np.asarray(frame["f0"], dtype=float) * k


class TwoOutputs:
    """Two outputs per row: ``[f0, -f0]``."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """An (n, 2) array."""
        f0 = np.asarray(frame["f0"], dtype=float)
        return np.stack([f0, -f0], axis=1)


class Gated:
    """``f0`` once :data:`GATE` is set: holds a predict call open while requests queue."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Waits for the gate, then answers f0."""
        if not GATE.wait(60):
            raise TimeoutError("the test never opened the gate")
        return np.asarray(frame["f0"], dtype=float)


class FileGated:
    """Like :class:`Gated` across processes: writes ``<dir>/started``, then waits for
    ``<dir>/open`` (only when ``<dir>/armed`` exists, so its input example passes)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Waits for the gate file when armed, then answers f0."""
        folder = Path(self.directory)
        if (folder / "armed").exists():
            (folder / "started").touch()
            event = threading.Event()
            for _ in range(6000):
                if (folder / "open").exists():
                    break
                event.wait(0.01)
        return np.asarray(frame["f0"], dtype=float)


class Broken:
    """Loads fine, fails on every input (so it fails its own input example)."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Always raises."""
        raise RuntimeError("this model is broken")
