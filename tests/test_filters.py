"""The filter grammar: every form checked row by row and on a frame against plain pandas."""

from __future__ import annotations

import math
import operator
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gittrack.core.errors import FilterError, InvalidInputError
from gittrack.query.filters import columns, matches, parse, to_frame, to_mask

STATUSES = ["finished", "failed", "running", "killed"]  # stored lowercase
TEAMS = ["ml-core", "ML-Vision", "data", "Ml_ops", None]
MODELS = ["rf", "xgb", "linear", "Rf", "mlp"]
ALPHAS: list[object] = ["0.1", "0.01", 0.5, "1", "auto", "1e-3", None, 2, "-0.5", "abc"]
NOTES = ["50% off", "a_b", "it's", 'say "hi"', "x.y+z (v2)", "axb", None]
START = 1_700_000_000_000  # 2023-11-14T22:13:20Z, in milliseconds


def _row(i: int) -> dict[str, object]:
    """Run i of the corpus: a mix of present, missing and NaN values of every kind."""
    row: dict[str, object] = {
        "run_id": f"{i:02x}ab{i * 7:03x}",
        "name": f"run-{i}",
        "status": STATUSES[i % 4],
        "start_time": START + i * 3_600_000,
        "experiment": "exp b" if i % 3 == 0 else "exp-a",
        "user": ["ann", "bob", "O'Neil"][i % 3],
        "baseline_commit": f"{i * 7919:07x}",
        "metrics.delta": float(i - 20),
        "params.model": MODELS[i % 5],
        "params.batch size": str(2 ** (i % 6)),
    }
    if i % 5 != 4:
        row["end_time"] = START + i * 3_600_000 + 60_000 * (i + 1)
    if i % 6 == 5:
        row["metrics.rmse"] = math.nan
    elif i % 7 != 3:
        row["metrics.rmse"] = round(0.05 * (i % 13) + 0.1, 3)
    if i % 9 != 0:
        row["metrics.acc"] = i / 40
    if i % 4 != 1:
        row["metrics.val loss"] = (40 - i) / 10
    for key, pool in (("params.alpha", ALPHAS), ("tags.team", TEAMS), ("tags.note", NOTES)):
        if pool[i % len(pool)] is not None:
            row[key] = pool[i % len(pool)]
    return row


CORPUS = [_row(i) for i in range(40)]
DF = pd.DataFrame(CORPUS)  # the reference: plain pandas, with NaN wherever a key is missing
PRESENT = pd.DataFrame([{name: name in row for name in DF.columns} for row in CORPUS])
FRAME = to_frame(CORPUS)


def has(name: str) -> pd.Series:
    return PRESENT[name]


def num(name: str) -> pd.Series:
    return pd.to_numeric(DF[name], errors="coerce")


def txt(name: str) -> pd.Series:
    return DF[name].astype(object).map(str)


def readable(name: str) -> pd.Series:
    """Present values that read as numbers (the corpus holds no 'nan' or 'inf' strings)."""
    return has(name) & num(name).notna()


def param_cmp(name: str, op: Callable[[Any, Any], Any], literal: str) -> pd.Series:
    """A param against a number literal: numeric where it reads as a number, else as text."""
    as_number = readable(name) & op(num(name), float(literal))
    return as_number | (has(name) & ~readable(name) & op(txt(name), literal))


def iso(name: str) -> pd.Series:
    return pd.to_datetime(DF[name], unit="ms", utc=True)


def like(name: str, regex: str, case: bool = True) -> pd.Series:
    return has(name) & txt(name).str.fullmatch(regex, case=case)


lt, gt, eq = operator.lt, operator.gt, operator.eq


R = "metrics.rmse"
A = "params.alpha"
T = "tags.team"

