"""Filters and orderings computed with arrays agree with the row-by-row definitions.

`gittrack log --where` and `search_runs` test each row's truth with numpy over whole columns
and shortlist the first rows of an ordering by the first key. These tests build index tables
of mixed values (numbers, NaN, -0.0, strings, booleans, lists, missing keys; the same column
encoded as floats in one segment and as distinct values in another) and check both against
`gittrack.query.filters.matches` and the full sort.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from gittrack.query import filters, search
from gittrack.query.index import Segment, Table, encode, row_json, summary_columns

MODELS = ("rf", "xgb", "lin", "", "RF", "r%f")


def summary(rng: random.Random, i: int, floats_only: bool) -> dict[str, Any]:
    """A run summary; with ``floats_only`` every metric and params.alpha is a float (the
    segment stores them as float columns), else they mix types."""
    def metric() -> Any:
        roll = rng.random()
        if roll < 0.1:
            return None
        if roll < 0.15:
            return float("nan")
        if roll < 0.2:
            return rng.choice((0.0, -0.0, float("inf"), -float("inf")))
        if not floats_only and roll < 0.3:
            return rng.choice((1, 2, "x", True))
        return round(rng.uniform(0, 10), 1)

    metrics = {k: v for k in ("rmse", "mae") if (v := metric()) is not None}
    alpha = rng.choice((0.5, 0.25, -0.0, 0.0, 1.0)) if floats_only else \
        rng.choice((0.5, "0.5", 1, True, None, [1, 2], "a'b"))
    params: dict[str, Any] = {"model": rng.choice(MODELS), "depth": rng.randrange(0, 6)}
    if alpha is not None:
        params["alpha"] = alpha
    tags = {"team": rng.choice(("ops", "ml"))} if rng.random() < 0.7 else {}
    start = None if rng.random() < 0.05 else f"2024-01-{rng.randrange(1, 29):02d}T00:00:00+00:00"
    return {"id": f"{rng.getrandbits(32):08x}{i:08x}", "name": f"run-{i}", "experiment": "e",
            "status": rng.choice(("finished", "failed")), "commit": f"{i:040x}",
            "start_time": start, "end_time": None, "user": "u", "baseline": None,
            "parent": None, "params": params, "metrics": metrics, "steps": {}, "tags": tags}


def table_of(seed: int, sizes: tuple[int, ...] = (300, 40, 200)) -> tuple[Table, list[dict]]:
    rng = random.Random(seed)
    segments, summaries = [], []
    for k, size in enumerate(sizes):
        part = [summary(rng, len(summaries) + i, floats_only=k % 2 == 0) for i in range(size)]
        summaries += part
        segments.append(Segment(encode(summary_columns(part), [row_json(s) for s in part]), None))
    return Table(segments), summaries


def flat(s: dict[str, Any]) -> dict[str, Any]:
    row = {"run_id": s["id"], "name": s["name"], "experiment": s["experiment"],
           "status": s["status"], "start_time": s["start_time"], "commit": s["commit"]}
    for section in ("params", "metrics", "tags"):
        row.update({f"{section}.{k}": v for k, v in s[section].items()})
    return row


FILTERS = [
    "metrics.rmse < 5", "metrics.rmse >= 5 OR metrics.mae < 2", "metrics.rmse = 0",
    "NOT metrics.rmse > 3", "metrics.rmse IN (1.5, 2.5, 0)", "metrics.rmse != 4.2",
    "metrics.rmse IS NULL", "metrics.mae IS NOT NULL AND params.model = 'rf'",
    "params.alpha = '0.5'", "params.alpha = 0.5", "params.alpha > 0.3", "params.alpha = '-0.0'",
    "params.alpha = 0", "params.model LIKE 'r%'", "params.model ILIKE 'R_'",
    "params.depth >= 3 AND NOT tags.team = 'ops'", "tags.team = 'ops' OR params.depth < 2",
    "NOT (params.model = 'xgb' OR metrics.rmse < 2)", "status = 'failed'",
    "params.model IN ('rf', 'xgb')", "metrics.nothing < 3",
]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("expr", FILTERS)
def test_truths_with_arrays_match_the_row_definition(seed: int, expr: str) -> None:
    table, summaries = table_of(seed)
    node = filters.parse(expr)
    got = (search.truth_array(node, table) == search.TRUE).tolist()
    want = [filters.matches(node, flat(s)) for s in summaries]
    assert got == want
    assert sum(want) not in (0, len(want)) or expr in (
        "metrics.nothing < 3", "params.alpha = '-0.0'", "params.alpha = 0")


ORDERS = [[], [("metrics.rmse", False)], [("metrics.rmse", True)], [("params.alpha", False)],
          [("params.alpha", True)], [("params.model", True), ("metrics.mae", False)],
          [("tags.team", False)], [("start_time", True)], [("metrics.nothing", True)]]


@pytest.mark.parametrize("seed", [4, 5])
@pytest.mark.parametrize("keys", ORDERS)
@pytest.mark.parametrize("limit", [1, 7, 60, 700])
def test_shortlisted_order_is_the_full_order(monkeypatch: pytest.MonkeyPatch, seed: int,
                                             keys: list[tuple[str, bool]], limit: int) -> None:
    table, _summaries = table_of(seed)
    rows = random.Random(seed).sample(range(table.n), 400)
    full = search.order(table, rows, keys)
    assert sorted(full) == sorted(rows)
    monkeypatch.setattr(search, "SHORTLIST_MIN", 0)
    assert search.order(table, rows, keys, limit) == full[:limit]


def test_take_reads_rows_and_columns_alike() -> None:
    table, summaries = table_of(6)
    rows = list(range(0, table.n, 7))
    for name in ("run_id", "params.alpha", "metrics.rmse", "tags.team", "params.nothing"):
        few = table.take(name, rows[:5])
        many = table.take(name, rows)
        want = [flat(summaries[r]).get(name) for r in rows]
        assert repr(many) == repr(want)  # repr: NaN and -0.0 compare as themselves
        assert repr(few) == repr(want[:5])


# -- on real runs: the MLflow-shaped prefilter and the cache of packed run refs ------------
def _log_mixed(n: int) -> list[str]:
    import gittrack

    ids = []
    for i in range(n):
        with gittrack.start_run(experiment="a b" if i % 3 else "c") as run:
            params: dict[str, Any] = {"model": ("rf", "xgb", "RF")[i % 3], "depth": i % 4}
            if i % 5:
                params["alpha"] = (0.5, None, 1, "0.5")[i % 4]
            run.log_params(params)
            if i % 6:
                run.log_metric("rmse", (float("inf"), float("nan"), 3.0, -1.5, 2.0)[i % 5])
            if i % 2:
                run.set_tag("team", ("ops", "ml")[i % 4 // 2])
            ids.append(run.id)
    gittrack.flush()
    return ids


MLFLOW_FILTERS = [
    "metrics.rmse < 2.5", "metrics.rmse > 1e308", "metrics.rmse != 3", "metrics.rmse = 2",
    "params.alpha = 'None'", "params.alpha = '0.5'", "params.alpha IS NULL",
    "params.alpha IS NOT NULL", "params.model LIKE 'r%'", "params.model ILIKE 'r%'",
    "tags.team = 'ops'", "tags.team IS NULL", "tags.mlflow.runName != ''",
    "params.depth = '2' and metrics.rmse >= -1.5", "params.nothing = 'None'",
]


def test_mlflow_search_with_the_index_prefilter_equals_row_by_row(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gittrack
    from gittrack.compat import search as mlsearch

    _log_mixed(30)
    with_prefilter = {f: gittrack.search_runs(filter_string=f, search_all_experiments=True)
                      for f in MLFLOW_FILTERS}
    monkeypatch.setattr(mlsearch, "_may_match", lambda table, clause: None)
    for f, frame in with_prefilter.items():
        plain = gittrack.search_runs(filter_string=f, search_all_experiments=True)
        assert frame["run_id"].tolist() == plain["run_id"].tolist(), f
    assert sum(len(f) for f in with_prefilter.values()) > 30


def test_packed_run_refs_are_cached_and_loose_refs_still_win(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    import gittrack
    from gittrack import api
    from gittrack.query.index import REFS_CACHE, Index

    ids = _log_mixed(12)
    subprocess.run(["git", "pack-refs", "--all"], cwd=repo, check=True)
    store = api.open_store()
    index = Index(store)

    def listed(experiments: list[str] | None = None) -> list[str]:
        table, rows = index.runs(experiments)
        return sorted(table.take("run_id", rows.tolist()))

    assert listed() == sorted(ids)
    assert (index.dir / REFS_CACHE).exists()  # written by the first read
    with monkeypatch.context() as patched:  # read through the cache: no ref listing
        patched.setattr(type(store), "refs", lambda *a: pytest.fail("refs were listed"))
        assert listed() == sorted(ids)
        assert listed(["a b"]) == sorted(i for k, i in enumerate(ids) if k % 3)
        assert listed(["c"]) == sorted(i for k, i in enumerate(ids) if k % 3 == 0)
    assert listed(["a\ud800b", "nothing"]) == []  # a name no ref can hold: no runs, no error
    # a packed run updated later gets a loose ref: the loose one's record is the one read

    with gittrack.start_run(run_id=ids[1]):
        gittrack.log_metric("late", 1.0)
    new = _log_mixed(2)
    gittrack.flush()
    table, rows = index.runs()
    got = table.take("run_id", rows.tolist())
    assert sorted(got) == sorted(ids + new) and len(got) == len(set(got))
    late = [r for r in rows.tolist() if table.take("run_id", [r])[0] == ids[1]]
    assert table.take("metrics.late", late) == [1.0]
    # a deleted run leaves the answers at once (packed-refs is rewritten)
    ref = store.ref_of(ids[2])
    subprocess.run(["git", "update-ref", "-d", ref], cwd=repo, check=True)
    assert ids[2] not in listed()
    # a damaged cache file is ignored, then rewritten
    (index.dir / REFS_CACHE).write_bytes(b"GTREFS1\n" + b"\x00" * 40)
    assert listed() == sorted(set(ids + new) - {ids[2]})


@pytest.mark.parametrize("sorted_file", [True, False])
def test_experiment_components_of_packed_refs_match_a_full_listing(
        tmp_path: Path, sorted_file: bool) -> None:
    from gittrack.core.gitio import packed_components

    rng = random.Random(9)
    comps = ["a", "a-x", "a.x", "a0", "a/b", "b%2Fc", "z", "é"]
    refs = {f"refs/gittrack/runs/{rng.choice(comps)}/{rng.getrandbits(64):016x}"
            for _ in range(500)}
    refs |= {"refs/gittrack/trash/q/0123456789abcdef", "refs/tags/v1", "refs/gittrack/runs/top"}
    lines = []
    for ref in sorted(refs, key=str.encode) if sorted_file else rng.sample(sorted(refs), len(refs)):
        lines.append(f"{rng.getrandbits(160):040x} {ref}\n")
        if ref.startswith("refs/tags/") or rng.random() < 0.05:
            lines.append(f"^{rng.getrandbits(160):040x}\n")
    header = "# pack-refs with: peeled fully-peeled sorted \n" if sorted_file else ""
    path = tmp_path / "packed-refs"
    path.write_bytes((header + "".join(lines)).encode())
    found = packed_components(path, "refs/gittrack/runs/")
    want = {r.split("/")[3] for r in refs if r.startswith("refs/gittrack/runs/") and r.count("/") >= 4}
    assert set(found) == want
    assert all(ref in refs and ref.split("/")[3] == comp for comp, ref in found.items())


def test_segments_made_after_the_refs_cache_are_merged_among_themselves(repo: Path) -> None:
    import subprocess

    from gittrack import api
    from gittrack.query.index import MAX_SEGMENTS, REFS_CACHE, Index

    ids = _log_mixed(6)
    subprocess.run(["git", "pack-refs", "--all"], cwd=repo, check=True)
    index = Index(api.open_store())
    index.runs()
    cache = (index.dir / REFS_CACHE).read_bytes()
    big = {p.name for p in index.dir.glob("*.seg")}
    for _ in range(MAX_SEGMENTS):  # each query after new runs adds a segment
        ids += _log_mixed(1)
        table, rows = index.runs()
        assert sorted(table.take("run_id", rows.tolist())) == sorted(ids)
        assert len(table.segments) <= MAX_SEGMENTS // 2 + 1
    assert (index.dir / REFS_CACHE).read_bytes() == cache  # still valid: never rewritten
    assert big <= {p.name for p in index.dir.glob("*.seg")}
