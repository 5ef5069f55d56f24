"""Keep the repository healthy while runs pile up.

Each commit of a run is one small pack (gittrack.core.packs), and each run a loose ref. git's
``gc --auto`` fires inside the user's next ``git commit`` once more than 50 packs
(``gc.autoPackLimit``) or ~6,700 loose objects exist, and then took 45 s at 10k runs (NOTES).
So gittrack tidies first, at the end of a run: it rolls its small packs geometrically (the
packs left grow at least twofold in size, so they number about log2 of the objects), packs
loose refs (``git pack-refs --all``), and when other writers left many loose objects
(estimated as git does, from ``objects/17`` times 256) runs a geometric ``git repack -d``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from pathlib import Path

from gittrack.core import packs
from gittrack.core.errors import GitError
from gittrack.core.gitio import Repo

log = logging.getLogger("gittrack")

# Repack at ~2,000 estimated loose objects (8 in the 1/256 sample), well under git's 6,700.
SAMPLE_LIMIT = int(os.environ.get("GITTRACK_REPACK_SAMPLE", "8"))
# Runs write their objects as small packs (gittrack.core.packs.write_pack_files); this many
# packs of at most ROLL_MAX bytes are rolled into fewer, so packs stay far below git's
# gc.autoPackLimit (50) and a lookup never searches hundreds of them.
ROLL_PACKS = int(os.environ.get("GITTRACK_ROLL_PACKS", "16"))
ROLL_MAX = 256 << 20
FOREIGN_AGE = 60  # seconds before another process's pack may be rolled here
# Loose run refs are packed when they reach this many, or 1/50 of the packed ones: packing
# rewrites the whole packed-refs file, so at a million runs it is done more rarely, keeping
# its cost per run flat.
REF_LIMIT = 500
_deltas: set[str] = set()  # packs found to hold deltas (git wrote them): never rolled
_calls = 0


def loose_sample(repo: Repo) -> int:
    """Loose objects in ``objects/17``: git's own estimator of the loose count / 256."""
    try:
        return sum(1 for name in os.listdir(repo.common_dir / "objects" / "17")
                   if len(name) == 38)
    except FileNotFoundError:
        return 0


def loose_run_refs(repo: Repo) -> int:
    """How many run refs are loose files (not yet in packed-refs)."""
    count = 0
    try:
        experiments = list(os.scandir(repo.common_dir / "refs" / "gittrack" / "runs"))
    except OSError:
        return 0
    for entry in experiments:
        try:
            count += len(os.listdir(entry.path))
        except OSError:
            continue
    return count


def ref_limit(repo: Repo) -> int:
    try:
        packed = os.stat(repo.common_dir / "packed-refs").st_size // 100  # ~100 bytes a ref
    except OSError:
        packed = 0
    return max(REF_LIMIT, packed // 50)


def rollable_packs(repo: Repo) -> list[Path]:
    """Packs that may be rolled, smallest first: indexed, at most ROLL_MAX, no known delta,
    and settled: this process's own once their ref is written (gittrack.core.packs), another
    process's once a minute old (its writer wrote the ref within milliseconds, and rolls its
    own packs itself)."""
    pack_dir = repo.common_dir / "objects" / "pack"
    found = []
    try:
        entries = list(os.scandir(pack_dir))
    except OSError:
        return []
    names = {e.name for e in entries}
    pending = packs.unsettled()
    old = time.time() - FOREIGN_AGE
    for entry in entries:
        if entry.name.endswith(".pack") and entry.name[:-5] + ".idx" in names \
                and entry.name[:-5] + ".keep" not in names and entry.name not in _deltas \
                and entry.name not in pending:
            try:
                st = entry.stat()
            except OSError:
                continue
            if st.st_size <= ROLL_MAX and (entry.name in packs.OWN or st.st_mtime < old):
                found.append((st.st_size, Path(entry.path)))
    return [p for _size, p in sorted(found)]


def geometric(found: list[Path]) -> list[Path]:
    """The smallest packs to roll so that the packs left grow at least twofold in size."""
    sizes = []
    for path in found:
        try:
            sizes.append(path.stat().st_size)
        except OSError:
            sizes.append(0)
    take, total = 0, 0
    for i, size in enumerate(sizes):
        if take >= 2 and size > 2 * total:
            break
        take, total = i + 1, total + size
    return found[:take]


def keep_healthy(repo: Repo, force: bool = False) -> bool:
    """Pack refs and roll packs or loose objects when they near git's thresholds."""
    global _calls
    _calls += 1
    loose = loose_sample(repo) >= SAMPLE_LIMIT
    rollable = rollable_packs(repo)
    roll = len(rollable) >= ROLL_PACKS
    # counting loose refs lists up to thousands of names: every 16th run is often enough
    refs = (force or _calls % 16 == 0) and loose_run_refs(repo) >= ref_limit(repo)
    if not (force or loose or roll or refs):
        return False
    lock_path = repo.state_dir / "maintenance.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # another process is packing right now
        try:
            if force or loose or refs:
                repo.run_git("pack-refs", "--all")
            if force or roll:
                _roll(repo, rollable if force else geometric(rollable))
            if force or loose:
                repo.run_git("repack", "-d", "-q", "--geometric=2")
        except GitError as exc:
            # A ref another process updates at this moment makes pack-refs fail; the next
            # run's check tries again. Housekeeping never fails the run that triggered it.
            log.warning("Packing the repository failed, to be retried: %s", exc)
            return False
    return True


def _roll(repo: Repo, chosen: list[Path]) -> None:
    # a pack holding deltas (git wrote it) is left to git from now on
    _deltas.update(p.name for p in packs.roll_up(repo.common_dir / "objects" / "pack", chosen))
