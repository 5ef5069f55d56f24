"""search_runs and metric_history on real runs, checked against plain pandas."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import gittrack
from gittrack import api
from gittrack.core.errors import FilterError, InvalidInputError
from tests.conftest import make_repo, run_python

N = 24
RMSE = [0.5, 0.12, 0.91, 0.33, 0.5, 0.07, 0.64, 0.28, 0.45, 0.99, 0.2, 0.71,
        0.36, 0.58, 0.05, 0.83, 0.41, 0.26, 0.69, 0.15, 0.77, 0.3, 0.55, 0.62]


def spec(i: int) -> dict[str, Any]:
    """What run i logs: a corpus with repeated, missing and oddly quoted values."""
    params: dict[str, Any] = {"alpha": (0.1, 0.2, 0.3, 0.5)[i % 4],
                              "model": ("rf", "xgb", "linear")[i % 3], "depth": i % 6 + 1}
    if i % 5 == 0:
        params["lr"] = 0.01
    metrics = {"rmse": RMSE[i], "val loss": round(RMSE[i] * 2, 3)}
    if i % 4:
        metrics["mae"] = round(RMSE[i] / 2, 3)
    tags = {}
    team = ("ml", "ops", "data", None)[i % 4]
    if team:
        tags["team"] = team
    if i == 7:
        tags["note"] = "it's"
    return {"experiment": "b" if i % 3 == 0 else "a", "name": f"run-{i}", "params": params,
            "metrics": metrics, "tags": tags, "status": "failed" if i % 7 == 3 else "finished"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """A repository holding N logged runs, and the same data as a hand-built DataFrame."""
    path = make_repo(tmp_path_factory.mktemp("corpus") / "repo")
    api.set_tracking_repo(path)
    records = []
    for i in range(N):
        s = spec(i)
        run = api.start_run(run_name=s["name"], experiment=s["experiment"], tags=s["tags"])
        run.log_params(s["params"])
        for step in range(3):
            run.log_metrics({k: v + (2 - step) for k, v in s["metrics"].items()}, step=step)
        api.end_run(s["status"])
        row = {"run_id": run.id, "experiment": s["experiment"], "name": s["name"],
               "status": s["status"]}
        row.update({f"params.{k}": v for k, v in s["params"].items()})
        row.update({f"metrics.{k}": v for k, v in s["metrics"].items()})
        row.update({f"tags.{k}": v for k, v in s["tags"].items()})
        records.append(row)
    api.set_tracking_repo(None)
    frame = pd.DataFrame.from_records(records)
    for col in frame.columns:
        if col.startswith(("params.", "tags.")):
            frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return path, frame


@pytest.fixture
def runs(corpus: tuple[Path, pd.DataFrame]) -> Iterator[pd.DataFrame]:
    api.set_tracking_repo(corpus[0])
    yield corpus[1]


def num(frame: pd.DataFrame, col: str) -> pd.Series:
    return pd.to_numeric(frame[col], errors="coerce")


def text(frame: pd.DataFrame, col: str) -> pd.Series:
    return frame[col].map(lambda v: None if v is None else str(v))


def like(frame: pd.DataFrame, col: str, regex: str, case: bool = True) -> pd.Series:
    values = text(frame, col)
    return values.notna() & values.fillna("").str.fullmatch(regex, case=case)


Ref = Callable[[pd.DataFrame], pd.Series]
CASES: list[tuple[str, Ref]] = [
    ("", lambda d: pd.Series(True, index=d.index)),
    ("metrics.rmse < 0.5", lambda d: d["metrics.rmse"] < 0.5),
    ("metrics.rmse <= 0.5", lambda d: d["metrics.rmse"] <= 0.5),
    ("metrics.rmse > 0.5", lambda d: d["metrics.rmse"] > 0.5),
    ("metrics.rmse >= 0.5", lambda d: d["metrics.rmse"] >= 0.5),
    ("metrics.rmse = 0.5", lambda d: d["metrics.rmse"] == 0.5),
    ("metrics.rmse != 0.5", lambda d: d["metrics.rmse"] != 0.5),
    ("rmse < 0.3", lambda d: d["metrics.rmse"] < 0.3),
    ("metric.rmse > 5e-1", lambda d: d["metrics.rmse"] > 0.5),
    ("metrics.`val loss` < 1", lambda d: d["metrics.val loss"] < 1),
    ('metrics."val loss" >= 1.2', lambda d: d["metrics.val loss"] >= 1.2),
    ("metrics.mae < 0.2", lambda d: d["metrics.mae"].notna() & (d["metrics.mae"] < 0.2)),
    ("metrics.mae IS NULL", lambda d: d["metrics.mae"].isna()),
    ("metrics.mae IS NOT NULL", lambda d: d["metrics.mae"].notna()),
    ("params.model = 'rf'", lambda d: d["params.model"] == "rf"),
    ("params.model != 'rf'", lambda d: d["params.model"] != "rf"),
    ("params.model IN ('rf', 'xgb')", lambda d: d["params.model"].isin(["rf", "xgb"])),
    ("params.model NOT IN ('rf')", lambda d: ~d["params.model"].isin(["rf"])),
    ("params.alpha = '0.1'", lambda d: text(d, "params.alpha") == "0.1"),
    ("params.alpha > 0.2", lambda d: num(d, "params.alpha") > 0.2),
    ("param.depth >= 4", lambda d: num(d, "params.depth") >= 4),
    ("params.lr = 0.01", lambda d: num(d, "params.lr") == 0.01),
    ("params.lr IS NULL", lambda d: d["params.lr"].isna()),
    ("params.nothing IS NULL", lambda d: pd.Series(True, index=d.index)),
    ("tags.team = 'ml'", lambda d: d["tags.team"] == "ml"),
    ("tags.team != 'ml'", lambda d: d["tags.team"].notna() & (d["tags.team"] != "ml")),
    ("tags.team LIKE 'm%'", lambda d: like(d, "tags.team", "m.*")),
    ("tags.team ILIKE 'M%'", lambda d: like(d, "tags.team", "m.*", case=False)),
    ("tags.team LIKE '_l'", lambda d: like(d, "tags.team", ".l")),
    ("tags.team NOT LIKE 'm%'", lambda d: d["tags.team"].notna() & ~like(d, "tags.team", "m.*")),
    ("tags.team IS NULL", lambda d: d["tags.team"].isna()),
    ("tags.team IS NOT NULL", lambda d: d["tags.team"].notna()),
    ("tags.note = 'it''s'", lambda d: d["tags.note"] == "it's"),
    ("status = 'failed'", lambda d: d["status"] == "failed"),
    ("attributes.status != 'finished'", lambda d: d["status"] != "finished"),
    ("status = 'FINISHED'", lambda d: d["status"] == "finished"),  # MLflow's spelling
    ("experiment = 'b'", lambda d: d["experiment"] == "b"),
    ("attributes.run_name LIKE 'run-1%'", lambda d: d["name"].str.startswith("run-1")),
    ("metrics.rmse < 0.5 AND params.model = 'rf'",
     lambda d: (d["metrics.rmse"] < 0.5) & (d["params.model"] == "rf")),
    ("metrics.rmse < 0.3 or tags.team = 'ops'",
     lambda d: (d["metrics.rmse"] < 0.3) | (d["tags.team"] == "ops")),
    ("NOT metrics.rmse < 0.5", lambda d: ~(d["metrics.rmse"] < 0.5)),
    ("NOT (params.model = 'rf' OR params.model = 'xgb')",
     lambda d: ~d["params.model"].isin(["rf", "xgb"])),
    ("(metrics.rmse < 0.3 OR metrics.rmse > 0.7) AND tags.team IS NOT NULL",
     lambda d: ((d["metrics.rmse"] < 0.3) | (d["metrics.rmse"] > 0.7)) & d["tags.team"].notna()),
    ("metrics.rmse > 0.2 AND NOT tags.team = 'ml' OR params.depth = 5",
     lambda d: ((d["metrics.rmse"] > 0.2) & d["tags.team"].notna() & (d["tags.team"] != "ml"))
     | (num(d, "params.depth") == 5)),
    ("NOT tags.team = 'ml'", lambda d: d["tags.team"].notna() & (d["tags.team"] != "ml")),
    ("metrics.mae > 0.1 OR metrics.mae IS NULL",
     lambda d: (d["metrics.mae"] > 0.1) | d["metrics.mae"].isna()),
]


def expected_ids(frame: pd.DataFrame, ref: Ref) -> set[str]:
    mask = ref(frame).fillna(False).astype(bool)
    return set(frame.loc[mask, "run_id"])


def test_corpus_covers_thirty_filters() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("expr,ref", CASES, ids=[c[0] or "<empty>" for c in CASES])
def test_search_runs_matches_pandas_reference(runs: pd.DataFrame, expr: str, ref: Ref) -> None:
    found = gittrack.query_runs(filter_string=expr)
    assert set(found["run_id"]) == expected_ids(runs, ref)
    assert len(found) == len(set(found["run_id"]))


@pytest.mark.parametrize("expr,ref", CASES[::4], ids=[c[0] or "<empty>" for c in CASES[::4]])
def test_log_where_agrees_with_search_runs(runs: pd.DataFrame, cli: Any, expr: str,
                                           ref: Ref) -> None:
    result = cli("log", "--where", expr, "--columns", "run_id", "--format", "csv")
    assert result.code == 0, result.err
    ids = [r["run_id"] for r in csv.DictReader(io.StringIO(result.out))]
    assert set(ids) == expected_ids(runs, ref)
    assert ids == list(gittrack.query_runs(filter_string=expr)["run_id"])


def test_frame_columns_and_types(runs: pd.DataFrame) -> None:
    found = gittrack.query_runs()
    assert list(found.columns[:10]) == [
        "run_id", "experiment", "name", "status", "start_time", "end_time", "user",
        "baseline_commit", "parent_run_id", "commit"]
    assert str(found["start_time"].dt.tz) == "UTC"
    assert found["metrics.rmse"].dtype == "float64"
    assert {"params.alpha", "params.lr", "tags.team", "metrics.val loss"} <= set(found.columns)
    row = found.set_index("run_id").loc[runs.loc[0, "run_id"]]
    assert row["params.depth"] == 1 and row["params.model"] == "rf"
    assert row["metrics.rmse"] == 0.5 and row["tags.team"] == "ml"
    # newest first by default
    assert list(found["start_time"]) == sorted(found["start_time"], reverse=True)


def test_experiment_names_and_max_results(runs: pd.DataFrame) -> None:
    only_b = gittrack.query_runs(["b"])
    assert set(only_b["run_id"]) == set(runs.loc[runs["experiment"] == "b", "run_id"])
    assert len(gittrack.query_runs(max_results=5)) == 5
    assert len(gittrack.query_runs("a", max_results=0)) == 0
    assert gittrack.query_runs(["nope"]).empty


@pytest.mark.parametrize("order_by,key,ascending", [
    (["metrics.rmse ASC"], "metrics.rmse", True),
    (["metrics.rmse DESC"], "metrics.rmse", False),
    (["metrics.mae"], "metrics.mae", True),
    (["metrics.mae desc"], "metrics.mae", False),
    (["params.depth DESC"], "params.depth", False),
])
def test_order_by_like_mlflow(runs: pd.DataFrame, order_by: list[str], key: str,
                              ascending: bool) -> None:
    found = gittrack.query_runs(order_by=order_by)
    values = list(found[key])
    present = [v for v in values if not _null(v)]
    assert present == sorted(present, reverse=not ascending)
    assert all(_null(v) for v in values[len(present):])  # missing values last


def test_order_by_two_keys_breaks_ties(runs: pd.DataFrame) -> None:
    found = gittrack.query_runs(order_by=["params.model", "metrics.rmse DESC"])
    expected = runs.sort_values(["params.model", "metrics.rmse"], ascending=[True, False])
    assert list(found["params.model"]) == list(expected["params.model"])
    assert list(found["metrics.rmse"]) == list(expected["metrics.rmse"])


def _null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def test_child_runs_are_found_by_their_parent(repo: Path, cli: Any) -> None:
    with gittrack.start_run(run_name="sweep") as parent:
        for i in range(3):
            with gittrack.start_run(run_name=f"trial-{i}", nested=True) as child:
                child.log_metric("rmse", i)
    children = {"parent_run_id = '%s'", "tags.mlflow.parentRunId = '%s'",
                "attributes.parent_run_id = '%s' AND tags.mlflow.runName LIKE 'trial-%%'"}
    for form in children:
        found = gittrack.query_runs(filter_string=form % parent.id)
        assert sorted(found["name"]) == ["trial-0", "trial-1", "trial-2"], form
        shown = cli("log", "--where", form % parent.id, "--format", "json")
        assert sorted(r["name"] for r in json.loads(shown.out)) == ["trial-0", "trial-1",
                                                                    "trial-2"], form
    top = gittrack.query_runs(filter_string="parent_run_id IS NULL")
    assert list(top["name"]) == ["sweep"]


def test_mlflow_arguments_experiment_ids_and_list_output(runs: pd.DataFrame) -> None:
    frame = gittrack.query_runs(["a"], "metrics.rmse < 0.5", order_by=["metrics.rmse ASC"])
    by_ids = gittrack.query_runs(experiment_ids="a", filter_string="metrics.rmse < 0.5",
                                  order_by=["metrics.rmse ASC"])
    pd.testing.assert_frame_equal(frame, by_ids)
    listed = gittrack.query_runs(experiment_ids=["a"], filter_string="metrics.rmse < 0.5",
                                  order_by=["metrics.rmse ASC"], output_format="list")
    assert [r.info.run_id for r in listed] == list(frame["run_id"])
    assert [r.data.metrics["rmse"] for r in listed] == list(frame["metrics.rmse"])
    with pytest.raises(InvalidInputError, match="output_format"):
        gittrack.query_runs(output_format="json")
    with pytest.raises(InvalidInputError, match="not both"):
        gittrack.query_runs(["a"], experiment_ids=["a"])


def test_bad_filter_and_order_raise_gittrack_errors(runs: pd.DataFrame) -> None:
    with pytest.raises(FilterError):
        gittrack.query_runs(filter_string="metrics.rmse <")
    with pytest.raises(InvalidInputError):
        gittrack.query_runs(order_by=[""])
    with pytest.raises(InvalidInputError):
        gittrack.query_runs(max_results=-1)


def test_metric_history_is_long_and_complete(runs: pd.DataFrame) -> None:
    ids = list(runs["run_id"][:2])
    hist = gittrack.metric_history(ids)
    assert list(hist.columns) == ["run_id", "key", "step", "timestamp", "value"]
    assert str(hist["timestamp"].dt.tz) == "UTC"
    first = hist[(hist["run_id"] == ids[0]) & (hist["key"] == "rmse")]
    assert list(first["step"]) == [0, 1, 2]
    assert list(first["value"]) == [2.5, 1.5, 0.5]
    only = gittrack.metric_history(gittrack.query_runs(max_results=3), keys="rmse")
    assert set(only["key"]) == {"rmse"} and len(only) == 9
    by_name = gittrack.metric_history("b/run-0", ["rmse"])
    assert list(by_name["run_id"]) == [ids[0]] * 3


def test_import_gittrack_and_log_stay_without_pandas(runs: pd.DataFrame,
                                                     corpus: tuple[Path, pd.DataFrame]) -> None:
    code = ("import sys, gittrack\nfrom gittrack.cli.main import main\n"
            "try:\n    main(['log', '--where', 'metrics.rmse < 0.5', '--sort', '-rmse'])\n"
            "except SystemExit:\n    pass\nprint('pandas' in sys.modules, file=sys.stderr)")
    proc = run_python(code, corpus[0])
    assert proc.stderr.strip().endswith("False"), proc.stderr
    assert "run-" in proc.stdout