CASES: list[tuple[str, Callable[[], pd.Series]]] = [
    ("metrics.rmse < 0.5", lambda: num(R) < 0.5),
    ("metrics.rmse >= 0.3", lambda: num(R) >= 0.3),
    ("metrics.rmse = 0.1", lambda: num(R) == 0.1),
    ("metrics.rmse != 0.1", lambda: has(R) & (num(R) != 0.1)),
    ("metrics.rmse<=.35", lambda: num(R) <= 0.35),
    ("rmse > 0.4", lambda: num(R) > 0.4),
    ("metrics.delta > -5", lambda: num("metrics.delta") > -5),
    ("metrics.delta < -1.5e1", lambda: num("metrics.delta") < -15),
    ("metrics.acc > 2.5E-1", lambda: num("metrics.acc") > 0.25),
    ("metrics.`val loss` < 2", lambda: num("metrics.val loss") < 2),
    ("`val loss` >= 3", lambda: num("metrics.val loss") >= 3),
    ("metric.acc > 0.5 and param.model = 'rf'",
     lambda: (num("metrics.acc") > 0.5) & (txt("params.model") == "rf")),
    ("params.alpha > 0.05", lambda: param_cmp(A, gt, "0.05")),
    ("params.alpha < 1", lambda: param_cmp(A, lt, "1")),
    ("params.alpha = 0.1", lambda: param_cmp(A, eq, "0.1")),
    ("params.alpha = '0.1'", lambda: has(A) & (txt(A) == "0.1")),
    ("params.alpha != 'auto'", lambda: has(A) & (txt(A) != "auto")),
    ("params.alpha < 'b'", lambda: has(A) & (txt(A) < "b")),
    ("params.alpha IN (0.1, 'auto', 2)",
     lambda: param_cmp(A, eq, "0.1") | param_cmp(A, eq, "2") | (has(A) & (txt(A) == "auto"))),
    ("params.alpha NOT IN (0.1, 'auto')",
     lambda: has(A) & ~(param_cmp(A, eq, "0.1") | (txt(A) == "auto"))),
    ("params.\"batch size\" = '8'", lambda: txt("params.batch size") == "8"),
    ("params.'batch size' >= 8", lambda: num("params.batch size") >= 8),
    ('params.model = "rf"', lambda: txt("params.model") == "rf"),
    ("params.model IN ('rf', 'xgb')", lambda: txt("params.model").isin(["rf", "xgb"])),
    ("params.model not in ('rf','xgb')", lambda: ~txt("params.model").isin(["rf", "xgb"])),
    ("params.model LIKE 'r%'", lambda: like("params.model", "r.*")),
    ("params.model ILIKE 'r%'", lambda: like("params.model", "r.*", case=False)),
    ("tags.team LIKE 'ml%'", lambda: like(T, "ml.*")),
    ("tags.team ilike 'ML%'", lambda: like(T, "ml.*", case=False)),
    ("tags.team LIKE '__-%'", lambda: like(T, "..-.*")),
    ("tags.team NOT LIKE 'ml%'", lambda: has(T) & ~like(T, "ml.*")),
    ("tags.team NOT ILIKE '%vision'", lambda: has(T) & ~like(T, ".*vision", case=False)),
    ("tags.note LIKE 'a_b'", lambda: like("tags.note", "a.b")),
    ("tags.note LIKE 'x.y+%'", lambda: like("tags.note", r"x\.y\+.*")),
    ("tags.note LIKE '%(v2)'", lambda: like("tags.note", r".*\(v2\)")),
    ("tags.note ILIKE 'X.Y+Z (V2)'", lambda: like("tags.note", r"x\.y\+z \(v2\)", case=False)),
    ("tags.note LIKE '50%'", lambda: like("tags.note", "50.*")),
    ("tags.note = 'it''s'", lambda: has("tags.note") & (txt("tags.note") == "it's")),
    ("tags.note = 'say \"hi\"'", lambda: has("tags.note") & (txt("tags.note") == 'say "hi"')),
    ("tags.team != 'data'", lambda: has(T) & (txt(T) != "data")),
    ("tags.team IS NULL", lambda: ~has(T)),
    ("tags.team is not null", lambda: has(T)),
    ("metrics.rmse IS NULL", lambda: ~has(R)),
    ("metrics.rmse IS NOT NULL", lambda: has(R)),
    ("metrics.absent > 0", lambda: pd.Series(False, index=DF.index)),
    ("metrics.absent IS NULL", lambda: pd.Series(True, index=DF.index)),
    ("NOT metrics.rmse < 0.5", lambda: has(R) & ~(num(R) < 0.5)),
    ("NOT tags.team = 'data'", lambda: has(T) & (txt(T) != "data")),
    ("NOT NOT tags.team = 'data'", lambda: has(T) & (txt(T) == "data")),
    ("metrics.rmse < 0.3 OR tags.team = 'data'",
     lambda: (num(R) < 0.3) | (has(T) & (txt(T) == "data"))),
    ("metrics.rmse < 0.3 OR NOT metrics.rmse < 0.3", lambda: has(R)),
    ("metrics.rmse < 0.3 OR params.model = 'rf' AND status = 'FAILED'",
     lambda: (num(R) < 0.3) | ((txt("params.model") == "rf") & (DF["status"] == "failed"))),
    ("(metrics.rmse < 0.3 OR params.model = 'rf') AND status = 'FAILED'",
     lambda: ((num(R) < 0.3) | (txt("params.model") == "rf")) & (DF["status"] == "failed")),
    ("NOT (status = 'FAILED' OR status = 'KILLED')",
     lambda: ~DF["status"].isin(["failed", "killed"])),
    ("NOT (metrics.rmse > 0.3 AND tags.team = 'data')",
     lambda: (has(R) & ~(num(R) > 0.3)) | (has(T) & (txt(T) != "data"))),
    ("not metrics.rmse < 0.3 aNd NOT tags.team iS nULL",
     lambda: has(R) & ~(num(R) < 0.3) & has(T)),
    ("status = 'FAILED' OR status = 'KILLED' AND metrics.acc > 0.5 OR tags.team = 'data'",
     lambda: (DF["status"] == "failed") | ((DF["status"] == "killed") & (num("metrics.acc") > 0.5))
     | (has(T) & (txt(T) == "data"))),
    ("(((metrics.acc > 0.2)))", lambda: num("metrics.acc") > 0.2),
    ("status = 'Running' OR status LIKE 'FIN%' OR status IN ('KILLED')",
     lambda: DF["status"].isin(["running", "finished", "killed"])),
    ("status = 'FINISHED' AND start_time >= 1700036000000",
     lambda: (DF["status"] == "finished") & (DF["start_time"] >= 1_700_036_000_000)),
    ("attributes.start_time < '2023-11-15T10'",
     lambda: iso("start_time") < pd.Timestamp("2023-11-15T10", tz="UTC")),
    ("attributes.end_time > 1700050000000", lambda: num("end_time") > 1_700_050_000_000),
    ("end_time IS NULL", lambda: ~has("end_time")),
    ("attributes.run_name LIKE 'run-1%'", lambda: DF["name"].str.fullmatch("run-1.*")),
    ("run_id IN ('00ab000', '05ab023')", lambda: DF["run_id"].isin(["00ab000", "05ab023"])),
    ("user = 'O''Neil' OR experiment = \"exp b\"",
     lambda: (DF["user"] == "O'Neil") | (DF["experiment"] == "exp b")),
    ("attr.baseline_commit LIKE '00%'", lambda: DF["baseline_commit"].str.fullmatch("00.*")),
    ("", lambda: pd.Series(True, index=DF.index)),
    ("   ", lambda: pd.Series(True, index=DF.index)),
]


