"""The models page: versions, current stages and history from the one registry resolver.

Writes (promote, roll back) go through :class:`gittrack.registry.resolver.Registry`, the same code as
``gittrack promote`` and ``gittrack rollback``. Skipped tags come back as ``warnings``
instead of Python warnings, so the page can show them.
"""

from __future__ import annotations

import warnings
from typing import Any

from gittrack.core.store import Store
from gittrack.query.series import jsonable
from gittrack.registry.resolver import Model, Registry, RegistryWarning
from gittrack.registry.signatures import Signatures


def models(store: Store) -> dict[str, Any]:
    """Every registered model with its versions, stages and history, and any skipped tags."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RegistryWarning)
        registry = Registry(store)
        found = registry.models()
    notes = sorted({str(w.message) for w in caught if issubclass(w.category, RegistryWarning)})
    signatures = Signatures(registry.repo)
    return dict(jsonable({"models": [model_doc(registry, m, signatures) for m in found.values()],
                          "warnings": notes}))


def model_doc(registry: Registry, model: Model,
              signatures: Signatures | None = None) -> dict[str, Any]:
    """One model as plain data, versions newest first with each run's metrics, and who
    signed each event of its history."""
    facts = registry.facts(v.commit for v in model.versions.values())
    versions = []
    for number in sorted(model.versions, reverse=True):
        v = model.versions[number].to_dict()
        f = facts[v["commit"]]
        v["metrics"] = dict(sorted(f.metrics.items()))
        v["run_name"] = f.name
        versions.append(v)
    checks = (signatures or Signatures(registry.repo)).check((e.tag, e.actor) for e in model.history)
    history = []
    for e in reversed(model.history):
        found = checks.get(e.tag)
        history.append({**e.__dict__, "verified": bool(found and found.verified),
                        "signature": found.status if found else "unsigned",
                        "signer": found.signer if found else None,
                        "signature_detail": found.detail if found else "not signed"})
    return {
        "name": model.name, "versions": versions,
        "stages": dict(sorted(model.stages.items())),
        "latest": model.latest.version if model.latest else None,
        "history": history,
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
