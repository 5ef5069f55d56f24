"""Reading runs for people and scripts: resolve a run reference, list run summaries."""

from __future__ import annotations

from gittrack.core import names
from gittrack.core.errors import AmbiguousRunError
from gittrack.core.records import Run
from gittrack.core.store import Store, not_found


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
    commits = list(refs.values())
    from gittrack.query.index import Index  # lazy: the summary index: only name lookups need it

    table, rows = Index(store).table(commits, complete=True)
    run_names, experiments = table.column("name"), table.column("experiment")
    matches = [(ref, c) for (ref, c), r in zip(refs.items(), rows)
               if spec in (run_names[r], f"{experiments[r]}/{run_names[r]}")]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        listed = ", ".join(sorted(r.rpartition("/")[2] for r, _ in matches)[:5])
        hint = "a run id" if any("/" in spec and spec.endswith("/" + run_names[r])
                                 for r in rows) else "a run id or <experiment>/<name>"
        raise AmbiguousRunError(f"'{spec}' names {len(matches)} runs ({listed}); use {hint}.")
    raise not_found(spec)


def get(store: Store, spec: str) -> Run:
    """The run named by ``spec`` (see :func:`resolve`)."""
    _ref, commit = resolve(store, spec)
    return store.read_run(commit)

