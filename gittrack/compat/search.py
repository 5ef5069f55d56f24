"""MLflow's ``search_runs``: its filter grammar, its semantics and its DataFrame, on gittrack runs.

The filter is MLflow's: comparisons joined by AND, tokenized with sqlparse as MLflow does, so
the same strings are accepted and the same are refused. Semantics follow MLflow's SQL store:

- metrics compare numerically with a number literal; NaN follows IEEE 754 (only ``!=``
  holds); infinities are stored by MLflow as +-1.797e308 and compare so here too;
- params and tags are strings (``str(value)``) and take a quoted string: ``=``, ``!=``,
  ``LIKE`` (case-sensitive), ``ILIKE``, ``IS [NOT] NULL``; a run without the key matches none
  of the comparisons;
- attributes: ``run_id`` (also ``IN``/``NOT IN`` a list), ``run_name`` (``Run name``),
  ``status``, ``user_id``, ``artifact_uri`` as strings; ``start_time``/``end_time``/``created``
  as milliseconds; ``datasets.name``/``digest``/``context`` match any input of the run.

Order: each ``order_by`` key puts runs that have the value first (metrics: numbers, then NaN,
then missing), ascending or descending by value (params and tags as strings); then start time
descending and run id ascending. gittrack's OR, NOT and parentheses are not part of this
grammar: they work in ``gittrack.query_runs`` and ``gittrack log --where``.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gittrack.compat.entities import MAX_FLOAT, STATUS_TO_MLFLOW, artifact_uri, param_text
from gittrack.core.errors import FilterError, InvalidInputError
from gittrack.core.records import mlflow_float, ms_from_iso, system_tags
from gittrack.core.store import Store
from gittrack.query.filters import like_regex

if TYPE_CHECKING:
    import pandas as pd

_ENTITY = {"metric": "metric", "metrics": "metric", "parameter": "parameter",
           "parameters": "parameter", "param": "parameter", "params": "parameter",
           "tag": "tag", "tags": "tag", "attribute": "attribute", "attributes": "attribute",
           "attr": "attribute", "run": "attribute", "dataset": "dataset", "datasets": "dataset"}
STRING_ATTRIBUTES = {"run_id", "run_name", "status", "user_id", "artifact_uri"}
NUMERIC_ATTRIBUTES = {"start_time", "end_time", "created", "Created"}
_ALIASES = {"created": "start_time", "Created": "start_time", "run name": "run_name",
            "Run name": "run_name", "Run Name": "run_name"}
SEARCH_ATTRIBUTES = STRING_ATTRIBUTES | NUMERIC_ATTRIBUTES | {"run name", "Run name", "Run Name"}
ORDER_ATTRIBUTES = STRING_ATTRIBUTES | NUMERIC_ATTRIBUTES
DATASET_KEYS = {"name", "digest", "context"}
_COMPARATORS = {
    "metric": {">", ">=", "!=", "=", "<", "<="},
    "parameter": {"!=", "=", "LIKE", "ILIKE", "IS NULL", "IS NOT NULL"},
    "tag": {"!=", "=", "LIKE", "ILIKE", "IS NULL", "IS NOT NULL"},
    "string": {"!=", "=", "LIKE", "ILIKE", "IN", "NOT IN"},
    "numeric": {">", ">=", "!=", "=", "<", "<="},
    "dataset": {"!=", "=", "LIKE", "ILIKE", "IN", "NOT IN"},
}


@dataclass(frozen=True)
class Clause:
    kind: str  # metric, parameter, tag, attribute, dataset
    key: str
    comparator: str
    value: Any


def _error(message: str) -> FilterError:
    return FilterError(message)


# -- parsing ------------------------------------------------------------------------------
def _strip_backticks(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == "`" else text


def _strip_quotes(text: str, required: bool = False) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if required:
        raise _error(f"The value {text} must be a quoted string; use single or double quotes.")
    return text


def identifier(text: str, attributes: set[str]) -> tuple[str, str]:
    """``(kind, key)`` of ``metrics.rmse``, ``params.`a b```, ``run_id`` (an attribute)..."""
    entity, dot, key = text.partition(".")
    if not dot:
        entity, key = "attribute", text
    entity = _strip_backticks(entity)
    if entity not in _ENTITY:
        raise _error(f"Invalid entity type '{entity}'; use metrics., params., tags., "
                     "attributes. or datasets.")
    kind = _ENTITY[entity]
    key = _strip_backticks(_strip_quotes(key))
    if kind == "attribute" and key not in attributes:
        raise _error(f"Invalid attribute key '{key}'; valid keys are "
                     f"{', '.join(sorted(attributes))}.")
    if kind == "dataset" and key not in DATASET_KEYS:
        raise _error(f"Invalid dataset key '{key}'; valid keys are name, digest and context.")
    return kind, key


def parse_filter(filter_string: str | None) -> list[Clause]:
    """MLflow's filter as a list of AND-ed clauses; FilterError where MLflow refuses it."""
    if not filter_string:
        return []
    import sqlparse  # lazy: only MLflow-shaped searches tokenize like MLflow

    try:
        statements = sqlparse.parse(filter_string)
    except Exception as exc:  # noqa: BLE001 - sqlparse raises anything on bad input
        raise _error(f"Cannot parse the filter {filter_string!r}: {exc}.") from None
    if not statements:
        raise _error(f"Cannot parse the filter {filter_string!r}.")
    if len(statements) > 1:
        raise _error(f"The filter {filter_string!r} holds several statements; join "
                     "comparisons with AND.")
    tokens = _join_tokens(statements[0].tokens)
    from sqlparse.sql import Comparison
    from sqlparse.tokens import Keyword

    bad = [t for t in tokens if not (isinstance(t, Comparison) or t.is_whitespace
                                     or t.match(Keyword, ["AND"]))]
    if bad:
        raise _error(f"Invalid clause(s) in the filter: {', '.join(repr(str(t)) for t in bad)}; "
                     "MLflow's grammar joins comparisons with AND only (gittrack.query_runs "
                     "also takes OR, NOT and parentheses).")
    return [_clause(t) for t in tokens if isinstance(t, Comparison)]


