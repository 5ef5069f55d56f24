"""``gittrack plot``: metric curves of runs into a PNG, SVG or HTML file, without a browser."""

from __future__ import annotations

import click

from gittrack import api
from gittrack.query import plot


@click.command("plot")
@click.argument("runs", nargs=-1, required=True, metavar="RUN...")
@click.option("--metric", "metrics", metavar="KEY", multiple=True,
              help="Draw only metric KEY (repeatable); default: every metric.")
@click.option("-o", "--output", "output", metavar="FILE",
              help="FILE.png, FILE.svg or FILE.html (default: plot.png with matplotlib "
                   "installed, else plot.html).")
def command(runs: tuple[str, ...], metrics: tuple[str, ...], output: str | None) -> None:
    """Draw the metric curves of one or more runs over their steps, overlaid per metric.

    PNG and SVG are drawn by matplotlib when it is installed; HTML is one self-contained
    file (inline SVG, no script, nothing fetched), as is SVG without matplotlib.

    \b
    Example:
      gittrack plot brisk-lamb calm-fox --metric val_loss -o loss.png
      gittrack plot forecast/forest-large -o curves.html
    """
    path = output or ("plot.png" if plot.has_matplotlib() else "plot.html")
    drawn = plot.curves(api.open_store(), list(runs), list(metrics) or None)
    plot.write(drawn, path, title=", ".join(runs))
    counts = plot.describe(drawn)
    click.echo(f"Wrote {path}: {len(counts)} metric(s), "
               f"{sum(counts.values())} point(s) of {len(runs)} run(s).")
