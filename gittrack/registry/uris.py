"""Model URIs: what ``load_model`` and ``gittrack serve`` accept, resolved to a run and a path.

``runs:/<run>/<path>``, ``models:/<name>/<stage or version>`` (through the one resolver,
:class:`gittrack.registry.resolver.Registry`), ``<experiment>/<run name>/<path>`` or a local
model directory. The registry layer holds this because a ``models:/`` URI needs the registry and
every other form needs the run query below it; loading itself is gittrack.artifacts.models.
"""

from __future__ import annotations

from pathlib import Path

from gittrack import query
from gittrack.artifacts import models
from gittrack.artifacts.local import read_pointers
from gittrack.artifacts.models import LoadedModel
from gittrack.artifacts.run_artifacts import materialize_model
from gittrack.core.errors import GittrackError, InvalidInputError, ModelError
from gittrack.core.store import Store
from gittrack.registry.resolver import Registry, parse_model_ref
from gittrack.registry.trust import require_trusted, trust_all


def load_model(store: Store, uri: str, trust: bool = False) -> LoadedModel:
    """Load a model from ``runs:/<run>/<path>``, ``<experiment>/<run name>/<path>``,
    ``models:/<name>/<stage or version>`` or a local model directory.

    A model from the cache is verified object by object, copied to a directory beside the
    cache, and loaded there; its model file is unpickled only after model.yaml's hash matches,
    and only when its author is trusted (gittrack.registry.trust), ``trust`` is True or
    ``GITTRACK_TRUST_ALL=1``. A local directory is the caller's own and loads as it is.
    """
    if not isinstance(uri, str) or not uri:
        raise InvalidInputError(f"load_model takes a model URI or directory; got {uri!r}.")
    if not uri.startswith(("runs:/", "models:/")) and Path(uri).is_dir():
        return models.load_model(uri)
    commit, path, event = _source(store, uri)
    directory = materialize_model(store, commit, path)
    if models.uses_pickle(models.read_model_yaml(directory)) and not (trust or trust_all()):
        require_trusted(store, uri, commit, event)
    return models.load_model(directory, allow_pickle=True)


def _source(store: Store, uri: str) -> tuple[str, str, tuple[str, str] | None]:
    """``(run commit, artifact path, (tag, actor) of the registry event or None)``."""
    if not uri.startswith("models:/"):
        return (*resolve_model_location(store, uri), None)
    registry = Registry(store)
    version = registry.resolve(uri)
    _name, selector = parse_model_ref(uri)
    promotion = registry.model(version.model).current.get(selector)
    event = (promotion.tag, promotion.actor) if promotion is not None \
        else (version.tag, version.actor)
    return version.commit, version.artifact, event


def resolve_model_location(store: Store, uri: str) -> tuple[str, str]:
    """``(run commit, artifact path)`` that a model URI names."""
    if uri.startswith("models:/"):
        return _registry_location(store, uri)
    if uri.startswith("runs:/"):
        run, _, path = uri[len("runs:/"):].partition("/")
        if not run or not path:
            raise InvalidInputError(f"Model URI {uri!r} needs the form runs:/<run id>/<artifact path>.")
        return query.resolve(store, run)[1], path.strip("/")
    return _split_run_path(store, uri)


def _registry_location(store: Store, uri: str) -> tuple[str, str]:
    commit, path, _version = Registry(store).resolve_uri(uri)
    return str(commit), str(path)


def _split_run_path(store: Store, text: str) -> tuple[str, str]:
    """Split ``<run spec>/<artifact path>`` at the first '/' (from the right) that names both."""
    cut = text.rfind("/")
    while cut > 0:
        try:
            _ref, commit = query.resolve(store, text[:cut])
        except GittrackError:
            cut = text.rfind("/", 0, cut)
            continue
        path = text[cut + 1:].strip("/")
        if path in read_pointers(store, commit):
            return commit, path
        cut = text.rfind("/", 0, cut)
    raise ModelError(
        f"'{text}' is neither a model directory nor <experiment>/<run name>/<artifact path> of a "
        "recorded run; list artifacts with `gittrack artifacts RUN`."
    )