def _join_tokens(tokens: Sequence[Any]) -> list[Any]:
    """Turn ``key IN (...)``, ``key NOT IN (...)``, ``key IS [NOT] NULL`` into comparisons."""
    from sqlparse.sql import Comparison, Identifier, Parenthesis, Token, TokenList
    from sqlparse.tokens import Keyword

    items = [t for t in tokens if not t.is_whitespace]
    out: list[Any] = []
    i = 0
    while i < len(items):
        first = items[i]
        if len(items) - i < 3 or not isinstance(first, Identifier):
            out.append(first)
            i += 1
            continue
        second, third = items[i + 1], items[i + 2]
        if second.match(Keyword, ["IN"]) and isinstance(third, Parenthesis):
            out.append(Comparison(TokenList([first, second, third])))
            i += 3
        elif second.match(Keyword, ["IS"]) and third.match(Keyword, ["NULL"]):
            out.append(Comparison(TokenList([first, Token(Keyword, "IS NULL")])))
            i += 3
        elif second.match(Keyword, ["IS"]) and third.ttype == Keyword \
                and third.value.upper() == "NOT NULL":
            out.append(Comparison(TokenList([first, Token(Keyword, "IS NOT NULL")])))
            i += 3
        elif i + 3 < len(items) and second.match(Keyword, ["NOT"]) \
                and third.match(Keyword, ["IN"]) and isinstance(items[i + 3], Parenthesis):
            out.append(Comparison(TokenList([first, Token(Keyword, "NOT IN"), items[i + 3]])))
            i += 4
        elif i + 3 >= len(items):
            out.extend(items[i:i + 3])
            i += 3
        else:
            out.extend(items[i:i + 4])
            i += 4
    return out


