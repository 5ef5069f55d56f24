"""Noise-aware comparison of one rule: the candidate's runs against the reference's runs.

Each side is a list of metric values, one a run (seeds of one recipe). With two or more
values on a side, its mean is resampled (bootstrap); a side with one value is held fixed.
The rule's slack (how far inside the rule the candidate is) is computed for every resample:

- **fail** when the rule is broken in the whole confidence interval of the slack: the data
  show, at the stated confidence, that the candidate is worse than the rule allows;
- **pass** otherwise, **confident** when the whole interval keeps the rule and
  **inconclusive** when it straddles the bound (the gate then passes unless the gate says
  ``inconclusive: fail``).

``sure`` is the share of resamples in which the rule holds: how sure the gate is that it
passes. With one run a side there is no noise estimate: the single values decide, and the
result says it was a single sample. Small groups understate their spread, so each group's
deviations from its mean are widened by sqrt(n / (n - 1)) before resampling.
The resampling seed is fixed, so the same runs always give the same verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gittrack.gates.rules import Rule, evaluate_bound

RESAMPLES = 4000
SEED = 20261205


@dataclass(frozen=True)
class Comparison:
    """The outcome of one rule."""

    verdict: str  # "pass" or "fail"
    certainty: str  # "confident", "inconclusive", "single sample", "missing"
    candidate: float | None  # mean of the candidate's values
    reference: float | None  # mean of the reference's values
    bound: float | None  # what the candidate's mean is compared with
    sure: float | None  # share of resamples where the rule holds
    delta_ci: tuple[float, float] | None  # confidence interval of candidate - reference
    n_candidate: int
    n_reference: int
    reason: str  # one sentence for people

    @property
    def delta(self) -> float | None:
        """Candidate minus reference."""
        if self.candidate is None or self.reference is None:
            return None
        return self.candidate - self.reference

    @property
    def delta_pct(self) -> float | None:
        """The change in percent of the reference."""
        if self.delta is None or not self.reference:
            return None
        return 100.0 * self.delta / abs(self.reference)


def compare(rule: Rule, candidate: Sequence[float], reference: Sequence[float] | None,
            confidence: float = 0.95, inconclusive: str = "pass",
            resamples: int = RESAMPLES) -> Comparison:
    """Compare the candidate's values of ``rule.metric`` with the reference's."""
    cand = [float(v) for v in candidate if _finite(v)]
    ref = [float(v) for v in (() if reference is None else reference) if _finite(v)]
    n_c, n_r = len(cand), len(ref)
    if not cand or (rule.uses_ref and not ref):
        side = "candidate" if not cand else "reference"
        return Comparison("fail", "missing", _mean(cand), _mean(ref), None, None, None, n_c, n_r,
                          f"The {side} has no finite value of {rule.metric}.")
    c_mean, r_mean = _mean(cand), _mean(ref) if rule.uses_ref or ref else None
    bound = rule.bound(r_mean)
    holds = rule.holds(c_mean, r_mean)  # type: ignore[arg-type]
    resampled = n_c > 1 or (rule.uses_ref and n_r > 1)
    if not resampled:
        verdict = "pass" if holds else "fail"
        return Comparison(verdict, "single sample", c_mean, r_mean, bound, None, None, n_c, n_r,
                          f"{rule.metric} {c_mean:.6g} {'keeps' if holds else 'breaks'} "
                          f"{rule.op} {bound:.6g}; one run a side, so a single sample with no "
                          "noise estimate.")
    return _bootstrap(rule, cand, ref, confidence, inconclusive, resamples, bound)


def _bootstrap(rule: Rule, cand: list[float], ref: list[float], confidence: float,
               inconclusive: str, resamples: int, bound: float) -> Comparison:
    import numpy as np

    rng = np.random.default_rng(SEED)
    c_boot = _resampled_means(rng, cand, resamples)
    r_boot = _resampled_means(rng, ref, resamples) if ref else None
    with np.errstate(all="ignore"):
        bounds = evaluate_bound(rule, r_boot) * np.ones(resamples)
        slack = bounds - c_boot if rule.lower_is_better else c_boot - bounds
    strict = rule.op in ("<", ">")
    kept = slack > 0 if strict else slack >= 0
    sure = float(np.mean(kept))
    alpha = 1.0 - confidence
    low, high = (float(q) for q in np.quantile(slack, [alpha / 2, 1 - alpha / 2]))
    broken = high <= 0 if strict else high < 0
    confident_pass = low > 0 if strict else low >= 0
    delta_ci = None
    if r_boot is not None:
        lo, hi = np.quantile(c_boot - r_boot, [alpha / 2, 1 - alpha / 2])
        delta_ci = (float(lo), float(hi))
    c_mean, r_mean = _mean(cand), _mean(ref) if ref else None
    if broken:
        verdict, certainty = "fail", "confident"
    elif confident_pass:
        verdict, certainty = "pass", "confident"
    else:
        verdict, certainty = ("fail" if inconclusive == "fail" else "pass"), "inconclusive"
    level = f"{confidence:.0%}"
    reason = {
        ("fail", "confident"): f"{rule.metric} breaks {rule.text!r} at {level} confidence "
                               f"(it holds in {sure:.0%} of resamples).",
        ("pass", "confident"): f"{rule.metric} keeps {rule.text!r} at {level} confidence "
                               f"(in {sure:.0%} of resamples).",
    }.get((verdict, certainty), f"{rule.metric} is within the noise of {rule.text!r}: it holds "
                                f"in {sure:.0%} of resamples, short of {level} either way.")
    return Comparison(verdict, certainty, c_mean, r_mean, bound, sure, delta_ci, len(cand),
                      len(ref), reason)


def _resampled_means(rng: Any, values: list[float], resamples: int) -> Any:
    import numpy as np

    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 1:
        return np.full(resamples, x[0])
    mean = x.mean()
    widened = mean + (x - mean) * math.sqrt(n / (n - 1))
    return widened[rng.integers(0, n, size=(resamples, n))].mean(axis=1)


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
