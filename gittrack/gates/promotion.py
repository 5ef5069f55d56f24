"""``promote --if-gate``: register and promote in one step, only when the gate passes against
the stage's current version; the verdict is kept in the promotion tag's annotation."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gittrack.core.store import Store
from gittrack.gates.gate import GateResult, evaluate
from gittrack.gates.spec import GateSpec
from gittrack.registry import references, tags
from gittrack.registry.resolver import ModelVersion, Registry
from gittrack.registry.tags import Event


@dataclass(frozen=True)
class GatedPromotion:
    """What ``promote --if-gate`` did: the gate's result (None when the stage was empty), and
    the version and promotion it wrote (None when the gate failed)."""

    gate: GateResult | None
    version: ModelVersion | None
    event: Event | None
    current: int | None  # the stage's version the gate compared with

    @property
    def promoted(self) -> bool:
        return self.event is not None


def promote_if_gate(store: Store, model: str, candidate: str, stage: str, spec: GateSpec,
                    note: str | None = None, sign: bool | None = None) -> GatedPromotion:
    """Gate ``candidate`` (a run, or ``vN`` of ``model``) against the current version of
    ``stage``; on a pass, register it (unless it is a version already) and promote it
    (signed tags with ``sign``; None follows ``sign:`` in the config)."""
    tags.validate_model(model)
    stage = tags.validate_stage(stage)
    registry = Registry(store)
    current = registry.model(model, must_exist=False).stages.get(stage)
    is_version = re.fullmatch(r"[vV]?[0-9]+", candidate) is not None
    spec_text = f"models:/{model}/{tags.parse_version(candidate)}" if is_version else candidate
    result = None
    if current is not None:
        result = evaluate(store, spec_text, f"models:/{model}/{current}", spec)
        if not result.passed:
            return GatedPromotion(result, None, None, current)
    version = _version_of(registry, store, model, spec_text, note, sign)
    gate = result.record() if result is not None else {
        "verdict": "pass", "gate": spec.name, "against": None,
        "reason": f"{stage} had no current version"}
    event = registry.promote(model, version.version, stage, note, gate=gate,
                             expect_current=current, sign=sign)
    return GatedPromotion(result, version, event, current)


def _version_of(registry: Registry, store: Store, model: str, spec: str,
                note: str | None, sign: bool | None = None) -> ModelVersion:
    """The version ``spec`` names, or the new version it is registered as."""
    target = references.resolve(store, spec)
    if target.version is not None and target.version.model == model:
        return target.version
    existing = registry.model(model, must_exist=False)
    for v in existing.versions.values():
        if v.commit == target.commit:
            return v
    return registry.register(target.ref or spec, model, note=note, sign=sign)
