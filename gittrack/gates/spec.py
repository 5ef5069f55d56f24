"""The configured gate: rules and settings from ``gates:`` in ``.gittrack/config.yaml``.

``gates:`` is either a list of rules (the gate named ``default``) or a mapping of gate names to
a list of rules or to a mapping::

    gates:
      forecaster:                     # used for models:/forecaster/... and promote forecaster
        against: models:/forecaster/prod
        rules: ["rmse <= ref * 1.02", "mae <= +5%"]
        confidence: 0.95              # of the bootstrap interval
        group_by: gittrack.group      # the tag that groups the seeds of one recipe
        match: [params.test_month]    # reference runs must agree on these with the candidate
        inconclusive: pass            # or fail: within the noise is not good enough
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from gittrack.core.errors import InvalidInputError
from gittrack.gates import GROUP_TAG
from gittrack.gates.rules import Rule, parse

DEFAULT = "default"
KEYS = ("against", "rules", "confidence", "group_by", "match", "inconclusive")


@dataclass(frozen=True)
class GateSpec:
    """What a gate checks and how."""

    name: str
    rules: tuple[Rule, ...]
    confidence: float = 0.95
    group_by: str = GROUP_TAG
    match: tuple[str, ...] = ()
    against: str | None = None
    inconclusive: str = "pass"

    def with_options(self, rules: Sequence[str] = (), confidence: float | None = None,
                     group_by: str | None = None, match: Sequence[str] = (),
                     inconclusive: str | None = None) -> GateSpec:
        """This gate with command-line options applied (given rules replace the configured)."""
        spec = replace(self, rules=tuple(parse(r) for r in rules)) if rules else self
        if confidence is not None:
            spec = replace(spec, confidence=_confidence(confidence))
        if group_by is not None:
            spec = replace(spec, group_by=group_by)
        if match:
            spec = replace(spec, match=tuple(match))
        if inconclusive is not None:
            spec = replace(spec, inconclusive=_inconclusive(inconclusive))
        return spec


def configured(config: Mapping[str, Any]) -> dict[str, GateSpec]:
    """Every gate of a project config, by name."""
    gates = config.get("gates")
    if gates is None:
        return {}
    if isinstance(gates, list):
        return {DEFAULT: _spec(DEFAULT, gates)}
    if not isinstance(gates, dict):
        raise InvalidInputError("The config key 'gates' must be a list of rules or a mapping of "
                                "gate names to rules; see docs/gates.md.")
    return {str(name): _spec(str(name), body) for name, body in gates.items()}


def choose(config: Mapping[str, Any], name: str | None = None,
           model: str | None = None) -> GateSpec:
    """The gate named ``name``; else the one named after ``model``; else ``default``; else
    the only configured gate; else an empty gate (rules must then come from the command line)."""
    gates = configured(config)
    if name is not None:
        if name not in gates:
            known = ", ".join(sorted(gates)) or "none"
            raise InvalidInputError(f"No gate '{name}' under 'gates:' in .gittrack/config.yaml "
                                    f"(gates: {known}).")
        return gates[name]
    if model is not None and model in gates:
        return gates[model]
    if DEFAULT in gates:
        return gates[DEFAULT]
    if len(gates) == 1 and model is None:
        return next(iter(gates.values()))
    return GateSpec(DEFAULT, ())


def _spec(name: str, body: Any) -> GateSpec:
    if isinstance(body, list):
        body = {"rules": body}
    if not isinstance(body, dict):
        raise InvalidInputError(f"Gate '{name}' in .gittrack/config.yaml must be a list of rules "
                                "or a mapping with 'rules'.")
    unknown = sorted(set(body) - set(KEYS))
    if unknown:
        raise InvalidInputError(f"Gate '{name}' has unknown key(s) {', '.join(unknown)}; the keys "
                                f"are {', '.join(KEYS)}.")
    rules = body.get("rules") or []
    match = body.get("match") or []
    if isinstance(rules, str):
        rules = [rules]
    if isinstance(match, str):
        match = [match]
    if not isinstance(rules, list) or not isinstance(match, list):
        raise InvalidInputError(f"Gate '{name}': 'rules' and 'match' must be lists.")
    against = body.get("against")
    return GateSpec(name, tuple(parse(r) for r in rules),
                    _confidence(body.get("confidence", 0.95)),
                    str(body.get("group_by") or GROUP_TAG), tuple(str(m) for m in match),
                    None if against is None else str(against),
                    _inconclusive(body.get("inconclusive", "pass")))


def _confidence(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.5 <= value < 1:
        raise InvalidInputError(f"A gate's confidence must be a number from 0.5 to below 1, such "
                                f"as 0.95; got {value!r}.")
    return float(value)


def _inconclusive(value: Any) -> str:
    if value not in ("pass", "fail"):
        raise InvalidInputError(f"A gate's 'inconclusive' must be pass or fail; got {value!r}.")
    return str(value)
