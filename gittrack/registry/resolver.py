"""The model registry on annotated git tags: the ONE resolver of "what is in prod".

Every interface (CLI, Python API, UI, model server) reads through :func:`build` and writes
through :class:`Registry`. Events of a model are ordered by their per-model sequence number,
then their microsecond time, then their tag name, never by the tag's one-second timestamp
(GTO orders same-second events wrongly). A stage's current version is the last active
promotion in that order; a demotion deactivates the version in the stage. Writes only ever
create tags, never move or delete one. A tag that is not a valid gittrack event is skipped
with a :class:`RegistryWarning`, never an error (one bad tag breaks every read in GTO).
"""

from __future__ import annotations

import contextlib
import difflib
import json
import logging
import re
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import astuple, dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from gittrack.core import maintenance, project, signing
from gittrack.core.errors import GittrackError, InvalidInputError, RegistryError
from gittrack.core.gitio import Repo, TagInfo, append_file
from gittrack.core.records import TERMINAL, Run
from gittrack.core.store import Store
from gittrack.registry import tags
from gittrack.registry.tags import Event, TagName

MAX_ATTEMPTS = 50
log = logging.getLogger("gittrack")
_FIELDS = frozenset(tags.MESSAGE_KEYS)
_URI_RE = re.compile(r"(?:models:/)?(?P<model>[^/@]+)(?:/(?P<sel>[^/@]+)|@(?P<alias>[^/@]+))")


class RegistryWarning(UserWarning):
    """A tag was skipped while reading the registry."""


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model."""

    model: str
    version: int
    run: str
    experiment: str
    commit: str
    artifact: str
    artifact_md5: str | None
    actor: str
    time: str
    seq: int
    note: str | None
    tag: str
    stages: tuple[str, ...] = ()  # the stages where this version is current

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        from gittrack.registry import cards  # lazy: only a notebook or console display needs it

        printer.text(cards.version_text(self))

    def _repr_html_(self) -> str:
        from gittrack.registry import cards  # lazy: only a notebook display needs it

        return cards.version_card(self)


@dataclass(frozen=True)
class Model:
    """A model's versions, the current version of each stage, and its full history."""

    name: str
    versions: dict[int, ModelVersion]
    stages: dict[str, int]
    active: dict[str, tuple[int, ...]]  # per stage, active versions, oldest promotion first
    history: tuple[Event, ...]
    current: dict[str, Event] = field(default_factory=dict)  # the promotion each stage stands on
    next_seq: int = 1
    names: frozenset[str] = field(default_factory=frozenset)  # every tag name under the model

    @property
    def latest(self) -> ModelVersion | None:
        """The version with the highest number."""
        return self.versions[max(self.versions)] if self.versions else None

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        from gittrack.registry import cards  # lazy: only a notebook or console display needs it

        printer.text(cards.model_text(self))

    def _repr_html_(self) -> str:
        from gittrack.registry import cards  # lazy: only a notebook display needs it

        return cards.model_card(self)


class ResolvedModel(NamedTuple):
    """What a model reference resolves to: the run commit, the artifact path, the version."""

    commit: str
    artifact_path: str
    version: ModelVersion


# -- reading ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TagObject:
    """What one tag object says, classified once (it never changes, so it is cached)."""

    target: str
    target_type: str
    annotated: bool
    header: bool  # the annotation starts with gittrack's registry header
    fields: dict[str, Any] | None  # the event's fields when the annotation is valid
    error: str | None  # why a gittrack annotation is not valid

    @classmethod
    def classify(cls, info: TagInfo) -> TagObject:
        """Read a tag's annotation once."""
        message = info.message
        if message is None or not tags.is_registry_message(message):
            return cls(info.target, info.target_type, message is not None, False, None, None)
        try:
            event = tags.parse_message(message)
        except InvalidInputError as exc:
            return cls(info.target, info.target_type, True, True, None, str(exc))
        fields = {k: getattr(event, k) for k in tags.MESSAGE_KEYS}
        return cls(info.target, info.target_type, True, True, fields, None)


