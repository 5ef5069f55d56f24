"""Artifacts, inputs and models of a run: into the cache, pointers into the run record.

Every ``log_*`` stores content in the dvc-data cache at ``<git common dir>/gittrack/cache``
(gittrack.artifacts.cache) and records a pointer in ``.gittrack/run/artifacts.yaml`` (or an entry
in ``inputs.yaml``). The add and the journal write happen under a shared lock on the cache,
and gc takes it exclusively, so gc never deletes an object that a live run has just added
but not yet recorded (docs/artifacts.md).
"""

from __future__ import annotations

import functools
import importlib.util
import io
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gittrack.artifacts import datasets, transfer
from gittrack.artifacts.cache import Cache, Pointer, checked_files, validate_artifact_path
from gittrack.artifacts.local import (  # noqa: F401 - part of this module's API for callers
    cache_for,
    cache_lock,
    read_pointers,
    stored_input_paths,
    stored_inputs,
)
from gittrack.core.errors import (
    ArtifactError,
    InvalidInputError,
    ModelError,
)
from gittrack.core.gitio import Repo
from gittrack.core.names import RECORD_DIR
from gittrack.core.records import plain
from gittrack.core.store import Store
from gittrack.tracking.state import EXTRA_DIR, check_extra_path

if TYPE_CHECKING:
    from gittrack.artifacts.models import ModelInfo
    from gittrack.artifacts.profiles import Profile
    from gittrack.tracking.active import ActiveRun

log = logging.getLogger("gittrack")
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


def ensure_local(store: Store, pointers: Iterable[Pointer]) -> None:
    """Make sure every object the pointers need is in the local cache.

    What is missing is fetched lazily from the configured artifact remote (gittrack.artifacts.transfer);
    what is still missing then is reported.
    """
    cache = cache_for(store.repo)
    absent = [p for p in pointers if not cache.has(p)]
    if absent:
        absent = transfer.fetch_artifacts(store, absent)
    missing = [p.md5 for p in absent]
    if missing:
        raise ArtifactError(
            f"Artifact {missing[0]}{f' and {len(missing) - 1} more' if len(missing) > 1 else ''} "
            "is not in the local cache; run `gittrack pull --artifacts` to fetch it."
        )


def check_logical_path(path: str) -> str:
    """Normalise an artifact path; refuse one that is empty, absolute, leaves or enters .git
    (git's tree-path rules, gittrack.core.paths)."""
    return validate_artifact_path(path)


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
    real = os.path.realpath(path)
    for root in (repo.workdir, os.getcwd()):
        if root is None:
            continue
        top = _real_dir(os.fspath(root))
        if real.startswith(top.rstrip(os.sep) + os.sep):
            return Path(real[len(top.rstrip(os.sep)) + 1:]).as_posix()
    return path.name


@functools.lru_cache(maxsize=16)
def _real_dir(path: str) -> str:
    # the work tree and the current directory, resolved once: every logged file asks
    return os.path.realpath(path)


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
    run.logged_paths.append(src.absolute())
    return _add_artifact(run, logical, lambda cache: cache.add(src))


def log_file_at(run: ActiveRun, path: str | os.PathLike[str], logical: str) -> Pointer:
    """Store one file as the artifact at exactly ``logical`` (MLflow's layout)."""
    src = Path(path)
    if not src.is_file():
        raise InvalidInputError(f"No file at '{src}' to log; check the path.")
    run.logged_paths.append(src.absolute())
    return _add_artifact(run, logical, lambda cache: cache.add(src))


def log_files_under(run: ActiveRun, local_dir: str | os.PathLike[str], prefix: str) -> None:
    """Store every file under ``local_dir`` as its own artifact at ``<prefix>/<relative path>``
    (MLflow's ``log_artifacts``); a link out of the directory or a path git refuses stops it
    before anything is stored."""
    src = Path(local_dir)
    if not src.is_dir():
        raise InvalidInputError(f"'{src}' is not a directory; log a single file with log_artifact.")
    for rel in checked_files(src):
        log_file_at(run, src / rel, f"{prefix}/{rel}".lstrip("/"))


def log_artifacts(run: ActiveRun, local_dir: str | os.PathLike[str],
                  artifact_path: str | None = None) -> Pointer:
    """Store a directory as one artifact, at ``artifact_path`` or its work-tree relative path."""
    src = Path(local_dir)
    if not src.is_dir():
        raise InvalidInputError(f"'{src}' is not a directory; log a single file with log_artifact.")
    logical = artifact_path or _workspace_relative(run.store.repo, src)
    run.logged_paths.append(src.absolute())
    return _add_artifact(run, logical, lambda cache: cache.add(src, kind="dir"))


def log_bytes(run: ActiveRun, data: bytes, artifact_file: str) -> Pointer:
    """Store in-memory content as the file artifact ``artifact_file``."""
    logical = check_logical_path(artifact_file)
    return _add_artifact(run, logical, lambda cache: cache.add_bytes(data, logical))


def log_text(run: ActiveRun, text: str, artifact_file: str) -> Pointer:
    """Store ``text`` (UTF-8) as the file artifact ``artifact_file``."""
    if not isinstance(text, str):
        raise InvalidInputError(f"log_text takes a string; got {type(text).__name__}.")
    return log_bytes(run, text_bytes(text), artifact_file)


