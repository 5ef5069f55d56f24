"""The merge rules of sharing: which refs a push sends and which a fetch applies.

Both sides are plain ``{ref: object id}`` maps (local refs read from files, remote refs from
``git ls-remote``), so a git remote and a bundle file follow the same rules. The rules, and
why (docs/sharing.md):

- A run ref (``refs/gittrack/runs/<exp>/<id>``) has one writer, but every update of a run writes
  a new commit on the same baseline parent, so updates are never fast-forwards. The newer
  record wins: the later commit time, then a finished status over ``running``. A remote value
  this clone has never seen is newer by definition on push ("pull first").
- A trash ref hides the run ref of the same id when its marker's parent is that run commit
  (a ``gittrack rm`` travels); a restored run deletes the trash ref it has seen.
- An emptied ref (``refs/gittrack/emptied/<exp>/<id>``, written when gc empties the trash)
  lists every run commit and trash marker of that run gc has emptied; each new list is a
  commit whose parents are the lists it extends (never a run). It travels like the trash,
  removes exactly the listed refs on the other side, and keeps exactly them from coming back:
  a push does not send a run or trash ref the remote has emptied, nor one next to a list it
  has not seen ("pull first"); a fetch does not bring one this clone has emptied. A newer
  record of the run (resumed elsewhere) is another commit: it travels as any run update.
  A list that extends the other side's is sent or taken; two that diverged are merged on
  fetch (the union, with both as parents) and the merge is pushed.
- An archive ref (``refs/gittrack/archive/<exp>``, gittrack.core.archive) only grows: a push
  sends one that extends the remote's, a fetch takes one that extends this clone's, and two
  that diverged are merged on fetch (the union, with both as parents) and the merge pushed.
  A run ref the archive holds (at that commit or a newer record) is folded: a push deletes it
  on the remote once the remote's archive holds it, and does not send it where the remote's
  archive holds it; a fetch does not bring it, and deletes this clone's ref once the archive
  it takes holds it. A push next to an archive this clone has not seen waits ("pull first").
- Registry tags are never moved: the same name with other content is a conflict, which push
  resolves by renumbering (gittrack.registry.renumber) and fetch reports.
- Baselines are last-writer-wins: fetch takes the remote's, push replaces a remote value this
  clone has seen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gittrack.core import archive, names
from gittrack.core.gitio import Repo
from gittrack.core.records import dump_yaml, load_yaml
from gittrack.query.baseline import BASELINES_PREFIX
from gittrack.registry import tags

GITTRACK_PREFIX = "refs/gittrack/"
TAGS_PREFIX = "refs/tags/"
TERMINAL = ("finished", "failed", "killed", "crashed")


@dataclass
class PushPlan:
    """What a push sends: plain updates, leased forced updates and deletions."""

    send: dict[str, str] = field(default_factory=dict)  # ref -> local oid (create / fast-forward)
    force: dict[str, tuple[str, str]] = field(default_factory=dict)  # ref -> (local, expected)
    delete: dict[str, str] = field(default_factory=dict)  # ref -> expected remote oid
    folded: dict[str, str] = field(default_factory=dict)  # run refs the remote's archive holds
    behind: list[str] = field(default_factory=list)  # the remote holds newer: pull first
    conflicts: list[str] = field(default_factory=list)  # tag names the remote holds otherwise

    @property
    def empty(self) -> bool:
        """Nothing to send."""
        return not (self.send or self.force or self.delete or self.folded)


@dataclass
class FetchPlan:
    """What a fetch applies to the local refs."""

    create: dict[str, str] = field(default_factory=dict)
    update: dict[str, tuple[str, str]] = field(default_factory=dict)  # ref -> (new, old)
    delete: dict[str, str] = field(default_factory=dict)  # ref -> old
    merge: dict[str, tuple[str, str]] = field(default_factory=dict)  # emptied, archive: (here, there)
    fold: dict[str, str] = field(default_factory=dict)  # run refs an archive taken holds -> old
    kept: list[str] = field(default_factory=list)  # local is newer or was removed locally
    conflicts: list[str] = field(default_factory=list)  # tag names held here otherwise

    @property
    def changes(self) -> int:
        """How many local refs change."""
        return len(self.create) + len(self.update) + len(self.delete) + len(self.merge) \
            + len(self.fold)


def peel(repo: Repo, ref: str, oid: str) -> str:
    """The commit a ref names: a tag's target, any other ref's own value."""
    if kind_of(ref) != "tag":
        return oid
    info = repo.read_tag(ref[len(TAGS_PREFIX):], oid)
    return info.target if info is not None else oid


def kind_of(ref: str) -> str:
    """``run``, ``trash``, ``emptied``, ``archive``, ``baseline``, ``tag`` or ``other``
    (another refs/gittrack/ ref)."""
    if ref.startswith(names.RUNS_PREFIX):
        return "run"
    if ref.startswith(names.TRASH_PREFIX):
        return "trash"
    if ref.startswith(names.EMPTIED_PREFIX):
        return "emptied"
    if ref.startswith(names.ARCHIVE_PREFIX):
        return "archive"
    if ref.startswith(BASELINES_PREFIX):
        return "baseline"
    if ref.startswith(TAGS_PREFIX):
        return "tag"
    return "other"


def twin(ref: str) -> str:
    """The trash ref of a run ref, or the run ref of a trash ref ("" for any other ref)."""
    if ref.startswith(names.RUNS_PREFIX):
        return names.TRASH_PREFIX + ref[len(names.RUNS_PREFIX):]
    if ref.startswith(names.TRASH_PREFIX):
        return names.RUNS_PREFIX + ref[len(names.TRASH_PREFIX):]
    return ""


def emptied_twin(ref: str) -> str:
    """The emptied ref of a run or trash ref ("" for any other ref)."""
    for prefix in (names.RUNS_PREFIX, names.TRASH_PREFIX):
        if ref.startswith(prefix):
            return names.EMPTIED_PREFIX + ref[len(prefix):]
    return ""


def removes(judge: Judge, emptied: str | None, ref: str, oid: str) -> bool:
    """Whether the emptied record ``emptied`` lists ``ref`` at ``oid`` as removed."""
    if emptied is None:
        return False
    key = "run_commit" if kind_of(ref) == "run" else "marker"
    return any(entry.get(key) == oid for entry in judge.emptied(emptied))


def emptied_entries(repo: Repo, record: str | None) -> list[dict[str, Any]]:
    """The removals an emptied record lists, oldest first ([] when absent or unreadable)."""
    if record is None or not repo.has_object(record):
        return []
    data = repo.read_blob(record, names.EMPTIED_RECORD)
    doc = load_yaml(data) if data else None
    removed = doc.get("removed") if isinstance(doc, dict) else None
    return [e for e in removed if isinstance(e, dict)] if isinstance(removed, list) else []


def write_emptied(repo: Repo, ref: str, entries: list[dict[str, Any]],
                  parents: list[str]) -> str:
    """A new emptied record for ``ref`` listing ``entries``, extending ``parents``."""
    run_id = ref.rpartition("/")[2]
    original = names.RUNS_PREFIX + ref[len(names.EMPTIED_PREFIX):]
    doc = {"run": run_id, "ref": original, "removed": entries}
    tree = repo.write_tree({names.EMPTIED_RECORD: repo.write_blob(dump_yaml(doc, sort_keys=False))})
    return repo.write_commit(tree, parents[0] if parents else None,
                             f"gittrack trash emptied: run {run_id} ({len(entries)} record(s))\n",
                             parents[1:])


def merge_emptied(repo: Repo, ref: str, here: str, there: str) -> str:
    """The union of two diverged emptied records, with both as parents."""
    entries = emptied_entries(repo, here)
    seen = {(e.get("run_commit"), e.get("marker")) for e in entries}
    entries += [e for e in emptied_entries(repo, there)
                if (e.get("run_commit"), e.get("marker")) not in seen]
    return write_emptied(repo, ref, entries, [here, there])


def folded(judge: Judge, tip: str | None, ref: str, oid: str) -> bool:
    """Whether the archive commit ``tip`` holds the run of ``ref`` at ``oid`` or at a later
    record of it (False when ``tip`` is None or not here)."""
    held = judge.archived(tip, ref)
    return held is not None and (held == oid or (judge.has(oid) and judge.newer_run(held, oid)))


def is_registry_tag_ref(ref: str) -> bool:
    """Whether a ref's name follows the registry tag grammar."""
    return ref.startswith(TAGS_PREFIX) and tags.parse_tag(ref[len(TAGS_PREFIX):]) is not None


