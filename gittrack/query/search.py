"""Searching runs: filter, order and limit run summaries, into rows or a pandas DataFrame.

One engine serves `gittrack log` (which never imports pandas) and :func:`search_runs`, so the
two always agree. Filters are evaluated column by column on the summary index with the exact
semantics of :mod:`gittrack.query.filters` (each distinct value of a column is tested once), which
keeps `gittrack log --where ...` fast at 100,000 runs.

Ordering follows MLflow: ``["metrics.rmse ASC", "params.alpha DESC"]``; a key without a
direction is ascending. Missing values sort last in either direction, NaN just before them;
numbers sort before strings, strings before other values. Ties, and runs with no order given,
are ordered newest first (start time, then run id, descending).
"""

from __future__ import annotations

import heapq
import logging
import operator
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from gittrack import query
from gittrack.core.errors import FilterError, InvalidInputError, MissingObjectError
from gittrack.core.records import Run
from gittrack.core.store import Store
from gittrack.query import filters
from gittrack.query.index import ATTRIBUTES, Index, Table

if TYPE_CHECKING:
    import pandas as pd

Truth = bool | None
ATTRIBUTE_COLUMNS = ("run_id", "experiment", "name", "status", "start_time", "end_time",
                     "user", "baseline_commit", "parent_run_id", "commit")
_DIRECTION = re.compile(r"^(.*?)\s+(ASC|DESC)$", re.IGNORECASE | re.DOTALL)
log = logging.getLogger("gittrack")
_warned: set[str] = set()  # commits warned about in this process
VERIFIED_ROWS = 100  # runs returned first whose whole record is checked (what a person reads)
SHORTLIST_MIN = 1000  # below this many matching runs, `order` sorts them all
_FAST_OPS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
             ">": operator.gt, ">=": operator.ge}


def select(store: Store, experiments: Sequence[str] | None = None, filter_string: str = "",
           order_by: Sequence[str] | None = None,
           max_results: int | None = None) -> tuple[Table, list[int]]:
    """The index table and the rows of the matching runs, ordered and limited."""
    import numpy as np  # lazy: `import gittrack` stays light; every search needs it

    node = filters.parse(filter_string or "")
    keys = [sort_key(spec) for spec in order_by or ()]
    table, found = Index(store).runs(experiments)
    at = np.asarray(found, dtype=np.int64)
    if table.damaged:  # runs that cannot be read from git (warned about by the index)
        at = at[~np.isin(at, np.fromiter(table.damaged, dtype=np.int64))]
    if not isinstance(node, filters.Everything):
        at = at[truth_array(node, table)[at] == TRUE]
    ordered = order(table, at, keys, max_results)
    rows = present(store, table, ordered, max_results)
    if max_results is not None and len(rows) < max_results and len(ordered) < len(at):
        # some of the shortlist were left out (commits missing): order every match
        rows = present(store, table, order(table, at, keys), max_results)
    return table, rows


def present(store: Store, table: Table, rows: Sequence[int], limit: int | None) -> list[int]:
    """The first ``limit`` of ``rows`` whose run commit is in the repository.

    The index keeps summaries of commits since lost (deleted by hand, a clone that lost
    objects): such a run is left out with a warning naming it and the way out, as `show`
    would refuse it. The first :data:`VERIFIED_ROWS` runs returned (what a person reads)
    also have their whole record checked; one with a missing blob is shown with a warning,
    the same sentence `show` gives.
    """
    out: list[int] = []
    chunk = len(rows) if limit is None else max(limit, 16)
    for lo in range(0, len(rows), max(chunk, 1)):
        part = [int(r) for r in rows[lo : lo + chunk]]
        commits, ids = table.take("commit", part), table.take("run_id", part)
        for r, commit, run_id in zip(part, commits, ids):
            if limit is not None and len(out) >= limit:
                return out
            commit = str(commit)
            if not store.repo.has_object(commit):
                _warn_once(commit, f"Run {run_id} is left out: its commit {commit[:12]} is "
                           "missing from this repository; fetch it with `gittrack pull`, or "
                           "list what is damaged with `gittrack doctor`.")
                continue
            if len(out) < VERIFIED_ROWS:
                try:
                    store.check_record(commit)
                except MissingObjectError as exc:
                    text = str(exc)
                    _warn_once(commit, f"Run {run_id} cannot be read in full: "
                               f"{text[:1].lower()}{text[1:]}")
            out.append(r)
    return out


