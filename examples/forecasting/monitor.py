"""Score the model in a registry stage on the newest month and record it as a monitoring run.

    python examples/forecasting/monitor.py --data data/production_hours_2025-04.csv

The error of ``models:/forecaster/prod`` on each month that closes goes to the experiment
``forecast_monitoring``, one run per month, so ``gittrack log forecast_monitoring`` shows it
grow once the data drifts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

import gittrack

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data import FEATURES, TARGET, split_newest  # noqa: E402
from train import errors  # noqa: E402

MONITOR_EXPERIMENT = "forecast_monitoring"


def score(model_uri: str, data: str | Path) -> dict[str, float]:
    """RMSE and MAE of a registered model on the newest month of ``data``."""
    _train, test_rows = split_newest(pd.read_csv(data))
    model = gittrack.load_model(model_uri)
    return errors(test_rows[TARGET], model.predict(test_rows[FEATURES]))


def monitor(data: str | Path, month: int, model: str = "forecaster", stage: str = "prod") -> dict[str, float]:
    """Log the stage's current version and its errors on the newest month of ``data``."""
    uri = f"models:/{model}/{stage}"
    version = gittrack.resolve_model_uri(uri).version
    scores = score(uri, data)
    newest = str(pd.read_csv(data, usecols=["month"])["month"].max())
    gittrack.set_experiment(MONITOR_EXPERIMENT)
    with gittrack.start_run(run_name=f"{stage}-{newest}") as run:
        run.log_params({"model": model, "stage": stage, "version": int(version.version),
                        "month": newest})
        run.log_input(str(data), name="production_hours", context="monitoring")
        run.log_metrics(scores, step=month)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--month", type=int, default=0)
    args = parser.parse_args()
    scores = monitor(args.data, args.month)
    print(f"prod: rmse={scores['rmse']:.1f} mae={scores['mae']:.1f}")


if __name__ == "__main__":
    main()
