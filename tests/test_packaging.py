"""gittrack as a user gets it: built and installed by pip into a fresh virtual environment."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
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


def build_wheel(source: Path, out: Path) -> Path:
    """``pip wheel`` of a source tree (gittrack alone, no dependencies): the file users get."""
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out),
                           str(source)], capture_output=True, text=True, cwd=out)
    assert proc.returncode == 0, proc.stderr
    (wheel,) = out.glob("gittrack-*.whl")
    return wheel


def isolated_venv(env: Path, wheel: Path, extras: str = "") -> subprocess.CompletedProcess[str]:
    """A new virtual environment that sees nothing of this one, with the wheel installed by
    pip with its dependencies resolved from the package index. Only pip's download cache is
    shared between the environments of a test run."""
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env)
    py = env / "bin" / "python"
    environ = {**os.environ, "PIP_CACHE_DIR": str(PIP_CACHE), "PYTHONPATH": "",
               "PYTHONNOUSERSITE": "1"}
    return subprocess.run([py, "-m", "pip", "install", "-q", f"{wheel}{extras}"],
                          capture_output=True, text=True, cwd=env.parent, env=environ)


def check_installed(env: Path, work: Path) -> None:
    """What a user of the installed package does first: the CLI's help, then the README's
    quickstart, from a directory outside the source tree."""
    exe, py = env / "bin" / "gittrack", env / "bin" / "python"
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing but the venv
    helped = subprocess.run([exe, "--help"], cwd=work, capture_output=True, text=True, env=clean)
    assert helped.returncode == 0 and "Example" in helped.stdout, helped.stderr[-2000:]
    where = subprocess.run([py, "-c", "import gittrack, sys; print(gittrack.__file__); "
                            "print([p for p in sys.path if 'site-packages' in p])"],
                           cwd=work, capture_output=True, text=True, env=clean)
    assert where.returncode == 0, where.stderr[-2000:]
    assert where.stdout.startswith(str(env))  # the installed copy, not the source tree
    quick = subprocess.run([py, str(ROOT / "examples" / "quickstart.py")], cwd=work,
                           capture_output=True, text=True, timeout=600, env=clean)
    assert quick.returncode == 0, quick.stderr[-3000:]
    assert "forest-large" in quick.stdout and "linear-baseline" in quick.stdout


# pip's download cache for the environments these tests make (HOME is isolated by conftest).
PIP_CACHE = Path(tempfile.gettempdir()) / "gittrack-test-pip-cache"


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """gittrack built as a wheel and installed, with its `ml` extra for the quickstart, into a
    new virtual environment that sees nothing else."""
    base = tmp_path_factory.mktemp("venv")
    wheel = build_wheel(ROOT, base)
    env = base / "env"
    installed = isolated_venv(env, wheel, "[ml]")
    assert installed.returncode == 0, installed.stderr[-3000:]
    return env


def test_the_installed_wheel_runs_the_quickstart(fresh_venv: Path, tmp_path: Path) -> None:
    check_installed(fresh_venv, make_repo(tmp_path / "user"))


def test_a_dependency_missing_from_pyproject_fails_the_check(fresh_venv: Path, tmp_path: Path) -> None:
    """The check above would catch a runtime dependency left out of pyproject.toml: the same
    package built with `pygit2` deleted from its dependencies fails it (nothing else brings
    pygit2; click, say, now comes with uvicorn)."""
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", "__pycache__", "*.egg-info", "build", "dist", ".ci", "gittrack-quickstart"))
    pyproject = source / "pyproject.toml"
    text = pyproject.read_text()
    assert '    "pygit2>=1.14",\n' in text
    pyproject.write_text(text.replace('    "pygit2>=1.14",\n', ""))
    out = tmp_path / "wheel"
    out.mkdir()
    broken = tmp_path / "broken"
    installed = isolated_venv(broken, build_wheel(source, out), "[ml]")
    assert installed.returncode == 0, installed.stderr[-3000:]
    with pytest.raises(AssertionError, match="pygit2"):
        check_installed(broken, make_repo(tmp_path / "user"))


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
