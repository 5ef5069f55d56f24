"""The command line: help with examples, exit codes, one-sentence errors, formats."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

import gittrack
from gittrack.cli.main import COMMANDS
from tests.conftest import git


def _command_paths() -> list[tuple[str, ...]]:
    """Every visible command and subcommand, e.g. ("models", "resolve")."""
    import click

    from gittrack.cli.main import cli as group

    def walk(cmd: click.Command, path: tuple[str, ...]) -> list[tuple[str, ...]]:
        found = [path] if path else []
        if isinstance(cmd, click.Group):
            ctx = click.Context(cmd)
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    found += walk(sub, (*path, name))
        return found

    return walk(group, ())


def test_every_registered_command_is_listed() -> None:
    assert {p[0] for p in _command_paths()} | {"hook"} >= set(COMMANDS)


@pytest.mark.parametrize("path", _command_paths(), ids=" ".join)
def test_every_command_has_help_ending_with_an_example(cli, path: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    result = cli(*path, "--help")
    assert result.code == 0
    usage = result.out.split("Options:")[0].rstrip()
    assert "Example" in usage
    assert usage.splitlines()[-1].strip().startswith("gittrack ")


def test_top_level_help_and_usage_error(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("--help").code == 0
    result = cli("no-such-command")
    assert result.code == 2 and "No such command" in result.err


def test_init_creates_repository_and_config(tmp_path: Path, cli,  # type: ignore[no-untyped-def]
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "proj"
    monkeypatch.chdir(tmp_path)
    result = cli("init", str(target))
    assert result.code == 0 and "Initialized an empty git repository" in result.out
    assert (target / ".gittrack" / "config.yaml").is_file()
    assert (target / ".gittrack" / ".gitignore").read_text().count("/run/") == 1
    assert "Commit .gittrack/ with your code" in result.out
    again = cli("init", str(target))
    assert again.code == 0 and "wrote" not in again.out and "Commit" not in again.out
    assert git(target, "rev-parse", "--verify", "-q", "HEAD", check=False) == ""


def test_init_error_path(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = cli("init", str(blocker))
    assert result.code == 2 and "is a file" in result.err


def _three_runs() -> list[str]:
    gittrack.set_experiment("cli")
    ids = []
    for i, rmse in enumerate((3.0, 2.0, 1.0)):
        with gittrack.start_run(run_name=f"run{i}") as run:
            run.log_params({"depth": i, "fixed": "same"})
            run.log_metric("rmse", rmse)
        ids.append(run.id)
    return ids


def test_log_formats(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    ids = _three_runs()
    table = cli("log")
    assert table.code == 0
    lines = table.out.splitlines()
    assert lines[0].split()[:6] == ["id", "name", "experiment", "status", "start", "duration"]
    assert "params.depth" in lines[0] and "params.fixed" not in lines[0]  # only what varies
    assert [line.split()[1] for line in lines[1:]] == ["run2", "run1", "run0"]  # newest first
    rows = json.loads(cli("log", "--format", "json").out)
    assert [r["id"] for r in rows] == ids[::-1]
    parsed = list(csv.DictReader(io.StringIO(cli("log", "--format", "csv").out)))
    assert [float(r["metrics.rmse"]) for r in parsed] == [1.0, 2.0, 3.0]
    assert len(cli("log", "-n", "2", "--format", "json").out and
               json.loads(cli("log", "-n", "2", "--format", "json").out)) == 2
    assert cli("log", "other").code == 1
    assert cli("log", "-n", "0").code == 2


def test_show_resolves_ids_prefixes_and_names(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    ids = _three_runs()
    for spec in (ids[0], ids[0][:6], "cli/run0", "run0"):
        result = cli("show", spec, "--format", "json")
        assert result.code == 0
        assert json.loads(result.out)["run"]["id"] == ids[0]
    missing = cli("show", "nope")
    assert missing.code == 1
    assert missing.err == ("gittrack: error: No run, registry tag or model version 'nope' in this "
                           "repository; list runs with `gittrack log` and models with "
                           "`gittrack models`.\n")


def test_a_shared_name_means_the_newest_run_with_a_note(repo: Path, cli, caplog) -> None:  # type: ignore[no-untyped-def]
    ids = []
    for exp in ("a", "b"):
        with gittrack.start_run(experiment=exp, run_name="same") as run:
            ids.append(run.id)
    caplog.clear()
    result = cli("show", "same", "--format", "json")
    assert result.code == 0 and json.loads(result.out)["run"]["id"] == ids[1]
    note = caplog.messages[-1]
    assert note.startswith("'same' names 2 runs; using the newest, " + ids[1][:8])
    assert "'same~1'" in note and ids[0][:8] in note
    assert json.loads(cli("show", "same~1", "--format", "json").out)["run"]["id"] == ids[0]
    caplog.clear()
    assert json.loads(cli("show", "a/same", "--format", "json").out)["run"]["id"] == ids[0]
    assert caplog.messages == []  # one run by that <experiment>/<name>: no note
    assert "the oldest is 'same~1'" in cli("show", "same~2").err
    typo = cli("show", "smae")
    assert typo.code == 1 and "did you mean 'same'" in typo.err


def test_experiments(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _three_runs()
    with gittrack.start_run(experiment="other"):
        pass
    rows = json.loads(cli("experiments", "--format", "json").out)
    assert [(r["experiment"], r["runs"]) for r in rows] == [("cli", 3), ("other", 1)]
    assert cli("experiments", "--format", "nope").code == 2


def test_closed_pipe_exits_quietly(repo: Path) -> None:
    _three_runs()
    proc = subprocess.run(
        f"{sys.executable} -m gittrack log --format csv | head -c 10", shell=True, cwd=repo,
        capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == ""


def test_unexpected_error_exit_code_and_traceback_flag(repo: Path) -> None:
    # A bug (any exception that is not a GittrackError) maps to exit code 3.
    code = ("import sys; from gittrack.cli import main as m; import gittrack.api as api\n"
            "def boom(*a, **k): raise RuntimeError('kaput')\n"
            "api.open_store = boom\n"
            "sys.argv = ['gittrack'] + sys.argv[1:]\n"
            "m.main()\n")
    plain = subprocess.run([sys.executable, "-c", code, "log"], cwd=repo, capture_output=True,
                           text=True)
    assert plain.returncode == 3
    assert plain.stderr.strip() == ("gittrack: unexpected error: RuntimeError: kaput. "
                                    "Rerun with --traceback and report it.")
    traced = subprocess.run([sys.executable, "-c", code, "--traceback", "log"], cwd=repo,
                            capture_output=True, text=True)
    assert traced.returncode == 3 and "Traceback (most recent call last)" in traced.stderr


def test_experiment_and_shared_name_resolve_newest_first(repo: Path, cli, caplog) -> None:  # type: ignore[no-untyped-def]
    ids = []
    for _ in range(3):
        with gittrack.start_run(experiment="a", run_name="twin") as run:
            ids.append(run.id)
    for spec, want in (("a/twin", 2), ("a/twin~1", 1), ("a/twin~2", 0), ("twin~2", 0)):
        result = cli("show", spec, "--format", "json")
        assert result.code == 0 and json.loads(result.out)["run"]["id"] == ids[want], spec
    assert "'a/twin~1', 'a/twin~2'" in caplog.messages[0]
    assert "using the 3rd newest" in caplog.messages[2]


def test_version_is_the_package_version(cli) -> None:  # type: ignore[no-untyped-def]
    import gittrack

    result = cli("--version")
    assert result.code == 0
    assert result.out.strip().endswith(gittrack.__version__) and gittrack.__version__ in result.out