class LineCache:
    """JSON facts about immutable git objects, one ``["<object id>", ...]<TAB><crc32>`` line
    each, in a file under ``.git/gittrack/registry/`` (DESIGN section 7).

    An object never changes, so a line never goes stale; the file is derived, may be deleted
    at any time, and is never the source of truth. Lines are appended with one ``O_APPEND``
    write (concurrent readers add whole lines, as gittrack.query.index); a line torn by a crash
    or failing its CRC-32 (edited, bit rot) is ignored with a warning and its object read from
    git again, which appends a good line that wins over the bad one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lines: dict[str, bytes] | None = None  # id -> its line, decoded when asked for

    def get(self, oids: Iterable[str]) -> dict[str, list[Any]]:
        """``{id: values}`` of the ids found with a good checksum."""
        if self._lines is None:
            self._lines = self._load()
        rows = {}
        bad = 0
        for oid in oids:
            line = self._lines.get(oid)
            if line is None:
                continue
            row = _checked_line(line)
            if row is None or row[0] != oid:
                bad += 1
                del self._lines[oid]
                continue
            rows[oid] = row[1:]
        if bad:
            log.warning("%d line(s) of the registry cache %s fail their checksum; those are "
                        "read from git again.", bad, self.path)
        return rows

    def add(self, entries: Mapping[str, list[Any]]) -> None:
        """Append ``{id: values}``; a read-only repository keeps no cache."""
        if not entries:
            return
        lines = [_line([oid, *values]) for oid, values in entries.items()]
        if not append_file(self.path, b"".join(lines)):
            return
        if self._lines is not None:
            for line in lines:
                self._lines[line[2:42].decode("ascii")] = line.rstrip(b"\n")

    def verify(self, repair: bool = False) -> int:
        """How many whole lines fail their checks (gittrack doctor); ``repair`` removes the
        file when some do (it fills again from git)."""
        try:
            data = self.path.read_bytes()
        except OSError:
            return 0
        lines = data.split(b"\n")
        lines.pop()  # b"" after the last newline, or a torn line
        bad = sum(1 for line in lines if _checked_line(line) is None)
        if bad and repair:
            self.path.unlink(missing_ok=True)
        return bad

    def _load(self) -> dict[str, bytes]:
        # Lines start with '["<40 hex>",': index them by id without parsing the rest.
        try:
            data = self.path.read_bytes()
        except OSError:
            return {}
        return {line[2:42].decode("ascii", "replace"): line for line in data.splitlines()
                if line[:2] == b'["' and line[42:44] == b'",'}


def _line(values: list[Any]) -> bytes:
    body = json.dumps(values, separators=(",", ":"), default=str).encode("utf-8")
    return body + b"\t%08x\n" % zlib.crc32(body)


def _checked_line(line: bytes) -> list[Any] | None:
    body, _, crc = line.rpartition(b"\t")
    try:
        if int(crc, 16) != zlib.crc32(body):
            return None
        row = json.loads(body)
    except ValueError:
        return None
    return row if isinstance(row, list) and row and isinstance(row[0], str) else None


class TagCache:
    """Classified tag objects by object id (a :class:`LineCache`): with it, reading ~2,000
    tags costs one file read instead of 2,000 object reads and annotation parses. The refs
    decide which tags exist; a ref whose object is not in the file is read from git."""

    FORMAT = 2  # 2: lines carry a CRC-32

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.lines = LineCache(repo.state_dir / "registry" / f"tags-v{self.FORMAT}.jsonl")
        self._objects: dict[str, TagObject] = {}

    def tags(self, prefix: str = "") -> list[tuple[str, TagObject]]:
        """``(tag name, TagObject)`` of every tag under ``refs/tags/<prefix>``, by name."""
        refs = sorted(self.repo.list_refs("refs/tags/" + prefix).items())
        unknown = {oid for _ref, oid in refs if oid not in self._objects}
        for oid, values in self.lines.get(unknown).items():
            obj = _tag_object(values)
            if obj is not None:
                self._objects[oid] = obj
        fresh: dict[str, list[Any]] = {}
        out = []
        for ref, oid in refs:
            name = ref[len("refs/tags/"):]
            obj = self._objects.get(oid)
            if obj is None:
                info = self.repo.read_tag(name, oid)
                if info is None:
                    continue
                obj = self._objects[oid] = TagObject.classify(info)
                fresh[oid] = list(astuple(obj))
            out.append((name, obj))
        self.lines.add(fresh)
        return out


def _tag_object(values: list[Any]) -> TagObject | None:
    try:
        obj = TagObject(*values)
    except TypeError:
        return None
    if obj.fields is not None and (not isinstance(obj.fields, dict) or set(obj.fields) != _FIELDS):
        return None
    return obj


@dataclass(frozen=True)
class RunFacts:
    """What the registry shows of a registered run commit; a commit never changes, so these
    are cached by commit id (a :class:`LineCache`) and read without touching git."""

    name: str | None
    metrics: dict[str, Any]  # metric -> latest value, in the record's order
    artifacts: dict[str, str | None]  # artifact path -> md5

    @classmethod
    def read(cls, store: Store, commit: str) -> RunFacts:
        info = store.read_file(commit, "run.yaml")
        metrics = store.read_file(commit, "metrics.yaml")
        artifacts = store.read_file(commit, "artifacts.yaml")
        return cls(
            info.get("name") if isinstance(info, dict) else None,
            {str(k): v.get("value") for k, v in metrics.items() if isinstance(v, dict)}
            if isinstance(metrics, dict) else {},
            {str(k): v.get("md5") for k, v in artifacts.items() if isinstance(v, dict)}
            if isinstance(artifacts, dict) else {},
        )


def read_events(found: Iterable[tuple[str, TagObject]]) -> tuple[list[Event], set[str]]:
    """Valid gittrack events among ``(name, TagObject)`` pairs and every name they hold;
    warns about the rest."""
    events: list[Event] = []
    names: set[str] = set()
    foreign: list[str] = []
    for name, obj in found:
        names.add(name)
        parsed = tags.parse_tag(name)
        if parsed is None:
            if obj.header:
                _warn(f"Tag {name!r} has a gittrack header but its name is not a registry "
                      "tag name; it is ignored.")
            continue
        if not obj.header:
            foreign.append(f"{name} ({'no gittrack header' if obj.annotated else 'lightweight'})")
            continue
        event = _event_of(name, obj, parsed)
        if event is not None:
            events.append(event)
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        _warn(f"Ignored {len(foreign)} tag(s) that look like registry tags but were not written "
              f"by gittrack: {shown}.")
    return events, names


def _event_of(name: str, obj: TagObject, parsed: TagName) -> Event | None:
    if obj.target_type != "commit":
        _warn(f"Registry tag {name!r} points at a {obj.target_type}, not a run commit; "
              "it is ignored.")
        return None
    if obj.fields is None:
        _warn(f"Registry tag {name!r} is malformed and ignored: {obj.error}")
        return None
    event = Event(**obj.fields, tag=name, commit=obj.target)
    if not tags.agrees(event, parsed):
        said = " ".join(str(x) for x in (event.action, event.model, f"v{event.version}",
                                          event.stage) if x)
        _warn(f"Registry tag {name!r} says '{said}' in its annotation, unlike its name; "
              "it is ignored.")
        return None
    return event


def _warn(message: str) -> None:
    warnings.warn(message, RegistryWarning, stacklevel=3)


def build(name: str, events: Iterable[Event], names: Iterable[str] = ()) -> Model:
    """The state of one model from its events: the one place stage resolution happens."""
    ordered = sorted(events, key=Event.order_key)
    registered = {e.version: e for e in ordered if e.action == "register"}
    active: dict[str, list[int]] = {}
    promotions: dict[tuple[str, int], Event] = {}
    history: list[Event] = []
    for e in ordered:
        if e.action != "register":
            origin = registered.get(e.version)
            if origin is None or origin.commit != e.commit:
                _warn(f"Registry tag {e.tag!r} names v{e.version}, which is not registered on "
                      "that commit; it is ignored.")
                continue
            stack = active.setdefault(str(e.stage), [])
            if e.version in stack:
                stack.remove(e.version)
            if e.action == "promote":
                stack.append(e.version)
                promotions[str(e.stage), e.version] = e
        history.append(e)
    stages = {s: stack[-1] for s, stack in active.items() if stack}
    current: dict[int, list[str]] = {}
    for stage, version in sorted(stages.items()):
        current.setdefault(version, []).append(stage)
    versions = {v: _version_of(e, tuple(current.get(v, ()))) for v, e in sorted(registered.items())}
    current_events = {s: promotions[s, v] for s, v in stages.items()}
    return Model(name, versions, stages, {s: tuple(a) for s, a in active.items()}, tuple(history),
                 current_events, max((e.seq for e in ordered), default=0) + 1, frozenset(names))


def _version_of(e: Event, stages: tuple[str, ...]) -> ModelVersion:
    return ModelVersion(e.model, e.version, e.run, e.experiment, e.commit, e.artifact,
                        e.artifact_md5, e.actor, e.time, e.seq, e.note, e.tag, stages)


def parse_model_ref(text: str) -> tuple[str, str]:
    """``(model, selector)`` of ``models:/NAME/STAGE``, ``/N``, ``/vN``, ``@STAGE`` or ``/latest``
    (the ``models:/`` prefix is optional); the selector is a stage, ``vN`` or ``latest``."""
    m = _URI_RE.fullmatch(text.strip())
    if m is None:
        raise InvalidInputError(
            f"Model reference {text!r} is not one of models:/NAME/STAGE, models:/NAME/N, "
            "models:/NAME@STAGE or models:/NAME/latest."
        )
    model, sel = tags.validate_model(m["model"]), m["sel"] or m["alias"]
    if sel == "latest" and m["alias"] is None:
        return model, "latest"
    if m["alias"] is None and re.fullmatch(r"[vV]?[0-9]+", sel):
        return model, f"v{tags.parse_version(sel)}"
    return model, tags.validate_stage(sel)


# -- the registry of one repository ---------------------------------------------------------
class Registry:
    """Read and write the registry tags of one repository."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.repo = store.repo
        self.cache = TagCache(self.repo)
        self.facts_cache = LineCache(self.repo.state_dir / "registry" / "runs-v2.jsonl")
        # History imported from another registry (gittrack import mlflow) keeps its own
        # actor and time in the annotation: set with recorded_as().
        self._as: tuple[str, str] | None = None

    @contextlib.contextmanager
    def recorded_as(self, actor: str, time: str) -> Iterator[None]:
        """Write the events made inside with this actor and time (ISO 8601, UTC)."""
        self._as = (actor, time)
        try:
            yield
        finally:
            self._as = None

    def _who_when(self) -> tuple[str, str]:
        return self._as if self._as is not None else (self.repo.actor(), tags.now())

    def facts(self, commits: Iterable[str]) -> dict[str, RunFacts]:
        """:class:`RunFacts` of registered run commits, from the cache or read once."""
        wanted = set(commits)
        found: dict[str, RunFacts] = {}
        for commit, values in self.facts_cache.get(wanted).items():
            try:
                found[commit] = RunFacts(*values)
            except TypeError:
                continue
        fresh = {c: RunFacts.read(self.store, c) for c in wanted - set(found)}
        self.facts_cache.add({c: list(astuple(f)) for c, f in fresh.items()})
        return found | fresh

    def models(self) -> dict[str, Model]:
        """Every model, by name."""
        events, names = read_events(self.cache.tags())
        by_model: dict[str, list[Event]] = {}
        for e in events:
            by_model.setdefault(e.model, []).append(e)
        names_of: dict[str, list[str]] = {}
        for n in names:
            names_of.setdefault(n.partition("/")[0], []).append(n)
        return {m: build(m, evs, names_of.get(m, ())) for m, evs in sorted(by_model.items())}

    def model(self, name: str, must_exist: bool = True) -> Model:
        """One model (only its tags are read)."""
        tags.validate_model(name)
        events, names = read_events(self.cache.tags(name + "/"))
        model = build(name, [e for e in events if e.model == name], names)
        if must_exist and not model.versions:
            raise self._no_model(name)
        return model

    def _no_model(self, name: str) -> RegistryError:
        known = sorted({ref[len("refs/tags/"):].partition("/")[0]
                        for ref in self.repo.list_refs("refs/tags/")})
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        if close:
            return RegistryError(f"No model '{name}' in the registry; did you mean "
                                 f"'{close[0]}'? (`gittrack models` lists them.)")
        return RegistryError(f"No model '{name}' in the registry; register one with "
                             f"`gittrack register {name} RUN`.")

    def version(self, name: str, version: int | str) -> ModelVersion:
        """A registered version."""
        number = tags.parse_version(version)
        model = self.model(name)
        if number not in model.versions:
            raise RegistryError(
                f"Model '{name}' has no v{number} (latest is v{max(model.versions)}); "
                "list versions with `gittrack models`."
            )
        return model.versions[number]

    def resolve(self, ref: str) -> ModelVersion:
        """The version a reference names: ``NAME/STAGE``, ``NAME/vN``, ``NAME@STAGE``,
        ``NAME/latest``, each optionally as a ``models:/`` URI."""
        name, sel = parse_model_ref(ref)
        if sel == "latest":
            latest = self.model(name).latest
            assert latest is not None
            return latest
        if re.fullmatch(r"v[0-9]+", sel):
            return self.version(name, sel)
        model = self.model(name)
        if sel not in model.stages:
            raise RegistryError(
                f"Stage '{sel}' of model '{name}' has no current version; promote one with "
                f"`gittrack promote {name} vN {sel}`."
            )
        return model.versions[model.stages[sel]]

    def resolve_uri(self, uri: str) -> ResolvedModel:
        """``(run commit, artifact path, version)`` of a ``models:/`` URI (see :meth:`resolve`)."""
        version = self.resolve(uri)
        return ResolvedModel(version.commit, version.artifact, version)

    def artifact_md5(self, version: ModelVersion) -> str | None:
        """The artifact hash recorded in the run commit's artifacts.yaml (the source of truth)."""
        return self.facts([version.commit])[version.commit].artifacts.get(version.artifact)

    def history(self, name: str, stage: str | None = None) -> list[Event]:
        """A model's events in order; with ``stage``, only that stage's promotions/demotions."""
        model = self.model(name)
        if stage is None:
            return list(model.history)
        tags.validate_stage(stage)
        return [e for e in model.history if e.stage == stage]

    # -- writing --------------------------------------------------------------------------
    def register(self, run_spec: str, name: str, artifact: str | None = None,
                 note: str | None = None, sign: bool | None = None) -> ModelVersion:
        """Register a run's model artifact as the next version of ``name``.

        ``run_spec`` is a run reference (see :func:`gittrack.query.resolve`), ``RUN:PATH`` or
        ``runs:/ID/PATH``; without a path the run's one artifact of kind ``model`` is used.
        ``sign`` makes a signed tag (``git tag -s``); None follows ``sign:`` in the config.
        """
        tags.validate_model(name)
        self._check_name_free(name)
        if artifact is None:
            run_spec, artifact = split_run_spec(self.store, run_spec)
        run = self._ended_run(run_spec)
        path, md5 = _pick_artifact(run.id, run.artifacts, artifact)

        def plan(model: Model) -> tuple[Event, TagName]:
            for v in model.versions.values():
                if v.commit == run.commit and v.artifact == path:
                    raise RegistryError(
                        f"Run {run.id}'s artifact '{path}' is already {name} v{v.version}.")
            number = max(model.versions, default=0) + 1
            while f"{name}/v{number}" in model.names:  # a foreign tag holds the name
                number += 1
            event = Event("register", name, number, None, run.id, run.experiment, path, md5,
                          *self._who_when(), model.next_seq, note, commit=run.commit)
            return event, tags.name_of(event)

        event = self._write(name, plan, sign)
        return self.version(name, event.version)

    def promote(self, name: str, version: int | str, stage: str,
                note: str | None = None, gate: dict[str, Any] | None = None,
                expect_current: int | None | bool = False, sign: bool | None = None) -> Event:
        """Make ``version`` the current version of ``stage`` (a signed tag with ``sign``).

        ``gate`` is a gate verdict kept in the annotation; with ``expect_current`` (a version
        number, or None for an empty stage) the promotion is refused when the stage's current
        version changed meanwhile, so a gate's verdict is never applied to another version.
        """
        number, stage = tags.parse_version(version), tags.validate_stage(stage)
        order = self._stage_order()

        def plan(model: Model) -> tuple[Event, TagName]:
            origin = self._require_version(model, number)
            if model.stages.get(stage) == number:
                raise RegistryError(f"{name} v{number} is already the current version of {stage}.")
            if expect_current is not False and model.stages.get(stage) != expect_current:
                now = model.stages.get(stage)
                raise RegistryError(
                    f"The current version of {name}/{stage} became "
                    f"{'none' if now is None else f'v{now}'} while the gate compared with "
                    f"{'none' if expect_current is None else f'v{expect_current}'}; run the "
                    "gate again."
                )
            _check_order(model, number, stage, order)
            return self._stage_event(model, "promote", origin, stage, note, gate)

        return self._write(name, plan, sign)

    def rollback(self, name: str, stage: str, to: int | str | None = None,
                 note: str | None = None, sign: bool | None = None) -> list[Event]:
        """Demote the current version of ``stage`` (until ``to`` is current); the demotions
        (signed tags with ``sign``)."""
        stage = tags.validate_stage(stage)
        target = tags.parse_version(to) if to is not None else None
        model = self.model(name)
        active = list(model.active.get(stage, ()))
        if not active:
            raise RegistryError(f"Stage '{stage}' of {name} has no current version to roll back.")
        if target is None:
            if len(active) < 2:
                raise RegistryError(
                    f"{name} v{active[-1]} is the only active version of {stage}; there is no "
                    "earlier one to roll back to (promote one first)."
                )
            target = active[-2]
        elif target not in active:
            raise RegistryError(
                f"{name} v{target} is not an active version of {stage}; roll back to one of "
                f"{', '.join(f'v{v}' for v in active)}, or promote it."
            )
        done: list[Event] = []
        for number in reversed(active[active.index(target) + 1:]):
            done.append(self._demote(name, number, stage, note, sign))
        return done

    def demote(self, name: str, version: int | str, stage: str, note: str | None = None,
               sign: bool | None = None) -> Event:
        """Demote ``version`` from ``stage`` (MLflow's stage transitions need one version out
        without a rollback target)."""
        return self._demote(name, tags.parse_version(version), tags.validate_stage(stage), note,
                            sign)

    def _demote(self, name: str, number: int, stage: str, note: str | None,
                sign: bool | None) -> Event:
        def plan(model: Model) -> tuple[Event, TagName]:
            if number not in model.active.get(stage, ()):
                raise _AlreadyDone()
            return self._stage_event(model, "demote", model.versions[number], stage, note)

        try:
            return self._write(name, plan, sign)
        except _AlreadyDone:  # another process demoted it meanwhile
            return next(e for e in reversed(self.model(name).history)
                        if e.action == "demote" and e.version == number and e.stage == stage)

    def _stage_event(self, model: Model, action: str, origin: ModelVersion, stage: str,
                     note: str | None, gate: dict[str, Any] | None = None
                     ) -> tuple[Event, TagName]:
        event = Event(action, model.name, origin.version, stage, origin.run, origin.experiment,
                      origin.artifact, origin.artifact_md5, *self._who_when(),
                      model.next_seq, note, gate, commit=origin.commit)
        occurrence = 1
        while tags.format_tag(tags.name_of(event, occurrence)) in model.names:
            occurrence += 1
        return event, tags.name_of(event, occurrence)

    def _write(self, name: str, plan: Callable[[Model], tuple[Event, TagName]],
               sign: bool | None = None) -> Event:
        # Claim a tag name atomically; when another process took it first, read again and
        # re-plan (its event may change the version number, the occurrence or the sequence).
        # A signed tag is made by `git tag -s`, which also refuses an existing name.
        signed = sign if sign is not None else project.config(self.repo).get("sign") is True
        create = signing.create_signed_tag if signed else Repo.create_annotated_tag
        for _attempt in range(MAX_ATTEMPTS):
            event, parts = plan(self.model(name, must_exist=False))
            tag = tags.format_tag(parts)
            if create(self.repo, tag, event.commit, tags.format_message(event)):
                maintenance.keep_healthy(self.repo)
                return replace(event, tag=tag)
        raise RegistryError(
            f"Could not create a registry tag for {name} after {MAX_ATTEMPTS} attempts; "
            "another process keeps taking the names, so try again."
        )

    # -- checks ---------------------------------------------------------------------------
    def _check_name_free(self, name: str) -> None:
        if self.repo.resolve_ref(f"refs/tags/{name}") is not None:
            raise RegistryError(
                f"A tag named '{name}' exists, so git cannot hold tags under '{name}/'; "
                "choose another model name."
            )
        for other in self.models():
            if other.lower() == name.lower() and other != name:
                raise RegistryError(
                    f"Model '{other}' exists and differs from '{name}' only in case, which "
                    "case-insensitive file systems cannot tell apart; use '{other}'."
                )

    def _ended_run(self, spec: str) -> Run:
        from gittrack import query  # lazy: only writes resolve runs; keeps reads' imports small

        _ref, commit = query.resolve(self.store, spec)
        run = self.store.read_run(commit)
        if run.status not in TERMINAL:
            raise RegistryError(
                f"Run {run.id} ({run.name}) is still {run.status}; register it after it ends."
            )
        return run

    def _require_version(self, model: Model, number: int) -> ModelVersion:
        if number not in model.versions:
            if not model.versions:
                raise self._no_model(model.name)
            raise RegistryError(
                f"Model '{model.name}' has no v{number}; the latest is v{max(model.versions)}.")
        return model.versions[number]

    def _stage_order(self) -> StageRules | None:
        config = project.config(self.repo)
        stages = config.get("stages")
        if stages is None:
            return None
        if not isinstance(stages, list) or not stages:
            raise RegistryError("The config key 'stages' must be a list such as [staging, prod].")
        try:
            allowed = [tags.validate_stage(s) for s in stages]
        except GittrackError as exc:
            raise RegistryError(f"The config key 'stages' is invalid: {exc}") from exc
        return StageRules(allowed, config.get("promote_in_order") is True)


