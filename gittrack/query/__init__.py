"""Reading runs for people and scripts: resolve a run reference, list run summaries."""

from __future__ import annotations

import difflib
import logging
import re

from gittrack.core import names
from gittrack.core.errors import MissingObjectError, RunNotFoundError
from gittrack.core.records import Run
from gittrack.core.store import Store, not_found

log = logging.getLogger("gittrack")


def resolve(store: Store, spec: str) -> tuple[str, str]:
    """``(ref, commit)`` of a run named by id, unique id prefix, ``<experiment>/<name>``,
    a name, or its full ref.

    A name (or ``<experiment>/<name>``) that several runs share means the newest of them;
    ``NAME~1`` the one before it, and so on. A note on the ``gittrack`` logger says so and
    how to reach the others.
    """
    spec = spec.strip()
    if spec.startswith(names.RUNS_PREFIX):
        commit = store.commit_of(spec)
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
    starts = table.column("start_time")
    runs = [(str(starts[r] or ""), ref.rpartition("/")[2], ref, c, str(experiments[r]),
             str(run_names[r])) for (ref, c), r in zip(refs.items(), rows)
            if r not in table.damaged]  # runs git cannot read (the index warned about them)
    base, back = spec, 0
    matches = _named(runs, spec)
    older = _OLDER.fullmatch(spec)
    if not matches and older:
        base, back = older.group(1), int(older.group(2))
        matches = _named(runs, base)
    if not matches:
        raise _unknown(spec, runs)
    if back >= len(matches):
        raise RunNotFoundError(f"'{base}' names {len(matches)} run(s), so '{spec}' names none; "
                               f"the oldest is '{base}~{len(matches) - 1}'.")
    chosen = matches[back]
    if len(matches) > 1:
        log.warning("'%s' names %d runs; using %s %s (%s, started %s); reach the others as %s "
                    "or by run id (%s).", base, len(matches),
                    "the newest," if back == 0 else f"the {_ordinal(back)} newest,",
                    chosen[1][:8], chosen[4], chosen[0][:19].replace("T", " "),
                    ", ".join(f"'{base}~{i}'" for i in range(len(matches)) if i != back)
                    if len(matches) <= 4 else f"'{base}~1' .. '{base}~{len(matches) - 1}'",
                    ", ".join(m[1][:8] for i, m in enumerate(matches) if i != back)[:60])
    return chosen[2], chosen[3]


_OLDER = re.compile(r"(.+)~(\d+)")
RunRow = tuple[str, str, str, str, str, str]  # start, id, ref, commit, experiment, name


def _named(runs: list[RunRow], spec: str) -> list[RunRow]:
    """The runs called ``spec`` (a name or ``<experiment>/<name>``), newest first."""
    hits = [r for r in runs if spec in (r[5], f"{r[4]}/{r[5]}")]
    return sorted(hits, key=lambda r: (r[0], r[1]), reverse=True)


def _ordinal(n: int) -> str:
    return {1: "2nd", 2: "3rd"}.get(n, f"{n + 1}th")


def _unknown(spec: str, runs: list[RunRow]) -> RunNotFoundError:
    known = sorted({r[5] for r in runs} | {f"{r[4]}/{r[5]}" for r in runs})
    close = difflib.get_close_matches(spec, known, n=3, cutoff=0.6)
    if not close:
        return not_found(spec)
    listed = " or ".join(f"'{c}'" for c in close)
    return RunNotFoundError(f"No run '{spec}' in this repository; did you mean {listed}? "
                            "(`gittrack log` lists them.)")


def get(store: Store, spec: str) -> Run:
    """The run named by ``spec`` (see :func:`resolve`)."""
    ref, commit = resolve(store, spec)
    try:
        return store.read_run(commit)
    except MissingObjectError as exc:
        text = str(exc)
        raise MissingObjectError(f"Run {ref.rpartition('/')[2]} cannot be read: "
                                 f"{text[:1].lower()}{text[1:]}", exc.oid) from None

