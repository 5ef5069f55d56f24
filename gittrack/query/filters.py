"""The run filter grammar: MLflow's ``search_runs`` filter plus OR, NOT and parentheses.

    metrics.rmse < 0.5 AND (params.model = 'rf' OR tags.team ILIKE 'ml%')
    NOT status IN ('FAILED', 'KILLED') AND metrics.`val loss/x` IS NOT NULL

Grammar; keywords are case-insensitive and NOT binds tighter than AND, AND tighter than OR::

    filter    := [or_expr]              (empty or blank: every row matches)
    or_expr   := and_expr (OR and_expr)*
    and_expr  := not_expr (AND not_expr)*
    not_expr  := NOT not_expr | '(' or_expr ')' | predicate
    predicate := key (= | != | < | <= | > | >=) value | key [NOT] (LIKE | ILIKE) string
               | key [NOT] IN '(' value (',' value)* ')' | key IS [NOT] NULL

Keys. ``metrics.k``, ``params.k`` and ``tags.k`` read the columns of those names (``metric.``,
``param.``, ``parameter(s).``, ``tag.``, ``attribute.``, ``attr.``, ``run.`` are aliases);
``attributes.a`` reads the unprefixed column ``a`` for a in run_id, name (alias run_name),
status, start_time, end_time, experiment, baseline_commit, user, parent_run_id; MLflow's
``tags.mlflow.parentRunId``, ``tags.mlflow.runName`` and ``tags.mlflow.user`` read the
attributes parent_run_id, name and user.  An unprefixed key is that
attribute when it names one, else a metric: ``rmse`` means ``metrics.rmse``.  Other prefixes
(``foo.bar``) are errors.  Quote keys with spaces or dots: metrics.`my metric/x`, params."a b".
Strings take single or double quotes, a doubled quote standing for one (``'it''s'``); numbers
may be signed and have exponents (``-1``, ``.5``, ``2.5e-3``).

Semantics, shared by ``matches`` (one row) and ``to_mask`` (a frame):

- Metrics compare numerically and only with numbers; a non-numeric metric value counts as NaN.
- Params, tags and the other attributes are strings or YAML scalars.  Against a number literal
  a value that is a number, or a string that reads as one, compares numerically; any other
  value compares as ``str(value)`` with the literal as written.  Against a string literal
  ``str(value)`` is compared, so ``params.alpha = '0.1'`` holds for 0.1 and for '0.1'.
  Booleans are not numbers.
- status: string literals are compared in lower case, the case statuses are stored in, so
  MLflow's ``status = 'FINISHED'`` matches the status ``finished``.
- start_time/end_time: against a number, values compare as milliseconds since the epoch
  (numbers are milliseconds; datetimes and ISO strings are converted, naive ones as UTC);
  against a string, as ISO-8601 strings (milliseconds become UTC ISO strings).
- NULL is a missing key or a None, ``pd.NA`` or ``pd.NaT`` value, and in params, tags and
  attributes also a float NaN (pandas' mark of a missing cell).  Any test of NULL, ``!=``,
  LIKE and IN included, is unknown; only IS [NOT] NULL sees it.  Unknowns follow SQL
  three-valued logic (NOT unknown is unknown, FALSE AND unknown is FALSE, TRUE OR unknown is
  TRUE) and a row matches only when the filter is TRUE, so ``NOT metrics.x > 1`` and
  ``metrics.x NOT IN (1)`` both leave out runs without ``metrics.x``.
- A NaN metric is a value, not NULL: IS NULL is false for it and comparisons follow IEEE 754
  (``=``, ``<``, ``<=``, ``>``, ``>=`` are false, ``!=`` is true).
- LIKE is case-sensitive and ILIKE is not; ``%`` matches any run of characters, ``_`` exactly
  one, everything else itself.  ``IN`` is a chain of ``=`` tests.
- ``to_mask`` reads every pandas missing marker as NULL, except NaN in a metric column: a
  float64 column cannot hold None, so there NaN is a NaN value.  To keep a missing metric
  NULL, build the frame with ``to_frame`` (object columns, None for a missing key).

A malformed filter raises FilterError, one sentence naming the offending token and its
position counted in characters from 1.
"""

