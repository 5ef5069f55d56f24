"""The grammar of registry tags and their annotations: format, parse, validate. No I/O.

Tag names (docs/registry.md):

    <model>/v<N>                    version N of the model is this run's artifact
    <model>/<stage>/v<N>            version N was promoted to stage
    <model>/<stage>/v<N>#<K>        the K-th (K >= 2) promotion of version N to stage
    <model>/<stage>/v<N>!           version N was demoted from stage (GTO's "!" convention)
    <model>/<stage>/v<N>!#<K>       the K-th (K >= 2) demotion of version N from stage

One function formats a name (:func:`format_tag`), one regex parses it back (:func:`parse_tag`).
Model names have no '/', and a stage can neither look like a version (``v3``) nor be the
reserved word ``latest``, so no tag name can be a directory of another in ``refs/tags/``
(git refuses ``refs/tags/m/prod`` next to ``refs/tags/m/prod/v3``).

The annotation is a header line, a blank line and a YAML mapping. gittrack writes each value
as a plain integer, ``null`` or a double-quoted string that is also valid JSON, so it reads
its own tags with ``json`` (50x faster than a YAML parser) and anything else with YAML.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass, fields
from typing import Any

from gittrack.core.errors import InvalidInputError
from gittrack.core.signing import split_signature
from gittrack.core.records import load_yaml

HEADER = "gittrack-registry/1"
ACTIONS = ("register", "promote", "demote")
RESERVED_STAGES = ("latest",)
MAX_MODEL = 100
MAX_STAGE = 50

_MODEL = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
_STAGE = r"[a-z][a-z0-9_-]*"
_NUM = r"[1-9][0-9]*"
_TAG_RE = re.compile(
    rf"(?P<model>{_MODEL})/(?:v(?P<version>{_NUM})"
    rf"|(?P<stage>{_STAGE})/v(?P<sversion>{_NUM})(?P<demote>!)?(?:\#(?P<occurrence>{_NUM}))?)"
)
_MODEL_RE = re.compile(_MODEL)
_STAGE_RE = re.compile(_STAGE)
_VERSION_LIKE = re.compile(r"v[0-9]+")
_HEADER_RE = re.compile(r"gittrack-registry/(?P<format>[0-9]+):")
_KEY_RE = re.compile(r"[a-z_][a-z0-9_]*")
# Characters YAML would not keep verbatim inside a double-quoted scalar (non-printable,
# or line breaks in YAML 1.1): written as \uXXXX, which JSON and YAML decode alike.
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")


@dataclass(frozen=True)
class TagName:
    """The parts of a registry tag name."""

    model: str
    version: int
    stage: str | None = None
    demote: bool = False
    occurrence: int = 1

    @property
    def action(self) -> str:
        """``register``, ``promote`` or ``demote``."""
        if self.stage is None:
            return "register"
        return "demote" if self.demote else "promote"


@dataclass(frozen=True)
class Event:
    """One registry event: what an annotated tag says, plus the tag and its commit."""

    action: str
    model: str
    version: int
    stage: str | None
    run: str
    experiment: str
    artifact: str
    artifact_md5: str | None
    actor: str
    time: str
    seq: int
    note: str | None = None
    gate: dict[str, Any] | None = None  # a promotion's gate verdict (promote --if-gate)
    tag: str = ""
    commit: str = ""

    def order_key(self) -> tuple[int, str, str]:
        """Events of one model sort by sequence, then time, then tag name (deterministic)."""
        return (self.seq, self.time, self.tag)


MESSAGE_KEYS = tuple(f.name for f in fields(Event) if f.name not in ("tag", "commit"))


# -- names --------------------------------------------------------------------------------
def validate_model(name: object) -> str:
    """A model name: letters, digits, '_', '-', '.'; no '/', at most 100 characters."""
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"A model name must be a non-empty string; got {name!r}.")
    bad = (len(name) > MAX_MODEL or not _MODEL_RE.fullmatch(name) or ".." in name
           or name.endswith((".", ".lock")))
    if bad:
        raise InvalidInputError(
            f"Model name {name!r} is not allowed; use up to {MAX_MODEL} letters, digits, '_', '-' "
            "and '.', starting with a letter or digit (no '/', '..', or '.lock' ending)."
        )
    return name


def validate_stage(name: object) -> str:
    """A stage name: lower-case letter first, then lower-case letters, digits, '_', '-'."""
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"A stage name must be a non-empty string; got {name!r}.")
    if len(name) > MAX_STAGE or not _STAGE_RE.fullmatch(name):
        hint = f" such as {name.lower()!r}" if _STAGE_RE.fullmatch(name.lower()) else ""
        raise InvalidInputError(
            f"Stage name {name!r} is not allowed; use a lower-case name{hint} of letters, digits, "
            "'_' and '-' that starts with a letter."
        )
    if _VERSION_LIKE.fullmatch(name) or name in RESERVED_STAGES:
        raise InvalidInputError(
            f"Stage name {name!r} is reserved ("
            + ("'latest' names the newest version" if name in RESERVED_STAGES
               else "it reads as a version number") + "); choose another, such as 'prod'."
        )
    return name


def parse_version(text: object) -> int:
    """``3``, ``"3"`` or ``"v3"`` -> 3."""
    if isinstance(text, int) and not isinstance(text, bool) and text >= 1:
        return text
    if isinstance(text, str):
        digits = text[1:] if text[:1] in ("v", "V") else text
        if re.fullmatch(_NUM, digits):
            return int(digits)
    raise InvalidInputError(f"Version {text!r} is not a version number; write it as v3 or 3.")


def format_tag(name: TagName) -> str:
    """The tag name of ``name`` (see the module docstring for the grammar)."""
    validate_model(name.model)
    version = parse_version(name.version)
    if name.stage is None:
        if name.demote or name.occurrence != 1:
            raise InvalidInputError("A version tag has no demotion mark or occurrence number.")
        return f"{name.model}/v{version}"
    validate_stage(name.stage)
    if name.occurrence < 1:
        raise InvalidInputError(f"Occurrence {name.occurrence} must be 1 or more.")
    mark = "!" if name.demote else ""
    suffix = f"#{name.occurrence}" if name.occurrence > 1 else ""
    return f"{name.model}/{name.stage}/v{version}{mark}{suffix}"


def parse_tag(text: str) -> TagName | None:
    """The parts of a registry tag name, or None when ``text`` is not one."""
    m = _TAG_RE.fullmatch(text)
    if m is None:
        return None
    model, stage = m["model"], m["stage"]
    occurrence = int(m["occurrence"]) if m["occurrence"] else 1
    # The regex fixed the characters; what is left of validate_model/validate_stage, inline
    # because this runs for every tag of every read.
    if m["occurrence"] == "1" or len(model) > MAX_MODEL or ".." in model \
            or model.endswith((".", ".lock")):
        return None  # '#1' is never written: the first occurrence has no suffix
    if stage is not None and (len(stage) > MAX_STAGE or stage in RESERVED_STAGES
                              or _VERSION_LIKE.fullmatch(stage)):
        return None
    if stage is None:
        return TagName(model, int(m["version"]))
    return TagName(model, int(m["sversion"]), stage, m["demote"] == "!", occurrence)


# -- annotations --------------------------------------------------------------------------
def now() -> str:
    """The current UTC time, ISO-8601 with microseconds always shown."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