def _clause(comparison: Any) -> Clause:
    from sqlparse.sql import Identifier

    parts = [t for t in comparison.tokens if not t.is_whitespace]
    if len(parts) == 2 and parts[1].value.upper() in ("IS NULL", "IS NOT NULL"):
        if not isinstance(parts[0], Identifier):
            raise _error(f"Invalid comparison: expected a key, found '{parts[0]}'.")
        kind, key = identifier(parts[0].value, SEARCH_ATTRIBUTES)
        if kind not in ("tag", "parameter"):
            raise _error(f"IS NULL / IS NOT NULL works on tags and params only, not on "
                         f"{kind} '{key}'.")
        return Clause(kind, key, parts[1].value.upper(), None)
    if len(parts) != 3:
        raise _error(f"Invalid comparison '{comparison}': expected KEY OPERATOR VALUE.")
    if not isinstance(parts[0], Identifier):
        raise _error(f"Invalid comparison '{comparison}': expected a key, found '{parts[0]}'.")
    kind, key = identifier(parts[0].value, SEARCH_ATTRIBUTES)
    comparator = parts[1].value
    value = _value(kind, key, parts[2])
    _check_comparator(kind, _ALIASES.get(key, key), comparator.upper())
    return Clause(kind, _ALIASES.get(key, key), comparator.upper(), value)


def _value(kind: str, key: str, token: Any) -> Any:
    from sqlparse.sql import Identifier, Parenthesis
    from sqlparse.tokens import Literal

    numeric = token.ttype in (Literal.Number.Integer, Literal.Number.Float)
    string = token.ttype == Literal.String.Single or isinstance(token, Identifier)
    if kind == "metric":
        if not numeric:
            raise _error(f"A metric compares with a number; found {token.value}.")
        return float(token.value)
    if kind in ("parameter", "tag"):
        if not string:
            raise _error(f"A {kind} compares with a quoted string (e.g. 'my-value'); found "
                         f"{token.value}.")
        return _strip_quotes(token.value, required=True)
    if kind == "attribute" and key in NUMERIC_ATTRIBUTES:
        if not numeric:
            raise _error(f"The attribute {key} compares with a number; found {token.value}.")
        return int(token.value) if token.ttype == Literal.Number.Integer else float(token.value)
    if string:
        return _strip_quotes(token.value, required=True)
    if isinstance(token, Parenthesis):
        if (kind == "attribute" and key != "run_id") or kind not in ("attribute", "dataset"):
            raise _error("Only run_id (and dataset name, digest, context) compare with a list "
                         "of quoted strings.")
        return _parse_list(token.value)
    raise _error(f"The {kind} {key} compares with a quoted string; found {token.value}.")


def _parse_list(text: str) -> tuple[str, ...]:
    try:
        parsed = ast.literal_eval(text)
    except (SyntaxError, ValueError):
        raise _error("A list in the filter must be a non-empty list of quoted strings.") from None
    items = parsed if isinstance(parsed, tuple) else (parsed,)
    if not items or not all(isinstance(v, str) for v in items):
        raise _error("A list in the filter must be a non-empty list of quoted strings.")
    return items


def _check_comparator(kind: str, key: str, comparator: str) -> None:
    group = kind
    if kind == "attribute":
        group = "numeric" if key in ("start_time", "end_time") else "string"
    if comparator not in _COMPARATORS[group]:
        raise _error(f"Invalid comparator '{comparator}' for {kind} '{key}'; use one of "
                     f"{', '.join(sorted(_COMPARATORS[group]))}.")


