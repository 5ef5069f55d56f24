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
_FAST_OPS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
             ">": operator.gt, ">=": operator.ge}


def refs_of(store: Store, experiments: Sequence[str] | None) -> dict[str, str]:
    """``{ref: commit}`` of the runs of ``experiments`` (every run when None)."""
    if experiments is None:
        return store.refs()
    refs: dict[str, str] = {}
    for name in experiments:
        refs.update(store.refs(name))
    return refs


def select(store: Store, experiments: Sequence[str] | None = None, filter_string: str = "",
           order_by: Sequence[str] | None = None,
           max_results: int | None = None) -> tuple[Table, list[int]]:
    """The index table and the rows of the matching runs, ordered and limited."""
    node = filters.parse(filter_string or "")
    keys = [sort_key(spec) for spec in order_by or ()]
    refs = refs_of(store, experiments)
    table, rows = Index(store).table(list(refs.values()), complete=experiments is None)
    if table.damaged:  # runs that cannot be read from git (warned about by the index)
        rows = [r for r in rows if r not in table.damaged]
    if not isinstance(node, filters.Everything):
        rows = [r for r, t in zip(rows, truths(node, table, rows)) if t is True]
    rows = present(store, table, order(table, rows, keys), max_results)
    return table, rows


def present(store: Store, table: Table, rows: Sequence[int], limit: int | None) -> list[int]:
    """The first ``limit`` of ``rows`` whose run commit is in the repository.

    The index keeps summaries of commits since lost (deleted by hand, a clone that lost
    objects): such a run is left out with a warning naming it and the way out, as `show`
    would refuse it. The first :data:`VERIFIED_ROWS` runs returned (what a person reads)
    also have their whole record checked; one with a missing blob is shown with a warning,
    the same sentence `show` gives.
    """
    commits, ids = table.column("commit"), table.column("run_id")
    out: list[int] = []
    for r in rows:
        if limit is not None and len(out) >= limit:
            break
        commit = str(commits[r])
        if not store.repo.has_object(commit):
            _warn_once(commit, f"Run {ids[r]} is left out: its commit {commit[:12]} is missing "
                       "from this repository; fetch it with `gittrack pull`, or list what is "
                       "damaged with `gittrack doctor`.")
            continue
        if len(out) < VERIFIED_ROWS:
            try:
                store.check_record(commit)
            except MissingObjectError as exc:
                text = str(exc)
                _warn_once(commit, f"Run {ids[r]} cannot be read in full: "
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
def truths(node: filters.Node, table: Table, rows: Sequence[int]) -> list[Truth]:
    """SQL three-valued truth of ``node`` for each row (None is unknown), column-wise."""
    if isinstance(node, filters.Everything):
        return [True] * len(rows)
    if isinstance(node, filters.Not):
        return [None if t is None else not t for t in truths(node.child, table, rows)]
    if isinstance(node, (filters.And, filters.Or)):
        left, right = truths(node.left, table, rows), truths(node.right, table, rows)
        decisive = isinstance(node, filters.Or)  # TRUE decides an OR, FALSE an AND
        return [decisive if decisive in (a, b) else (None if a is None or b is None
                                                    else not decisive)
                for a, b in zip(left, right)]
    column = table.column(node.key.column)
    return _predicate(node, [column[r] for r in rows])


def _predicate(node: filters.Predicate, values: list[Any]) -> list[Truth]:
    fast = _fast_metric_test(node)
    memo: dict[tuple[type, Any], Truth] = {}
    out: list[Truth] = []
    for v in values:
        if fast is not None and type(v) is float:
            out.append(fast(v))
            continue
        kind = type(v)
        if kind is float and v == 0.0:  # -0.0 and 0.0 are equal keys but print differently
            out.append(_one(node, v))
            continue
        try:
            out.append(memo[kind, v])
        except KeyError:
            out.append(memo.setdefault((kind, v), _one(node, v)))
        except TypeError:  # unhashable (a list param)
            out.append(_one(node, v))
    return out


def _one(node: filters.Predicate, value: Any) -> Truth:
    """The truth for one value, by the definition in gittrack.query.filters."""
    return filters.matches(node, {node.key.column: value}) if node.op == "IS NULL" \
        else _non_null_test(node, value)


def _non_null_test(node: filters.Predicate, value: Any) -> Truth:
    if filters.matches(filters.Predicate(node.key, "IS NULL"), {node.key.column: value}):
        return None
    return filters.matches(node, {node.key.column: value})


def _fast_metric_test(node: filters.Predicate) -> Any:
    """For a metric compared with numbers: a float test equal to the filter's own."""
    op = "=" if node.op == "IN" else node.op
    if node.key.kind != "metric" or op not in _FAST_OPS or not node.values \
            or any(isinstance(v.value, str) for v in node.values):
        return None
    compare = _FAST_OPS[op]
    literals = [float(v.value) for v in node.values]
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


def order(table: Table, rows: list[int], keys: Sequence[tuple[str, bool]]) -> list[int]:
    """``rows`` ordered by ``keys`` (stable passes, last key first), newest first on ties."""
    run_ids, starts = table.column("run_id"), table.column("start_time")
    rows = sorted(rows, key=lambda r: run_ids[r] or "", reverse=True)
    rows = sorted(rows, key=lambda r: starts[r] or "", reverse=True)
    for column, descending in reversed(keys):
        rows = _sorted_by(table.column(column), rows, descending)
    return rows


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
        values = _take(table.column(name), rows)
        if name in ("start_time", "end_time"):
            data[name] = pd.to_datetime(pd.Series(values, dtype=object), utc=True,
                                        format="ISO8601")
        else:
            data[name] = pd.Series(values, dtype="str")
    names = set(table.names()) - set(ATTRIBUTES.values())
    for section in ("metrics", "params", "tags"):
        for name in sorted(n for n in names if n.startswith(section + ".")):
            values = _take(table.column(name), rows)
            if values.count(None) == len(values):
                continue
            data[name] = pd.Series(values, dtype="float64" if section == "metrics" else object)
    return pd.DataFrame(data, index=pd.RangeIndex(len(rows)))


def _take(values: list[Any], rows: list[int]) -> list[Any]:
    """``[values[r] for r in rows]``, in C: 100,000 rows x 32 columns in ~0.2 s, not ~1 s."""
    if len(rows) < 2:
        return [values[r] for r in rows]
    return list(operator.itemgetter(*rows)(values))


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