def _warn_once(commit: str, message: str) -> None:
    if commit not in _warned:
        _warned.add(commit)
        log.warning("%s", message)


def unknown_columns(table: Table, filter_string: str = "",
                    order_by: Sequence[str] | None = None) -> list[tuple[str, str | None]]:
    """``(column, closest known column or None)`` for each metrics./params./tags. column the
    filter or the ordering names that no indexed run has (a typo matches nothing, silently)."""
    import difflib

    named = filters.columns(filters.parse(filter_string or ""))
    named |= {sort_key(spec)[0] for spec in order_by or ()}
    known = set(table.names())
    out = []
    for column in sorted(named):
        if column.startswith(("metrics.", "params.", "tags.")) and column not in known:
            close = difflib.get_close_matches(column, sorted(known), n=1, cutoff=0.8)
            out.append((column, close[0] if close else None))
    return out


# -- filtering ---------------------------------------------------------------------------
# SQL's three truth values as int8, ordered so that AND is the minimum and OR the maximum.
FALSE, UNKNOWN, TRUE = 0, 1, 2


def _code(truth: Truth) -> int:
    return UNKNOWN if truth is None else TRUE if truth else FALSE


def truth_array(node: filters.Node, table: Table) -> Any:
    """The truth of ``node`` for every row of ``table``: an int8 array of FALSE, UNKNOWN,
    TRUE. Each distinct value of a column is tested once, by the definition in
    gittrack.query.filters; metrics compared with numbers are compared as arrays."""
    import numpy as np

    if isinstance(node, filters.Everything):
        return np.full(table.n, TRUE, dtype=np.int8)
    if isinstance(node, filters.Not):
        return (TRUE - truth_array(node.child, table)).astype(np.int8)
    if isinstance(node, (filters.And, filters.Or)):
        combine = np.maximum if isinstance(node, filters.Or) else np.minimum
        return combine(truth_array(node.left, table), truth_array(node.right, table))
    parts = [_segment_truths(node, seg.vector(node.key.column), seg.n)
             for seg in table.segments]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int8)


def _segment_truths(node: filters.Predicate, vec: Any, n: int) -> Any:
    import numpy as np

    none = _code(_one(node, None))
    if vec is None:
        return np.full(n, none, dtype=np.int8)
    if vec[0] == "dict":
        fast = _fast_metric_test(node)
        lut = np.array([_code(fast(v) if fast is not None and type(v) is float else _one(node, v))
                        for v in vec[1]], dtype=np.int8)
        return lut[vec[2]]  # code -1 reads the last entry: None's truth
    values, missing = vec[1], vec[2]
    test = _fast_array_test(node)
    if test is not None:
        out = np.where(test(values), TRUE, FALSE).astype(np.int8)
    else:  # each distinct value (by its bits: -0.0 and 0.0 print differently) once
        distinct, inverse = np.unique(values.view(np.int64), return_inverse=True)
        lut = np.array([_code(_one(node, v)) for v in distinct.view(np.float64).tolist()],
                       dtype=np.int8)
        out = lut[inverse.reshape(-1)]
    out[missing] = none
    return out


def _fast_array_test(node: filters.Predicate) -> Any:
    """:func:`_fast_metric_test` on a float64 array at once (the same IEEE comparisons)."""
    import numpy as np

    found = _metric_comparison(node)
    if found is None:
        return None
    compare, literals = found
    return lambda values: np.logical_or.reduce([compare(values, lit) for lit in literals])


