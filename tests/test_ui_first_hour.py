"""The web UI's first-hour defects: deltas coloured by each metric's direction, and a busy
--port that says so and exits 1."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from conftest import make_repo
from starlette.testclient import TestClient

import gittrack
from gittrack.query.direction import by_name


def test_metric_directions_come_from_the_name_then_the_config(tmp_path: Path) -> None:
    assert [by_name(n) for n in ("val_loss", "rmse", "test/mae", "r2", "accuracy_top1",
                                 "f1_score", "epoch", "lr")] == \
        ["lower", "lower", "lower", "higher", "higher", "higher", None, None]
    repo = make_repo(tmp_path / "repo")
    (repo / ".gittrack").mkdir()
    (repo / ".gittrack" / "config.yaml").write_text(
        "metric_directions: {profit: higher, r2: lower, bad: sideways}\n")
    gittrack.set_tracking_repo(str(repo))
    ids = []
    for i, (rmse, r2, profit) in enumerate([(10.0, 0.5, 1.0), (8.0, 0.7, 0.5)]):
        with gittrack.start_run(experiment="e", run_name=f"r{i}") as run:
            gittrack.log_metrics({"rmse": rmse, "r2": r2, "profit": profit, "bad": 1.0 + i})
            ids.append(run.id)
    from gittrack import api
    from gittrack.query import baseline
    from gittrack.ui.app import create_app

    baseline.set_baseline(api.open_store(), ids[0])
    page = TestClient(create_app(repo)).get("/api/experiments/e/runs").json()
    assert page["better"] == {"metrics.rmse": "lower", "metrics.r2": "lower",
                              "metrics.profit": "higher"}  # config wins; "sideways" ignored
    newer = next(r for r in page["rows"] if r["id"] == ids[1])
    assert newer["delta"]["metrics.rmse"] == -2.0 and newer["delta"]["metrics.profit"] == -0.5


def test_a_busy_port_is_one_sentence_and_exit_1(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "gittrack", "ui", "--port", str(port)],
                              cwd=repo, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == (f"gittrack: error: Port {port} on 127.0.0.1 is already in use; stop "
                           f"what uses it or pick another with `gittrack ui --port {port + 1}`.\n")
    assert "serving" not in proc.stderr
