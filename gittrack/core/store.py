"""Runs as commits on hidden refs: write a record, read it back, list and resolve runs.

A run commit's parent is the baseline (HEAD when the run started); its tree is the code
snapshot with the record grafted at ``.gittrack/run/`` (DESIGN section 1). Every update of
a run writes a new commit with the same parent and moves the run's ref.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from gittrack.core import archive, names, provenance
from gittrack.core.errors import AmbiguousRunError, GitError, RunNotFoundError
from gittrack.core.gitio import Repo, missing, packed_ref_exists
from gittrack.core.packs import MODE_BLOB, MODE_TREE, PackBuilder
from gittrack.core.records import Metric, Run, RunInfo, load_yaml, parse_tsv

RECORD_FILES = ("run.yaml", "params.yaml", "metrics.yaml", "artifacts.yaml", "inputs.yaml")


class Store:
    """The runs of one repository."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo

    # -- writing ------------------------------------------------------------------------
    def write_commit(self, code_tree: str | None, parent: str | None,
                     blobs: Mapping[str, str], message: str) -> str:
        """Write a run commit whose record files are ``{path below .gittrack/run: blob id}``."""
        record_tree = self.repo.write_tree(blobs)
        tree = self.repo.graft(code_tree, names.RECORD_DIR, record_tree)
        return self.repo.write_commit(tree, parent, message)

    def write_record(self, code_tree: str | None, parent: str | None,
                     files: Mapping[str, bytes | str], message: str) -> tuple[str, dict[str, str]]:
        """Write a run commit whose record files are ``{path below .gittrack/run: bytes or
        blob id}`` and its new objects as one small pack; ``(commit, {path: blob id})``.

        The same commit :meth:`write_commit` makes, in two files instead of a loose file per
        object (a dozen or more a commit), and without a libgit2 write per object.
        """
        pack = PackBuilder()
        blobs = {path: data if isinstance(data, str) else pack.blob(data)
                 for path, data in files.items()}
        commit = self.frame(code_tree).commit(pack, blobs, [parent] if parent else [],
                                              self.repo.signature_line(), message)
        pack.write_pack(self.repo.common_dir)
        provenance.note_made(self.repo.state_dir, commit)  # made here (trust of its models)
        return commit, blobs

    def frame(self, code_tree: str | None) -> RecordFrame:
        """The code tree ``code_tree`` ready to take records (cached per process)."""
        key = (str(self.repo.common_dir), code_tree)
        frame = _FRAMES.get(key)
        if frame is None:
            if len(_FRAMES) > 64:
                _FRAMES.clear()
            frame = _FRAMES[key] = RecordFrame(self.repo, code_tree)
        return frame

    def code_tree_of(self, commit: str) -> str:
        """The tree of a run commit; its record is replaced on graft, so it serves as code."""
        return self.repo.commit_tree(commit)

    # -- listing ------------------------------------------------------------------------
    def refs(self, experiment: str | None = None) -> dict[str, str]:
        """``{ref: commit}`` of every run, or of one experiment's runs: the run refs, and
        the refs the archives stand for (gittrack.core.archive) where no run ref is."""
        if experiment is None:
            found = self.repo.list_refs(names.RUNS_PREFIX)
        else:
            found = self.repo.list_refs(names.experiment_ref_prefix(experiment))
        for ref, commit in archive.entries(self.repo, experiment).items():
            found.setdefault(ref, commit)
        return found

    def experiments(self) -> list[str]:
        """The experiments that hold a run, read without listing every run ref."""
        found = set()
        for component, ref in self.repo.ref_components(names.RUNS_PREFIX).items():
            parsed = names.parse_run_ref(ref)
            if parsed and names.experiment_ref_prefix(parsed[0]) == \
                    f"{names.RUNS_PREFIX}{component}/":
                found.add(parsed[0])
            elif not parsed:  # the one ref seen is no run's: look at them all
                found.update(p[0] for r in self.repo.list_refs(
                    f"{names.RUNS_PREFIX}{component}/") if (p := names.parse_run_ref(r)))
        for component, tip in archive.tips(self.repo).items():
            removed = archive.removed_ids(self.repo, component)
            # the count in archive.yaml settles it cheaply; when it cannot (runs removed, a
            # count a pulled archive got wrong), the list itself does
            if (not removed and archive.count(self.repo, tip) > 0) or any(
                    i not in removed for i in archive.read(self.repo, tip)):
                found.add(archive.experiment_of(self.repo, tip, component))
        return sorted(found)

    def ref_of(self, run_id: str) -> str | None:
        """The ref of run ``run_id``: a file or a binary search of packed-refs per
        experiment, then one shard of each archive, not a listing of every run."""
        if not names.is_run_id(run_id):
            return None
        packed = self.repo.common_dir / "packed-refs"
        for component in sorted(self.repo.ref_components(names.RUNS_PREFIX)):
            ref = f"{names.RUNS_PREFIX}{component}/{run_id}"
            if (self.repo.common_dir / ref).is_file() or packed_ref_exists(packed, ref):
                return ref
        for component, tip in sorted(archive.tips(self.repo).items()):
            if archive.lookup(self.repo, tip, run_id) is not None \
                    and run_id not in archive.removed_ids(self.repo, component):
                return f"{names.RUNS_PREFIX}{component}/{run_id}"
        return None

    def commit_of(self, ref: str) -> str | None:
        """The commit of a run ref: the ref's own value, else what its archive lists."""
        commit = self.repo.resolve_ref(ref)
        if commit is not None or not ref.startswith(names.RUNS_PREFIX):
            return commit
        parsed = names.parse_run_ref(ref)
        if parsed is None:
            return None
        component = archive.component_of(ref)
        tip = archive.tips(self.repo, parsed[0]).get(component)
        if tip is None or parsed[1] in archive.removed_ids(self.repo, component):
            return None
        return archive.lookup(self.repo, tip, parsed[1])

    # -- reading ------------------------------------------------------------------------
    def read_file(self, commit: str, name: str) -> Any:
        data = self.repo.read_blob(commit, f"{names.RECORD_DIR}/{name}")
        return None if data is None else load_record_file(data, commit, name)

    def read_run(self, commit: str) -> Run:
        """The run recorded in ``commit``."""
        info = self.read_file(commit, "run.yaml")
        if not isinstance(info, dict) or "id" not in info:
            raise GitError(f"Commit {commit[:12]} holds no gittrack run record.")
        try:
            return self._run(commit, info)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise GitError(f"The run record in commit {commit[:12]} is damaged ({exc!r}); "
                           "list what is damaged with `gittrack doctor`.") from None

    def _run(self, commit: str, info: dict[str, Any]) -> Run:
        metrics_doc = self.read_file(commit, "metrics.yaml") or {}
        metrics = {
            str(k): Metric(str(k), float(v["value"]), int(v.get("step", 0)),
                           int(v.get("timestamp", 0)))
            for k, v in metrics_doc.items()
        }
        tags = info.get("tags") or {}
        return Run(
            id=str(info["id"]), name=str(info.get("name", "")),
            experiment=str(info.get("experiment", "")),
            status=str(info.get("status", "running")), commit=commit, info=RunInfo(info),
            params=_mapping(self.read_file(commit, "params.yaml")), metrics=metrics,
            tags={str(k): str(v) for k, v in tags.items()},
            artifacts=_mapping(self.read_file(commit, "artifacts.yaml")),
            inputs=_mapping(self.read_file(commit, "inputs.yaml")),
        )

    def check_record(self, commit: str) -> None:
        """MissingObjectError when the commit, its trees or a blob of its record are absent."""
        for path, oid, is_tree in self.repo.list_tree(commit, names.RECORD_DIR):
            if not is_tree and not self.repo.has_object(oid):
                raise missing(oid, f"{names.RECORD_DIR}/{path} of commit {commit[:12]}")

    def metric_keys(self, commit: str) -> list[str]:
        entries = self.repo.list_tree(commit, f"{names.RECORD_DIR}/metrics")
        return sorted(p[: -len(".tsv")] for p, _oid, is_tree in entries
                      if not is_tree and p.endswith(".tsv"))

    def metric_history(self, commit: str, key: str) -> list[tuple[int, int, float]]:
        """``[(step, timestamp ms, value)]`` of one metric, in logging order."""
        data = self.repo.read_blob(commit, f"{names.RECORD_DIR}/metrics/{key}.tsv")
        try:
            return [] if data is None else parse_tsv(data.decode("utf-8"))
        except ValueError as exc:
            raise GitError(f"metrics/{key}.tsv in commit {commit[:12]} is damaged ({exc}); "
                           "list what is damaged with `gittrack doctor`.") from None

    # -- resolving ----------------------------------------------------------------------
    def resolve_id(self, text: str) -> tuple[str, str] | None:
        """``(ref, commit)`` for a run id or a unique id prefix (4+ hex digits)."""
        if len(text) < 4 or any(c not in "0123456789abcdef" for c in text):
            return None
        if names.is_run_id(text):  # a whole id: no listing of every run
            ref = self.ref_of(text)
            commit = self.commit_of(ref) if ref else None
            return (ref, commit) if ref and commit else None
        hits = [(ref, c) for ref, c in self.refs().items()
                if ref.rpartition("/")[2].startswith(text)]
        if len(hits) > 1:
            ids = ", ".join(sorted(r.rpartition("/")[2] for r, _ in hits)[:5])
            raise AmbiguousRunError(
                f"Run id prefix '{text}' matches {len(hits)} runs ({ids}); give more digits."
            )
        return hits[0] if hits else None