def text_bytes(text: str) -> bytes:
    """UTF-8 of ``text``; the bytes Python kept as surrogates (``\\udc80``-``\\udcff``, from
    undecodable input) go back to being those bytes, and any other lone surrogate is refused."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"The text holds {text[exc.start]!r} at position {exc.start}, a lone surrogate that "
            "UTF-8 cannot store; pass valid text, or log bytes read from a file with "
            "log_artifact."
        ) from None


def log_dict(run: ActiveRun, dictionary: Mapping[str, Any], artifact_file: str) -> Pointer:
    """Store a mapping as YAML (``.yaml``/``.yml``) or else JSON, by the file's extension."""
    import yaml


    if not isinstance(dictionary, Mapping):
        raise InvalidInputError(f"log_dict takes a mapping; got {type(dictionary).__name__}.")
    check_logical_path(artifact_file)
    data = plain(dictionary)  # refuses cycles, nesting past 64 levels and lone surrogates
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
              context: str = "training", store: bool = False,
              profile: bool | Profile = True, header: bool | None = None) -> dict[str, Any]:
    """Record a dataset the run read: hash, size, rows, columns, schema (inputs.yaml).

    ``source`` is a path (CSV, TSV, Parquet, any file, a directory) or a pandas DataFrame.
    With ``store=True`` the data itself also goes into the cache (a DataFrame as Parquet).
    With ``profile`` (the default) a table's data profile is stored beside the record as
    ``profiles/<md5>.json`` and named in the entry (gittrack.artifacts.profiles); a
    :class:`Profile` already made of the same data is stored as it is.
    ``header`` tells whether a CSV's first line names its columns (None: detected).
    """
    add: Callable[[Cache], Pointer]
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        rel = _workspace_relative(run.store.repo, path) if path.exists() else str(path)
        entry = datasets.entry(datasets.describe_path(path, header), rel, context)
        run.logged_paths.append(path.absolute())
        default_name, add = rel, (lambda cache: cache.add(path))
    else:
        entry = datasets.entry(datasets.describe_frame(source), None, context)
        default_name = "dataframe"
        add = (lambda cache: cache.add_bytes(_table_bytes(source, ".parquet"), "data.parquet"))
    key = datasets.check_input_name(name or default_name)
    from gittrack.artifacts.profiles import Profile  # lazy: only a run that logs data loads it

    made = profile if isinstance(profile, Profile) else _profile_of(source) if profile else None
    profile_file = blob = None
    if made is not None:
        profile_file = f"{EXTRA_DIR}/{entry['md5']}.json"
        blob = run.store.repo.write_blob(made.to_json())
        entry["profile"] = profile_file
    repo = run.store.repo
    with cache_lock(repo):
        if store:
            entry["stored"] = add(cache_for(repo)).to_dict()
        if profile_file is not None:
            _record(run, ["f", profile_file, blob])
        _record(run, ["i", key, entry])
    return entry


def _profile_of(source: Any) -> Profile | None:
    """The data profile of a table file, a directory of them or a DataFrame; None for
    anything else, or when pyarrow is missing or the table cannot be parsed (a warning)."""
    if importlib.util.find_spec("pyarrow") is None:
        return None
    from gittrack.artifacts import profiles  # lazy: only a run that logs data loads it

    try:
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            return profiles.profile_path(path) if profiles.can_profile(path) else None
        return profiles.profile_frame(source)
    except InvalidInputError as exc:
        log.warning("No data profile recorded for %s: %s", source if isinstance(
            source, (str, os.PathLike)) else "the DataFrame", exc)
        return None


def read_input_profile(store: Store, commit: str, entry: Mapping[str, Any]) -> Profile | None:
    """The stored profile an inputs.yaml entry names, or None when it has none."""
    name = entry.get("profile")
    if not isinstance(name, str):
        return None
    data = store.repo.read_blob(commit, f"{RECORD_DIR}/{check_extra_path(name)}")
    from gittrack.artifacts.profiles import Profile  # lazy: only drift reads profiles

    return None if data is None else Profile.from_json(data)


# ---------------------------------------------------------------- models


def log_model(run: ActiveRun, model: object, name: str, input_example: object = None,
              signature: Mapping[str, Any] | None = None,
              pip_requirements: Sequence[str] | None = None) -> LoggedModel:
    """Save ``model`` with gittrack.artifacts.models and store the directory as artifact ``name`` (kind model)."""
    from gittrack.artifacts.models import (
        save_model,  # lazy: models (and pandas) load only when a model is logged
    )

    logical = check_logical_path(name)
    tmp_root = run.store.repo.state_dir / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="model-", dir=tmp_root) as tmp:
        info = save_model(model, Path(tmp, "model"), input_example=input_example,
                          signature=signature, pip_requirements=pip_requirements)
        pointer = _add_artifact(run, logical, lambda cache: cache.add(Path(tmp, "model"), kind="model"))
    return LoggedModel(f"runs:/{run.id}/{logical}", logical, run.id, pointer, info)


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
