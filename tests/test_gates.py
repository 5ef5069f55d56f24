"""gittrack gate and promote --if-gate: rules, the bootstrap's error rates, reports, promotion."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import git
from markdown_it import MarkdownIt

import gittrack
from gittrack.core.errors import InvalidInputError
from gittrack.gates import EVALUATES_TAG, GROUP_TAG, rules, stats
from gittrack.registry import tags

NOISE = 0.01  # seed-to-seed spread of the synthetic metric: 1 % of its value


# -- rules ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text, ref, value, holds", [
    ("rmse <= ref * 1.02", 100.0, 102.0, True),
    ("rmse <= ref * 1.02", 100.0, 102.1, False),
    ("rmse <= +2%", 100.0, 102.0, True),
    ("auc >= -1%", 0.80, 0.7921, True),
    ("auc >= -1%", 0.80, 0.79, False),
    ("mae <= +5", 10.0, 15.0, True),
    ("metrics.mae < +5", 10.0, 15.0, False),
    ("latency_ms < 250", None, 249.0, True),
    ("accuracy >= ref - 0.01", 0.9, 0.889, False),
    ("`val loss` <= (ref + 1) / 2", 3.0, 2.0, True),
])
def test_rules_long_and_short_forms(text: str, ref: float | None, value: float, holds: bool) -> None:
    rule = rules.parse(text)
    assert rule.holds(value, ref) is holds
    assert rule.uses_ref is (ref is not None)


@pytest.mark.parametrize("text", ["rmse", "rmse == ref", "rmse <= ref ** 2", "rmse <= 2%",
                                  "rmse <= __import__('os')", "rmse <= ref +", "<= ref"])
def test_bad_rules_are_refused_with_the_forms(text: str) -> None:
    with pytest.raises(InvalidInputError):
        rules.parse(text)


# -- the statistics -------------------------------------------------------------------------
def _trial(seed: int, regression: float) -> str:
    rng = np.random.default_rng(seed)
    reference = 100 * (1 + NOISE * rng.standard_normal(5))
    candidate = 100 * (1 + regression) * (1 + NOISE * rng.standard_normal(5))
    outcome = stats.compare(rules.parse("rmse <= ref"), candidate.tolist(), reference.tolist())
    return outcome.verdict


def test_five_seeds_a_side_catch_a_3_percent_regression_and_pass_no_change() -> None:
    seeds = range(1000, 1020)  # 20 fixed trials
    regressed = [_trial(s, 0.03) for s in seeds]
    unchanged = [_trial(s, 0.0) for s in seeds]
    assert regressed.count("fail") >= 19, regressed
    assert unchanged.count("pass") >= 19, unchanged


def test_error_rates_over_many_trials() -> None:
    n = 400
    misses = sum(_trial(s, 0.03) == "pass" for s in range(n))
    false_alarms = sum(_trial(s, 0.0) == "fail" for s in range(n))
    assert misses / n <= 0.03 and false_alarms / n <= 0.07, (misses, false_alarms)


def test_single_runs_are_flagged_and_missing_values_fail() -> None:
    rule = rules.parse("rmse <= +2%")
    single = stats.compare(rule, [101.0], [100.0])
    assert single.verdict == "pass" and single.certainty == "single sample"
    assert "single sample" in single.reason and single.sure is None
    assert stats.compare(rule, [103.0], [100.0]).verdict == "fail"
    missing = stats.compare(rule, [101.0], [])
    assert missing.verdict == "fail" and missing.certainty == "missing"
    noisy = stats.compare(rules.parse("rmse <= ref"), [99.0, 104.0, 98.0], [100.0, 101.0, 99.0])
    assert noisy.verdict == "pass" and noisy.certainty == "inconclusive"
    assert stats.compare(rules.parse("rmse <= ref"), [99.0, 104.0, 98.0], [100.0, 101.0, 99.0],
                         inconclusive="fail").verdict == "fail"


# -- real runs -----------------------------------------------------------------------------
def make_group(values: list[float], experiment: str = "forecasting", group: str | None = None,
               params: dict[str, object] | None = None, tags_: dict[str, str] | None = None,
               model: bool = True) -> list[str]:
    """Ended runs, one a value of rmse, sharing a group tag; returns their ids."""
    ids = []
    for seed, value in enumerate(values):
        with gittrack.start_run(experiment=experiment) as run:
            run.log_params(params or {})
            run.log_metrics({"rmse": value, "mae": value * 0.8})
            run.set_tags(tags_ or {})
            if group:
                run.set_tags({GROUP_TAG: group, "gittrack.seed": str(seed)})
            if model:
                md5 = hashlib.md5(f"{run.id}".encode()).hexdigest()
                run.record(["a", "model", {"md5": md5 + ".dir", "size": 1, "nfiles": 1,
                                           "kind": "model"}])
        ids.append(run.id)
    return ids


def _prod(values: list[float], group: str = "prod-seeds") -> list[str]:
    ids = make_group(values, group=group, params={"model": "linear"})
    gittrack.register_model(ids[0], "forecaster")
    gittrack.promote("forecaster", 1, "prod")
    return ids


def test_gate_against_prod_passes_a_better_group_and_fails_a_worse_one(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _prod([100.0, 101.0, 99.5, 100.4, 100.2])
    better = make_group([97.0, 96.5, 97.4, 96.8, 97.1], group="better", params={"model": "forest"})
    worse = make_group([103.0, 103.4, 102.8, 103.3, 102.9], group="worse", params={"model": "forest"})
    result = cli("gate", better[0], "--against", "models:/forecaster/prod", "--rule", "rmse <= ref")
    assert result.code == 0, result.err + result.out
    assert "PASS" in result.out and "5 runs" in result.out and "pass (confident)" in result.out
    assert "param model: linear -> forest" in result.out
    result = cli("gate", worse[2], "--against", "forecaster/prod", "--rule", "rmse <= +1%",
                 "--json")
    assert result.code == 1
    doc = json.loads(result.out)
    assert doc["verdict"] == "fail" and doc["reference"]["version"] == 1
    assert len(doc["candidate"]["runs"]) == 5 and len(doc["reference"]["runs"]) == 5
    rule = doc["rules"][0]
    assert rule["certainty"] == "confident" and rule["sure"] < 0.05
    assert rule["delta_ci"][0] > 0 and rule["n_candidate"] == 5


def test_single_runs_say_so(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    base = make_group([100.0], params={"model": "linear"})[0]
    cand = make_group([99.0], params={"model": "forest"})[0]
    assert cli("baseline", "set", base).code == 0
    result = cli("gate", cand, "--rule", "rmse <= ref")  # against the baseline by default
    assert result.code == 0 and "single sample" in result.out


def test_markdown_report_is_commonmark_with_the_table_and_the_chart(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _prod([100.0, 101.0, 99.5])
    cand = make_group([98.0, 97.0, 98.5], group="cand", params={"model": "forest"})
    chart = repo / "out" / "gate.png"
    result = cli("gate", cand[0], "--against", "models:/forecaster/prod", "--rule",
                 "rmse <= ref * 1.02", "--rule", "mae <= +5%", "--format", "md", "--chart",
                 str(chart), "--chart-url", "https://ci.example/gate.png")
    assert result.code == 0, result.err
    html = MarkdownIt("commonmark").enable("table").render(result.out)
    assert html.count("<table>") == 2  # the rules, the params that changed
    assert ">rule</th>" in html and "<code>rmse &lt;= ref * 1.02</code>" in html
    assert "<code>mae &lt;= +5%</code>" in html and "PASS" in html
    assert '<img src="https://ci.example/gate.png"' in html
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_usage_errors_exit_2_and_missing_runs_exit_1(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    cand = make_group([1.0])[0]
    assert cli("gate", cand, "--rule", "rmse ==").code == 2
    assert cli("gate", cand).code == 2  # no rules anywhere
    result = cli("gate", cand, "--rule", "rmse <= ref")
    assert result.code == 1 and "has no baseline" in result.err
    assert cli("gate", "nothing", "--rule", "rmse <= ref").code == 1


def test_configured_gate_with_match_uses_runs_that_scored_prod_on_the_same_data(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (repo / ".gittrack").mkdir(exist_ok=True)
    (repo / ".gittrack" / "config.yaml").write_text(yaml.safe_dump({"gates": {"forecaster": {
        "against": "models:/forecaster/prod", "rules": ["rmse <= +1%"],
        "match": ["params.test_month"]}}}))
    make_group([100.0], params={"test_month": "2025-06"})
    gittrack.register_model(gittrack.query_runs(output_format="list")[0].id, "forecaster")
    gittrack.promote("forecaster", 1, "prod")
    cand = make_group([90.0, 91.0, 90.5], group="july", params={"test_month": "2025-07"})
    result = cli("gate", cand[0], "--gate", "forecaster")
    assert result.code == 1 and "test_month='2025-07'" in result.err
    make_group([95.0], experiment="monitoring", params={"test_month": "2025-07"},
               tags_={EVALUATES_TAG: "forecaster/v1"}, model=False)
    result = cli("gate", cand[0], "--json")  # the only configured gate
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["gate"] == "forecaster" and doc["reference"]["evaluations"] is True
    assert doc["rules"][0]["reference"] == 95.0


def test_promote_if_gate_registers_and_promotes_only_a_pass(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (repo / ".gittrack").mkdir(exist_ok=True)
    (repo / ".gittrack" / "config.yaml").write_text("gates:\n  - rmse <= ref\n")
    first = make_group([100.0, 100.5, 99.8], group="g1")
    result = cli("promote", "forecaster", first[0], "prod", "--if-gate")
    assert result.code == 0, result.err
    assert "prod had no current version" in result.out
    worse = make_group([104.0, 104.5, 103.8], group="g2")
    before = git(repo, "tag", "--list")
    result = cli("promote", "forecaster", worse[1], "prod", "--if-gate")
    assert result.code == 1 and "Not promoted: prod stays at forecaster v1" in result.out
    assert git(repo, "tag", "--list") == before  # nothing registered, nothing promoted
    better = make_group([97.0, 96.5, 97.2], group="g3")
    result = cli("promote", "forecaster", better[2], "prod", "--if-gate", "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["promoted"] and doc["version"] == 2 and doc["previous"] == 1
    annotation = git(repo, "cat-file", "-p", "forecaster/prod/v2").partition("\n\n")[2]
    body = yaml.safe_load(annotation.partition("\n\n")[2])
    assert body["gate"]["verdict"] == "pass" and body["gate"]["against"] == "forecaster v1"
    assert body["gate"]["candidate_runs"] == 3 and body["gate"]["rules"][0]["rule"] == "rmse <= ref"
    assert gittrack.resolve_model_uri("models:/forecaster/prod").version.run == better[2]
    history = json.loads(cli("models", "history", "forecaster", "--json").out)
    assert history[-1]["gate"]["verdict"] == "pass"
    assert "pass" in cli("models", "history", "forecaster").out


def test_promotion_is_refused_when_the_stage_moved_after_the_gate(repo: Path) -> None:
    from gittrack.api import open_store
    from gittrack.core.errors import RegistryError
    from gittrack.registry.resolver import Registry

    a, b = make_group([1.0]), make_group([2.0])
    gittrack.register_model(a[0], "forecaster")
    gittrack.register_model(b[0], "forecaster")
    gittrack.promote("forecaster", 1, "prod")
    with pytest.raises(RegistryError, match="run the gate again"):
        Registry(open_store()).promote("forecaster", 2, "prod", expect_current=None)


def test_gate_field_round_trips_through_json_and_yaml() -> None:
    event = tags.Event("promote", "m", 2, "prod", "ab" * 8, "e", "model", None, "me",
                       tags.now(), 3, None, {"verdict": "pass", "rules": [{"sure": 1e-05,
                                                                           "x": "ü"}]})
    message = tags.format_message(event)
    body = message.partition("\n")[2]
    assert yaml.safe_load(body) == tags._fast_body(body)
    assert tags.parse_message(message) == event


def test_run_repeat_makes_a_group_of_seeds(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (repo / "seeded.py").write_text(
        "import os, gittrack\n"
        "gittrack.log_metric('rmse', 100 + int(os.environ['GITTRACK_SEED']))\n")
    result = cli("run", "--repeat", "3", "-e", "seeds", "--", "python", "seeded.py")
    assert result.code == 0, result.err
    runs = gittrack.query_runs(["seeds"], output_format="list")
    assert sorted(r.metrics["rmse"].value for r in runs) == [100.0, 101.0, 102.0]
    assert len({r.tags[GROUP_TAG] for r in runs}) == 1
    assert sorted(r.tags["gittrack.seed"] for r in runs) == ["0", "1", "2"]
    gate = cli("gate", runs[0].id, "--against", runs[1].id, "--rule", "rmse <= ref", "--json")
    assert json.loads(gate.out)["rules"][0]["n_candidate"] == 3  # the group against itself
