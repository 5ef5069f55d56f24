"""Keep the repository healthy while runs pile up.

Each run writes a dozen small loose objects and a loose ref. git's ``gc --auto`` fires inside
the user's next ``git commit`` once ~6,700 loose objects exist (it estimates them from the
fan-out directory ``objects/17``, times 256) and then took 45 s at 10k runs (NOTES). So,
estimating the same way, gittrack packs first: ``git pack-refs --all`` and a geometric
``git repack -d``, which rolls loose objects (reachable or not) into a small number of packs
whose count grows logarithmically, staying far below ``gc.autoPackLimit``.
"""

from __future__ import annotations

import fcntl
import logging
import os

from gittrack.core.errors import GitError
from gittrack.core.gitio import Repo

log = logging.getLogger("gittrack")

# Repack at ~2,000 estimated loose objects (8 in the 1/256 sample), well under git's 6,700.
SAMPLE_LIMIT = int(os.environ.get("GITTRACK_REPACK_SAMPLE", "8"))


def loose_sample(repo: Repo) -> int:
    """Loose objects in ``objects/17``: git's own estimator of the loose count / 256."""
    try:
        return sum(1 for name in os.listdir(repo.common_dir / "objects" / "17")
                   if len(name) == 38)
    except FileNotFoundError:
        return 0


def keep_healthy(repo: Repo, force: bool = False) -> bool:
    """Pack refs and loose objects when the loose estimate nears git's threshold."""
    if not force and loose_sample(repo) < SAMPLE_LIMIT:
        return False
    lock_path = repo.state_dir / "maintenance.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # another process is packing right now
        try:
            repo.run_git("pack-refs", "--all")
            repo.run_git("repack", "-d", "-q", "--geometric=2")
        except GitError as exc:
            # A ref another process updates at this moment makes pack-refs fail; the next
            # run's check tries again. Housekeeping never fails the run that triggered it.
            log.warning("Packing the repository failed, to be retried: %s", exc)
            return False
    return True
