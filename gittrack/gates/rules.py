"""The rule grammar of a gate: ``METRIC OP EXPR``, parsed once, evaluated on numbers. No I/O.

Long form: EXPR is arithmetic on ``ref`` (the reference's value) and numbers::

    rmse <= ref * 1.02          at most 2 % worse than the reference
    accuracy >= ref - 0.01      at most one point lower
    latency_ms < 250            an absolute bound (no ref)

Short forms: a signed number after the operator is a change from the reference, in percent
with ``%``::

    rmse <= +2%     ==  rmse <= ref * 1.02
    auc >= -1%      ==  auc >= ref * 0.99
    mae <= +5       ==  mae <= ref + 5

An unsigned number is an absolute bound (write ``0 - 3`` for a negative one). OP is one of
``<=``, ``<``, ``>=``, ``>``. METRIC may be written ``metrics.NAME``; quote a name holding spaces
or operators in backticks: ```val loss` <= ref``.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gittrack.core.errors import InvalidInputError

OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}
_RULE_RE = re.compile(r"\s*(?:metrics\.)?(?:`(?P<quoted>[^`]+)`|(?P<name>[A-Za-z_][\w./-]*))"
                      r"\s*(?P<op><=|>=|<|>)\s*(?P<expr>.+?)\s*")
_SHORT_RE = re.compile(r"(?P<sign>[+-])\s*(?P<num>[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)"
                       r"\s*(?P<pct>%)?")
_BINOPS: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv}


@dataclass(frozen=True)
class Rule:
    """One rule: ``metric op bound(ref)``, with the text it was written as."""

    text: str
    metric: str
    op: str
    expr: str  # the bound, in the long form
    uses_ref: bool

    @property
    def lower_is_better(self) -> bool:
        """Whether the rule asks the metric to stay low (``<``/``<=``)."""
        return self.op.startswith("<")

    def bound(self, ref: float | None) -> float:
        """The value the metric is compared with, given the reference's value."""
        if self.uses_ref and ref is None:
            raise InvalidInputError(f"Rule '{self.text}' needs a reference value of {self.metric}.")
        return float(_evaluate(ast.parse(self.expr, mode="eval").body, ref))

    def holds(self, value: float, ref: float | None) -> bool:
        """Whether ``value`` satisfies the rule against ``ref``."""
        return OPS[self.op](value, self.bound(ref))

    def slack(self, value: float, ref: float | None) -> float:
        """How far inside the rule ``value`` is: positive holds, negative breaks it."""
        bound = self.bound(ref)
        return bound - value if self.lower_is_better else value - bound


def parse(text: str) -> Rule:
    """A rule from its text (see the module docstring for the forms)."""
    if not isinstance(text, str):
        raise InvalidInputError(f"A gate rule must be text such as 'rmse <= ref * 1.02'; got {text!r}.")
    m = _RULE_RE.fullmatch(text)
    if m is None:
        raise InvalidInputError(
            f"Gate rule {text!r} is not METRIC OP EXPR; write it like 'rmse <= ref * 1.02', "
            "'rmse <= +2%' or 'accuracy >= ref - 0.01'."
        )
    metric, op, expr = m["quoted"] or m["name"], m["op"], m["expr"]
    short = _SHORT_RE.fullmatch(expr)
    if short is not None:
        num = short["num"]
        if short["pct"]:
            expr = f"ref * (1 {short['sign']} {num} / 100)"
        else:
            expr = f"ref {short['sign']} {num}"
    elif expr.endswith("%"):
        raise InvalidInputError(
            f"Gate rule {text!r}: a percentage must be signed (+2% or -1%), as a change from ref.")
    try:
        tree = ast.parse(expr, mode="eval").body
    except SyntaxError as exc:
        raise InvalidInputError(f"Gate rule {text!r}: '{expr}' is not an arithmetic expression.") from exc
    uses_ref = _check(tree, text)
    return Rule(text.strip(), metric, op, expr, uses_ref)


def _check(node: ast.expr, text: str) -> bool:
    """Whether ``node`` is allowed (numbers, ``ref``, + - * /, unary signs); uses ``ref``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
            and not isinstance(node.value, bool):
        return False
    if isinstance(node, ast.Name) and node.id == "ref":
        return True
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return _check(node.left, text) | _check(node.right, text)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _check(node.operand, text)
    raise InvalidInputError(
        f"Gate rule {text!r} may use only numbers, 'ref', + - * / and parentheses.")


def evaluate_bound(rule: Rule, ref: Any) -> Any:
    """The bound for ``ref`` given as a number or as a NumPy array of resampled values."""
    return _evaluate(ast.parse(rule.expr, mode="eval").body, ref)


def _evaluate(node: ast.expr, ref: Any) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.Name):
        return math.nan if ref is None else ref
    if isinstance(node, ast.UnaryOp):
        value = _evaluate(node.operand, ref)
        return -value if isinstance(node.op, ast.USub) else value
    assert isinstance(node, ast.BinOp)
    left, right = _evaluate(node.left, ref), _evaluate(node.right, ref)
    try:
        return _BINOPS[type(node.op)](left, right)
    except ZeroDivisionError:
        return math.nan
