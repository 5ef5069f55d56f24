"""The README as a new user follows it.

- The quickstart run twice, then every shell command the README shows after it, each one
  exactly as written (run ids and the baseline filled in where it shows examples).
- Both Quickstart commands verbatim, from a fresh clone, in a venv made by ``python3 -m venv``
  with its bundled pip (never upgraded); ``pip install .`` alone first, with a page requested
  from ``gittrack ui``. The second command's install runs as written and the whole suite is
  collected with it (``--collect-only``: CI runs it verbatim, so running it here again would
  only double the time); in that nested collection this test is deselected (conftest.py).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import git, make_repo
from servers import env_with_gittrack

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
NESTED = "GITTRACK_README_NESTED"  # set for the nested suite of the fresh-venv test
EXAMPLE_ID = "9a7931e197b58614"  # the run id the README's plain-git block shows


def sh_blocks(section_from: str, section_to: str) -> list[list[str]]:
    """The commands of the ```sh blocks between two ``## `` headings, comments dropped."""
    body = README[README.index(f"\n## {section_from}"):README.index(f"\n## {section_to}")]
    blocks = re.findall(r"```sh\n(.*?)```", body, re.S)
    return [[c for c in (re.sub(r"\s+#\s.*$", "", line).strip() for line in b.splitlines()) if c]
            for b in blocks]


def section_blocks(title: str) -> list[list[str]]:
    """The commands of the ```sh blocks of the section whose heading starts with ``title``."""
    start = README.index(f"\n## {title}")
    end = README.find("\n## ", start + 4)
    body = README[start:end if end > 0 else len(README)]
    return [[c for c in (re.sub(r"\s+#\s.*$", "", line).strip() for line in b.splitlines()) if c]
            for b in re.findall(r"```sh\n(.*?)```", body, re.S)]


def quickstart_commands() -> list[str]:
    """The Quickstart's two commands."""
    return sh_blocks("Quickstart", "Logging runs")[0]


