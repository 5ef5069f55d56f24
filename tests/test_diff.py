"""gittrack diff and baselines, on real runs; checked with the plain git CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import gittrack
from gittrack import api
from gittrack.tracking.state import RunState
from tests.conftest import git

INPUT = {"path": "data/train.csv", "md5": "a" * 32, "size": 120, "rows": 10,
         "columns": ["x", "y"]}
ARTIFACT = {"md5": "c" * 32, "size": 5, "nfiles": 1, "kind": "file"}


def log_run(name: str, alpha: float, data_md5: str) -> str:
    with gittrack.start_run(run_name=name, experiment="exp") as run:
        run.log_params({"alpha": alpha, "model": "rf"})
        run.log_metric("rmse", 0.5)
        run.record(["i", "train", {**INPUT, "md5": data_md5}])
        run.record(["a", "model.pkl", ARTIFACT])
        return run.id


def bump_package(run_id: str) -> str:
    """Rewrite the run's commit with one package at another version (what another
    environment would have recorded); returns that package's name."""
    store = api.open_store()
    ref = store.ref_of(run_id)
    assert ref is not None
    commit = store.repo.resolve_ref(ref)
    assert commit is not None
    state = RunState.from_commit(store, commit)
    packages = dict(state.info["packages"])
    name = sorted(packages)[0]
    packages[name] = "0.0.1"
    state.info["packages"] = packages
    parent = store.repo.commit_parents(commit)[0]
    new = store.write_commit(store.code_tree_of(commit), parent, state.files(store),
                             state.message())
    store.repo.set_ref(ref, new)
    return name


@pytest.fixture
def pair(repo: Path) -> tuple[str, str, str]:
    """Runs A and B differing in one param, one line of code, one data file and one package."""
    a = log_run("run-a", 0.1, "a" * 32)
    (repo / "train.py").write_text("print('training')\nprint('more epochs')\n")
    b = log_run("run-b", 0.2, "b" * 32)
    package = bump_package(b)
    return a, b, package


