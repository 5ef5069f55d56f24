"""Writers coexist with git's own maintenance: 16 processes x 20 runs while `git pack-refs
--all` and `git gc` run in a loop. No run is lost, no writer sees an error, no background
commit thread dies, and `git fsck --strict` is clean (issue 12).

`git pack-refs` locks each loose ref while pruning it and removes the directories it
empties, so a concurrent ref write fails to lock the file or to make its directory; gittrack
retries those. Each run also commits three times while it logs, so the background thread and
explicit commits meet the maintenance loop too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import git

import gittrack
from gittrack import api
from gittrack.core.errors import GitError
from gittrack.tracking import active

WRITERS, RUNS, POINTS = 16, 20, 30

WRITER = """
import json, logging, sys, threading
import gittrack
warned, errors, dead, thread_errors, made = [], [], 0, [], []
class Collect(logging.Handler):
    def emit(self, record):
        warned.append(record.getMessage())
logging.getLogger("gittrack").addHandler(Collect())
threading.excepthook = lambda args: thread_errors.append(repr(args.exc_value))
for i in range(RUNS):
    try:
        with gittrack.start_run(experiment=f"writer-{sys.argv[1]}") as run:
            run.log_param("i", i)
            for step in range(POINTS):
                run.log_metric("loss", 1.0 / (step + 1), step=step)
                if step % 10 == 9:
                    run.flush()
                    run.commit()
            dead += not run._thread.is_alive()
            made.append(run.id)
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
print(json.dumps({"errors": errors, "warned": warned, "dead": dead,
                  "thread_errors": thread_errors, "made": made}))
""".replace("RUNS", str(RUNS)).replace("POINTS", str(POINTS))


def maintain(repo: Path, stop: threading.Event, rounds: list[str]) -> None:
    """`git pack-refs --all` and `git gc` in a loop until the writers are done."""
    while not stop.is_set():
        for args in (("pack-refs", "--all"), ("gc", "--quiet")):
            proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
            rounds.append(f"{args[0]}:{proc.returncode}")


def test_writers_and_git_maintenance_lose_nothing(repo: Path) -> None:
    env = {"GITTRACK_COMMIT_SECONDS": "0.02", "GITTRACK_FLUSH_SECONDS": "0.01",
           "GITTRACK_REPO": str(repo)}
    stop, rounds = threading.Event(), []
    loop = threading.Thread(target=maintain, args=(repo, stop, rounds))
    loop.start()
    try:
        procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(w)], cwd=repo,
                                  env={**os.environ, **env}, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for w in range(WRITERS)]
        outputs = [p.communicate(timeout=600) for p in procs]
    finally:
        stop.set()
        loop.join()
    reports = []
    for (out, err), proc in zip(outputs, procs):
        assert proc.returncode == 0, err
        reports.append(json.loads(out.splitlines()[-1]))
    made = [run_id for r in reports for run_id in r["made"]]
    assert [e for r in reports for e in r["errors"]] == []
    assert [e for r in reports for e in r["thread_errors"]] == []
    assert sum(r["dead"] for r in reports) == 0
    assert [w for r in reports for w in r["warned"] if "untracked" not in w] == []
    assert len(made) == WRITERS * RUNS
    assert any(r.startswith("pack-refs") for r in rounds) and any(r.startswith("gc") for r in rounds)

    listed = git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack/runs/").split()
    assert sorted(ref.rpartition("/")[2] for ref in listed) == sorted(made)  # 0 lost runs
    fsck = subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=repo,
                          capture_output=True, text=True)
    assert fsck.returncode == 0 and "error" not in fsck.stderr, fsck.stderr
    gittrack.set_tracking_repo(repo)
    runs = gittrack.search_runs([f"writer-{w}" for w in range(WRITERS)], output_format="list")
    assert len(runs) == len(made) and {r.info.status for r in runs} == {"FINISHED"}
    assert {r.data.metrics["loss"] for r in runs} == {1.0 / POINTS}  # every point, to the last


def test_a_failing_background_commit_retries_warns_and_keeps_journaling(
        repo: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(active, "COMMIT_SECONDS", 0.0)  # a timed commit at every tick
    run = gittrack.start_run()
    recovered = threading.Event()
    calls = []
    set_ref = run._writer.repo.set_ref

    def held_by_gc(name: str, oid: str) -> None:
        calls.append(oid)
        if len(calls) <= active.WARN_AFTER_FAILURES:
            raise GitError(f"Cannot update ref {name}: failed to lock file (git gc).")
        set_ref(name, oid)
        recovered.set()

    monkeypatch.setattr(run._writer.repo, "set_ref", held_by_gc)
    run.log_metric("m", 1.0, step=0)
    assert recovered.wait(60)  # failed three ticks in a row, then committed on the fourth
    assert run._thread.is_alive()
    run.log_metric("m", 2.0, step=1)
    run.flush()
    journal = repo / ".git" / "gittrack" / "journal" / f"{run.id}.jsonl"
    assert journal.read_bytes().count(b"m\tm\t") == 2  # the journal kept going throughout
    run.end()
    assert [s for s, _t, _v in api.open_store().metric_history(
        gittrack.get_run(run.id).commit, "m")] == [0, 1]
    warned = [r.getMessage() for r in caplog.records if "failed 3 times" in r.getMessage()]
    assert len(warned) == 1 and run.id in warned[0]
