"""Drift from profiles: Evidently's test choice and verdicts, and `gittrack drift`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from gittrack.artifacts.profiles import profile_frame
from gittrack.monitoring import drift
from gittrack.monitoring.drift import DriftSettings

CATEGORIES = ["north", "south", "east", "west"]


def synthetic(rows: int, seed: int, shift: float = 0.0, new_category: bool = False
              ) -> pd.DataFrame:
    """10 columns: 7 numerical of different shapes, an integer code, 2 categorical."""
    rng = np.random.default_rng(seed)
    out = pd.DataFrame({
        "normal": rng.normal(50, 10, rows) + shift * 10,
        "wide": rng.normal(0, 1000, rows),
        "lognormal": rng.lognormal(3, 0.5, rows),
        "uniform": rng.uniform(-5, 5, rows),
        "exponential": rng.exponential(2.0, rows),
        "offset": rng.normal(1e6, 1, rows),
        "counts": rng.poisson(40, rows).astype(float),
        "code": rng.integers(0, 6, rows),
        "region": rng.choice(CATEGORIES, rows, p=[0.4, 0.3, 0.2, 0.1]),
        "tier": rng.choice(["gold", "silver"], rows, p=[0.3, 0.7]),
    })
    if new_category:
        out.loc[rng.random(rows) < 0.15, "region"] = "central"
    return out


def flagged(reference: pd.DataFrame, current: pd.DataFrame) -> list[str]:
    return [c.column for c in drift.compare(profile_frame(reference), profile_frame(current)).drifted]


def test_no_shift_flags_nothing_and_a_half_std_shift_flags_exactly_that_column() -> None:
    """The acceptance test: 10 columns, 20 seeds."""
    quiet = shifted = 0
    for seed in range(20):
        reference = synthetic(5000, seed)
        quiet += flagged(reference, synthetic(2000, 1000 + seed)) == []
        shifted += flagged(reference, synthetic(2000, 1000 + seed, shift=0.5)) == ["normal"]
    assert quiet >= 19 and shifted >= 19, (quiet, shifted)


def test_a_new_category_is_flagged() -> None:
    for seed in range(5):
        report = drift.compare(profile_frame(synthetic(5000, seed)),
                               profile_frame(synthetic(2000, 50 + seed, new_category=True)))
        region = report.column("region")
        assert region.drifted and region.test == "jensenshannon"
        assert region.new_categories == ["central"]
        assert [c.column for c in report.drifted] == ["region"]
    small = drift.compare(profile_frame(synthetic(400, 1)),
                          profile_frame(synthetic(300, 2, new_category=True)))
    assert small.column("region").test == "chisquare" and small.column("region").drifted


def test_the_tests_chosen_are_evidentlys() -> None:
    large = drift.compare(profile_frame(synthetic(3000, 1)), profile_frame(synthetic(3000, 2)))
    assert {c.column: c.test for c in large.columns} == {
        **{n: "wasserstein" for n in ("normal", "wide", "lognormal", "uniform", "exponential",
                                      "offset", "counts")},
        "code": "jensenshannon", "region": "jensenshannon", "tier": "jensenshannon"}
    assert large.column("code").kind == "categorical"  # an integer column with <= 10 values
    small = drift.compare(profile_frame(synthetic(1000, 1)), profile_frame(synthetic(800, 2)))
    assert {c.column: c.test for c in small.columns} == {
        **{n: "ks" for n in ("normal", "wide", "lognormal", "uniform", "exponential",
                             "offset", "counts")},
        "code": "chisquare", "region": "chisquare", "tier": "z"}


def test_small_samples_give_scipys_exact_numbers() -> None:
    """Up to 1,024 distinct values a profile is exact: the p-values are scipy's on raw data."""
    ref, cur = synthetic(600, 3), synthetic(700, 4, shift=0.2)
    report = drift.compare(profile_frame(ref), profile_frame(cur))
    for name in ("normal", "lognormal", "offset"):
        assert math.isclose(report.column(name).score, stats.ks_2samp(ref[name], cur[name])[1],
                            rel_tol=1e-9)
    r, c = ref["region"].value_counts(), cur["region"].value_counts()
    expected = stats.chisquare(c[CATEGORIES], r[CATEGORIES] * len(cur) / len(ref))[1]
    assert math.isclose(report.column("region").score, expected, rel_tol=1e-9)
    p1, p2 = (ref["tier"] != "gold").mean(), (cur["tier"] != "gold").mean()
    pooled = (p1 * len(ref) + p2 * len(cur)) / (len(ref) + len(cur))
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / len(ref) + 1 / len(cur)))
    assert math.isclose(report.column("tier").score, 2 * (1 - stats.norm.cdf(abs(z))),
                        rel_tol=1e-9)


