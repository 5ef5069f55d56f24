"""A gate's result for people: table rows, a Markdown pull-request comment, a metric chart."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from gittrack.core.errors import InvalidInputError
from gittrack.gates.gate import GateResult, RuleResult

HEADERS = ["rule", "candidate", "reference", "change", "interval", "sure", "verdict"]
MARK = {"pass": "✅", "fail": "❌"}


def headline(result: GateResult) -> str:
    """One line: verdict, gate, what was compared with what."""
    cand, ref = result.candidate, result.reference
    return (f"Gate '{result.spec.name}': {result.verdict.upper()}: {cand.label} "
            f"({_runs(len(cand.members))}) against {ref.label} ({_runs(len(ref.members))}), "
            f"{result.spec.confidence:.0%} confidence.")


def rows(result: GateResult) -> list[list[str]]:
    """One row a rule, as text: the rule, the two means, the change, its interval, verdict."""
    return [_row(r, result.spec.confidence) for r in result.results]


def _row(r: RuleResult, confidence: float) -> list[str]:
    o = r.outcome
    change = "" if o.delta is None else _num(o.delta, signed=True)
    if o.delta_pct is not None:
        change += f" ({o.delta_pct:+.2f}%)"
    interval = "" if o.delta_ci is None else \
        f"[{_num(o.delta_ci[0], signed=True)}, {_num(o.delta_ci[1], signed=True)}]"
    sure = "" if o.sure is None else f"{o.sure:.0%}"
    return [r.rule.text, _num(o.candidate), _num(o.reference), change, interval, sure,
            f"{o.verdict} ({o.certainty})"]


def changes(result: GateResult) -> list[str]:
    """Lines naming the params and data versions that changed."""
    lines = [f"param {p['key']}: {_value(p['reference'])} -> {_value(p['candidate'])}"
             for p in result.params]
    lines += [f"data {d['key']}: {_data(d['reference'])} -> {_data(d['candidate'])}"
              for d in result.data]
    return lines


def text(result: GateResult, table: str) -> str:
    """The whole report for a terminal, given the rendered rule table."""
    parts = [headline(result), "", table]
    for r in result.results:
        parts.append(f"  {r.rule.text}: {r.outcome.reason}")
    lines = changes(result)
    if lines:
        parts += ["", "Changed between the reference and the candidate:", *(f"  {x}" for x in lines)]
    parts += [f"Note: {n}" for n in result.notes]
    return "\n".join(parts)


def markdown(result: GateResult, chart: str | None = None) -> str:
    """A pull-request comment: verdict, the rule table, changed params and data, the chart."""
    cand, ref = result.candidate, result.reference
    out = [f"### {MARK[result.verdict]} gittrack gate `{result.spec.name}`: "
           f"**{result.verdict.upper()}**", "",
           f"Candidate **{_md(cand.label)}** ({_runs(len(cand.members))}, run `{cand.run.id}`) "
           f"against **{_md(ref.label)}** ({_runs(len(ref.members))}, run `{ref.run.id}`), "
           f"at {result.spec.confidence:.0%} confidence.", ""]
    heads = ["rule", "candidate", "reference", "change",
             f"{result.spec.confidence:.0%} interval of change", "sure", "verdict"]
    out.append("| " + " | ".join(heads) + " |")
    out.append("|" + "|".join([":---", *["---:"] * 5, ":---"]) + "|")
    for r, cells in zip(result.results, rows(result)):
        cells = [f"`{_md(cells[0])}`", *(_md(c) for c in cells[1:-1]),
                 f"{MARK[r.outcome.verdict]} {_md(cells[-1])}"]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    if result.params:
        out += ["**Params that changed**", "", "| param | reference | candidate |", "|---|---|---|"]
        out += [f"| `{_md(p['key'])}` | {_md(_value(p['reference']))} | {_md(_value(p['candidate']))} |"
                for p in result.params]
        out.append("")
    if result.data:
        out += ["**Data versions that changed**", "", "| input | reference | candidate |",
                "|---|---|---|"]
        out += [f"| `{_md(d['key'])}` | {_md(_data(d['reference']))} | {_md(_data(d['candidate']))} |"
                for d in result.data]
        out.append("")
    out += [f"> {_md(n)}" for n in result.notes]
    if result.notes:
        out.append("")
    if chart:
        out += [f"![metrics of the candidate and the reference]({chart})", ""]
    return "\n".join(out).rstrip() + "\n"


def write_chart(result: GateResult, path: Path) -> Path:
    """A small PNG: per rule's metric, each run's value on both sides and their means."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise InvalidInputError("The gate chart needs matplotlib; install it with "
                                "`pip install gittrack[ml]` or leave out --chart.") from exc
    metrics = list(dict.fromkeys(r.rule.metric for r in result.results))[:6]
    fig = Figure(figsize=(2.1 * len(metrics) + 0.4, 2.4), dpi=100)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    sides = [("reference", result.reference, "#7f7f7f"), ("candidate", result.candidate, "#1f77b4")]
    for ax, metric in zip(axes, metrics):
        for x, (name, side, color) in enumerate(sides):
            values = side.values(metric)
            if not values:
                continue
            ax.scatter([x] * len(values), values, color=color, s=14, alpha=0.7)
            ax.hlines(sum(values) / len(values), x - 0.3, x + 0.3, color=color, linewidth=2)
        ax.set_xticks([0, 1], ["reference", "candidate"], fontsize=7)
        ax.set_xlim(-0.6, 1.6)
        ax.set_title(metric, fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    fig.suptitle(f"gate {result.spec.name}: {result.verdict}", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def _runs(n: int) -> str:
    return f"{n} run" + ("" if n == 1 else "s")


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return ""
    if not math.isfinite(value):
        return repr(value)
    return f"{value:+.4g}" if signed else f"{value:.6g}"


def _value(value: Any) -> str:
    return "-" if value is None else str(value)


def _data(value: Any) -> str:
    if not isinstance(value, dict):
        return _value(value)
    md5 = str(value.get("md5") or "")[:10]
    parts = [str(value.get("path") or ""), f"md5 {md5}" if md5 else "",
             f"{value['rows']} rows" if value.get("rows") is not None else ""]
    return ", ".join(p for p in parts if p) or "-"


def _md(text: str) -> str:
    """Text safe in a Markdown table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
