"""MLflow compatibility, with MLflow itself as the reference (docs/mlflow.md).

One MLflow SQLite store is filled once per module with runs of every shape the search tests
need, then imported into one gittrack repository with `gittrack import mlflow`; gittrack's
run ids are the first 16 digits of MLflow's, so answers compare run by run.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest

mlflow = pytest.importorskip("mlflow", reason="MLflow is the reference (pip install gittrack[test])")

import gittrack  # noqa: E402
from gittrack.core.errors import GittrackError  # noqa: E402

# MLflow and SQLAlchemy warn about their own deprecations; gittrack's warnings stay errors.
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning:mlflow.*")]
EXAMPLES = Path(__file__).parent / "data" / "mlflow_examples"
BASE_MS = 1_700_000_000_000


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(PYTHONWARNINGS="ignore", GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com", **extra)
    return env


# -- the example scripts ------------------------------------------------------------------
def test_examples_log_what_mlflow_logs(tmp_path: Path) -> None:
    """MLflow's elasticnet, quickstart and three sklearn_autolog examples, once with MLflow and
    once with only their imports replaced, log the same params, metrics, tags and artifacts."""
    ml_dir, gt_dir = tmp_path / "mlflow", tmp_path / "gittrack"
    ml_dir.mkdir()
    gt_dir.mkdir()
    subprocess.run(["git", "init", "-q", str(gt_dir)], check=True)
    drive = [sys.executable, str(EXAMPLES / "drive.py")]
    ml = subprocess.Popen([*drive, "mlflow"], cwd=ml_dir, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True,
                          env=_env(MLFLOW_TRACKING_URI=f"sqlite:///{ml_dir}/mlflow.db"))
    gt = subprocess.run([*drive, "gittrack"], cwd=gt_dir, capture_output=True, text=True,
                        env=_env(PYTHONPATH=str(Path(gittrack.__file__).parent.parent)))
    ml_out, ml_err = ml.communicate()
    assert gt.returncode == 0, gt.stderr[-3000:]
    assert ml.returncode == 0, ml_err[-3000:]
    theirs, ours = json.loads(ml_out), json.loads(gt.stdout)
    assert set(theirs) == set(ours) == {"tracking_quickstart", "elasticnet_wine",
                                        "autolog_linear_regression", "autolog_pipeline",
                                        "autolog_grid_search_cv"}
    for name in theirs:
        a, b = theirs[name], ours[name]
        if name == "autolog_grid_search_cv":
            assert a["children"] == b["children"]  # child runs: params and mean_test_score
            a, b = a["parent"], b["parent"]
        assert a["params"] == b["params"], name
        assert a["tags"] == b["tags"], name
        assert a["metrics"].keys() == b["metrics"].keys(), name
        for key, value in a["metrics"].items():
            assert b["metrics"][key] == pytest.approx(value, rel=1e-9, abs=1e-12), (name, key)
        # MLflow 3 keeps models as logged models outside the run's artifacts; gittrack keeps
        # the model as the run's `model` artifact (docs/mlflow.md), the rest is the same.
        assert a["artifacts"] == [p for p in b["artifacts"] if not p.startswith("model/")], name
    assert ours["tracking_quickstart"]["artifacts"] == ["test.txt"]
    assert ours["autolog_pipeline"]["params"]["lr__fit_intercept"] == "True"
    registered = subprocess.run([sys.executable, "-m", "gittrack.cli.main", "models", "--json"],
                                cwd=gt_dir, capture_output=True, text=True,
                                env=_env(PYTHONPATH=str(Path(gittrack.__file__).parent.parent)))
    assert "ElasticnetWineModel" in registered.stdout, registered.stderr


# -- one MLflow store and its import, shared by the search tests --------------------------
def _fill_store(uri: str) -> dict[str, Any]:
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    client = MlflowClient(uri)
    exp = client.create_experiment("search", tags={"team": "ml"})
    other = client.create_experiment("other")
    strings = ["a", "b", "A", "ab", "abc", "None", "0.5", "10", "9", "x y", "%", "_"]
    ids = []
    for i in range(36):
        run = client.create_run(exp, start_time=BASE_MS + 1000 * (i % 30), run_name=f"run-{i:02d}")
        rid = run.info.run_id
        params = [Param("p_str", strings[i % len(strings)]), Param("p_num", str(i % 7))]
        if i % 4:
            params.append(Param("p_sparse", strings[(i * 5) % len(strings)]))
        metrics = [Metric("m_lin", i * 0.5 - 4, BASE_MS + i, 0),
                   Metric("m_mod", float(i % 5), BASE_MS + i, 0)]
        special = {3: math.nan, 7: math.inf, 11: -math.inf, 13: 0.0, 17: -0.0}
        if i in special:
            metrics.append(Metric("m_special", special[i], BASE_MS + i, 0))
        elif i % 3 == 0:
            metrics.append(Metric("m_special", i / 3, BASE_MS + i, 0))
        for step in range(1, 4):  # a history: the latest point is what searches see
            metrics.append(Metric("m_hist", i * step * 0.25, BASE_MS + 10 * step + i, step))
        tags = [RunTag("t_group", "even" if i % 2 == 0 else "odd"),
                RunTag("t_case", "Hello" if i % 3 else "hello")]
        if i % 6 == 5:
            tags.append(RunTag("mlflow.parentRunId", ids[i - 1]))
        client.log_batch(rid, metrics=metrics, params=params, tags=tags)
        status = ["FINISHED", "FINISHED", "FAILED", "KILLED"][i % 4]
        client.set_terminated(rid, status, end_time=BASE_MS + 1000 * (i % 30) + 500 + i)
        ids.append(rid)
    client.set_terminated(client.create_run(other, run_name="elsewhere").info.run_id)
    return {"experiment_id": exp, "ids": ids}


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """(MLflow store URI, the MLflow experiment id, the imported gittrack repository)."""
    root = tmp_path_factory.mktemp("mlflow-search")
    uri = f"sqlite:///{root}/mlflow.db"
    filled = _fill_store(uri)
    repo = root / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    from gittrack.compat.importer import import_mlflow
    from gittrack.core.gitio import Repo
    from gittrack.core.store import Store

    report = import_mlflow(Store(Repo(repo)), uri)
    assert report.runs == 37 and report.skipped_runs == 0
    return uri, filled, repo


@pytest.fixture
def both(stores: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    uri, filled, repo = stores
    mlflow.set_tracking_uri(uri)
    gittrack.set_tracking_uri(str(repo))
    gittrack.set_experiment("search")
    yield filled
    gittrack.set_tracking_repo(None)
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]


def _ours(filter_string: str = "", order_by: list[str] | None = None) -> list[str] | str:
    try:
        found = gittrack.search_runs(filter_string=filter_string, order_by=order_by)
    except GittrackError:
        return "rejected"
    return list(found["run_id"]) if len(found) else []


def _theirs(experiment_id: str, filter_string: str = "",
            order_by: list[str] | None = None) -> list[str] | str:
    try:
        found = mlflow.search_runs([experiment_id], filter_string=filter_string,
                                   order_by=order_by)
    except mlflow.exceptions.MlflowException:
        return "rejected"
    return [r[:16] for r in found["run_id"]] if len(found) else []


# Filter cases built from MLflow's tests/utils/test_search_utils.py and its store search tests:
# every key form (prefix aliases, backticks, quotes) with every comparator and value kind,
# plus their compound and malformed cases.
KEYS = {
    "metric": ["metrics.m_lin", "metric.m_lin", "`metrics`.m_lin", "metrics.`m_special`",
               'metrics."m_hist"', "metrics.m_special", "metrics.missing"],
    "param": ["params.p_str", "param.p_str", "parameters.p_num", "parameter.`p_sparse`",
              "`params`.p_num", 'params."p_str"', "params.missing"],
    "tag": ["tags.t_group", "tag.t_case", "tags.`t_case`", "`tags`.t_group",
            'tags."mlflow.runName"', "tags.`mlflow.parentRunId`", "tags.missing"],
    "attribute": ["attributes.status", "attribute.run_name", "attr.user_id", "run.status",
                  "status", "run_name", "`Run name`", "attributes.start_time", "created",
                  "end_time", "attributes.artifact_uri", "attributes.run_id", "lifecycle_stage",
                  "attributes.experiment_id"],
}
COMPARATORS = ["=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IS NULL", "IS NOT NULL",
               "IN", "NOT IN"]
VALUES = ["0", "-4", "2.5", "1e3", "'a'", '"A"', "'%b%'", "'_'", "'FINISHED'", "'run-0_'",
          "('run-01', 'run-02')", "x"]


def _value_for(comparator: str, value: str) -> str:
    if comparator in ("IS NULL", "IS NOT NULL"):
        return ""
    if comparator in ("IN", "NOT IN") and not value.startswith("("):
        return f"({value})"
    return value


FILTERS = sorted({f"{key} {op} {_value_for(op, v)}".strip()
                  for kind, keys in KEYS.items() for key in keys
                  for op, v in itertools.product(COMPARATORS, VALUES)
                  if zlib.crc32(f"{key}{op}{v}".encode()) % 9 == 0 or v in ("0", "'a'")
                  or op.startswith("IS")})
FILTERS += [
    "", "metrics.m_lin > 0 AND params.p_num = '3'", "metrics.m_lin > 0 and metrics.m_mod < 3",
    "tags.t_group = 'odd' AND attributes.status = 'FINISHED'", "metrics.m_special = 0",
    "metrics.m_special != 0", "metrics.m_special > 1e308", "metrics.m_special < -1e308",
    "metrics.m_special >= 1.7976931348623157e308", "metrics.m_hist >= 6",
    "params.p_str LIKE '%'", "params.p_str LIKE '\\_'", "params.p_str ILIKE 'A%'",
    "params.p_str LIKE 'a%'", "tags.t_case = 'hello'", "tags.t_case ILIKE 'HELLO'",
    "tags.t_case LIKE 'hel%'", "attributes.run_name LIKE 'run-1%'",
    "attributes.run_name ILIKE 'RUN-2%'", "`Run name` = 'run-05'", "created >= 1700000010000",
    "attributes.start_time < 1700000005000", "end_time > 1700000020000",
    "attributes.end_time != 0", "status != 'FAILED'", "status IN ('FINISHED')",
    "attributes.status LIKE 'F%'", "status = 'finished'", "params.p_num IS NULL",
    "params.p_sparse IS NULL AND tags.t_group = 'even'", "tags.mlflow.parentRunId IS NOT NULL",
    "metrics.m_lin >= 0 OR metrics.m_mod = 1", "(metrics.m_lin > 0)",
    "NOT metrics.m_lin > 0", "metrics.m_lin > 0 AND", "AND metrics.m_lin > 0",
    "metrics.m_lin > 0 AND metrics.m_mod", "metrics.m_lin", "metrics.m_lin >", "= 1",
    "metrics.m_lin = 'x'", "params.p_num = 3", "tags.t_group = even", "foo.bar = 'x'",
    "params.p_str == 'a'", "params.p_str <> 'a'", "metrics.m_lin > 0; params.p_num = '1'",
    "attributes.run_id = 1", "datasets.name = 'x'", "datasets.digest LIKE '%'",
    "datasets.context IN ('training')", "dataset.foo = 'x'", "params.p_str RLIKE 'a'",
    "metrics.m_lin BETWEEN 0 AND 1", "params.`p str` = 'x'", "metrics.`a b` > 0",
    "metrics.m_lin > 0 AND metrics.m_lin < 5", "params.p_str = 'x y'", "params.p_str = '%'",
    "tags.`mlflow.runName` = 'run-03'", "attributes.run_name = 'run-03'",
    "run_id NOT IN ('0123')", "params.p_str != 'a' AND params.p_str != 'b'",
    "metrics.m_lin >= -4.0 AND metrics.m_lin <= -3.5", "metrics.m_mod = 1.0",
    "metrics.m_mod = +1", "metrics.m_mod = -0", "params.p_num >= '5'",
]


def test_search_filters_agree_with_mlflow(both: Any) -> None:
    exp = both["experiment_id"]
    mismatches = []
    for expr in FILTERS:
        theirs, ours = _theirs(exp, expr), _ours(expr)
        if theirs != ours:
            mismatches.append((expr, theirs, ours))
    assert len(FILTERS) > 300
    assert not mismatches, "\n".join(f"{e!r}: mlflow={t} gittrack={o}" for e, t, o in mismatches[:15])


ORDERS = [[f"{key} {d}".strip()] for key in
          ["metrics.m_lin", "metrics.m_special", "metrics.missing", "params.p_str",
           "params.p_num", "params.p_sparse", "tags.t_case", "attributes.start_time",
           "start_time", "end_time", "run_name", "attributes.run_name", "status", "run_id",
           "created", "`metrics`.m_mod", "metrics.`m_hist`", "params.`p_str`", "user_id",
           "artifact_uri", "lifecycle_stage", "foo.bar", "metrics.m_lin ASC DESC",
           "datasets.name"]
          for d in ("", "ASC", "DESC", "asc", "desc", "UP")]
ORDERS += [["params.p_num", "metrics.m_lin DESC"], ["metrics.m_mod", "params.p_str DESC"],
           ["tags.t_group DESC", "metrics.m_special ASC"], ["metrics.m_lin", "metrics.m_lin"],
           ["status", "start_time ASC"], ["timestamp"], ["metrics.m_mod", "run_name DESC"]]


def test_search_order_agrees_with_mlflow(both: Any) -> None:
    exp = both["experiment_id"]
    mismatches = []
    for order in ORDERS:
        theirs, ours = _theirs(exp, "", order), _ours("", order)
        if theirs != ours:
            mismatches.append((order, theirs, ours))
    assert not mismatches, "\n".join(f"{e!r}:\n mlflow={t}\n gittrack={o}" for e, t, o in mismatches[:8])


def test_search_runs_frames_have_mlflow_columns_and_dtypes(both: Any) -> None:
    theirs = mlflow.search_runs([both["experiment_id"]])
    ours = gittrack.search_runs()
    assert list(ours.columns[:6]) == list(theirs.columns[:6]) == [
        "run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]
    skip = ("tags.mlflow.source.", "tags.mlflow.user")  # where MLflow ran, not what it logged
    cols = sorted(c for c in theirs.columns if not c.startswith(skip))
    assert cols == sorted(c for c in ours.columns if not c.startswith(skip))
    assert {c: str(theirs[c].dtype) for c in cols} == {c: str(ours[c].dtype) for c in cols}
    theirs = theirs.assign(run_id=theirs["run_id"].str[:16]).set_index("run_id")
    ours = ours.set_index("run_id").loc[theirs.index]
    for col in cols:
        if col.startswith(("params.", "metrics.", "tags.t_")) or col in ("status", "start_time",
                                                                          "end_time"):
            assert ours[col].equals(theirs[col]) or \
                list(ours[col].astype(str)) == list(theirs[col].astype(str)), col
    assert (ours["params.p_str"] == "None").sum() == (theirs["params.p_str"] == "None").sum() > 0
    assert ours["metrics.m_special"].max() == 1.7976931348623157e308


def test_default_search_is_the_active_experiment(both: Any) -> None:
    assert set(gittrack.search_runs()["experiment_id"]) == {"search"}
    everything = gittrack.search_runs(search_all_experiments=True)
    assert set(everything["experiment_id"]) == {"search", "other"}
    assert len(gittrack.query_runs()) == 37  # gittrack's own view: every experiment, typed
    by_id = gittrack.search_runs(experiment_ids=[both["experiment_id"]])  # MLflow's id works
    assert len(by_id) == 36
