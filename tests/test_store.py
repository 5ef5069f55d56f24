"""Runs as commits: what gittrack writes reads back with plain git, and nothing else moves."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import gittrack
from gittrack.core.errors import NotARepositoryError
from tests.conftest import git, make_repo


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run_refs(cwd: Path) -> list[str]:
    out = git(cwd, "for-each-ref", "--format=%(refname)", "refs/gittrack/runs")
    return out.split()


def test_three_runs_read_with_plain_git_and_touch_nothing(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (repo / "train.py").write_text("print('edited')\n")  # a dirty tree, left as it is
    (repo / "notes.txt").write_text("untracked\n")
    head_before = (repo / ".git" / "HEAD").read_bytes()
    index_before = _digest(repo / ".git" / "index")
    status_before = git(repo, "status", "--porcelain")
    head_commit = git(repo, "rev-parse", "HEAD")

    gittrack.set_experiment("forecast")
    for alpha in (0.1, 0.2, 0.3):
        with gittrack.start_run() as run:
            run.log_params({"alpha": alpha, "model": {"depth": 3}})
            run.log_metric("rmse", alpha * 10)

    refs = _run_refs(repo)
    assert len(refs) == 3 and all(r.startswith("refs/gittrack/runs/forecast/") for r in refs)
    params = {yaml.safe_load(git(repo, "cat-file", "-p", f"{r}:.gittrack/run/params.yaml"))["alpha"]
              for r in refs}
    assert params == {0.1, 0.2, 0.3}
    assert (repo / ".git" / "HEAD").read_bytes() == head_before
    assert _digest(repo / ".git" / "index") == index_before
    assert git(repo, "status", "--porcelain") == status_before
    assert git(repo, "rev-parse", "HEAD") == head_commit

    result = cli("log")
    assert result.code == 0
    assert result.out.count("forecast") == 3
    fsck = subprocess.run(["git", "fsck", "--strict"], cwd=repo, capture_output=True, text=True)
    assert fsck.returncode == 0
    assert not [line for line in (fsck.stdout + fsck.stderr).splitlines()
                if not line.startswith("dangling ")]
    git(repo, "gc", "--prune=now", "-q")
    assert len(_run_refs(repo)) == 3
    for ref in refs:
        run_id = ref.rpartition("/")[2]
        assert gittrack.get_run(run_id).metrics["rmse"].value > 0


def test_uncommitted_edit_is_kept_in_the_run(repo: Path) -> None:
    (repo / "train.py").write_text("print('training')\nlr = 0.01\n")
    git(repo, "add", "README.md")
    index_before = _digest(repo / ".git" / "index")
    with gittrack.start_run() as run:
        run.log_metric("loss", 1.0)
    record = gittrack.get_run(run.id)
    assert record.info["dirty"] is True
    diff = git(repo, "diff", record.baseline, run.ref, "--", "train.py")
    assert "+lr = 0.01" in diff
    changed = [line for line in diff.splitlines()
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == ["+lr = 0.01"]
    assert (repo / "train.py").read_text() == "print('training')\nlr = 0.01\n"
    assert _digest(repo / ".git" / "index") == index_before
    assert git(repo, "diff", "--cached", "--name-only") == ""


def test_untracked_files_are_listed_not_captured(repo: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    (repo / "secret.env").write_text("TOKEN=1\n")
    with caplog.at_level("WARNING", logger="gittrack"):
        for _ in range(3):
            with gittrack.start_run() as run:
                pass
    record = gittrack.get_run(run.id)
    assert record.info["untracked"] == ["secret.env"]
    assert git(repo, "ls-tree", "-r", "--name-only", run.ref).split().count("secret.env") == 0
    said = [r.getMessage() for r in caplog.records if "untracked" in r.getMessage()]
    assert said == ["1 untracked file(s) are not captured in the run (listed in run.yaml): "
                    "secret.env; `git add` the ones that are code, or list them in .gitignore."]
    (repo / "other.csv").write_text("x\n")
    with caplog.at_level("WARNING", logger="gittrack"):
        with gittrack.start_run():
            pass
        gittrack.flush()  # its final commit is where the warning would be said
    assert sum("untracked" in r.getMessage() for r in caplog.records) == 1  # once a process


def test_the_warning_counts_right_and_leaves_out_what_the_run_logged(
        repo: Path, caplog: pytest.LogCaptureFixture) -> None:
    for i in range(7):
        (repo / f"f{i}.txt").write_text(f"{i}\n")
    (repo / "out").mkdir()
    (repo / "out" / "plot.png").write_bytes(b"png")
    (repo / "data.csv").write_text("a\n1\n")
    with caplog.at_level("WARNING", logger="gittrack"):
        with gittrack.start_run() as run:
            gittrack.log_artifact(str(repo / "f0.txt"))
            gittrack.log_artifacts(str(repo / "out"))
            gittrack.log_input(str(repo / "data.csv"))
        gittrack.flush()  # the warning is the final commit's, written by the run's thread
    said = [r.getMessage() for r in caplog.records if "untracked" in r.getMessage()]
    assert said == ["6 untracked file(s) are not captured in the run (listed in run.yaml): "
                    "f1.txt, f2.txt, f3.txt, f4.txt, f5.txt and 1 more; `git add` the ones that "
                    "are code, or list them in .gitignore."]
    assert gittrack.get_run(run.id).info["untracked_count"] == 9  # the record lists them all


TRAIN = """\
import sys
import gittrack
with gittrack.start_run(run_name="fresh") as run:
    sys.path.insert(0, ".")
    import features  # imported after the run started: still code that ran
    gittrack.log_metric("n", features.N)
