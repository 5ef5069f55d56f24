"""gittrack quickstart: the beginner workflow of MLflow's guides, on synthetic data.

A cost-center team forecasts monthly production hours. We train a linear baseline and a
random forest with two settings, log each run's params, RMSE/MAE and model, then list the runs.

    python examples/quickstart.py [DIR]

DIR (default ./gittrack-quickstart) becomes a git repository holding this script as its
code; the runs are recorded there. Afterwards: cd DIR && gittrack log
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error, mean_squared_error

import gittrack
from gittrack.core import project


def make_data(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Monthly production hours of 12 cost centers over 6 years: trend, season, noise."""
    rng = np.random.default_rng(seed)
    rows, target = [], []
    for center in range(12):
        base = rng.uniform(800, 1600)
        for month in range(72):
            season = 120 * math.sin(2 * math.pi * (month % 12) / 12)
            staff = rng.integers(20, 60)
            hours = base + 4 * month + season + 9 * staff + rng.normal(0, 40)
            rows.append([center, month, month % 12, staff])
            target.append(hours)
    return np.array(rows, dtype=float), np.array(target)


def evaluate(model: object, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
             y_test: np.ndarray) -> dict[str, float]:
    model.fit(x_train, y_train)  # type: ignore[attr-defined]
    predicted = model.predict(x_test)  # type: ignore[attr-defined]
    return {"rmse": float(np.sqrt(mean_squared_error(y_test, predicted))),
            "mae": float(mean_absolute_error(y_test, predicted))}


def prepare(directory: Path) -> None:
    """A repository of its own with this script committed, so every run has a baseline commit.

    Its own even inside another repository (a clone of gittrack, where the README runs this):
    the runs must not land in the enclosing project.
    """
    fresh = not (directory / ".git").exists()
    if fresh:
        directory.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "-q", str(directory)], check=True)
    project.init(directory)
    if not fresh:
        return
    shutil.copy(__file__, directory / "quickstart.py")
    git = ["git", "-C", str(directory)]
    identity = [subprocess.run([*git, "config", key], capture_output=True).stdout.strip()
                for key in ("user.name", "user.email")]
    if not all(identity):
        git += ["-c", "user.name=gittrack quickstart", "-c", "user.email=quickstart@localhost"]
    subprocess.run([*git, "add", "quickstart.py", ".gittrack"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "Quickstart project"], check=True)


def main() -> None:
    directory = Path(sys.argv[1] if len(sys.argv) > 1 else "gittrack-quickstart").resolve()
    shown = os.path.relpath(directory)
    prepare(directory)
    os.chdir(directory)
    x, y = make_data()
    split = x[:, 1] < 60  # train on the first five years, test on the sixth
    data = (x[split], y[split], x[~split], y[~split])

    gittrack.set_experiment("cost_center_forecasting")
    candidates = [
        ("linear-baseline", LinearRegression(), {"model": "linear"}),
        ("forest-small", RandomForestRegressor(n_estimators=50, max_depth=6, random_state=0),
         {"model": "random_forest", "n_estimators": 50, "max_depth": 6}),
        ("forest-large", RandomForestRegressor(n_estimators=200, max_depth=None, random_state=0),
         {"model": "random_forest", "n_estimators": 200, "max_depth": None}),
    ]
    for name, model, params in candidates:
        with gittrack.start_run(run_name=name) as run:
            run.log_params({**params, "train_rows": int(split.sum())})
            scores = evaluate(model, *data)
            run.log_metrics(scores)
            run.log_model(model, "model", input_example=data[2][:5])  # to register and serve
            print(f"{name:16s} rmse={scores['rmse']:8.2f}  mae={scores['mae']:8.2f}  run {run.id}")

    print(f"\nThe runs, as `cd {shown} && gittrack log` shows them:\n")
    sys.stdout.flush()
    subprocess.run([sys.executable, "-m", "gittrack", "log", "cost_center_forecasting"],
                   check=True)


if __name__ == "__main__":
    main()
