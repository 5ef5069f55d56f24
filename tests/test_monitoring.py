"""Monitoring runs: `gittrack monitor` / `gittrack.monitor`, twelve months of them, and the
commands that read them (log, diff, plot, the UI's API)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gittrack.monitoring import scores
from tests.monitoring_helpers import MONTHS, monitored, month_frame, train  # noqa: F401
from tests.test_drift import write_request_logs


def test_twelve_monthly_runs_record_version_drift_and_error(monitored: dict[str, Any]) -> None:  # noqa: F811
    import gittrack
    gittrack.set_tracking_repo(monitored["repo"])
    runs = gittrack.query_runs(["forecaster/monitoring"]).sort_values("metrics.rmse")
    assert len(runs) == 12 and set(runs["status"]) == {"finished"}
    results = monitored["results"]
    assert [r.version for r in results] == [1] * 7 + [2, 2] + [1] * 3
    assert [r.step for r in results] == list(range(1, 13))
    normal = [r for r in results if r.step not in (6, 7, 8, 9)]
    assert all(not r.drift.drifted for r in normal)  # quiet months flag nothing
    june = results[5]
    assert {c.column for c in june.drift.drifted} == {"orders", "line", "hours"}
    assert june.drift.column("line").new_categories == ["B"] and june.drift.dataset_drift
    assert june.metrics["rmse"] > 10 * results[4].metrics["rmse"]  # the error jumps
    assert set(june.metrics) >= {"rmse", "mae", "drift/share", "drift/orders", "drift/line"}
    run = gittrack.get_run(june.run_id)
    assert run.experiment == "forecaster/monitoring" and run.name == "prod-2025-06"
    assert run.params["version"] == 1 and run.params["stage"] == "prod"
    assert run.inputs["batch"]["context"] == "monitoring"  # the batch's data version + profile
    assert run.inputs["batch"]["profile"] == f"profiles/{run.inputs['batch']['md5']}.json"
    assert "drift.json" in run.artifacts
    # after v2 went to prod the reference is v2's own training data
    assert results[7].drift.reference["version"] == 2


def test_log_diff_and_plot_read_monitoring_runs(monitored: dict[str, Any], cli: Any,  # noqa: F811
                                                tmp_path: Path) -> None:
    repo = str(monitored["repo"])
    shown = cli("--repo", repo, "log", "forecaster/monitoring", "--columns",
                "name,params.version,metrics.rmse,metrics.drift/share", "--sort", "params.batch")
    assert shown.code == 0 and len(shown.out.splitlines()) == 13 and "prod-2025-06" in shown.out
    may, june = monitored["results"][4].run_id, monitored["results"][5].run_id
    diff = json.loads(cli("--repo", repo, "diff", may, june, "--json").out)
    assert "batch" in json.dumps(diff["inputs"]) and "drift/orders" in json.dumps(diff["metrics"])
    chart = tmp_path / "prod.html"
    drawn = cli("--repo", repo, "plot", "-e", "forecaster/monitoring", "--metric", "rmse",
                "--metric", "drift/share", "-o", str(chart))
    assert drawn.code == 0 and "24 point(s)" in drawn.out and "2 version change(s)" in drawn.out
    page = chart.read_text()
    assert page.count('class="series"') == 2 and page.count('class="marker"') == 4
    assert "version 2" in page and "version 1" in page
    png = tmp_path / "prod.png"
    assert cli("--repo", repo, "plot", "-e", "forecaster/monitoring", "-o", str(png)).code == 0
    assert png.read_bytes().startswith(b"\x89PNG")


def test_the_ui_api_serves_error_and_drift_over_time(monitored: dict[str, Any]) -> None:  # noqa: F811
    from starlette.testclient import TestClient

    from gittrack.ui.app import create_app
    client = TestClient(create_app(monitored["repo"]))
    doc = client.get("/api/models/forecaster/monitoring").json()
    assert [r["step"] for r in doc["runs"]] == list(range(1, 13))
    assert doc["changes"] == [{"step": 8, "version": 2}, {"step": 10, "version": 1}]
    assert doc["errors"] == ["mae", "rmse"] and "drift/share" in doc["drift"]
    june = doc["runs"][5]
    report = client.get(f"/api/runs/{june['id']}/drift").json()
    assert report["dataset_drift"] is True and set(report["drifted"]) == {"orders", "line", "hours"}
    line = next(c for c in report["columns"] if c["column"] == "line")
    assert line["display"]["labels"] == ["A", "B"] and line["display"]["reference"] == [1.0, 0.0]
    assert client.get("/api/runs/nope/drift").status_code == 404
    assert client.get("/api/models/other/monitoring").json()["runs"] == []


def two_versions(repo: Path) -> None:
    """forecaster v1 then v2 in prod (trained on normal data)."""
    import gittrack
    gittrack.set_tracking_repo(repo)
    for version in (1, 2):
        run_id = train(month_frame(10 + version), f"v{version}")
        gittrack.register_model(f"runs:/{run_id}/model", "forecaster")
        gittrack.promote("forecaster", version, "prod")


def test_a_threshold_makes_monitor_exit_1_and_name_the_rollback(repo: Path, cli: Any) -> None:
    two_versions(repo)
    month_frame(1).to_csv(repo / "may.csv", index=False)
    month_frame(2, changeover=True).to_csv(repo / "june.csv", index=False)
    (repo / ".gittrack").mkdir()
    (repo / ".gittrack" / "config.yaml").write_text(
        "monitoring:\n  max: {rmse: 100, drift/share: 0.9}\n")
    calm = cli("monitor", "models:/forecaster/prod", "--data", "may.csv", "--target", "hours")
    assert calm.code == 0, calm.err
    assert "Recorded prod-may" in calm.out and "forecaster v2 (prod)" in calm.out
    alarm = cli("monitor", "models:/forecaster/prod", "--data", "june.csv", "--target", "hours",
                "--name", "2025-06")
    assert alarm.code == 1
    assert "alert: rmse" in alarm.err and "> 100" in alarm.err
    assert "roll back to v1: gittrack rollback forecaster prod" in alarm.err
    import gittrack
    run = gittrack.get_run("forecaster/monitoring/prod-2025-06")
    assert run.tags["rollback_to"] == "v1" and run.tags["alert"].startswith("rmse")
    assert run.metrics["rmse"].step == 2  # the second batch
    as_json = json.loads(cli("monitor", "models:/forecaster/v1", "--data", "june.csv",
                             "--json").out)
    assert as_json["version"] == 1 and as_json["stage"] is None and as_json["alerts"] == []
    missing = cli("monitor", "models:/forecaster/prod", "--data", "june.csv", "--target", "y")
    assert missing.code == 1 and "no target column 'y'" in missing.err
    assert cli("monitor", "models:/forecaster/prod").code == 2
    assert "Example:" in cli("monitor", "--help").out


def test_monitor_reads_request_logs(repo: Path) -> None:
    """The serving version and the predictions come from the logs, not from today's registry."""
    import gittrack
    two_versions(repo)
    batch = month_frame(3)
    write_request_logs(repo / "requests", [batch.drop(columns=["hours"]).iloc[:800],
                                           batch.drop(columns=["hours"]).iloc[800:]], version=1)
    result = gittrack.monitor("models:/forecaster/prod", repo / "requests", name="week-1")
    assert result.version == 1 and result.served == {1: 2000}  # v2 is prod, v1 answered
    assert result.drift.reference["version"] == 1 and "rmse" not in result.metrics
    assert [c.column for c in result.drift.columns] == ["staff", "orders", "line", "hours"]
    labelled = repo / "labelled"
    write_request_logs(labelled, [batch], version=1)  # the logs joined with the actuals
    result = gittrack.monitor("models:/forecaster/prod", labelled, target="hours")
    assert result.metrics["rmse"] == pytest.approx(float(np.sqrt((batch["hours"] ** 2).mean())))
    run = gittrack.get_run(result.run_id)
    assert run.params["served_versions"] == "v1" and run.inputs["batch"]["kind"] == "dir"


