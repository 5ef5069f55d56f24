"""Artifacts, inputs and models of a run: into the cache, pointers into the run record.

Every ``log_*`` stores content in the dvc-data cache at ``<git common dir>/gittrack/cache``
(gittrack.artifacts) and records a pointer in ``.gittrack/run/artifacts.yaml`` (or an entry
in ``inputs.yaml``). The add and the journal write happen under a shared lock on the cache,
and gc takes it exclusively, so gc never deletes an object that a live run has just added
but not yet recorded (docs/artifacts.md).
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack import datasets
from gittrack.artifacts import Cache, Pointer, validate_artifact_path
from gittrack.errors import ArtifactError, GittrackError, InvalidInputError, ModelError
from gittrack.gitio import Repo
from gittrack.store import Store

if TYPE_CHECKING:
    from gittrack.models import LoadedModel, ModelInfo
    from gittrack.tracking import ActiveRun

YAML_SUFFIXES = (".yaml", ".yml")
TABLE_SUFFIXES = (".json", ".csv", ".parquet")


@dataclass(frozen=True)
class LoggedModel:
    """What log_model recorded: where to load it from and what model.yaml says."""

    model_uri: str
    artifact_path: str
    run_id: str
    pointer: Pointer
    info: ModelInfo


# ---------------------------------------------------------------- cache plumbing


def cache_for(repo: Repo) -> Cache:
    """The artifact cache of a repository (shared by its worktrees)."""
    return Cache(repo.state_dir / "cache")


@contextmanager
def cache_lock(repo: Repo, exclusive: bool = False) -> Iterator[None]:
    """Hold the cache lock: shared while adding and recording, exclusive for gc."""
    repo.state_dir.mkdir(parents=True, exist_ok=True)
    with open(repo.state_dir / "cache.lock", "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield


def ensure_local(store: Store, pointers: Iterable[Pointer]) -> None:
    """Make sure every object the pointers need is in the local cache.

    What is missing is fetched lazily from the configured artifact remote (gittrack.remote);
    what is still missing then is reported.
    """
    cache = cache_for(store.repo)
    absent = [p for p in pointers if not cache.has(p)]
    if absent:
        from gittrack import remote  # lazy: only a missing object needs the artifact remote

        absent = remote.fetch_artifacts(store, absent)
    missing = [p.md5 for p in absent]
    if missing:
        raise ArtifactError(
            f"Artifact {missing[0]}{f' and {len(missing) - 1} more' if len(missing) > 1 else ''} "
            "is not in the local cache; run `gittrack pull --artifacts` to fetch it."
        )


def read_pointers(store: Store, commit: str) -> dict[str, Pointer]:
    """``{logical path: pointer}`` of a run commit's artifacts.yaml (paths not yet checked)."""
    doc = store.read_file(commit, "artifacts.yaml")
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ArtifactError(f"artifacts.yaml of commit {commit[:12]} is not a mapping; the record is damaged.")
    return {str(path): Pointer.from_dict(entry) for path, entry in doc.items()}


def _stored_entries(store: Store, commit: str) -> dict[str, dict[str, Any]]:
    # inputs.yaml entries whose data the run stored in the cache (``store=True``)
    doc = store.read_file(commit, "inputs.yaml")
    if not isinstance(doc, dict):
        return {}
    return {str(name): e for name, e in doc.items() if isinstance(e, dict) and e.get("stored")}


def stored_inputs(store: Store, commit: str) -> dict[str, Pointer]:
    """``{input name: pointer}`` of the inputs a run stored in the cache (``store=True``)."""
    return {name: Pointer.from_dict(e["stored"])
            for name, e in _stored_entries(store, commit).items()}


def stored_input_paths(store: Store, commit: str) -> dict[str, Pointer]:
    """``{path: pointer}`` of the stored inputs read from a file or directory (a DataFrame
    has no path), at their recorded path relative to the work tree."""
    return {e["path"]: Pointer.from_dict(e["stored"])
            for e in _stored_entries(store, commit).values() if isinstance(e.get("path"), str)}


def check_logical_path(path: str) -> str:
    """Normalise an artifact path; refuse one that is empty, absolute, leaves or enters .git."""
    norm = validate_artifact_path(path)
    if norm.split("/")[0].lower() == ".git":
        raise InvalidInputError(f"Artifact path {path!r} points into .git; choose another path.")
    return norm


def _record(run: ActiveRun, event: list[Any]) -> None:
    run.record_now(event)


def _add_artifact(run: ActiveRun, logical: str, add: Callable[[Cache], Pointer]) -> Pointer:
    """Store content with ``add(cache)`` and record its pointer at ``logical``."""
    logical = check_logical_path(logical)
    _check_overlap(run.state.artifacts, logical)
    repo = run.store.repo
    with cache_lock(repo):
        pointer = add(cache_for(repo))
        _record(run, ["a", logical, pointer.to_dict()])
    return pointer


def _check_overlap(existing: Mapping[str, Any], new: str) -> None:
    for path in existing:
        if path.startswith(new + "/") or new.startswith(path + "/"):
            raise InvalidInputError(
                f"Artifact path '{new}' overlaps artifact '{path}' of this run; log it under another path."
            )


