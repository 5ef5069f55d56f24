"""The web UI's JSON API, driven through Starlette's TestClient against a real repository.

``make_demo_repo`` builds the repository the browser tests use too: three experiments, metric
curves, artifacts (image, CSV, text, a model), a baseline, a registered model with stages,
and a run whose name and a param are HTML payloads.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import git, make_repo
from starlette.testclient import TestClient  # noqa: E402

XSS_NAME = "<img src=x onerror=alert(1)>"
XSS_PARAM = "<script>window.__pwned = 1; alert(2)</script>"


def _png() -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2))
    ax = fig.add_subplot()
    ax.plot([0, 1, 2], [3, 1, 2])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def make_demo_repo(path: Path) -> dict[str, Any]:
    """A repository with 3 experiments, curves, artifacts, a baseline and a model registry."""
    import gittrack
    from gittrack import api
    make_repo(path)
    api.set_tracking_repo(path)
    ids: dict[str, str] = {}
    gittrack.set_experiment("forecast")
    configs = [("linear", 0, 0.0, 231.5), ("rf", 6, 0.1, 114.3), ("rf", 12, 0.1, 90.2),
               ("xgb", 4, 0.05, 84.7), ("xgb", 8, 0.3, 101.9)]
    for i, (model, depth, lr, rmse) in enumerate(configs):
        name = f"{model}-{depth}-{i}"
        with gittrack.start_run(run_name=name, tags={"team": "planning"}) as run:
            run.log_params({"model": model, "max_depth": depth, "learning_rate": lr,
                            "n_estimators": 50 * (i + 1), "objective": "squared_error"})
            for step in range(25):
                run.log_metric("train_loss", rmse * (1 + 3 / (step + 1)), step=step)
                run.log_metric("val_loss", rmse * (1.1 + 3.5 / (step + 1)), step=step)
            run.log_metrics({"rmse": rmse, "mae": round(rmse * 0.83, 2),
                             "r2": round(1 - rmse / 400, 3)})
            if i == 0:
                run.log_text("fitted in 2.5 s\nno warnings\n", "notes/fit.txt")
                run.log_table({"month": ["2024-01", "2024-02"], "hours": [120.5, 98.0]},
                              "tables/predictions.csv")
                run.log_artifact(_write(path.parent / "loss.png", _png()), "plots")
            if i in (1, 3):
                from sklearn.linear_model import LinearRegression

                run.log_model(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), "model")
        ids[name] = run.id
    gittrack.set_baseline(ids["linear-0-0"])
    gittrack.set_experiment("churn")
    for i, c in enumerate((0.1, 1.0, 10.0)):
        with gittrack.start_run(run_name=f"logreg-C{c}") as run:
            run.log_params({"C": c, "penalty": "l2"})
            run.log_metrics({"auc": 0.7 + i * 0.05, "logloss": 0.6 - i * 0.1})
        ids[f"logreg-C{c}"] = run.id
    gittrack.set_experiment("sandbox")
    with gittrack.start_run(run_name=XSS_NAME) as run:
        run.log_params({"payload": XSS_PARAM, "label": XSS_NAME})
        run.set_tag("note", "<b>bold</b>")
        run.log_metric("score", 1.0)
    ids["xss"] = run.id
    gittrack.register_model(ids["rf-6-1"], "forecaster")
    gittrack.register_model(ids["xgb-4-3"], "forecaster")
    gittrack.promote("forecaster", 1, "staging")
    gittrack.promote("forecaster", 1, "prod")
    gittrack.promote("forecaster", 2, "staging")
    api.set_tracking_repo(None)
    return ids


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    path = tmp_path_factory.mktemp("ui") / "repo"
    return path, make_demo_repo(path)


def client(path: Path, read_only: bool = False) -> TestClient:
    from gittrack.ui.app import create_app

    return TestClient(create_app(path, read_only=read_only))


def test_experiments_lists_all_three(demo: tuple[Path, dict[str, str]]) -> None:
    path, ids = demo
    got = client(path).get("/api/experiments").json()
    assert {e["name"]: e["runs"] for e in got} == {"forecast": 5, "churn": 3, "sandbox": 1}
    forecast = next(e for e in got if e["name"] == "forecast")
    assert forecast["baseline"] == git(path, "rev-parse", f"refs/gittrack/runs/forecast/"
                                       f"{ids['linear-0-0']}").strip()


def test_runs_page_sorts_filters_pages_and_shows_deltas(demo: tuple[Path, dict[str, str]]
                                                        ) -> None:
    path, ids = demo
    c = client(path)
    page = c.get("/api/experiments/forecast/runs",
                 params={"order": "metrics.rmse ASC", "limit": 2}).json()
    assert page["total"] == 5 and page["all"] == 5 and len(page["rows"]) == 2
    assert [r["values"]["metrics.rmse"] for r in page["rows"]] == [84.7, 90.2]
    assert page["rows"][0]["delta"]["metrics.rmse"] == pytest.approx(84.7 - 231.5)
    assert page["baseline"]["id"] == ids["linear-0-0"]
    assert "params.max_depth" in page["columns"] and "metrics.rmse" in page["available"]
    nxt = c.get("/api/experiments/forecast/runs",
                params={"order": "metrics.rmse ASC", "limit": 2, "offset": 4}).json()
    assert [r["name"] for r in nxt["rows"]] == ["linear-0-0"] and nxt["rows"][0]["baseline"]
    filtered = c.get("/api/experiments/forecast/runs",
                     params={"where": "params.model = 'xgb' AND metrics.rmse < 100",
                             "columns": "name,metrics.rmse"}).json()
    assert [r["name"] for r in filtered["rows"]] == ["xgb-4-3"]
    assert filtered["columns"] == ["name", "metrics.rmse"]


def test_filter_error_is_a_400_with_the_parser_message(demo: tuple[Path, dict[str, str]]
                                                       ) -> None:
    path, _ids = demo
    response = client(path).get("/api/experiments/forecast/runs",
                                params={"where": "metrics.rmse <"})
    assert response.status_code == 400
    body = response.json()
    assert body["kind"] == "filter" and "position" in body["error"]


def test_unknown_experiment_and_run_are_404(demo: tuple[Path, dict[str, str]]) -> None:
    path, _ids = demo
    c = client(path)
    assert c.get("/api/experiments/nope/runs").status_code == 404
    response = c.get("/api/runs/ffffffffffff")
    assert response.status_code == 404 and "gittrack log" in response.json()["error"]


def test_bad_paging_is_a_400(demo: tuple[Path, dict[str, str]]) -> None:
    path, _ids = demo
    c = client(path)
    assert c.get("/api/experiments/forecast/runs", params={"limit": 10_000}).status_code == 400
    assert c.get("/api/experiments/forecast/runs", params={"offset": "x"}).status_code == 400


def test_run_detail_and_metrics(demo: tuple[Path, dict[str, str]]) -> None:
    path, ids = demo
    c = client(path)
    run = c.get(f"/api/runs/{ids['rf-12-2']}").json()
    assert run["name"] == "rf-12-2" and run["params"]["max_depth"] == 12
    assert run["metrics"]["rmse"]["value"] == 90.2 and run["live"] is False
    assert {"train_loss", "val_loss", "rmse"} <= set(run["metric_keys"])
    series = c.get(f"/api/runs/{ids['rf-12-2']}/metrics", params={"keys": "val_loss"}).json()
    assert list(series["series"]) == ["val_loss"] and len(series["series"]["val_loss"]) == 25
    assert series["series"]["val_loss"][0][0] == 0
    many = c.get("/api/metrics", params={"runs": f"{ids['rf-6-1']},{ids['xgb-4-3']}",
                                         "keys": "train_loss"}).json()
    assert [len(r["series"]["train_loss"]) for r in many["runs"]] == [25, 25]


def test_artifacts_list_and_previews(demo: tuple[Path, dict[str, str]]) -> None:
    path, ids = demo
    c = client(path)
    run_id = ids["linear-0-0"]
    listed = {a["path"]: a for a in c.get(f"/api/runs/{run_id}/artifacts").json()["artifacts"]}
    assert set(listed) == {"notes/fit.txt", "tables/predictions.csv", "plots/loss.png"}
    text = c.get(f"/api/runs/{run_id}/preview", params={"path": "notes/fit.txt"}).json()
    assert text["type"] == "text" and text["text"].startswith("fitted")
    table = c.get(f"/api/runs/{run_id}/preview",
                  params={"path": "tables/predictions.csv"}).json()
    assert table["type"] == "csv" and table["header"] == ["month", "hours"]
    assert table["rows"][0] == ["2024-01", "120.5"]
    image = c.get(f"/api/runs/{run_id}/raw", params={"path": "plots/loss.png"})
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    assert image.headers["content-type"] == "image/png"
    assert "sandbox" in image.headers["content-security-policy"]
    assert c.get(f"/api/runs/{run_id}/raw",
                 params={"path": "notes/fit.txt"}).status_code == 400


def test_model_preview_shows_model_yaml_only(demo: tuple[Path, dict[str, str]]) -> None:
    path, ids = demo
    c = client(path)
    model = c.get(f"/api/runs/{ids['rf-6-1']}/artifacts").json()["artifacts"][0]
    assert model["kind"] == "model" and any(f["path"] == "model.yaml" for f in model["files"])
    got = c.get(f"/api/runs/{ids['rf-6-1']}/preview",
                params={"path": "model", "file": "model.yaml"}).json()
    assert got["type"] == "model" and "flavor" in got["text"]
    pickled = [f["path"] for f in model["files"] if f["path"] != "model.yaml"
               and not f["path"].endswith((".txt", ".yaml", ".json"))]
    for name in pickled:  # shown as bytes at most, never loaded
        assert c.get(f"/api/runs/{ids['rf-6-1']}/preview",
                     params={"path": "model", "file": name}).json()["type"] == "binary"


@pytest.mark.parametrize("params", [
    {"path": "../../../etc/passwd"},
    {"path": "/etc/passwd"},
    {"path": "model", "file": "../../config"},
    {"path": "model", "file": "/etc/passwd"},
    {"path": "notes/../notes/fit.txt"},
])
def test_artifact_previews_refuse_paths_outside_the_record(
        demo: tuple[Path, dict[str, str]], params: dict[str, str]) -> None:
    path, ids = demo
    c = client(path)
    for endpoint in ("preview", "raw"):
        run_id = ids["rf-6-1"] if params["path"] == "model" else ids["linear-0-0"]
        response = c.get(f"/api/runs/{run_id}/{endpoint}", params=params)
        assert response.status_code in (400, 404), response.text
        assert "root:" not in response.text


def test_unknown_artifact_is_404(demo: tuple[Path, dict[str, str]]) -> None:
    path, ids = demo
    response = client(path).get(f"/api/runs/{ids['linear-0-0']}/preview",
                                params={"path": "nothing.txt"})
    assert response.status_code == 404


def test_code_diff_against_the_baseline_commit(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import gittrack
    from gittrack import api
    path = make_repo(tmp_path / "repo")
    monkeypatch.chdir(path)
    (path / "train.py").write_text("print('training harder')\n")
    api.set_tracking_repo(path)
    with gittrack.start_run(run_name="edited") as run:
        run.log_metric("x", 1.0)
    got = client(path).get(f"/api/runs/{run.id}/code").json()
    assert got["files"] == [{"path": "train.py", "change": "changed"}]
    assert "+print('training harder')" in got["patch"] and ".gittrack" not in got["patch"]
    assert got["baseline"] == git(path, "rev-parse", "HEAD").strip()


def test_compare_three_runs(demo: tuple[Path, dict[str, str]]) -> None:
    path, ids = demo
    runs = ",".join(ids[n] for n in ("rf-6-1", "rf-12-2", "xgb-4-3"))
    doc = client(path).get("/api/compare", params={"runs": runs}).json()
    assert [r["name"] for r in doc["runs"]] == ["rf-6-1", "rf-12-2", "xgb-4-3"]
    params = {e["key"]: e for e in doc["params"]}
    assert params["model"]["values"] == ["rf", "rf", "xgb"] and params["model"]["change"] == \
        "changed"
    assert params["learning_rate"]["change"] == "changed"
    assert len(doc["summaries"]) == 3
    assert client(path).get("/api/compare", params={"runs": ids["rf-6-1"]}).status_code == 400


def test_models_promote_and_rollback_agree_with_the_cli(
        tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "repo"
    make_demo_repo(path)
    monkeypatch.chdir(path)
    c = client(path)
    models = c.get("/api/models").json()
    forecaster = models["models"][0]
    assert forecaster["name"] == "forecaster" and forecaster["stages"] == {"prod": 1,
                                                                           "staging": 2}
    assert [v["version"] for v in forecaster["versions"]] == [2, 1]
    assert forecaster["history"][0]["action"] == "promote"
    response = c.post("/api/models/forecaster/promote", json={"version": 2, "stage": "prod"})
    assert response.status_code == 200 and response.json()["tag"] == "forecaster/prod/v2"
    resolved = cli("models", "resolve", "forecaster/prod", "--json")
    assert json.loads(resolved.out)["version"] == 2
    response = c.post("/api/models/forecaster/rollback", json={"stage": "prod"})
    assert response.status_code == 200
    assert json.loads(cli("models", "resolve", "forecaster/prod", "--json").out)["version"] == 1
    bad = c.post("/api/models/forecaster/promote", json={"version": 9, "stage": "prod"})
    assert bad.status_code == 409 and "v9" in bad.json()["error"]


def test_read_only_refuses_writes_with_403(demo: tuple[Path, dict[str, str]]) -> None:
    path, _ids = demo
    c = client(path, read_only=True)
    assert c.get("/api/info").json()["read_only"] is True
    for action, body in (("promote", {"version": 2, "stage": "prod"}),
                         ("rollback", {"stage": "prod"})):
        response = c.post(f"/api/models/forecaster/{action}", json=body)
        assert response.status_code == 403 and response.json()["kind"] == "read_only"
    assert c.get("/api/models").json()["models"][0]["stages"]["prod"] == 1


def test_writes_need_json_and_same_origin(tmp_path: Path) -> None:
    path = tmp_path / "repo"
    make_demo_repo(path)
    c = client(path)
    form = c.post("/api/models/forecaster/promote", data={"version": "2", "stage": "prod"})
    assert form.status_code == 400
    cross = c.post("/api/models/forecaster/promote", json={"version": 2, "stage": "prod"},
                   headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403
    assert c.get("/api/models").json()["models"][0]["stages"]["prod"] == 1


def test_host_check_against_dns_rebinding(demo: tuple[Path, dict[str, str]]) -> None:
    from gittrack.ui.app import create_app

    path, _ids = demo
    c = TestClient(create_app(path, allowed_hosts=["127.0.0.1", "localhost"]),
                   base_url="http://127.0.0.1:5000")
    assert c.get("/api/info").status_code == 200
    assert c.get("/api/info", headers={"Host": "evil.example"}).status_code == 403


def test_payloads_come_back_as_data_and_pages_carry_a_strict_csp(
        demo: tuple[Path, dict[str, str]]) -> None:
    path, ids = demo
    c = client(path)
    run = c.get(f"/api/runs/{ids['xss']}").json()
    assert run["name"] == XSS_NAME and run["params"]["payload"] == XSS_PARAM
    page = c.get("/")
    assert page.status_code == 200 and "<script src=\"/static/app.js\"" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "unsafe-inline" not in page.headers["content-security-policy"].split("style-src")[0]
    assert c.get("/static/app.js").status_code == 200


@pytest.mark.parametrize("report", ["[1, 2]", "3", '"text"', "{not json"])
def test_a_drift_report_that_is_not_an_object_is_refused_with_a_sentence(
        tmp_path: Path, report: str) -> None:
    import gittrack
    from gittrack import api
    path = make_repo(tmp_path / "repo")
    api.set_tracking_repo(path)
    with gittrack.start_run(run_name="odd") as run:
        run.log_text(report, "drift.json")  # a run anyone could have pushed
    answer = client(path).get(f"/api/runs/{run.id}/drift")
    assert answer.status_code == 400 and "drift report" in answer.json()["error"]


def test_non_finite_values_are_valid_json(tmp_path: Path) -> None:
    import gittrack
    from gittrack import api
    path = make_repo(tmp_path / "repo")
    api.set_tracking_repo(path)
    with gittrack.start_run(run_name="nan") as run:
        run.log_param("gamma", float("nan"))
        run.log_metric("loss", float("inf"))
    page = client(path).get("/api/experiments/default/runs").json()
    assert page["rows"][0]["values"]["metrics.loss"] == "inf"
    assert math.isnan(float(page["rows"][0]["values"]["params.gamma"]))


def test_openapi_lists_every_endpoint(demo: tuple[Path, dict[str, str]]) -> None:
    path, _ids = demo
    doc = client(path).get("/api/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert {"/api/experiments/{experiment}/runs", "/api/runs/{run}/preview",
            "/api/models/{model}/promote"} <= set(doc["paths"])
    assert "post" in doc["paths"]["/api/models/{model}/rollback"]


def test_live_run_points_come_from_the_journal(tmp_path: Path) -> None:
    path = make_repo(tmp_path / "repo")
    script = (
        "import gittrack, sys\n"
        "run = gittrack.start_run(run_name='live')\n"
        "for s in range(3):\n"
        "    run.log_metric('loss', 1.0 / (s + 1), step=s)\n"
        "run.flush()\n"
        "print(run.id, flush=True)\n"
        "sys.stdin.readline()\n"
        "run.end()\n"
    )
    env = {**os.environ, "GITTRACK_COMMIT_SECONDS": "3600"}
    with subprocess.Popen([sys.executable, "-c", script], cwd=path, text=True, env=env,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE) as proc:
        try:
            assert proc.stdout is not None and proc.stdin is not None
            run_id = proc.stdout.readline().strip()
            c = client(path)
            run = c.get(f"/api/runs/{run_id}").json()
            assert run["status"] == "running" and run["live"] is True
            series = c.get(f"/api/runs/{run_id}/metrics").json()["series"]
            assert [p[0] for p in series["loss"]] == [0, 1, 2]
            rows = c.get("/api/experiments/default/runs").json()["rows"]
            assert rows[0]["status"] == "running"
            proc.stdin.write("\n")
            proc.stdin.flush()
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    assert client(path).get(f"/api/runs/{run_id}").json()["status"] == "finished"


def test_gittrack_ui_serves_the_default_repository_from_the_cli(demo: tuple[Path, dict[str, str]]) -> None:
    """`gittrack ui` run by a user: the repository around the current directory, a real
    uvicorn on 127.0.0.1, the page and the API answering, Ctrl-C (SIGINT) stopping it."""
    import signal
    import socket
    import threading
    import urllib.error
    import urllib.request

    path, _ids = demo
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "gittrack", "ui", "--port", str(port)],
                            cwd=path, stderr=subprocess.PIPE, text=True)

    def get(route: str) -> tuple[int, str]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{route}", timeout=10) as answer:
            return answer.status, answer.read().decode()

    try:
        assert proc.stderr is not None
        banner = proc.stderr.readline()
        assert f"serving {path / '.git'} at http://127.0.0.1:{port}/" in banner, banner
        for _ in range(400):  # the banner precedes the bind: wait until the port answers
            try:
                status, index = get("/")
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.stderr.read()
                threading.Event().wait(0.05)
        assert status == 200 and "/static/app.js" in index
        _status, body = get("/api/experiments")
        assert json.loads(body) == client(path).get("/api/experiments").json()
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
        proc.stderr.close()  # type: ignore[union-attr]
    assert code in (0, 130)
