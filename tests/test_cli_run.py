"""`gittrack run -- COMMAND` and the log-metric/log-param/set-tag commands, in real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import gittrack
from tests.conftest import git


def gittrack_run(repo: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`gittrack ARGS` in a fresh process with no terminal on stdin."""
    return subprocess.run([sys.executable, "-m", "gittrack", *args], cwd=repo, text=True,
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=timeout)


def run_refs(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack/runs/").split()


def test_shell_logs_one_point_and_exit_code_sets_failed(repo: Path) -> None:
    proc = gittrack_run(repo, "run", "-e", "shell", "--", "bash", "-c",
                        "gittrack log-metric loss 0.5 --step 1; echo out; echo err >&2; exit 3")
    assert proc.returncode == 3, proc.stderr
    assert "out" in proc.stdout and "err" in proc.stderr
    refs = run_refs(repo)
    assert len(refs) == 1
    # plain git: exactly one point in the history, status failed
    history = git(repo, "show", f"{refs[0]}:.gittrack/run/metrics/loss.tsv").splitlines()
    assert history[0] == "step\ttimestamp\tvalue" and len(history) == 2
    assert history[1].startswith("1\t") and history[1].endswith("\t0.5")
    run = gittrack.get_run(refs[0].rpartition("/")[2])
    assert run.status == "failed" and run.tags["gittrack.exit_code"] == "3"
    assert "logs/output.log" in run.artifacts
    assert not list((repo / ".git" / "gittrack" / "journal").glob("*.jsonl"))


def test_python_child_joins_the_run_and_output_is_an_artifact(repo: Path) -> None:
    (repo / "train.py").write_text(
        "import gittrack\n"
        "gittrack.log_param('depth', 4)\n"
        "for step in range(3):\n"
        "    gittrack.log_metric('loss', 1.0 / (step + 1), step=step)\n"
        "with gittrack.start_run() as run:\n"
        "    run.set_tag('joined', run.id)\n"
        "print('trained')\n"
    )
    (repo / "params.yaml").write_text("lr: 0.1\nlayers: [8, 4]\nname: file\n")
    proc = gittrack_run(repo, "run", "-n", "child", "--params-file", "params.yaml",
                        "-P", "name=cli", "-P", "flag=true", "--", sys.executable, "train.py")
    assert proc.returncode == 0, proc.stderr
    assert "trained" in proc.stdout
    refs = run_refs(repo)
    assert len(refs) == 1  # one run, not two
    run = gittrack.get_run(refs[0].rpartition("/")[2])
    assert run.status == "finished" and run.name == "child"
    assert run.params == {"depth": 4, "lr": 0.1, "layers": [8, 4], "name": "cli", "flag": True}
    assert run.metrics["loss"].step == 2 and run.tags["joined"] == run.id
    out = Path(repo, "restored")
    gittrack.set_tracking_repo(repo)
    from gittrack import api
    from gittrack.artifacts.local import cache_for, read_pointers

    pointer = read_pointers(api.open_store(), run.commit)["logs/output.log"]
    cache_for(api.open_store().repo).checkout(pointer, out)
    assert out.read_text() == "trained\n"


def test_ctrl_c_to_the_process_group_ends_killed(repo: Path) -> None:
    code = ("import gittrack, time\n"
            "gittrack.log_metric('started', 1)\n"
            "print('ready', flush=True)\n"
            "time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-m", "gittrack", "run", "--", sys.executable, "-c", code],
                            cwd=repo, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, process_group=0)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"  # the child is running and has logged
    os.killpg(proc.pid, signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    run = gittrack.get_run(run_refs(repo)[0].rpartition("/")[2])
    assert run.status == "killed" and run.metrics["started"].value == 1


def test_sigterm_to_gittrack_is_forwarded(repo: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "gittrack", "run", "--", "bash", "-c",
                             "echo ready; exec sleep 120"],
                            cwd=repo, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    assert gittrack.get_run(run_refs(repo)[0].rpartition("/")[2]).status == "killed"


def test_missing_command_fails_the_run(repo: Path) -> None:
    proc = gittrack_run(repo, "run", "--", "no-such-program-xyz")
    assert proc.returncode == 1 and "no-such-program-xyz" in proc.stderr
    assert gittrack.get_run(run_refs(repo)[0].rpartition("/")[2]).status == "failed"


def test_run_usage_errors(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("run").code == 2
    result = cli("run", "-P", "novalue", "--", "true")
    assert result.code == 2 and "KEY=VALUE" in result.err
    (repo / "bad.yaml").write_text("- a list\n")
    result = cli("run", "--params-file", "bad.yaml", "--", "true")
    assert result.code == 1 and "mapping" in result.err
    assert run_refs(repo) == []


@pytest.mark.parametrize("args", [("log-metric", "loss", "0.5"), ("log-param", "a", "1"),
                                  ("set-tag", "k", "v")])
def test_log_commands_need_a_run(repo: Path, cli, args: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    result = cli(*args)
    assert result.code == 1 and "GITTRACK_RUN_ID is not set" in result.err
    assert run_refs(repo) == []


def test_log_metric_rejects_text(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("log-metric", "loss", "high")
    assert result.code == 2


def test_nested_gittrack_run_is_a_child_run(repo: Path) -> None:
    proc = gittrack_run(repo, "run", "-n", "outer", "--", sys.executable, "-m", "gittrack",
                        "run", "-n", "inner", "--", "bash", "-c", "gittrack log-metric m 1")
    assert proc.returncode == 0, proc.stderr
    runs = {r.name: r for r in (gittrack.get_run(ref.rpartition("/")[2]) for ref in run_refs(repo))}
    assert set(runs) == {"outer", "inner"}
    assert runs["inner"].info["parent"] == runs["outer"].id and "m" in runs["inner"].metrics
    assert runs["outer"].metrics == {}


def test_a_child_in_a_separate_git_dir_layout_logs_at_work_tree_paths(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "--separate-git-dir", str(tmp_path / "sep.git"), "work")
    work = tmp_path / "work"
    (work / "train.py").write_text(
        "import gittrack\n"
        "open('model.txt', 'w').write('weights')\n"
        "gittrack.log_artifact('model.txt')\n")
    git(work, "add", "train.py")
    git(work, "commit", "-q", "-m", "initial")
    proc = gittrack_run(work, "run", "--", sys.executable, "train.py")
    assert proc.returncode == 0, proc.stderr
    (ref,) = run_refs(work)
    artifacts = yaml.safe_load(git(work, "show", f"{ref}:.gittrack/run/artifacts.yaml"))
    assert sorted(artifacts) == ["logs/output.log", "model.txt"]  # not work/model.txt


def test_log_param_and_set_tag_join_the_active_run(repo: Path) -> None:
    proc = gittrack_run(repo, "run", "-e", "shell", "--", "bash", "-c",
                        "gittrack log-param depth 4 && gittrack log-param name forest && "
                        "gittrack set-tag team planning")
    assert proc.returncode == 0, proc.stderr
    (ref,) = run_refs(repo)
    run = gittrack.get_run(ref.rpartition("/")[2])
    assert run.params == {"depth": 4, "name": "forest"}  # typed as YAML reads them
    assert run.tags["team"] == "planning" and run.status == "finished"
    assert "depth: 4" in git(repo, "show", f"{ref}:.gittrack/run/params.yaml")


def test_the_script_given_to_gittrack_run_is_captured_even_untracked(repo: Path) -> None:
    (repo / "fresh.py").write_text("print('fresh')\n")  # never `git add`ed
    (repo / "notes.txt").write_text("not code\n")
    proc = gittrack_run(repo, "run", "--", sys.executable, "fresh.py", "--epochs", "3")
    assert proc.returncode == 0, proc.stderr
    ref = run_refs(repo)[0]
    assert git(repo, "show", f"{ref}:fresh.py") == "print('fresh')\n"
    tree = git(repo, "ls-tree", "-r", "--name-only", ref).split()
    assert "notes.txt" not in tree
    info = gittrack.get_run(ref.rpartition("/")[2]).info
    assert info["untracked"] == ["notes.txt"] and info["dirty"] is True
    assert git(repo, "status", "--porcelain").splitlines() == ["?? fresh.py", "?? notes.txt"]
