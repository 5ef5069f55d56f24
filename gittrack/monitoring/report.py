"""A drift report for people: rows for a table, Markdown, and one self-contained HTML page
with the reference and current distributions of every column overlaid (inline SVG, no
script, nothing fetched; every label escaped)."""

from __future__ import annotations

import html
import math
from typing import Any

from gittrack.monitoring.drift import ColumnDrift, DriftReport

HEADERS = ("column", "kind", "test", "score", "threshold", "drift", "psi", "note")
REFERENCE_COLOR = "#2563eb"
CURRENT_COLOR = "#dc2626"


def rows(report: DriftReport) -> list[list[Any]]:
    """One row a column, in the order of HEADERS."""
    return [[c.column, c.kind, c.test, c.score, c.threshold,
             ("DRIFT" if c.drifted else "no") if c.tested else "-", c.psi, _note(c)]
            for c in report.columns]


def _note(c: ColumnDrift) -> str:
    parts = [c.note] if c.note else []
    if c.new_categories:
        parts.append("new: " + ", ".join(c.new_categories[:5]))
    return "; ".join(parts)


def summary(report: DriftReport) -> str:
    """One sentence: how many columns drifted, and the dataset's verdict."""
    tested = len(report.tested)
    drifted = [c.column for c in report.drifted]
    share = f"{report.share:.0%}"
    verdict = "the dataset drifts" if report.dataset_drift else "no dataset drift"
    names = f" ({', '.join(drifted)})" if drifted else ""
    return (f"{len(drifted)} of {tested} columns drifted{names}, {share}: {verdict} "
            f"(at {report.drift_share:.0%} or more).")


def markdown(report: DriftReport) -> str:
    """The report as a Markdown table with its summary."""
    def cell(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v).replace("|", "\\|")
    lines = [f"**Reference:** {cell(report.reference.get('label'))}  ",
             f"**Current:** {cell(report.current.get('label'))}", "",
             "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows(report)]
    lines += ["", summary(report)]
    return "\n".join(lines) + "\n"


def render_html(report: DriftReport, title: str = "gittrack drift report") -> str:
    """A standalone HTML page: the summary, the table, and a chart a tested column."""
    e = html.escape
    table_rows = "".join(
        f"<tr class=\"{'drift' if c.drifted else ''}\"><td>{e(c.column)}</td><td>{e(c.kind)}</td>"
        f"<td>{e(c.test or '')}</td><td class=num>{_num(c.score)}</td>"
        f"<td class=num>{_num(c.threshold)}</td>"
        f"<td>{'DRIFT' if c.drifted else ('no' if c.tested else '-')}</td>"
        f"<td class=num>{_num(c.psi)}</td><td>{e(_note(c))}</td></tr>" for c in report.columns)
    charts = "".join(f'<div class="chart">{svg_chart(c)}</div>' for c in report.columns
                     if c.display)
    head = "".join(f"<th>{h}</th>" for h in HEADERS)
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'\">"
        f"<title>{e(title)}</title><style>body{{font-family:sans-serif;margin:24px;"
        "color:#1f2937}table{border-collapse:collapse;margin:12px 0}td,th{border-bottom:1px "
        "solid #e5e7eb;padding:4px 10px;text-align:left}.num{text-align:right}"
        "tr.drift td{background:#fef2f2}.grid{display:grid;grid-template-columns:repeat("
        "auto-fill,minmax(420px,1fr));gap:16px}.chart{border:1px solid #e5e7eb;"
        "border-radius:8px;padding:8px}.key span{display:inline-block;width:10px;height:10px;"
        "margin:0 4px 0 12px}</style></head>\n"
        f"<body><h1>{e(title)}</h1>"
        f"<p><b>Reference:</b> {e(str(report.reference.get('label', '')))}<br>"
        f"<b>Current:</b> {e(str(report.current.get('label', '')))}</p>"
        f"<p><b>{e(summary(report))}</b></p>"
        f"<p class=key><span style=\"background:{REFERENCE_COLOR}\"></span>reference"
        f"<span style=\"background:{CURRENT_COLOR}\"></span>current</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{table_rows}</tbody></table>"
        f"<div class=\"grid\">{charts}</div></body></html>\n")


def _num(v: float | None) -> str:
    return "" if v is None else f"{v:.4g}"


def svg_chart(c: ColumnDrift, width: int = 420, height: int = 220) -> str:
    """The column's reference and current shares as overlaid bars (SVG element)."""
    e = html.escape
    d = c.display or {}
    ref, cur = list(d.get("reference", [])), list(d.get("current", []))
    n = len(ref)
    ml, mr, mt, mb = 40, 10, 26, 36
    top = max([*ref, *cur, 1e-12])
    plot_w, plot_h = width - ml - mr, height - mt - mb
    slot = plot_w / max(n, 1)
    verdict = f"{c.test} {_num(c.score)}" + (" DRIFT" if c.drifted else "")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'class="drift-chart" font-family="sans-serif" font-size="10">',
             f'<text x="{ml}" y="15" font-weight="bold" font-size="12">{e(c.column)}</text>',
             f'<text x="{width - mr}" y="15" text-anchor="end" fill="'
             f'{CURRENT_COLOR if c.drifted else "#666"}">{e(verdict)}</text>']
    for share, color, offset in ((ref, REFERENCE_COLOR, 0.0), (cur, CURRENT_COLOR, 0.5)):
        for i, v in enumerate(share):
            h = v / top * plot_h
            x = ml + i * slot + (offset * slot if d.get("type") == "categories" else 0)
            w = slot / 2 if d.get("type") == "categories" else slot
            parts.append(f'<rect x="{x:.1f}" y="{mt + plot_h - h:.1f}" width="{max(w - 0.5, 0.5):.1f}" '
                         f'height="{h:.1f}" fill="{color}" fill-opacity="0.45"/>')
    parts.append(f'<line x1="{ml}" x2="{width - mr}" y1="{mt + plot_h}" y2="{mt + plot_h}" '
                 'stroke="#999"/>')
    parts.append(f'<text x="{ml - 4}" y="{mt + 4}" text-anchor="end" fill="#666">'
                 f'{top:.0%}</text>')
    parts += _x_labels(d, ml, slot, mt + plot_h, width - mr)
    parts.append("</svg>")
    return "".join(parts)


def _x_labels(d: dict[str, Any], ml: float, slot: float, base: float, right: float) -> list[str]:
    e = html.escape
    out = []
    if d.get("type") == "categories":
        labels = list(d.get("labels", []))
        step = max(1, math.ceil(len(labels) / 10))
        for i in range(0, len(labels), step):
            out.append(f'<text x="{ml + (i + 0.5) * slot:.1f}" y="{base + 14}" '
                       f'text-anchor="middle">{e(str(labels[i])[:12])}</text>')
    else:
        edges = list(d.get("edges", []))
        if edges:
            for i in (0, len(edges) // 2, len(edges) - 1):
                out.append(f'<text x="{ml + i * slot:.1f}" y="{base + 14}" text-anchor="middle">'
                           f'{edges[i]:.4g}</text>')
    return out