def _workspace_relative(repo: Repo, path: Path) -> str:
    """A path inside the work tree as its relative posix path, anything else as its name."""
    real = path.resolve()
    for root in (repo.workdir, Path.cwd()):
        if root is not None and real.is_relative_to(root.resolve()) and real != root.resolve():
            return real.relative_to(root.resolve()).as_posix()
    return path.name


# ---------------------------------------------------------------- files and directories


def log_artifact(run: ActiveRun, path: str | os.PathLike[str],
                 artifact_path: str | None = None) -> Pointer:
    """Store a file (or directory) as an artifact of ``run``.

    Recorded at its path relative to the work tree, or at ``<artifact_path>/<file name>``
    when ``artifact_path`` is given (MLflow's meaning), so ``gittrack checkout`` puts it back there.
    """
    src = Path(path)
    if not src.exists():
        raise InvalidInputError(f"No file or directory at '{src}' to log; check the path.")
    logical = f"{artifact_path.rstrip('/')}/{src.resolve().name}" if artifact_path \
        else _workspace_relative(run.store.repo, src)
    return _add_artifact(run, logical, lambda cache: cache.add(src))


def log_artifacts(run: ActiveRun, local_dir: str | os.PathLike[str],
                  artifact_path: str | None = None) -> Pointer:
    """Store a directory as one artifact, at ``artifact_path`` or its work-tree relative path."""
    src = Path(local_dir)
    if not src.is_dir():
        raise InvalidInputError(f"'{src}' is not a directory; log a single file with log_artifact.")
    logical = artifact_path or _workspace_relative(run.store.repo, src)
    return _add_artifact(run, logical, lambda cache: cache.add(src, kind="dir"))


def log_bytes(run: ActiveRun, data: bytes, artifact_file: str) -> Pointer:
    """Store in-memory content as the file artifact ``artifact_file``."""
    logical = check_logical_path(artifact_file)
    return _add_artifact(run, logical, lambda cache: cache.add_bytes(data, logical))


def log_text(run: ActiveRun, text: str, artifact_file: str) -> Pointer:
    """Store ``text`` (UTF-8) as the file artifact ``artifact_file``."""
    if not isinstance(text, str):
        raise InvalidInputError(f"log_text takes a string; got {type(text).__name__}.")
    return log_bytes(run, text.encode("utf-8"), artifact_file)


def log_dict(run: ActiveRun, dictionary: Mapping[str, Any], artifact_file: str) -> Pointer:
    """Store a mapping as YAML (``.yaml``/``.yml``) or else JSON, by the file's extension."""
    import yaml

    from gittrack.records import plain

    if not isinstance(dictionary, Mapping):
        raise InvalidInputError(f"log_dict takes a mapping; got {type(dictionary).__name__}.")
    data = plain(dictionary)
    if artifact_file.lower().endswith(YAML_SUFFIXES):
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return log_bytes(run, text.encode("utf-8"), artifact_file)


