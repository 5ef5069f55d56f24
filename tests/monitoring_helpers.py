"""A repository with a registered model and twelve monthly monitoring runs (shared by the
monitoring, plot and UI tests): v1 in prod from January, a changeover in June that shifts
``orders`` and adds the category ``line=B`` (drift, and the error jumps), v2 promoted in
August, and v2 rolled back in October."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

MONTHS = [f"2025-{m:02d}" for m in range(1, 13)]
CHANGEOVER = range(6, 8)  # June and July


def month_frame(seed: int, rows: int = 2000, changeover: bool = False) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    staff = rng.normal(30, 5, rows)
    orders = rng.normal(100 * (1.4 if changeover else 1.0), 15, rows)
    line = rng.choice(["A", "B"] if changeover else ["A"], rows)
    hours = 40 + 9 * staff + 2.5 * orders + (300 if changeover else 0) + rng.normal(0, 20, rows)
    return pd.DataFrame({"staff": staff.round(2), "orders": orders.round(2), "line": line,
                         "hours": hours.round(1)})


def train(frame: Any, name: str) -> str:
    from sklearn.linear_model import LinearRegression

    import gittrack

    features = frame[["staff", "orders"]]
    model = LinearRegression().fit(features, frame["hours"])
    residual = frame["hours"] - model.predict(features)
    gittrack.set_experiment("forecasting")
    with gittrack.start_run(run_name=name) as run:
        run.log_input(frame, name="training_data")
        run.log_metrics({"rmse": float((residual ** 2).mean() ** 0.5),
                         "mae": float(residual.abs().mean())})
        run.log_model(model, "model", input_example=features.head(3))
    return run.id


def make_monitored_repo(repo: Path) -> dict[str, Any]:
    """Train, register and monitor in ``repo`` (a git repository): 12 monitoring runs."""
    import pandas as pd

    import gittrack

    gittrack.set_tracking_repo(repo)
    history = pd.concat([month_frame(100 + i) for i in range(6)], ignore_index=True)
    first = train(history, "v1-history")
    gittrack.register_model(f"runs:/{first}/model", "forecaster")
    gittrack.promote("forecaster", 1, "prod")
    data = repo / "months"
    data.mkdir(exist_ok=True)
    with open(repo / ".git" / "info" / "exclude", "a") as fh:  # batches are data, not code
        fh.write("\n/months/\n")
    results = []
    for i, month in enumerate(MONTHS, start=1):
        frame = month_frame(i, changeover=i in CHANGEOVER)
        path = data / f"{month}.csv"
        frame.to_csv(path, index=False)
        if i == 8:  # retrained on data that includes the changeover, promoted as v2
            recent = pd.concat([history, month_frame(6, changeover=True),
                                month_frame(7, changeover=True)], ignore_index=True)
            second = train(recent, "v2-with-changeover")
            gittrack.register_model(f"runs:/{second}/model", "forecaster")
            gittrack.promote("forecaster", 2, "prod")
        if i == 10:
            gittrack.rollback("forecaster", "prod")
        results.append(gittrack.monitor("models:/forecaster/prod", str(path), target="hours",
                                        name=month, step=i))
    return {"results": results, "data": data}


@pytest.fixture(scope="session")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The twelve-month repository, built once for the session (tests only read it)."""
    from gittrack import api
    from tests.conftest import make_repo

    repo = make_repo(tmp_path_factory.mktemp("monitored") / "plant")
    try:
        info = make_monitored_repo(repo)
    finally:
        api.set_tracking_repo(None)
    return {"repo": repo, **info}
