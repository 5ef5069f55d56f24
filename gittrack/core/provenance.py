"""What this clone made itself: the ids of the commits and tag objects gittrack wrote here.

A pulled run can claim any author and a registry tag any actor (both are self-declared), so
"made in this clone" cannot be read from the objects: it is remembered, in
``<git common dir>/gittrack/made-here-v1.txt``, one object id a line, appended whenever
gittrack writes a commit or a tag (gittrack.core.gitio, gittrack.core.signing). Objects
fetched from a remote or a bundle never enter it. The file is local state (never pushed); a
line torn by a crash is ignored. Deleting it only makes this clone's own pickled models ask
for trust (``trust=True``) or a signature.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

FILE = "made-here-v1.txt"
_OID = re.compile(rb"[0-9a-f]{40}(?:[0-9a-f]{24})?")


def note_made(state_dir: Path, *oids: str) -> None:
    """Remember that gittrack wrote ``oids`` here (one ``O_APPEND`` write; a read-only
    repository simply remembers nothing)."""
    if not oids:
        return
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(state_dir / FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:
        return
    try:
        os.write(fd, "".join(f"{oid}\n" for oid in oids).encode("ascii"))
    except OSError:
        pass
    finally:
        os.close(fd)


def made_here(state_dir: Path) -> frozenset[str]:
    """Every object id gittrack wrote in this clone."""
    try:
        data = (state_dir / FILE).read_bytes()
    except OSError:
        return frozenset()
    return frozenset(line.decode("ascii") for line in data.splitlines() if _OID.fullmatch(line))