print(run.id)
"""


def test_untracked_code_that_ran_is_captured_and_data_is_not(repo: Path) -> None:
    (repo / "train.py").write_text(TRAIN)  # tracked in the fixture; now modified
    (repo / "new_train.py").write_text(TRAIN)  # never `git add`ed
    (repo / "features.py").write_text("N = 3\n")
    (repo / "data.csv").write_text("a\n1\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(Path(gittrack.__file__).parents[1]), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "new_train.py"], cwd=repo, capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.split()[-1]
    ref = git(repo, "for-each-ref", "--format=%(refname)", f"refs/gittrack/runs/default/{run_id}").strip()
    tree = git(repo, "ls-tree", "-r", "--name-only", ref).split()
    assert {"new_train.py", "features.py", "train.py"} <= set(tree) and "data.csv" not in tree
    assert git(repo, "show", f"{ref}:new_train.py") == TRAIN
    info = gittrack.get_run(run_id).info
    assert info["untracked"] == ["data.csv"] and info["untracked_count"] == 1
    assert info["dirty"] is True
    warned = [line for line in proc.stderr.splitlines() if "untracked" in line]
    assert len(warned) == 1 and "1 untracked file(s)" in warned[0] and ": data.csv;" in warned[0]
    assert git(repo, "status", "--porcelain", "--untracked-files=all").splitlines() == \
        [" M train.py", "?? data.csv", "?? features.py", "?? new_train.py"]  # nothing staged


def test_run_commit_parent_is_the_baseline_and_message_is_for_humans(repo: Path) -> None:
    gittrack.set_experiment("e")
    with gittrack.start_run(run_name="brisk-lamb") as run:
        run.log_metric("rmse", 380.2)
        run.log_metric("mae", 350.1)
    head = git(repo, "rev-parse", "HEAD").strip()
    assert git(repo, "rev-parse", f"{run.ref}^").strip() == head
    subject = git(repo, "log", "-1", "--format=%s", run.ref).strip()
    assert subject == "run brisk-lamb (finished): rmse=380.2 mae=350.1"


def test_repository_with_no_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_repo(tmp_path / "empty", commit=False)
    (path / "a.py").write_text("x = 1\n")
    git(path, "add", "a.py")
    monkeypatch.chdir(path)
    with gittrack.start_run() as run:
        run.log_metric("m", 1)
    assert git(path, "rev-list", "--parents", "-n1", run.ref).split() == [
        git(path, "rev-parse", run.ref).strip()]
    assert git(path, "show", f"{run.ref}:a.py") == "x = 1\n"
    assert git(path, "rev-parse", "--verify", "-q", "HEAD", check=False) == ""


def test_git_worktree_shares_runs(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                  tmp_path: Path) -> None:
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", str(wt), "-b", "feature")
    (wt / "train.py").write_text("print('feature')\n")
    monkeypatch.chdir(wt)
    with gittrack.start_run() as run:
        run.log_metric("m", 2)
    assert run.ref in _run_refs(repo)
    assert git(repo, "show", f"{run.ref}:train.py") == "print('feature')\n"
    assert gittrack.get_run(run.id).info["branch"] == "feature"
    assert (repo / ".git" / "gittrack").is_dir()
    assert not (repo / ".git" / "worktrees" / "wt" / "gittrack").exists()


def test_bare_store_chosen_by_env_and_by_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             remote: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITTRACK_REPO", str(remote))
    with gittrack.start_run() as run:
        run.log_param("p", 1)
    assert len(_run_refs(remote)) == 1
    monkeypatch.delenv("GITTRACK_REPO")
    other = tmp_path / "other.git"
    git(tmp_path, "init", "-q", "--bare", str(other))
    gittrack.set_tracking_repo(other)
    with gittrack.start_run() as run2:
        run2.log_param("p", 2)
    assert len(_run_refs(other)) == 1
    assert gittrack.get_run(run2.id).params == {"p": 2}


def test_outside_any_repository_points_at_init(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch, cli) -> None:  # type: ignore[no-untyped-def]
    outside = tmp_path / "plain"
    outside.mkdir()
    monkeypatch.chdir(outside)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    with pytest.raises(NotARepositoryError, match="run `gittrack init`"):
        gittrack.start_run()
    result = cli("log")
    assert result.code == 1
    assert result.err.strip().count("\n") == 0 and "gittrack init" in result.err