def _one(node: filters.Predicate, value: Any) -> Truth:
    """The truth for one value, by the definition in gittrack.query.filters."""
    return filters.matches(node, {node.key.column: value}) if node.op == "IS NULL" \
        else _non_null_test(node, value)


def _non_null_test(node: filters.Predicate, value: Any) -> Truth:
    if filters.matches(filters.Predicate(node.key, "IS NULL"), {node.key.column: value}):
        return None
    return filters.matches(node, {node.key.column: value})


def _metric_comparison(node: filters.Predicate) -> tuple[Any, list[float]] | None:
    """``(compare, literals)`` of a metric compared with numbers, else None."""
    op = "=" if node.op == "IN" else node.op
    if node.key.kind != "metric" or op not in _FAST_OPS or not node.values \
            or any(isinstance(v.value, str) for v in node.values):
        return None
    return _FAST_OPS[op], [float(v.value) for v in node.values]


def _fast_metric_test(node: filters.Predicate) -> Any:
    """For a metric compared with numbers: a float test equal to the filter's own."""
    found = _metric_comparison(node)
    if found is None:
        return None
    compare, literals = found
    if len(literals) == 1:
        lit = literals[0]
        return lambda v: bool(compare(v, lit))
    return lambda v: any(compare(v, lit) for lit in literals)


# -- ordering ----------------------------------------------------------------------------
def sort_key(spec: str) -> tuple[str, bool]:
    """``(column, descending)`` of an order_by item such as ``"metrics.rmse DESC"``."""
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidInputError(f"An order_by item must be a column name; got {spec!r}.")
    text, descending = spec.strip(), False
    match = _DIRECTION.match(text)
    if match:
        text, descending = match.group(1).strip(), match.group(2).upper() == "DESC"
    shown = repr(spec) if len(spec) <= 80 else repr(spec[:77] + "...")
    hint = (f"Cannot order by {shown}; name one column such as 'metrics.rmse', "
            "optionally followed by ASC or DESC.")
    try:
        node = filters.parse(f"{text} IS NULL")
    except FilterError:
        raise InvalidInputError(hint) from None
    if not isinstance(node, filters.Predicate):
        raise InvalidInputError(hint)
    return node.key.column, descending


def order(table: Table, rows: Sequence[int] | Any, keys: Sequence[tuple[str, bool]],
          limit: int | None = None) -> list[int]:
    """``rows`` ordered by ``keys`` (stable passes, last key first), newest first on ties.

    With a ``limit``, the first ``limit`` rows; only those that can be among them are ordered:
    a shortlist made with arrays from the first key alone (every row tied with the last
    one kept), so a million runs cost one pass of numpy, not a sort of a million tuples.
    """
    if limit is not None and len(rows) > 2 * limit + SHORTLIST_MIN:
        rows = _shortlist(table, rows, keys[0] if keys else None, limit)
    rows = [int(r) for r in rows]
    run_ids, starts = table.take("run_id", rows), table.take("start_time", rows)
    at = sorted(range(len(rows)), key=lambda i: run_ids[i] or "", reverse=True)
    at = sorted(at, key=lambda i: starts[i] or "", reverse=True)
    for column, descending in reversed(keys):
        at = _sorted_by(table.take(column, rows), at, descending)
    return [rows[i] for i in at[:limit]]


def _shortlist(table: Table, rows: Sequence[int], key: tuple[str, bool] | None,
               limit: int) -> Any:
    """The rows whose rank by ``key`` (None: start time, newest first) is at most that of
    the ``limit``-th row: a superset of the first ``limit`` in the full order."""
    import numpy as np

    at = np.asarray(rows, dtype=np.int64)
    if limit <= 0:
        return at[:0]
    if key is None:  # newest first: the limit-th latest start, found without a full sort
        starts = [s or "" for s in table.take("start_time", at.tolist())]
        if any(not isinstance(s, str) for s in starts):
            return at  # not the times gittrack writes: order them all
        last = heapq.nlargest(limit, starts)[-1]
        return at[np.fromiter((s >= last for s in starts), dtype=bool, count=len(starts))]
    group, value = _ranks(table, key, at)
    counted = np.cumsum(np.bincount(group, minlength=5))
    g = int(np.searchsorted(counted, limit))  # the group of the limit-th row
    k = limit - 1 - (int(counted[g - 1]) if g else 0)
    v = np.partition(value[group == g], k)[k]
    return at[(group < g) | ((group == g) & (value <= v))]


