"""The run record: its YAML and TSV encodings and the frozen value types read back.

One encoding for values YAML cannot round-trip on its own (docs/format.md):
NaN and infinities are YAML's ``.nan``, ``.inf`` and ``-.inf``; NumPy scalars become the
Python number or bool they hold; NumPy arrays, tuples and sets become lists; datetimes
become ISO-8601 strings in UTC; anything else is stored as ``str(value)``.
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from gittrack.core import display
from gittrack.core.errors import InvalidInputError
from gittrack.core.names import check_text

FORMAT_VERSION = 1
TSV_HEADER = "step\ttimestamp\tvalue\n"
STATUSES = ("running", "finished", "failed", "killed", "crashed")
TERMINAL = ("finished", "failed", "killed", "crashed")


MAX_DEPTH = 64  # nesting levels of a logged value (params, dicts): deeper is refused
MAX_INT_BITS = 13_000  # ~3,900 digits: Python refuses to print ints past 4,300 digits


def plain(value: Any) -> Any:
    """Turn ``value`` into plain YAML-safe Python data (the documented encoding).

    Refuses (InvalidInputError, one sentence) what no record can hold: a value that refers
    to itself or nests deeper than :data:`MAX_DEPTH`, text with a lone surrogate, an
    integer too long to print.
    """
    return _plain(value, 0, set())


def _plain(value: Any, depth: int, path: set[int]) -> Any:
    if value is None or type(value) in (bool, float):
        return value
    if isinstance(value, bool):  # pragma: no cover - bool cannot be subclassed
        return bool(value)
    if isinstance(value, int):
        if value.bit_length() > MAX_INT_BITS:
            raise InvalidInputError(
                f"An integer of {value.bit_length()} bits is too long to record; log it as text "
                "with log_text."
            )
        return int(value)  # an IntEnum or other subclass as the number it holds
    if isinstance(value, float):
        return float(value)  # NumPy's float64 is a float subclass YAML cannot represent
    if isinstance(value, str):
        return _text(str.__str__(value))
    if depth >= MAX_DEPTH:
        raise InvalidInputError(
            f"A logged value nests deeper than {MAX_DEPTH} levels; flatten it, or store it "
            "with log_dict as a file."
        )
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        if id(value) in path:
            raise InvalidInputError(
                "A logged value contains itself (a mapping or list that refers back to "
                "itself); log a copy without the cycle."
            )
        path.add(id(value))
        try:
            return _container(value, depth, path)
        finally:
            path.discard(id(value))
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return value.astimezone(_dt.timezone.utc).isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    item = getattr(value, "item", None)  # NumPy scalars and 0-d arrays
    if callable(item) and getattr(value, "ndim", 0) == 0:
        try:
            return _plain(item(), depth + 1, path)
        except (TypeError, ValueError):
            pass
    tolist = getattr(value, "tolist", None)  # NumPy arrays
    if callable(tolist):
        try:
            listed = tolist()
        except (TypeError, ValueError):
            listed = None
        if listed is not None and listed is not value:
            return _plain(listed, depth + 1, path)
    return _text(_str(value))


def _container(value: Any, depth: int, path: set[int]) -> Any:
    if isinstance(value, Mapping):
        return {_text(_str(k)): _plain(v, depth + 1, path) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1, path) for v in value]
    return sorted((_plain(v, depth + 1, path) for v in value), key=repr)


def _str(value: Any) -> str:
    if isinstance(value, str):
        return str.__str__(value)
    try:
        text = str(value)
    except Exception as exc:  # noqa: BLE001 - a user object whose __str__ fails
        raise InvalidInputError(
            f"A value of type {type(value).__name__} cannot be turned into text "
            f"({type(exc).__name__}); log a plain number, string, list or mapping."
        ) from None
    if not isinstance(text, str):  # pragma: no cover - str() always returns a str
        raise InvalidInputError(f"A value of type {type(value).__name__} has no text form.")
    return str.__str__(text)


def _text(text: str) -> str:
    return check_text("A logged value", text)


def os_text(text: str) -> str | bytes:
    """A string gittrack read from the system (argv, a file name, the working directory) as
    it will be recorded: itself when it is valid UTF-8, else the exact bytes it came from
    (written in YAML as ``!!binary``, read back as bytes; docs/format.md)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        try:
            return os.fsencode(text)  # the undecodable bytes Python kept as surrogates
        except UnicodeEncodeError:
            return text.encode("utf-8", "surrogatepass")


