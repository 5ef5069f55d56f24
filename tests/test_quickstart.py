"""The README's first command: the quickstart leaves a repository whose runs `gittrack log` shows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import git, make_repo

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_records_three_runs_in_its_own_repository(tmp_path: Path) -> None:
    clone = make_repo(tmp_path / "clone")  # the README runs it inside a clone of gittrack
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")],
                          cwd=clone, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    demo = clone / "gittrack-quickstart"
    assert (demo / ".git").is_dir()
    assert git(clone, "for-each-ref", "refs/gittrack/") == ""  # nothing in the enclosing repo
    assert git(clone, "status", "--porcelain") == "?? gittrack-quickstart/\n"
    assert "cd gittrack-quickstart && gittrack log" in proc.stdout
    assert proc.stdout.count("cost_center_forecasting") >= 3
    listing = subprocess.run([sys.executable, "-m", "gittrack", "log", "--format", "json"],
                             cwd=demo, capture_output=True, text=True, check=True)
    rows = json.loads(listing.stdout)
    assert sorted(r["name"] for r in rows) == ["forest-large", "forest-small", "linear-baseline"]
    assert all(r["status"] == "finished" and r["metrics"]["rmse"] > 0 for r in rows)
    head = git(demo, "rev-parse", "HEAD").strip()
    assert {r["baseline"] for r in rows} == {head}  # every run has the committed code
    assert git(demo, "status", "--porcelain") == ""
