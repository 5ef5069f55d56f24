"""Git hooks: the scripts in hooks/, `gittrack install-hooks`, and pre-commit installing them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import git, make_repo
from servers import env_with_gittrack
from test_remote import log_model_run, log_runs, project, refs

import gittrack
from gittrack.sharing import hooks

ROOT = Path(__file__).resolve().parents[1]


def promoted(tmp_path: Path) -> Path:
    """A project whose forecaster v1 (a model run) is promoted to prod."""
    path = project(tmp_path / "proj", str(tmp_path / "store"))
    run = log_model_run(path)
    gittrack.register_model(f"runs:/{run}/model", "forecaster")
    gittrack.promote("forecaster", 1, "prod")
    return path


def run_git(path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=path, capture_output=True, text=True,
                          env=env or env_with_gittrack())


def test_hook_scripts_are_the_ones_gittrack_installs() -> None:
    for name, text in hooks.SCRIPTS.items():
        script = ROOT / "hooks" / name
        assert script.read_text() == text
        assert os.access(script, os.X_OK)
    offered = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert {h["id"]: h["entry"] for h in offered} == {
        "gittrack-post-checkout": "hooks/post-checkout", "gittrack-pre-push": "hooks/pre-push"}
    assert all(h["language"] == "script" and h["pass_filenames"] is False for h in offered)
    if (ROOT / ".git").exists():  # pre-commit runs them from a clone: the mode must be in git
        modes = git(ROOT, "ls-files", "-s", "hooks/")
        assert all(line.startswith("100755") for line in modes.splitlines()), modes


@pytest.mark.parametrize("name", sorted(hooks.SCRIPTS))
def test_hooks_do_nothing_outside_gittrack_or_without_it(tmp_path: Path, name: str) -> None:
    plain = make_repo(tmp_path / "plain")
    args = ["0" * 40, "0" * 40, "1"] if name == "post-checkout" else ["origin", "url"]
    for env in (env_with_gittrack(), {**os.environ, "PATH": "/usr/bin:/bin"}):
        proc = subprocess.run([str(ROOT / "hooks" / name), *args], cwd=plain, env=env,
                              capture_output=True, text=True, input="")
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    tracked = promoted(tmp_path)
    git(tracked, "checkout", "-q", "forecaster/prod/v1")
    no_gittrack = {**os.environ, "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([str(ROOT / "hooks" / name), *args], cwd=tracked, env=no_gittrack,
                          capture_output=True, text=True, input="")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_install_hooks_then_checkout_of_a_stage_tag_restores_the_model(tmp_path: Path,
                                                                        cli) -> None:  # type: ignore[no-untyped-def]
    path = promoted(tmp_path)
    result = cli("--repo", str(path), "install-hooks")
    assert result.code == 0, result.err
    assert (path / ".git" / "hooks" / "post-checkout").read_text() == hooks.POST_CHECKOUT
    proc = run_git(path, "checkout", "-q", "forecaster/prod/v1")
    assert proc.returncode == 0, proc.stderr
    assert "1 artifact(s) restored" in proc.stderr
    assert (path / "model" / "model.yaml").is_file()
    back = run_git(path, "checkout", "-q", "main")  # a branch holds no run record: nothing
    assert back.returncode == 0 and back.stderr == ""


def test_install_hooks_leaves_a_foreign_hook_unless_forced(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    path = project(tmp_path / "proj", None)
    mine = path / ".git" / "hooks" / "pre-push"
    mine.write_text("#!/bin/sh\necho mine\n")
    refused = cli("--repo", str(path), "install-hooks")
    assert refused.code == 1 and "--force" in refused.err
    assert mine.read_text() == "#!/bin/sh\necho mine\n"
    forced = cli("--repo", str(path), "install-hooks", "--force")
    assert forced.code == 0 and "pre-push.pre-gittrack" in forced.out
    assert (path / ".git" / "hooks" / "pre-push.pre-gittrack").read_text() == "#!/bin/sh\necho mine\n"
    assert cli("--repo", str(path), "install-hooks").code == 0  # ours now: reinstall is fine


def test_a_hook_that_only_mentions_gittrack_is_foreign(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    path = project(tmp_path / "proj", None)
    mine = path / ".git" / "hooks" / "pre-push"
    text = "#!/bin/sh\n# gittrack push is run by CI, not here\nexit 0\n"
    mine.write_text(text)
    assert cli("--repo", str(path), "install-hooks").code == 1
    assert mine.read_text() == text  # the marker comment alone never made it ours


def test_forced_installs_keep_every_backup_and_chain_the_newest(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    path = project(tmp_path / "proj", None)
    folder = path / ".git" / "hooks"
    log = tmp_path / "ran.txt"
    texts = []
    for i in range(3):  # the user replaces gittrack's hook three times, each time forced back
        text = f"#!/bin/sh\necho \"user hook {i}: $1 $(cat)\" >> {log}\nexit {i}\n"
        (folder / "pre-push").write_text(text)
        (folder / "pre-push").chmod(0o755)
        texts.append(text)
        forced = cli("--repo", str(path), "install-hooks", "--force")
        assert forced.code == 0, forced.err
    backups = sorted(p.name for p in folder.glob("pre-push.pre-gittrack*"))
    assert backups == ["pre-push.pre-gittrack", "pre-push.pre-gittrack.1",
                       "pre-push.pre-gittrack.2"]
    assert [(folder / b).read_text() for b in backups] == texts  # every one kept, unchanged
    hook = (folder / "pre-push").read_text()
    assert hook == hooks.chained("pre-push", "pre-push.pre-gittrack.2")
    assert cli("--repo", str(path), "install-hooks").code == 0  # a chained hook is ours
    assert (folder / "pre-push").read_text() == hook

    refs_line = "refs/heads/main 1111 refs/heads/main 2222"
    proc = subprocess.run([str(folder / "pre-push"), "origin", "url"], cwd=path, text=True,
                          input=refs_line + "\n", capture_output=True, env=env_with_gittrack())
    assert proc.returncode == 2  # the chained hook's failure stops the push
    assert log.read_text() == f"user hook 2: origin {refs_line}\n"  # it got args and stdin
    (folder / "pre-push.pre-gittrack.2").write_text("#!/bin/sh\nexit 0\n")
    proc = subprocess.run([str(folder / "pre-push"), "origin", "url"], cwd=path, text=True,
                          input="", capture_output=True, env=env_with_gittrack())
    assert proc.returncode == 0, proc.stderr


def test_pre_push_pushes_runs_only_when_opted_in(tmp_path: Path, remote: Path, cli) -> None:  # type: ignore[no-untyped-def]
    path = project(tmp_path / "proj", str(tmp_path / "store"), origin=str(remote))
    log_runs(path, 2)
    assert cli("--repo", str(path), "install-hooks").code == 0
    proc = run_git(path, "push", "-q", "origin", "main")
    assert proc.returncode == 0, proc.stderr
    assert refs(remote, "refs/gittrack") == {}
    config = path / ".gittrack" / "config.yaml"
    config.write_text(config.read_text() + "push_runs: true\n")
    proc = run_git(path, "push", "-q", "origin", "main")
    assert proc.returncode == 0, proc.stderr
    assert refs(remote, "refs/gittrack") == refs(path, "refs/gittrack")
    assert "gittrack: pushed 2 run ref(s)" in proc.stderr


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs the project's git checkout")
def test_pre_commit_installs_the_hooks_from_this_repository(tmp_path: Path) -> None:
    path = promoted(tmp_path)
    env = {**env_with_gittrack(), "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    pre_commit = [sys.executable, "-m", "pre_commit"]

    # try-repo: the hook, straight from this repository's working tree, after a plain checkout.
    git(path, "checkout", "-q", "forecaster/prod/v1")
    assert not (path / "model").exists()
    tried = subprocess.run([*pre_commit, "try-repo", str(ROOT), "gittrack-post-checkout",
                            "--hook-stage", "post-checkout", "--from-ref", "HEAD",
                            "--to-ref", "HEAD", "--checkout-type", "1", "--verbose"],
                           cwd=path, env=env, capture_output=True, text=True)
    assert tried.returncode == 0, tried.stdout + tried.stderr
    assert (path / "model" / "model.yaml").is_file()
    shutil.rmtree(path / "model")
    git(path, "checkout", "-q", "main")

    # install: pre-commit as the post-checkout hook; `git checkout` of the stage tag restores.
    rev = git(ROOT, "rev-parse", "HEAD").strip()
    (path / ".pre-commit-config.yaml").write_text(yaml.safe_dump({"repos": [{
        "repo": str(ROOT), "rev": rev, "hooks": [{"id": "gittrack-post-checkout"}]}]}))
    installed = subprocess.run([*pre_commit, "install", "--hook-type", "post-checkout"],
                               cwd=path, env=env, capture_output=True, text=True)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    checkout = run_git(path, "checkout", "-q", "forecaster/prod/v1", env=env)
    assert checkout.returncode == 0, checkout.stdout + checkout.stderr
    assert (path / "model" / "model.yaml").is_file()
    assert (path / "model" / "model.skops").is_file()


@pytest.mark.parametrize("command", [("install-hooks",)])
def test_help_ends_with_an_example(cli, command: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    result = cli(*command, "--help")
    usage = result.out.split("Options:")[0].rstrip()
    assert result.code == 0 and usage.splitlines()[-1].strip().startswith("gittrack ")
