"""Archived runs: the finished runs of an experiment folded into one ref.

A million run refs make git's own work slow (every ``git push`` and ``git fetch`` advertises
every ref; ``packed-refs`` grows to 83 MB). ``gittrack archive`` folds the refs of finished
runs into one archive ref per experiment, ``refs/gittrack/archive/<experiment>``, naming a
commit (docs/format.md):

- its tree holds ``archive.yaml`` (``format``, ``experiment``, ``runs``: how many it lists) and
  ``runs/<hh>.tsv``: one line ``<run id> TAB <run commit>`` per run whose id starts with the
  two hex digits ``hh``, sorted by id;
- its parents keep every listed commit reachable (so ``git gc`` keeps them and ``git push``
  sends them): first the archive commits it extends, then *holders*, commits of the empty
  tree whose parents are up to :data:`FAN` run commits (or holders of holders).

A run an archive lists reads as if its ref were there: :func:`entries` gives the refs it
stands for, which :class:`gittrack.core.store.Store` merges into its listing. A real ref of
the same name wins (the run was changed after it was folded, and git says which is newer);
a run with a trash or emptied ref is hidden (it was removed). Each archive only grows: a
new fold or a merge of two diverged archives makes a commit that extends the old ones.

An archive pulled from a remote is untrusted: lines that are not ``<16 hex> TAB <40 hex>``
in the shard their id names are ignored, and so are shards not named ``<hh>.tsv``.
"""

from __future__ import annotations

import re
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from gittrack.core import names
from gittrack.core.errors import GitError, InvalidInputError
from gittrack.core.gitio import Repo
from gittrack.core.records import dump_yaml, load_yaml

ARCHIVE_PREFIX = names.ARCHIVE_PREFIX
RECORD = "archive.yaml"
SHARDS = "runs"
FORMAT = 1
FAN = 1000  # parents per holder commit
_LINE = re.compile(rb"^([0-9a-f]{16})\t([0-9a-f]{40})$", re.M)
_SHARD = re.compile(r"[0-9a-f]{2}\.tsv")
_MAPS: OrderedDict[tuple[str, str], dict[str, str]] = OrderedDict()  # (common dir, commit) -> map
_NAMED: dict[tuple[str, str, str], bool] = {}  # (common dir, commit, component) -> names_itself
MAPS_KEPT = 4_000_000  # runs of the maps kept per process (~600 MB at most)


def ref_name(component: str) -> str:
    """The archive ref of an experiment, by its encoded ref component."""
    return f"{ARCHIVE_PREFIX}{component}"


def component_of(ref: str) -> str:
    """The encoded experiment component of a run, trash, emptied or archive ref."""
    for prefix in (ARCHIVE_PREFIX, names.RUNS_PREFIX, names.TRASH_PREFIX, names.EMPTIED_PREFIX):
        if ref.startswith(prefix):
            return ref[len(prefix):].partition("/")[0]
    return ""


def archive_of(ref: str) -> str:
    """The archive ref that may hold the run of a run (or trash, emptied) ref."""
    return ref_name(component_of(ref))


def is_archive_ref(ref: str) -> bool:
    """Whether ``ref`` is an archive ref as gittrack names one: its component is an
    experiment name encoded exactly as gittrack encodes it (one name, one ref)."""
    if not ref.startswith(ARCHIVE_PREFIX):
        return False
    component = ref[len(ARCHIVE_PREFIX):]
    try:
        name = names.validate_name("experiment", names.decode_component(component))
    except InvalidInputError:
        return False
    return names.encode_component(name) == component


def tips(repo: Repo, experiment: str | None = None) -> dict[str, str]:
    """``{experiment component: archive commit}`` of every archive ref (or one experiment's);
    a ref gittrack would not name so is no archive (a pulled one could alias another)."""
    if experiment is not None:
        component = names.encode_component(experiment)
        tip = repo.resolve_ref(ref_name(component))
        return {component: tip} if tip and names_itself(repo, tip, component) else {}
    return {ref[len(ARCHIVE_PREFIX):]: oid for ref, oid in repo.list_refs(ARCHIVE_PREFIX).items()
            if is_archive_ref(ref) and names_itself(repo, oid, ref[len(ARCHIVE_PREFIX):])}


