"""``gittrack diff``: what differs between runs, across params, metrics, data, environment,
artifacts and code."""

from __future__ import annotations

from typing import Any

import click

from gittrack import api
from gittrack.cli import render
from gittrack.query import baseline, diff
from gittrack.registry import references

ABSENT = "-"


@click.command("diff")
@click.argument("runs", nargs=-1, required=True)
@click.option("--all", "all_keys", is_flag=True, help="Also list what is the same.")
@click.option("--json", "fmt", flag_value="json", help="JSON output (schema: docs/diff.md).")
@click.option("--md", "fmt", flag_value="md", help="A Markdown table.")
@click.option("--code", "code", is_flag=True,
              help="Also show git's patch of the code between the first and last run.")
def command(runs: tuple[str, ...], all_keys: bool, fmt: str | None, code: bool) -> None:
    """Compare RUN_A with RUN_B (or several runs side by side; or one run with its
    experiment's baseline): params, metrics, tags, data inputs, environment, packages,
    artifacts and the files of code that changed. A run may also be named by the registry:
    forecaster/prod, forecaster/v3, models:/forecaster/prod.

    \b
    Example:
      gittrack diff brisk-lamb-417 calm-fox-002 --code
      gittrack diff brisk-lamb-417          # against the experiment's baseline
      gittrack diff brisk-lamb-417 forecaster/prod
    """
    store = api.open_store()
    records = [references.get(store, spec) for spec in runs]
    if len(records) == 1:
        base = baseline.require_baseline(store, records[0].experiment)
        records.insert(0, store.read_run(base))
    doc = diff.compare(store, records, all_keys=all_keys, patch=code)
    if fmt == "json":
        click.echo(render.json_text(doc))
        return
    headers, rows = diff_table(doc)
    if fmt == "md":
        click.echo(render.markdown(headers, rows) if rows else "No differences.")
        if code and doc["patch"]:
            click.echo(f"\n```diff\n{doc['patch'].rstrip()}\n```")
        return
    click.echo(render.table(headers, rows) if rows else "No differences.")
    if code and doc["patch"]:
        click.echo("\n" + doc["patch"].rstrip())


def diff_table(doc: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Headers and rows: section, key, one column a run (and the change for two runs)."""
    labels = [f"{r['name']} ({r['id'][:8]})" for r in doc["runs"]]
    pair = len(labels) == 2
    headers = ["section", "key", *labels, *(["change"] if pair else [])]
    rows: list[list[Any]] = []
    for section in diff.SECTIONS:
        for entry in doc[section]:
            present = entry.get("present") or [v is not None for v in entry["values"]]
            cells = [_text(section, entry, v, p) for v, p in zip(entry["values"], present)]
            row: list[Any] = [section, entry["key"], *cells]
            if pair:
                row.append(_change(section, entry))
            rows.append(row)
    return headers, rows


def _text(section: str, entry: dict[str, Any], value: Any, present: bool) -> str:
    if not present:
        return ABSENT
    if value is None:
        return "null"  # logged as None: not the same as never logged
    if section == "code":
        return str(value)[:10]
    if isinstance(value, dict):
        fields = entry.get("fields") or [f for f in ("md5", "rows", "size") if f in value]
        return " ".join(f"{f}={_short(value.get(f))}" for f in fields)
    return render.cell(value)


def _short(value: Any) -> str:
    text = render.cell(value)
    return text[:10] if len(text) == 32 and all(c in "0123456789abcdef" for c in text) else text


def _change(section: str, entry: dict[str, Any]) -> str:
    delta = entry.get("delta")
    if section == "metrics" and delta is not None:
        return f"{delta:+.6g}"
    return str(entry["change"])
