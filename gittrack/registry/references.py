"""Run references that may also name the registry: one resolver for every command that takes a run.

A run is named by id, id prefix, ``<experiment>/<name>``, a unique name or its ref
(:func:`gittrack.query.resolve`). Everywhere a run is named, the registry may name it too:

- ``models:/forecaster/prod``, ``models:/forecaster/3``, ``models:/forecaster@prod``;
- ``forecaster/prod``, ``forecaster/v3``, ``forecaster/latest``, ``forecaster@prod``;
- a registry tag such as ``forecaster/prod/v3``, or any tag on a run commit.

A run reference is tried first, so an experiment ``forecaster`` with a run named ``prod`` keeps
its meaning; a ``models:/`` URI always means the registry. This module sits in the registry
layer because it needs both the run query below it and the registry resolver beside it; the CLI,
the Python API and the sharing layer call it, so every command reads a name the same way.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from gittrack import query
from gittrack.core import names
from gittrack.core.errors import GittrackError, RunNotFoundError
from gittrack.core.records import Run
from gittrack.core.store import Store
from gittrack.registry import tags
from gittrack.registry.resolver import ModelVersion, Registry, RegistryWarning, parse_model_ref


@dataclass(frozen=True)
class Target:
    """What a reference names: the run commit, its run ref when a run was named, and the
    registry version when the registry was named."""

    spec: str
    commit: str
    ref: str | None = None
    version: ModelVersion | None = None

    @property
    def label(self) -> str:
        """How to show the reference: ``forecaster/prod (v3)`` or the spec itself."""
        if self.version is None:
            return self.spec
        try:
            selector = parse_model_ref(self.spec)[1]
        except GittrackError:  # a tag name such as forecaster/prod/v3
            selector = "v"
        if selector.startswith("v"):
            return f"{self.version.model} v{self.version.version}"
        return f"{self.version.model}/{selector} (v{self.version.version})"


def resolve(store: Store, spec: str) -> Target:
    """The run commit that ``spec`` names: a run reference, a ``models:/`` URI, a model
    reference (``NAME/STAGE``, ``NAME/vN``, ``NAME@STAGE``, ``NAME/latest``) or a tag."""
    spec = spec.strip()
    if spec.startswith("models:/"):
        version = Registry(store).resolve(spec)
        return Target(spec, version.commit, None, version)
    try:
        ref, commit = query.resolve(store, spec)
        return Target(spec, commit, ref)
    except RunNotFoundError as exc:
        as_run = exc
    found = _tag_target(store, spec) or _model_target(store, spec)
    if found is None and "did you mean" in str(as_run):
        raise as_run  # a run name close to it: the suggestion helps more than the kinds
    if found is None:
        raise RunNotFoundError(
            f"No run, registry tag or model version '{spec}' in this repository; list runs "
            "with `gittrack log` and models with `gittrack models`."
        )
    return found


def get(store: Store, spec: str) -> Run:
    """The run record that ``spec`` names (see :func:`resolve`)."""
    return store.read_run(resolve(store, spec).commit)


def _tag_target(store: Store, spec: str) -> Target | None:
    """A tag on a run commit: a registry tag (with its version) or any other tag."""
    oid = store.repo.resolve_ref(f"refs/tags/{spec}") if spec else None
    tag = store.repo.read_tag(spec, oid) if oid else None
    if tag is None or tag.target_type != "commit" \
            or store.repo.read_blob(tag.target, f"{names.RECORD_DIR}/run.yaml") is None:
        return None
    parsed = tags.parse_tag(spec)
    version = None
    if parsed is not None:
        with warnings.catch_warnings():  # a hand-made tag is fine to check out: no warning
            warnings.simplefilter("ignore", RegistryWarning)
            try:
                version = Registry(store).version(parsed.model, parsed.version)
            except GittrackError:
                version = None
        if version is not None and version.commit != tag.target:
            version = None
    return Target(spec, tag.target, None, version)


def _model_target(store: Store, spec: str) -> Target | None:
    """``NAME/STAGE`` and friends, when NAME is a registered model; its error when the model
    exists but the stage or version does not."""
    if "/" not in spec and "@" not in spec:
        return None
    try:
        model, _selector = parse_model_ref(spec)
    except GittrackError:
        return None
    registry = Registry(store)
    with warnings.catch_warnings():  # foreign tags are `gittrack models`' to report, not a run's
        warnings.simplefilter("ignore", RegistryWarning)
        if not registry.model(model, must_exist=False).versions:
            return None
        version = registry.resolve(spec)  # a missing stage or version says so, with the fix
    return Target(spec, version.commit, None, version)