def names_itself(repo: Repo, tip: str, component: str) -> bool:
    """Whether the archive commit ``tip`` records the experiment its ref names (an archive
    copied under another experiment's ref would list the same runs twice)."""
    key = (str(repo.common_dir), tip, component)
    if key not in _NAMED:
        name = _record(repo, tip).get("experiment")
        if len(_NAMED) > 1024:
            _NAMED.clear()
        _NAMED[key] = isinstance(name, str) and names.encode_component(name) == component
    return _NAMED[key]


def read(repo: Repo, tip: str) -> dict[str, str]:
    """``{run id: run commit}`` that the archive commit ``tip`` lists (kept per process)."""
    key = (str(repo.common_dir), tip)
    found = _MAPS.get(key)
    if found is None:
        found = {}
        try:
            for path, _oid, is_tree in repo.list_tree(tip, SHARDS):
                if not is_tree and _SHARD.fullmatch(path):
                    found.update(_shard(repo.read_blob(tip, f"{SHARDS}/{path}") or b"",
                                        path[:2]))
        except GitError:
            found = {}  # a damaged or missing archive lists nothing (gittrack doctor names it)
        _keep(key, found)
    return found


def _keep(key: tuple[str, str], found: dict[str, str]) -> None:
    _MAPS[key] = found
    _MAPS.move_to_end(key)
    while len(_MAPS) > 1 and sum(len(m) for m in _MAPS.values()) > MAPS_KEPT:
        _MAPS.popitem(last=False)


def _shard(data: bytes, hh: str) -> dict[str, str]:
    """``{run id: commit}`` of one shard's well-formed lines whose id starts with ``hh``."""
    if re.fullmatch(rb"(?:" + hh.encode() + rb"[0-9a-f]{14}\t[0-9a-f]{40}\n)*", data):
        text = data.decode("ascii")  # all well-formed (as gittrack writes): fixed columns
        return {text[at:at + 16]: text[at + 17:at + 57] for at in range(0, len(text), 58)}
    return {i.decode(): c.decode() for i, c in _LINE.findall(data) if i.startswith(hh.encode())}


def lookup(repo: Repo, tip: str, run_id: str) -> str | None:
    """The commit the archive ``tip`` lists for ``run_id``: one shard read, not the whole map."""
    cached = _MAPS.get((str(repo.common_dir), tip))
    if cached is not None:
        return cached.get(run_id)
    if not names.is_run_id(run_id):
        return None
    try:
        data = repo.read_blob(tip, f"{SHARDS}/{run_id[:2]}.tsv") or b""
    except GitError:
        return None  # a damaged archive lists nothing (gittrack doctor names it)
    key, end = run_id.encode() + b"\t", len(data)
    while end > 0:  # the last well-formed line of the id counts, as in read()
        at = data.rfind(b"\n" + key, 0, end) + 1
        if at == 0 and not data.startswith(key):
            return None
        stop = data.find(b"\n", at)
        match = _LINE.fullmatch(data[at:stop if stop >= 0 else len(data)])
        if match:
            return match.group(2).decode()
        end = at - 1
    return None


def _record(repo: Repo, tip: str) -> dict[str, Any]:
    """``archive.yaml`` of the archive commit ``tip`` ({} when absent or unreadable)."""
    try:
        doc = load_yaml(repo.read_blob(tip, RECORD) or b"")
    except Exception:  # noqa: BLE001 - yaml's errors, git's, whatever the parser
        return {}
    return doc if isinstance(doc, dict) else {}


def count(repo: Repo, tip: str) -> int:
    """How many runs ``archive.yaml`` of ``tip`` says it lists (0 when unreadable)."""
    runs = _record(repo, tip).get("runs")
    return runs if isinstance(runs, int) and not isinstance(runs, bool) else 0


def removed_ids(repo: Repo, component: str) -> set[str]:
    """Ids of the runs of an experiment that have a trash or an emptied ref."""
    out: set[str] = set()
    for prefix in (names.TRASH_PREFIX, names.EMPTIED_PREFIX):
        out.update(ref.rpartition("/")[2] for ref in repo.list_refs(f"{prefix}{component}/"))
    return out


