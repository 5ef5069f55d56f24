"""Where a running ``gittrack ui`` serves a repository, so cards in a notebook can link to it.

``gittrack ui`` writes ``.git/gittrack/ui.json`` (its URL, pid and host) once it listens and
removes it when it stops. A reader trusts the file only while that process is alive on this
host, so a UI killed without cleaning up leaves no dead link.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from gittrack.core.environment import pid_alive
from gittrack.core.gitio import Repo

BEACON = "ui.json"


def announce(repo: Repo, url: str) -> Path:
    """Note that this process serves ``repo`` at ``url``; the file to :func:`withdraw`."""
    path = repo.state_dir / BEACON
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid(), "host": socket.gethostname()}))
    os.replace(tmp, path)
    return path


def withdraw(path: Path) -> None:
    """Remove the note of :func:`announce` if it is still this process's."""
    if _read(path).get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def running_url(repo: Repo) -> str | None:
    """The URL of a live ``gittrack ui`` serving ``repo``, ending in ``/``; None when none runs."""
    doc = _read(repo.state_dir / BEACON)
    url, pid = doc.get("url"), doc.get("pid")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return None
    if not isinstance(pid, int) or doc.get("host") != socket.gethostname() or not pid_alive(pid):
        return None
    return url if url.endswith("/") else url + "/"


def _read(path: Path) -> dict[str, object]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}