def parse_order_by(spec: str) -> tuple[str, str, bool]:
    """``(kind, key, ascending)`` of an order_by item as MLflow parses it."""
    import shlex

    import sqlparse  # lazy: as parse_filter
    from sqlparse.sql import Identifier
    from sqlparse.tokens import Keyword

    if not isinstance(spec, str):
        raise InvalidInputError(f"An order_by item must be a string; got {spec!r}.")
    shown = repr(spec) if len(spec) <= 80 else repr(spec[:77] + "...")
    hint = f"Invalid order_by clause {shown}; use a key such as 'metrics.rmse DESC'."
    try:
        statements = sqlparse.parse(spec)
    except Exception:  # noqa: BLE001 - sqlparse raises anything on bad input
        raise InvalidInputError(hint) from None
    if len(statements) != 1:
        raise InvalidInputError(hint)
    toks = statements[0].tokens
    if len(toks) == 1 and isinstance(toks[0], Identifier):
        text = toks[0].value
    elif toks and toks[0].match(sqlparse.tokens.Name.Builtin, ["timestamp"]) and (
            len(toks) == 1 or (all(t.is_whitespace for t in toks[1:-1])
                               and toks[-1].ttype == Keyword.Order)):
        text = "timestamp" + ("" if len(toks) == 1 else " " + toks[-1].value)
    else:
        raise InvalidInputError(hint)
    try:
        words = shlex.split(text.replace("`", '"'))
    except ValueError:
        raise InvalidInputError(hint) from None
    ascending = True
    if len(words) > 2:
        raise InvalidInputError(hint)
    if len(words) == 2:
        if words[1].lower() not in ("asc", "desc"):
            raise InvalidInputError(f"Invalid ordering key in order_by clause {spec!r}.")
        ascending = words[1].lower() == "asc"
    try:
        kind, key = identifier(words[0].strip(), ORDER_ATTRIBUTES)
    except FilterError as exc:
        raise InvalidInputError(str(exc)) from None
    if kind == "dataset":
        raise InvalidInputError(f"Cannot order by a dataset key: {spec!r}.")
    return kind, _ALIASES.get(key, key), ascending


# -- the rows MLflow sees ---------------------------------------------------------------
@dataclass
class Row:
    """One run as MLflow's store holds it."""

    run_id: str
    experiment_id: str
    status: str
    artifact_uri: str
    start_time: int | None
    end_time: int | None
    run_name: str
    user_id: str
    metrics: dict[str, float]
    params: dict[str, str]
    tags: dict[str, str]
    commit: str
    datasets: list[dict[str, Any]] | None = None


def rows(store: Store, experiments: Sequence[str], root: str,
         clauses: Sequence[Clause] = ()) -> list[Row]:
    """The MLflow view of the runs of ``experiments``, read from the summary index: every
    run, or with ``clauses`` at least those that match them (the metric, param and tag
    clauses are tested on the index's columns first, so a million runs are not each made
    into a Row to be tested)."""
    import numpy as np

    from gittrack.query.index import Index  # lazy: keeps `import gittrack` light
    from gittrack.query.search import present  # lazy: keeps `import gittrack` light

    table, at = Index(store).runs(experiments)
    if table.damaged:
        at = at[~np.isin(at, np.fromiter(table.damaged, dtype=np.int64))]
    for clause in clauses:
        may = _may_match(table, clause)
        if may is not None:
            at = at[may[at]]
    # as gittrack's own search: runs git cannot read, or whose commit is gone, are left out
    # with a warning naming them (the index keeps summaries of commits since lost)
    found = present(store, table, at.tolist(), None)
    out = []
    for r in found:
        s = table.summary(r)
        tags = system_tags(s)  # the summary holds the run.yaml fields it derives them from
        tags.update({str(k): str(v) for k, v in (s.get("tags") or {}).items()})
        metrics = {k: mlflow_float(float(v) if isinstance(v, (int, float)) else math.nan)
                   for k, v in (s.get("metrics") or {}).items()}
        out.append(Row(
            run_id=str(s["id"]), experiment_id=str(s.get("experiment") or ""),
            status=STATUS_TO_MLFLOW.get(str(s.get("status")), str(s.get("status")).upper()),
            artifact_uri=artifact_uri(root, str(s["id"])),
            start_time=ms_from_iso(s.get("start_time")), end_time=ms_from_iso(s.get("end_time")),
            run_name=str(s.get("name") or ""), user_id=str(s.get("user") or ""),
            metrics=metrics, params={k: param_text(v) for k, v in (s.get("params") or {}).items()},
            tags=tags, commit=str(s.get("commit") or ""),
        ))
    return out