class RecordFrame:
    """A code tree with the record grafted at ``.gittrack/run``, built in a PackBuilder: the
    tree :meth:`Store.write_commit` makes, with the code tree's entries read once."""

    def __init__(self, repo: Repo, code_tree: str | None) -> None:
        top = repo.tree_items(code_tree) if code_tree else []
        inner = [e for e in top if e[1] == ".gittrack" and e[0] == MODE_TREE]
        self.top = [e for e in top if e[1] != ".gittrack"]
        self.gittrack = [e for e in repo.tree_items(inner[0][2]) if e[1] != "run"] if inner else []

    def commit(self, pack: PackBuilder, blobs: Mapping[str, str], parents: Sequence[str],
               signature: str, message: str) -> str:
        """The commit of a record ``{path below .gittrack/run: blob id}``; its new trees and
        the commit go into ``pack``."""
        root: dict[str, Any] = {}
        for path, oid in blobs.items():
            node = root
            *dirs, leaf = path.split("/")
            for d in dirs:
                node = node.setdefault(d, {})
            node[leaf] = oid
        record = _tree(pack, root)
        gittrack = pack.tree([*self.gittrack, (MODE_TREE, "run", record)])
        top = pack.tree([*self.top, (MODE_TREE, ".gittrack", gittrack)])
        return pack.commit(top, parents, signature, message)


