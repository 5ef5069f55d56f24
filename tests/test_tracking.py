"""Live runs: statuses, params, metrics, tags, nesting, resume, threads, crashes, processes."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

import gittrack
from gittrack.core.errors import InvalidInputError, RunStateError
from tests.conftest import git, make_repo, run_python


def test_context_manager_statuses(repo: Path) -> None:
    with gittrack.start_run() as ok:
        pass
    with pytest.raises(ZeroDivisionError):
        with gittrack.start_run() as bad:
            1 / 0  # noqa: B018
    with pytest.raises(KeyboardInterrupt):
        with gittrack.start_run() as stopped:
            raise KeyboardInterrupt
    statuses = {r.id: gittrack.get_run(r.id).status for r in (ok, bad, stopped)}
    assert statuses == {ok.id: "finished", bad.id: "failed", stopped.id: "killed"}
    assert gittrack.active_run() is None


def test_end_run_status_and_module_level_api(repo: Path) -> None:
    gittrack.set_experiment("api")
    run = gittrack.start_run(run_name="r", tags={"team": "a"}, description="first try")
    assert gittrack.active_run() is run
    gittrack.log_param("alpha", 0.5)
    gittrack.log_params({"layers": [64, 32], "opt": {"name": "adam", "lr": 1e-3}})
    gittrack.log_metric("loss", 0.9, step=1)
    gittrack.log_metrics({"loss": 0.5, "acc": 0.8}, step=2)
    gittrack.set_tags({"stage": "dev"})
    gittrack.end_run(status="failed")
    rec = gittrack.get_run("api/r")
    assert rec.status == "failed"
    assert rec.params == {"alpha": 0.5, "layers": [64, 32], "opt": {"lr": 0.001, "name": "adam"}}
    assert rec.metrics["loss"].value == 0.5 and rec.metrics["loss"].step == 2
    assert rec.tags == {"team": "a", "stage": "dev"}
    assert rec.info["description"] == "first try"
    assert gittrack.active_run() is None


def test_mlflow_style_info_and_data(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    with gittrack.start_run(run_name="forest", experiment="plant") as run:
        assert (run.info.run_id, run.info.run_name, run.info.status) == (run.id, "forest", "RUNNING")
        run.log_params({"model": {"depth": 3}, "lr": 0.1})
        run.log_metric("rmse", 2.0, step=1)
        run.log_metric("rmse", 1.5, step=2)
        run.set_tag("team", "ml")
    got = gittrack.get_run(run.id)
    assert (got.info.run_id, got.info.run_name, got.info.experiment_id) == (run.id, "forest", "plant")
    assert got.info.status == "FINISHED" and got.info["status"] == "finished"
    assert got.info.user_id == got.info["user"]
    assert 0 < got.info.start_time <= got.info.end_time <= time.time() * 1000
    # run.data is MLflow's view: params as strings, MLflow's system tags with the run's own;
    # run.params keeps the typed values
    assert got.data.params == {"model.depth": "3", "lr": "0.1"}
    assert got.params == {"model": {"depth": 3}, "lr": 0.1}
    assert got.data.metrics == {"rmse": 1.5} and got.data.tags["team"] == "ml"
    assert got.data.tags["mlflow.runName"] == "forest"
    shown = cli("show", run.id)  # the record still prints as plain YAML
    assert shown.code == 0 and "id: " + run.id in shown.out
    assert yaml.safe_load(yaml.safe_dump(got.info)) == dict(got.info)
    assert yaml.safe_load(yaml.dump(run.info)) == dict(run.info)  # no python/object tag


def test_logging_with_no_active_run_starts_one(repo: Path) -> None:
    gittrack.log_metric("m", 1.0)
    run = gittrack.active_run()
    assert run is not None
    gittrack.end_run()
    assert gittrack.get_run(run.id).metrics["m"].value == 1.0


def test_metric_history_and_latest(repo: Path) -> None:
    with gittrack.start_run() as run:
        for step in range(5):
            run.log_metric("train/loss", 1.0 / (step + 1), step=step)
        run.log_metric("train/loss", 7.0, step=2)  # an older step does not become latest
    from gittrack.api import open_store

    store = open_store()
    rec = gittrack.get_run(run.id)
    assert rec.metrics["train/loss"].value == 0.2
    history = store.metric_history(rec.commit, "train/loss")
    assert [(s, v) for s, _t, v in history] == [
        (0, 1.0), (1, 0.5), (2, 1 / 3), (3, 0.25), (4, 0.2), (2, 7.0)]
    tsv = git(repo, "show", f"{run.ref}:.gittrack/run/metrics/train/loss.tsv")
    assert tsv.splitlines()[0] == "step\ttimestamp\tvalue"


def test_nan_and_inf_are_stored_faithfully(repo: Path) -> None:
    with gittrack.start_run() as run:
        run.log_metric("a", float("nan"))
        run.log_metric("b", float("inf"))
        run.log_metric("c", -math.inf)
        run.log_param("p", float("nan"))
        run.log_param("p", float("nan"))  # the same value again is fine
    rec = gittrack.get_run(run.id)
    assert math.isnan(rec.metrics["a"].value)
    assert rec.metrics["b"].value == math.inf and rec.metrics["c"].value == -math.inf
    raw = yaml.safe_load(git(repo, "show", f"{run.ref}:.gittrack/run/metrics.yaml"))
    assert math.isnan(raw["a"]["value"]) and raw["b"]["value"] == math.inf


def test_numpy_values_are_plain(repo: Path) -> None:
    import numpy as np
    with gittrack.start_run() as run:
        run.log_metric("m", np.float32(0.5), step=np.int64(3))
        run.log_params({"n": np.int64(7), "arr": np.array([1, 2])})
    rec = gittrack.get_run(run.id)
    assert rec.metrics["m"].value == 0.5 and rec.metrics["m"].step == 3
    assert rec.params == {"n": 7, "arr": [1, 2]}


def test_param_is_fixed_once_logged(repo: Path) -> None:
    with gittrack.start_run() as run:
        run.log_param("alpha", 0.5)
        run.log_param("alpha", 0.5)
        with pytest.raises(InvalidInputError, match=r"Param 'alpha' was already logged as 0.5 "
                                                    r"and cannot change to 0.7"):
            run.log_param("alpha", 0.7)
        with pytest.raises(InvalidInputError, match="already logged"):
            run.log_params({"beta": 1, "alpha": 0.9})
    # all or nothing: beta was not recorded by the refused batch
    assert gittrack.get_run(run.id).params == {"alpha": 0.5}


@pytest.mark.parametrize(("call", "message"), [
    (lambda r: r.log_metric("rmse", "abc"),
     r"Metric 'rmse' must be a number, got 'abc' \(str\); log text with set_tag"),
    (lambda r: r.log_metric("rmse", None), r"Metric 'rmse' must be a number, got None"),
    (lambda r: r.log_metric("rmse", 1.0, step=1.5), r"The step must be a whole number, got 1.5"),
    (lambda r: r.log_metric("a\tb", 1.0), r"The metric key 'a\\tb' has a character gittrack "
                                          r"cannot store; use letters, digits"),
    (lambda r: r.log_metric("x/../y", 1.0), r"has an empty, '.' or '..' part between slashes"),
    (lambda r: r.log_metric("/abs", 1.0), r"has an empty, '.' or '..' part"),
    (lambda r: r.log_metric("a~b^c", 1.0), r"has a character gittrack cannot store"),
    (lambda r: r.log_param("", 1), r"A param key must be a non-empty string"),
    (lambda r: r.log_param("k" * 300, 1), r"is 300 characters long; the limit is 250"),
    (lambda r: r.log_param("big", "x" * 7000),
     r"Param 'big' is longer than 6000 characters; log large values with log_dict"),
    (lambda r: r.set_tag("t", "x" * 9000), r"Tag 't' is longer than 8000 characters"),
    (lambda r: r.log_params(["a"]), r"log_params takes a mapping of names to values; got list"),
    (lambda r: r.log_params({"model.depth": 3, "model": {"depth": 4}}),
     r"Param 'model.depth' is given twice, once flat and once nested"),
])
def test_bad_input_gets_one_sentence_and_records_nothing(repo: Path, call, message) -> None:  # type: ignore[no-untyped-def]
    with gittrack.start_run() as run:
        with pytest.raises(InvalidInputError, match=message) as info:
            call(run)
    assert str(info.value).count(". ") == 0 or str(info.value).endswith(".")
    rec = gittrack.get_run(run.id)
    assert rec.params == {} and rec.metrics == {} and rec.tags == {}


@pytest.mark.parametrize(("name", "message"), [
    ("", "The experiment name must be a non-empty string"),
    ("a\nb", "contains a control character or newline; use one line of text"),
    (" padded", "starts or ends with white space"),
    ("x" * 251, "is 251 characters long; the limit is 250"),
])
def test_bad_experiment_names(repo: Path, name: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        gittrack.set_experiment(name)
    with pytest.raises(InvalidInputError, match=message):
        gittrack.start_run(experiment=name)
    assert git(repo, "for-each-ref", "refs/gittrack") == ""


def test_names_git_refuses_are_encoded(repo: Path) -> None:
    odd = "..weird name: ~^?*[x]\\ @{y}.lock"
    with gittrack.start_run(experiment=odd, run_name="run: ~^ with spaces") as run:
        run.log_metric("m", 1)
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack/runs").split("\n")[0]
    assert git(repo, "check-ref-format", refs, check=False) == ""
    rec = gittrack.get_run(f"{odd}/run: ~^ with spaces")
    assert rec.experiment == odd and rec.id == run.id


def test_logging_after_the_run_ended(repo: Path) -> None:
    with gittrack.start_run() as run:
        run.log_metric("m", 1)
    with pytest.raises(RunStateError, match=r"has ended \(finished\); start a new run, or "
                                            r"resume it with start_run\(run_id=...\)"):
        run.log_metric("m", 2)
    with pytest.raises(RunStateError, match="has ended"):
        run.log_param("p", 2)


def test_second_run_needs_nested(repo: Path) -> None:
    with gittrack.start_run() as outer:
        with pytest.raises(RunStateError, match="already active; end it with end_run"):
            gittrack.start_run()
        with gittrack.start_run(nested=True) as inner:
            inner.log_metric("m", 1)
    assert gittrack.get_run(inner.id).parent == outer.id
    assert gittrack.get_run(outer.id).parent is None


def test_resume_a_run(repo: Path) -> None:
    with gittrack.start_run() as run:
        run.log_param("a", 1)
        run.log_metric("m", 1.0, step=0)
    with gittrack.start_run(run_id=run.id[:8]) as again:
        again.log_metric("m", 2.0, step=1)
        with pytest.raises(InvalidInputError, match="already logged"):
            again.log_param("a", 2)
    rec = gittrack.get_run(run.id)
    assert again.id == run.id and rec.status == "finished"
    assert rec.metrics["m"].value == 2.0
    assert len(git(repo, "for-each-ref", "refs/gittrack/runs").splitlines()) == 1


def test_two_threads_log_into_one_run(repo: Path) -> None:
    with gittrack.start_run() as run:
        def work(key: str) -> None:
            for step in range(2000):
                run.log_metric(key, step, step=step)
        threads = [threading.Thread(target=work, args=(k,)) for k in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    from gittrack.api import open_store

    store = open_store()
    rec = gittrack.get_run(run.id)
    for key in ("a", "b"):
        assert [s for s, _t, _v in store.metric_history(rec.commit, key)] == list(range(2000))


def test_package_versions_and_environment_are_captured(repo: Path) -> None:
    import yaml as _yaml  # noqa: F401 - imported by the "program"

    with gittrack.start_run() as run:
        pass
    info = gittrack.get_run(run.id).info
    assert info["packages"]["PyYAML"] == _yaml.__version__
    assert info["python"].count(".") == 2 and info["host"] and info["user"]
    assert info["baseline"] == git(repo, "rev-parse", "HEAD").strip()
    assert info["branch"] == "main" and info["command"][0] == sys.executable


KILL_SCRIPT = """
import os, sys, time, gittrack
run = gittrack.start_run(run_name="victim")
run.log_param("lr", 0.1)
journal = os.path.join(".git", "gittrack", "journal", run.id + ".jsonl")
step = 0
while True:
    run.log_metric("loss", 1.0 / (step + 1), step=step)
    if step == 300:
        # Only the run's own flush thread writes the journal: wait until it has written
        # step 300 (no explicit flush), then tell the parent, and keep logging.
        while b"\\tloss\\t300\\t" not in open(journal, "rb").read():
            time.sleep(0.01)
        print("ready", flush=True)
    step += 1
    time.sleep(0.001)
