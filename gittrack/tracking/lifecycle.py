"""Starting and resuming runs: claim the ref, open the journal, hand back an ActiveRun."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from typing import Any

from gittrack.core import environment, journal, names
from gittrack.core.errors import GitError, RunStateError
from gittrack.core.gitio import Snapshot
from gittrack.core.records import FORMAT_VERSION, now_iso, os_text
from gittrack.core.store import Store
from gittrack.tracking import code, kernel, notebook
from gittrack.tracking.active import ActiveRun, clean_tags
from gittrack.tracking.notebook import NotebookCapture
from gittrack.tracking.state import RunState

log = logging.getLogger("gittrack")
MAX_UNTRACKED_NAMES = 100


def create_run(store: Store, experiment: str, name: str | None = None,
               tags: Mapping[str, Any] | None = None, description: str | None = None,
               parent: str | None = None) -> ActiveRun:
    """Record a new run (status ``running``) and return it live.

    Untracked files that ran (gittrack.tracking.code) go into the code tree; the others are
    listed, and warned about when the run ends.
    """
    names.validate_name("experiment", experiment)
    name = names.validate_name("run", name) if name is not None else names.generate_run_name()
    if description is not None:
        description = names.check_text("The description", str(description))
    checked_tags(tags)  # refused before anything is written
    snap = store.repo.snapshot()
    tree, untracked = snap.tree, snap.untracked
    ran = code.executed(store.repo, untracked)
    if ran:  # untracked code that ran goes in like tracked code
        tree = store.repo.tree_with_workdir_files(snap.tree, ran)
        untracked = tuple(u for u in untracked if u not in ran)
    info = run_info(store, snap, experiment, name, parent, description)
    capture = _notebook(store, info)
    # a notebook's code is in .gittrack/notebook/ even when git does not track the file
    untracked = tuple(p for p in untracked if capture is None or p != capture.shown)
    info.update(dirty=snap.dirty or bool(ran),
                untracked=[os_text(n) for n in untracked[:MAX_UNTRACKED_NAMES]],
                untracked_count=len(untracked))
    for _attempt in range(5):
        info["id"] = names.new_run_id()
        run = _claim(store, info, tags, snap.baseline, tree, capture)
        if run is not None:
            return run
    raise GitError("Could not claim a unique run id after 5 tries; check the repository refs.")


def run_info(store: Store, snap: Snapshot, experiment: str, name: str, parent: str | None,
             description: str | None) -> dict[str, Any]:
    """run.yaml of a new run (status ``running``, no id yet): who, where, which code."""
    return {
        "format": FORMAT_VERSION, "id": "", "name": name, "experiment": experiment,
        "status": "running", "start_time": now_iso(), "end_time": None,
        **environment.describe(),
        "baseline": snap.baseline, "branch": snap.branch, "dirty": snap.dirty,
        "untracked": [os_text(n) for n in snap.untracked[:MAX_UNTRACKED_NAMES]],
        "untracked_count": len(snap.untracked),
        "packages": environment.imported_packages(store.repo.state_dir),
        "parent": parent, "description": description, "tags": {},
    }


def _notebook(store: Store, info: dict[str, Any]) -> NotebookCapture | None:
    """In IPython: record the notebook in ``info`` and end the run with the kernel."""
    capture = notebook.detect(store.repo.workdir)
    if capture is None:
        return None
    info["command"] = capture.command() or info["command"]
    info["notebook"] = capture.record()
    kernel.watch(capture.shell)
    return capture


def _claim(store: Store, info: dict[str, Any], tags: Mapping[str, Any] | None,
           parent: str | None, code_tree: str | None,
           capture: NotebookCapture | None) -> ActiveRun | None:
    state = RunState(dict(info))
    for key, text in checked_tags(tags).items():
        state.apply(["t", key, text])
    ref = names.run_ref(info["experiment"], info["id"])
    graft = capture.graft if capture is not None else None
    first_tree = graft(store.repo, code_tree) if graft is not None else code_tree
    commit = state.commit(store, first_tree, parent, state.render(), state.message())
    # The journal exists before the ref, so a kill between the two never leaves a
    # "running" ref that nothing will recover.
    jour = _open_journal(store, info["id"], ref, commit, parent)
    if not store.repo.write_loose_ref(ref, commit, create=True):
        jour.close(remove=True)
        return None
    return ActiveRun(store, state, ref, parent, code_tree, jour, graft)


def checked_tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    """``{key: text}`` of tags given when a run starts, each checked as set_tag checks it."""
    return {} if tags is None else clean_tags(tags)


def resume_run(store: Store, ref: str, commit: str) -> ActiveRun:
    """Reopen an ended (or crashed) run for more logging, as MLflow's ``run_id=`` does."""
    run_id = ref.rpartition("/")[2]
    if journal.is_live(store.repo.state_dir / "journal", run_id):
        raise RunStateError(
            f"Run {run_id} is live in another process; end it there before resuming it."
        )
    state = RunState.from_commit(store, commit)
    state.info.update(status="running", end_time=None, host=socket.gethostname(),
                      pid=os.getpid())
    capture = _notebook(store, state.info)
    graft = capture.graft if capture is not None else None
    parents = store.repo.commit_parents(commit)
    parent = parents[0] if parents else None
    code_tree = store.code_tree_of(commit)
    first_tree = graft(store.repo, code_tree) if graft is not None else code_tree
    new_commit = state.commit(store, first_tree, parent, state.render(), state.message())
    jour = _open_journal(store, run_id, ref, new_commit, parent)
    store.repo.set_ref(ref, new_commit)
    return ActiveRun(store, state, ref, parent, code_tree, jour, graft)


def _open_journal(store: Store, run_id: str, ref: str, commit: str,
                  parent: str | None) -> journal.Journal:
    header = {"ref": ref, "base_commit": commit, "parent": parent,
              "host": socket.gethostname(), "pid": os.getpid()}
    return journal.Journal(store.repo.state_dir / "journal", run_id, header)
