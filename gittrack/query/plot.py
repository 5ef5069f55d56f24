"""Metric curves without a browser: PNG or SVG through matplotlib, or one self-contained HTML.

:func:`curves` reads the points the UI draws (gittrack.query.series.metric_series, the committed
history plus a live run's journal); :func:`render_html` draws them as inline SVG with every
label escaped, so the file needs no script and no network; :func:`render_matplotlib` draws
the same with matplotlib (imported only here, through its object API: no pyplot state).
"""

from __future__ import annotations

import html
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gittrack.core.errors import InvalidInputError
from gittrack.core.store import Store
from gittrack.query.series import metric_series

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777",
           "#65a30d", "#4b5563", "#ea580c")
FORMATS = (".png", ".svg", ".html")
# {metric key: [(run label, [(step, value), ...]), ...]}
Curves = dict[str, list[tuple[str, list[tuple[float, float]]]]]
Markers = list[tuple[float, str]]  # vertical lines: (step, label)


def curves(store: Store, runs: Sequence[str], metrics: Sequence[str] | None = None) -> Curves:
    """The points of ``metrics`` (default: every metric) of ``runs``, by metric key."""
    out: Curves = {}
    docs = [metric_series(store, spec, metrics) for spec in runs]
    names = [d["name"] for d in docs]
    for doc in docs:
        label = doc["name"] if names.count(doc["name"]) == 1 else f"{doc['name']} ({doc['id'][:8]})"
        for key, points in doc["series"].items():
            pts = [(float(p[0]), float(p[1])) for p in points]
            out.setdefault(key, []).append((label, pts))
    if metrics:
        missing = [k for k in metrics if not any(pts for _l, pts in out.get(k, []))]
        if missing:
            raise InvalidInputError(f"No run given logged metric '{missing[0]}'; list the "
                                    "metrics with `gittrack show RUN`.")
    if not out:
        raise InvalidInputError("These runs logged no metrics; nothing to plot.")
    return out


def experiment_curves(store: Store, experiment: str, metrics: Sequence[str] | None = None,
                      mark: str | None = None) -> tuple[Curves, Markers]:
    """Every run of ``experiment`` joined into one line a metric, in step order (monitoring
    runs log each batch at its own step), and a marker where param ``mark`` changes."""
    runs = []
    for commit in store.refs(experiment).values():
        run = store.read_run(commit)
        points = {k: [(float(s), float(v)) for s, _t, v in store.metric_history(commit, k)]
                  for k in (metrics or run.metrics) if k in run.metrics}
        first = min((p[0] for pts in points.values() for p in pts), default=math.inf)
        runs.append((first, run.info.get("start_time") or "", run.params.get(mark) if mark
                     else None, points))
    if not runs:
        raise InvalidInputError(f"Experiment '{experiment}' has no runs; list experiments with "
                                "`gittrack experiments`.")
    runs.sort(key=lambda r: (r[0], r[1]))
    out: Curves = {}
    for _first, _start, _value, points in runs:
        for key, pts in points.items():
            if not out.get(key):
                out[key] = [(experiment, [])]
            out[key][0][1].extend(pts)
    for series in out.values():
        series[0][1].sort()
    if metrics:
        missing = [k for k in metrics if k not in out]
        if missing:
            raise InvalidInputError(f"No run of '{experiment}' logged metric '{missing[0]}'.")
    markers: Markers = []
    for before, after in zip(runs, runs[1:]):
        if mark and after[2] != before[2] and math.isfinite(after[0]):
            markers.append((after[0], f"{mark} {after[2]}"))
    return out, markers


def write(curves_by_key: Curves, path: str | Path, title: str = "",
          markers: Markers | None = None) -> str:
    """Draw ``curves_by_key`` into ``path`` (.png, .svg or .html); the format used."""
    suffix = Path(path).suffix.lower()
    marks = markers or []
    if suffix not in FORMATS:
        raise InvalidInputError(f"Cannot write '{path}'; name a .png, .svg or .html file.")
    if suffix == ".html":
        Path(path).write_text(render_html(curves_by_key, title, marks), encoding="utf-8")
        return "html"
    if not has_matplotlib():
        if suffix == ".svg":
            Path(path).write_text(svg_document(curves_by_key, marks), encoding="utf-8")
            return "svg"
        raise InvalidInputError("PNG output needs matplotlib (pip install matplotlib); "
                                "write .html or .svg instead.")
    render_matplotlib(curves_by_key, path, title, marks)
    return suffix[1:]


