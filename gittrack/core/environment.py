"""What a run records of its environment: who, where, which Python and which packages.

Mapping imported modules to distributions with ``importlib.metadata.packages_distributions``
costs ~0.3 s on this machine, too slow for every run; the map is cached on disk, keyed by
``sys.path`` and the modification times of its directories (an install changes them).
"""

from __future__ import annotations

import functools
import getpass
import hashlib
import json
import os
import platform
import socket
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gittrack.core.records import os_text
from gittrack.core.secrets import redact_argv

_DIST_MAP: dict[str, list[str]] | None = None
_VERSIONS: dict[str, str] = {}


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe() -> dict[str, Any]:
    """User, host, pid, command line, Python and platform of this process."""
    user, host, python, system = _fixed()
    return {
        "user": user,
        "host": host,
        "pid": os.getpid(),
        # --password=... is never recorded; arguments and directories are bytes to the system:
        # what is not UTF-8 is kept as the exact bytes (YAML !!binary; docs/format.md).
        "command": [os_text(arg) for arg in redact_argv([sys.executable, *sys.argv])],
        "cwd": os_text(_cwd()),
        "python": python,
        "platform": system,
    }


@functools.lru_cache(maxsize=1)
def _fixed() -> tuple[str, str, str, str]:
    # what a process does not change while it runs: asked once, not at every run's start
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = os.environ.get("USER", "unknown")
    return (_text(user), _text(socket.gethostname()), platform.python_version(),
            _text(platform.platform()))


def _cwd() -> str:
    try:
        return os.getcwd()
    except OSError:  # the directory was removed under the process
        return os.environ.get("PWD", "")


def _text(text: str) -> str:
    # User and host names are shown in tables and indexed: kept as text, with a byte that
    # is not UTF-8 written as a backslash escape (\xff).
    if not _needs_escape(text):
        return text
    data = os_text(text)
    return data.decode("utf-8", "backslashreplace") if isinstance(data, bytes) else data


def _needs_escape(text: str) -> bool:
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def imported_packages(cache_dir: Path | None = None) -> dict[str, str]:
    """``{distribution: version}`` of the non-standard-library modules imported so far."""
    dist_map = _distribution_map(cache_dir)
    stdlib = sys.stdlib_module_names
    tops = {name.partition(".")[0] for name in list(sys.modules)}
    found: dict[str, str] = {}
    for top in tops:
        if top in stdlib or top.startswith("_"):
            continue
        for dist in dist_map.get(top, ()):
            version = _version(dist)
            if version:
                found[dist] = version
    return dict(sorted(found.items(), key=lambda kv: kv[0].lower()))


def _version(dist: str) -> str | None:
    from importlib import metadata

    if dist not in _VERSIONS:
        try:
            _VERSIONS[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            _VERSIONS[dist] = ""
    return _VERSIONS[dist] or None


def _distribution_map(cache_dir: Path | None) -> dict[str, list[str]]:
    global _DIST_MAP
    if _DIST_MAP is not None:
        return _DIST_MAP
    key = _path_key()
    cached = cache_dir / "distributions.json" if cache_dir else None
    try:
        doc = json.loads(cached.read_text()) if cached is not None else {}
    except (OSError, ValueError):
        doc = {}
    if isinstance(doc, dict) and doc.get("key") == key:
        _DIST_MAP = doc["map"]
        return _DIST_MAP
    from importlib import metadata

    _DIST_MAP = {k: list(v) for k, v in metadata.packages_distributions().items()}
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"key": key, "map": _DIST_MAP}))
            os.replace(tmp, cached)
        except OSError:
            pass  # a read-only state dir only costs speed
    return _DIST_MAP


def _path_key() -> str:
    # The script's directory ('' or sys.path[0]) changes with every file written there;
    # installed packages live in the other entries.
    parts = [sys.prefix]
    for entry in sys.path[1:]:
        try:
            parts.append(f"{entry}:{os.stat(entry or '.').st_mtime_ns}")
        except OSError:
            parts.append(entry)
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:16]


def executed_files(workdir: Path, candidates: Iterable[str]) -> list[str]:
    """Which of ``candidates`` (paths relative to ``workdir``) this process executed or
    imported: its ``__main__`` script and every module in ``sys.modules``.

    Plain string comparison of absolute paths, no file system calls per module, so it costs
    about a millisecond with a thousand modules loaded.
    """
    wanted = {os.path.normpath(os.path.join(workdir, rel)): rel for rel in candidates}
    if not wanted:
        return []
    real = os.path.realpath(workdir)
    if real != os.fspath(workdir):  # modules may name the work tree through a symlink
        wanted.update({os.path.normpath(os.path.join(real, rel)): rel for rel in candidates})
    found = set()
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str):
            continue
        known = _MODULE_PATHS.get(name)
        if known is None or known[0] != path:  # a module's file is made absolute once
            known = _MODULE_PATHS[name] = (path, os.path.abspath(path))
        rel = wanted.get(known[1])
        if rel is not None:
            found.add(rel)
    return sorted(found)


_MODULE_PATHS: dict[str, tuple[str, str]] = {}  # module name -> (__file__, its absolute path)
