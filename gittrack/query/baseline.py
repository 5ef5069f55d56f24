"""Baselines: the run an experiment's other runs are compared with, kept as a git ref.

``refs/gittrack/baselines/<encoded experiment>`` points at the run commit that was marked,
so a push of ``refs/gittrack/*`` shares it and a fetch brings it, with the commit it names
(docs/format-compare.md). The ref names the exact record that was marked: a run resumed later
moves its run ref, not the baseline.
"""

from __future__ import annotations

from gittrack import query
from gittrack.core import names
from gittrack.core.errors import GittrackError
from gittrack.core.store import Store

BASELINES_PREFIX = "refs/gittrack/baselines/"


class NoBaselineError(GittrackError):
    """An experiment has no baseline run."""


def ref_name(experiment: str) -> str:
    """The ref holding ``experiment``'s baseline."""
    return BASELINES_PREFIX + names.encode_component(experiment)


def set_baseline(store: Store, spec: str) -> tuple[str, str]:
    """Mark the run named by ``spec`` as its experiment's baseline; ``(experiment, commit)``."""
    _ref, commit = query.resolve(store, spec)
    return set_baseline_commit(store, commit)


def set_baseline_commit(store: Store, commit: str) -> tuple[str, str]:
    """Mark the run commit ``commit`` as its experiment's baseline; ``(experiment, commit)``."""
    experiment = store.read_run(commit).experiment
    store.repo.set_ref(ref_name(experiment), commit)
    return experiment, commit


def get_baseline(store: Store, experiment: str) -> str | None:
    """The baseline commit of ``experiment``, or None."""
    return store.repo.resolve_ref(ref_name(experiment))


def require_baseline(store: Store, experiment: str) -> str:
    commit = get_baseline(store, experiment)
    if commit is None:
        raise NoBaselineError(
            f"Experiment '{experiment}' has no baseline; mark one with "
            "`gittrack baseline set RUN`."
        )
    return commit


def baselines(store: Store) -> dict[str, str]:
    """``{experiment: commit}`` of every baseline."""
    if not _may_have_baselines(store):
        return {}
    out = {}
    for ref, commit in store.repo.list_refs(BASELINES_PREFIX).items():
        out[names.decode_component(ref[len(BASELINES_PREFIX):])] = commit
    return dict(sorted(out.items()))


def _may_have_baselines(store: Store) -> bool:
    # Parsing a packed-refs file of 100,000 runs line by line costs ~0.4 s; a byte search
    # for the prefix costs milliseconds, and `gittrack log` asks on every call.
    root = store.repo.common_dir
    if (root / BASELINES_PREFIX).is_dir():
        return True
    try:
        return BASELINES_PREFIX.encode() in (root / "packed-refs").read_bytes()
    except FileNotFoundError:
        return False


def clear_baseline(store: Store, experiment: str) -> bool:
    """Remove ``experiment``'s baseline; False when it had none."""
    if get_baseline(store, experiment) is None:
        return False
    store.repo.delete_ref(ref_name(experiment))
    return True