def test_large_samples_match_the_raw_distances() -> None:
    ref, cur = synthetic(200_000, 5), synthetic(100_000, 6, shift=0.3)
    report = drift.compare(profile_frame(ref), profile_frame(cur))
    for name in ("normal", "wide", "lognormal", "uniform", "exponential", "offset", "counts"):
        raw = stats.wasserstein_distance(ref[name], cur[name]) / np.std(ref[name])
        assert abs(report.column(name).score - raw) <= 0.002, name
    shares = [ref["region"].value_counts(normalize=True)[CATEGORIES],
              cur["region"].value_counts(normalize=True)[CATEGORIES]]
    assert math.isclose(report.column("region").score, distance.jensenshannon(*shares),
                        rel_tol=1e-9)
    assert report.column("normal").drifted and not report.column("wide").drifted


def test_ks_on_large_data_uses_the_asymptotic_distribution() -> None:
    ref, cur = synthetic(900, 7), synthetic(50_000, 8, shift=0.1)
    score = drift.compare(profile_frame(ref), profile_frame(cur)).column("normal").score
    assert abs(score - stats.ks_2samp(ref["normal"], cur["normal"])[1]) < 0.01


def test_settings_from_the_config() -> None:
    settings = DriftSettings.from_config({"thresholds": {"wasserstein": 0.6}, "drift_share": 0.9,
                                          "ignore": ["offset"], "tests": {"wide": "psi"}})
    report = drift.compare(profile_frame(synthetic(3000, 1)),
                           profile_frame(synthetic(3000, 2, shift=0.5)), settings)
    assert not report.column("normal").drifted  # 0.5 < 0.6
    assert "offset" not in [c.column for c in report.columns]
    assert report.column("wide").test == "psi" and report.drift_share == 0.9
    for bad in ({"thresholds": {"nope": 1}}, {"drift_share": "half"}, {"colums": ["a"]},
                {"tests": {"a": "t-test"}}):
        with pytest.raises(Exception, match="config.yaml"):
            DriftSettings.from_config(bad)


def test_columns_that_are_not_tested() -> None:
    ref = pd.DataFrame({"id": [f"u{i}" for i in range(3000)], "x": np.arange(3000.0),
                        "when": pd.date_range("2025-01-01", periods=3000, freq="h"),
                        "gone": np.ones(3000)})
    cur = ref.drop(columns=["gone"]).assign(x=np.nan)
    report = drift.compare(profile_frame(ref), profile_frame(cur))
    notes = {c.column: (c.kind, c.tested, c.note) for c in report.columns}
    assert notes["id"][:2] == ("text", False) and notes["when"][:2] == ("datetime", False)
    assert "no values" in str(notes["x"][2]) and "not in the current" in str(notes["gone"][2])
    assert report.share == 0.0 and not report.dataset_drift


# -- the command --------------------------------------------------------------------------
def train_and_register(repo: Path) -> str:
    """A run that read production_hours.csv, registered as forecaster v1 in prod."""
    from sklearn.linear_model import LinearRegression

    import gittrack
    data = synthetic(3000, 11)
    data.to_csv(repo / "production_hours.csv", index=False)
    gittrack.set_tracking_repo(repo)
    with gittrack.start_run(run_name="train", experiment="forecasting") as run:
        run.log_input("production_hours.csv", name="production_hours")
        model = LinearRegression().fit(data[["uniform", "wide"]], data["normal"])
        run.log_metric("rmse", 10.0)
        run.log_model(model, "model", input_example=data[["uniform", "wide"]].head(3))
    gittrack.register_model(f"runs:/{run.id}/model", "forecaster")
    gittrack.promote("forecaster", 1, "prod")
    return run.id


def test_drift_from_the_model_in_prod_finds_its_training_data(repo: Path, cli: Any) -> None:
    """The acceptance test: `gittrack drift models:/forecaster/prod june.csv`, no path given."""
    run_id = train_and_register(repo)
    (repo / "production_hours.csv").unlink()  # the stored profile is enough
    synthetic(2000, 12, shift=0.5).to_csv(repo / "june.csv", index=False)
    result = cli("drift", "models:/forecaster/prod", "june.csv")
    assert result.code == 0, result.err  # one column of ten: no dataset drift
    assert f"models:/forecaster/prod (v1, run {run_id[:8]}, production_hours)" in result.out
    assert "1 of 10 columns drifted (normal)" in result.out
    doc = json.loads(cli("drift", "models:/forecaster/prod", "june.csv", "--json").out)
    assert doc["drifted"] == ["normal"] and doc["reference"]["run"] == run_id
    assert doc["reference"]["version"] == 1 and doc["reference"]["rows"] == 3000
    by_run = cli("drift", run_id[:8], "june.csv", "--format", "md")
    assert by_run.code == 0 and "| normal | numerical | wasserstein |" in by_run.out


