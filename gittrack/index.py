"""The derived summary index: one JSON line a run commit, under ``.git/gittrack/index``.

Commits never change, so a summary keyed by commit id never goes stale (DESIGN section 7).
The file can be deleted at any time and is rebuilt on the next read; it is never the source
of truth. Appends are single ``write`` calls on an ``O_APPEND`` file, so concurrent writers
interleave whole lines; a torn or foreign line is ignored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gittrack.store import Store

INDEX_FORMAT = 1


class Index:
    """Summaries of run commits, read from the index file or from git when missing."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.path: Path = store.repo.state_dir / "index" / f"summaries-v{INDEX_FORMAT}.jsonl"

    def load(self) -> dict[str, dict[str, Any]]:
        """``{commit: summary}`` as stored (possibly with entries no ref points at)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        out: dict[str, dict[str, Any]] = {}
        for line in data.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line torn by a crash; the summary is recomputed
            if isinstance(entry, dict) and isinstance(entry.get("commit"), str):
                out[entry["commit"]] = entry
        return out

    def summaries(self, refs: Mapping[str, str]) -> list[dict[str, Any]]:
        """Summaries of the commits ``refs`` point at, filling the index for new ones."""
        known = self.load()
        missing = [c for c in set(refs.values()) if c not in known]
        fresh = [self.store.read_run(c).summary() for c in missing]
        if fresh:
            self.append(fresh)
            known.update((s["commit"], s) for s in fresh)
        if len(known) > 2 * max(len(refs), 1000):
            self.compact(known[c] for c in set(refs.values()))
        return [known[c] for c in refs.values()]

    def append(self, entries: Iterable[Mapping[str, Any]]) -> None:
        blob = "".join(json.dumps(e, separators=(",", ":"), allow_nan=True) + "\n"
                       for e in entries).encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, blob)
        finally:
            os.close(fd)

    def compact(self, live: Iterable[Mapping[str, Any]]) -> None:
        """Rewrite the file with only ``live`` summaries (atomic rename)."""
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in live))
        os.replace(tmp, self.path)

    def rebuild(self) -> int:
        """Drop the index and summarise every run again; returns the number of runs."""
        self.path.unlink(missing_ok=True)
        return len(self.summaries(self.store.refs()))
