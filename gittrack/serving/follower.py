"""What the server serves: a model loaded from a URI and, for a stage, kept on the stage.

A URI naming a stage (``models:/NAME/prod``, ``models:/NAME@prod``) or ``latest`` is followed:
:meth:`Follower.poll` reads the refs under ``refs/tags/NAME/`` straight from their files (about
a millisecond) and only when they changed asks the registry's one resolver which version is
current. A new version is loaded beside the one being served (through
:func:`gittrack.registry.uris.load_model`, so it is verified and trusted as every load is),
checked by predicting its input example, and only then swapped in by one reference
assignment: requests that already hold the old :class:`Served` finish on it. A version that
fails is not swapped in, is reported (log, ``/version``, ``/metrics``) and is not retried until
the model's tags change again or the server gets SIGHUP. The previous version stays loaded, so a
rollback swaps back without loading anything.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gittrack.artifacts.models import LoadedModel
from gittrack.artifacts.models import load_model as load_directory
from gittrack.artifacts.models.loaded import as_output, prepare_input
from gittrack.core.errors import GittrackError, ModelError, NotARepositoryError
from gittrack.core.store import Store, repo_from_env
from gittrack.registry import uris
from gittrack.registry.resolver import ModelVersion, Registry, parse_model_ref
from gittrack.serving.schema import InputSchema

log = logging.getLogger("gittrack.serving")
KEEP_LOADED = 2  # the version served and the one before it (a rollback needs no load)
_BARE_ALIAS = re.compile(r"[^/@:]+@[^/@]+")


def now() -> str:
    """The current UTC time, ISO 8601 with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Served:
    """One loaded model version and what the server needs to answer with it."""

    model: LoadedModel
    schema: InputSchema
    uri: str  # the URI it was loaded from (pinned to a version when following a stage)
    version: int | None  # the registry version, None for runs:/ URIs and directories
    commit: str | None
    artifact: str | None
    run: str | None
    loaded_at: str = field(default_factory=now)

    @property
    def accepts_params(self) -> bool:
        """The model's own predict takes ``params`` (python_function models may)."""
        method = getattr(self.model.raw, "predict", None)
        try:
            return callable(method) and "params" in inspect.signature(method).parameters
        except (TypeError, ValueError):
            return False

    def predict(self, kind: str, data: Any, params: dict[str, Any] | None = None) -> Any:
        """The model's predictions for a batch (``kind`` as in :class:`payload.Parsed`)."""
        if kind == "rows":
            import pandas as pd

            data = pd.DataFrame(data, columns=list(self.schema.columns or ()), copy=False)
        if params and self.accepts_params:
            prepared = prepare_input(data, self.model.signature)
            return as_output(self.model.raw.predict(prepared, params=params))
        return self.model.predict(data)

    def describe(self) -> dict[str, Any]:
        """Plain data for ``/version``."""
        return {"version": self.version, "loaded_from": self.uri, "run": self.run,
                "commit": self.commit, "artifact": self.artifact, "flavor": self.model.flavor,
                "loaded_at": self.loaded_at}


def check(served: Served) -> None:
    """Predict the model's input example; a model that cannot is not served."""
    example = served.model.input_example()
    if example is None:
        return
    try:
        data = served.schema.conform(example) if hasattr(example, "columns") else example
        result = served.predict("frame" if hasattr(data, "columns") else "array", data)
    except Exception as exc:  # whatever the model raises refuses it
        raise ModelError(f"The model fails on its own input example ({type(exc).__name__}: "
                         f"{exc}); fix or re-log it.") from exc
    if getattr(result, "ndim", 1) and len(result) != len(example):
        raise ModelError(f"The model answers {len(result)} predictions for the {len(example)} "
                         "rows of its input example; serve a model that predicts row by row.")