from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from numbers import Real
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from gittrack.core.errors import FilterError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

__all__ = ["ATTRIBUTES", "Node", "columns", "matches", "parse", "to_frame", "to_mask"]

ATTRIBUTES: dict[str, str] = {
    "run_id": "run_id", "run_name": "name", "name": "name", "status": "status",
    "start_time": "start_time", "end_time": "end_time", "experiment": "experiment",
    "baseline_commit": "baseline_commit", "user": "user", "parent_run_id": "parent_run_id",
}  # attribute name in a filter -> column name
# MLflow's system tags that gittrack keeps as attributes: tags.mlflow.parentRunId = '...'
MLFLOW_TAGS: dict[str, str] = {
    "mlflow.parentRunId": "parent_run_id", "mlflow.runName": "name", "mlflow.user": "user",
}
_TIME_COLUMNS = frozenset({"start_time", "end_time"})
_PREFIXES: dict[str, str] = {
    "metrics": "metrics", "metric": "metrics", "params": "params", "param": "params",
    "parameters": "params", "parameter": "params", "tags": "tags", "tag": "tags",
    "attributes": "attributes", "attribute": "attributes", "attr": "attributes",
    "run": "attributes",
}
_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE"})
_COMPARATORS = ("<=", ">=", "!=", "=", "<", ">")
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt,
    "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_WORD = re.compile(r"[A-Za-z_]\w*")
_BARE_KEY = re.compile(r"[\w./:-]+")
_QUOTES = "'\"`"

Kind: TypeAlias = Literal["metric", "scalar", "time"]


@dataclass(frozen=True)
class Key:
    """A column the filter reads, and how its values compare."""

    column: str
    kind: Kind


@dataclass(frozen=True)
class Value:
    """A literal: a float or a string, and its text as written."""

    value: float | str
    text: str


def _string(key: Key, text: str) -> Value:
    # Statuses are stored lowercase; MLflow writes them upper case ('FINISHED'): both match.
    value = text.lower() if key.column == "status" else text
    return Value(value, value)


@dataclass(frozen=True)
class Everything:
    """The empty filter."""


@dataclass(frozen=True)
class Predicate:
    """One test of one column; op is a comparator, LIKE, ILIKE, IN or IS NULL."""

    key: Key
    op: str
    values: tuple[Value, ...] = ()


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class And:
    left: Node
    right: Node


@dataclass(frozen=True)
class Or:
    left: Node
    right: Node


Node: TypeAlias = "Everything | Predicate | Not | And | Or"


# ---------------------------------------------------------------- tokenizer


@dataclass(frozen=True)
class _Token:
    kind: str  # "key", "number", "string", "word" (a keyword), "op", "punct" or "end"
    text: str  # as written
    pos: int  # 0-based offset
    value: str = ""  # key name, string content or upper-cased keyword; else the text
    prefix: str = ""  # canonical prefix of a key, "" when it had none


def _error(expr: str, pos: int, what: str, advice: str) -> FilterError:
    """The one-sentence FilterError: what is wrong, where (from 1), and what to write."""
    shown = expr if len(expr) <= 120 else expr[:117] + "..."
    return FilterError(f'{what} at position {pos + 1} in filter "{shown}"; {advice}.')


def _read_quoted(expr: str, start: int) -> tuple[str, int]:
    """The text quoted from ``start`` and the offset after it; a doubled quote is one."""
    quote, i, parts = expr[start], start + 1, []
    while (end := expr.find(quote, i)) >= 0:
        parts.append(expr[i:end])
        if not expr.startswith(quote * 2, end):
            return "".join(parts), end + 1
        parts.append(quote)
        i = end + 2
    raise _error(expr, start, f"Unterminated {quote} quote", f"close it with a matching {quote}")