def log_figure(run: ActiveRun, figure: Any, artifact_file: str) -> Pointer:
    """Store a matplotlib figure, in the format its extension names (png, svg, pdf, ...)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ArtifactError("log_figure needs matplotlib; install it with `pip install matplotlib`.") from exc
    if not isinstance(figure, Figure):
        raise InvalidInputError(f"log_figure takes a matplotlib Figure; got {type(figure).__name__}.")
    fmt = Path(artifact_file).suffix.lstrip(".").lower() or "png"
    buf = io.BytesIO()
    try:
        # An Agg canvas renders without a display, whatever backend pyplot uses.
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        canvas = figure.canvas if figure.canvas is not None else FigureCanvasAgg(figure)
        canvas.print_figure(buf, format=fmt)
    except ValueError as exc:
        raise InvalidInputError(f"matplotlib cannot write '{artifact_file}' ({exc}); use .png, .svg or .pdf.") from exc
    return log_bytes(run, buf.getvalue(), artifact_file)


def log_table(run: ActiveRun, data: Any, artifact_file: str) -> Pointer:
    """Store a DataFrame (or a dict of columns) as JSON (``{"columns", "data"}``), CSV or Parquet."""
    import pandas as pd

    frame = pd.DataFrame(data) if isinstance(data, Mapping) else data
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInputError(f"log_table takes a DataFrame or a dict of columns; got {type(data).__name__}.")
    suffix = Path(artifact_file).suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise InvalidInputError(f"log_table writes {', '.join(TABLE_SUFFIXES)}; '{artifact_file}' is none of them.")
    return log_bytes(run, _table_bytes(frame, suffix), artifact_file)


def _table_bytes(frame: Any, suffix: str) -> bytes:
    if suffix == ".json":
        return str(frame.to_json(orient="split", index=False)).encode("utf-8")
    if suffix == ".csv":
        return str(frame.to_csv(index=False)).encode("utf-8")
    buf = io.BytesIO()
    try:
        frame.to_parquet(buf, index=False)
    except (ImportError, ValueError, TypeError) as exc:
        raise InvalidInputError(f"Could not write the table as Parquet ({exc}); use .csv or .json.") from exc
    return buf.getvalue()


# ---------------------------------------------------------------- inputs


def log_input(run: ActiveRun, source: Any, name: str | None = None,
              context: str = "training", store: bool = False) -> dict[str, Any]:
    """Record a dataset the run read: hash, size, rows, columns, schema (inputs.yaml).

    ``source`` is a path (CSV, TSV, Parquet, any file, a directory) or a pandas DataFrame.
    With ``store=True`` the data itself also goes into the cache (a DataFrame as Parquet).
    """
    add: Callable[[Cache], Pointer]
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        rel = _workspace_relative(run.store.repo, path) if path.exists() else str(path)
        entry = datasets.entry(datasets.describe_path(path), rel, context)
        default_name, add = rel, (lambda cache: cache.add(path))
    else:
        entry = datasets.entry(datasets.describe_frame(source), None, context)
        default_name = "dataframe"
        add = (lambda cache: cache.add_bytes(_table_bytes(source, ".parquet"), "data.parquet"))
    key = datasets.check_input_name(name or default_name)
    repo = run.store.repo
    with cache_lock(repo):
        if store:
            entry["stored"] = add(cache_for(repo)).to_dict()
        _record(run, ["i", key, entry])
    return entry


# ---------------------------------------------------------------- models


def log_model(run: ActiveRun, model: object, name: str, input_example: object = None,
              signature: Mapping[str, Any] | None = None,
              pip_requirements: Sequence[str] | None = None) -> LoggedModel:
    """Save ``model`` with gittrack.models and store the directory as artifact ``name`` (kind model)."""
    from gittrack.models import save_model

    logical = check_logical_path(name)
    tmp_root = run.store.repo.state_dir / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="model-", dir=tmp_root) as tmp:
        info = save_model(model, Path(tmp, "model"), input_example=input_example,
                          signature=signature, pip_requirements=pip_requirements)
        pointer = _add_artifact(run, logical, lambda cache: cache.add(Path(tmp, "model"), kind="model"))
    return LoggedModel(f"runs:/{run.id}/{logical}", logical, run.id, pointer, info)


def load_model(store: Store, uri: str) -> LoadedModel:
    """Load a model from ``runs:/<run>/<path>``, ``<experiment>/<run name>/<path>``,
    ``models:/<name>/<stage or version>`` or a local model directory.

    A model from the cache is verified object by object, copied to a directory beside the
    cache, and loaded there; its model file is unpickled only after model.yaml's hash matches.
    """
    from gittrack import models

    if not isinstance(uri, str) or not uri:
        raise InvalidInputError(f"load_model takes a model URI or directory; got {uri!r}.")
    if not uri.startswith(("runs:/", "models:/")) and Path(uri).is_dir():
        return models.load_model(uri)
    commit, path = resolve_model_location(store, uri)
    return models.load_model(materialize_model(store, commit, path))


def resolve_model_location(store: Store, uri: str) -> tuple[str, str]:
    """``(run commit, artifact path)`` that a model URI names."""
    from gittrack import query

    if uri.startswith("models:/"):
        return _registry_location(uri)
    if uri.startswith("runs:/"):
        run, _, path = uri[len("runs:/"):].partition("/")
        if not run or not path:
            raise InvalidInputError(f"Model URI {uri!r} needs the form runs:/<run id>/<artifact path>.")
        return query.resolve(store, run)[1], path.strip("/")
    return _split_run_path(store, uri)


def _registry_location(uri: str) -> tuple[str, str]:
    from gittrack import api

    resolver = getattr(api, "resolve_model_uri", None)
    if resolver is None:
        raise ModelError(f"Model URI {uri!r} needs the model registry, which this gittrack lacks; use runs:/.")
    commit, path, _version = resolver(uri)
    return str(commit), str(path)


def _split_run_path(store: Store, text: str) -> tuple[str, str]:
    """Split ``<run spec>/<artifact path>`` at the first '/' (from the right) that names both."""
    from gittrack import query

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


def materialize_model(store: Store, commit: str, path: str) -> Path:
    """Verify a model artifact in the cache and copy it to ``<state dir>/models/<md5>``."""
    pointers = read_pointers(store, commit)
    if path not in pointers:
        have = ", ".join(sorted(pointers)) or "none"
        run_id = (store.read_file(commit, "run.yaml") or {}).get("id", commit[:12])
        raise ModelError(f"Run {run_id} has no artifact '{path}' (it has: {have}).")
    pointer = pointers[path]
    if not pointer.isdir:
        raise ModelError(f"Artifact '{path}' is a single file, not a model directory; log it with log_model.")
    ensure_local(store, [pointer])
    cache = cache_for(store.repo)
    cache.verify(pointer)  # every object re-hashed: a corrupt one is reported, never served
    dest = store.repo.state_dir / "models" / pointer.md5.removesuffix(".dir")
    cache.checkout(pointer, dest, force=True)
    return dest