_SECTIONS = {"metric": "metrics", "parameter": "params", "tag": "tags"}
_ARRAY_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
    ">=": operator.ge}


def _may_match(table: Any, clause: Clause) -> Any:
    """A bool array over the table's rows, False where ``clause`` cannot match (exactly
    :func:`matches` on the value the index holds; True where the index holds none, as a
    param logged as None is indexed as missing); None when the index cannot tell (system
    tags, attributes, datasets)."""
    import numpy as np

    if clause.kind not in _SECTIONS or (clause.kind == "tag" and clause.key.startswith("mlflow.")):
        return None
    column = f"{_SECTIONS[clause.kind]}.{clause.key}"

    def test(value: Any) -> bool:
        if clause.comparator in ("IS NULL", "IS NOT NULL"):
            return clause.comparator == "IS NOT NULL"
        if clause.kind == "metric":
            lhs = mlflow_float(float(value) if isinstance(value, (int, float)) else math.nan)
            bound = min(max(clause.value, -MAX_FLOAT), MAX_FLOAT)
            return _compare(clause.comparator, lhs, bound)
        text = param_text(value) if clause.kind == "parameter" else str(value)
        return _compare(clause.comparator, text, clause.value)

    parts = []
    for seg in table.segments:
        vec = seg.vector(column)
        if vec is None:  # no run of the segment has the key (or only as None: a param)
            parts.append(np.full(seg.n, clause.kind == "parameter"
                                 or clause.comparator == "IS NULL"))
        elif vec[0] == "dict":
            lut = np.array([True if v is None else test(v) for v in vec[1]], dtype=bool)
            parts.append(lut[vec[2]])
        elif clause.kind == "metric" and clause.comparator in _ARRAY_OPS:
            # as test(): infinities stored as +-MAX_FLOAT (NaN stays NaN), IEEE comparisons
            bound = min(max(clause.value, -MAX_FLOAT), MAX_FLOAT)
            part = _ARRAY_OPS[clause.comparator](np.clip(vec[1], -MAX_FLOAT, MAX_FLOAT), bound)
            part[vec[2]] = True
            parts.append(part)
        else:
            distinct, inverse = np.unique(vec[1].view(np.int64), return_inverse=True)
            lut = np.array([test(v) for v in distinct.view(np.float64).tolist()], dtype=bool)
            part = lut[inverse.reshape(-1)]
            part[vec[2]] = True
            parts.append(part)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


def _datasets(store: Store, row: Row) -> list[dict[str, Any]]:
    if row.datasets is None:
        inputs = store.read_file(row.commit, "inputs.yaml") or {}
        row.datasets = [{"name": str(n), "digest": str(e.get("md5") or ""),
                         "context": e.get("context")}
                        for n, e in inputs.items() if isinstance(e, dict)]
    return row.datasets


# -- matching and ordering --------------------------------------------------------------


def _compare(comparator: str, lhs: Any, value: Any) -> bool:
    if comparator == "LIKE":
        return like_regex(value).fullmatch(lhs) is not None
    if comparator == "ILIKE":
        return like_regex(value, ignore_case=True).fullmatch(lhs) is not None
    if comparator == "IN":
        return lhs in value
    if comparator == "NOT IN":
        return lhs not in value
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
    return ops[comparator](lhs, value)


