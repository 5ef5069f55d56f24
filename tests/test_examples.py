"""The examples run end to end: the forecasting story in a fresh repository, the notebook."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import gittrack
from tests.conftest import git, make_repo

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def gittrack_json(repo: Path, *args: str) -> object:
    proc = subprocess.run([sys.executable, "-m", "gittrack", *args], cwd=repo, capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout)


@pytest.mark.slow
def test_forecasting_story_end_to_end(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "plant")
    proc = subprocess.run([sys.executable, str(EXAMPLES / "forecasting" / "story.py")], cwd=repo,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    gittrack.set_tracking_repo(repo)
    runs = gittrack.query_runs(["cost_center_forecasting"])
    assert len(runs) >= 9 and set(runs["params.model"]) == {"linear", "forest", "xgboost"}
    assert set(runs["status"]) == {"finished"}
    baseline = gittrack.get_baseline("cost_center_forecasting")
    assert baseline is not None and baseline.params["model"] == "linear"
    every = gittrack.get_run(runs["run_id"].iloc[0])
    assert {"feature_importance.png", "predictions.csv", "model"} <= set(every.artifacts)
    # the registry: prod was promoted to v1, then v2, then rolled back to v1
    history = gittrack_json(repo, "models", "history", "forecaster", "--json")
    actions = [(e["action"], e["version"], e.get("stage")) for e in history]  # type: ignore[union-attr]
    assert ("promote", 1, "prod") in actions and ("promote", 2, "prod") in actions
    assert actions[-1] == ("demote", 2, "prod")
    resolved = gittrack_json(repo, "models", "resolve", "forecaster/prod", "--json")
    assert resolved["version"] == 1  # type: ignore[index]
    assert gittrack.resolve_model_uri("models:/forecaster/prod").version.version == 1
    # the diff of the first and the last month shows the data version change
    first, last = (runs.sort_values("start_time")["run_id"].iloc[i] for i in (0, -1))
    diff = gittrack_json(repo, "diff", first, last, "--json")
    text = json.dumps(diff["inputs"])  # type: ignore[index]
    assert "production_hours_2025-01.csv" in text and "production_hours_2025-05.csv" in text
    assert "rollback" in proc.stdout and "prod is v1 again." in proc.stdout
    # the rollback is earned: on June, v2 (trained on the changeover) does worse than v1
    june = dict(line.split(" on 2025-06: rmse=") for line in proc.stdout.splitlines()
                if " on 2025-06: rmse=" in line)
    assert float(june["v1"]) < float(june["v2"])
    # twelve monthly monitoring runs: the changeover drifts and alerts, June names the rollback
    monitoring = gittrack.query_runs(["forecaster/monitoring"])
    assert len(monitoring) == 12
    by_month = {r["params.batch"]: r for _i, r in monitoring.iterrows()}
    april, june_run = by_month["2025-04"], by_month["2025-06"]
    assert april["metrics.drift/orders"] >= 0.1 and april["metrics.drift/product_line"] >= 0.1
    assert april["metrics.rmse"] > 3 * by_month["2025-03"]["metrics.rmse"]
    assert june_run["params.version"] == 2 and june_run["tags.rollback_to"] == "v1"
    assert by_month["2025-12"]["params.version"] == 1
    assert "gittrack: roll back to v1: gittrack rollback forecaster prod" in proc.stdout
    assert "new: line-B" in proc.stdout and (repo / "monitoring.png").exists()
    git(repo, "fsck", "--no-progress")
    assert git(repo, "status", "--porcelain") == ""


@pytest.mark.slow
def test_notebook_executes(tmp_path: Path) -> None:
    import nbclient
    import nbformat
    repo = make_repo(tmp_path / "nb")
    notebook = nbformat.read(EXAMPLES / "notebook.ipynb", as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(repo)}})
    client.execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    outputs = "".join(o.get("text", "") for cell in code for o in cell.get("outputs", []))
    cards = "".join(o.get("data", {}).get("text/html", "") for cell in code
                    for o in cell.get("outputs", []))
    assert "loaded model predicts" in outputs
    # the cards: the last run read back, the registered version and the model
    assert "forest-large" in cards and "rmse" in cards and "hours-forecaster v1" in cards
    assert "staging: v1" in cards and "<script" not in cards.lower()
    # the run recorded the cells it ran, shown by the last cell
    assert "# %% execution_count=" in outputs and "gittrack.start_run(run_name=name)" in outputs
    gittrack.set_tracking_repo(repo)
    assert len(gittrack.query_runs(["notebook"])) == 3