@pytest.mark.parametrize(("expr", "reference"), CASES, ids=[c[0] or "empty" for c in CASES])
def test_filter_matches_pandas_reference(expr: str, reference: Callable[[], pd.Series]) -> None:
    expected = reference().fillna(False).astype(bool)
    assert expected.any() or "absent" in expr, f"{expr!r} selects no run: a weak case"
    node = parse(expr)
    by_row = pd.Series([matches(node, row) for row in CORPUS], index=DF.index)
    assert by_row.tolist() == expected.tolist()
    assert to_mask(node, FRAME).tolist() == expected.tolist()


def test_corpus_covers_the_awkward_values() -> None:
    assert DF[R].isna().sum() > PRESENT[R].eq(False).sum() > 0  # NaN and missing metrics
    assert (~PRESENT[A]).any() and (~PRESENT[T]).any()
    assert {type(v) for v in DF[A].dropna()} >= {str, float, int}


def test_to_mask_keeps_the_frame_index() -> None:
    frame = FRAME.set_axis([f"r{i}" for i in range(len(FRAME))])
    mask = to_mask(parse("metrics.acc > 0.5"), frame)
    assert mask.dtype == bool and list(mask.index) == list(frame.index)
    assert mask.tolist() == (num("metrics.acc") > 0.5).tolist()


@pytest.mark.parametrize(
    "expr",
    ["params.alpha != 'auto'", "NOT tags.team = 'data'", "tags.note NOT IN ('a_b')",
     "params.alpha IS NULL", "end_time IS NULL", "NOT end_time > 1700050000000"],
)
def test_pandas_built_frame_reads_missing_params_tags_and_times_as_null(expr: str) -> None:
    assert to_mask(parse(expr), DF).tolist() == to_mask(parse(expr), FRAME).tolist()


def test_nan_param_is_null() -> None:
    row = {"params.p": math.nan, "tags.t": math.nan}
    assert matches(parse("params.p IS NULL AND tags.t IS NULL"), row)
    assert not matches(parse("params.p != 'x' OR NOT tags.t = 'x'"), row)


