"""The registry commands: help with examples, output for people and scripts, error paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import git
from test_registry import make_run, register_three

import gittrack

# Every command's help and example: tests/test_cli.py walks all of them.


def test_register_promote_rollback_and_list(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    run_id = make_run("brisk", 380.25)
    result = cli("register", "forecaster", run_id, "-m", "first try")
    assert result.code == 0, result.err
    assert "Registered forecaster v1 (tag forecaster/v1)" in result.out
    out = cli("register", "forecaster", f"{make_run('second', 300.5)}:model", "--json")
    assert json.loads(out.out)["version"] == 2
    assert cli("promote", "forecaster", "v1", "prod").out.startswith("Promoted forecaster v1")
    assert cli("promote", "forecaster", "2", "prod").code == 0
    listed = cli("models")
    assert listed.code == 0 and listed.err == ""
    lines = listed.out.splitlines()
    assert lines[0].split() == ["model", "versions", "stage", "version", "run", "experiment",
                                "metrics"]
    assert "prod" in lines[1] and "v2" in lines[1] and "rmse=300.5" in lines[1]
    assert "latest" in lines[2]
    rolled = cli("rollback", "forecaster", "prod", "-m", "v2 is unstable")
    assert rolled.code == 0
    assert "Demoted forecaster v2 from prod (tag forecaster/prod/v2!)" in rolled.out
    history = json.loads(cli("models", "history", "forecaster", "--json").out)
    assert [e["action"] for e in history] == ["register", "register", "promote", "promote",
                                              "demote"]
    assert history[0]["note"] == "first try" and history[-1]["note"] == "v2 is unstable"
    prod_only = cli("models", "history", "forecaster", "--stage", "prod")
    assert len(prod_only.out.splitlines()) == 1 + 3
    resolved = json.loads(cli("models", "resolve", "forecaster@prod", "--json").out)
    assert resolved["version"] == 1 and resolved["run"] == run_id
    assert resolved["artifact_path"] == "model" and resolved["artifact_md5"].endswith(".dir")
    text = cli("models", "resolve", "forecaster/latest")
    assert "version: 2" in text.out


def test_init_writes_stages_and_a_typo_is_refused_with_did_you_mean(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("init").code == 0
    assert "stages: [staging, prod]" in (repo / ".gittrack" / "config.yaml").read_text()
    register_three()
    for version in ("v1", "v2"):
        assert cli("promote", "forecaster", version, "prod").code == 0  # no staging first
    before = cli("models", "--json").out
    tags_before = git(repo, "for-each-ref", "refs/tags")
    refused = cli("promote", "forecaster", "v1", "prdo")
    assert refused.code == 1
    assert "did you mean 'prod'?" in refused.err
    assert "`stages: [staging, prod, prdo]`" in refused.err
    assert cli("models", "--json").out == before
    assert git(repo, "for-each-ref", "refs/tags") == tags_before
    assert cli("rollback", "forecaster", "prod").code == 0  # the stage that exists still works
    far = cli("promote", "forecaster", "v1", "canary")
    assert far.code == 1 and "did you mean" not in far.err and "prdo" not in far.err


def test_configured_stages_allow_any_order_unless_asked(repo: Path) -> None:
    from gittrack.core.errors import RegistryError

    (repo / ".gittrack").mkdir(exist_ok=True)
    (repo / ".gittrack" / "config.yaml").write_text("stages: [staging, prod]\n")
    register_three()
    gittrack.promote("forecaster", 3, "prod")
    with pytest.raises(RegistryError, match="not one of the stages"):
        gittrack.promote("forecaster", 3, "Staging".lower() + "x")
    assert gittrack.list_models()[0].stages == {"prod": 3}


def test_models_json_lists_versions_and_stages(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    register_three()
    gittrack.promote("forecaster", 2, "staging")
    doc = json.loads(cli("models", "--json").out)
    assert doc[0]["model"] == "forecaster" and doc[0]["latest"] == 3
    assert doc[0]["stages"] == {"staging": 2}
    assert [v["version"] for v in doc[0]["versions"]] == [1, 2, 3]
    assert doc[0]["shown"][0]["metrics"] == {"rmse": 8.0}


def test_no_models_yet(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("models")
    assert result.code == 0 and "No registered models yet" in result.out


@pytest.mark.parametrize("args,message", [
    (("register", "forecaster", "nosuchrun"), "No run 'nosuchrun'"),
    (("register", "bad/name", "nosuchrun"), "Model name 'bad/name' is not allowed"),
    (("promote", "forecaster", "v1", "prod"), "No model 'forecaster'"),
    (("promote", "forecaster", "one", "prod"), "not a version number"),
    (("rollback", "forecaster", "prod"), "No model 'forecaster'"),
    (("models", "history", "forecaster"), "No model 'forecaster'"),
    (("models", "resolve", "forecaster"), "is not one of models:/NAME/STAGE"),
    (("models", "resolve", "forecaster/prod"), "No model 'forecaster'"),
])
def test_errors_exit_1_with_one_sentence(repo: Path, cli, args: tuple[str, ...],  # type: ignore[no-untyped-def]
                                         message: str) -> None:
    result = cli(*args)
    assert result.code == 1
    assert result.err.startswith("gittrack: error: ") and message in result.err
    assert result.out == ""


def test_registry_errors_after_registration(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    register_three()
    for args, message in [
        (("promote", "forecaster", "v1", "Prod"), "such as 'prod'"),
        (("promote", "forecaster", "v9", "prod"), "no v9"),
        (("rollback", "forecaster", "prod"), "no current version"),
        (("models", "resolve", "forecaster/prod"), "has no current version"),
        (("promote", "forecastr", "v1", "prod"), "No model 'forecastr' in the registry; did you "
                                                  "mean 'forecaster'?"),
        (("models", "history", "forcaster"), "did you mean 'forecaster'?"),
        (("promote", "forecaster", "v1", "latest"), "'latest' names the newest version"),
    ]:
        result = cli(*args)
        assert result.code == 1 and message in result.err, (args, result.err)


def test_usage_errors_exit_2(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("register", "forecaster").code == 2
    assert cli("promote", "forecaster", "v1").code == 2
    assert cli("models", "nosuch").code == 2
