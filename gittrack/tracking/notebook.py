"""A run started in IPython records its notebook: the path when it can be known, every cell the
kernel executed, and the notebook's code cells as saved (docs/notebooks.md).

The path, from the first source that answers:

- ``JPY_SESSION_NAME``: Jupyter Server (JupyterLab, Notebook 7) puts the session's path in the
  kernel's environment, absolute or relative to the server's root (jupyter_server's
  ``SessionManager.get_kernel_env``); the kernel starts in the notebook's directory;
- ``__vsc_ipynb_file__``: VS Code's Jupyter extension puts the absolute path in the user namespace;
- otherwise the path is unknown (nbclient, a bare ``jupyter console``) and the run records the
  kernel's session id.

The executed cells are IPython's input history (``In``): every cell this kernel ran, raw as
typed, at its execution count. They are written as a percent-format Python file at every commit
of the run and at its end, so the file holds every cell up to the end of the run. The files go
to ``.gittrack/notebook/`` in the run's tree, outside the run record, so `git diff` between two
runs and ``gittrack diff --code`` show them as code.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gittrack.core.gitio import Repo

NOTEBOOK_DIR = ".gittrack/notebook"
EXECUTED = "executed.py"
SAVED = "saved.py"


class NotebookCapture:
    """The notebook of the IPython shell a run started in, written into the run's tree."""

    def __init__(self, shell: Any, path: Path | None, shown: str | None, found_by: str | None,
                 session: str | None) -> None:
        self.shell = shell
        self.path = path  # the notebook file when it exists
        self.shown = shown  # its path as recorded: relative to the work tree when inside it
        self.found_by = found_by
        self.session = session
        self._blobs: dict[str, tuple[object, str]] = {}  # file -> (what it was made from, blob)

    @property
    def in_kernel(self) -> bool:
        return getattr(self.shell, "kernel", None) is not None

    def record(self) -> dict[str, Any]:
        """The ``notebook`` mapping of run.yaml."""
        saved = self.path is not None and self.path.suffix == ".ipynb"
        return {
            "path": self.shown, "found_by": self.found_by, "kernel_session": self.session,
            "executed": f"{NOTEBOOK_DIR}/{EXECUTED}",
            "saved": f"{NOTEBOOK_DIR}/{SAVED}" if saved else None,
        }

    def command(self) -> list[str] | None:
        """The command line to record: the notebook, not the kernel launcher."""
        if self.shown:
            return [self.shown]
        if self.in_kernel:
            return [sys.executable, "-m", "ipykernel_launcher"]
        return None

    def graft(self, repo: Repo, code_tree: str | None) -> str:
        """``code_tree`` with ``.gittrack/notebook/`` holding the cells as of now."""
        blobs = {EXECUTED: self._blob(repo, EXECUTED, self._executed_key(), self._executed)}
        if self.path is not None and self.path.suffix == ".ipynb":
            blobs[SAVED] = self._blob(repo, SAVED, _stat_key(self.path), self._saved)
        return repo.graft(code_tree, NOTEBOOK_DIR, repo.write_tree(blobs))

    def _blob(self, repo: Repo, name: str, key: object, render: Any) -> str:
        # The history only grows and a saved notebook changes with its stat: write a blob only
        # when its source changed, not on every timed commit.
        cached = self._blobs.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        blob = repo.write_blob(render().encode("utf-8"))
        self._blobs[name] = (key, blob)
        return blob

    def _history(self) -> list[str]:
        return list(getattr(self.shell.history_manager, "input_hist_raw", [""]))

    def _executed_key(self) -> object:
        hist = self._history()
        return (len(hist), hash(hist[-1]) if hist else 0)

    def _executed(self) -> str:
        # input_hist_raw[n] is the cell run at execution count n (entry 0 is a placeholder).
        cells = [(n, src) for n, src in enumerate(self._history()) if n > 0]
        # The kernel session is in run.yaml; here it would differ in every diff of two runs.
        where = f" ({self.shown})" if self.shown else ""
        return percent_file(f"Cells the IPython kernel executed, in order{where}.", cells)

    def _saved(self) -> str:
        assert self.path is not None
        cells = [(None, src) for src in saved_code_cells(self.path)]
        return percent_file(f"Code cells of {self.shown} as saved (outputs stripped).", cells)


def percent_file(title: str, cells: Sequence[tuple[int | None, str]]) -> str:
    """Cells as a percent-format Python file (the ``# %%`` markers Jupytext and editors read)."""
    parts = [f"# {title}\n"]
    for count, source in cells:
        marker = "# %%" if count is None else f"# %% execution_count={count}"
        parts.append(f"\n{marker}\n{source.rstrip()}\n" if source.strip() else f"\n{marker}\n")
    return "".join(parts)


def saved_code_cells(path: Path) -> list[str]:
    """The sources of a notebook file's code cells (nbformat 4); none when it cannot be read."""
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return []
    cells = doc.get("cells") if isinstance(doc, dict) else None
    out = []
    for cell in cells if isinstance(cells, list) else []:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            out.append("".join(source) if isinstance(source, list) else str(source))
    return out


def detect(workdir: Path | None) -> NotebookCapture | None:
    """The notebook of this process's IPython shell, or None outside IPython."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or not hasattr(shell, "history_manager"):
        return None
    kernel = getattr(shell, "kernel", None)
    session = getattr(getattr(kernel, "session", None), "session", None)
    given, found_by = _given_path(shell)
    path = _locate(given) if given else None
    shown = given
    if path is not None:
        shown = _relative(path, workdir)
    return NotebookCapture(shell, path, shown, found_by, str(session) if session else None)


def _given_path(shell: Any) -> tuple[str | None, str | None]:
    in_kernel = getattr(shell, "kernel", None) is not None
    name = os.environ.get("JPY_SESSION_NAME")
    if name and in_kernel:
        return name, "JPY_SESSION_NAME"
    vsc = getattr(shell, "user_ns", {}).get("__vsc_ipynb_file__")
    if isinstance(vsc, str) and vsc:
        return vsc, "__vsc_ipynb_file__"
    return None, "kernel session" if in_kernel else None


def _locate(given: str) -> Path | None:
    """The file ``given`` names: absolute, or relative to the server root above our cwd."""
    candidate = Path(given)
    if candidate.is_absolute():
        return candidate if candidate.is_file() else None
    cwd = Path.cwd()
    for base in (cwd, *cwd.parents):
        if (base / candidate).is_file():
            return base / candidate
    return cwd / candidate.name if (cwd / candidate.name).is_file() else None


def _relative(path: Path, workdir: Path | None) -> str:
    resolved = path.resolve()
    if workdir is not None:
        try:
            return resolved.relative_to(workdir.resolve()).as_posix()
        except ValueError:
            pass
    return str(resolved)


def _stat_key(path: Path) -> object:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)
