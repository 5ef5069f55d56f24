"""Train one forecasting model on a month's data and record it as a gittrack run.

    python examples/forecasting/train.py --model forest --data data/production_hours_2025-03.csv

Models: ``linear`` (the baseline), ``forest`` (random forest), ``xgboost``. Every run logs its
params, RMSE and MAE on the newest month, the data version (log_input of the CSV), a
feature-importance plot, the predictions as a CSV and the model.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display needed

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import gittrack  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import FEATURES, TARGET, split_newest  # noqa: E402

EXPERIMENT = "cost_center_forecasting"
MODELS = ("linear", "forest", "xgboost")


def build(kind: str, seed: int = 0) -> tuple[Any, dict[str, Any]]:
    """The estimator of a model kind (randomised by ``seed``) and the params that describe it."""
    if kind == "linear":
        from sklearn.linear_model import LinearRegression

        return LinearRegression(), {"model": "linear"}
    if kind == "forest":
        from sklearn.ensemble import RandomForestRegressor

        params = {"n_estimators": 60, "max_depth": 8, "min_samples_leaf": 2}
        return RandomForestRegressor(random_state=seed, n_jobs=1, **params), {"model": "forest", **params}
    if kind == "xgboost":
        from xgboost import XGBRegressor

        params = {"n_estimators": 150, "max_depth": 3, "learning_rate": 0.1}
        return XGBRegressor(random_state=seed, n_jobs=1, **params), {"model": "xgboost", **params}
    raise SystemExit(f"unknown model {kind!r}; use one of {', '.join(MODELS)}")


def errors(actual: pd.Series, predicted: np.ndarray) -> dict[str, float]:
    diff = np.asarray(actual, dtype=float) - predicted
    return {"rmse": float(np.sqrt(np.mean(diff ** 2))), "mae": float(np.mean(np.abs(diff)))}


def score(model_uri: str, data: str | Path) -> dict[str, float]:
    """RMSE and MAE of a registered model on the newest month of ``data``."""
    _train, test_rows = split_newest(pd.read_csv(data))
    model = gittrack.load_model(model_uri)
    return errors(test_rows[TARGET], model.predict(test_rows[FEATURES]))


def importance_figure(model: Any, kind: str) -> Figure:
    values = (np.abs(model.coef_) * 1.0 if kind == "linear" else model.feature_importances_)
    fig = Figure(figsize=(5, 3))
    ax = fig.subplots()
    ax.barh(FEATURES, values / (values.sum() or 1.0))
    ax.set_title(f"{kind}: relative feature importance")
    fig.tight_layout()
    return fig


def train(kind: str, data: str | Path, month: int | None = None,
          window: int | None = None, seed: int | None = None,
          tags: dict[str, str] | None = None) -> tuple[str, dict[str, float]]:
    """Train ``kind`` on the CSV ``data`` (only its last ``window`` months before the newest,
    if given); the run id and its errors on the newest month. ``seed`` (default
    $GITTRACK_SEED, which `gittrack run --repeat N` sets, else 0) randomises the model."""
    frame = pd.read_csv(data)
    train_rows, test_rows = split_newest(frame)
    if window:
        train_rows = train_rows[train_rows["month"].isin(sorted(train_rows["month"].unique())[-window:])]
    if seed is None:
        seed = int(os.environ.get("GITTRACK_SEED", "0"))
    model, params = build(kind, seed)
    newest = str(test_rows["month"].iloc[0])
    gittrack.set_experiment(EXPERIMENT)
    name = f"{kind}-{newest}" + (f"-last{window}" if window else "") + (f"-s{seed}" if seed else "")
    with gittrack.start_run(run_name=name, tags=tags) as run:
        run.log_params({**params, "train_rows": len(train_rows), "test_month": newest,
                        "window_months": window or "all"})
        run.log_input(str(data), name="production_hours", context="training")
        model.fit(train_rows[FEATURES], train_rows[TARGET])
        predicted = model.predict(test_rows[FEATURES])
        scores = errors(test_rows[TARGET], predicted)
        run.log_metrics(scores, step=month)
        run.log_figure(importance_figure(model, kind), "feature_importance.png")
        run.log_table(test_rows[["month", "cost_center", TARGET]].assign(predicted=predicted.round(1)),
                      "predictions.csv")
        run.log_model(model, "model", input_example=train_rows[FEATURES].head(5))
        run.set_tag("model_type", kind)
    return run.id, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=MODELS, required=True)
    parser.add_argument("--data", required=True, help="a production_hours_<month>.csv")
    parser.add_argument("--window", type=int, help="train on the last N months only")
    args = parser.parse_args()
    run_id, scores = train(args.model, args.data, window=args.window)
    print(f"run {run_id}: rmse={scores['rmse']:.1f} mae={scores['mae']:.1f}")


if __name__ == "__main__":
    main()
