"""Artifacts through the git remote itself, with no artifact remote configured: a push that
just works, against a real `git daemon`; files above the size limit get a message."""

from __future__ import annotations

import os
import re
from pathlib import Path

from conftest import git, run_python
from servers import GitDaemon, git_daemon  # noqa: F401 - fixture
from test_remote import TESTS, clone, log_model_run, log_runs, project, refs

import gittrack
from gittrack.artifacts.gitobjects import ARTIFACTS_REF

PYPATH = {"PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))}
PREDICT = ("import sys, gittrack; sys.path.insert(0, {tests!r}); "
           "from model_helpers import make_frame; "
           "print(list(gittrack.load_model('models:/forecaster/prod').predict(make_frame(seed=5))))")


def test_push_and_pull_through_git_daemon_with_no_artifact_remote(
        tmp_path: Path, git_daemon: GitDaemon, cli) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    url = git_daemon.bare("team.git")
    a = project(tmp_path / "a", None, origin=url)
    run_ids = log_runs(a, 2)
    model_run = log_model_run(a)
    gittrack.register_model(f"runs:/{model_run}/model", "forecaster")
    gittrack.promote("forecaster", 1, "prod")

    pushed = cli("--repo", str(a), "push")
    assert pushed.code == 0, pushed.err
    assert "3 artifact(s)" in pushed.out
    bare = git_daemon.base / "team.git"
    assert ARTIFACTS_REF in refs(bare, "refs/gittrack-artifacts")
    tree = git(bare, "ls-tree", "-r", "--name-only", ARTIFACTS_REF).split()
    assert len(tree) == 6 and all(re.fullmatch(r"[0-9a-f]{2}/[0-9a-f]{30}(\.dir)?", p)
                                  for p in tree), tree  # the cache's own layout
    assert subprocess_ok(["git", "fsck", "--strict"], bare)
    again = cli("--repo", str(a), "push")
    assert again.code == 0 and "0 artifact(s)" in again.out

    b = clone(url, tmp_path / "b")
    pulled = cli("--repo", str(b), "pull")
    assert pulled.code == 0, pulled.err
    assert refs(b, "refs/gittrack-artifacts") == refs(bare, "refs/gittrack-artifacts")
    preds = [run_python(PREDICT.format(tests=str(TESTS)), cwd=p, env=PYPATH)
             for p in (a, b)]
    assert all(p.returncode == 0 for p in preds), [p.stderr[-2000:] for p in preds]
    assert preds[0].stdout == preds[1].stdout and preds[0].stdout.startswith("[")
    restored = cli("--repo", str(b), "checkout", run_ids[0])
    assert restored.code == 0, restored.err
    assert (b / "out" / f"{run_ids[0]}.txt").read_text().startswith("artifact of run 0")

    # B's own run travels back the same way, on top of what A pushed.
    new = log_runs(b, 1, tag="b")
    assert cli("--repo", str(b), "push").code == 0
    assert cli("--repo", str(a), "pull", "--artifacts").code == 0
    assert cli("--repo", str(a), "checkout", new[0]).code == 0
    assert "artifact of run 0" in (a / "out" / f"b{new[0]}.txt").read_text()


def test_a_file_above_the_limit_names_itself_and_the_artifact_remote(
        tmp_path: Path, remote: Path, cli) -> None:  # type: ignore[no-untyped-def]
    a = project(tmp_path / "a", None, origin=str(remote))
    big = tmp_path / "weights.bin"
    with open(big, "wb") as fh:  # 60 MB of zeros, written sparse
        fh.truncate(60 * 1024 * 1024)
    gittrack.set_tracking_repo(str(a))
    with gittrack.start_run(experiment="big", run_name="heavy") as run:
        gittrack.log_artifact(str(big))
    refused = cli("--repo", str(a), "push")
    assert refused.code == 1
    err = refused.err
    assert f"run heavy ({run.id[:8]}): weights.bin (60.0 MB)" in err
    assert "exceed the 50 MB" in err and "artifact_remote:" in err and "--no-artifacts" in err
    assert refs(remote) == {} and refs(remote, "refs/gittrack-artifacts") == {}
    assert cli("--repo", str(a), "push", "--no-artifacts").code == 0


def test_the_limit_is_configurable(tmp_path: Path, remote: Path, cli) -> None:  # type: ignore[no-untyped-def]
    a = project(tmp_path / "a", None, origin=str(remote))
    with open(a / ".gittrack" / "config.yaml", "a") as fh:
        fh.write("git_artifacts_max_mb: 0.001\n")
    log_runs(a, 1)  # a ~60-byte file: under the limit
    assert cli("--repo", str(a), "push").code == 0
    data = tmp_path / "two-kb.txt"
    data.write_bytes(os.urandom(2048))
    with gittrack.start_run(experiment="exp"):
        gittrack.log_artifact(str(data), artifact_path="d")
    refused = cli("--repo", str(a), "push")
    assert refused.code == 1 and "d/two-kb.txt (0.0 MB)" in refused.err
    assert "exceed the 0.001 MB" in refused.err


def subprocess_ok(cmd: list[str], cwd: Path) -> bool:
    import subprocess

    return subprocess.run(cmd, cwd=cwd, capture_output=True).returncode == 0


def test_a_push_that_raced_another_clone_builds_on_its_artifacts(
        tmp_path: Path, remote: Path, cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from gittrack.sharing import gitobjects

    a = project(tmp_path / "a", None, origin=str(remote))
    b = clone(str(remote), tmp_path / "b")
    from_a = log_runs(a, 1, tag="a")
    assert cli("--repo", str(a), "push").code == 0
    from_b = log_runs(b, 1, tag="b")
    real = gitobjects.remote_tip
    seen: list[str | None] = []

    def stale_once(repo, name):  # type: ignore[no-untyped-def]
        # B read the remote before A's push landed: its first commit does not extend A's.
        seen.append(None if not seen else real(repo, name))
        return seen[-1]

    monkeypatch.setattr(gitobjects, "remote_tip", stale_once)
    pushed = cli("--repo", str(b), "push")
    assert pushed.code == 0, pushed.err
    assert len(seen) == 2  # rejected once (not a fast-forward), then built on A's value
    tip = git(remote, "rev-parse", ARTIFACTS_REF).strip()
    assert len(git(remote, "rev-list", tip).split()) == 2  # A's commit, then B's on top
    monkeypatch.undo()
    assert cli("--repo", str(a), "pull").code == 0
    for run_id, tag in ((from_a[0], "a"), (from_b[0], "b")):
        assert cli("--repo", str(a), "checkout", run_id, "--force").code == 0
        assert (a / "out" / f"{tag}{run_id}.txt").is_file()