"""


def test_sigkill_loses_only_what_was_not_yet_flushed(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    # the default flush interval, not the tests' shorter one
    env = {**os.environ, "GITTRACK_FLUSH_SECONDS": "0.2"}
    with subprocess.Popen([sys.executable, "-c", KILL_SCRIPT], cwd=repo,
                          stdout=subprocess.PIPE, text=True, env=env) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    listing = cli("log", "--format", "json")
    assert listing.code == 0
    import json

    (row,) = json.loads(listing.out)
    assert row["status"] == "crashed" and row["params"] == {"lr": 0.1}
    from gittrack.api import open_store

    history = open_store().metric_history(row["commit"], "loss")
    steps = [s for s, _t, _v in history]
    # every point the journal held when the process died is there, in order, with no gap:
    # at least steps 0..300 (flushed before "ready"), and whatever the thread flushed after
    assert steps == list(range(len(steps))) and len(steps) > 300
    assert [v for _s, _t, v in history[:301]] == [1.0 / (s + 1) for s in range(301)]
    assert not list((repo / ".git" / "gittrack" / "journal").glob("*.jsonl"))


END_THEN_DIE = """
import json, os, signal, gittrack
from gittrack.tracking.active import ActiveRun
ActiveRun._finish = ActiveRun.flush  # the run's thread journals the end, then the process dies
run = gittrack.start_run(run_name="ended")
run.log_params({"lr": 0.1})
run.log_metric("loss", 0.5, step=3)
gittrack.end_run("failed")
gittrack.flush()  # waits for the run's thread: the end is in the journal, no final commit
print(json.dumps([run.id, run.info["end_time"]]), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_run_killed_after_its_end_was_journaled_keeps_its_end(repo: Path) -> None:
    # end_run returns at once; the run's thread journals the end, then writes the final
    # commit. A process dying in between loses nothing: recovery commits the run with the
    # status and end time it ended with, not as crashed.
    proc = subprocess.run([sys.executable, "-c", END_THEN_DIE], cwd=repo, capture_output=True,
                          text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    run_id, end_time = json.loads(proc.stdout)
    ref = f"refs/gittrack/runs/default/{run_id}"
    before = yaml.safe_load(git(repo, "show", f"{ref}:.gittrack/run/run.yaml"))
    assert before["status"] == "running"  # the final commit was never written
    run = gittrack.get_run(run_id)  # any gittrack command recovers dead runs first
    assert (run.status, run.info["end_time"]) == ("failed", end_time)
    assert run.params == {"lr": 0.1} and run.metrics["loss"].step == 3
    assert not list((repo / ".git" / "gittrack" / "journal").glob("*.jsonl"))


def test_end_run_returns_before_the_final_commit_and_reads_wait_for_it(repo: Path) -> None:
    with gittrack.start_run() as run:
        run.log_metric("m", 1.0)
    gittrack.flush()
    ref = f"refs/gittrack/runs/default/{run.id}"
    assert "status: finished" in git(repo, "show", f"{ref}:.gittrack/run/run.yaml")
    with gittrack.start_run() as second:
        second.set_tag("t", "x")
    assert gittrack.get_run(second.id).status == "finished"  # a read waits for it


def test_sigterm_ends_the_run_killed(repo: Path) -> None:
    script = KILL_SCRIPT.replace('"victim"', '"victim", experiment="term"')
    with subprocess.Popen([sys.executable, "-c", script], cwd=repo, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGTERM  # dies of the signal, as without gittrack
        assert proc.stderr is not None and "Traceback" not in proc.stderr.read()
    rows = git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack/runs").split()
    status = yaml.safe_load(git(repo, "show", f"{rows[0]}:.gittrack/run/run.yaml"))["status"]
    assert status == "killed"


def test_uncaught_exception_in_a_script_fails_the_run(repo: Path) -> None:
    code = "import gittrack\ngittrack.log_metric('m', 1)\nraise RuntimeError('boom')\n"
    proc = run_python(code, repo)
    assert proc.returncode == 1 and "boom" in proc.stderr
    code_ok = "import gittrack\ngittrack.log_metric('m', 1)\n"
    assert run_python(code_ok, repo).returncode == 0
    statuses = sorted(
        yaml.safe_load(git(repo, "show", f"{r}:.gittrack/run/run.yaml"))["status"]
        for r in git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack/runs").split())
    assert statuses == ["failed", "finished"]


PARALLEL_SCRIPT = """
import gittrack
gittrack.set_experiment("parallel")
for i in range(25):
    with gittrack.start_run() as run:
        run.log_params({"worker": WORKER, "i": i})
        run.log_metric("m", i)
"""


def test_eight_processes_write_two_hundred_runs(repo: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", PARALLEL_SCRIPT.replace("WORKER", str(w))],
                              cwd=repo, stderr=subprocess.PIPE, text=True) for w in range(8)]
    for p in procs:
        _out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack/runs/parallel").split()
    assert len(refs) == 200
    seen = set()
    for ref in refs:
        params = yaml.safe_load(git(repo, "show", f"{ref}:.gittrack/run/params.yaml"))
        seen.add((params["worker"], params["i"]))
    assert len(seen) == 200
    assert subprocess.run(["git", "fsck", "--strict"], cwd=repo,
                          capture_output=True).returncode == 0


def test_tracking_repo_and_experiment_from_api_and_environment(repo: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    assert Path(gittrack.get_tracking_repo()) == repo / ".git"
    assert gittrack.current_experiment() == "default"
    monkeypatch.setenv("GITTRACK_EXPERIMENT", "from-env")
    assert gittrack.current_experiment() == "from-env"
    with gittrack.start_run() as run:
        run.log_metric("m", 1.0)
    assert gittrack.get_run(run.id).experiment == "from-env"
    assert git(repo, "for-each-ref", "--format=%(refname)",
               "refs/gittrack/runs/from-env/").strip() == f"refs/gittrack/runs/from-env/{run.id}"
    gittrack.set_experiment("explicit")  # the API's choice wins over the environment
    assert gittrack.current_experiment() == "explicit"
    other = make_repo(tmp_path / "other")
    gittrack.set_tracking_repo(str(other))
    assert Path(gittrack.get_tracking_repo()) == other / ".git"
    with gittrack.start_run() as elsewhere:
        pass
    assert git(other, "for-each-ref", "--format=%(refname)", "refs/gittrack/runs/").strip() \
        == f"refs/gittrack/runs/explicit/{elsewhere.id}"