def format_message(event: Event) -> str:
    """The annotation of ``event``: header line, blank line, YAML mapping."""
    where = {"register": f"as v{event.version}", "promote": f"v{event.version} to {event.stage}",
             "demote": f"v{event.version} from {event.stage}"}[event.action]
    lines = [f"{HEADER}: {event.action} {event.model} {where}", ""]
    for key in MESSAGE_KEYS:
        lines.append(f"{key}: {_scalar(getattr(event, key))}")
    return "\n".join(lines) + "\n"


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return _flow(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
            raise InvalidInputError("Registry text cannot hold lone surrogate characters.")
        text = json.dumps(value, ensure_ascii=False)
        return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    raise InvalidInputError(f"Registry value {value!r} must be a string, an integer or None.")


def _flow(value: Any) -> str:
    """``value`` on one line as JSON that YAML 1.1 reads the same: strings as :func:`_scalar`
    writes them, every float with a '.' (PyYAML reads ``1e-05`` as a string, ``1.0e-05`` as
    a float)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_scalar(str(k))}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return json.dumps(repr(value))
        mantissa, e, exponent = repr(value).partition("e")
        return f"{mantissa}.0e{exponent}" if e and "." not in mantissa else repr(value)
    if isinstance(value, str):
        return _scalar(value)  # JSON text with what YAML would not keep as \uXXXX
    if value is None or isinstance(value, (bool, int)):
        return json.dumps(value)
    raise InvalidInputError(f"Registry value {value!r} must be text, a number, a list or a mapping.")


def is_registry_message(text: str) -> bool:
    """Whether an annotation starts with gittrack's registry header."""
    return _HEADER_RE.match(text) is not None


def parse_message(text: str, tag: str = "", commit: str = "") -> Event:
    """The event of a gittrack annotation; InvalidInputError when it is not a valid one."""
    m = _HEADER_RE.match(text)
    if m is None:
        raise InvalidInputError("The annotation does not start with the gittrack-registry header.")
    if m["format"] != "1":
        raise InvalidInputError(f"Registry format {m['format']} is newer than this gittrack.")
    text = split_signature(text)[0]  # a signed tag's signature follows its annotation
    _head, _sep, body = text.partition("\n")
    data = _fast_body(body)
    if data is None:
        try:
            data = load_yaml(body)
        except Exception as exc:  # yaml.YAMLError and friends: report, never crash a read
            raise InvalidInputError(f"The annotation's YAML does not parse: {exc}.") from exc
    return _event_from(data, tag, commit)


def _fast_body(body: str) -> dict[str, Any] | None:
    """Parse the one-``key: JSON scalar``-a-line form gittrack writes; None if it is not that.

    The lines become one JSON object, so a whole annotation costs one ``json.loads``.
    """
    parts = []
    for line in body.splitlines():
        if not line:
            continue
        key, sep, raw = line.partition(": ")
        if not sep or not _KEY_RE.fullmatch(key):
            return None
        parts.append(f'"{key}":{raw}')
    try:
        out = json.loads("{" + ",".join(parts) + "}")
    except ValueError:
        return None  # not JSON (block YAML, a comment, a lone value spread on lines...)
    if len(out) != len(parts):
        return None  # a repeated key: let YAML decide
    for key, value in out.items():
        if isinstance(value, dict) and key == "gate":
            continue  # a one-line JSON mapping, which YAML reads alike
        if not (value is None or isinstance(value, str)
                or (isinstance(value, int) and not isinstance(value, bool))):
            return None
    return out  # type: ignore[no-any-return]


def _event_from(data: object, tag: str, commit: str) -> Event:
    if not isinstance(data, dict):
        raise InvalidInputError("The annotation's YAML is not a mapping.")
    missing = [k for k in MESSAGE_KEYS if k not in data and k not in ("note", "gate")]
    if missing:
        raise InvalidInputError(f"The annotation lacks {', '.join(missing)}.")
    values: dict[str, Any] = {k: data.get(k) for k in MESSAGE_KEYS}
    for key in ("model", "run", "experiment", "artifact", "actor", "time", "action"):
        if not isinstance(values[key], str):
            raise InvalidInputError(f"The annotation's {key} is not a string.")
    for key in ("version", "seq"):
        if not isinstance(values[key], int) or isinstance(values[key], bool) or values[key] < 1:
            raise InvalidInputError(f"The annotation's {key} is not a positive integer.")
    for key in ("stage", "artifact_md5", "note"):
        if values[key] is not None and not isinstance(values[key], str):
            raise InvalidInputError(f"The annotation's {key} is not a string.")
    if values["gate"] is not None and not isinstance(values["gate"], dict):
        raise InvalidInputError("The annotation's gate is not a mapping.")
    if values["action"] not in ACTIONS:
        raise InvalidInputError(f"The annotation's action {values['action']!r} is unknown.")
    try:
        _dt.datetime.fromisoformat(values["time"])
    except ValueError as exc:
        raise InvalidInputError(f"The annotation's time {values['time']!r} is not ISO-8601.") from exc
    return Event(**values, tag=tag, commit=commit)


def name_of(event: Event, occurrence: int = 1) -> TagName:
    """The tag name parts an event is written under."""
    return TagName(event.model, event.version, event.stage, event.action == "demote",
                   occurrence)


def agrees(event: Event, name: TagName) -> bool:
    """Whether an annotation says the same thing as the tag name it was found under."""
    return (event.action == name.action and event.model == name.model
            and event.version == name.version and event.stage == name.stage)
