"""Reading runs for people and scripts: resolve a run reference, list run summaries."""

from __future__ import annotations

from typing import Any

from gittrack import names
from gittrack.errors import AmbiguousRunError
from gittrack.index import Index
from gittrack.records import Run
from gittrack.store import Store, not_found


def resolve(store: Store, spec: str) -> tuple[str, str]:
    """``(ref, commit)`` of a run named by id, unique id prefix, ``<experiment>/<name>``,
    a name unique in the repository, or its full ref."""
    spec = spec.strip()
    if spec.startswith(names.RUNS_PREFIX):
        commit = store.repo.resolve_ref(spec)
        if commit:
            return spec, commit
    hit = store.resolve_id(spec.removeprefix("runs:/").split("/")[0]) if spec else None
    if hit:
        return hit
    refs = store.refs()
    summaries = Index(store).summaries(refs)
    by_commit = {s["commit"]: s for s in summaries}
    matches = [(ref, c) for ref, c in refs.items()
               if _names_match(by_commit[c], spec)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        listed = ", ".join(sorted(r.rpartition("/")[2] for r, _ in matches)[:5])
        raise AmbiguousRunError(
            f"'{spec}' names {len(matches)} runs ({listed}); use a run id or <experiment>/<name>."
        )
    raise not_found(spec)


def _names_match(summary: dict[str, Any], spec: str) -> bool:
    return spec in (summary["name"], f"{summary['experiment']}/{summary['name']}")


def get(store: Store, spec: str) -> Run:
    """The run named by ``spec`` (see :func:`resolve`)."""
    _ref, commit = resolve(store, spec)
    return store.read_run(commit)


def summaries(store: Store, experiment: str | None = None) -> list[dict[str, Any]]:
    """Summaries of runs, newest first."""
    rows = Index(store).summaries(store.refs(experiment))
    rows.sort(key=lambda s: (s.get("start_time") or "", s["id"]), reverse=True)
    return rows
