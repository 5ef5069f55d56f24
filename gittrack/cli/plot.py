"""``gittrack plot``: metric curves of runs into a PNG, SVG or HTML file, without a browser."""

from __future__ import annotations

import click

from gittrack import api
from gittrack.query import plot


@click.command("plot")
@click.argument("runs", nargs=-1, metavar="RUN...")
@click.option("-e", "--experiment", metavar="EXP",
              help="Draw every run of EXP as one line a metric, in step order (monitoring "
                   "runs: one point a batch) instead of one line a run.")
@click.option("--mark", metavar="PARAM",
              help="With -e: a vertical line where PARAM changes from run to run "
                   "(default for <model>/monitoring: version).")
@click.option("--metric", "metrics", metavar="KEY", multiple=True,
              help="Draw only metric KEY (repeatable); default: every metric.")
@click.option("-o", "--output", "output", metavar="FILE",
              help="FILE.png, FILE.svg or FILE.html (default: plot.png with matplotlib "
                   "installed, else plot.html).")
def command(runs: tuple[str, ...], experiment: str | None, mark: str | None,
            metrics: tuple[str, ...], output: str | None) -> None:
    """Draw the metric curves of one or more runs over their steps, overlaid per metric.

    PNG and SVG are drawn by matplotlib when it is installed; HTML is one self-contained
    file (inline SVG, no script, nothing fetched), as is SVG without matplotlib.

    \b
    Example:
      gittrack plot brisk-lamb calm-fox --metric val_loss -o loss.png
      gittrack plot forecast/forest-large -o curves.html
      gittrack plot -e forecaster/monitoring --metric rmse --metric drift/share -o prod.png
    """
    if bool(runs) == bool(experiment):
        raise click.UsageError("Name runs, or one experiment with -e, to plot.")
    path = output or ("plot.png" if plot.has_matplotlib() else "plot.html")
    if experiment:
        if mark is None and experiment.endswith("/monitoring"):
            mark = "version"
        drawn, markers = plot.experiment_curves(api.open_store(), experiment,
                                                list(metrics) or None, mark)
        plot.write(drawn, path, title=experiment, markers=markers)
        what = f"the runs of {experiment}" + (f", {len(markers)} {mark} change(s)"
                                              if markers else "")
    else:
        drawn = plot.curves(api.open_store(), list(runs), list(metrics) or None)
        plot.write(drawn, path, title=", ".join(runs))
        what = f"{len(runs)} run(s)"
    counts = plot.describe(drawn)
    click.echo(f"Wrote {path}: {len(counts)} metric(s), {sum(counts.values())} point(s) of "
               f"{what}.")