def _ranks(table: Table, key: tuple[str, bool], at: Any) -> tuple[Any, Any]:
    """``(group, value)`` arrays, one entry per row of ``at``, ordering those rows as
    :func:`_sorted_by` does by ``key`` (ties allowed): groups numbers, strings, others,
    NaN, missing (numbers, strings and others reversed when descending). Only the distinct
    values these rows hold are ranked."""
    import numpy as np

    column, descending = key
    sign = -1.0 if descending else 1.0
    kinds = {"number": 2 if descending else 0, "string": 1, "other": 0 if descending else 2,
             "nan": 3, "null": 4}
    starts = np.asarray(table.starts, dtype=np.int64)
    which = np.searchsorted(starts, at, side="right") - 1
    parts = []  # (positions in at, local rows, vector) per segment holding some of at
    for k in np.unique(which).tolist():
        where = np.flatnonzero(which == k)
        seg = table.segments[k]
        parts.append((where, at[where] - starts[k], seg.vector(column)))
    texts: set[str] = set()
    used: list[Any] = []
    for _where, local, vec in parts:
        codes = np.unique(vec[2][local]) if vec is not None and vec[0] == "dict" else None
        used.append(codes)
        if codes is None:
            continue
        for c in codes.tolist():
            v = vec[1][c]
            kind = _kind(v)
            if kind in ("string", "other"):
                texts.add(v if kind == "string" else str(v))
    rank = {t: float(i) for i, t in enumerate(sorted(texts))}
    group = np.full(len(at), kinds["null"], dtype=np.int8)
    value = np.zeros(len(at))
    for (where, local, vec), codes in zip(parts, used):
        if vec is None:
            continue
        if vec[0] == "f8":
            numbers, missing = vec[1][local], vec[2][local]
            g = np.where(np.isnan(numbers), kinds["nan"], kinds["number"]).astype(np.int8)
            x = np.where(np.isnan(numbers), 0.0, sign * numbers)
            g[missing] = kinds["null"]
            x[missing] = 0.0
            group[where], value[where] = g, x
            continue
        g_lut = np.zeros(len(vec[1]), dtype=np.int8)
        x_lut = np.zeros(len(vec[1]))
        for c in codes.tolist():
            v = vec[1][c]
            kind = _kind(v)
            g_lut[c] = kinds[kind]
            x_lut[c] = (sign * float(v) if kind == "number" else
                        sign * rank[v if kind == "string" else str(v)]
                        if kind in ("string", "other") else 0.0)
        group[where], value[where] = g_lut[vec[2][local]], x_lut[vec[2][local]]
    return group, value


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return "nan" if v != v else "number"
    return "other"


def _sorted_by(values: list[Any], rows: list[int], descending: bool) -> list[int]:
    numbers: list[tuple[float, int]] = []
    strings: list[tuple[str, int]] = []
    others: list[tuple[str, int]] = []
    nans: list[int] = []
    nulls: list[int] = []
    for r in rows:
        v = values[r]
        if v is None:
            nulls.append(r)
        elif isinstance(v, str):
            strings.append((v, r))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            if v != v:
                nans.append(r)
            else:
                numbers.append((v, r))
        else:
            others.append((str(v), r))
    groups: list[list[tuple[Any, int]]] = [numbers, strings, others]
    for group in groups:
        group.sort(key=operator.itemgetter(0), reverse=descending)
    if descending:
        groups.reverse()
    return [r for group in groups for _v, r in group] + nans + nulls


