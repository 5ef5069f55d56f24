"""`gittrack doctor`: checks, repairs, --check, --json (issue 12)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from conftest import git, lose_object, make_repo

import gittrack
from gittrack import api
from gittrack.query import index
from gittrack.sharing import doctor
from gittrack.tracking import stack


def test_a_healthy_repository(repo: Path, cli: Any) -> None:
    with gittrack.start_run():
        gittrack.log_metric("m", 1.0)
    result = cli("doctor")
    assert result.code == 0 and "nothing wrong" in result.out
    report = json.loads(cli("doctor", "--json").out)
    assert report["healthy"] and report["findings"] == [] and report["checked"]["refs"] == 1


def test_check_reports_and_changes_nothing_then_repair_fixes(repo: Path, cli: Any) -> None:
    for i in range(3):
        with gittrack.start_run() as run:
            run.log_metric("m", float(i))
    assert cli("log").code == 0
    git_dir = repo / ".git"
    (seg,) = (git_dir / "gittrack" / "index" / f"v{index.INDEX_FORMAT}").glob("*.seg")
    seg.write_bytes(seg.read_bytes()[:-5] + b"xxxxx")  # the last row no longer matches its CRC
    stale = git_dir / "refs" / "gittrack" / "runs" / "old.lock"
    stale.write_text("")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    fresh = git_dir / "refs" / "gittrack" / "fresh.lock"
    fresh.write_text("")  # may belong to a git running now: left alone
    (git_dir / "gittrack" / "journal").mkdir(exist_ok=True)
    tmp = git_dir / "gittrack" / "journal" / ".0123456789abcdef.999.tmp"
    tmp.write_text("")
    dead = gittrack.start_run(run_name="dead")
    dead._stop.set()
    dead._thread.join()
    dead._ended = True
    stack.discard(dead)
    dead._journal._file.close()  # its process "died"

    before = seg.read_bytes()
    checked = cli("doctor", "--check", "--json")
    assert checked.code == 1
    report = json.loads(checked.out)
    problems = {f["check"]: f for f in report["findings"]}
    assert set(problems) == {"index", "locks", "journals"}
    assert not any(f["repaired"] for f in report["findings"])
    assert seg.read_bytes() == before and stale.exists() and tmp.exists()
    assert (git_dir / "gittrack" / "journal" / f"{dead.id}.jsonl").exists()

    repaired = cli("doctor")
    assert repaired.code == 0, repaired.out
    assert "fixed" in repaired.out and "problem" not in repaired.out
    assert not stale.exists() and fresh.exists() and not tmp.exists()
    assert gittrack.get_run(dead.id).status == "crashed"
    assert cli("doctor").code == 0 and "nothing wrong" in cli("doctor").out


def test_missing_objects_are_fetched_again_from_the_remote(tmp_path: Path, remote: Path,
                                                           cli: Any) -> None:
    path = make_repo(tmp_path / "a")
    git(path, "remote", "add", "origin", str(remote))
    gittrack.set_tracking_repo(path)
    with gittrack.start_run() as run:
        run.log_params({"lr": 0.1})
    assert gittrack.push().refs == 1
    commit = gittrack.get_run(run.id).commit
    blob = next(oid for p, oid, _t in api.open_store().repo.list_tree(commit, ".gittrack/run")
                if p == "params.yaml")
    lose_object(path / ".git", blob)
    assert list(doctor.missing_objects(api.open_store())) == [f"refs/gittrack/runs/default/{run.id}"]
    result = cli("--repo", str(path), "doctor", "--json")
    assert result.code == 0, result.out
    (finding,) = json.loads(result.out)["findings"]
    assert finding["repaired"] and "fetched again" in finding["problem"]
    assert gittrack.get_run(run.id).params == {"lr": 0.1}


def test_missing_objects_with_no_remote_stay_reported(tmp_path: Path, cli: Any) -> None:
    path = make_repo(tmp_path / "a")
    gittrack.set_tracking_repo(path)
    with gittrack.start_run() as run:
        run.log_metric("m", 1.0)
    commit = gittrack.get_run(run.id).commit
    lose_object(path / ".git", commit)
    result = cli("--repo", str(path), "doctor")
    assert result.code == 1
    assert run.id in result.out and "gittrack pull" in result.out
    refused = cli("--repo", str(path), "doctor", "--remote=--upload-pack=x")
    assert refused.code == 1 and "is not a remote name" in refused.err
