"""What a killed push (or a killed git) leaves behind in this repository, and cleaning it.

A big push stages the refs it sends in a scratch repository ``<git dir>/gittrack/push-<pid>-
<thread>/`` (gittrack.sharing.remote), and holds an exclusive ``flock`` on its
``gittrack-push.lock`` while it lives. The kernel drops the lock however the process dies, so
"can I lock it?" tells a dead push from a running one with no pid reuse race (as journals do,
DESIGN section 3). Older versions staged under mirror refs ``refs/gittrack-push/<pid>/`` in this
repository; a killed ``git update-ref`` could leave lock files among them. The next push, and
``gittrack doctor``, remove what dead pushes left.

Lock files elsewhere (``packed-refs.lock``, ``refs/**.lock``) may belong to a git process
running right now; only ``gittrack doctor`` removes them, and only once they are older than
:data:`STALE_LOCK_SECONDS` (git holds its locks for milliseconds to seconds).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from gittrack.core.environment import pid_alive
from gittrack.core.gitio import Repo

STAGE_PREFIX = "refs/gittrack-push/"
SCRATCH_PREFIX = "push-"
OWNER_FILE = "gittrack-push.lock"
STALE_LOCK_SECONDS = 600


@dataclass
class Leftovers:
    """What dead pushes left: scratch repositories, and mirror refs of older versions."""

    scratch: list[Path] = field(default_factory=list)
    mirrors: dict[str, str] = field(default_factory=dict)  # ref -> oid

    def __bool__(self) -> bool:
        return bool(self.scratch or self.mirrors)


def hold(root: Path) -> int:
    """Lock ``root/gittrack-push.lock`` for as long as the returned descriptor is open."""
    fd = os.open(root / OWNER_FILE, os.O_WRONLY | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def stale_stages(repo: Repo) -> Leftovers:
    """The scratch repositories and mirror refs of pushes that are not running."""
    found = Leftovers()
    with contextlib.suppress(OSError):
        found.scratch = sorted(p for p in repo.state_dir.iterdir()
                               if p.name.startswith(SCRATCH_PREFIX) and not _scratch_alive(p))
    for ref, oid in repo.list_refs(STAGE_PREFIX).items():
        owner = ref[len(STAGE_PREFIX):].partition("/")[0]
        if not owner.isdigit() or not pid_alive(int(owner)):
            found.mirrors[ref] = oid
    with contextlib.suppress(OSError):  # a folder holding only the locks a killed git left
        for entry in os.scandir(repo.common_dir / STAGE_PREFIX):
            if not entry.name.isdigit() or not pid_alive(int(entry.name)):
                found.mirrors.setdefault(f"{STAGE_PREFIX}{entry.name}/", "")
    return found


def drop_stale_stages(repo: Repo) -> int:
    """Remove what dead pushes left; how many scratch repositories and mirror refs went."""
    stale = stale_stages(repo)
    for path in stale.scratch:
        shutil.rmtree(path, ignore_errors=True)
    refs = {r: o for r, o in stale.mirrors.items() if o}
    owners = {r[len(STAGE_PREFIX):].partition("/")[0] for r in stale.mirrors}
    for folder in (repo.common_dir / STAGE_PREFIX / owner for owner in owners):
        for lock in _locks_under(folder):
            lock.unlink(missing_ok=True)  # left by a killed `git update-ref` of that push
    if refs and not update_refs(repo, [f"delete {r} {o}" for r, o in refs.items()]):
        for ref, oid in refs.items():
            update_refs(repo, [f"delete {ref} {oid}"])
    _prune_dirs(repo.common_dir / STAGE_PREFIX)
    return len(stale.scratch) + len(refs)


def stale_locks(repo: Repo, min_age: float = STALE_LOCK_SECONDS) -> list[Path]:
    """Lock files under ``refs/`` and ``packed-refs.lock`` untouched for ``min_age`` seconds."""
    root = repo.common_dir
    candidates = [*_locks_under(root / "refs"), root / "packed-refs.lock"]
    now = time.time()
    out = []
    for path in candidates:
        try:
            if now - path.stat().st_mtime >= min_age:
                out.append(path)
        except OSError:
            continue
    return sorted(out)


def update_refs(repo: Repo, lines: list[str]) -> bool:
    """One ``git update-ref --stdin`` transaction; whether it succeeded."""
    proc = subprocess.run(["git", f"--git-dir={repo.git_dir}", "update-ref", "--stdin"],
                          input="\n".join(lines) + "\n", capture_output=True, text=True,
                          check=False)
    return proc.returncode == 0


def update_refs_each(repo: Repo, lines: list[str]) -> int:
    """``lines`` in one transaction, or, when it fails (a ref moved meanwhile), each line
    that still holds on its own; how many lines could not be applied."""
    if not lines or update_refs(repo, lines):
        return 0
    return sum(not update_refs(repo, [line]) for line in lines)


def _scratch_alive(path: Path) -> bool:
    try:
        fd = os.open(path / OWNER_FILE, os.O_RDONLY)
    except OSError:  # not locked yet (being written), or an older gittrack: by its pid
        pid = path.name[len(SCRATCH_PREFIX):].partition("-")[0]
        return pid.isdigit() and pid_alive(int(pid))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _locks_under(folder: Path) -> list[Path]:
    out: list[Path] = []
    for dirpath, _dirs, files in os.walk(folder):
        out.extend(Path(dirpath) / f for f in files if f.endswith(".lock"))
    return out


def _prune_dirs(folder: Path) -> None:
    # Directories the removed mirrors emptied (git prunes them too, but not past a lock file).
    if not folder.is_dir():
        return
    for dirpath, _dirs, _files in sorted(os.walk(folder), key=lambda w: -len(w[0])):
        with contextlib.suppress(OSError):
            os.rmdir(dirpath)

