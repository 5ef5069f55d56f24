"""The models page: versions, current stages and history from the one registry resolver.

Writes (promote, roll back) go through :class:`gittrack.registry.Registry`, the same code as
``gittrack promote`` and ``gittrack rollback``. Skipped tags come back as ``warnings``
instead of Python warnings, so the page can show them.
"""

from __future__ import annotations

import warnings
from typing import Any

from gittrack.registry import Model, Registry, RegistryWarning
from gittrack.store import Store
from gittrack.ui.data import jsonable


def models(store: Store) -> dict[str, Any]:
    """Every registered model with its versions, stages and history, and any skipped tags."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RegistryWarning)
        found = Registry(store).models()
    notes = sorted({str(w.message) for w in caught if issubclass(w.category, RegistryWarning)})
    return dict(jsonable({"models": [model_doc(store, m) for m in found.values()],
                          "warnings": notes}))


def model_doc(store: Store, model: Model) -> dict[str, Any]:
    """One model as plain data, versions newest first with each run's metrics."""
    versions = []
    for number in sorted(model.versions, reverse=True):
        v = model.versions[number].to_dict()
        doc = store.read_file(v["commit"], "metrics.yaml") or {}
        v["metrics"] = {k: e.get("value") for k, e in sorted(doc.items()) if isinstance(e, dict)}
        run = store.read_file(v["commit"], "run.yaml") or {}
        v["run_name"] = run.get("name") if isinstance(run, dict) else None
        versions.append(v)
    return {
        "name": model.name, "versions": versions,
        "stages": dict(sorted(model.stages.items())),
        "latest": model.latest.version if model.latest else None,
        "history": [dict(e.__dict__) for e in reversed(model.history)],
    }


def promote(store: Store, name: str, version: int | str, stage: str,
            note: str | None = None) -> dict[str, Any]:
    """Promote ``version`` of ``name`` to ``stage``; the event written."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RegistryWarning)  # the page lists them on reload
        event = Registry(store).promote(name, version, stage, note)
    return dict(jsonable(dict(event.__dict__)))


def rollback(store: Store, name: str, stage: str, to: int | str | None = None,
             note: str | None = None) -> list[dict[str, Any]]:
    """Roll ``stage`` of ``name`` back to the previous active version (or ``to``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RegistryWarning)
        events = Registry(store).rollback(name, stage, to, note)
    return list(jsonable([dict(e.__dict__) for e in events]))
