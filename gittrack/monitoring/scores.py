"""Error metrics of a production batch, named as the model's training run logged them.

A training run that logged ``rmse`` and ``test_mae`` gets ``rmse`` and ``test_mae`` computed on
the batch; keys are matched by their last part without a ``test_``/``val_``/``eval_`` prefix
(``metrics/test_rmse`` is ``rmse``), and training-set metrics (``train_*``) are left out. With
no known key, a numeric target gets rmse and mae, any other accuracy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

PREFIXES = ("test_", "test/", "val_", "valid_", "validation_", "eval_", "holdout_")
TRAINING = re.compile(r"^(train|training)[_/]")


def _rmse(y: Any, p: Any) -> float:
    import numpy as np

    return float(np.sqrt(np.mean((y - p) ** 2)))


def _mse(y: Any, p: Any) -> float:
    import numpy as np

    return float(np.mean((y - p) ** 2))


def _mae(y: Any, p: Any) -> float:
    import numpy as np

    return float(np.mean(np.abs(y - p)))


def _mape(y: Any, p: Any) -> float:
    import numpy as np

    nonzero = y != 0
    return float(np.mean(np.abs((y[nonzero] - p[nonzero]) / y[nonzero]))) if nonzero.any() \
        else float("nan")


def _r2(y: Any, p: Any) -> float:
    import numpy as np

    total = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - p) ** 2)) / total if total else float("nan")


def _accuracy(y: Any, p: Any) -> float:
    import numpy as np

    return float(np.mean(y == p))


def _per_class(y: Any, p: Any) -> list[tuple[float, float, float]]:
    """(precision, recall, f1) of every class, for macro averages."""
    import numpy as np

    out = []
    for label in np.unique(np.concatenate([y, p])):
        tp = float(np.sum((p == label) & (y == label)))
        predicted, actual = float(np.sum(p == label)), float(np.sum(y == label))
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out.append((precision, recall, f1))
    return out


def _macro(index: int) -> Callable[[Any, Any], float]:
    def score(y: Any, p: Any) -> float:
        classes = _per_class(y, p)
        return sum(c[index] for c in classes) / len(classes) if classes else float("nan")
    return score


REGRESSION: dict[str, Callable[[Any, Any], float]] = {
    "rmse": _rmse, "mse": _mse, "mae": _mae, "mape": _mape, "r2": _r2}
CLASSIFICATION: dict[str, Callable[[Any, Any], float]] = {
    "accuracy": _accuracy, "precision": _macro(0), "recall": _macro(1), "f1": _macro(2)}
KNOWN = {**REGRESSION, **CLASSIFICATION}


def base_name(key: str) -> str:
    """``metrics/test_rmse`` -> ``rmse``."""
    name = key.rsplit("/", 1)[-1].lower()
    for prefix in PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def matching(training_keys: Iterable[str]) -> dict[str, str]:
    """``{key as the training run logged it: known metric}`` of the keys we can compute."""
    return {k: base_name(k) for k in training_keys
            if not TRAINING.match(k) and base_name(k) in KNOWN}


def compute(actual: Any, predicted: Any, training_keys: Iterable[str]) -> dict[str, float]:
    """The batch's error metrics, under the training run's names (defaults without any)."""
    import numpy as np

    y = np.asarray(actual)
    p = np.asarray(predicted)
    if p.ndim > 1:
        p = p[:, 0] if p.shape[1] == 1 else p.argmax(axis=1)
    keys = matching(training_keys)
    numeric = y.dtype.kind in "fiu" and p.dtype.kind in "fiu"
    if not keys:
        keys = {"rmse": "rmse", "mae": "mae"} if numeric and y.dtype.kind == "f" or \
            (numeric and len(np.unique(y)) > 20) else {"accuracy": "accuracy"}
    out = {}
    for key, name in keys.items():
        if name in REGRESSION and not numeric:
            continue
        yy, pp = (y.astype(float), p.astype(float)) if name in REGRESSION else (y, p)
        out[key] = KNOWN[name](yy, pp)
    return out