def matches(store: Store, row: Row, clause: Clause) -> bool:
    kind, key, comparator, value = clause.kind, clause.key, clause.comparator, clause.value
    if kind == "dataset":
        return any(d.get(key) is not None and _compare(comparator, d[key], value)
                   for d in _datasets(store, row))
    if kind == "attribute":
        lhs = row.tags.get("mlflow.runName") if key == "run_name" else getattr(row, key)
        if lhs is None:
            return False
        if key in ("start_time", "end_time") and isinstance(value, float):
            return _compare(comparator, float(lhs), value)
        return _compare(comparator, lhs, value)
    source: dict[str, Any] = row.metrics if kind == "metric" else \
        row.params if kind == "parameter" else row.tags
    if comparator == "IS NULL":
        return key not in source
    if comparator == "IS NOT NULL":
        return key in source
    if key not in source:
        return False
    lhs = source[key]
    if kind == "metric":
        value = MAX_FLOAT if value > MAX_FLOAT else -MAX_FLOAT if value < -MAX_FLOAT else value
    return _compare(comparator, lhs, value)


def _sort_value(row: Row, kind: str, key: str) -> Any:
    if kind == "metric":
        return row.metrics.get(key)
    if kind == "parameter":
        return row.params.get(key)
    if kind == "tag":
        return row.tags.get(key)
    if key == "run_name":
        return row.run_name
    return getattr(row, key)


def order(found: list[Row], order_by: Sequence[str]) -> list[Row]:
    """MLflow's order: each key (present values first), start time desc, run id asc."""
    keys = [parse_order_by(spec) for spec in order_by]
    seen = set()
    for kind, key, _asc in keys:
        if (kind, key) in seen:
            raise InvalidInputError(f"order_by names {kind} '{key}' twice; name each key once.")
        seen.add((kind, key))
    found = sorted(found, key=lambda r: r.run_id)
    if ("attribute", "start_time") not in seen:
        found = sorted(found, key=lambda r: -(r.start_time or 0))
    for kind, key, ascending in reversed(keys):
        found = _sorted_by(found, kind, key, ascending)
    return found


def _sorted_by(found: list[Row], kind: str, key: str, ascending: bool) -> list[Row]:
    groups: dict[int, list[tuple[Any, Row]]] = {0: [], 1: [], 2: []}
    for row in found:
        v = _sort_value(row, kind, key)
        if v is None:
            groups[2 if kind == "metric" else 1].append((v, row))
        elif isinstance(v, float) and math.isnan(v):
            groups[1].append((0.0, row))  # MLflow keeps NaN as 0 with a NaN flag
        else:
            groups[0].append((v, row))
    out: list[Row] = []
    for rank in (0, 1, 2):
        group = groups[rank]
        if rank == 0 or (rank == 1 and kind == "metric"):
            group.sort(key=lambda pair: pair[0], reverse=not ascending)
        out.extend(row for _v, row in group)
    return out


def search(store: Store, experiments: Sequence[str], filter_string: str | None,
           order_by: Sequence[str] | None, max_results: int | None, root: str) -> list[Row]:
    """The runs MLflow's ``search_runs`` would return, in its order."""
    clauses = parse_filter(filter_string)
    for spec in order_by or ():
        parse_order_by(spec)
    found = [r for r in rows(store, experiments, root, clauses)
             if all(matches(store, r, c) for c in clauses)]
    found = order(found, order_by or ())
    return found if max_results is None else found[:max_results]


def frame(found: Sequence[Row]) -> pd.DataFrame:
    """MLflow's search_runs DataFrame: run_id, experiment_id, status, artifact_uri,
    start_time, end_time, then metrics.*, params.*, tags.* (None where a run lacks a key)."""
    import pandas as pd

    info: dict[str, list[Any]] = {"run_id": [], "experiment_id": [], "status": [],
                                  "artifact_uri": [], "start_time": [], "end_time": []}
    sections: dict[str, dict[str, list[Any]]] = {"metrics": {}, "params": {}, "tags": {}}
    for i, row in enumerate(found):
        info["run_id"].append(row.run_id)
        info["experiment_id"].append(row.experiment_id)
        info["status"].append(row.status)
        info["artifact_uri"].append(row.artifact_uri)
        info["start_time"].append(row.start_time)
        info["end_time"].append(row.end_time)
        for section, values, null in (("metrics", row.metrics, math.nan),
                                      ("params", row.params, None), ("tags", row.tags, None)):
            columns = sections[section]
            for key, column in columns.items():
                column.append(values.get(key, null))
            for key in values.keys() - columns.keys():
                columns[key] = [null] * i + [values[key]]
    data: dict[str, Any] = dict(info)
    for name in ("start_time", "end_time"):  # milliseconds: exact in float64, None is NaT
        data[name] = pd.to_datetime(pd.Series(info[name], dtype="float64"), unit="ms", utc=True)
    for section, columns in sections.items():
        for key in sorted(columns):
            data[f"{section}.{key}"] = columns[key]
    return pd.DataFrame(data)


