"""Renumber registry events that collide with a remote's tags, before a push.

Two clones that register a version of one model offline both write ``<model>/v<N>``; tags are
never moved or force-pushed, so the one pushing second renames its own events: its version
takes the next number free on both sides (with every stage tag of that version), and a stage
tag whose name the remote holds otherwise takes the next free ``#K``. The renamed events keep
their run, artifact, actor, time and note; they get sequence numbers after every event of the
model on either side, so they order after what the remote already had (docs/sharing.md).
The new tags are written first and the stale local ones deleted after, so an interruption
leaves both names rather than none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from gittrack.core import project, signing
from gittrack.core.errors import RemoteError
from gittrack.core.gitio import Repo
from gittrack.registry import tags
from gittrack.registry.tags import Event, TagName

TAGS = "refs/tags/"


@dataclass(frozen=True)
class Renamed:
    """One local registry tag renamed to a name free on the remote."""

    old: str
    new: str
    model: str
    old_version: int
    new_version: int


def _event(repo: Repo, name: str, oid: str) -> Event | None:
    info = repo.read_tag(name, oid)
    if info is None or info.message is None or not tags.is_registry_message(info.message):
        return None
    try:
        return tags.parse_message(info.message, tag=name, commit=info.target)
    except Exception:  # noqa: BLE001 - a malformed tag is skipped, as the registry does
        return None


def _models(conflicts: list[str]) -> list[str]:
    return sorted({parsed.model for ref in conflicts
                   if (parsed := tags.parse_tag(ref[len(TAGS):])) is not None})


def renumber(repo: Repo, local: Mapping[str, str], remote: Mapping[str, str],
             conflicts: list[str]) -> list[Renamed]:
    """Rename the local events of every model with a conflicting tag; the renames made.

    ``local`` and ``remote`` map tag refs to tag object ids; the remote's tag objects of the
    conflicting models must already be here (fetched without refs).
    """
    done: list[Renamed] = []
    for model in _models(conflicts):
        done.extend(_renumber_model(repo, model, local, remote))
    return done


def _renumber_model(repo: Repo, model: str, local: Mapping[str, str],
                    remote: Mapping[str, str]) -> list[Renamed]:
    prefix = f"{TAGS}{model}/"
    theirs = {r[len(TAGS):]: o for r, o in remote.items() if r.startswith(prefix)}
    ours = {r[len(TAGS):]: o for r, o in local.items() if r.startswith(prefix)}
    events = [e for n, o in ours.items() if theirs.get(n) != o
              if (e := _event(repo, n, o)) is not None]
    if not any(e.tag in theirs for e in events):
        return []
    known = [e for n, o in theirs.items() if (e := _event(repo, n, o)) is not None]
    known += [e for n, o in ours.items() if (e := _event(repo, n, o)) is not None]
    seq = max((e.seq for e in known), default=0)
    used = set(theirs) | set(ours)
    versions = {p.version for n in used if (p := tags.parse_tag(n)) is not None}
    moved: dict[int, int] = {}
    commit_of = {e.version: e.commit for e in events if e.action == "register"}
    for e in sorted(events, key=lambda e: e.version):
        if e.action == "register" and e.tag in theirs:
            moved[e.version] = max(versions) + 1
            versions.add(moved[e.version])
    out: list[tuple[Event, str]] = []
    for e in sorted(events, key=Event.order_key):
        renamed_version = e.version in moved and commit_of.get(e.version) == e.commit
        if not renamed_version and e.tag not in theirs:
            continue
        seq += 1
        new_event = replace(e, version=moved[e.version] if renamed_version else e.version,
                            seq=seq)
        name = _free_name(new_event, used)
        used.add(name)
        out.append((new_event, name))
    return _apply(repo, model, out, ours)


def _free_name(event: Event, used: set[str]) -> str:
    occurrence = 1
    while True:
        parts = TagName(event.model, event.version, event.stage, event.action == "demote",
                        occurrence)
        if parts.stage is None and occurrence > 1:
            raise RemoteError(f"No free version number for {event.model}; pull and retry.")
        name = tags.format_tag(parts)
        if name not in used:
            return name
        occurrence += 1


def _apply(repo: Repo, model: str, plan: list[tuple[Event, str]],
           ours: Mapping[str, str]) -> list[Renamed]:
    done = []
    for event, name in plan:
        message = tags.format_message(event)
        # A renumbered event is this clone's own: signed again when the project signs events.
        written = signing.create_signed_tag(repo, name, event.commit, message) \
            if project.config(repo).get("sign") is True \
            else repo.create_annotated_tag(name, event.commit, message)
        if not written:
            raise RemoteError(f"Could not create tag {name} while renumbering {model}; "
                              "run `gittrack push` again.")
        old_version = tags.parse_tag(event.tag)
        done.append(Renamed(event.tag, name, model,
                            old_version.version if old_version else event.version,
                            event.version))
    for item in done:  # only once every new name exists
        repo.run_git("update-ref", "-d", TAGS + item.old, ours[item.old])
    return done
