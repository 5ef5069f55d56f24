"""One comparison of runs across every dimension: params, metrics, tags, data inputs,
environment, packages, artifacts and code. The JSON schema is documented in docs/diff.md.

Each section is a list of entries ``{"key", "values": [one per run], "change"}``; with
exactly two runs an entry also has ``"a"`` and ``"b"``, metrics a ``"delta"`` (b - a), and
inputs and artifacts the ``"fields"`` that differ. ``change`` is ``same``, ``changed``,
``added`` (absent from the first run) or ``removed`` (absent from a later run). The code
section compares the run trees without the record (``.gittrack/run``) using git itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gittrack.core import names
from gittrack.core.errors import InvalidInputError
from gittrack.core.records import Run, flatten, same_value
from gittrack.core.store import Store

SECTIONS = ("params", "metrics", "tags", "inputs", "environment", "packages", "artifacts",
            "code")
ENVIRONMENT_KEYS = ("python", "platform")
ARTIFACT_FIELDS = ("md5", "kind", "size", "nfiles")
ZERO = "0" * 40
EXCLUDE_RECORD = f":(top,exclude){names.RECORD_DIR}"


def compare(store: Store, runs: Sequence[Run], all_keys: bool = False,
            patch: bool = False) -> dict[str, Any]:
    """The diff document of ``runs`` (two or more); unchanged entries only with ``all_keys``."""
    if len(runs) < 2:
        raise InvalidInputError("A diff needs two or more runs; name another run or set a "
                                "baseline with `gittrack baseline set RUN`.")
    doc: dict[str, Any] = {"runs": [_run_doc(r) for r in runs]}
    sections: dict[str, list[dict[str, Any]]] = {
        "params": _entries([flatten(r.params) for r in runs]),
        "metrics": _entries([{k: m.value for k, m in r.metrics.items()} for r in runs]),
        "tags": _entries([r.tags for r in runs]),
        "inputs": _entries([r.inputs for r in runs], _record_equal),
        "environment": _entries([{k: r.info.get(k) for k in ENVIRONMENT_KEYS
                                  if r.info.get(k) is not None} for r in runs]),
        "packages": _entries([r.info.get("packages") or {} for r in runs]),
        "artifacts": _entries([r.artifacts for r in runs], _artifact_equal),
        "code": code_entries(store, [r.commit for r in runs]),
    }
    for name, entries in sections.items():
        if not all_keys:
            entries = [e for e in entries if e["change"] != "same"]
        if len(runs) == 2:
            for e in entries:
                _pairwise(name, e)
        doc[name] = entries
    if patch:
        doc["patch"] = code_patch(store, runs[0].commit, runs[-1].commit)
    return doc


def _run_doc(run: Run) -> dict[str, Any]:
    return {"id": run.id, "name": run.name, "experiment": run.experiment,
            "status": run.status, "commit": run.commit, "start_time": run.start_time}


_MISSING = object()


def _entries(maps: Sequence[Mapping[str, Any]],
             equal: Callable[[Any, Any], bool] | None = None) -> list[dict[str, Any]]:
    equal = equal or _value_equal
    keys = sorted({k for m in maps for k in m})
    out = []
    for key in keys:
        raw = [m.get(key, _MISSING) for m in maps]
        values = [None if v is _MISSING else v for v in raw]
        if raw[0] is _MISSING:
            change = "added"
        elif any(v is _MISSING for v in raw[1:]):
            change = "removed"
        elif all(equal(raw[0], v) for v in raw[1:]):
            change = "same"
        else:
            change = "changed"
        out.append({"key": key, "values": values, "change": change,
                    "present": [v is not _MISSING for v in raw]})
    return out


def _value_equal(a: Any, b: Any) -> bool:
    if isinstance(a, Mapping) or isinstance(b, Mapping) or isinstance(a, list):
        return bool(a == b)
    return same_value(a, b)


def _record_equal(a: Any, b: Any) -> bool:
    return bool(a == b)


def _artifact_equal(a: Any, b: Any) -> bool:
    # An artifact is its content: md5 (and kind) decide, as DESIGN section 4 addresses them.
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return bool(a.get("md5") == b.get("md5") and a.get("kind") == b.get("kind"))
    return bool(a == b)


def _pairwise(section: str, entry: dict[str, Any]) -> None:
    a, b = entry["values"]
    entry["a"], entry["b"] = a, b
    if section == "metrics":
        entry["delta"] = b - a if _number(a) and _number(b) else None
    if section in ("inputs", "artifacts"):
        fields = sorted(set(a or {}) | set(b or {}))
        entry["fields"] = [f for f in fields
                           if not _value_equal((a or {}).get(f), (b or {}).get(f))]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


# -- code -----------------------------------------------------------------------------
def code_entries(store: Store, commits: Sequence[str]) -> list[dict[str, Any]]:
    """One entry a path whose blob differs between the run trees (record excluded)."""
    first: dict[str, str | None] = {}
    later: list[dict[str, str | None]] = []
    for other in commits[1:]:
        pairs = _raw_diff(store, commits[0], other)
        later.append({path: new for path, (_old, new) in pairs.items()})
        for path, (old, _new) in pairs.items():
            first[path] = old
    out = []
    for path in sorted(first):
        values = [first[path]] + [m.get(path, first[path]) for m in later]
        if values[0] is None:
            change = "added"
        elif any(v is None for v in values[1:]):
            change = "removed"
        else:
            change = "changed"
        out.append({"key": path, "values": values, "change": change})
    return out


def _raw_diff(store: Store, a: str, b: str) -> dict[str, tuple[str | None, str | None]]:
    """``{path: (blob in a, blob in b)}`` of the files that differ, from `git diff --raw`."""
    proc = store.repo.run_git("diff", "--raw", "-z", "--no-renames", "--no-abbrev",
                              "--no-ext-diff", "--no-textconv", a, b, "--", EXCLUDE_RECORD)
    fields = proc.stdout.split("\0")
    out: dict[str, tuple[str | None, str | None]] = {}
    for meta, path in zip(fields[0::2], fields[1::2]):
        parts = meta.split()
        if len(parts) < 5:
            continue
        old, new = parts[2], parts[3]
        out[path] = (None if old == ZERO else old, None if new == ZERO else new)
    return out


def code_patch(store: Store, a: str, b: str) -> str:
    """git's own patch between two run trees, without the run record."""
    proc = store.repo.run_git("diff", "--no-color", "--no-ext-diff", a, b, "--",
                              EXCLUDE_RECORD)
    return proc.stdout
