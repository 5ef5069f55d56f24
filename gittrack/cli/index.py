"""``gittrack index``: inspect or rebuild the summary index (derived, never the truth)."""

from __future__ import annotations

import time

import click

from gittrack import api
from gittrack.query.index import Index


@click.command("index")
@click.option("--rebuild", is_flag=True, help="Delete the index and summarise every run again.")
@click.option("--clear", "clear", is_flag=True, help="Delete the index; the next read rebuilds it.")
def command(rebuild: bool, clear: bool) -> None:
    """Show, rebuild or delete the summary index of runs under .git/gittrack/index.

    The index only makes listing fast: every output is the same with or without it.

    \b
    Example:
      gittrack index --rebuild
    """
    store = api.open_store()
    index = Index(store)
    if clear:
        index.clear()
        click.echo("Deleted the summary index.")
        return
    if rebuild:
        started = time.perf_counter()
        count = index.rebuild()
        click.echo(f"Indexed {count} runs in {time.perf_counter() - started:.1f} s.")
        return
    stats = index.stats()
    click.echo(f"{stats['rows']} run summaries in {stats['segments']} segment(s), "
               f"{stats['bytes']} bytes, at {stats['path']}.")
