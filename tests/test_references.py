"""Registry references wherever a run is named: diff, show, checkout, get, log, baseline, API."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import git
from test_registry import make_run

import gittrack
from gittrack.api import open_store
from gittrack.registry import references


def _two_versions() -> tuple[str, str]:
    first, second = make_run("first", 380.0), make_run("second", 300.0)
    gittrack.register_model(first, "forecaster")
    gittrack.register_model(second, "forecaster")
    gittrack.promote("forecaster", 1, "prod")
    return first, second


def test_resolve_names_runs_versions_stages_uris_and_tags(repo: Path) -> None:
    first, second = _two_versions()
    store = open_store()
    commit_1 = gittrack.get_run(first).commit
    for spec in ("forecaster/prod", "models:/forecaster/prod", "forecaster@prod",
                 "models:/forecaster/1", "forecaster/v1", "forecaster/prod/v1", first):
        target = references.resolve(store, spec)
        assert target.commit == commit_1, spec
    assert references.resolve(store, "forecaster/prod").version.version == 1  # type: ignore[union-attr]
    assert references.resolve(store, "forecaster/prod").label == "forecaster/prod (v1)"
    assert references.resolve(store, "forecaster/latest").commit == gittrack.get_run(second).commit
    assert gittrack.get_run("models:/forecaster/prod").id == first


def test_a_run_named_like_a_stage_keeps_its_meaning(repo: Path) -> None:
    _two_versions()
    own = make_run("prod", 1.0, experiment="forecaster")
    assert references.resolve(open_store(), "forecaster/prod").commit == gittrack.get_run(own).commit
    assert references.resolve(open_store(), "models:/forecaster/prod").version is not None


def test_missing_stage_says_so_and_unknown_names_say_where_to_look(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _two_versions()
    result = cli("show", "forecaster/staging")
    assert result.code == 1
    assert "Stage 'staging' of model 'forecaster' has no current version" in result.err
    result = cli("show", "nothing/prod")
    assert result.code == 1 and "No run, registry tag or model version 'nothing/prod'" in result.err


def test_diff_show_log_and_baseline_take_registry_references(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    first, second = _two_versions()
    for ref in ("forecaster/prod", "models:/forecaster/prod"):
        result = cli("diff", second, ref, "--json")
        assert result.code == 0, result.err
        doc = json.loads(result.out)
        assert [r["id"] for r in doc["runs"]] == [gittrack.get_run(second).id, first]
        rmse = next(e for e in doc["metrics"] if e["key"] == "rmse")
        assert rmse["values"] == [300.0, 380.0]
    shown = json.loads(cli("show", "models:/forecaster/prod", "--format", "json").out)
    assert shown["run"]["id"] == first
    logged = json.loads(cli("log", "--baseline", "forecaster/prod", "--format", "json").out)
    deltas = {r["id"]: r["vs_baseline"]["metrics"]["rmse"] for r in logged}
    assert deltas[gittrack.get_run(second).id] == -80.0 and deltas[first] == 0.0
    table = cli("log", "--where", "metrics.rmse < 350", "--baseline", "forecaster/prod")
    assert "300 (-80)" in table.out and "first" not in table.out
    assert cli("baseline", "set", "forecaster/prod").code == 0
    assert gittrack.get_baseline("forecasting").id == first  # type: ignore[union-attr]
    assert gittrack.diff_runs([second, "forecaster/v1"])["runs"][1]["id"] == first


def test_checkout_and_get_take_registry_references(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (repo / "model").mkdir()
    (repo / "model" / "weights.txt").write_text("w=1\n")
    with gittrack.start_run(run_name="real", experiment="forecasting") as run:
        run.log_metric("rmse", 1.0)
        run.log_artifacts(repo / "model", "model")  # one directory artifact
    gittrack.register_model(run.id, "forecaster", "model")
    gittrack.promote("forecaster", 1, "prod")
    shutil.rmtree(repo / "model")
    result = cli("checkout", "models:/forecaster/prod")
    assert result.code == 0, result.err
    assert (repo / "model" / "weights.txt").read_text() == "w=1\n"
    out = repo / "got.txt"
    assert cli("get", "forecaster/prod", "model/weights.txt", "-o", str(out)).code == 0
    assert out.read_text() == "w=1\n"
    assert "forecaster/prod/v1" in git(repo, "tag", "--list")