def _read_word(expr: str, i: int) -> tuple[_Token, int]:
    word = _WORD.match(expr, i)
    assert word is not None
    text, end = word.group(), word.end()
    if not expr.startswith(".", end):
        keyword = text.upper() in _KEYWORDS
        return _Token("word" if keyword else "key", text, i, text.upper() if keyword else text), end
    prefix = _PREFIXES.get(text.lower())
    if prefix is None:
        advice = "use metrics., params., tags. or attributes. (quote a dotted key: metrics.`a.b`)"
        raise _error(expr, i, f"Unknown prefix '{text}.'", advice)
    if expr[end + 1 : end + 2] in tuple(_QUOTES):
        name, stop = _read_quoted(expr, end + 1)
    elif bare := _BARE_KEY.match(expr, end + 1):
        name, stop = bare.group(), bare.end()
    else:
        advice = f"write it as {text}.rmse or {text}.`my key`"
        raise _error(expr, i, f"Missing key after '{text}.'", advice)
    return _Token("key", expr[i:stop], i, name, prefix), stop


def _read_token(expr: str, i: int) -> tuple[_Token, int]:
    char = expr[i]
    if char in "(),":
        return _Token("punct", char, i, char), i + 1
    if op := next((op for op in _COMPARATORS if expr.startswith(op, i)), None):
        return _Token("op", op, i, op), i + len(op)
    if number := _NUMBER.match(expr, i):
        return _Token("number", number.group(), i, number.group()), number.end()
    if char in _QUOTES:
        text, end = _read_quoted(expr, i)
        return _Token("key" if char == "`" else "string", expr[i:end], i, text), end
    if _WORD.match(char):
        return _read_word(expr, i)
    advice = "expected a key, a value, a comparator, a parenthesis or a keyword"
    raise _error(expr, i, f"Unexpected character '{char}'", advice)