# -- experiments (search_experiments) ------------------------------------------------------
EXPERIMENT_ATTRIBUTES = {"name", "experiment_id", "creation_time", "last_update_time"}


def parse_experiment_filter(filter_string: str | None) -> list[Clause]:
    """``name = 'x'``, ``name LIKE 'x%'``, ``tags.team = 'ml'``... AND-ed, as MLflow."""
    if not filter_string:
        return []
    import sqlparse  # lazy: as parse_filter
    from sqlparse.sql import Comparison, Identifier
    from sqlparse.tokens import Keyword

    statements = sqlparse.parse(filter_string)
    if len(statements) != 1:
        raise _error(f"Cannot parse the experiment filter {filter_string!r}.")
    tokens = _join_tokens(statements[0].tokens)
    if any(not (isinstance(t, Comparison) or t.is_whitespace or t.match(Keyword, ["AND"]))
           for t in tokens):
        raise _error(f"Invalid clause in the experiment filter {filter_string!r}; join "
                     "comparisons with AND.")
    out = []
    for comparison in (t for t in tokens if isinstance(t, Comparison)):
        parts = [t for t in comparison.tokens if not t.is_whitespace]
        if not parts or not isinstance(parts[0], Identifier):
            raise _error(f"Invalid comparison '{comparison}' in the experiment filter.")
        kind, key = identifier(parts[0].value, EXPERIMENT_ATTRIBUTES)
        if len(parts) == 2:
            out.append(Clause(kind, key, parts[1].value.upper(), None))
            continue
        if len(parts) != 3:
            raise _error(f"Invalid comparison '{comparison}' in the experiment filter.")
        numeric = key in ("creation_time", "last_update_time")
        value = int(parts[2].value) if numeric else _strip_quotes(parts[2].value, True)
        out.append(Clause(kind, key, parts[1].value.upper(), value))
    return out


def experiment_matches(experiment: Any, clause: Clause) -> bool:
    if clause.kind == "tag":
        tags = experiment.tags
        if clause.comparator in ("IS NULL", "IS NOT NULL"):
            return (clause.key in tags) == (clause.comparator == "IS NOT NULL")
        return clause.key in tags and _compare(clause.comparator, tags[clause.key], clause.value)
    lhs = getattr(experiment, clause.key)
    return lhs is not None and _compare(clause.comparator, lhs, clause.value)


def order_experiments(found: list[Any], order_by: Sequence[str]) -> list[Any]:
    """By ``order_by`` (name, experiment_id, creation_time, last_update_time), else by
    creation time descending as MLflow, names breaking ties."""
    out = sorted(found, key=lambda e: e.name)
    if not order_by:
        return sorted(out, key=lambda e: -(e.creation_time or 0))
    for spec in reversed(order_by):
        words = spec.split()
        key = words[0].removeprefix("attributes.")
        if key not in EXPERIMENT_ATTRIBUTES or len(words) > 2:
            raise InvalidInputError(f"Cannot order experiments by {spec!r}; use name, "
                                    "experiment_id, creation_time or last_update_time.")
        descending = len(words) == 2 and words[1].upper() == "DESC"
        out = sorted(out, key=lambda e: (getattr(e, key) is None, getattr(e, key) or 0)
                     if key.endswith("time") else str(getattr(e, key)), reverse=descending)
    return out
