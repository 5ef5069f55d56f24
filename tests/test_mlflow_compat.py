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
@pytest.mark.slow
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
            if name == "tracking_quickstart":  # MLflow draws run names from the script's own
                continue  # global `random`, so the values after the run starts differ
            assert b["metrics"][key] == pytest.approx(value, rel=1e-9, abs=1e-12), (name, key)
        # The model directory holds each tool's own files (MLmodel, conda.yaml ... against
        # model.yaml): MLflow's pickle, gittrack's skops file (docs/security.md); every other
        # artifact is the same.
        # MLflow 3 lists a logged model under the run only when asked for its path.
        assert [p for p in a["artifacts"] if not p.startswith("model/")] == \
            [p for p in b["artifacts"] if not p.startswith("model/")], name
        if any(p.startswith("model/") for p in a["artifacts"]):
            assert "model/model.pkl" in a["artifacts"] and "model/model.skops" in b["artifacts"]
    assert ours["tracking_quickstart"]["artifacts"] == ["test.txt"]
    assert ours["autolog_pipeline"]["params"]["lr__fit_intercept"] == "True"
    registered = subprocess.run([str(Path(sys.executable).parent / "gittrack"), "models", "--json"],
                                cwd=gt_dir, capture_output=True, text=True,
                                env=_env(PYTHONPATH=str(Path(gittrack.__file__).parent.parent)))
    assert "ElasticnetWineModel" in registered.stdout, registered.stderr


# -- one MLflow store and its import, shared by the search tests --------------------------
def _fill_store(uri: str, artifacts: Path) -> dict[str, Any]:
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    client = MlflowClient(uri)
    exp = client.create_experiment("search", tags={"team": "ml"},
                                   artifact_location=(artifacts / "search").as_uri())
    other = client.create_experiment("other", artifact_location=(artifacts / "other").as_uri())
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
    filled = _fill_store(uri, root / "artifacts")
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
                  if zlib.crc32(f"{key}{op}{v}".encode()) % 16 == 0 or v in ("0", "'a'")
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


def _on_run_id_text(expr: str) -> bool:
    """LIKE on run ids: an imported run's id is the first 16 of MLflow's 32 hex digits
    (docs/mlflow.md), so patterns over the digits match other runs; both still accept them."""
    return "LIKE " in expr.upper() and ("run_id" in expr or "parentRunId" in expr)


def test_run_id_patterns_are_accepted_by_both(both: Any) -> None:
    for expr in (e for e in FILTERS if _on_run_id_text(e)):
        assert (_theirs(both["experiment_id"], expr) == "rejected") == (_ours(expr) == "rejected")


def test_search_filters_agree_with_mlflow(both: Any) -> None:
    exp = both["experiment_id"]
    mismatches = []
    for expr in FILTERS:
        if _on_run_id_text(expr):
            continue
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


# -- importing a whole MLflow store ---------------------------------------------------------
def _fill_registry_store(uri: str, runs: int, artifacts: Path) -> dict[str, Any]:
    """``runs`` runs with metric histories, artifacts and nested runs (log_batch, fast), and
    a registered model with two versions, stage transitions and an alias."""
    import numpy as np
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag
    from sklearn.linear_model import LinearRegression

    client = MlflowClient(uri)
    exp = client.create_experiment("history", artifact_location=artifacts.as_uri())
    ids: list[str] = []
    for i in range(runs):
        tags = [RunTag("mlflow.parentRunId", ids[i - 1])] if i % 10 == 9 else []
        rid = client.create_run(exp, start_time=BASE_MS + 1000 * i, run_name=f"r{i}").info.run_id
        points = [Metric("loss", 1.0 / (s + i + 1), BASE_MS + 1000 * i + s, s) for s in range(20)]
        client.log_batch(rid, metrics=points, params=[Param("i", str(i)), Param("none", "None")],
                         tags=[RunTag("kind", "sweep"), *tags])
        if i % 25 == 0:
            client.log_text(rid, f"report {i}\n", "reports/summary.txt")
        client.set_terminated(rid, "FINISHED" if i % 7 else "FAILED", BASE_MS + 1000 * i + 900)
        ids.append(rid)
    mlflow.set_tracking_uri(uri)
    x = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 5.0], [4.0, 3.0]])
    with mlflow.start_run(experiment_id=exp, run_name="trainer") as run:
        for k, coef in enumerate(([1.0, 2.0], [3.0, -1.0])):
            mlflow.sklearn.log_model(LinearRegression().fit(x, x @ np.array(coef)),
                                     name=f"model{k}", registered_model_name="forecaster",
                                     serialization_format="pickle")
    client.transition_model_version_stage("forecaster", "1", "Production")
    client.transition_model_version_stage("forecaster", "2", "Staging")
    client.set_registered_model_alias("forecaster", "champion", "2")
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    return {"experiment_id": exp, "ids": ids + [run.info.run_id], "x": x}