def test_drift_exit_codes_and_outputs(repo: Path, cli: Any) -> None:
    synthetic(3000, 1).to_parquet(repo / "ref.parquet")
    synthetic(2000, 2).to_csv(repo / "same.csv", index=False)
    moved = synthetic(2000, 3, shift=3.0)
    for name in ("wide", "lognormal", "uniform", "exponential", "offset"):
        moved[name] = moved[name] * 1.5 + moved[name].std()
    moved.to_csv(repo / "moved.csv", index=False)
    assert cli("drift", "ref.parquet", "same.csv").code == 0
    drifted = cli("drift", "ref.parquet", "moved.csv", "--html", "report.html")
    assert drifted.code == 1 and "the dataset drifts" in drifted.out
    page = (repo / "report.html").read_text()
    assert page.count('class="drift-chart"') == 10 and "<script" not in page
    assert cli("profile", "ref.parquet", "-o", "ref.json").code == 0  # a profile as REFERENCE
    assert cli("drift", "ref.json", "moved.csv").code == 1
    (repo / ".gittrack").mkdir(exist_ok=True)
    (repo / ".gittrack" / "config.yaml").write_text("drift:\n  drift_share: 0.95\n")
    assert cli("drift", "ref.parquet", "moved.csv").code == 0  # thresholds from the config
    (repo / ".gittrack" / "config.yaml").write_text("drift:\n  drift_shares: 0.95\n")
    bad_config = cli("drift", "ref.parquet", "moved.csv")
    assert bad_config.code == 1 and "Unknown drift setting 'drift_shares'" in bad_config.err
    unknown = cli("drift", "nowhere", "moved.csv")
    assert unknown.code == 1 and "is neither a file" in unknown.err
    assert cli("drift", "ref.parquet").code == 2
    assert "Example:" in cli("drift", "--help").out


def test_drift_outside_a_repository(tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
                                    ) -> None:
    monkeypatch.chdir(tmp_path)
    synthetic(1500, 1).to_csv("a.csv", index=False)
    synthetic(1500, 2).to_csv("b.csv", index=False)
    assert cli("drift", "a.csv", "b.csv").code == 0
    needs_repo = cli("drift", "models:/forecaster/prod", "b.csv")
    assert needs_repo.code == 1 and "needs a gittrack repository" in needs_repo.err


def write_request_logs(directory: Path, frames: list[pd.DataFrame], version: int = 1) -> None:
    """Request logs as `gittrack serve --log-requests` writes them: one Parquet file a flush."""
    directory.mkdir(parents=True, exist_ok=True)
    for seq, part in enumerate(frames):
        logged = part.assign(prediction=np.zeros(len(part)),
                             _gittrack_model_version=np.full(len(part), version, dtype=np.int64),
                             _gittrack_time=pd.Timestamp("2025-06-30T12:00:00", tz="UTC"))
        logged.to_parquet(directory / f"requests-20250630T1200{seq:02d}-4242-{seq}.parquet")


def test_current_can_be_a_directory_of_request_logs(repo: Path, cli: Any) -> None:
    synthetic(3000, 1).to_csv(repo / "ref.csv", index=False)
    shifted = synthetic(3000, 2, shift=0.5)
    write_request_logs(repo / "requests", [shifted.iloc[:1000], shifted.iloc[1000:]])
    doc = json.loads(cli("drift", "ref.csv", "requests", "--json").out)
    assert doc["drifted"] == ["normal"] and doc["current"]["rows"] == 3000
    assert [c["column"] for c in doc["columns"]] == list(shifted.columns)  # no log columns


def _damaged(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Ways a profile from a pulled run may differ from what gittrack writes."""
    column = doc["columns"][0]
    broken = []
    for key, value in (("histogram", "x"), ("count", "many"), ("histogram", {"edges": [1]}),
                       ("kind", None), ("values", 7)):
        changed = json.loads(json.dumps(doc))
        changed["columns"][0] = {**column, key: value}
        broken.append(changed)
    return broken


def test_a_damaged_profile_is_refused_with_a_sentence() -> None:
    from gittrack.artifacts.profiles import Profile
    from gittrack.core.errors import InvalidInputError

    frame = pd.DataFrame({"a": np.arange(500, dtype=float), "c": ["x", "y"] * 250})
    good = profile_frame(frame)
    doc = good.to_dict()
    for bad in ({**doc, "rows": "10"}, {**doc, "columns": [1, 2]},
                {**doc, "columns": [{"kind": "numerical"}]}):
        with pytest.raises(InvalidInputError, match="damaged"):
            Profile.from_dict(bad)
    for bad in _damaged(doc):
        try:
            other = Profile.from_dict(bad)
        except InvalidInputError:
            continue
        for reference, current in ((other, good), (good, other)):
            # either side: a verdict, or one sentence that the profile is damaged; nothing else
            try:
                drift.compare(reference, current)
            except InvalidInputError as exc:
                assert "damaged" in str(exc)
