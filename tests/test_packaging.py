"""gittrack as a user gets it: built and installed by pip into a fresh virtual environment."""

from __future__ import annotations

import hashlib
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import git, make_repo

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import gittrack
gittrack.set_experiment("fresh")
for alpha in (0.1, 0.2, 0.3):
    with gittrack.start_run() as run:
        run.log_params({"alpha": alpha})
        run.log_metric("rmse", alpha * 100)
print(gittrack.__file__)
"""


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with gittrack built and installed by `pip install .`.

    The dependencies come from this interpreter's site-packages (a .pth file), so the test
    needs no network; gittrack itself is built from the source tree as a wheel.
    """
    env = tmp_path_factory.mktemp("venv") / "env"
    venv.EnvBuilder(with_pip=False).create(env)
    py = env / "bin" / "python"
    purelib = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    outer = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (Path(purelib) / "outer-deps.pth").write_text("\n".join(outer) + "\n")
    build = subprocess.run(
        [py, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--no-cache-dir", str(ROOT)],
        capture_output=True, text=True, cwd=env.parent)
    assert build.returncode == 0, build.stderr
    return env


def test_pip_install_then_log_three_runs(fresh_venv: Path, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "work")
    head, index = (repo / ".git" / "HEAD").read_bytes(), (repo / ".git" / "index").read_bytes()
    status = git(repo, "status", "--porcelain")
    py, exe = fresh_venv / "bin" / "python", fresh_venv / "bin" / "gittrack"
    out = subprocess.run([py, "-c", SCRIPT], cwd=repo, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(str(fresh_venv))  # the installed copy, not the tree
    listing = subprocess.run([exe, "log"], cwd=repo, capture_output=True, text=True)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.count("fresh") == 3
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack/runs").split()
    assert len(refs) == 3
    assert "alpha:" in git(repo, "cat-file", "-p", f"{refs[0]}:.gittrack/run/params.yaml")
    assert (repo / ".git" / "HEAD").read_bytes() == head
    assert hashlib.sha256((repo / ".git" / "index").read_bytes()).digest() == \
        hashlib.sha256(index).digest()
    assert git(repo, "status", "--porcelain") == status
    assert subprocess.run(["git", "fsck", "--strict"], cwd=repo).returncode == 0
    git(repo, "gc", "--prune=now", "-q")
    again = subprocess.run([exe, "log", "--format", "json"], cwd=repo, capture_output=True,
                           text=True)
    assert again.returncode == 0 and again.stdout.count('"status": "finished"') == 3


def test_import_is_light(fresh_venv: Path, tmp_path: Path) -> None:
    py = fresh_venv / "bin" / "python"
    code = "import sys, gittrack; print(sorted(m for m in ('pandas', 'dvc_data', 'pygit2', 'numpy') if m in sys.modules))"
    out = subprocess.run([py, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
    listed = subprocess.run([py, "-c", "import gittrack; print(dir(gittrack))"], cwd=tmp_path,
                            capture_output=True, text=True, check=True).stdout
    assert "'start_run'" in listed and "'search_runs'" in listed


def test_console_script_help(fresh_venv: Path, tmp_path: Path) -> None:
    out = subprocess.run([fresh_venv / "bin" / "gittrack", "--help"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert out.returncode == 0 and "Example" in out.stdout
    assert sys.version_info >= (3, 10)