def run_sh(command: str, cwd: Path, env: dict[str, str],
           timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def serve_ui(cwd: Path, env: dict[str, str], gittrack_exe: str = "gittrack") -> tuple[int, str]:
    """Start `gittrack ui --port 0`, request its first page and the experiments, stop it;
    (status of /, its body)."""
    proc = subprocess.Popen([gittrack_exe, "ui", "--port", "0"], cwd=cwd, env=env,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert found, line + proc.stderr.read()
        base = f"http://127.0.0.1:{found.group(1)}"
        # The socket listens before the line is printed: a request waits for the server.
        with urllib.request.urlopen(base + "/", timeout=120) as page:
            status, body = page.status, page.read().decode()
        with urllib.request.urlopen(base + "/api/experiments", timeout=10) as api:
            assert api.status == 200
        return status, body
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()


def test_ci_runs_exactly_the_readme_test_command() -> None:
    first, second = quickstart_commands()
    assert first == "pip install '.[ml]' && python examples/quickstart.py"
    assert second == "pip install -e '.[test]' && python -m pytest -q"
    assert second in (ROOT / ".ci" / "run").read_text().splitlines()
    assert "--upgrade pip" not in (ROOT / ".ci" / "run").read_text()


def test_quickstart_twice_then_every_readme_command(tmp_path: Path) -> None:
    clone = make_repo(tmp_path / "clone")  # the README runs the quickstart in a clone
    for _ in range(2):
        proc = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")],
                              cwd=clone, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
    demo = clone / "gittrack-quickstart"
    env = env_with_gittrack()
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(demo, "remote", "add", "origin", str(bare))  # "Sharing through any git remote"
    (demo / "train.py").write_text("print('training')\n")  # "Any program": the user's script
    newest = git(demo, "for-each-ref", "--sort=-creatordate", "--count=1",
                 "--format=%(refname:lstrip=-1)", "refs/gittrack/runs/").strip()

    # The next steps the Quickstart names, then the web UI.
    shown = run_sh("gittrack show forest-large", demo, env)
    assert shown.returncode == 0, shown.stderr
    assert "'forest-large' names 2 runs; using the newest" in shown.stderr
    assert "'forest-large~1'" in shown.stderr
    assert run_sh("gittrack show cost_center_forecasting/forest-large~1", demo, env).returncode == 0
    typo = run_sh("gittrack show forest-lrage", demo, env)
    assert typo.returncode == 1 and "did you mean 'forest-large'" in typo.stderr
    diffed = run_sh("gittrack diff linear-baseline forest-large", demo, env)
    assert diffed.returncode == 0, diffed.stderr
    status, body = serve_ui(demo, env)
    assert status == 200 and "gittrack" in body

    blocks = [block for title in ("The model registry", "Sharing through", "Any program",
                                  "Reading runs with plain git")
              for block in section_blocks(title)]
    assert len(blocks) == 4, blocks
    other = tmp_path / "other"
    for block in blocks:
        for command in block:
            command = command.replace(EXAMPLE_ID, newest)
            command = command.replace("<baseline>", git(demo, "rev-parse", "main").strip())
            where = demo
            if command == "gittrack pull":  # "in another clone"
                git(tmp_path, "clone", "-q", str(bare), str(other))
                where = other
            done = run_sh(command, where, env)
            assert done.returncode == 0, (command, done.stdout, done.stderr)
    assert (demo / "model").is_dir()  # `gittrack checkout` put v1's model back
    resolved = run_sh("gittrack models resolve forecaster/prod --json", other, env)
    assert resolved.returncode == 0 and '"version": 1' in resolved.stdout


@pytest.mark.slow
def test_readme_commands_in_a_fresh_venv(tmp_path: Path) -> None:
    timings: dict[str, float] = {}
    clone = tmp_path / "gittrack"
    git(tmp_path, "clone", "-q", str(ROOT), str(clone))  # what is committed, nothing else
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    cache = Path(pwd.getpwuid(os.getuid()).pw_dir) / ".cache" / "pip"
    if cache.is_dir():  # the machine's download cache; HOME is isolated by conftest
        env["PIP_CACHE_DIR"] = str(cache)
    python3 = shutil.which("python3") or sys.executable
    started = time.monotonic()
    made = subprocess.run([python3, "-m", "venv", str(tmp_path / "venv")], capture_output=True,
                          text=True)
    assert made.returncode == 0, made.stderr
    venv_bin = tmp_path / "venv" / "bin"
    env.update(PATH=f"{venv_bin}{os.pathsep}{env.get('PATH', '')}",
               VIRTUAL_ENV=str(tmp_path / "venv"))
    pip = run_sh("pip --version", clone, env)
    assert pip.returncode == 0 and pip.stdout.startswith("pip 23."), pip.stdout  # bundled

    plain = run_sh("pip install .", clone, env, timeout=1800)  # the UI in the default install
    assert plain.returncode == 0, plain.stdout[-3000:] + plain.stderr[-3000:]
    timings["pip install ."] = time.monotonic() - started
    project = tmp_path / "project"
    init = run_sh(f"gittrack init {project}", tmp_path, env)
    assert init.returncode == 0, init.stderr
    status, body = serve_ui(project, env, str(venv_bin / "gittrack"))
    assert status == 200 and "gittrack" in body

    first, second = quickstart_commands()
    # The test command runs verbatim in CI (.ci/run, test_ci_runs_exactly_the_readme_test_
    # command); here its install and the collection of the whole suite in the fresh venv
    # show every test module imports with what the test extra brings.
    for name, command, extra in (("quickstart", first, {}),
                                 ("tests", f"{second} --collect-only", {NESTED: "1"})):
        mark = time.monotonic()
        done = run_sh(command, clone, {**env, **extra}, timeout=3600)
        timings[name] = time.monotonic() - mark
        assert done.returncode == 0, (command, done.stdout[-5000:], done.stderr[-3000:])
        if name == "tests":
            summary = done.stdout.strip().splitlines()[-1]
            assert re.match(r"\d+(/\d+)? tests collected", summary) and "error" not in summary, \
                summary
    assert (clone / "gittrack-quickstart" / ".git").is_dir()
    print("fresh-venv timings (s):", {k: round(v) for k, v in timings.items()})
