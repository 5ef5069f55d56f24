"""Signed registry tags and run commits, made and checked with git's own machinery.

Signing goes through the git CLI (``git tag -s``, ``git commit-tree -S``), so whatever the
user set up for git applies: ``gpg.format=ssh`` with ``user.signingKey`` (an SSH key or the
agent), or GPG keys. Checking goes through ``git verify-tag`` / ``git verify-commit`` with
the project's allowed-signers file, ``.gittrack/allowed_signers`` in git's SSH
``allowedSignersFile`` format (``<email> [namespaces="git"] <key type> <key>`` a line,
committed with the code), and ``gpg.minTrustLevel=fully`` for GPG keys.

When HEAD holds a run record (``git checkout`` of a run or a registry tag), the work tree
is a pulled run's tree, whose allowed_signers file could be anyone's: it is not used then.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gittrack.core import provenance
from gittrack.core.errors import SignatureError
from gittrack.core.gitio import Repo

ALLOWED_SIGNERS = ".gittrack/allowed_signers"
RUN_RECORD = ".gittrack/run/run.yaml"
# git's parse_signed_buffer: a signature starts at the last line opening with one of these.
_SIG_START = re.compile(r"^-----BEGIN (?:PGP SIGNATURE|PGP MESSAGE|SSH SIGNATURE|SIGNED MESSAGE)-----$",
                        re.MULTILINE)
_SSH_GOOD = re.compile(r'Good "git" signature for (?P<who>\S+) with (?P<alg>\S+) key (?P<key>\S+)')
_SSH_ANY = re.compile(r'Good "git" signature with (?P<alg>\S+) key (?P<key>\S+)')
_GPG_GOOD = re.compile(r'Good signature from "(?P<who>[^"]+)"')
_GPG_KEY = re.compile(r"using \S+ key (?P<key>[0-9A-Fa-f]+)")


@dataclass(frozen=True)
class Verification:
    """What git says of one signed (or unsigned) object."""

    signed: bool
    verified: bool  # a good signature by a key the allowed-signers file (or GPG trust) names
    signer: str | None  # the principal (SSH: the allowed_signers email) or GPG user id
    key: str | None  # the key's fingerprint
    detail: str  # a clause for people: "signed by ada@example.com (ED25519 key SHA256:...)"

    @property
    def status(self) -> str:
        """``verified``, ``unsigned`` or ``unverified``."""
        return "verified" if self.verified else ("unverified" if self.signed else "unsigned")


UNSIGNED = Verification(False, False, None, None, "not signed")


def split_signature(message: str) -> tuple[str, str | None]:
    """``(message without its signature, the signature or None)`` of a tag annotation."""
    starts = [m.start() for m in _SIG_START.finditer(message)]
    if not starts:
        return message, None
    return message[:starts[-1]], message[starts[-1]:]


def allowed_signers(repo: Repo) -> Path | None:
    """The project's allowed-signers file, or None when there is none to trust.

    Read from the work tree; not when HEAD holds a run record, whose tree came from a run.
    """
    if repo.workdir is None:
        return None
    path = repo.workdir / ALLOWED_SIGNERS
    if not path.is_file():
        return None
    head = repo.head_commit()  # in process: verifying many tags asks this for each
    return None if head is not None and repo.read_blob(head, RUN_RECORD) is not None else path


def no_signers_reason(repo: Repo) -> str:
    """Why no allowed-signers file is used (for messages), "" when one is."""
    if allowed_signers(repo) is not None:
        return ""
    if repo.workdir is not None and (repo.workdir / ALLOWED_SIGNERS).is_file():
        return (f"{ALLOWED_SIGNERS} is not used while HEAD is a checked-out run (switch back "
                "to a branch)")
    return f"this project has no {ALLOWED_SIGNERS}"


def verify_tag(repo: Repo, name: str, message: str | None = None) -> Verification:
    """Verify the annotated tag ``refs/tags/<name>``; ``message`` (its annotation, when the
    caller has it) lets an unsigned tag be answered without running git."""
    if message is not None and split_signature(message)[1] is None:
        return UNSIGNED
    return _verify(repo, "tag", f"refs/tags/{name}")


def verify_commit(repo: Repo, commit: str) -> Verification:
    """Verify a commit's signature (a run signed with ``sign_runs: true``)."""
    return _verify(repo, "commit", commit)