def test_nullable_dtypes_read_na_as_null() -> None:
    frame = pd.DataFrame({"metrics.m": pd.array([1.0, None, 3.0], dtype="Float64")})
    assert to_mask(parse("metrics.m != 1"), frame).tolist() == [False, False, True]
    assert to_mask(parse("metrics.m IS NULL"), frame).tolist() == [False, True, False]


def test_nan_metric_is_a_value_with_ieee_comparisons() -> None:
    row = {"metrics.m": math.nan}
    assert [matches(parse(f"metrics.m {op} 1"), row) for op in ("=", "<", ">=", "!=")] == [
        False, False, False, True,
    ]
    assert not matches(parse("metrics.m IS NULL"), row)
    assert matches(parse("NOT metrics.m > 1"), row)


def test_time_values_as_datetimes_and_iso_strings() -> None:
    rows = [
        {"start_time": pd.Timestamp("2024-01-02T03:04:05")},
        {"start_time": "2024-01-02T03:04:05+00:00"},
        {"start_time": 1704164645000},
    ]
    for expr in ("start_time = 1704164645000", "start_time > '2024-01-02'", "start_time LIKE '2024-%'"):
        node = parse(expr)
        assert [matches(node, row) for row in rows] == [True, True, True], expr
        assert to_mask(node, to_frame(rows)).tolist() == [True, True, True], expr


def test_columns_lists_what_the_filter_reads() -> None:
    node = parse("rmse < 1 OR NOT (params.`a b` IN ('x') AND run_name LIKE 'r%') OR tags.t IS NULL")
    assert columns(node) == {"metrics.rmse", "params.a b", "name", "tags.t"}
    assert columns(parse("")) == set()


def test_import_does_not_load_pandas() -> None:
    code = "import sys, gittrack.query.filters; assert 'pandas' not in sys.modules, 'pandas loaded'"
    subprocess.run([sys.executable, "-c", code], check=True)


ERRORS = [
    ("metrics.rmse < AND x",
     "Unexpected 'AND' at position 16 in filter \"metrics.rmse < AND x\"; "
     "expected a value such as 0.5 or 'text'."),
    ("metrics.rmse <",
     "Unexpected end of filter at position 15 in filter \"metrics.rmse <\"; "
     "expected a value such as 0.5 or 'text'."),
    ("params.x = 'abc",
     "Unterminated ' quote at position 12 in filter \"params.x = 'abc\"; close it with a matching '."),
    ("metrics.`a b < 1",
     "Unterminated ` quote at position 9 in filter \"metrics.`a b < 1\"; close it with a matching `."),
    ("foo.bar = 1",
     "Unknown prefix 'foo.' at position 1 in filter \"foo.bar = 1\"; use metrics., params., "
     "tags. or attributes. (quote a dotted key: metrics.`a.b`)."),
    ("attributes.owner = 'x'",
     "Unknown attribute 'owner' at position 1 in filter \"attributes.owner = 'x'\"; use one of "
     "run_id, run_name, name, status, start_time, end_time, experiment, baseline_commit, user, "
     "parent_run_id."),
    ("(rmse < 1 OR acc > 2",
     "Unclosed '(' at position 1 in filter \"(rmse < 1 OR acc > 2\"; add a matching ')'."),
    ("rmse < 1)",
     "Unmatched ')' at position 9 in filter \"rmse < 1)\"; remove it or add a '(' before it."),
    ("status IN ()",
     "Empty IN list at position 11 in filter \"status IN ()\"; "
     "list at least one value, as in IN ('a', 'b')."),
    ("status IN ('a' 'b')",
     "Unexpected ''b'' at position 16 in filter \"status IN ('a' 'b')\"; "
     "expected ',' or ')' in the IN list."),
    ("rmse = NULL",
     "Unexpected 'NULL' at position 8 in filter \"rmse = NULL\"; expected a value such as 0.5 "
     "or 'text' (test a missing value with IS NULL)."),
    ("rmse IS 0",
     "Unexpected '0' at position 9 in filter \"rmse IS 0\"; expected NULL or NOT NULL after IS."),
    ("rmse ~ 1",
     "Unexpected character '~' at position 6 in filter \"rmse ~ 1\"; "
     "expected a key, a value, a comparator, a parenthesis or a keyword."),
    ("rmse 1",
     "Unexpected '1' at position 6 in filter \"rmse 1\"; "
     "expected a comparator (=, !=, <, <=, >, >=), LIKE, ILIKE, IN or IS."),
    ("status NOT = 'x'",
     "Unexpected '=' at position 12 in filter \"status NOT = 'x'\"; expected LIKE, ILIKE or IN "
     "after NOT."),
    ("rmse < 1 acc > 2",
     "Unexpected 'acc' at position 10 in filter \"rmse < 1 acc > 2\"; "
     "expected AND, OR or the end of the filter."),
    ("rmse < 1 AND",
     "Unexpected end of filter at position 13 in filter \"rmse < 1 AND\"; "
     "expected a key such as metrics.rmse or params.alpha."),
    ("()",
     "Unexpected ')' at position 2 in filter \"()\"; "
     "expected a key such as metrics.rmse or params.alpha."),
    ("metrics.rmse = 'low'",
     "String 'low' compared with the metric 'metrics.rmse' at position 16 in filter "
     "\"metrics.rmse = 'low'\"; compare metrics with numbers such as 0.5."),
    ("rmse LIKE '1%'",
     "LIKE on the metric 'metrics.rmse' at position 6 in filter \"rmse LIKE '1%'\"; "
     "compare metrics with numbers such as 0.5."),
    ("tags.t LIKE 5",
     "Unexpected '5' at position 13 in filter \"tags.t LIKE 5\"; "
     "expected a quoted pattern such as '%abc%'."),
    ("params. = 1",
     "Missing key after 'params.' at position 1 in filter \"params. = 1\"; "
     "write it as params.rmse or params.`my key`."),
    ("(a < 1) )",
     "Unmatched ')' at position 9 in filter \"(a < 1) )\"; remove it or add a '(' before it."),
    ("(a < 1 b",
     "Unexpected 'b' at position 8 in filter \"(a < 1 b\"; expected AND, OR or ')'."),
]