@functools.cache
def _yaml() -> tuple[ModuleType, Any, Any]:
    # PyYAML takes ~20 ms to import, and commands served from caches never parse YAML.
    import yaml

    # run.info is a dict with attributes (RunInfo): it dumps as the plain mapping it is,
    # with gittrack's dumper and with yaml.safe_dump / yaml.dump alike.
    dumpers = [yaml.SafeDumper, yaml.Dumper, getattr(yaml, "CSafeDumper", None),
               getattr(yaml, "CDumper", None)]
    for dumper in dumpers:
        if dumper is not None:
            yaml.add_representer(RunInfo, yaml.representer.SafeRepresenter.represent_dict,
                                 Dumper=dumper)
    try:  # libyaml is ~8x faster than the pure-Python parser (NOTES: 54 us vs 430 us a document)
        return yaml, yaml.CSafeLoader, yaml.CSafeDumper
    except AttributeError:  # pragma: no cover - depends on how PyYAML was built
        return yaml, yaml.SafeLoader, yaml.SafeDumper


def dump_yaml(data: Any, *, sort_keys: bool = True) -> bytes:
    """YAML text of plain data, block style, UTF-8."""
    fast = fast_dump_yaml(data, sort_keys=sort_keys)
    if fast is not None:
        return fast
    yaml, _loader, dumper = _yaml()
    try:
        text: str = yaml.dump(
            data, Dumper=dumper, sort_keys=sort_keys, allow_unicode=True,
            default_flow_style=False, width=1000,
        )
        return text.encode("utf-8")
    except (yaml.YAMLError, UnicodeEncodeError, RecursionError, ValueError) as exc:
        # plain() refuses all of these before they get here; a last guard so that no
        # value reaches a record half-written.
        raise InvalidInputError(
            f"A value cannot be written as YAML ({type(exc).__name__}: {exc}); log plain "
            "numbers, text, lists and mappings."
        ) from None


# -- the fast emitter -------------------------------------------------------------------
# PyYAML's representer costs ~100 us a small document, most of a bulk write (gittrack.log_runs)
# and of a run's final commit. Records are mostly plain mappings of numbers and short ASCII
# words, for which libyaml's output is simple to state; this writes exactly that text and
# gives up (to the real dumper) on anything else: other types, non-ASCII, spaces, quotes,
# a trailing colon, indicators, long keys (libyaml writes keys over 128 characters as "? key").
# tests/test_records.py checks it against the real dumper byte for byte.
_WORD = re.compile(r"(?:[A-Za-z0-9_/]|-(?=.))[A-Za-z0-9_./+:\-]*(?<!:)\Z")
_MAX_KEY = 100


class _NotFast(Exception):
    pass


def fast_dump_yaml(data: Any, *, sort_keys: bool = True) -> bytes | None:
    """:func:`dump_yaml` of a mapping of plain words and numbers, or None for anything else.

    What it writes reads back (:func:`load_yaml`) as exactly ``data``: every string it writes
    plain, PyYAML's own resolvers read as a string.
    """
    if type(data) is not dict and type(data) is not RunInfo:
        return None
    try:
        return _fast_mapping(data, sort_keys, "", []).encode("utf-8") if data else b"{}\n"
    except _NotFast:
        return None


@functools.cache
def _implicit() -> dict[str, list[tuple[str, Any]]]:
    yaml = _yaml()[0]
    resolvers: dict[str, list[tuple[str, Any]]] = yaml.resolver.Resolver.yaml_implicit_resolvers
    return resolvers


def _fast_str(text: str) -> str:
    if not _WORD.match(text):
        raise _NotFast
    for tag, regexp in _implicit().get(text[0], ()):
        if regexp.match(text):  # would read back as a number, bool, date...: quote it
            return f"'{text}'" if tag != "tag:yaml.org,2002:str" else text
    return text