class Judge:
    """Answers the questions the rules ask about objects, reading this repository."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._accepted: dict[tuple[str, str], bool] = {}

    def has(self, oid: str) -> bool:
        """Whether the object is here."""
        return self.repo.has_object(oid)

    def marker_parent(self, marker: str) -> str | None:
        """The run commit a trash marker commit hides (its first parent)."""
        if not self.has(marker):
            return None
        parents = self.repo.commit_parents(marker)
        return parents[0] if parents else None

    def emptied(self, record: str) -> list[dict[str, Any]]:
        """The removals an emptied record lists (run_commit, marker, ...)."""
        return emptied_entries(self.repo, record)

    def accepted(self, tip: str, here: str | None) -> bool:
        """Whether the archive commit ``tip`` (a remote's) is this clone's archive ``here``
        or one it extends: only an archive a fetch has checked and taken is trusted to keep
        the runs it lists."""
        if here is None or not self.has(tip):
            return False
        key = (tip, here)
        if key not in self._accepted:
            self._accepted[key] = tip == here or self.is_ancestor(tip, here)
        return self._accepted[key]

    def archived(self, tip: str | None, ref: str) -> str | None:
        """The commit the archive commit ``tip`` lists for the run of ``ref``."""
        if tip is None or not self.has(tip):
            return None
        return archive.read(self.repo, tip).get(ref.rpartition("/")[2])  # read once, kept

    def newer_run(self, a: str, b: str) -> bool:
        """Whether run commit ``a`` is a later record of the run than ``b``."""
        return _run_key(self.repo, a) > _run_key(self.repo, b)

    def is_ancestor(self, old: str, new: str) -> bool:
        """Whether ``old`` is an ancestor of ``new`` (a fast-forward)."""
        proc = self.repo.run_git("merge-base", "--is-ancestor", old, new, check=False)
        return proc.returncode == 0


def _run_key(repo: Repo, commit: str) -> tuple[int, bool]:
    proc = repo.run_git("show", "-s", "--format=%ct", commit, check=False)
    when = int(proc.stdout.strip() or 0)
    data = repo.read_blob(commit, f"{names.RECORD_DIR}/run.yaml") or b""
    terminal = any(f"status: {s}".encode() in data for s in TERMINAL)
    return when, terminal


def plan_push(local: Mapping[str, str], remote: Mapping[str, str], judge: Judge) -> PushPlan:
    """Decide what a push sends (see the module docstring for the rules)."""
    plan = PushPlan()
    for ref, oid in sorted(local.items()):
        there = remote.get(ref)
        if there == oid:
            continue
        kind = kind_of(ref)
        emptied = remote.get(emptied_twin(ref))
        if emptied is not None and (not judge.has(emptied) or removes(judge, emptied, ref, oid)):
            plan.behind.append(ref)  # emptied there (or unknown here): pull first
            continue
        tip = remote.get(archive.archive_of(ref)) if kind == "run" else None
        if there is None and tip is not None and \
                not judge.accepted(tip, local.get(archive.archive_of(ref))):
            plan.behind.append(ref)  # next to an archive this clone has not taken: pull first
        elif there is None and twin(ref) not in remote and folded(judge, tip, ref, oid):
            continue  # the remote's archive holds this record (or a newer one)
        elif there is None:
            _push_new(plan, ref, oid, local, remote, judge)
        elif kind == "tag":
            plan.conflicts.append(ref)
        elif kind in ("emptied", "archive") and judge.has(there) \
                and judge.is_ancestor(there, oid):
            plan.send[ref] = oid  # this list extends the remote's
        elif not judge.has(there) or kind in ("trash", "emptied", "archive"):
            plan.behind.append(ref)
        elif kind == "run":
            if judge.newer_run(oid, there):
                plan.force[ref] = (oid, there)
            else:
                plan.behind.append(ref)
        elif judge.is_ancestor(there, oid):
            plan.send[ref] = oid
        else:  # a baseline (or other) value this clone has seen: last writer wins
            plan.force[ref] = (oid, there)
    for ref, there in sorted(remote.items()):
        if ref not in local:
            _push_removal(plan, ref, there, local, remote, judge)
    return plan


def _push_new(plan: PushPlan, ref: str, oid: str, local: Mapping[str, str],
              remote: Mapping[str, str], judge: Judge) -> None:
    other = twin(ref)
    if kind_of(ref) == "run" and other in remote and other not in local:
        # Removed on the remote. Seen here (marker known) and the run is back: a restore.
        if judge.has(remote[other]) and judge.marker_parent(remote[other]) == oid:
            plan.send[ref] = oid
            plan.delete[other] = remote[other]
        else:
            plan.behind.append(ref)
        return
    plan.send[ref] = oid


def _push_removal(plan: PushPlan, ref: str, there: str, local: Mapping[str, str],
                  remote: Mapping[str, str], judge: Judge) -> None:
    """A remote ref this clone lacks: delete it there when it was removed or folded here."""
    other = twin(ref)
    if kind_of(ref) == "run" and other in local and judge.marker_parent(local[other]) == there:
        plan.delete[ref] = there  # `gittrack rm` here of exactly that record
    elif removes(judge, local.get(emptied_twin(ref)), ref, there):
        plan.delete[ref] = there  # emptied from the trash here
    elif kind_of(ref) == "run" and (tip := remote.get(archive.archive_of(ref))) is not None \
            and judge.accepted(tip, local.get(archive.archive_of(ref))) \
            and folded(judge, tip, ref, there):
        plan.folded[ref] = there  # the remote's archive holds it: the ref goes, the run stays


def plan_fetch(local: Mapping[str, str], remote: Mapping[str, str], judge: Judge,
               seen_before: frozenset[str] = frozenset()) -> FetchPlan:
    """Decide what a fetch applies, once the remote's objects are here.

    ``seen_before`` holds the remote objects that were here before the fetch (a trash marker
    seen before and since restored is not applied again).
    """
    plan = FetchPlan()
    for ref, oid in sorted(remote.items()):
        here = local.get(ref)
        if here == oid or not judge.has(oid):
            continue
        kind = kind_of(ref)
        if here is None:
            _fetch_new(plan, ref, oid, local, judge, seen_before, remote)
        elif kind == "tag":
            plan.conflicts.append(ref)
        elif kind == "run":
            if judge.newer_run(oid, here):
                plan.update[ref] = (oid, here)
            else:
                plan.kept.append(ref)
        elif kind == "trash":
            plan.kept.append(ref)
        elif kind in ("archive", "emptied"):  # lists that only grow
            if judge.is_ancestor(oid, here):
                plan.kept.append(ref)  # this list extends the remote's already
                continue
            if judge.is_ancestor(here, oid):
                plan.update[ref] = (oid, here)
            else:
                plan.merge[ref] = (here, oid)
            (_fold_local if kind == "archive" else _drop_emptied)(plan, ref, oid, local, judge)
        else:
            plan.update[ref] = (oid, here)
    return plan


def _drop_emptied(plan: FetchPlan, ref: str, record: str, local: Mapping[str, str],
                  judge: Judge) -> None:
    """Delete the local run and trash refs that the emptied ``record`` lists as removed."""
    for prefix in (names.RUNS_PREFIX, names.TRASH_PREFIX):
        gone = prefix + ref[len(names.EMPTIED_PREFIX):]
        if gone in local and removes(judge, record, gone, local[gone]):
            plan.delete[gone] = local[gone]


def _fold_local(plan: FetchPlan, ref: str, tip: str, local: Mapping[str, str],
                judge: Judge) -> None:
    """Fold the local run refs of the archive ``ref`` that its new value ``tip`` holds."""
    prefix = names.RUNS_PREFIX + archive.component_of(ref) + "/"
    for run_ref, oid in local.items():
        if run_ref.startswith(prefix) and folded(judge, tip, run_ref, oid):
            plan.fold[run_ref] = oid


def _fetch_new(plan: FetchPlan, ref: str, oid: str, local: Mapping[str, str], judge: Judge,
               seen_before: frozenset[str], remote: Mapping[str, str]) -> None:
    kind, other = kind_of(ref), twin(ref)
    if kind == "run" and any(folded(judge, tip, ref, oid) for tip in (
            local.get(archive.archive_of(ref)), remote.get(archive.archive_of(ref)))):
        return  # an archive here or the one taken holds this record (or a newer one)
    if kind == "archive":
        _fold_local(plan, ref, oid, local, judge)
    if removes(judge, local.get(emptied_twin(ref)), ref, oid):
        plan.kept.append(ref)  # emptied here; the next push removes it there
        return
    if kind == "emptied":
        _drop_emptied(plan, ref, oid, local, judge)
    if kind == "run" and other in local and judge.marker_parent(local[other]) == oid:
        plan.kept.append(ref)  # removed here; the next push removes it there
        return
    if kind == "trash":
        hidden = judge.marker_parent(oid)
        if other in local and local[other] == hidden and oid in seen_before:
            plan.kept.append(ref)  # restored here after this very removal was fetched
            return
        if other in local and local[other] == hidden:
            plan.delete[other] = hidden
    plan.create[ref] = oid