def has_matplotlib() -> bool:
    """Whether matplotlib can be imported."""
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def render_matplotlib(curves_by_key: Curves, path: str | Path, title: str = "",
                      markers: Markers | None = None) -> None:
    """One subplot a metric, one line a run, saved as PNG or SVG by the file's extension."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    keys = list(curves_by_key)
    cols = min(2, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig = Figure(figsize=(6.2 * cols, 3.6 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    for i, key in enumerate(keys):
        ax = fig.add_subplot(rows, cols, i + 1)
        for j, (label, pts) in enumerate(curves_by_key[key]):
            finite = [(s, v) for s, v in pts if math.isfinite(v)]
            if not finite:
                continue
            xs, ys = zip(*finite)
            ax.plot(xs, ys, label=label, color=PALETTE[j % len(PALETTE)],
                    marker="o" if len(finite) == 1 else None, linewidth=1.8)
        for step, label in markers or []:
            ax.axvline(step, color="#6b7280", linestyle="--", linewidth=1)
            ax.annotate(label, (step, 1), xycoords=("data", "axes fraction"),
                        xytext=(3, -12), textcoords="offset points", fontsize=8,
                        color="#374151")
        ax.set_title(key, loc="left", fontsize=11)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if len(curves_by_key[key]) > 1:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.savefig(path)


# -- self-contained SVG/HTML --------------------------------------------------------------
def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    # Any finite floats may come in (steps of 10**30, values of 1e308): when the nice-number
    # arithmetic overflows or loses all precision, the two ends are the ticks.
    if not lo < hi:
        return [lo]
    try:
        raw = (hi - lo) / count
        mag = 10 ** math.floor(math.log10(raw))
        step = next((m * mag for m in (1, 2, 2.5, 5, 10) if (hi - lo) / (m * mag) <= count),
                    10 * mag)
        first = math.ceil(lo / step) * step
        n = int((hi - first) / step + 1e-9) + 1
    except (OverflowError, ValueError, ZeroDivisionError):
        return [lo, hi]
    if not 0 < n <= 4 * count or not math.isfinite(first):
        return [lo, hi]
    ticks = [first + i * step for i in range(n)]
    return ticks if len(set(ticks)) == len(ticks) else [lo, hi]


def _span(lo: float, hi: float) -> tuple[float, float]:
    """A range that contains ``lo``..``hi``, is not empty, and whose width is finite."""
    if lo == hi:
        pad = abs(lo) * 0.05 or 1.0
        lo, hi = max(lo - pad, -sys.float_info.max), min(hi + pad, sys.float_info.max)
        if lo == hi:  # pragma: no cover - pad below the float's precision
            lo, hi = math.nextafter(lo, -math.inf), math.nextafter(hi, math.inf)
    return lo, hi  # a width past the float range (-1e308 .. 1e308) is halved in _scaled


def _scaled(v: float, lo: float, hi: float) -> float:
    """Where ``v`` sits between ``lo`` and ``hi``, 0..1, computed without overflow."""
    span = hi - lo
    if math.isfinite(span) and span > 0:
        return (v - lo) / span
    return (v / 2 - lo / 2) / (hi / 2 - lo / 2)  # the width overflowed: halve everything


def _num(v: float) -> str:
    return f"{v:.4g}"


def svg_chart(key: str, series: list[tuple[str, list[tuple[float, float]]]],
              width: int = 560, height: int = 280, markers: Markers | None = None) -> str:
    """One metric's curves as an SVG element (labels escaped)."""
    e = html.escape
    ml, mr, mt, mb = 56, 14, 28, 34
    pts = [(s, v) for _l, p in series for s, v in p if math.isfinite(v) and math.isfinite(s)]
    xs, ys = [p[0] for p in pts] or [0.0, 1.0], [p[1] for p in pts] or [0.0, 1.0]
    xs = [x for x in xs if math.isfinite(x)] or [0.0, 1.0]
    x0, x1 = _span(min(xs), max(xs))
    y0, y1 = _span(min(ys), max(ys))

    def X(v: float) -> float:
        return ml + _scaled(v, x0, x1) * (width - ml - mr)

    def Y(v: float) -> float:
        return height - mb - _scaled(v, y0, y1) * (height - mt - mb)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'class="chart-line" font-family="sans-serif" font-size="11">',
             f'<text x="{ml}" y="16" font-weight="bold" font-size="13">{e(key)}</text>']
    for t in _ticks(y0, y1):
        parts.append(f'<line x1="{ml}" x2="{width - mr}" y1="{Y(t):.1f}" y2="{Y(t):.1f}" '
                     f'stroke="#eee"/><text x="{ml - 6}" y="{Y(t) + 4:.1f}" text-anchor="end" '
                     f'fill="#666">{_num(t)}</text>')
    for t in _ticks(x0, x1, 6):
        parts.append(f'<text x="{X(t):.1f}" y="{height - mb + 16}" text-anchor="middle" '
                     f'fill="#666">{_num(t)}</text>')
    parts.append(f'<line x1="{ml}" x2="{width - mr}" y1="{height - mb}" y2="{height - mb}" '
                 f'stroke="#999"/><text x="{width - mr}" y="{height - 4}" text-anchor="end">'
                 'step</text>')
    for step, label in markers or []:
        if x0 <= step <= x1:
            parts.append(f'<line class="marker" x1="{X(step):.1f}" x2="{X(step):.1f}" y1="{mt}" '
                         f'y2="{height - mb}" stroke="#6b7280" stroke-dasharray="4 3"/>'
                         f'<text x="{X(step) + 3:.1f}" y="{mt + 10}" fill="#374151">'
                         f'{e(label)}</text>')
    for i, (label, points) in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        finite = [(s, v) for s, v in points if math.isfinite(v) and math.isfinite(s)]
        d = "".join(f"{'L' if j else 'M'}{X(s):.1f},{Y(v):.1f}" for j, (s, v) in
                    enumerate(finite))
        if len(finite) == 1:
            parts.append(f'<circle cx="{X(finite[0][0]):.1f}" cy="{Y(finite[0][1]):.1f}" r="3.5" '
                         f'fill="{color}"/>')
        if d:
            parts.append(f'<path class="series" d="{d}" fill="none" stroke="{color}" '
                         f'stroke-width="2"><title>{e(label)}</title></path>')
        parts.append(f'<rect x="{width - mr - 150}" y="{mt + i * 15}" width="10" height="10" '
                     f'fill="{color}"/><text x="{width - mr - 136}" y="{mt + 9 + i * 15}">'
                     f'{e(label[:24])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def svg_document(curves_by_key: Curves, markers: Markers | None = None) -> str:
    """Every metric's chart stacked in one standalone SVG file."""
    height = 280
    charts = [f'<g transform="translate(0,{i * height})">{svg_chart(k, s, markers=markers)}</g>'
              for i, (k, s) in enumerate(curves_by_key.items())]
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="560" '
            f'height="{height * len(charts)}">{"".join(charts)}</svg>\n')


def render_html(curves_by_key: Curves, title: str = "", markers: Markers | None = None) -> str:
    """A standalone HTML page of the charts: inline SVG, no script, no external resource."""
    heading = html.escape(title or "gittrack metric curves")
    charts = "\n".join(f'<div class="chart">{svg_chart(k, s, markers=markers)}</div>'
                       for k, s in curves_by_key.items())
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'\">"
        f"<title>{heading}</title><style>body{{font-family:sans-serif;margin:24px;"
        "color:#1f2937}.grid{display:grid;grid-template-columns:repeat(auto-fill,"
        "minmax(460px,1fr));gap:16px}.chart{border:1px solid #e5e7eb;border-radius:8px;"
        "padding:8px}</style></head>\n"
        f"<body><h1>{heading}</h1><div class=\"grid\">\n{charts}\n</div></body></html>\n"
    )


def describe(curves_by_key: Curves) -> dict[str, Any]:
    """How many runs and points each metric has (for the CLI's summary line)."""
    return {k: sum(len(p) for _l, p in s) for k, s in curves_by_key.items()}