def test_diff_lists_exactly_the_four_differences(pair: tuple[str, str, str], cli: Any) -> None:
    a, b, package = pair
    result = cli("diff", a, b, "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert [r["id"] for r in doc["runs"]] == [a, b]
    assert doc["params"] == [{"key": "alpha", "values": [0.1, 0.2], "change": "changed",
                              "present": [True, True], "a": 0.1, "b": 0.2}]
    assert [(e["key"], e["change"], e["fields"]) for e in doc["inputs"]] == \
        [("train", "changed", ["md5"])]
    assert [(e["key"], e["b"]) for e in doc["packages"]] == [(package, "0.0.1")]
    assert [(e["key"], e["change"]) for e in doc["code"]] == [("train.py", "changed")]
    for section in ("metrics", "tags", "environment", "artifacts"):
        assert doc[section] == [], section
    blobs = git(".", "ls-tree", doc["runs"][1]["commit"], "train.py").split()[2]
    assert doc["code"][0]["b"] == blobs


def test_diff_all_lists_unchanged_entries_too(pair: tuple[str, str, str], cli: Any) -> None:
    a, b, _package = pair
    doc = json.loads(cli("diff", a, b, "--json", "--all").out)
    assert {"key": "rmse", "values": [0.5, 0.5], "change": "same", "present": [True, True],
            "a": 0.5, "b": 0.5, "delta": 0.0} in doc["metrics"]
    assert [e["change"] for e in doc["artifacts"]] == ["same"]
    assert "model" in [e["key"] for e in doc["params"]]


def test_diff_code_is_gits_own_patch_without_the_record(pair: tuple[str, str, str],
                                                         cli: Any) -> None:
    a, b, _package = pair
    result = cli("diff", a, b, "--code")
    commits = [json.loads(cli("diff", a, b, "--json").out)["runs"][i]["commit"] for i in (0, 1)]
    expected = git(".", "diff", *commits, "--", "train.py")
    assert expected.strip() in result.out
    assert "+print('more epochs')" in result.out
    assert ".gittrack/run" not in result.out
    doc = json.loads(cli("diff", a, b, "--json", "--code").out)
    assert doc["patch"] == expected


def test_diff_table_and_markdown(pair: tuple[str, str, str], cli: Any) -> None:
    a, b, _package = pair
    table = cli("diff", a, b).out.splitlines()
    assert table[0].split()[:2] == ["section", "key"]
    assert any(line.split()[:2] == ["params", "alpha"] for line in table)
    assert any(line.startswith("inputs") and "md5=aaaaaaaaaa" in line for line in table)
    md = cli("diff", a, b, "--md").out
    assert md.startswith("| section | key |") and "| code | train.py |" in md


def test_diff_side_by_side_of_three_runs(repo: Path, cli: Any) -> None:
    ids = [log_run(f"r{i}", alpha, "a" * 32) for i, alpha in enumerate((0.1, 0.2, 0.2))]
    doc = json.loads(cli("diff", *ids, "--json").out)
    assert doc["params"] == [{"key": "alpha", "values": [0.1, 0.2, 0.2], "change": "changed",
                              "present": [True, True, True]}]
    header = cli("diff", *ids).out.splitlines()[0]
    assert all(f"r{i} (" in header for i in range(3)) and "change" not in header


def test_diff_tells_a_none_param_from_a_missing_one(repo: Path, cli: Any) -> None:
    with gittrack.start_run(run_name="with-none") as a:
        gittrack.log_params({"seed": None, "depth": 3})
    with gittrack.start_run(run_name="without") as b:
        gittrack.log_params({"depth": 3})
    doc = json.loads(cli("diff", a.id, b.id, "--json").out)
    assert doc["params"] == [{"key": "seed", "values": [None, None], "change": "removed",
                              "present": [True, False], "a": None, "b": None}]
    row = [line.split() for line in cli("diff", a.id, b.id).out.splitlines()
           if line.startswith("params")]
    assert row == [["params", "seed", "null", "-", "removed"]]


def test_diff_identical_runs_says_so(repo: Path, cli: Any) -> None:
    a, b = log_run("x", 0.1, "a" * 32), log_run("y", 0.1, "a" * 32)
    assert cli("diff", a, b).out.strip() == "No differences."


def test_diff_against_the_baseline(pair: tuple[str, str, str], cli: Any) -> None:
    a, b, _package = pair
    missing = cli("diff", b)
    assert missing.code == 1 and "gittrack baseline set" in missing.err
    assert cli("baseline", "set", "run-a").code == 0
    assert json.loads(cli("diff", b, "--json").out) == json.loads(cli("diff", a, b, "--json").out)
    assert gittrack.diff_runs([b])["params"][0]["key"] == "alpha"


def test_diff_errors_and_help(repo: Path, cli: Any) -> None:
    result = cli("diff", "nope", "nada")
    assert result.code == 1 and "model version 'nope'" in result.err
    assert cli("diff").code == 2
    assert "Example:" in cli("diff", "--help").out


def test_baseline_is_a_ref_shared_by_push(pair: tuple[str, str, str], cli: Any,
                                          remote: Path) -> None:
    a, _b, _package = pair
    assert cli("baseline", "show").out.strip() == "No baselines yet."
    assert cli("baseline", "show", "exp").code == 1
    out = cli("baseline", "set", a)
    assert out.code == 0 and "Baseline of 'exp'" in out.out
    refs = git(".", "for-each-ref", "--format=%(refname) %(objectname)", "refs/gittrack/baselines/")
    name, commit = refs.split()
    assert name == "refs/gittrack/baselines/exp"
    assert f"run: {a}" in git(".", "cat-file", "-p", commit)
    shown = json.loads(cli("baseline", "show", "exp", "--format", "json").out)
    assert shown == [{"experiment": "exp", "id": a, "name": "run-a", "status": "finished",
                      "commit": commit}]
    assert gittrack.get_baseline("exp").id == a  # type: ignore[union-attr]
    git(".", "push", "-q", str(remote), "refs/gittrack/*:refs/gittrack/*")
    assert git(remote, "rev-parse", "refs/gittrack/baselines/exp").strip() == commit
    git(remote, "fsck", "--no-dangling")
    assert "Cleared" in cli("baseline", "clear", "exp").out
    assert git(".", "for-each-ref", "refs/gittrack/baselines/") == ""
    assert "had no baseline" in cli("baseline", "clear", "exp").out
    assert "Example:" in cli("baseline", "set", "--help").out


def test_log_shows_deltas_against_the_baseline(repo: Path, cli: Any) -> None:
    ids = []
    for i, rmse in enumerate((0.5, 0.4, 0.75)):
        with gittrack.start_run(run_name=f"r{i}", experiment="exp") as run:
            run.log_metric("rmse", rmse)
            ids.append(run.id)
    assert "delta" not in cli("log", "--format", "csv").out
    gittrack.set_baseline("r0")
    table = cli("log").out
    assert "r0 (baseline)" in table and "(-0.1)" in table and "(+0.25)" in table
    lines = cli("log", "--format", "csv").out.splitlines()
    assert lines[0].endswith(",metrics.rmse,delta.metrics.rmse")
    assert [line.rsplit(",", 1)[1] for line in lines[1:]] == ["0.25", "-0.09999999999999998",
                                                               "0.0"]
    rows = json.loads(cli("log", "--format", "json").out)
    assert rows[0]["vs_baseline"]["run"] == ids[0]
