"""What `git push --porcelain` said about each ref, and git's real reason for a rejection.

The porcelain lines give a flag and a short summary per ref (``[remote rejected] (failed to
update ref)``), but the cause is often only on stderr: ``remote: error: cannot lock ref
'<ref>': Unable to create '<path>.lock': File exists``, ``error: remote unpack failed: ...``,
``fatal: unable to read <oid>`` (an object missing here). This module pairs the two, so a
push reports for each rejected ref what git knows, and tells a ref the remote moved meanwhile
(plan again) from one that failed for good.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# What a rejection means for the push.
MOVED = "moved"  # the remote's ref changed since it was read: plan again
LOCKED = "locked"  # a lock file on the remote holds the ref
UNPACK = "unpack"  # the remote could not take the objects
MISSING = "missing-object"  # this repository lacks an object the push needs
AUTH = "auth"  # the remote refused who we are
REFUSED = "refused"  # any other refusal, in git's words

_LINE = re.compile(r"(?P<flag>[ +\-*=!])\t(?P<spec>[^\t]*)\t(?P<summary>.*)")
_LOCK = re.compile(r"cannot lock ref '(?P<ref>[^']+)': (?P<detail>.*?)\s*$")
_LOCK_FILE = re.compile(r"Unable to create '(?P<path>[^']+\.lock)': File exists")
_MISSING = re.compile(r"(?:unable to read|bad object|bad (?:blob|tree|commit) object|"
                      r"missing (?:blob|tree|commit) object)\s+(?P<oid>[0-9a-f]{40})")
_MOVED = ("non-fast-forward", "fetch first", "stale info", "already exists")
_AUTH = ("Authentication failed", "Permission denied", "could not read Username",
         "access denied", "not authorized", "403", "401")


@dataclass(frozen=True)
class RefStatus:
    """One ref of a push: git's flag and summary, and for a rejection its kind and reason."""

    ref: str
    flag: str  # ' ' fast-forward, '+' forced, '-' deleted, '*' new, '=' up to date, '!' rejected
    summary: str
    kind: str = ""  # one of the constants above when rejected
    reason: str = ""

    @property
    def rejected(self) -> bool:
        return self.flag == "!"


def parse(stdout: str, stderr: str) -> dict[str, RefStatus]:
    """``{destination ref: RefStatus}`` of a ``git push --porcelain`` run."""
    out: dict[str, RefStatus] = {}
    for line in stdout.splitlines():
        match = _LINE.fullmatch(line)
        if match is None:
            continue
        ref = match["spec"].rpartition(":")[2]
        flag, summary = match["flag"], match["summary"].strip()
        if flag == "!":
            kind, reason = explain(ref, summary, stderr)
            out[ref] = RefStatus(ref, flag, summary, kind, reason)
        else:
            out[ref] = RefStatus(ref, flag, summary)
    return out


def explain(ref: str, summary: str, stderr: str) -> tuple[str, str]:
    """The kind and git's reason in words for ``ref`` rejected with ``summary``."""
    lines = [_strip(line) for line in stderr.splitlines()]
    if any(word in summary for word in _MOVED):
        return MOVED, f"the remote's {ref} changed since it was read ({_inner(summary)})"
    for line in lines:
        lock = _LOCK.search(line)
        if lock and lock["ref"] == ref:
            held = _LOCK_FILE.search(lock["detail"])
            if held:
                return LOCKED, (f"the lock file {held['path']} exists on the remote: a git "
                                "process there is running, or one crashed and left it (remove "
                                "it on the remote if none is running)")
            return LOCKED, f"the remote cannot lock it ({lock['detail'].rstrip('.')})"
    for line in lines:
        missing = _MISSING.search(line)
        if missing and not line.startswith("remote:"):
            return MISSING, (f"object {missing['oid'][:12]} is missing from this repository "
                             "(list what is damaged with `gittrack doctor`)")
    if "unpack" in summary:
        return UNPACK, f"the remote could not unpack the objects ({_unpack_detail(lines)})"
    for line in lines:
        if any(word in line for word in _AUTH):
            return AUTH, f"the remote refused access ({line.rstrip('.')})"
    detail = _remote_detail(lines, ref)
    return REFUSED, f"{summary}" + (f": {detail}" if detail else "")


def failure(stderr: str) -> str:
    """git's own reason for a push or fetch that failed as a whole (no ref lines): the first
    ``fatal:``/``error:`` line (the lines after it are generic advice), else the last line."""
    lines = [_strip(ln) for ln in stderr.strip().splitlines() if ln.strip()]
    for line in lines:
        missing = _MISSING.search(line)
        if missing and not line.startswith("remote:"):
            return (f"object {missing['oid'][:12]} is missing from this repository; list what "
                    "is damaged with `gittrack doctor`")
    for line in lines:
        for prefix in ("fatal:", "error:"):
            if line.startswith(prefix):
                return line[len(prefix):].strip().rstrip(".")
    return lines[-1].rstrip(".") if lines else "no output"


def _unpack_detail(lines: list[str]) -> str:
    found = []
    for line in lines:
        text = line.removeprefix("remote:").strip()
        for prefix in ("fatal:", "error:"):
            if text.startswith(prefix) and "failed to push some refs" not in text:
                found.append(text[len(prefix):].strip().rstrip("."))
    return "; ".join(dict.fromkeys(found)) or "no detail from git"


def _remote_detail(lines: list[str], ref: str) -> str:
    for line in lines:
        if line.startswith("remote:") and (ref in line or "error:" in line):
            text = line.removeprefix("remote:").strip()
            return text.removeprefix("error:").strip().rstrip(".")
    return ""


def _inner(summary: str) -> str:
    match = re.search(r"\(([^)]*)\)", summary)
    return match.group(1) if match else summary


def _strip(line: str) -> str:
    # git pads "remote:" lines with spaces and terminal escapes to erase progress output.
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", line).strip()
