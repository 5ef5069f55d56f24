"""How runs show themselves: a plain-text card for consoles here, an HTML card from above.

Jupyter displays an object's ``_repr_html_`` and IPython's console its ``_repr_pretty_``.
A read-back run (gittrack.core.records.Run) and a live one (gittrack.tracking.active) are
defined below the layers that can draw an HTML card with a metric chart and a link into the
running web UI (gittrack.query.cards); gittrack.api provides that renderer here when it is
imported, as it provides gittrack.tracking.services. With no renderer, only the text shows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

HtmlCard = Callable[[Any], "str | None"]
SHOWN = 8  # params and metrics listed in a text card

_html: HtmlCard | None = None


def provide(renderer: HtmlCard) -> None:
    """Install the renderer of HTML cards (gittrack.api does, with gittrack.query.cards)."""
    global _html
    _html = renderer


def html(obj: Any) -> str | None:
    """The HTML card of a run or an active run; None when no renderer was provided."""
    return None if _html is None else _html(obj)


class CardData(NamedTuple):
    """What a run's card shows, from a live run or a recorded one."""

    kind: str  # "Run" or "ActiveRun"
    id: str
    name: str
    experiment: str
    status: str
    params: Mapping[str, Any]  # flattened
    metrics: Mapping[str, tuple[float, int]]  # key -> (latest value, its step)
    history: Callable[[str], list[tuple[float, float]]]  # key -> [(step, value)] in order


def text_card(data: CardData) -> str:
    """A run in a few lines: name and status, experiment and id, then params and metrics."""
    lines = [f"{data.kind} {data.name} ({data.status})  experiment {data.experiment}  "
             f"id {data.id}"]
    if data.params:
        lines.append("  params:  " + _listing([f"{k}={_short(v)}"
                                               for k, v in data.params.items()]))
    if data.metrics:
        shown = [f"{k}={v:.6g}" + (f" (step {s})" if s else "")
                 for k, (v, s) in data.metrics.items()]
        lines.append("  metrics: " + _listing(shown))
    return "\n".join(lines)


def no_history(key: str) -> list[tuple[float, float]]:
    """The history of a card that has none at hand."""
    return []


def _short(value: Any, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _listing(items: list[str]) -> str:
    more = len(items) - SHOWN
    return ", ".join(items[:SHOWN]) + (f", ... (+{more} more)" if more > 0 else "")