@pytest.mark.slow
def test_import_mlflow_store_agrees_and_reruns_add_nothing(tmp_path: Path) -> None:
    """(tests import 60 runs; benchmarks/mlflow_import.py does the 1,000-run store.)"""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    filled = _fill_registry_store(uri, runs=60, artifacts=tmp_path / "artifacts")
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    cli = [str(Path(sys.executable).parent / "gittrack"), "--repo", str(repo)]
    env = _env(PYTHONPATH=str(Path(gittrack.__file__).parent.parent))
    first = subprocess.run([*cli, "import", "mlflow", "--tracking-uri", uri, "--json"],
                           capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    report = json.loads(first.stdout)
    assert report["runs"] == 61 and report["versions"] == 2, report["warnings"]
    assert report["stage_events"] == 3
    assert report["metric_points"] >= 60 * 20 and report["artifacts"] >= 3, report

    # gittrack log lists every run; search_runs agrees with MLflow's, run by run
    logged = subprocess.run([*cli, "log", "--format", "json", "history"],
                            capture_output=True, text=True, env=env)
    assert logged.returncode == 0, logged.stderr
    assert len(json.loads(logged.stdout)) == 61
    mlflow.set_tracking_uri(uri)
    gittrack.set_tracking_uri(str(repo))
    try:
        theirs = mlflow.search_runs([filled["experiment_id"]], "metrics.loss < 0.05",
                                    order_by=["params.i DESC"])
        ours = gittrack.search_runs(["history"], "metrics.loss < 0.05", order_by=["params.i DESC"])
        assert [r[:16] for r in theirs["run_id"]] == list(ours["run_id"])
        assert list(theirs["metrics.loss"]) == list(ours["metrics.loss"])
        assert list(theirs["status"]) == list(ours["status"])
        nested = gittrack.search_runs(["history"], "tags.mlflow.parentRunId != ''")
        assert len(nested) == 6
        client, ours_client = mlflow.MlflowClient(uri), gittrack.MlflowClient()
        rid = filled["ids"][50]
        assert [(m.step, m.timestamp, m.value) for m in client.get_metric_history(rid, "loss")] \
            == [(m.step, m.timestamp, m.value) for m in ours_client.get_metric_history(rid, "loss")]
        assert gittrack.get_run(rid[:16]).info["mlflow_run_id"] == rid
        assert [f.path for f in ours_client.list_artifacts(filled["ids"][25], "reports")] == \
            ["reports/summary.txt"]

        # the registry: versions, stages and the alias, with MLflow's users and times
        for alias in ("champion",):
            x = filled["x"]
            expected = mlflow.pyfunc.load_model(f"models:/forecaster@{alias}").predict(x)
            assert list(gittrack.load_model(f"models:/forecaster@{alias}").predict(x)) == \
                pytest.approx(list(expected))
        assert list(gittrack.load_model("models:/forecaster/Production").predict(x)) == \
            pytest.approx(list(mlflow.pyfunc.load_model("models:/forecaster/1").predict(x)))
        mv = ours_client.get_model_version("forecaster", "2")
        assert mv.current_stage == "Staging" and mv.aliases == ["champion"]
        original = client.get_model_version("forecaster", "2")
        history = subprocess.run([*cli, "models", "history", "forecaster", "--json"],
                                 capture_output=True, text=True, env=env)
        events = json.loads(history.stdout)
        registered = [e for e in events if e["action"] == "register" and e["version"] == 2][0]
        assert registered["actor"] == (original.user_id or "mlflow")  # MLflow kept no user
        assert registered["time"].startswith(
            __import__("datetime").datetime.fromtimestamp(
                original.creation_timestamp / 1000, __import__("datetime").timezone.utc
            ).isoformat(timespec="milliseconds")[:23])
        assert {(e["stage"], e["version"]) for e in events if e["action"] == "promote"} == \
            {("prod", 1), ("staging", 2), ("champion", 2)}
    finally:
        gittrack.set_tracking_repo(None)
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]

    refs = subprocess.run(["git", "-C", str(repo), "for-each-ref"], capture_output=True,
                          text=True).stdout
    again = subprocess.run([*cli, "import", "mlflow", "--tracking-uri", uri, "--json"],
                           capture_output=True, text=True, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    second = json.loads(again.stdout)
    assert (second["runs"], second["versions"], second["stage_events"], second["experiments"]) \
        == (0, 0, 0, 0) and second["skipped_runs"] == 61
    assert subprocess.run(["git", "-C", str(repo), "for-each-ref"], capture_output=True,
                          text=True).stdout == refs


# -- the MLflow-named API on its own ----------------------------------------------------------
def test_mlflow_signatures_and_shapes(repo: Path) -> None:
    from gittrack.entities import Experiment, RunStatus, ViewType
    from gittrack.tracking import MlflowClient

    assert MlflowClient is gittrack.MlflowClient is gittrack.client.MlflowClient
    exp_id = gittrack.create_experiment("compat", tags={"team": "ml"})
    exp = gittrack.set_experiment("compat")
    assert isinstance(exp, Experiment) and exp.experiment_id == exp_id and exp.tags == {"team": "ml"}
    assert gittrack.get_experiment_by_name("compat") == gittrack.get_experiment(exp_id)
    assert gittrack.get_experiment_by_name("nope") is None
    with gittrack.start_run(experiment_id=exp_id, run_name="parent") as parent:
        gittrack.log_metric("loss", float("inf"), synchronous=True, step=3)
        gittrack.log_param("alpha", None)
        with gittrack.start_run(nested=True, run_name="child") as child:
            gittrack.log_metrics({"acc": 0.5}, synchronous=False)
        assert gittrack.get_artifact_uri("model").endswith(f"/runs/{parent.id}/artifacts/model")
    gittrack.start_run(run_name="bad")
    gittrack.end_run(status="FAILED")
    assert gittrack.last_active_run().info.status == "FAILED"
    frame = gittrack.search_runs(order_by=["attributes.run_name"])
    assert list(frame["tags.mlflow.runName"]) == ["bad", "child", "parent"]
    assert list(frame["status"]) == ["FAILED", "FINISHED", "FINISHED"]
    row = frame.set_index("tags.mlflow.runName").loc["parent"]
    assert row["params.alpha"] == "None" and row["metrics.loss"] == 1.7976931348623157e308
    assert frame.set_index("run_id").loc[child.id, "tags.mlflow.parentRunId"] == parent.id
    assert gittrack.search_runs(filter_string="params.alpha = 'None'")["run_id"].tolist() == [parent.id]
    assert len(gittrack.search_runs(run_view_type=ViewType.ALL)) == 3
    assert gittrack.search_runs(output_format="list")[0].info.run_name == "bad"
    assert RunStatus.to_string(RunStatus.FINISHED) == "FINISHED"
    names = [e.name for e in gittrack.search_experiments(filter_string="name LIKE 'comp%'")]
    assert names == ["compat"]
    client = MlflowClient()
    run = client.create_run(exp_id, run_name="by-client")
    client.log_metric(run.info.run_id, "m", 1.0, step=0)
    client.log_param(run.info.run_id, "p", 2)
    client.set_terminated(run.info.run_id, "KILLED")
    got = client.get_run(run.info.run_id)
    assert (got.info.status, got.data.params, got.data.metrics) == ("KILLED", {"p": "2"}, {"m": 1.0})
    with pytest.raises(GittrackError, match="git repository"):
        gittrack.set_tracking_uri("sqlite:///mlflow.db")


def test_stages_and_aliases_map_onto_stage_tags(repo: Path) -> None:
    from sklearn.linear_model import LinearRegression

    import gittrack.sklearn

    x = [[1.0], [2.0], [3.0]]
    with gittrack.start_run(run_name="fit"):
        info = gittrack.sklearn.log_model(LinearRegression().fit(x, [2.0, 4.0, 6.0]), "model",
                                          registered_model_name="doubler")
    assert info.model_uri.endswith("/model")
    client = gittrack.MlflowClient()
    assert client.get_model_version("doubler", "1").current_stage == "None"
    client.transition_model_version_stage("doubler", "1", "Production")
    client.set_registered_model_alias("doubler", "Champion", "1")
    mv = client.get_model_version_by_alias("doubler", "champion")
    assert (mv.version, mv.current_stage, mv.aliases) == ("1", "Production", ["champion"])
    assert list(gittrack.load_model("models:/doubler/Production").predict([[5.0]])) == \
        pytest.approx([10.0])
    assert gittrack.sklearn.load_model("models:/doubler@champion").coef_[0] == pytest.approx(2.0)
    assert [e.tag for e in gittrack.list_models()[0].history][-2:] == \
        ["doubler/prod/v1", "doubler/champion/v1"]
    client.transition_model_version_stage("doubler", "1", "Archived")
    assert client.get_model_version("doubler", "1").current_stage == "Archived"
    assert client.get_latest_versions("doubler", ["Production"]) == []


def test_import_command_help_and_errors(repo: Path, cli: Any, tmp_path: Path) -> None:
    shown = cli("import", "mlflow", "--help")
    assert shown.code == 0 and "Example:" in shown.out and "--tracking-uri" in shown.out
    assert cli("import", "mlflow").code == 2  # --tracking-uri is required
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path}/empty.db"
    MlflowClient(uri).search_experiments()
    missing = cli("import", "mlflow", "--tracking-uri", uri, "--experiment", "nope")
    assert missing.code == 1 and "no experiment 'nope'" in missing.err


def test_an_imported_artifact_path_git_refuses_is_left_out_with_a_warning(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from gittrack.compat.importer import import_mlflow
    from gittrack.core.gitio import Repo
    from gittrack.core.store import Store

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("hostile", artifact_location=str(tmp_path / "artifacts"))
    run_id = client.create_run(exp).info.run_id
    (tmp_path / "config").write_text("[core]\n\tfsmonitor = touch PWNED\n")
    (tmp_path / "ok.txt").write_text("ok\n")
    client.log_artifact(run_id, str(tmp_path / "config"), ".git")  # checkout would write .git/config
    client.log_artifact(run_id, str(tmp_path / "ok.txt"))
    client.set_terminated(run_id)
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    report = import_mlflow(Store(Repo(repo)), uri)
    assert report.runs == 1
    assert any(".git/config" in w and "not imported" in w for w in report.warnings)
    import gittrack
    gittrack.set_tracking_repo(repo)
    assert set(gittrack.get_run(run_id[:16]).artifacts) == {"ok.txt"}
