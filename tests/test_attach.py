"""Side journals: a child process joins the live run of its parent (gittrack.tracking.attach)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import gittrack
from gittrack import api
from gittrack.core.errors import RunStateError
from gittrack.tracking import attach
from gittrack.tracking.recovery import recover_dead_runs
from tests.conftest import git, run_python


def child(repo: Path, run_id: str, code: str) -> subprocess.CompletedProcess[str]:
    proc = run_python("import gittrack\n" + code, repo, env={"GITTRACK_RUN_ID": run_id})
    assert proc.returncode == 0, proc.stderr
    return proc


def journal_dir(repo: Path) -> Path:
    return repo / ".git" / "gittrack" / "journal"


def test_side_journal_lines_and_merge(repo: Path) -> None:
    run = gittrack.start_run(run_name="owner")
    run.log_param("lr", 0.1)
    proc = child(repo, run.id,
                 "r = gittrack.active_run()\n"
                 "print(type(r).__name__, r.id)\n"
                 "gittrack.log_metric('loss', 0.5, step=1, timestamp=1000)\n"
                 "gittrack.log_params({'lr': 0.1, 'depth': 3})\n"
                 "gittrack.set_tag('stage', 'child')\n"
                 "gittrack.end_run()\n"
                 "gittrack.log_metric('loss', 0.25, step=2, timestamp=2000)\n")
    assert proc.stdout.split() == ["AttachedRun", run.id]
    sides = attach.side_paths(journal_dir(repo), run.id)
    assert len(sides) == 1 and sides[0].name.startswith(f"{run.id}.side.")
    lines = sides[0].read_text().splitlines()
    assert lines[0] == "m\tloss\t1\t1000\t0.5"
    assert lines[1] == '["p",{"lr":0.1,"depth":3}]'
    assert lines[2] == '["t","stage","child"]'
    assert lines[3] == "m\tloss\t2\t2000\t0.25"
    run.merge_side_journals()
    commit = run.commit()  # a timed commit while live holds the child's values
    assert git(repo, "show", f"{commit}:.gittrack/run/metrics/loss.tsv").count("\n") == 3
    gittrack.end_run()
    record = gittrack.get_run(run.id)
    assert record.params == {"lr": 0.1, "depth": 3} and record.tags["stage"] == "child"
    assert record.metrics["loss"].value == 0.25
    assert len(gittrack.search_runs()) == 1
    assert attach.side_paths(journal_dir(repo), run.id) == []


def test_conflicting_param_is_dropped_with_a_warning(repo: Path) -> None:
    with gittrack.start_run() as run:
        run.log_param("alpha", 1)
        child(repo, run.id, "gittrack.log_param('alpha', 2)\ngittrack.log_param('beta', 3)\n")
    record = gittrack.get_run(run.id)
    assert record.params == {"alpha": 1, "beta": 3}
    assert "Param 'alpha'" in record.tags[attach.WARNINGS_TAG]


def test_merge_reads_whole_lines_only(tmp_path: Path) -> None:
    path = tmp_path / "0123456789abcdef.side.1.jsonl"
    path.write_bytes(b"m\tloss\t0\t5\t1.5\nm\tloss\t1\t6\t2")
    events, offset = attach.read_new(path, 0)
    assert events == [["m", "loss", 1.5, 0, 5]] and offset == len("m\tloss\t0\t5\t1.5\n")
    with open(path, "ab") as fh:
        fh.write(b".5\n")
    events, offset = attach.read_new(path, offset)
    assert events == [["m", "loss", 2.5, 1, 6]] and offset == path.stat().st_size


def test_attaching_to_a_run_that_is_not_live_fails(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with gittrack.start_run() as run:
        pass
    monkeypatch.setenv("GITTRACK_RUN_ID", run.id)
    with pytest.raises(RunStateError, match="not live"):
        gittrack.log_metric("x", 1)
    monkeypatch.setenv("GITTRACK_RUN_ID", "not-an-id")
    with pytest.raises(gittrack.GittrackError, match="not a run id"):
        gittrack.start_run()


def test_nested_run_inside_an_attached_child(repo: Path) -> None:
    with gittrack.start_run(run_name="outer") as run:
        child(repo, run.id, "with gittrack.start_run(run_name='inner', nested=True) as r:\n"
                            "    r.log_metric('m', 1)\n")
    inner = gittrack.get_run("inner")
    assert inner.info["parent"] == run.id and gittrack.get_run("outer").metrics == {}


def test_recovery_replays_side_journals_of_a_dead_run(repo: Path) -> None:
    code = (
        "import os, subprocess, sys, gittrack\n"
        "run = gittrack.start_run(run_name='doomed')\n"
        "gittrack.log_param('a', 1)\n"
        "run.flush()\n"
        "env = {**os.environ, 'GITTRACK_RUN_ID': run.id}\n"
        "subprocess.run([sys.executable, '-c', \"import gittrack; gittrack.log_metric('m', 7, step=3)\"],"
        " env=env, check=True)\n"
        "print(run.id, flush=True)\n"
        "os._exit(9)\n"
    )
    proc = run_python(code, repo)
    assert proc.returncode == 9, proc.stderr
    run_id = proc.stdout.strip()
    assert len(attach.side_paths(journal_dir(repo), run_id)) == 1
    api.set_tracking_repo(repo)
    assert recover_dead_runs(api._store()) == [run_id]
    record = gittrack.get_run(run_id)
    assert record.status == "crashed" and record.params == {"a": 1}
    assert record.metrics["m"].value == 7 and record.metrics["m"].step == 3
    assert list(journal_dir(repo).glob("*.jsonl")) == []


def test_orphan_side_journal_is_removed(repo: Path) -> None:
    directory = journal_dir(repo)
    directory.mkdir(parents=True, exist_ok=True)
    orphan = attach.side_path(directory, "0123456789abcdef", os.getpid())
    orphan.write_text("m\tx\t0\t1\t1.0\n")
    api.set_tracking_repo(repo)
    assert recover_dead_runs(api._store()) == []
    assert not orphan.exists()


def test_forked_child_does_not_share_the_side_journal(repo: Path) -> None:
    code = (
        "import os, gittrack\n"
        "gittrack.log_metric('m', 1, step=0)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    gittrack.log_metric('m', 2, step=1)\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
    )
    with gittrack.start_run() as run:
        child(repo, run.id, code)
        assert len(attach.side_paths(journal_dir(repo), run.id)) == 2
    assert sorted(gittrack.metric_history(run.id, "m")["value"].tolist()) == [1.0, 2.0]
