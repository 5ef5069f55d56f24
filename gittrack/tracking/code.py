"""The code a run keeps: tracked files as they are, plus the untracked ones that ran.

An untracked, unignored file that the program executed or imported from the work tree (its
``__main__``, a module in ``sys.modules``, the script given to ``gittrack run``) is code that
ran, so it goes into the run's tree like a tracked file. Every other untracked file stays out
(it may hold data or secrets); the run lists their names, and a warning names them once per
process and repository, leaving out the files the run itself logged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from gittrack.core import environment
from gittrack.core.gitio import Repo

log = logging.getLogger("gittrack")
SHOWN = 5  # names in the warning; the record keeps up to 100
_warned: set[str] = set()  # git dirs whose untracked files were warned about in this process


def executed(repo: Repo, untracked: Sequence[str],
             extra: Iterable[str | os.PathLike[str]] = ()) -> list[str]:
    """Which ``untracked`` files this process executed or imported, plus those of ``extra``
    (paths, absolute or relative to the current directory) that are untracked."""
    if repo.workdir is None or not untracked:
        return []
    found = set(environment.executed_files(repo.workdir, untracked))
    known = set(untracked)
    for path in extra:
        rel = relative_to_workdir(repo, Path(path))
        if rel in known:
            found.add(rel)
    return sorted(found)


def relative_to_workdir(repo: Repo, path: Path) -> str | None:
    """``path`` as a posix path relative to the work tree, or None when outside it."""
    if repo.workdir is None:
        return None
    full = Path(os.path.abspath(path))
    for root in {repo.workdir, repo.workdir.resolve()}:
        if full.is_relative_to(root) and full != root:
            return full.relative_to(root).as_posix()
    return None


def warn_left_out(repo: Repo, names: Sequence[str], count: int, logged: Iterable[Path]) -> None:
    """Warn, once per process and repository, about the untracked files a run left out,
    except those it logged (as artifacts or inputs)."""
    if repo.workdir is None or not names or str(repo.git_dir) in _warned:
        return
    # run.yaml keeps a name that is not UTF-8 as its bytes (docs/format.md)
    names = [n if isinstance(n, str) else os.fsdecode(n) for n in names]
    logged_rel = [r for r in (relative_to_workdir(repo, p) for p in logged) if r]
    left = [n for n in names if not any(n == r or n.startswith(r + "/") for r in logged_rel)]
    count -= len(names) - len(left)
    if count <= 0:
        return
    _warned.add(str(repo.git_dir))
    shown = [n.encode("utf-8", "backslashreplace").decode() for n in left[:SHOWN]]
    more = f" and {count - len(shown)} more" if count > len(shown) else ""
    log.warning("%d untracked file(s) are not captured in the run (listed in run.yaml): %s%s; "
                "`git add` the ones that are code, or list them in .gitignore.",
                count, ", ".join(shown), more)