def _verify(repo: Repo, kind: str, what: str) -> Verification:
    signers = allowed_signers(repo)
    proc = _git(repo, "-c", f"gpg.ssh.allowedSignersFile={signers or os.devnull}",
                "-c", "gpg.minTrustLevel=fully", f"verify-{kind}", what)
    out = proc.stderr + proc.stdout
    if "no signature found" in out:
        return UNSIGNED
    ssh, gpg = _SSH_GOOD.search(out), _GPG_GOOD.search(out)
    key_match = _SSH_ANY.search(out) or _GPG_KEY.search(out)
    good = ssh or gpg
    who = good["who"] if good else None
    key = (ssh["key"] if ssh else None) or (key_match["key"] if key_match else None)
    if proc.returncode == 0 and good:
        alg = f"{ssh['alg']} key {ssh['key']}" if ssh else f"key {key}"
        return Verification(True, True, who, key, f"signed by {who} ({alg})")
    if gpg and not ssh:
        return Verification(True, False, who, key,
                            f"signed by {who} with a GPG key git does not trust fully")
    if key_match or "No principal matched" in out:
        why = f"which is not in {ALLOWED_SIGNERS}" if signers is not None \
            else f"but {no_signers_reason(repo)}"
        return Verification(True, False, None, key, f"signed with key {key}, {why}")
    return Verification(True, False, None, None, "signed, but the signature does not verify")


def create_signed_tag(repo: Repo, name: str, target: str, message: str) -> bool:
    """Create the signed annotated tag ``name`` on ``target`` with ``git tag -s``; False when
    the name is taken (git refuses an existing tag), SignatureError when signing fails."""
    proc = _git(repo, "tag", "-s", "--cleanup=verbatim", "-F", "-", name, target, stdin=message)
    if proc.returncode != 0 and "already exists" in proc.stderr:
        return False
    oid = _git(repo, "rev-parse", "--verify", "-q", f"refs/tags/{name}").stdout.strip()
    body = _git(repo, "cat-file", "tag", oid).stdout if oid else ""
    if proc.returncode != 0 or split_signature(body)[1] is None:
        # git 2.39 exits 0 and writes an unsigned tag when the SSH key file is missing
        if oid and proc.returncode == 0:
            _git(repo, "update-ref", "-d", f"refs/tags/{name}", oid)
        raise SignatureError(
            f"git could not sign tag {name} ({_reason(proc.stderr)}); set up signing as for "
            "`git tag -s` (user.signingKey, and gpg.format=ssh for an SSH key) or drop --sign.")
    provenance.note_made(repo.state_dir, oid)
    return True


def sign_commit(repo: Repo, commit: str) -> str:
    """A signed copy of ``commit`` (same tree, parents, author, committer and message), made
    with ``git commit-tree -S``; SignatureError when git cannot sign."""
    raw = _git(repo, "cat-file", "commit", commit).stdout
    head, _, message = raw.partition("\n\n")
    env = dict(os.environ)
    parents: list[str] = []
    tree = ""
    for line in head.splitlines():
        field, _, value = line.partition(" ")
        if field == "tree":
            tree = value
        elif field == "parent":
            parents += ["-p", value]
        elif field in ("author", "committer"):
            who, _, when = value.rpartition("> ")
            name, _, email = who.partition(" <")
            role = "AUTHOR" if field == "author" else "COMMITTER"
            env.update({f"GIT_{role}_NAME": name, f"GIT_{role}_EMAIL": email,
                        f"GIT_{role}_DATE": when})
    proc = _git(repo, "commit-tree", "-S", *parents, "-F", "-", tree, stdin=message, env=env)
    signed = proc.stdout.strip()
    if proc.returncode != 0 or "\ngpgsig " not in _git(repo, "cat-file", "commit", signed).stdout:
        raise SignatureError(
            f"git could not sign the run commit ({_reason(proc.stderr)}); set up signing as for "
            "`git commit -S` (user.signingKey, and gpg.format=ssh for an SSH key).")
    provenance.note_made(repo.state_dir, signed)
    return signed


def _reason(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    return (lines[0].removeprefix("error: ").removeprefix("fatal: ").rstrip(".")
            if lines else "no output")


def _git(repo: Repo, *args: str, stdin: str | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", f"--git-dir={repo.git_dir}", *args], input=stdin,
                          capture_output=True, text=True, check=False, env=env,
                          cwd=repo.workdir or repo.git_dir)