# -- pandas ------------------------------------------------------------------------------
def search_runs(store: Store, experiment_names: Sequence[str] | str | None = None,
                filter_string: str = "", order_by: Sequence[str] | str | None = None,
                max_results: int | None = None) -> pd.DataFrame:
    """Runs matching ``filter_string`` as a DataFrame (see :func:`gittrack.api.search_runs`)."""
    if isinstance(experiment_names, str):
        experiment_names = [experiment_names]
    if isinstance(order_by, str):
        order_by = [order_by]
    if max_results is not None and (isinstance(max_results, bool) or max_results < 0):
        raise InvalidInputError(f"max_results must be a whole number >= 0; got {max_results!r}.")
    table, rows = select(store, experiment_names, filter_string, order_by, max_results)
    return frame(table, rows)


def frame(table: Table, rows: list[int]) -> pd.DataFrame:
    """The DataFrame of ``rows``: attributes, then metrics.*, params.*, tags.* (sorted)."""
    import pandas as pd

    data: dict[str, Any] = {}
    for name in ATTRIBUTE_COLUMNS:
        values = table.take(name, rows)
        if name in ("start_time", "end_time"):
            data[name] = pd.to_datetime(pd.Series(values, dtype=object), utc=True,
                                        format="ISO8601")
        else:
            data[name] = pd.Series(values, dtype="str")
    names = set(table.names()) - set(ATTRIBUTES.values())
    for section in ("metrics", "params", "tags"):
        for name in sorted(n for n in names if n.startswith(section + ".")):
            values = table.take(name, rows)
            if values.count(None) == len(values):
                continue
            data[name] = pd.Series(values, dtype="float64" if section == "metrics" else object)
    return pd.DataFrame(data, index=pd.RangeIndex(len(rows)))


def metric_history(store: Store, runs: Any, keys: Iterable[str] | str | None = None
                   ) -> pd.DataFrame:
    """Every logged point of the runs' metrics (see :func:`gittrack.api.metric_history`)."""
    import pandas as pd

    if isinstance(keys, str):
        keys = [keys]
    wanted = None if keys is None else list(keys)
    out: dict[str, list[Any]] = {"run_id": [], "key": [], "step": [], "timestamp": [],
                                 "value": []}
    for run_id, commit in _resolve_runs(store, runs):
        names = store.metric_keys(commit) if wanted is None else wanted
        for key in names:
            for step, ts, value in store.metric_history(commit, key):
                out["run_id"].append(run_id)
                out["key"].append(key)
                out["step"].append(step)
                out["timestamp"].append(ts)
                out["value"].append(value)
    return pd.DataFrame({
        "run_id": pd.Series(out["run_id"], dtype="str"),
        "key": pd.Series(out["key"], dtype="str"),
        "step": pd.Series(out["step"], dtype="int64"),
        "timestamp": pd.to_datetime(pd.Series(out["timestamp"], dtype="int64"), unit="ms",
                                    utc=True),
        "value": pd.Series(out["value"], dtype="float64"),
    })


def _resolve_runs(store: Store, runs: Any) -> list[tuple[str, str]]:
    """``[(run id, commit)]`` of run ids, names, a Run, or a DataFrame's run_id column."""
    if hasattr(runs, "columns") and "run_id" in getattr(runs, "columns", ()):
        runs = list(runs["run_id"])
    elif isinstance(runs, (str, Run)):
        runs = [runs]
    by_id = {ref.rpartition("/")[2]: c for ref, c in store.refs().items()}
    out = []
    for spec in runs:
        spec = getattr(spec, "id", spec)
        if not isinstance(spec, str):
            raise InvalidInputError(f"metric_history takes run ids or names; got {spec!r}.")
        commit = by_id.get(spec)
        if commit is None:
            ref, commit = query.resolve(store, spec)
            spec = ref.rpartition("/")[2]
        out.append((spec, commit))
    return out