def _tree(pack: PackBuilder, node: Mapping[str, Any]) -> str:
    return pack.tree([(MODE_TREE, name, _tree(pack, child)) if isinstance(child, dict)
                      else (MODE_BLOB, name, child) for name, child in node.items()])


_FRAMES: dict[tuple[str, str | None], RecordFrame] = {}


def load_record_file(data: bytes, commit: str, name: str) -> Any:
    """A record file's YAML; GitError (a sentence) when it is not YAML."""
    try:
        return load_yaml(data)
    except Exception as exc:  # noqa: BLE001 - yaml's errors, whatever the parser
        raise GitError(f"{name} in commit {commit[:12]} is not valid YAML ({type(exc).__name__}); "
                       "list what is damaged with `gittrack doctor`.") from None


def _mapping(doc: Any) -> dict[str, Any]:
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise TypeError(f"expected a mapping, got {type(doc).__name__}")
    return doc


def not_found(spec: str) -> RunNotFoundError:
    return RunNotFoundError(f"No run '{spec}' in this repository; list runs with `gittrack log`.")


_tracking_path: str | None = None  # gittrack.set_tracking_repo and `gittrack --repo` set it


def set_tracking_path(path: str | os.PathLike[str] | None) -> None:
    """Make ``path`` the repository of :func:`repo_from_env`; None resets."""
    global _tracking_path
    _tracking_path = os.fspath(path) if path is not None else None


def repo_from_env(path: str | os.PathLike[str] | None = None) -> Repo:
    """The repository gittrack works on: ``path``, else the one set with
    :func:`set_tracking_path`, else $GITTRACK_REPO, else the one around the current directory."""
    chosen = path if path is not None else _tracking_path or os.environ.get("GITTRACK_REPO") or None
    return Repo(chosen)
