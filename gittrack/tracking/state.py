"""A run record in memory: events applied to it, and the files it renders to.

The same code applies events for a live run and for a journal replayed after a crash, so
what a recovered run holds is exactly what the live run would have committed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gittrack.core.errors import InvalidInputError
from gittrack.core.names import RECORD_DIR
from gittrack.core.records import (
    TSV_HEADER,
    Metric,
    Run,
    RunInfo,
    dump_yaml,
    fast_dump_yaml,
    flatten,
    same_value,
    tsv_row,
)
from gittrack.core.secrets import redact_text
from gittrack.core.store import Store

MAX_PARAM_CHARS = 6000  # MLflow's limit for a param value
MAX_TAG_CHARS = 8000


class RunState:
    """Params, metrics (latest and history), tags and run info of one run."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.params: dict[str, Any] = {}
        self.flat_params: dict[str, Any] = {}
        self.latest: dict[str, tuple[float, int, int]] = {}
        self.history: dict[str, bytearray] = {}
        self.artifacts: dict[str, Any] = {}
        self.inputs: dict[str, Any] = {}
        self.extra: dict[str, str] = {}  # path below .gittrack/run -> blob id (data profiles)
        self._blobs: dict[str, tuple[int, str]] = {}  # key -> (history length, blob id)
        self.exact = False  # the last render wrote only values that read back exactly
        self._shown: tuple[dict[str, Any], dict[str, Any]] = ({}, {})  # run.yaml, params.yaml

    # -- events -------------------------------------------------------------------------
    def apply(self, event: list[Any]) -> None:
        kind = event[0]
        if kind == "m":
            self.add_point(event[1], float(event[2]), int(event[3]), int(event[4]))
        elif kind == "p":
            self.merge_params(event[1])
        elif kind == "t":
            self.info.setdefault("tags", {})[event[1]] = event[2]
        elif kind == "a":
            self.artifacts[event[1]] = event[2]
        elif kind == "i":
            self.inputs[event[1]] = event[2]
        elif kind == "x":
            self.info.update(event[1])
        elif kind == "f":
            self.extra[check_extra_path(event[1])] = str(event[2])

    def add_point(self, key: str, value: float, step: int, ts: int, row: str = "") -> None:
        """Append one point; ``row`` is its TSV line when the caller formatted it already."""
        hist = self.history.get(key)
        if hist is None:
            hist = self.history[key] = bytearray(TSV_HEADER.encode())
        hist += (row or tsv_row(step, ts, value)).encode()
        last = self.latest.get(key)
        if last is None or (step, ts) >= (last[1], last[2]):
            self.latest[key] = (value, step, ts)

    def add_points(self, key: str, points: list[tuple[int, int, float]]) -> None:
        """Append many points of one metric, as :meth:`add_point` one by one would."""
        if not points:
            return
        hist = self.history.get(key)
        if hist is None:
            hist = self.history[key] = bytearray(TSV_HEADER.encode())
        hist += "".join([f"{s}\t{t}\t{v!r}\n" for s, t, v in points]).encode()
        steps, stamps, values = zip(*points)
        last = self.latest.get(key)
        order = list(zip(steps, stamps))
        best = max(order)
        if last is None or best >= (last[1], last[2]):
            # the last point of the highest (step, timestamp), as add_point keeps it
            at = len(order) - 1 - order[::-1].index(best)
            self.latest[key] = (values[at], best[0], best[1])

    def check_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Validate new params against the logged ones; the flat view of the new ones."""
        flat = flatten(params)
        for key, value in flat.items():
            # Rendering each value to measure it costs a YAML dump; numbers and short text
            # cannot reach the limit (an escaped character takes at most 10), so skip those.
            short = value is None or isinstance(value, (bool, int, float)) or \
                (isinstance(value, str) and len(value) * 10 <= MAX_PARAM_CHARS)
            if not short and len(dump_yaml(value)) > MAX_PARAM_CHARS:
                raise InvalidInputError(
                    f"Param '{key}' is longer than {MAX_PARAM_CHARS} characters; "
                    "log large values with log_dict or log_text instead."
                )
            old = self.flat_params.get(key, _MISSING)
            if old is not _MISSING and not same_value(old, value):
                raise InvalidInputError(
                    f"Param '{key}' was already logged as {old!r} and cannot change to {value!r}; "
                    "params are fixed once logged, so log the new value under another key "
                    "or in a new run."
                )
            if any(k.startswith(key + ".") for k in self.flat_params):
                raise InvalidInputError(
                    f"Param '{key}' already holds nested params; choose another key."
                )
            for prefix in _prefixes(key):
                if prefix in self.flat_params:
                    raise InvalidInputError(
                        f"Param '{key}' nests under '{prefix}', which is already a value; "
                        "choose another key."
                    )
        return flat

    def merge_params(self, params: Mapping[str, Any]) -> None:
        self.flat_params.update(flatten(params))
        _deep_merge(self.params, params)

    # -- rendering ----------------------------------------------------------------------
    def files(self, store: Store) -> dict[str, str]:
        """``{path below .gittrack/run: blob id}``, reusing blobs of unchanged histories."""
        return self.write(store, self.render())

    def render(self) -> dict[str, bytes | str]:
        """The record's files as bytes, or as the blob id of a history that did not change.

        Cheap (no git writes), so a live run renders under its lock and writes outside it.
        """
        self._shown = (_masked_info(self.info), masked(self.params))  # what the record holds
        docs = [("run.yaml", self._shown[0], False), ("params.yaml", self._shown[1], True),
                ("metrics.yaml", self.metrics_doc(), True)]
        if self.artifacts:
            docs.append(("artifacts.yaml", self.artifacts, True))
        if self.inputs:
            docs.append(("inputs.yaml", self.inputs, True))
        files: dict[str, bytes | str] = {}
        self.exact = True
        for name, doc, sort_keys in docs:
            text = fast_dump_yaml(doc, sort_keys=sort_keys)
            if text is None:
                self.exact = False
                text = dump_yaml(doc, sort_keys=sort_keys)
            files[name] = text
        files.update(self.extra)
        for key, hist in self.history.items():
            cached = self._blobs.get(key)
            fresh = cached is not None and cached[0] == len(hist)
            files[f"metrics/{key}.tsv"] = cached[1] if fresh and cached else bytes(hist)
        return files

    def write(self, store: Store, files: dict[str, bytes | str]) -> dict[str, str]:
        """Write rendered files as blobs; remembers history blobs for the next commit."""
        blobs = {path: data if isinstance(data, str) else store.repo.write_blob(data)
                 for path, data in files.items()}
        self.remember(files, blobs)
        return blobs

    def commit(self, store: Store, code_tree: str | None, parent: str | None,
               files: dict[str, bytes | str], message: str) -> str:
        """Write rendered ``files`` as a run commit (one small pack, Store.write_record)."""
        commit, blobs = store.write_record(code_tree, parent, files, message)
        self.remember(files, blobs)
        return commit

    def remember(self, files: Mapping[str, bytes | str], blobs: Mapping[str, str]) -> None:
        """Keep the blob ids of the histories just written: unchanged, they are not again."""
        for path, data in files.items():
            if not isinstance(data, str) and path.startswith("metrics/"):
                self._blobs[path[len("metrics/"):-len(".tsv")]] = (len(data), blobs[path])

    def summary(self, commit: str) -> dict[str, Any] | None:
        """``Run.summary()`` of ``commit`` as read back from the record :meth:`render` wrote,
        made without parsing it; None unless that render wrote only values that read back
        exactly (the fast emitter's), in which case the caller reads the files instead."""
        if not self.exact:
            return None
        info, params = self._shown
        tags = info.get("tags") or {}
        run = Run(id=info["id"], name=info.get("name", ""), experiment=info.get("experiment", ""),
                  status=info.get("status", "running"), commit=commit, info=RunInfo(info),
                  params=_sorted_tree(params),
                  metrics={k: Metric(k, v, s, t) for k, (v, s, t) in sorted(self.latest.items())},
                  tags={str(k): str(v) for k, v in tags.items()})
        return run.summary()

    def metrics_doc(self) -> dict[str, dict[str, Any]]:
        return {k: {"value": v, "step": s, "timestamp": t}
                for k, (v, s, t) in sorted(self.latest.items())}

    def message(self) -> str:
        """The commit subject: ``run brisk-lamb (finished): rmse=380.2 mae=350.1``."""
        shown = " ".join(f"{k}={_short(v)}" for k, (v, _s, _t) in list(self.latest.items())[:5])
        subject = f"run {self.info.get('name')} ({self.info.get('status')})"
        body = (f"experiment: {self.info.get('experiment')}\nrun: {self.info.get('id')}\n")
        return f"{subject}: {shown}\n\n{body}" if shown else f"{subject}\n\n{body}"

    # -- loading ------------------------------------------------------------------------
    @classmethod
    def from_commit(cls, store: Store, commit: str) -> RunState:
        """The state recorded in a run commit (to resume or to recover a run)."""
        run = store.read_run(commit)
        state = cls(dict(run.info))
        state.merge_params(run.params)
        state.artifacts = dict(run.artifacts)
        state.inputs = dict(run.inputs)
        for path, oid, is_tree in store.repo.list_tree(commit, f"{RECORD_DIR}/{EXTRA_DIR}"):
            if not is_tree:
                state.extra[f"{EXTRA_DIR}/{path}"] = oid
        for key in store.metric_keys(commit):
            data = store.repo.read_blob(commit, f".gittrack/run/metrics/{key}.tsv") or b""
            state.history[key] = bytearray(data)
        for key, m in run.metrics.items():
            state.latest[key] = (m.value, m.step, m.timestamp)
        return state


_MISSING = object()
EXTRA_DIR = "profiles"  # the one directory of the record that "f" events fill


def check_extra_path(path: object) -> str:
    """A path of an ``f`` event: ``profiles/<name>.json``, one plain component below it."""
    if not isinstance(path, str) or not re.fullmatch(rf"{EXTRA_DIR}/[0-9A-Za-z_.-]+\.json", path) \
            or ".." in path:
        raise InvalidInputError(f"Record file path {path!r} is not profiles/<name>.json.")
    return path


def _prefixes(key: str) -> list[str]:
    parts = key.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _sorted_tree(mapping: Mapping[str, Any]) -> dict[str, Any]:
    # params.yaml is written with sorted keys, so that is the order read back
    return {k: _sorted_tree(v) if isinstance(v, dict) else v for k, v in sorted(mapping.items())}


def _deep_merge(into: dict[str, Any], new: Mapping[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        elif isinstance(value, Mapping):
            into[key] = {}
            _deep_merge(into[key], value)
        else:
            into[key] = value


def _short(value: float) -> str:
    return f"{value:.6g}"


def masked(value: Any) -> Any:
    """``value`` with every string passed through :func:`redact_text` (mappings and lists
    walked): a secret given on a command line or a URL with a token, logged as a param, a tag
    or the command, never reaches a run (docs/format.md)."""
    if isinstance(value, str):
        return redact_text(value) if ("=" in value or "://" in value or "-" in value) else value
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def _masked_info(info: Mapping[str, Any]) -> dict[str, Any]:
    # The name, experiment and id are identities (the experiment is in the ref name too).
    return {k: masked(v) if k in _MASKED_INFO else v for k, v in info.items()}


_MASKED_INFO = ("command", "tags", "description", "cwd")
