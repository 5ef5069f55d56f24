"""A gate's evaluation: every rule compared on the two sides, plus what changed between them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from gittrack.core import project
from gittrack.core.errors import InvalidInputError
from gittrack.core.store import Store
from gittrack.gates import groups, stats
from gittrack.gates.groups import BASELINE, Side
from gittrack.gates.rules import Rule
from gittrack.gates.spec import GateSpec, choose
from gittrack.query import diff
from gittrack.registry.resolver import parse_model_ref


@dataclass(frozen=True)
class RuleResult:
    """One rule and how it came out."""

    rule: Rule
    outcome: stats.Comparison

    def to_dict(self) -> dict[str, Any]:
        o = self.outcome
        return {"rule": self.rule.text, "metric": self.rule.metric, "verdict": o.verdict,
                "certainty": o.certainty, "candidate": o.candidate, "reference": o.reference,
                "bound": o.bound, "delta": o.delta, "delta_pct": o.delta_pct,
                "delta_ci": None if o.delta_ci is None else list(o.delta_ci), "sure": o.sure,
                "n_candidate": o.n_candidate, "n_reference": o.n_reference, "reason": o.reason}


@dataclass(frozen=True)
class GateResult:
    """The verdict of a gate, with everything a report shows."""

    spec: GateSpec
    candidate: Side
    reference: Side
    results: list[RuleResult]
    params: list[dict[str, Any]] = field(default_factory=list)  # changed: key, reference, candidate
    data: list[dict[str, Any]] = field(default_factory=list)  # changed inputs (data versions)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether every rule passed."""
        return all(r.outcome.verdict == "pass" for r in self.results)

    @property
    def verdict(self) -> str:
        return "pass" if self.passed else "fail"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json`` (docs/gates.md)."""
        return {"verdict": self.verdict, "gate": self.spec.name,
                "confidence": self.spec.confidence, "inconclusive": self.spec.inconclusive,
                "candidate": self.candidate.to_dict(), "reference": self.reference.to_dict(),
                "rules": [r.to_dict() for r in self.results], "params": self.params,
                "data": self.data, "notes": self.notes}

    def record(self) -> dict[str, Any]:
        """The short form kept in a promotion's tag annotation."""
        version = self.reference.version
        against = (f"{version.model} v{version.version}" if version is not None
                   else f"run {self.reference.run.id}")
        return {"verdict": self.verdict, "gate": self.spec.name, "against": against,
                "confidence": self.spec.confidence,
                "candidate_runs": len(self.candidate.members),
                "reference_runs": len(self.reference.members),
                "rules": [{"rule": r.rule.text, "verdict": r.outcome.verdict,
                           "certainty": r.outcome.certainty,
                           "candidate": _rounded(r.outcome.candidate),
                           "reference": _rounded(r.outcome.reference),
                           "sure": _rounded(r.outcome.sure)} for r in self.results]}


def gate_spec(store: Store, name: str | None, against: str | None) -> GateSpec:
    """The configured gate for ``against`` (the gate named after its model, else default)."""
    model = None
    if against and against != BASELINE and ("/" in against or "@" in against):
        try:
            model = parse_model_ref(against)[0]
        except InvalidInputError:
            model = None
    return choose(project.config(store.repo), name, model)


def evaluate(store: Store, candidate: str, against: str | None, spec: GateSpec) -> GateResult:
    """Compare ``candidate`` (a run and its group) with ``against`` by ``spec``'s rules."""
    if not spec.rules:
        raise InvalidInputError("The gate has no rules; pass --rule 'rmse <= ref * 1.02' or add "
                                "them under 'gates:' in .gittrack/config.yaml.")
    against = against or spec.against or BASELINE
    cand = groups.candidate(store, candidate, spec.group_by)
    ref = groups.reference(store, against, cand, spec.group_by, spec.match)
    results = [RuleResult(rule, stats.compare(rule, cand.values(rule.metric),
                                              ref.values(rule.metric), spec.confidence,
                                              spec.inconclusive)) for rule in spec.rules]
    params, data = _changes(store, cand, ref)
    return GateResult(spec, cand, ref, results, params, data, _notes(cand, ref, results))


def _changes(store: Store, cand: Side, ref: Side) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Params and data inputs that differ between the reference's run and the candidate's."""
    if cand.run.commit == ref.run.commit:
        return [], []
    doc = diff.compare(store, [ref.run, cand.run])
    params = [{"key": e["key"], "reference": e["values"][0], "candidate": e["values"][1],
               "change": e["change"]} for e in doc["params"]]
    data = [{"key": e["key"], "reference": _data_version(e["values"][0]),
             "candidate": _data_version(e["values"][1]), "change": e["change"]}
            for e in doc["inputs"]]
    return params, data


def _data_version(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: value.get(k) for k in ("path", "md5", "rows") if value.get(k) is not None}
    return value


def _notes(cand: Side, ref: Side, results: list[RuleResult]) -> list[str]:
    notes = []
    if any(r.outcome.certainty == "single sample" for r in results):
        notes.append("One run a side: a single sample, so the gate cannot tell a change from "
                     "noise; run several seeds (`gittrack run --repeat 5`) for a confidence.")
    elif len(ref.members) == 1 and len(cand.members) > 1:
        notes.append(f"The reference is one run, taken as exact; the candidate's "
                     f"{len(cand.members)} runs give the noise.")
    if ref.evaluations:
        notes.append(f"{ref.label} is represented by {len(ref.members)} run(s) that scored it "
                     "on the candidate's data.")
    return notes


def _rounded(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.6g}")
