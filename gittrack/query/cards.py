"""Runs as compact HTML cards in a notebook: name, status, params, latest metrics, small metric
charts as inline SVG, the run id and a link into ``gittrack ui`` when it runs.

Every value that comes from a user (names, params, metric keys, tags) is escaped with
``html.escape``; a card holds no script, no event handler attribute and no external resource,
so a run named ``<script>...`` shows as text (docs/notebooks.md). Styles are inline: a
notebook page holds many outputs and a ``<style>`` element would restyle all of them.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gittrack.core import display
from gittrack.core.errors import GittrackError
from gittrack.core.gitio import Repo
from gittrack.core.records import Run
from gittrack.core.store import Store, repo_from_env
from gittrack.query import uilink
from gittrack.tracking.active import ActiveRun

ROWS = 10  # params and metrics listed before "+N more"
CHARTS = 3  # metrics drawn
POINTS = 200  # points a chart draws at most (longer histories are thinned evenly)
STATUS_COLORS = {"running": "#0969da", "finished": "#1a7f37", "failed": "#cf222e",
                 "killed": "#bc4c00", "crashed": "#8250df"}
CARD = ("font:13px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1f2328;"
        "background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:10px 14px;"
        "margin:2px 0;max-width:820px")
MUTED = "color:#57606a"
e = html.escape


def card(obj: Any) -> str | None:
    """The HTML card of an active run or a recorded run; None for anything else."""
    if isinstance(obj, ActiveRun):
        return run_card(obj.card_data(), uilink.running_url(obj.store.repo))
    if isinstance(obj, Run):
        repo = _repo_holding(obj.commit)
        if repo is None:
            return run_card(obj.card_data(), None)
        store = Store(repo)
        data = obj.card_data(lambda key: [(float(s), v) for s, _t, v in
                                          store.metric_history(obj.commit, key)])
        return run_card(data, uilink.running_url(repo))
    return None


def _repo_holding(commit: str) -> Repo | None:
    # A Run holds no repository; the tracking repository is where get_run read it.
    try:
        repo = repo_from_env()
        return repo if repo.has_object(commit) else None
    except (GittrackError, ValueError):
        return None


def run_card(data: display.CardData, ui_url: str | None) -> str:
    """The card of ``data``; with ``ui_url`` (a running ``gittrack ui``) a link to the run."""
    link = f"{ui_url}#/r/{data.id}" if ui_url else None
    body = [metrics_table(data.metrics), params_table(data.params),
            charts(data.metrics, data.history)]
    return frame(data.name, data.status, f"{data.experiment} · run {data.id}", link, body)


def frame(title: str, status: str | None, subtitle: str, link: str | None,
          body: Iterable[str], badges: Sequence[str] = ()) -> str:
    """A card: a title line (status, badges, subtitle, link), then ``body`` side by side."""
    head = [f'<span style="font-weight:600;font-size:15px">{e(title)}</span>']
    if status:
        head.append(badge(status, STATUS_COLORS.get(status, "#57606a")))
    head.extend(badges)
    head.append(f'<span style="{MUTED}">{e(subtitle)}</span>')
    if link:
        head.append(f'<a href="{e(link)}" target="_blank" rel="noopener noreferrer" '
                    'style="margin-left:auto">open in gittrack ui</a>')
    parts = [p for p in body if p]
    inner = ('<div style="display:flex;flex-wrap:wrap;gap:6px 22px;margin-top:8px;'
             f'align-items:flex-start">{"".join(parts)}</div>') if parts else ""
    return (f'<div class="gittrack-card" style="{CARD}">'
            '<div style="display:flex;flex-wrap:wrap;align-items:baseline;gap:8px">'
            f'{"".join(head)}</div>{inner}</div>')


def badge(text: str, color: str) -> str:
    return (f'<span style="background:{color};color:#fff;border-radius:10px;padding:0 8px;'
            f'font-size:11px;line-height:18px">{e(text)}</span>')


def metrics_table(metrics: Mapping[str, tuple[float, int]]) -> str:
    rows = [(k, _number(v), f"step {s}" if s else "") for k, (v, s) in metrics.items()]
    return table("metrics", rows)


def params_table(params: Mapping[str, Any]) -> str:
    return table("params", [(k, _value(v), "") for k, v in params.items()])


def table(caption: str, rows: Sequence[tuple[str, str, str]]) -> str:
    """A small key/value table; rows past :data:`ROWS` are counted, not shown."""
    if not rows:
        return ""
    cells = [f'<tr><td style="{MUTED};padding:1px 10px 1px 0;text-align:left">{e(k)}</td>'
             f'<td style="font-family:ui-monospace,monospace;padding:1px 6px 1px 0;'
             f'text-align:left">{e(v)}</td><td style="{MUTED};font-size:11px;'
             f'text-align:left">{e(note)}</td></tr>' for k, v, note in rows[:ROWS]]
    if len(rows) > ROWS:
        cells.append(f'<tr><td colspan="3" style="{MUTED};text-align:left">'
                     f'+{len(rows) - ROWS} more</td></tr>')
    return (f'<table style="border-collapse:collapse;font-size:12px;margin:0">'
            f'<caption style="{MUTED};text-align:left;font-size:11px;'
            f'text-transform:uppercase;letter-spacing:.04em">{e(caption)}</caption>'
            f'{"".join(cells)}</table>')


def charts(metrics: Mapping[str, tuple[float, int]], history: Any) -> str:
    """Small line charts of the first metrics that have two or more points."""
    drawn = []
    for key in metrics:
        points = [(s, v) for s, v in history(key) if math.isfinite(v)]
        if len(points) >= 2:
            drawn.append(sparkline(key, points))
        if len(drawn) == CHARTS:
            break
    return f'<div style="display:flex;flex-direction:column;gap:4px">{"".join(drawn)}</div>' \
        if drawn else ""


def sparkline(key: str, points: Sequence[tuple[float, float]], width: int = 240,
              height: int = 64) -> str:
    """One metric over steps as an inline SVG line (no script, labels escaped)."""
    if len(points) > POINTS:
        stride = len(points) / POINTS
        points = [points[int(i * stride)] for i in range(POINTS)] + [points[-1]]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    top, bottom = 16, height - 4
    dx, dy = (x1 - x0) or 1.0, (y1 - y0) or 1.0
    line = " ".join(f"{(x - x0) / dx * (width - 2) + 1:.1f},"
                    f"{bottom - (y - y0) / dy * (bottom - top):.1f}" for x, y in points)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" font-family="sans-serif" '
            f'font-size="10"><title>{e(key)} over steps {_number(x0)} to {_number(x1)}</title>'
            f'<text x="1" y="10" fill="#57606a">{e(key)}</text>'
            f'<text x="{width - 1}" y="10" text-anchor="end" fill="#57606a">'
            f'{y0:.4g} .. {y1:.4g}</text>'
            f'<polyline points="{line}" fill="none" stroke="#0969da" stroke-width="1.5"/>'
            '</svg>')


def _number(value: float) -> str:
    return f"{value:.6g}"


def _value(value: Any, limit: int = 60) -> str:
    text = "null" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