def _fast_scalar(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return _fast_str(value) if value else "''"
    if kind is float:
        if value != value:
            return ".nan"
        if value in (math.inf, -math.inf):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value).lower()
        return text.replace("e", ".0e", 1) if "." not in text and "e" in text else text
    if kind is int:
        return str(value)
    if kind is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    raise _NotFast


def _fast_mapping(data: Mapping[str, Any], sort_keys: bool, indent: str,
                  out: list[str]) -> str:
    for key, value in (sorted(data.items()) if sort_keys else data.items()):
        if type(key) is not str or len(key) > _MAX_KEY:
            raise _NotFast
        name = _fast_str(key) if key else "''"
        kind = type(value)
        if kind is dict and value:
            out.append(f"{indent}{name}:\n")
            _fast_mapping(value, sort_keys, indent + "  ", out)
        elif kind is list and value:
            out.append(f"{indent}{name}:\n")
            out.extend([f"{indent}- {_fast_item(v)}\n" for v in value])
        elif kind is dict:
            out.append(f"{indent}{name}: {{}}\n")
        elif kind is list:
            out.append(f"{indent}{name}: []\n")
        else:
            out.append(f"{indent}{name}: {_fast_scalar(value)}\n")
    return "".join(out)


def _fast_item(value: Any) -> str:
    if type(value) in (dict, list):
        raise _NotFast
    return _fast_scalar(value)


def load_yaml(data: bytes | str) -> Any:
    """Safe-load YAML (libyaml when present); never constructs Python objects."""
    yaml, loader, _dumper = _yaml()
    return yaml.load(data, Loader=loader)


def format_float(value: float) -> str:
    """Shortest text that reads back to the same float: ``nan``, ``inf``, ``-inf`` too."""
    return repr(float(value))


def tsv_row(step: int, timestamp: int, value: float) -> str:
    return f"{step}\t{timestamp}\t{format_float(value)}\n"


def parse_tsv(text: str) -> list[tuple[int, int, float]]:
    """Rows of a metric history file (the header line is skipped)."""
    rows = []
    for line in text.splitlines()[1:]:
        if line:
            step, ts, value = line.split("\t")
            rows.append((int(step), int(ts), float(value)))
    return rows


def now_iso() -> str:
    """The current UTC time, ISO-8601 with microseconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat()


def iso_from_ms(ms: int) -> str:
    return _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc).isoformat()


def ms_from_iso(text: str | None) -> int | None:
    if not text:
        return None
    return int(_dt.datetime.fromisoformat(text).timestamp() * 1000)


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested params as dotted keys: ``{"model": {"depth": 3}}`` -> ``{"model.depth": 3}``."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        items = flatten(value, name + ".") if isinstance(value, Mapping) and value \
            else {name: value}
        for flat, item in items.items():
            if flat in out:
                raise InvalidInputError(
                    f"Param '{flat}' is given twice, once flat and once nested; "
                    "log it under one of the two forms."
                )
            out[flat] = item
    return out


def same_value(a: Any, b: Any) -> bool:
    """Whether a re-logged param keeps its value: numbers by value, NaN equal to NaN."""
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        return a == b or (math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and bool(a == b)


MAX_FLOAT = 1.7976931348623157e308  # MLflow stores +-inf as the largest finite double


def mlflow_float(value: float) -> float:
    """A metric value as MLflow's stores give it back: infinities become +-1.797e308."""
    if value == math.inf:
        return MAX_FLOAT
    if value == -math.inf:
        return -MAX_FLOAT
    return value


def system_tags(info: Mapping[str, Any]) -> dict[str, str]:
    """MLflow's system tags of a run, derived from ``run.yaml``."""
    import os

    tags = {"mlflow.runName": str(info.get("name") or "")}
    if info.get("user"):
        tags["mlflow.user"] = str(info["user"])
    command = info.get("command") or []
    if len(command) > 1:
        tags["mlflow.source.name"] = os.path.basename(str(command[1]))
        tags["mlflow.source.type"] = "LOCAL"
    if info.get("baseline"):
        tags["mlflow.source.git.commit"] = str(info["baseline"])
    if info.get("parent"):
        tags["mlflow.parentRunId"] = str(info["parent"])
    if info.get("description"):
        tags["mlflow.note.content"] = str(info["description"])
    return tags


