"""``gittrack profile FILE``: a data profile (docs/monitoring.md), as a table or as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gittrack.cli import render


@click.command("profile")
@click.argument("path", metavar="FILE")
@click.option("-o", "--output", metavar="FILE.json",
              help="Write the profile as JSON to this file (for `gittrack drift`).")
@click.option("--json", "as_json", is_flag=True, help="Print the profile as JSON.")
def command(path: str, output: str | None, as_json: bool) -> None:
    """Profile a CSV, TSV or Parquet file (or a directory of them) in one streaming pass.

    Per column: type, count, nulls, min, max, mean, std, quantiles, a histogram on
    power-of-two bin edges, and the most frequent categories. The same data always gives
    the same profile; log_input stores one with every table a run reads.

    \b
    Example:
      gittrack profile data/june.csv
      gittrack profile requests/ -o june-profile.json
    """
    from gittrack.artifacts import profiles  # lazy: `gittrack --help` loads every command

    profile = profiles.profile_path(Path(path))
    if output:
        Path(output).write_bytes(profile.to_json())
    if as_json:
        click.echo(profile.to_json().decode("utf-8"), nl=False)
        return
    if output:
        click.echo(f"Wrote {output}: {profile.rows:,} rows, {len(profile.columns)} columns.")
        return
    click.echo(f"{path}: {profile.rows:,} rows, {len(profile.columns)} columns")
    click.echo(render.table(HEADERS, [_row(c) for c in profile.columns]))


HEADERS = ("column", "type", "count", "nulls", "distinct", "min", "mean", "std", "max",
           "median", "top")


def _row(c: dict[str, Any]) -> list[Any]:
    quantiles = c.get("quantiles") or {}
    top = ", ".join(f"{k} ({n})" for k, n in (c.get("top") or [])[:3])
    return [c["name"], c.get("dtype"), c.get("count"), c.get("nulls"), c.get("distinct"),
            c.get("min"), c.get("mean"), c.get("std"), c.get("max"), quantiles.get("0.5"), top]
