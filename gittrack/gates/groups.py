"""Which runs stand for each side of a gate.

A side is named like any run (gittrack.registry.references): a run, ``forecaster/prod``,
``models:/forecaster/3``, or ``baseline`` (the candidate experiment's baseline). The named run
stands with its group: the finished runs of its experiment that carry the same value of the
group tag (``gittrack.group``, which ``gittrack run --repeat N`` sets), i.e. its seeds.

With ``match`` keys (``params.test_month``), reference runs count only when they agree with
the candidate on those keys: like is compared with like. For a registry version whose own runs
were measured on other data, the runs that scored that version (tag ``gittrack.evaluates`` =
``MODEL/vN``) and agree on the keys stand for it instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gittrack.core.errors import GittrackError, RunNotFoundError
from gittrack.core.records import Run
from gittrack.core.store import Store
from gittrack.gates import EVALUATES_TAG
from gittrack.query import baseline, search
from gittrack.registry import references
from gittrack.registry.resolver import ModelVersion

BASELINE = "baseline"


class GateInputError(GittrackError):
    """A gate cannot find the runs it should compare."""


@dataclass(frozen=True)
class Side:
    """One side of a gate: the named run and the runs whose values it compares."""

    spec: str
    label: str
    run: Run  # the named run (for reference: the version's own run)
    members: list[dict[str, Any]] = field(default_factory=list)  # summaries of the runs
    version: ModelVersion | None = None
    group: str | None = None
    evaluations: bool = False  # the members are runs that scored the version

    def values(self, metric: str) -> list[float]:
        """The members' values of ``metric`` (runs without it are left out)."""
        out = []
        for m in self.members:
            value = m["metrics"].get(metric)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out.append(float(value))
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {"spec": self.spec, "label": self.label, "run": self.run.id,
                "name": self.run.name, "experiment": self.run.experiment,
                "commit": self.run.commit,
                "version": None if self.version is None else self.version.version,
                "group": self.group, "evaluations": self.evaluations,
                "runs": [m["id"] for m in self.members]}


def candidate(store: Store, spec: str, group_by: str) -> Side:
    """The candidate side: the run ``spec`` names and its group."""
    target = references.resolve(store, spec)
    run = store.read_run(target.commit)
    if run.status != "finished":
        raise GateInputError(f"Candidate run {run.id} ({run.name}) is {run.status}; a gate "
                             "compares finished runs.")
    group = _group_value(run, group_by)
    return Side(spec, _label(target, run), run, group_members(store, run, group_by),
                target.version, group)


def reference(store: Store, spec: str, cand: Side, group_by: str,
              match: Sequence[str] = ()) -> Side:
    """The reference side: ``baseline``, a run or a registry reference, with its group,
    narrowed to the runs that agree with the candidate on ``match``."""
    if spec == BASELINE:
        commit = baseline.get_baseline(store, cand.run.experiment)
        if commit is None:
            raise GateInputError(f"Experiment '{cand.run.experiment}' has no baseline to gate "
                                 "against; mark one with `gittrack baseline set RUN`, or pass "
                                 "--against models:/NAME/STAGE or a run.")
        target = references.Target(BASELINE, commit)
        label = f"baseline of {cand.run.experiment}"
    else:
        target = references.resolve(store, spec)
    run = store.read_run(target.commit)
    if spec != BASELINE:
        label = _label(target, run)
    members = group_members(store, run, group_by)
    wanted = {key: _value(cand.members[0] if cand.members else run.summary(), key) for key in match}
    side = Side(spec, label, run, members, target.version, _group_value(run, group_by))
    if not match:
        return side
    kept = [m for m in members if all(_value(m, k) == v for k, v in wanted.items())]
    if kept:
        return Side(spec, label, run, kept, target.version, side.group)
    if target.version is not None:
        scored = evaluations(store, target.version, wanted)
        if scored:
            return Side(spec, label, run, scored, target.version, None, evaluations=True)
    said = ", ".join(f"{k}={v!r}" for k, v in wanted.items())
    raise GateInputError(
        f"No run of {label} was measured with {said} like the candidate; score it on the same "
        f"data as a run tagged {EVALUATES_TAG}=MODEL/vN, or drop 'match' from the gate."
    )


def group_members(store: Store, run: Run, group_by: str) -> list[dict[str, Any]]:
    """The finished runs of ``run``'s group (just ``run`` when it has no group tag)."""
    value = _group_value(run, group_by)
    if value is None:
        return [run.summary()]
    where = f"tags.`{group_by}` = {_quote(value)}"
    table, rows = search.select(store, [run.experiment], where)
    members = [table.summary(r) for r in rows]
    members = [m for m in members if m["status"] == "finished"]
    members.sort(key=lambda m: (m["tags"].get("gittrack.seed", ""), m["id"]))
    return members or [run.summary()]


def evaluations(store: Store, version: ModelVersion, wanted: dict[str, Any]) -> list[dict[str, Any]]:
    """Finished runs in any experiment tagged as scoring ``version`` that agree on ``wanted``."""
    where = f"tags.`{EVALUATES_TAG}` = {_quote(f'{version.model}/v{version.version}')}"
    table, rows = search.select(store, None, where)
    found = [table.summary(r) for r in rows]
    return [m for m in found if m["status"] == "finished"
            and all(_value(m, k) == v for k, v in wanted.items())]


def _label(target: references.Target, run: Run) -> str:
    return target.label if target.version is not None else f"{run.experiment}/{run.name}"


def _quote(text: str) -> str:
    """A string literal of the filter grammar (a doubled quote stands for one)."""
    return "'" + text.replace("'", "''") + "'"


def _group_value(run: Run, group_by: str) -> str | None:
    value = run.tags.get(group_by)
    return None if value in (None, "") else str(value)


def _value(summary: dict[str, Any], key: str) -> Any:
    section, _, name = key.partition(".")
    if section in ("params", "metrics", "tags") and name:
        return summary[section].get(name)
    if key in summary:
        return summary[key]
    raise RunNotFoundError(f"Match key '{key}' is not params.K, tags.K, metrics.K or a run "
                           "attribute; fix 'match' in the gate.")
