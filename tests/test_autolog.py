"""gittrack.autolog(): scikit-learn and XGBoost fits recorded with no other gittrack call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gittrack
from gittrack.compat import autolog as autolog_module
from tests.conftest import run_python

REGRESSOR_METRICS = {"training_score", "training_mean_squared_error",
                     "training_root_mean_squared_error", "training_mean_absolute_error",
                     "training_r2_score"}


@pytest.fixture
def autolog() -> Iterator[None]:
    gittrack.autolog()
    yield
    gittrack.autolog(disable=True)


def frame(rows: int = 40) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(rows, 3)), columns=["hours", "staff", "month"])
    return x, 3 * x["hours"] + rng.normal(size=rows)


def test_script_with_only_autolog_records_forest_and_xgboost(repo: Path) -> None:
    script = (
        "import numpy as np, gittrack\n"
        "gittrack.autolog()\n"
        "from sklearn.ensemble import RandomForestRegressor\n"
        "import xgboost\n"
        "rng = np.random.default_rng(1)\n"
        "X = rng.normal(size=(50, 4)); y = X[:, 0] * 2 + rng.normal(size=50)\n"
        "f = RandomForestRegressor(n_estimators=7, max_depth=3, random_state=0).fit(X, y)\n"
        "b = xgboost.XGBRegressor(n_estimators=4, max_depth=2).fit(X, y)\n"
        "Q = np.random.default_rng(2).normal(size=(5, 4))\n"
        "print(repr(f.predict(Q).tolist())); print(repr(b.predict(Q).tolist()))\n"
    )
    proc = run_python(script, repo)
    assert proc.returncode == 0, proc.stderr
    runs = gittrack.query_runs()
    assert len(runs) == 2 and set(runs["status"]) == {"finished"}
    by_name = {r: gittrack.get_run(i) for r, i in zip(runs["tags.estimator_name"], runs["run_id"])}
    forest, booster = by_name["RandomForestRegressor"], by_name["XGBRegressor"]
    assert forest.params["n_estimators"] == 7 and forest.params["max_depth"] == 3
    assert booster.params["n_estimators"] == 4 and booster.params["max_depth"] == 2
    for run in (forest, booster):
        assert REGRESSOR_METRICS <= set(run.metrics)
        data = run.inputs["training_data"]
        assert data["shape"] == [50, 4] and data["kind"] == "ndarray" and len(data["md5"]) == 32
        assert run.inputs["training_target"]["shape"] == [50]
        assert run.artifacts["model"]["kind"] == "model"
    assert forest.inputs["training_data"]["md5"] == booster.inputs["training_data"]["md5"]
    assert forest.tags["estimator_class"] == "sklearn.ensemble._forest.RandomForestRegressor"
    fitted = proc.stdout.strip().splitlines()[-2:]  # what the fitted models predicted in the script
    load = ("import gittrack, numpy as np, sys\n"
            "m = gittrack.load_model('runs:/RUN/model')\n"
            "print(repr(m.predict(np.random.default_rng(2).normal(size=(5, 4))).tolist()))\n")
    for run, expected in zip((forest, booster), fitted):
        loaded = run_python(load.replace("RUN", run.id), repo)
        assert loaded.returncode == 0, loaded.stderr
        assert loaded.stdout.strip() == expected  # the same predictions, in a fresh process


def test_metrics_match_sklearn_and_signature_has_columns(repo: Path, autolog: None) -> None:
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import mean_squared_error

    x, y = frame()
    model = LinearRegression().fit(x, y)
    run = gittrack.get_run(gittrack.query_runs()["run_id"][0])
    mse = mean_squared_error(y, model.predict(x))
    assert run.metrics["training_mean_squared_error"].value == pytest.approx(mse)
    assert run.metrics["training_root_mean_squared_error"].value == pytest.approx(mse ** 0.5)
    assert run.inputs["training_data"]["columns"] == ["hours", "staff", "month"]
    from gittrack.artifacts.datasets import describe_frame

    assert run.inputs["training_data"]["md5"] == describe_frame(x)["md5"]
    loaded = gittrack.load_model(f"runs:/{run.id}/model")
    assert "hours" in json.dumps(loaded.signature)


def test_classifier_metrics(repo: Path, autolog: None) -> None:
    from sklearn.linear_model import LogisticRegression

    x, y = frame()
    LogisticRegression().fit(x, (y > 0).astype(int))
    run = gittrack.get_run(gittrack.query_runs()["run_id"][0])
    assert {"training_accuracy_score", "training_precision_score", "training_recall_score",
            "training_f1_score", "training_log_loss", "training_roc_auc",
            "training_score"} <= set(run.metrics)


def test_nested_fits_log_only_the_outermost(repo: Path, autolog: None) -> None:
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = frame()
    make_pipeline(StandardScaler(), RandomForestRegressor(n_estimators=3)).fit(x, y)
    GridSearchCV(RandomForestRegressor(n_estimators=3), {"max_depth": [2, 3]}, cv=2).fit(x, y)
    runs = gittrack.query_runs()
    top = runs[runs["parent_run_id"].isna()]  # the two candidates are child runs (below)
    assert sorted(top["tags.estimator_name"]) == ["GridSearchCV", "Pipeline"]
    search = gittrack.get_run(runs[runs["tags.estimator_name"] == "GridSearchCV"]["run_id"].iloc[0])
    assert search.params["best_max_depth"] in (2, 3) and "best_cv_score" in search.metrics
    assert "cv_results.csv" in search.artifacts


def test_a_search_gets_a_child_run_for_each_best_candidate(repo: Path) -> None:
    from sklearn.model_selection import GridSearchCV
    from sklearn.tree import DecisionTreeRegressor

    x, y = frame(60)
    grid = {"max_depth": [1, 2, 3], "min_samples_leaf": [1, 5]}
    try:
        gittrack.autolog()
        search = GridSearchCV(DecisionTreeRegressor(random_state=0), grid, cv=3).fit(x, y)
        gittrack.autolog(max_tuning_runs=None)
        GridSearchCV(DecisionTreeRegressor(random_state=0), grid, cv=3).fit(x, y)
        gittrack.autolog(max_tuning_runs=0)
        GridSearchCV(DecisionTreeRegressor(random_state=0), grid, cv=3).fit(x, y)
        with pytest.raises(gittrack.GittrackError, match="max_tuning_runs"):
            gittrack.autolog(max_tuning_runs=-1)
    finally:
        gittrack.autolog(disable=True)
    runs = gittrack.query_runs(order_by=["start_time ASC"])
    parents = runs[runs["parent_run_id"].isna()]
    assert list(parents["tags.estimator_name"]) == ["GridSearchCV"] * 3
    children = [runs[runs["parent_run_id"] == p] for p in parents["run_id"]]
    assert [len(c) for c in children] == [5, 6, 0]

    results = search.cv_results_
    best_first = sorted(range(6), key=lambda i: (results["rank_test_score"][i], i))[:5]
    first = children[0].sort_values("metrics.rank_test_score", kind="stable")
    for (_, child), i in zip(first.iterrows(), best_first):
        assert child["params.max_depth"] == results["params"][i]["max_depth"]
        assert child["params.min_samples_leaf"] == results["params"][i]["min_samples_leaf"]
        assert child["metrics.mean_test_score"] == pytest.approx(results["mean_test_score"][i])
        assert child["metrics.std_test_score"] == pytest.approx(results["std_test_score"][i])
        assert child["tags.estimator_name"] == "DecisionTreeRegressor"
        assert child["experiment"] == parents["experiment"].iloc[0]
        assert child["status"] == "finished"


def test_active_run_is_used_and_kept_open(repo: Path, autolog: None) -> None:
    from sklearn.tree import DecisionTreeRegressor

    x, y = frame()
    with gittrack.start_run(run_name="mine") as run:
        DecisionTreeRegressor(max_depth=2).fit(x, y)
        assert gittrack.active_run() is run
    assert len(gittrack.query_runs()) == 1
    assert gittrack.get_run("mine").params["max_depth"] == 2


def test_failing_fit_ends_its_run_failed(repo: Path, autolog: None) -> None:
    from sklearn.linear_model import LinearRegression

    with pytest.raises(ValueError):
        LinearRegression().fit(np.zeros((3, 2)), np.zeros(4))
    assert list(gittrack.query_runs()["status"]) == ["failed"]
    assert gittrack.active_run() is None


def test_disable_unpatches(repo: Path) -> None:
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.ensemble._forest import BaseForest

    original = BaseForest.fit
    gittrack.autolog()
    assert BaseForest.fit is not original and autolog_module.is_enabled()
    gittrack.autolog(disable=True)
    assert BaseForest.fit is original and not autolog_module.is_enabled()
    RandomForestRegressor(n_estimators=2).fit(*frame())
    assert len(gittrack.query_runs()) == 0


def test_classes_defined_after_autolog_are_patched(repo: Path, autolog: None) -> None:
    from sklearn.linear_model import Ridge

    class Shifted(Ridge):
        def fit(self, X, y, sample_weight=None):  # type: ignore[no-untyped-def]
            return super().fit(X, y + 1.0, sample_weight)

    Shifted.__module__ = "sklearn.custom"
    Shifted().fit(*frame())
    assert list(gittrack.query_runs()["tags.estimator_name"]) == ["Shifted"]


def test_xgboost_train_logs_per_iteration_metrics(repo: Path, autolog: None) -> None:
    import xgboost

    x, y = frame()
    data = xgboost.DMatrix(x, label=y)
    xgboost.train({"max_depth": 2, "eta": 0.3}, data, 4, evals=[(data, "train")],
                  verbose_eval=False)
    run = gittrack.get_run(gittrack.query_runs()["run_id"][0])
    assert run.params == {"max_depth": 2, "eta": 0.3, "num_boost_round": 4}
    assert run.metrics["train-rmse"].step == 3
    assert run.inputs["training_data"]["kind"] == "dmatrix"
    assert {"model", "feature_importance_weight.json"} <= set(run.artifacts)


def test_describe_data_is_deterministic() -> None:
    array = np.arange(12, dtype=float).reshape(4, 3)
    a, b = autolog_module.describe_data(array), autolog_module.describe_data(array.copy(order="F"))
    assert a == b and a["shape"] == [4, 3] and a["rows"] == 4
    assert autolog_module.describe_data(array + 1)["md5"] != a["md5"]
    from scipy import sparse

    assert autolog_module.describe_data(sparse.csr_matrix(array))["kind"] == "sparse"
    assert autolog_module.describe_data(np.array([["a", 1]], dtype=object))["rows"] == 1
