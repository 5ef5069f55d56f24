"""Shared fixtures: real git always, with HOME and git config isolated from the machine."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# Property tests assert what comes back, never how fast: a busy 2-core machine must not fail
# them by Hypothesis' default 200 ms deadline.
settings.register_profile("gittrack", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("gittrack")

# Isolate before pygit2 is imported anywhere: libgit2 reads HOME/XDG once, at first use.
_HOME = Path(tempfile.mkdtemp(prefix="gittrack-home-"))
(_HOME / ".gitconfig").write_text(
    "[user]\n\tname = Test User\n\temail = test@example.com\n"
    "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
)
os.environ.update({
    "HOME": str(_HOME), "XDG_CONFIG_HOME": str(_HOME / ".config"),
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": str(_HOME / ".gitconfig"),
    "GITTRACK_FLUSH_SECONDS": "0.05",
})
for var in ("GITTRACK_REPO", "GITTRACK_EXPERIMENT", "GITTRACK_RUN_ID", "GIT_DIR",
            "GIT_WORK_TREE", "GIT_INDEX_FILE"):
    os.environ.pop(var, None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Inside the suite that test_readme.py's fresh-venv test runs, leave that test out
    (it would start the suite again)."""
    if not os.environ.get("GITTRACK_README_NESTED"):
        return
    nested = [i for i in items if i.name == "test_readme_commands_in_a_fresh_venv"]
    if nested:
        config.hook.pytest_deselected(items=nested)
        items[:] = [i for i in items if i not in nested]


def die(run: Any) -> None:
    """End this process's hold on a live ``run`` as a kill -9 would: its journal stays,
    unlocked, for the next gittrack command to recover."""
    from gittrack.tracking import stack

    run._stop.set()
    run._thread.join()
    run.flush()
    run._ended = True
    stack.discard(run)
    run._journal._file.close()


def git(cwd: Path | str, *args: str, check: bool = True) -> str:
    """Run the plain git CLI and return its stdout.

    Runs this process ended are committed first (``gittrack.flush()``): their final commits
    are written by each run's thread, and docs/format.md asks exactly this of a program
    reading its runs with other tools.
    """
    import gittrack

    gittrack.flush()
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def lose_object(git_dir: Path, oid: str) -> None:
    """Make object ``oid`` missing, as a careless `rm` or a failing disk would: packs are
    exploded into loose objects first (gittrack writes packs), then its file is deleted, and
    the libgit2 repositories this process keeps open forget what they cached."""
    objects = git_dir / "objects"
    for pack in sorted((objects / "pack").glob("*.pack")):
        data = pack.read_bytes()
        for part in pack.parent.glob(pack.stem + ".*"):
            part.unlink()
        subprocess.run(["git", f"--git-dir={git_dir}", "unpack-objects", "-q"], input=data,
                       check=True)
    (objects / oid[:2] / oid[2:]).unlink()
    from gittrack.core import gitio

    gitio._POOL.clear()


def make_repo(path: Path, commit: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    if commit:
        (path / "train.py").write_text("print('training')\n")
        (path / "README.md").write_text("# project\n")
        git(path, "add", "train.py", "README.md")
        git(path, "commit", "-q", "-m", "initial")
    return path


@pytest.fixture(autouse=True)
def _fresh_api_state() -> Iterator[None]:
    """Every test starts with no tracking repo, experiment or active run set."""
    from gittrack import api
    from gittrack.tracking import stack
    api.set_tracking_repo(None)
    api._experiment = None
    yield
    while stack.runs:
        stack.runs.pop().end("finished")
    api.set_tracking_repo(None)
    api._experiment = None


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real git repository with one commit; the current directory during the test."""
    path = make_repo(tmp_path / "repo")
    monkeypatch.chdir(path)
    return path


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A bare repository to push to and fetch from."""
    path = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(path))
    return path


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run ``gittrack ARGS`` in-process through the real entry point; returns CliResult."""
    from gittrack.cli.main import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def run_python(code: str, cwd: Path, env: dict[str, str] | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run Python code in a fresh interpreter (the installed gittrack)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                          text=True, env=full_env, timeout=timeout)
