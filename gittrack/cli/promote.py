"""``gittrack promote MODEL vN STAGE``: make a version the current one of a stage; with
``--if-gate``, register and promote a run only when the configured gate passes."""

from __future__ import annotations

import click

from gittrack import api
from gittrack.cli import render
from gittrack.cli.models import warnings_to_stderr
from gittrack.core.errors import InvalidInputError

EXIT_GATE_FAILED = 1


@click.command("promote")
@click.argument("model")
@click.argument("version", metavar="vN|RUN")
@click.argument("stage")
@click.option("-m", "--message", "note", metavar="NOTE", help="A note kept in the stage tag.")
@click.option("--if-gate", "if_gate", is_flag=True,
              help="Register RUN (or take vN) and promote it only when the gate passes against "
                   "the stage's current version; the verdict is kept in the tag.")
@click.option("--gate", "gate_name", metavar="NAME",
              help="The gate under 'gates:' in .gittrack/config.yaml (default: the one named "
                   "after MODEL, else 'default').")
@click.option("--rule", "rules", multiple=True, metavar="RULE",
              help="A gate rule such as 'rmse <= ref * 1.02' (repeatable; replaces the configured).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts (with --if-gate).")
@click.option("--sign/--no-sign", "sign", default=None,
              help="Sign the tag with git (`git tag -s`); default: `sign:` in .gittrack/config.yaml.")
def command(model: str, version: str, stage: str, note: str | None, if_gate: bool,
            gate_name: str | None, rules: tuple[str, ...], as_json: bool,
            sign: bool | None) -> int:
    """Promote version vN of MODEL to STAGE (it becomes the stage's current version).

    Writes the annotated tag MODEL/STAGE/vN on the version's run commit. When
    .gittrack/config.yaml lists `stages: [dev, staging, prod]`, only those stages are
    allowed and a version must be active in the previous stage first.

    With --if-gate, vN may be a RUN: the gate compares it (and its seeds) with the stage's
    current version; on a pass the run is registered and promoted in one step, on a fail
    nothing is written and the exit code is 1.

    \b
    Example:
      gittrack promote forecaster v3 prod
      gittrack promote forecaster brisk-lamb-417 prod --if-gate
      gittrack promote forecaster v3 prod --sign
    """
    if not if_gate:
        if rules or gate_name:
            raise click.UsageError("--gate and --rule apply only with --if-gate.")
        with warnings_to_stderr():
            event = api.promote(model, version, stage, note, sign)
        click.echo(f"Promoted {model} v{event.version} to {stage} (tag {event.tag}).")
        return 0
    from gittrack.gates import gate, promotion, report  # lazy: only gated promotions need them

    store = api.open_store()
    try:
        spec = gate.gate_spec(store, gate_name, f"models:/{model}/{stage}").with_options(rules)
        if not spec.rules:
            raise InvalidInputError("The gate has no rules; add them under 'gates:' in "
                                    ".gittrack/config.yaml or pass --rule.")
    except InvalidInputError as exc:
        raise click.UsageError(str(exc)) from exc
    with warnings_to_stderr():
        done = promotion.promote_if_gate(store, model, version, stage, spec, note, sign)
    if as_json:
        click.echo(render.json_text({
            "promoted": done.promoted, "model": model, "stage": stage,
            "version": None if done.version is None else done.version.version,
            "tag": None if done.event is None else done.event.tag,
            "previous": done.current,
            "gate": None if done.gate is None else done.gate.to_dict()}))
    else:
        if done.gate is not None:
            click.echo(report.text(done.gate, render.table(report.HEADERS, report.rows(done.gate))))
        if done.event is not None:
            assert done.version is not None
            click.echo(f"Promoted {model} v{done.version.version} to {stage} (tag {done.event.tag})"
                       + ("." if done.current is not None else
                          f"; {stage} had no current version, so there was nothing to gate against."))
        else:
            click.echo(f"Not promoted: {stage} stays at {model} v{done.current}.")
    return 0 if done.promoted else EXIT_GATE_FAILED