class StageRules(NamedTuple):
    """The stages of .gittrack/config.yaml: the allowed names, and whether a version must be
    active in the stage before (``promote_in_order: true``)."""

    stages: list[str]
    in_order: bool


class _AlreadyDone(Exception):
    """A planned demotion that another process already made."""


def _check_order(model: Model, number: int, stage: str, order: StageRules | None) -> None:
    if order is None:
        return
    if stage not in order.stages:
        close = difflib.get_close_matches(stage, order.stages, n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'? or " if close else ""
        raise RegistryError(
            f"Stage '{stage}' is not one of the stages in .gittrack/config.yaml "
            f"({', '.join(order.stages)}): {hint}to add it, list it there as "
            f"`stages: [{', '.join([*order.stages, stage])}]`."
        )
    if not order.in_order:
        return
    index = order.stages.index(stage)
    previous = order.stages[index - 1] if index else None
    if previous is not None and number not in model.active.get(previous, ()):
        raise RegistryError(
            f"{model.name} v{number} is not active in '{previous}', which comes before "
            f"'{stage}' in .gittrack/config.yaml; promote it to {previous} first."
        )


def _pick_artifact(run_id: str, artifacts: dict[str, Any], path: str | None) -> tuple[str, str]:
    """The artifact to register and its md5: the given path, else the run's one model."""
    if not artifacts:
        raise RegistryError(
            f"Run {run_id} recorded no artifacts, so it has no model to register; log one with "
            "log_model or log_artifact."
        )
    if path is not None:
        path = path.strip("/")
        if path not in artifacts:
            raise RegistryError(
                f"Run {run_id} has no artifact '{path}'; it has {', '.join(sorted(artifacts))}.")
    else:
        models = sorted(p for p, a in artifacts.items() if isinstance(a, dict)
                        and a.get("kind") == "model")
        if len(models) != 1:
            what = f"{len(models)} model artifacts" if models else "no model artifact"
            raise RegistryError(
                f"Run {run_id} has {what}; name one as RUN:PATH (artifacts: "
                f"{', '.join(sorted(artifacts))})."
            )
        path = models[0]
    entry = artifacts[path]
    md5 = entry.get("md5") if isinstance(entry, dict) else None
    if not isinstance(md5, str):
        raise RegistryError(f"Run {run_id}'s artifact '{path}' has no md5 in its record.")
    return path, md5


def split_run_spec(store: Store, text: str) -> tuple[str, str | None]:
    """``(run spec, artifact path)`` of ``RUN``, ``RUN:PATH`` or ``runs:/ID/PATH``.

    Experiment names may hold ':', so the whole text is tried as a run first, then each
    split at a ':' from the right.
    """
    from gittrack import query  # lazy: only writes resolve runs; keeps reads' imports small
    if text.startswith("runs:/"):
        run_id, _, path = text[len("runs:/"):].partition("/")
        return run_id, path or None
    try:
        query.resolve(store, text)
        return text, None
    except GittrackError as exc:
        first = exc
    cut = text.rfind(":")
    while cut > 0:
        try:
            query.resolve(store, text[:cut])
            return text[:cut], text[cut + 1:] or None
        except GittrackError:
            cut = text.rfind(":", 0, cut)
    raise first
