"""Data profiles: one streaming pass, deterministic, stored by log_input beside the data pointer."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gittrack.artifacts import profiles, sketches
from gittrack.artifacts.profiles import Profile
from gittrack.artifacts.sketches import Histogram
from tests.conftest import git


def frame(rows: int = 5000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = pd.DataFrame({
        "x": rng.normal(100, 15, rows), "n": rng.integers(0, 4, rows),
        "c": rng.choice(["a", "b", "c"], rows, p=[0.5, 0.3, 0.2]),
        "flag": rng.integers(0, 2, rows).astype(bool)})
    out.loc[3, "x"] = np.nan
    out.loc[4, "x"] = np.inf
    return out


def column(profile: Profile, name: str) -> dict[str, Any]:
    found = profile.column(name)
    assert found is not None
    return found


def test_a_profile_holds_every_statistic() -> None:
    data = frame()
    p = profiles.profile_frame(data)
    assert p.rows == 5000 and p.names == ["x", "n", "c", "flag"]
    x = column(p, "x")
    finite = data["x"][np.isfinite(data["x"])]
    assert (x["count"], x["nulls"], x["infinite"]) == (4998, 1, 1)
    assert x["min"] == finite.min() and x["max"] == finite.max()
    assert math.isclose(x["mean"], finite.mean(), rel_tol=1e-12)
    assert math.isclose(x["std"], finite.std(ddof=0), rel_tol=1e-9)
    hist = Histogram.from_dict(x["histogram"])
    assert sum(hist.counts) == 4998 and len(hist.keys) <= sketches.MAX_BINS
    for q in ("0.05", "0.5", "0.95"):  # within one bin of the exact quantile
        assert abs(x["quantiles"][q] - finite.quantile(float(q))) <= hist.width
    n = column(p, "n")  # few values: held exactly, quantiles as NumPy computes them
    assert n["distinct"] == 4 and n["histogram"]["exact"] is True
    for q, value in n["quantiles"].items():
        assert value == np.quantile(data["n"], float(q))
    c = column(p, "c")
    counts = data["c"].value_counts()
    assert c["top"] == [[k, int(counts[k])] for k in ("a", "b", "c")] and c["other"] == 0
    assert column(p, "flag")["top"][0][0] in ("true", "false")


def test_profiles_are_deterministic_whatever_the_format_or_chunks(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch
                                                                  ) -> None:
    data = frame(rows=20000)
    data.to_csv(tmp_path / "d.csv", index=False)
    data.to_parquet(tmp_path / "d.parquet", row_group_size=3000)
    from_csv = profiles.profile_path(tmp_path / "d.csv")
    assert profiles.profile_path(tmp_path / "d.csv").to_json() == from_csv.to_json()
    monkeypatch.setattr(profiles, "CSV_BLOCK", 1 << 14)  # many blocks
    small_blocks = profiles.profile_path(tmp_path / "d.csv")
    parquet = profiles.profile_path(tmp_path / "d.parquet")
    for other in (small_blocks, parquet):  # the grid and counts never depend on chunks
        for name in ("x", "n"):
            a, b = column(from_csv, name), column(other, name)
            assert a["histogram"] == b["histogram"] and a["quantiles"] == b["quantiles"]
            assert (a["min"], a["max"], a["count"]) == (b["min"], b["max"], b["count"])
            assert math.isclose(a["mean"], b["mean"], rel_tol=1e-12)
        assert column(from_csv, "c")["top"] == column(other, "c")["top"]


@settings(deadline=None, max_examples=60)
@given(st.lists(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False), min_size=1,
                max_size=3000), st.randoms(use_true_random=False), st.integers(1, 5))
def test_the_histogram_depends_on_the_values_only(values: list[float], rnd: Any,
                                                  pieces: int) -> None:
    """Any order, any chunking: the same grid and counts (order-independent sketch)."""
    whole = sketches.NumericSketch()
    whole.update(np.array(values))
    shuffled = list(values)
    rnd.shuffle(shuffled)
    parts = sketches.NumericSketch()
    for chunk in np.array_split(np.array(shuffled), pieces):
        parts.update(chunk)
    a, b = whole.to_dict(), parts.to_dict()
    assert a["histogram"] == b["histogram"] and a["quantiles"] == b["quantiles"]
    hist = Histogram.from_dict(a["histogram"])
    assert sum(hist.counts) == len(values) and len(hist.keys) <= sketches.MAX_BINS
    lo = math.ldexp(hist.keys[0], hist.exp)  # every value inside its bin
    hi = math.ldexp(hist.keys[-1] + 1, hist.exp)
    assert lo <= min(values) and max(values) < hi
    if len(set(values)) <= sketches.MAX_BINS:  # few values: one bin a value, to float precision
        assert hist.exact and len(hist.keys) <= len(set(values))


def test_zeros_and_far_apart_grids() -> None:
    """A chunk of zeros never coarsens the grid; grids 1,000 powers of two apart still align."""
    from gittrack.monitoring import drift
    one = sketches.NumericSketch()
    one.update(np.array([0.0, 0.25]))
    two = sketches.NumericSketch()
    two.update(np.array([0.0]))
    two.update(np.array([0.25]))
    assert one.to_dict()["histogram"] == two.to_dict()["histogram"]
    zeros = pd.DataFrame({"x": np.zeros(2000)})
    spread = pd.DataFrame({"x": np.random.default_rng(0).normal(0, 1, 2000)})
    report = drift.compare(profiles.profile_frame(zeros), profiles.profile_frame(spread))
    assert report.column("x").drifted and report.column("x").score > 1


def test_outliers_keep_the_fine_grid() -> None:
    values = np.concatenate([np.random.default_rng(1).normal(0, 1, 100000), [1e9, -1e9]])
    sketch = sketches.NumericSketch()
    sketch.update(values)
    hist = Histogram.from_dict(sketch.to_dict()["histogram"])
    assert hist.width <= 0.02  # only non-empty bins count: two outliers cost two bins


def test_csv_types_that_change_after_the_first_block(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profiles, "CSV_BLOCK", 1 << 12)
    rows = ["a,b"] + [f"{i},{i}" for i in range(3000)] + ["2.5,text"]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    p = profiles.profile_path(tmp_path / "t.csv")
    assert column(p, "a")["dtype"] == "double" and column(p, "a")["max"] == 2999.0
    assert column(p, "b")["kind"] == "categorical" and column(p, "b")["count"] == 3001
    assert p.rows == 3001


def test_request_logs_skip_bookkeeping_and_predictions(tmp_path: Path) -> None:
    logs = tmp_path / "requests"
    logs.mkdir()
    for seq in range(3):
        batch = frame(rows=100, seed=seq)[["x", "c"]].assign(
            prediction=1.0, _gittrack_model_version=2,
            _gittrack_time=pd.Timestamp("2025-06-01", tz="UTC"))
        batch.to_parquet(logs / f"requests-20250601T00000{seq}-123-{seq}.parquet")
    p = profiles.profile_path(logs)
    assert p.names == ["x", "c"] and p.rows == 300
    plain = frame(rows=10)[["x"]].assign(prediction=1.0)  # not a request log: kept
    plain.to_parquet(tmp_path / "plain.parquet")
    assert profiles.profile_path(tmp_path / "plain.parquet").names == ["x", "prediction"]


def test_profile_errors(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(Exception, match="only CSV, TSV and Parquet"):
        profiles.profile_path(tmp_path / "notes.txt")
    with pytest.raises(Exception, match="No file or directory"):
        profiles.profile_path(tmp_path / "missing.csv")
    with pytest.raises(Exception, match="not a gittrack data profile"):
        Profile.from_json(b'{"rows": 1}')


def test_log_input_stores_the_profile_in_the_run_record(repo: Path) -> None:
    import gittrack
    data = frame()
    data.to_csv(repo / "train.csv", index=False)
    with gittrack.start_run(run_name="p") as run:
        entry = run.log_input("train.csv", name="train")
        frame_entry = run.log_input(data.head(100), name="head")
        run.log_input("README.md", name="readme")  # not a table: no profile
    assert entry["profile"] == f"profiles/{entry['md5']}.json"
    assert frame_entry["profile"] == f"profiles/{frame_entry['md5']}.json"
    ref = f"refs/gittrack/runs/default/{run.id}"
    stored = git(repo, "show", f"{ref}:.gittrack/run/{entry['profile']}")  # plain git reads it
    assert json.loads(stored) == profiles.profile_path(repo / "train.csv").to_dict()
    inputs = gittrack.get_run(run.id).inputs
    assert "profile" not in inputs["readme"] and inputs["train"]["profile"] == entry["profile"]
    with gittrack.start_run(run_id=run.id) as resumed:  # a resumed run keeps its profiles
        resumed.log_param("again", 1)
    assert entry["md5"] in git(repo, "ls-tree", "-r", "--name-only", ref, ".gittrack/run/profiles")
    with gittrack.start_run(run_name="none") as run:
        assert "profile" not in run.log_input("train.csv", profile=False)


def test_a_crashed_run_keeps_its_profile(repo: Path) -> None:
    from tests.conftest import run_python
    frame(rows=50).to_csv(repo / "d.csv", index=False)
    proc = run_python("import gittrack, os\nrun = gittrack.start_run(run_name='dies')\n"
                      "run.log_input('d.csv')\nprint(run.id, flush=True)\nos._exit(9)\n", repo)
    run_id = proc.stdout.split()[0]
    import gittrack
    gittrack.set_tracking_repo(repo)
    run = gittrack.get_run(run_id)  # recovery replays the journal
    assert run.status == "crashed" and run.inputs["d.csv"]["profile"].startswith("profiles/")
    ref = f"refs/gittrack/runs/default/{run_id}"
    assert git(repo, "show", f"{ref}:.gittrack/run/{run.inputs['d.csv']['profile']}")


def test_profile_command(repo: Path, cli: Any) -> None:
    frame().to_csv(repo / "d.csv", index=False)
    shown = cli("profile", "d.csv")
    assert shown.code == 0 and "5,000 rows, 4 columns" in shown.out and "a (" in shown.out
    saved = cli("profile", "d.csv", "-o", "p.json")
    assert saved.code == 0 and Profile.from_json((repo / "p.json").read_bytes()).rows == 5000
    assert json.loads(cli("profile", "d.csv", "--json").out)["gittrack_profile"] == 1
    assert "Example:" in cli("profile", "--help").out
    missing = cli("profile", "nope.csv")
    assert missing.code == 1 and "No file or directory" in missing.err
    assert cli("profile").code == 2
