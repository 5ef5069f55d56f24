"""Rendering rows for people (aligned tables) and scripts (JSON, CSV, Markdown)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

FORMATS = ("table", "json", "csv", "md")


@dataclass(frozen=True)
class Annotated:
    """A number shown with a note after it, such as a delta: ``0.41 (-0.02)``."""

    value: Any
    note: str


def cell(value: Any) -> str:
    """A value as table text: floats to 6 significant digits, None as empty."""
    if value is None:
        return ""
    if isinstance(value, Annotated):
        return f"{cell(value.value)} ({value.note})" if value.note else cell(value.value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else repr(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns aligned with two spaces; numbers right-aligned."""
    texts = [[cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in texts:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    numeric = [all(isinstance(r[i], (int, float, Annotated)) and not isinstance(r[i], bool)
                   for r in rows if r[i] is not None) and any(r[i] is not None for r in rows)
               for i in range(len(headers))]
    lines = ["  ".join(_pad(h, w, n) for h, w, n in zip(headers, widths, numeric)).rstrip()]
    for row in texts:
        lines.append("  ".join(_pad(c, w, n) for c, w, n in zip(row, widths, numeric)).rstrip())
    return "\n".join(lines)


def _pad(text: str, width: int, right: bool) -> str:
    return text.rjust(width) if right else text.ljust(width)


def markdown(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(esc(h) for h in headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(esc(cell(v)) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def csv_text(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow(["" if v is None else (repr(v) if isinstance(v, float) else cell(v))
                         for v in row])
    return out.getvalue().rstrip("\n")


def rows_text(fmt: str, headers: Sequence[str], rows: Sequence[Sequence[Any]],
              empty: str = "") -> str:
    """Rows in one of :data:`FORMATS`; JSON is a list of objects keyed by the headers."""
    if fmt == "json":
        return json_text([dict(zip(headers, row)) for row in rows])
    if fmt == "csv":
        return csv_text(headers, rows)
    if fmt == "md":
        return markdown(headers, rows)
    return table(headers, rows) if rows or not empty else empty


def json_text(data: Any) -> str:
    """Strict JSON: NaN and infinities become the strings "nan", "inf", "-inf"."""
    return json.dumps(_finite(data), indent=2, sort_keys=False, default=str, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
