"""``gittrack predict``: batch scoring of a CSV, Parquet or JSON lines file, in chunks."""

from __future__ import annotations

import sys
import time

import click

from gittrack.cli.serve import tracking_repo


@click.command("predict")
@click.argument("model_uri")
@click.option("-i", "--input", "source", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The rows to score: .csv, .parquet or .jsonl.")
@click.option("-o", "--output", "target", required=True, type=click.Path(dir_okay=False),
              help="Where the predictions go: .csv, .parquet or .jsonl.")
@click.option("--input-format", type=click.Choice(["csv", "parquet", "jsonl"]), default=None,
              help="The input's format when its suffix does not say.")
@click.option("--output-format", type=click.Choice(["csv", "parquet", "jsonl"]), default=None,
              help="The output's format when its suffix does not say.")
@click.option("--chunk-rows", default=100_000, show_default=True, type=click.IntRange(1),
              help="Rows read, predicted and written at a time (memory holds one chunk).")
@click.option("--keep-input", is_flag=True,
              help="Write the input columns before the predictions.")
def command(model_uri: str, source: str, target: str, input_format: str | None,
            output_format: str | None, chunk_rows: int, keep_input: bool) -> None:
    """Score every row of a file with MODEL_URI and write the predictions.

    The file is read CHUNK_ROWS rows at a time, so files larger than memory work; the
    output is complete or absent (written under a temporary name, renamed at the end).
    Prediction columns are `prediction`, or `prediction_0`, `prediction_1`, ...

    \b
    Example:
      gittrack predict models:/forecaster/prod -i march.csv -o march-scored.parquet --keep-input
    """
    from gittrack.serving import scoring  # lazy: pandas and the model only when scoring
    from gittrack.serving.follower import Follower  # lazy: as above

    started = time.perf_counter()
    served = Follower(model_uri, tracking_repo()).start()
    fmt = scoring.file_format(source, input_format)
    scoring.file_format(target, output_format)
    with click.progressbar(length=scoring.progress_total(source, fmt), label="Scoring",
                           file=sys.stderr) as bar:
        scored = scoring.score_file(served, source, target, input_format=input_format,
                                    output_format=output_format, chunk_rows=chunk_rows,
                                    keep_input=keep_input, progress=bar.update)
    version = f" v{served.version}" if served.version is not None else ""
    click.echo(f"Scored {scored.rows:,} rows in {scored.chunks} chunk(s) with {model_uri}{version} "
               f"into {scored.output} in {time.perf_counter() - started:.1f} s "
               f"(peak RSS {_peak_rss_mb():.0f} MB).", err=True)


def _peak_rss_mb() -> float:
    """This process's peak RSS: Linux's VmHWM of its own address space, where it exists
    (``ru_maxrss`` carries over the peak of the parent that started it, through fork and exec)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:  # not on Windows
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