class Follower:
    """Loads the model a URI names and, when the URI names a stage, follows the stage.

    Every method except :attr:`current` runs on one loader thread (libgit2 objects are not
    shared between threads); :attr:`current` is read by request handlers on any thread.
    """

    def __init__(self, uri: str, repo: str | None = None) -> None:
        self.uri = normalize_uri(uri)
        self.repo_path = repo
        self.follows = following(self.uri)
        self.current: Served | None = None
        self.last_error: dict[str, Any] | None = None
        self.swaps = 0
        self.failures = 0
        self._store: Store | None = None
        self._registry: Registry | None = None
        self._refs: dict[str, str] | None = None
        self._failed: dict[tuple[str, str], str] = {}
        self._loaded: OrderedDict[tuple[str, str], Served] = OrderedDict()

    # -- loading ------------------------------------------------------------------------
    def start(self) -> Served:
        """Load what the URI names now; GittrackError when it cannot be served."""
        if self.follows is not None:
            self._refs = self._tag_refs()
            served = self._load_version(self.registry.resolve(self.uri))
        elif not self.uri.startswith(("runs:/", "models:/")) and Path(self.uri).is_dir():
            served = self._served(self._load_directory(), self.uri, None)
        else:
            served = self._load_uri(self.uri)
        check(served)
        self._swap(served)
        return served

    @property
    def store(self) -> Store:
        """The repository's store, opened on first use."""
        if self._store is None:
            self._store = Store(repo_from_env(self.repo_path))
        return self._store

    @property
    def registry(self) -> Registry:
        """The registry of the repository (its tag cache lives as long as the server)."""
        if self._registry is None:
            self._registry = Registry(self.store)
        return self._registry

    def _load_directory(self) -> LoadedModel:
        try:
            return uris.load_model(self.store, self.uri)
        except NotARepositoryError:  # a model directory outside any repository
            return load_directory(self.uri)

    def _load_uri(self, uri: str) -> Served:
        commit, path = uris.resolve_model_location(self.store, uri)
        version = self.registry.resolve(uri) if uri.startswith("models:/") else None
        return self._served(uris.load_model(self.store, uri), uri, version, commit, path)

    def _load_version(self, version: ModelVersion) -> Served:
        key = (version.commit, version.artifact)
        pinned = f"models:/{version.model}/v{version.version}"
        if key in self._loaded:  # loaded before (the number may differ after a renumbering)
            return replace(self._loaded[key], version=version.version, uri=pinned)
        return self._served(uris.load_model(self.store, pinned), pinned, version,
                            version.commit, version.artifact)

    def _served(self, model: LoadedModel, uri: str, version: ModelVersion | None,
                commit: str | None = None, artifact: str | None = None) -> Served:
        run = version.run if version is not None else _run_of(self.store, commit) if commit else None
        return Served(model, InputSchema.of(model.signature), uri,
                      version.version if version is not None else None, commit, artifact, run)

    def _swap(self, served: Served) -> None:
        old = self.current
        self.current = served  # one reference assignment: requests hold the Served they got
        if served.commit is not None and served.artifact is not None:
            self._loaded[served.commit, served.artifact] = served
            self._loaded.move_to_end((served.commit, served.artifact))
            while len(self._loaded) > KEEP_LOADED:
                self._loaded.popitem(last=False)
        if old is not None and old is not served:
            self.swaps += 1
            log.info("gittrack serve: now serving %s (v%s, was v%s)", self.uri, served.version,
                     old.version)

    # -- following ----------------------------------------------------------------------
    def poll(self, force: bool = False) -> bool:
        """Re-resolve the stage when its tags changed (always when ``force``); True on a swap."""
        if self.follows is None:
            return False
        refs = self._tag_refs()
        if refs == self._refs and not force:
            return False
        self._refs = refs
        self._failed.clear()  # new tags or SIGHUP: refused versions get another try
        try:
            version = self.registry.resolve(self.uri)
        except GittrackError as exc:
            self._report(None, f"{self.uri} no longer resolves: {exc}")
            return False
        key = (version.commit, version.artifact)
        current = self.current
        if current is not None and (current.commit, current.artifact) == key:
            return False
        if key in self._failed:
            return False
        try:
            served = self._load_version(version)
            check(served)
        except GittrackError as exc:
            self._failed[key] = str(exc)
            self._report(version.version, f"{version.model} v{version.version} was not swapped "
                                          f"in: {exc}")
            return False
        except Exception as exc:  # noqa: BLE001 - a model that cannot load must not stop serving
            self._failed[key] = str(exc)
            self._report(version.version, f"{version.model} v{version.version} was not swapped "
                                          f"in: {type(exc).__name__}: {exc}")
            return False
        self._swap(served)
        return True

    def _tag_refs(self) -> dict[str, str]:
        # The cheap check: the tag refs of the model, read from their files (no object reads).
        assert self.follows is not None
        return self.store.repo.list_refs(f"refs/tags/{self.follows[0]}/")

    def _report(self, version: int | None, message: str) -> None:
        self.failures += 1
        self.last_error = {"version": version, "message": message, "time": now()}
        log.error("gittrack serve: %s", message)

    def describe(self) -> dict[str, Any]:
        """Plain data for ``/version``."""
        model, selector = self.follows or (None, None)
        current = self.current
        return {"model_uri": self.uri, "model": model, "follows": selector,
                **(current.describe() if current is not None else {"version": None}),
                "swaps": self.swaps, "last_error": self.last_error}


def normalize_uri(uri: str) -> str:
    """``NAME@STAGE`` (no such directory) as ``models:/NAME@STAGE``; anything else as given."""
    if _BARE_ALIAS.fullmatch(uri) and not Path(uri).exists():
        return "models:/" + uri
    return uri


def following(uri: str) -> tuple[str, str] | None:
    """``(model, stage or 'latest')`` when the URI names something that moves, else None."""
    if not uri.startswith("models:/"):
        return None
    model, selector = parse_model_ref(uri)
    return None if re.fullmatch(r"v[0-9]+", selector) else (model, selector)


def _run_of(store: Store, commit: str) -> str | None:
    info = store.read_file(commit, "run.yaml")
    return str(info["id"]) if isinstance(info, dict) and "id" in info else None