def visible(repo: Repo, ref: str, tip: str) -> dict[str, str]:
    """``{run id: commit}`` the archive commit ``tip`` of archive ref ``ref`` lists, leaving
    out runs removed here (their artifacts are nobody's to send)."""
    hidden = removed_ids(repo, component_of(ref))
    return {i: c for i, c in read(repo, tip).items() if i not in hidden}


def entries(repo: Repo, experiment: str | None = None) -> dict[str, str]:
    """``{run ref: commit}`` the archives stand for (of every experiment or one), leaving
    out removed runs; real refs are not consulted (the caller's refs win)."""
    out: dict[str, str] = {}
    for component, tip in sorted(tips(repo, experiment).items()):
        prefix = f"{names.RUNS_PREFIX}{component}/"
        out.update((prefix + run_id, commit)
                   for run_id, commit in visible(repo, ref_name(component), tip).items())
    return out


def state_key(repo: Repo) -> int | None:
    """A checksum of everything :func:`entries` depends on besides the archive objects
    themselves (the archive tips, trash and emptied refs of archived experiments); None
    when there is no archive."""
    found = tips(repo)
    if not found:
        return None
    parts = []
    for component, tip in sorted(found.items()):
        parts.append(f"{component} {tip} " + ",".join(sorted(removed_ids(repo, component))))
    return zlib.crc32("\n".join(parts).encode())


# ---------------------------------------------------------------- writing


def write(repo: Repo, experiment: str, runs: Mapping[str, str], parents: Iterable[str],
          held: Iterable[str], message: str) -> str:
    """An archive commit listing ``runs`` (``{run id: commit}``, the whole list), extending
    the archive commits ``parents`` and keeping the commits ``held`` reachable."""
    shards: dict[str, list[str]] = {}
    for run_id in sorted(runs):
        if not names.is_run_id(run_id):
            raise GitError(f"{run_id!r} is not a run id; an archive lists run ids only.")
        shards.setdefault(run_id[:2], []).append(f"{run_id}\t{runs[run_id]}\n")
    files = {f"{SHARDS}/{hh}.tsv": repo.write_blob("".join(lines).encode())
             for hh, lines in shards.items()}
    doc = {"format": FORMAT, "experiment": experiment, "runs": len(runs)}
    files[RECORD] = repo.write_blob(dump_yaml(doc, sort_keys=False))
    tree = repo.write_tree(files)
    holders = _hold(repo, list(dict.fromkeys(held)))
    above = list(dict.fromkeys(parents))
    commit = repo.write_commit(tree, above[0] if above else None, message,
                               [*above[1:], *holders])
    _keep((str(repo.common_dir), commit), dict(runs))
    return commit


def _hold(repo: Repo, commits: list[str]) -> list[str]:
    """At most :data:`FAN` commits from which every one of ``commits`` is reachable."""
    empty = repo.write_tree({})
    level = commits
    while len(level) > FAN:
        level = [repo.write_commit(empty, group[0], "gittrack archive: holder of "
                                   f"{len(group)} commit(s)\n", group[1:])
                 for group in (level[i:i + FAN] for i in range(0, len(level), FAN))]
    return level


def merge(repo: Repo, experiment: str, here: str, there: str,
          newer: Any) -> str:
    """The union of two diverged archives, with both as parents. An id both list with
    different commits keeps the one ``newer(a, b)`` says is the later record."""
    mine, theirs = read(repo, here), read(repo, there)
    runs = dict(mine)
    for run_id, commit in theirs.items():
        if run_id not in runs or (runs[run_id] != commit and newer(commit, runs[run_id])):
            runs[run_id] = commit
    return write(repo, experiment, runs, [here, there], [],
                 f"gittrack archive: merge {experiment} ({len(runs)} runs)\n")


def experiment_of(repo: Repo, tip: str, component: str) -> str:
    """The experiment name an archive records, else the one its ref component encodes."""
    name = _record(repo, tip).get("experiment")
    if isinstance(name, str) and names.encode_component(name) == component:
        return name
    try:
        return names.decode_component(component)
    except InvalidInputError:  # a component gittrack did not write
        return component