def test_monitor_takes_a_dataframe(repo: Path) -> None:
    import gittrack
    two_versions(repo)
    result = gittrack.monitor("models:/forecaster/prod", month_frame(4), target="hours",
                              step=7)
    assert result.step == 7 and result.run_name == "prod-dataframe" and result.metrics["rmse"] < 40


def test_error_metrics_are_named_as_training_logged_them() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([1.5, 2.0, 2.0, 4.0])
    got = scores.compute(y, p, ["test_rmse", "val/mae", "train_rmse", "loss", "r2"])
    assert set(got) == {"test_rmse", "val/mae", "r2"}
    assert got["test_rmse"] == pytest.approx(np.sqrt(np.mean((y - p) ** 2)))
    assert scores.compute(y, p, []) == {"rmse": got["test_rmse"], "mae": got["val/mae"]}
    labels = np.array(["a", "b", "a", "b"])
    assert scores.compute(labels, np.array(["a", "b", "b", "b"]), ["accuracy", "f1"]) == \
        pytest.approx({"accuracy": 0.75, "f1": (2 / 3 + 0.8) / 2})
    assert scores.compute(labels, labels, ["rmse"]) == {}


def test_monitor_errors(repo: Path) -> None:
    import gittrack
    with pytest.raises(Exception, match="No model 'forecaster'"):
        gittrack.monitor("models:/forecaster/prod", pd.DataFrame({"a": [1.0]}))
    gittrack.set_tracking_repo(repo)
    with gittrack.start_run(run_name="no-input") as run:
        from sklearn.linear_model import LinearRegression
        model = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
        run.log_model(model, "model")
    gittrack.register_model(f"runs:/{run.id}/model", "bare")
    with pytest.raises(Exception, match="logged no input data"):
        gittrack.monitor("models:/bare/v1", pd.DataFrame({"a": [1.0]}))