@pytest.mark.parametrize(("expr", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_malformed_filter_names_token_and_position(expr: str, message: str) -> None:
    with pytest.raises(FilterError) as info:
        parse(expr)
    assert str(info.value) == message
    assert isinstance(info.value, InvalidInputError) and isinstance(info.value, ValueError)


# ------------------------------------------------------------------ Hypothesis

KEYS = {
    "metric": ["metrics.rmse", "rmse", "metrics.acc", "metrics.`val loss`", "metrics.absent"],
    "other": ["params.alpha", "params.model", "tags.team", "tags.note", "status", "run_name",
              "attributes.user", 'params."batch size"', "end_time", "start_time"],
}
NUMBERS = st.sampled_from(["0", "0.1", "-1", "1e-3", ".5", "2", "0.35", "1700036000000"])
STRINGS = st.sampled_from(["'rf'", "'auto'", '"0.1"', "'data'", "'it''s'", "'2023-11-15'", "''"])
PATTERNS = st.sampled_from(["'%'", "'r%'", "'%a%'", "'_'", "'ML%'", "'%_%'", "'x.y+%'"])


def _keyword(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from([word, word.lower(), word.capitalize()])


def _predicate() -> st.SearchStrategy[str]:
    metric = st.tuples(st.sampled_from(KEYS["metric"]),
                       st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), NUMBERS)
    other = st.tuples(st.sampled_from(KEYS["other"]),
                      st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), NUMBERS | STRINGS)
    any_key = st.sampled_from(KEYS["metric"] + KEYS["other"])
    return st.one_of(
        (metric | other).map(" ".join),
        st.builds("{} {} {}".format, st.sampled_from(KEYS["other"]),
                  _keyword("LIKE") | _keyword("ILIKE") | st.just("NOT LIKE"), PATTERNS),
        st.builds("{} {} ({})".format, st.sampled_from(KEYS["other"]),
                  _keyword("IN") | st.just("not in"),
                  st.lists(NUMBERS | STRINGS, min_size=1, max_size=3).map(", ".join)),
        st.builds("{} {}".format, any_key, st.sampled_from(["IS NULL", "is not null"])),
    )


def _combine(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds("{} {} {}".format, inner, _keyword("AND") | _keyword("OR"), inner),
        st.builds("{} {}".format, _keyword("NOT"), inner),
        inner.map("({})".format),
    )


EXPRESSIONS = st.recursive(_predicate(), _combine, max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(EXPRESSIONS)
def test_matches_agrees_with_to_mask(expr: str) -> None:
    node = parse(expr)
    assert to_mask(node, FRAME).tolist() == [matches(node, row) for row in CORPUS]
    assert columns(node) <= set(FRAME.columns) | {"metrics.absent"}


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="metrics.a_ 'x\"`()<=>!,%-1.5eANDORNOTINISLK", max_size=30))
def test_any_text_parses_or_raises_filter_error(expr: str) -> None:
    try:
        parse(expr)
    except FilterError as error:
        assert " at position " in str(error) and str(error).endswith(".")