@dataclass(frozen=True)
class Metric:
    """The latest point of one metric."""

    key: str
    value: float
    step: int
    timestamp: int


class RunInfo(dict):  # type: ignore[type-arg]
    """``run.yaml`` as a dict, which also answers MLflow's ``run.info`` attributes:
    ``run_id``, ``run_name``, ``experiment_id`` (the experiment's name: gittrack has no
    numeric ids), ``user_id``, ``status`` (MLflow's upper case, e.g. ``FINISHED``) and
    ``start_time``/``end_time`` in milliseconds since the epoch."""

    @property
    def run_id(self) -> str:
        return str(self.get("id", ""))

    @property
    def run_name(self) -> str:
        return str(self.get("name", ""))

    @property
    def experiment_id(self) -> str:
        return str(self.get("experiment", ""))

    @property
    def user_id(self) -> str | None:
        return self.get("user")

    @property
    def status(self) -> str:
        return str(self.get("status", "")).upper()

    @property
    def start_time(self) -> int | None:
        return ms_from_iso(self.get("start_time"))

    @property
    def end_time(self) -> int | None:
        return ms_from_iso(self.get("end_time"))


@dataclass(frozen=True)
class RunData:
    """MLflow's ``run.data``: params (flattened), latest metric values, tags."""

    params: dict[str, Any]
    metrics: dict[str, float]
    tags: dict[str, str]


@dataclass(frozen=True, repr=False)
class Run:
    """A run as recorded in one commit (read-only). In a notebook it shows as a card."""

    id: str
    name: str
    experiment: str
    status: str
    commit: str
    info: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Metric] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def data(self) -> RunData:
        """MLflow's ``run.data`` view: params as MLflow stores them (flattened, ``str(value)``),
        latest metric values (infinities as +-1.797e308, as MLflow's stores), and the tags with
        MLflow's system tags (``mlflow.runName``, ``mlflow.user``, ...). ``run.params`` keeps
        the typed values."""
        return RunData({k: v if isinstance(v, str) else str(v) for k, v in flatten(self.params).items()},
                       {k: mlflow_float(m.value) for k, m in self.metrics.items()},
                       {**system_tags(self.info), **self.tags})

    @property
    def start_time(self) -> str | None:
        return self.info.get("start_time")

    @property
    def end_time(self) -> str | None:
        return self.info.get("end_time")

    @property
    def baseline(self) -> str | None:
        return self.info.get("baseline")

    @property
    def parent(self) -> str | None:
        return self.info.get("parent")

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.experiment}/{self.name} {self.status}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # IPython's text form (consoles, and text/plain beside the HTML card in notebooks)
        printer.text(display.text_card(self.card_data()))

    def card_data(self, history: Callable[[str], list[tuple[float, float]]] | None = None
                  ) -> display.CardData:
        """What the run's card shows; ``history`` reads a metric's points (from the store)."""
        return display.CardData(
            "Run", self.id, self.name, self.experiment, self.status, flatten(self.params),
            {k: (m.value, m.step) for k, m in self.metrics.items()},
            history or display.no_history)

    def _repr_html_(self) -> str | None:
        return display.html(self)

    def summary(self) -> dict[str, Any]:
        """The flat summary kept in the index and shown in tables."""
        return {
            "id": self.id, "name": self.name, "experiment": self.experiment,
            "status": self.status, "commit": self.commit,
            "start_time": self.start_time, "end_time": self.end_time,
            "user": self.info.get("user"), "baseline": self.baseline,
            "parent": self.parent,
            "params": flatten(self.params),
            "metrics": {k: m.value for k, m in self.metrics.items()},
            "steps": {k: m.step for k, m in self.metrics.items()},
            "tags": dict(self.tags),
        }
