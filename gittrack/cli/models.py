"""``gittrack models``: registered models, their stages, history, and what a stage resolves to."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from gittrack.cli import render
from gittrack.core import project
from gittrack.core.signing import Verification
from gittrack.core.store import Store, repo_from_env
from gittrack.registry.resolver import (
    Model,
    ModelVersion,
    Registry,
    RegistryWarning,
    RunFacts,
    parse_model_ref,
)
from gittrack.registry.signatures import Signatures
from gittrack.registry.tags import Event

KEY_METRICS = 3


@contextmanager
def warnings_to_stderr() -> Iterator[None]:
    """Print the registry's warnings (skipped tags) as ``gittrack: warning: ...`` lines."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RegistryWarning)
        try:
            yield
        finally:
            seen: set[str] = set()
            for w in caught:
                text = str(w.message)
                if issubclass(w.category, RegistryWarning) and text not in seen:
                    seen.add(text)
                    click.echo(f"gittrack: warning: {text}", err=True)
                elif not issubclass(w.category, RegistryWarning):
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


@click.group("models", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_context
def command(ctx: click.Context, as_json: bool) -> None:
    """List registered models: each stage's current version and the latest, with the run
    and its key metrics.

    \b
    Example:
      gittrack models
      gittrack models history forecaster --stage prod
      gittrack models resolve forecaster/prod --json
    """
    if ctx.invoked_subcommand is not None:
        return
    registry = _registry()
    with warnings_to_stderr():
        models = registry.models()
    shown = [(m, label, v) for m in models.values()
             for label, v in _shown(m, _stage_order(registry.store))]
    facts = registry.facts(v.commit for _m, _label, v in shown)
    rows = [_row(m, label, v, facts[v.commit]) for m, label, v in shown]
    if as_json:
        click.echo(render.json_text([_model_json(m, rows) for m in models.values()]))
    elif not rows:
        click.echo("No registered models yet; register one with `gittrack register MODEL RUN`.")
    else:
        headers = ["model", "versions", "stage", "version", "run", "experiment", "metrics"]
        click.echo(render.table(headers, [[r[h] for h in headers] for r in rows]))


def _registry() -> Registry:
    # Reading the registry needs no run recovery (gittrack.api.open_store): tags and the
    # run commits they point at never change, so these commands stay light.
    return Registry(Store(repo_from_env()))


def _stage_order(store: Store) -> list[str]:
    stages = project.config(store.repo).get("stages")
    return [str(s) for s in stages] if isinstance(stages, list) else []


def _shown(model: Model, order: list[str]) -> list[tuple[str, ModelVersion]]:
    """The rows of a model: its current stages (config order first), then ``latest``."""
    rank = {s: i for i, s in enumerate(order)}
    stages = sorted(model.stages, key=lambda s: (rank.get(s, len(rank)), s))
    shown = [(s, model.versions[model.stages[s]]) for s in stages]
    if model.latest is not None:
        shown.append(("latest", model.latest))
    return shown


def _row(model: Model, label: str, version: ModelVersion, facts: RunFacts) -> dict[str, Any]:
    key = dict(list(facts.metrics.items())[:KEY_METRICS])
    return {
        "model": model.name, "versions": len(model.versions), "stage": label,
        "version": f"v{version.version}", "run": version.run[:8], "run_id": version.run,
        "experiment": version.experiment, "commit": version.commit,
        "metrics": " ".join(f"{k}={render.cell(v)}" for k, v in key.items()),
        "key_metrics": key,
    }


def _model_json(model: Model, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "model": model.name,
        "versions": [v.to_dict() for v in model.versions.values()],
        "stages": {s: v for s, v in sorted(model.stages.items())},
        "latest": model.latest.version if model.latest else None,
        "shown": [{"stage": r["stage"], "version": r["version"], "run": r["run_id"],
                   "metrics": r["key_metrics"]} for r in rows if r["model"] == model.name],
    }


@command.command("history")
@click.argument("model")
@click.option("--stage", metavar="STAGE", help="Only the promotions and demotions of STAGE.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def history(model: str, stage: str | None, as_json: bool) -> None:
    """Every event of MODEL in order: registrations, promotions, demotions, with actor and time.

    \b
    Example:
      gittrack models history forecaster --stage prod
    """
    registry = _registry()
    with warnings_to_stderr():
        events = registry.history(model, stage)
    checks = Signatures(registry.repo).check((e.tag, e.actor) for e in events)
    if as_json:
        click.echo(render.json_text([_event_json(e, checks.get(e.tag)) for e in events]))
        return
    headers = ["seq", "time", "action", "version", "stage", "actor", "verified", "tag", "gate",
               "note"]
    rows = [[e.seq, e.time.replace("T", " "), e.action, f"v{e.version}", e.stage or "",
             e.actor.split(" <")[0], _verified_cell(checks.get(e.tag)), e.tag,
             (e.gate or {}).get("verdict", ""), e.note or ""]
            for e in events]
    click.echo(render.table(headers, rows) if rows else f"No events of {model} in {stage} yet.")


def _verified_cell(found: Verification | None) -> str:
    """``yes (signer)``, ``unsigned`` or ``NO`` (signed, but not by an allowed key in the actor's name)."""
    if found is None or not found.signed:
        return "unsigned"
    return f"yes ({found.signer})" if found.verified else "NO"


def _event_json(event: Event, found: Verification | None = None) -> dict[str, Any]:
    doc = dict(event.__dict__)
    doc["verified"] = bool(found and found.verified)
    doc["signature"] = {"status": found.status if found else "unsigned",
                        "signer": found.signer if found else None,
                        "detail": found.detail if found else "not signed"}
    return doc


@command.command("resolve")
@click.argument("ref", metavar="MODEL/STAGE")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for CI and deploy scripts.")
@click.option("--require-signed", "require_signed", is_flag=True,
              help="Exit 1 unless the tag the answer stands on is signed by a key in "
                   ".gittrack/allowed_signers, in its actor's name.")
def resolve(ref: str, as_json: bool, require_signed: bool) -> None:
    """Show the version MODEL/STAGE resolves to (also MODEL/vN, MODEL/latest, MODEL@STAGE).

    \b
    Example:
      gittrack models resolve forecaster/prod --json
      gittrack models resolve forecaster/prod --require-signed --json
    """
    registry = _registry()
    with warnings_to_stderr():
        version = registry.resolve(ref)
        _name, selector = parse_model_ref(ref)
        promotion = registry.model(version.model).current.get(selector)
    doc = {
        "model": version.model, "ref": ref, "version": version.version, "tag": version.tag,
        "stage_tag": promotion.tag if promotion is not None else None,
        "run": version.run, "experiment": version.experiment, "commit": version.commit,
        "artifact_path": version.artifact, "artifact_md5": registry.artifact_md5(version),
        "stages": list(version.stages),
    }
    if require_signed:
        event = promotion or version
        found = Signatures(registry.repo).require(event.tag, event.actor, f"{ref}")
        doc.update(verified=True, signer=found.signer, key=found.key)
    if as_json:
        click.echo(render.json_text(doc))
    else:
        click.echo("\n".join(f"{k}: {render.cell(v)}" for k, v in doc.items()))
