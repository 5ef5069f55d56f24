"""git's own rules for paths in a tree, applied to every path that comes from a record.

A path recorded by a run (an artifact's logical path, a file in a directory listing, a stored
input's path) or sent to the UI is untrusted input once it arrived from a remote or a bundle.
It passes here only if git itself would accept it in a tree on every platform git protects
(``verify_path`` in git's read-cache.c with ``core.protectNTFS`` and ``core.protectHFS`` on):

- relative (no leading ``/``, no ``C:``), no NUL and no backslash (a separator on NTFS);
- no empty, ``.`` or ``..`` component;
- no component that is ``.git`` in any case (CVE-2014-9390), nor one that NTFS or HFS+ would
  open as ``.git``: ``.git`` followed by dots or spaces (``.git.``, ``.git ``) or an
  alternate data stream (``.git::$INDEX_ALLOCATION``), the 8.3 short name ``git~1``, and
  ``.git`` with code points HFS+ ignores (U+200C..U+200F, U+202A..U+202E, U+206A..U+206F,
  U+FEFF) mixed in.

A symbolic link inside a directory artifact must also not be named like ``.gitmodules``,
``.gitattributes`` or ``.gitignore`` (git refuses those as links, CVE-2018-11235).
"""

from __future__ import annotations

import re

from gittrack.core.errors import UnsafePathError

_DRIVE = re.compile(r"[A-Za-z]:")
# Code points HFS+ drops when it compares names (git's utf8.c next_hfs_char).
_HFS_IGNORED = frozenset(
    [0x200C, 0x200D, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E,
     0x206A, 0x206B, 0x206C, 0x206D, 0x206E, 0x206F, 0xFEFF])
_LINK_GUARDED = ("gitmodules", "gitattributes", "gitignore")


def _folded(component: str) -> str:
    """The component as HFS+ compares it: ignorable code points dropped, ASCII lower-cased."""
    return "".join(c for c in component if ord(c) not in _HFS_IGNORED).lower()


def _ntfs_base(component: str) -> str:
    """The name NTFS opens: an alternate data stream cut off, trailing dots and spaces dropped."""
    return component.partition(":")[0].rstrip(". ")


def is_dotgit(component: str, name: str = "git") -> bool:
    """Whether a path component is opened as ``.<name>`` on some platform git protects."""
    folded = _folded(component)
    if folded == "." + name:
        return True
    # NTFS's spellings; HFS's ignorable code points dropped too, which only ever refuses more
    base = _ntfs_base(folded)
    if base == "." + name:
        return True
    # NTFS 8.3 short names (git's path.c): git~1 for .git; for the longer names the first
    # six characters, then ~1..~4.
    if name == "git":
        return base == "git~1"
    return len(base) == 8 and base.startswith(name[:6] + "~") and base[-1] in "1234"


def tree_path_problem(path: object) -> str | None:
    """Why ``path`` is not a path git accepts in a tree (a clause), or None when it is."""
    if not isinstance(path, str) or not path:
        return "is empty"
    if "\x00" in path or "\\" in path:
        return "contains a backslash or NUL, which git refuses in a tree"
    if path.startswith("/") or _DRIVE.match(path):
        return "is absolute"
    for part in path.split("/"):
        if part in ("", "."):
            return "has an empty or '.' component"
        if part == "..":
            return "climbs out with '..'"
        if is_dotgit(part):
            return f"has the component {part!r}, which git refuses in a tree because it opens .git"
    return None


def check_tree_path(path: object, what: str = "Recorded path") -> str:
    """``path`` itself when git would accept it in a tree, else UnsafePathError (one sentence)."""
    why = tree_path_problem(path)
    if why is not None:
        raise UnsafePathError(f"{what} {path!r} {why}; gittrack refuses it, as git would.")
    return str(path)


def link_name_problem(path: str) -> str | None:
    """Why a symbolic link may not have this path (git refuses these names as links)."""
    base = path.rpartition("/")[2]
    for name in _LINK_GUARDED:
        if is_dotgit(base, name):
            return f"is a symbolic link named like .{name}, which git refuses"
    return None
