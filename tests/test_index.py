"""The summary index: derived, keyed by commit, never stale, and invisible in every output."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gittrack
from gittrack import api
from gittrack.core.records import dump_yaml, load_yaml
from gittrack.query import index
from gittrack.query.index import (
    Index,
    Segment,
    encode,
    fast_yaml,
    row_json,
    summary_columns,
)

OUTPUTS = (("--format", "csv"), ("--format", "json"), ("--format", "table"),
           ("--format", "md"), ("--where", "metrics.rmse > 0.2", "--sort", "-params.alpha"))


def log_runs(count: int, start: int = 0) -> list[str]:
    ids = []
    for i in range(start, start + count):
        with gittrack.start_run(run_name=f"r{i}", experiment=("a", "b")[i % 2]) as run:
            run.log_params({"alpha": i / 10, "model": {"depth": i % 3}})
            run.log_metrics({"rmse": 1 / (i + 1), "nan": math.nan})
            run.set_tag("team", "ml" if i % 3 else "ops")
            ids.append(run.id)
    gittrack.flush()  # final commits and noted summaries written
    return ids


def outputs(cli: Any) -> list[str]:
    results = [cli("log", *args) for args in OUTPUTS]
    assert all(r.code == 0 for r in results), [r.err for r in results]
    return [r.out for r in results]


def index_dir(repo: Path) -> Path:
    return repo / ".git" / "gittrack" / "index" / f"v{index.INDEX_FORMAT}"


def test_delete_and_rebuild_gives_byte_identical_output(repo: Path, cli: Any) -> None:
    log_runs(6)
    before = outputs(cli)
    assert list(index_dir(repo).glob("*.seg"))
    Index(api.open_store()).clear()
    assert not list(index_dir(repo).glob("*.seg"))
    assert outputs(cli) == before  # filled again from git on the way
    rebuilt = cli("index", "--rebuild")
    assert rebuilt.code == 0 and "Indexed 6 runs" in rebuilt.out
    assert outputs(cli) == before
    assert cli("index", "--clear").code == 0
    assert outputs(cli) == before


def test_index_is_never_stale(repo: Path, cli: Any) -> None:
    first = log_runs(2)
    assert len(cli("log", "--format", "csv").out.splitlines()) == 3
    log_runs(1, start=2)
    assert len(cli("log", "--format", "csv").out.splitlines()) == 4
    with gittrack.start_run(run_id=first[0]) as run:  # a resumed run moves its ref
        run.log_metric("extra", 7.0)
    row = cli("log", "--where", f"run_id = '{first[0]}'", "--format", "json").out
    assert '"extra": 7.0' in row


def test_broken_segment_is_ignored_and_read_again(repo: Path, cli: Any) -> None:
    log_runs(3)
    before = outputs(cli)
    for seg in index_dir(repo).glob("*.seg"):
        seg.write_bytes(b"garbage")
    assert outputs(cli) == before
    assert all(Segment(p.read_bytes(), p).n for p in index_dir(repo).glob("*.seg"))


def test_small_segments_are_merged(repo: Path, cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index, "MAX_SEGMENTS", 2)
    for i in range(4):
        log_runs(1, start=i)
        cli("log")
    assert len(list(index_dir(repo).glob("*.seg"))) <= 2
    before = outputs(cli)
    Index(api.open_store()).rebuild()
    assert outputs(cli) == before


def test_index_command_reports_and_has_an_example(repo: Path, cli: Any) -> None:
    log_runs(2)
    cli("log")
    shown = cli("index").out
    assert shown.startswith("2 run summaries in 1 segment(s)")
    assert "Example:" in cli("index", "--help").out


scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**53, 2**53),
                    st.floats(allow_nan=True), st.text(max_size=8))
values = st.one_of(scalars, st.lists(scalars, max_size=3))
keys = st.sampled_from(["alpha", "model.depth", "a b", "x/y"])


@st.composite
def summaries(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 6))
    out = []
    for i in range(count):
        out.append({
            "id": f"{i:016x}", "name": draw(st.text(max_size=5)), "experiment": "e",
            "status": "finished", "commit": f"{i:040x}", "start_time": None,
            "end_time": None, "user": "u", "baseline": None, "parent": None,
            "params": draw(st.dictionaries(keys, values, max_size=3)),
            "metrics": draw(st.dictionaries(keys, st.floats(allow_nan=True), max_size=3)),
            "steps": {}, "tags": draw(st.dictionaries(keys, st.text(max_size=4), max_size=2)),
        })
    return out


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


@settings(max_examples=60, deadline=None)
@given(summaries())
def test_segment_round_trips_columns_and_rows(rows: list[dict[str, Any]]) -> None:
    columns = summary_columns(rows)
    seg = Segment(encode(columns, [row_json(r) for r in rows]), None)
    assert seg.n == len(rows)
    for name, expected in columns.items():
        assert all(same(x, y) for x, y in zip(seg.column(name), expected)), name
    for i, row in enumerate(rows):
        back = index.json.loads(seg.row_bytes(i))
        assert back.keys() == row.keys()
        assert all(same(back["params"][k], v) for k, v in row["params"].items())


tricky = st.sampled_from(["yes", "No", "on", "~", "null", "1e3", "0x1F", "0o17", "1_000",
                          "12:30", "2024-01-01", "-", "- a", "a: b", "a #b", "'q'", '"d"',
                          "it's", "", " lead", "trail ", ".inf", "-.nan", "=", "<<", "@x",
                          "a\\b", "tab\t", "new\nline", "ü", "[1]", "{a}", "*x", "&y", "!t"])
yaml_scalars = st.one_of(scalars, tricky, st.text(max_size=6))
yaml_keys = st.one_of(tricky, st.text(min_size=1, max_size=5), st.integers(0, 5).map(str))
yaml_data = st.recursive(
    yaml_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(yaml_keys, inner, max_size=4)),
    max_leaves=12)


def same_tree(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same_tree(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_tree(x, y) for x, y in zip(a, b))
    return same(a, b)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(yaml_keys, yaml_data, max_size=6))
def test_fast_yaml_reads_what_the_yaml_loader_reads(data: dict[str, Any]) -> None:
    for sort_keys in (True, False):
        text = dump_yaml(data, sort_keys=sort_keys)
        assert same_tree(fast_yaml(text), load_yaml(text)), text


def test_writers_note_the_summary_that_git_would_give(repo: Path, cli: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    ids = log_runs(5)
    with gittrack.start_run(run_name="odd") as run:
        run.log_params({"list": [1, "two"], "quoted": "a: b", "yes": "yes", "tiny": 1e-7})
        run.log_metric("inf", math.inf, step=3)
        run.set_tags({"note": "it's", "empty": ""})
    ids.append(run.id)
    gittrack.flush()  # the run's thread notes the summary with the final commit
    noted = list(index_dir(repo).glob(f"{index.NOTED_PREFIX}*.jsonl"))
    lines = [line for p in noted for line in p.read_bytes().splitlines()]
    assert len(lines) == 6
    store = api.open_store()
    from_git = index.summarize(store.repo, list(store.refs().values()))
    assert sorted(lines) == sorted(index.noted_line(s).rstrip(b"\n") for s in from_git)

    def no_git(_repo: Any, commits: list[str]) -> list[dict[str, Any]]:
        assert commits == [], f"read {len(commits)} run(s) from git"
        return []

    with monkeypatch.context() as patched:
        patched.setattr(index, "summarize", no_git)
        shown = outputs(cli)  # served from the noted summaries alone
    assert not list(index_dir(repo).glob(f"{index.NOTED_PREFIX}*"))  # absorbed into a segment
    Index(store).rebuild()
    assert outputs(cli) == shown
    assert all(run_id in shown[1] for run_id in ids)


def test_a_torn_noted_line_is_read_from_git(repo: Path, cli: Any) -> None:
    log_runs(3)
    (noted,) = index_dir(repo).glob(f"{index.NOTED_PREFIX}*.jsonl")
    noted.write_bytes(noted.read_bytes()[:-30])  # the last run's line cut by a crash
    torn = outputs(cli)
    Index(api.open_store()).rebuild()
    assert outputs(cli) == torn and len(torn[0].splitlines()) == 4