def _tokenize(expr: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while True:
        while i < len(expr) and expr[i].isspace():
            i += 1
        if i == len(expr):
            return [*tokens, _Token("end", "", i)]
        token, i = _read_token(expr, i)
        tokens.append(token)


# ------------------------------------------------------------------- parser


MAX_DEPTH = 50  # nesting of NOT and parentheses (the parser and evaluator recurse on it)
MAX_TERMS = 200  # comparisons in one filter (AND/OR chains make trees this deep)


class _Parser:
    """Recursive descent over the token list, one method per grammar rule."""

    def __init__(self, expr: str) -> None:
        self.expr, self.tokens, self.index = expr, _tokenize(expr), 0
        self.depth = 0  # NOT and parentheses open around the current position

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def accept(self, kind: str, value: str) -> bool:
        hit = self.peek().kind == kind and self.peek().value == value
        if hit:
            self.advance()
        return hit

    def fail(self, token: _Token, expected: str) -> FilterError:
        what = "end of filter" if token.kind == "end" else f"'{token.text}'"
        return _error(self.expr, token.pos, f"Unexpected {what}", f"expected {expected}")

    def parse(self) -> Node:
        if self.peek().kind == "end":
            return Everything()
        terms = sum(1 for t in self.tokens if t.kind == "key")
        if terms > MAX_TERMS:
            raise FilterError(f'The filter "{self.expr[:60]}..." compares {terms} keys; the '
                              f"limit is {MAX_TERMS}, so split it into several searches.")
        node, token = self.parse_or(), self.peek()
        if token.kind == "punct" and token.value == ")":
            raise _error(self.expr, token.pos, "Unmatched ')'", "remove it or add a '(' before it")
        if token.kind != "end":
            raise self.fail(token, "AND, OR or the end of the filter")
        return node

    def parse_or(self) -> Node:
        node = self.parse_and()
        while self.accept("word", "OR"):
            node = Or(node, self.parse_and())
        return node

    def parse_and(self) -> Node:
        node = self.parse_not()
        while self.accept("word", "AND"):
            node = And(node, self.parse_not())
        return node

    def parse_not(self) -> Node:
        opening = self.peek()
        if opening.kind in ("word", "punct") and opening.value in ("NOT", "("):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise _error(self.expr, opening.pos, f"More than {MAX_DEPTH} NOTs and "
                             "parentheses nest here", "write the filter with less nesting")
            try:
                return self._nested()
            finally:
                self.depth -= 1
        return self.parse_predicate()

    def _nested(self) -> Node:
        if self.accept("word", "NOT"):
            return Not(self.parse_not())
        opening = self.peek()
        self.accept("punct", "(")
        node, token = self.parse_or(), self.peek()
        if token.kind == "end":
            raise _error(self.expr, opening.pos, "Unclosed '('", "add a matching ')'")
        if not self.accept("punct", ")"):
            raise self.fail(token, "AND, OR or ')'")
        return node

    def parse_predicate(self) -> Node:
        token = self.advance()
        if token.kind != "key":
            raise self.fail(token, "a key such as metrics.rmse or params.alpha")
        key = self.resolve(token)
        if self.peek().kind == "op":
            return Predicate(key, self.advance().value, (self.parse_value(key),))
        if self.accept("word", "IS"):
            negated = self.accept("word", "NOT")
            if not self.accept("word", "NULL"):
                raise self.fail(self.peek(), "NULL or NOT NULL after IS")
            null = Predicate(key, "IS NULL")
            return Not(null) if negated else null
        negated = self.accept("word", "NOT")
        token = self.advance()
        if token.kind == "word" and token.value in ("LIKE", "ILIKE"):
            node: Node = self.parse_like(key, token)
        elif token.kind == "word" and token.value == "IN":
            node = Predicate(key, "IN", self.parse_list(key))
        elif negated:
            raise self.fail(token, "LIKE, ILIKE or IN after NOT")
        else:
            raise self.fail(token, "a comparator (=, !=, <, <=, >, >=), LIKE, ILIKE, IN or IS")
        return Not(node) if negated else node

    def parse_like(self, key: Key, keyword: _Token) -> Predicate:
        if key.kind == "metric":
            what = f"{keyword.value} on the metric '{key.column}'"
            raise _error(self.expr, keyword.pos, what, "compare metrics with numbers such as 0.5")
        token = self.advance()
        if token.kind != "string":
            raise self.fail(token, "a quoted pattern such as '%abc%'")
        return Predicate(key, keyword.value, (_string(key, token.value),))

    def parse_list(self, key: Key) -> tuple[Value, ...]:
        opening = self.advance()
        if opening.kind != "punct" or opening.value != "(":
            raise self.fail(opening, "'(' to open the IN list")
        if self.peek().kind == "punct" and self.peek().value == ")":
            advice = "list at least one value, as in IN ('a', 'b')"
            raise _error(self.expr, opening.pos, "Empty IN list", advice)
        values = [self.parse_value(key)]
        while not self.accept("punct", ")"):
            if not self.accept("punct", ","):
                raise self.fail(self.peek(), "',' or ')' in the IN list")
            values.append(self.parse_value(key))
        return tuple(values)

    def parse_value(self, key: Key) -> Value:
        token = self.advance()
        if token.kind == "number":
            return Value(float(token.text), token.text)
        if token.kind != "string":
            hint = " (test a missing value with IS NULL)" if token.value == "NULL" else ""
            raise self.fail(token, f"a value such as 0.5 or 'text'{hint}")
        if key.kind == "metric":
            what = f"String {token.text} compared with the metric '{key.column}'"
            raise _error(self.expr, token.pos, what, "compare metrics with numbers such as 0.5")
        return _string(key, token.value)

    def resolve(self, token: _Token) -> Key:
        name, prefix = token.value, token.prefix
        if prefix == "tags" and name in MLFLOW_TAGS:
            return Key(MLFLOW_TAGS[name], "scalar")
        if prefix in ("metrics", "params", "tags"):
            return Key(f"{prefix}.{name}", "metric" if prefix == "metrics" else "scalar")
        if prefix == "attributes" and name not in ATTRIBUTES:
            advice = f"use one of {', '.join(ATTRIBUTES)}"
            raise _error(self.expr, token.pos, f"Unknown attribute '{name}'", advice)
        if name not in ATTRIBUTES:
            return Key(f"metrics.{name}", "metric")
        column = ATTRIBUTES[name]
        return Key(column, "time" if column in _TIME_COLUMNS else "scalar")


def parse(expr: str) -> Node:
    """Parse a filter expression; an empty or blank one matches every row.

    >>> parse("metrics.rmse < 0.5 AND params.model = 'rf'")  # doctest: +ELLIPSIS
    And(left=Predicate(...), right=Predicate(...))

    Raises FilterError, naming the offending token and its position, when it is malformed.
    """
    return _Parser(expr).parse()


def columns(node: Node) -> set[str]:
    """The flat column names a parsed filter reads, e.g. {"metrics.rmse", "status"}."""
    if isinstance(node, Everything):
        return set()
    if isinstance(node, Not):
        return columns(node.child)
    if isinstance(node, (And, Or)):
        return columns(node.left) | columns(node.right)
    return {node.key.column}


# ------------------------------------------------------ values and operands


def _is_null(key: Key, value: object) -> bool:
    # pd.NA and pd.NaT are recognised by type name so that this module never imports pandas.
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    return key.kind != "metric" and isinstance(value, float) and math.isnan(value)


def _number(value: object) -> float | None:
    """The value as a float when it is a number or reads as one, else None."""
    if isinstance(value, str):
        return float(value) if _NUMBER.fullmatch(value) else None
    if isinstance(value, Real) and not isinstance(value, bool):
        return float(value)
    return None


def _metric(value: object) -> float:
    number = _number(value)
    return math.nan if number is None else number


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _millis(value: object) -> float:
    """A start_time/end_time value as milliseconds since the epoch (NaN when unreadable)."""
    try:
        if isinstance(value, datetime):
            return _utc(value).timestamp() * 1000.0
        if isinstance(value, str) and not _NUMBER.fullmatch(value):
            return _utc(datetime.fromisoformat(value)).timestamp() * 1000.0
    except (ValueError, OverflowError, OSError):
        return math.nan
    return _metric(value)


def _iso(value: object) -> str:
    """A start_time/end_time value as an ISO-8601 string; numbers are UTC milliseconds."""
    if isinstance(value, datetime):
        return value.isoformat()
    number = None if isinstance(value, str) else _number(value)
    if number is None:
        return str(value)
    try:
        return datetime.fromtimestamp(number / 1000.0, tz=timezone.utc).isoformat()
    except (ValueError, OverflowError, OSError):
        return str(value)


def _text(key: Key, value: object) -> str:
    return _iso(value) if key.kind == "time" else str(value)


def _operands(key: Key, literal: Value, value: object) -> tuple[object, object]:
    """The pair to compare for a non-NULL value: two floats or two strings."""
    if isinstance(literal.value, str):
        return _text(key, value), literal.value
    if key.kind == "metric":
        return _metric(value), literal.value
    if key.kind == "time":
        return _millis(value), literal.value
    number = _number(value)
    if number is None:
        return str(value), literal.text
    return number, literal.value


@functools.lru_cache(maxsize=256)
def _like_regex(node: Predicate) -> re.Pattern[str]:
    return like_regex(str(node.values[0].value), ignore_case=node.op == "ILIKE")


def like_regex(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    """SQL's LIKE pattern (``%`` any text, ``_`` one character) as a regex to ``fullmatch``."""
    body = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _equality_op(node: Predicate) -> str:
    return "=" if node.op == "IN" else node.op  # IN is a chain of = tests


# ------------------------------------------------------------- row matching


def _test(node: Predicate, value: object) -> bool:
    """The truth of a test (not IS NULL) on a value that is not NULL."""
    if node.op in ("LIKE", "ILIKE"):
        return _like_regex(node).fullmatch(_text(node.key, value)) is not None
    compare = _OPS[_equality_op(node)]
    return any(bool(compare(*_operands(node.key, item, value))) for item in node.values)


def _truth(node: Node, row: Mapping[str, object]) -> bool | None:
    """SQL three-valued truth of ``node`` on ``row``; None is unknown."""
    if isinstance(node, Everything):
        return True
    if isinstance(node, Not):
        inner = _truth(node.child, row)
        return None if inner is None else not inner
    if isinstance(node, (And, Or)):
        left, right = _truth(node.left, row), _truth(node.right, row)
        decisive = isinstance(node, Or)  # TRUE decides an OR, FALSE an AND
        if decisive in (left, right):
            return decisive
        return None if None in (left, right) else not decisive
    value = row.get(node.key.column)
    if node.op == "IS NULL":
        return _is_null(node.key, value)
    return None if _is_null(node.key, value) else _test(node, value)


def matches(node: Node, row: Mapping[str, object]) -> bool:
    """Whether a run's flat row (``{"metrics.rmse": 0.4, "status": "FINISHED"}``) matches.

    A missing key is NULL; the row matches only when the filter is TRUE (see the module doc).
    """
    return _truth(node, row) is True


# ----------------------------------------------------------- frame masking


def _null_mask(key: Key, series: pd.Series) -> npt.NDArray[np.bool_]:
    import numpy as np

    if series.dtype == object:
        return np.array([_is_null(key, item) for item in series.to_numpy()], dtype=bool)
    if key.kind == "metric" and isinstance(series.dtype, np.dtype) and series.dtype.kind in "fc":
        return np.zeros(len(series), dtype=bool)  # a NaN metric is a value
    return np.asarray(series.isna().to_numpy(dtype=bool), dtype=bool)


def _compare_array(key: Key, op: str, literal: Value, series: pd.Series) -> npt.NDArray[Any]:
    """Vector form of a comparison: operands built by ``_operands``, compared array-wise."""
    import numpy as np

    left: Any
    right: Any
    if key.kind == "metric" and series.dtype.kind in "iuf":
        left, right = series.to_numpy(dtype=float), literal.value
    else:
        items = series.to_numpy(dtype=object)
        left, right = np.empty(len(items), dtype=object), np.empty(len(items), dtype=object)
        for i, item in enumerate(items):
            left[i], right[i] = _operands(key, literal, item)
    with np.errstate(invalid="ignore"):  # NaN compares false (!= true) by IEEE 754, silently
        return np.asarray(_OPS[op](left, right), dtype=bool)


def _test_array(node: Predicate, series: pd.Series) -> npt.NDArray[Any]:
    import numpy as np

    if node.op in ("LIKE", "ILIKE"):
        regex = _like_regex(node)
        texts = [_text(node.key, item) for item in series.to_numpy(dtype=object)]
        return np.array([regex.fullmatch(text) is not None for text in texts], dtype=bool)
    op = _equality_op(node)
    tests = [_compare_array(node.key, op, item, series) for item in node.values]
    return np.asarray(np.logical_or.reduce(tests), dtype=bool)


def _kleene(node: Node, frame: pd.DataFrame) -> pd.arrays.BooleanArray:
    """Vector form of ``_truth``: pandas' nullable booleans follow SQL's three values."""
    import numpy as np
    import pandas as pd

    size = len(frame)
    if isinstance(node, Everything):
        return pd.arrays.BooleanArray(np.ones(size, dtype=bool), np.zeros(size, dtype=bool))
    if isinstance(node, Not):
        return ~_kleene(node.child, frame)
    if isinstance(node, (And, Or)):
        left, right = _kleene(node.left, frame), _kleene(node.right, frame)
        return left | right if isinstance(node, Or) else left & right
    column = node.key.column
    series = frame[column] if column in frame.columns else pd.Series([None] * size, dtype=object)
    null = _null_mask(node.key, series)
    if node.op == "IS NULL":
        return pd.arrays.BooleanArray(null, np.zeros(size, dtype=bool))
    return pd.arrays.BooleanArray(_test_array(node, series), null)


def to_mask(node: Node, frame: pd.DataFrame) -> pd.Series:
    """A bool Series on ``frame.index``: which rows of ``frame`` match ``node``.

    ``frame`` has one column per flat key, as built by ``to_frame``; an absent column is all
    NULL.  Each column a test reads is converted once and compared as a whole array.
    """
    import pandas as pd

    truth = _kleene(node, frame)
    return pd.Series(truth.to_numpy(dtype=bool, na_value=False), index=frame.index, dtype=bool)


def to_frame(rows: Iterable[Mapping[str, object]]) -> pd.DataFrame:
    """Flat rows as a frame for ``to_mask``: object columns, None where a row lacks a key.

    Unlike ``pandas.DataFrame(rows)`` this keeps a missing key (NULL) apart from a NaN value.
    """
    import pandas as pd

    records = list(rows)
    names = dict.fromkeys(name for record in records for name in record)
    data = {name: pd.Series([r.get(name) for r in records], dtype=object) for name in names}
    return pd.DataFrame(data, index=pd.RangeIndex(len(records)))
