"""gittrack log: --where, --sort, --columns and the formats, on real runs."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

import gittrack


@pytest.fixture
def runs(repo: Path) -> list[str]:
    ids = []
    for i, (model, rmse) in enumerate((("rf", 0.3), ("xgb", 0.2), ("rf", 0.5), ("lin", None))):
        with gittrack.start_run(run_name=f"r{i}", experiment="exp" if i < 3 else "other") as run:
            run.log_param("model", model)
            if rmse is not None:
                run.log_metric("rmse", rmse)
            run.set_tag("team", "ml")
            ids.append(run.id)
    return ids


def names(out: str) -> list[str]:
    return [row["name"] for row in csv.DictReader(io.StringIO(out))]


def test_where_filters_with_or_not_and_parentheses(runs: list[str], cli: Any) -> None:
    out = cli("log", "--where", "params.model = 'rf' OR metrics.rmse < 0.25", "--format", "csv")
    assert names(out.out) == ["r2", "r1", "r0"]
    out = cli("log", "--where", "NOT (params.model = 'rf') AND metrics.rmse IS NOT NULL",
              "--format", "csv")
    assert names(out.out) == ["r1"]


def test_sort_ascending_descending_and_limit(runs: list[str], cli: Any) -> None:
    assert names(cli("log", "--sort", "metrics.rmse", "--format", "csv").out) == \
        ["r1", "r0", "r2", "r3"]  # a run without the metric comes last
    assert names(cli("log", "--sort", "-metrics.rmse", "--format", "csv").out) == \
        ["r2", "r0", "r1", "r3"]
    assert names(cli("log", "--sort=-rmse", "-n", "2", "--format", "csv").out) == ["r2", "r0"]
    assert names(cli("log", "--sort", "params.model", "--sort", "-rmse", "--format", "csv").out) \
        == ["r3", "r2", "r0", "r1"]
    # SQL's way of saying the same: one value with commas and ASC/DESC
    assert names(cli("log", "--sort", "params.model ASC, metrics.rmse DESC", "--format",
                     "csv").out) == ["r3", "r2", "r0", "r1"]


def test_columns_choose_what_is_shown(runs: list[str], cli: Any) -> None:
    out = cli("log", "exp", "--columns", "id,name,rmse,tags.team", "--format", "csv").out
    lines = out.splitlines()
    assert lines[0] == "id,name,rmse,tags.team"
    assert lines[1] == f"{runs[2]},r2,0.5,ml"
    table = cli("log", "--columns", "name,metrics.rmse", "-n", "1").out.splitlines()
    assert table[0].split() == ["name", "metrics.rmse"]
    rows = json.loads(cli("log", "--columns", "name,params.model", "--format", "json").out)
    assert rows[0] == {"name": "r3", "params.model": "lin"}
    md = cli("log", "--columns", "name", "--format", "md").out
    assert md.splitlines()[:3] == ["| name |", "|---|", "| r3 |"]


def test_experiment_argument_and_default_view_are_kept(runs: list[str], cli: Any) -> None:
    assert names(cli("log", "exp", "--format", "csv").out) == ["r2", "r1", "r0"]
    table = cli("log").out.splitlines()
    assert table[0].split()[:6] == ["id", "name", "experiment", "status", "start", "duration"]
    unknown = cli("log", "nothing")
    assert unknown.code == 1 and unknown.err == (
        "gittrack: error: No experiment 'nothing' in this repository; list them with "
        "`gittrack experiments`.\n")
    assert cli("log", "exp", "--where", "metrics.rmse > 1e9").out.strip() == "No runs match."


def test_bad_filter_sort_or_column_is_an_error(runs: list[str], cli: Any) -> None:
    bad = cli("log", "--where", "metrics.rmse <")
    assert bad.code == 1 and bad.err.startswith("gittrack: error:")
    assert cli("log", "--sort", "bogus.key").code == 1
    sort_err = cli("log", "--sort", "metrics.rmse <").err
    assert sort_err == ("gittrack: error: Cannot order by 'metrics.rmse <'; name one column "
                        "such as 'metrics.rmse', optionally followed by ASC or DESC.\n")
    assert cli("log", "--columns", "name,nope.x").code == 1


def test_a_column_no_run_has_is_a_warning_with_a_suggestion(runs: list[str], cli: Any) -> None:
    typo = cli("log", "--where", "metrics.rsme < 1", "--sort", "params.modle", "--format", "csv")
    assert typo.code == 0 and names(typo.out) == []
    assert "gittrack: warning: no run has metrics.rsme; did you mean metrics.rmse?" in typo.err
    assert "gittrack: warning: no run has params.modle; did you mean params.model?" in typo.err
    far = cli("log", "--where", "metrics.accuracy > 0.5")
    assert far.err == "gittrack: warning: no run has metrics.accuracy\n"
    fine = cli("log", "--where", "metrics.rmse < 1", "--sort", "-params.model")
    assert fine.code == 0 and fine.err == ""


def test_a_wide_table_keeps_the_columns_most_runs_have(repo: Path, cli: Any) -> None:
    for i in range(3):
        with gittrack.start_run(experiment="wide"):
            gittrack.log_params({f"p{k:02d}": i * k for k in range(10)})
            gittrack.log_metrics({f"m{k:02d}": i + k for k in range(10)})
    with gittrack.start_run(experiment="wide"):
        gittrack.log_params({"p00": 9, "rare": 1})
    table = cli("log")
    header = table.out.splitlines()[0].split()
    shown = [h for h in header if h.startswith(("params.", "metrics."))]
    assert len(shown) == 12 and "params.rare" not in shown
    assert "params.p00" in shown and "metrics.m00" in shown
    assert table.err.startswith("gittrack: 9 more varying column(s) not shown (")
    assert "name an experiment, pick them with --columns" in table.err
    assert "name an experiment" not in cli("log", "wide").err  # one is named already
    every = cli("log", "--format", "csv").out.splitlines()[0].split(",")
    assert len([h for h in every if h.startswith(("params.", "metrics."))]) == 21
    assert cli("log", "--columns", "name,params.rare").err == ""


def test_log_help_has_examples(cli: Any) -> None:
    out = cli("log", "--help").out
    assert "Example:" in out and "--where" in out
