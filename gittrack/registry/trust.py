"""Trust before unpickling: who vouches for a model that would run code when loaded.

A pickled model (``uses_pickle``: python_function models, scikit-learn models saved as a
stated pickle fallback or before skops) is loaded only when one of these vouches for it:

- its run commit, or the registry tag it was reached through, was made in this clone
  (gittrack.core.provenance remembers what gittrack wrote here);
- that commit or tag is signed by a key in ``.gittrack/allowed_signers`` (for a tag, with the
  key's principal matching the tag's actor);
- the caller says so: ``load_model(..., trust=True)`` or ``GITTRACK_TRUST_ALL=1``.

Otherwise UntrustedModelError names the author and how to trust them. skops and XGBoost
models never run code when loaded, so they load from anyone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from gittrack.core import provenance, signing
from gittrack.core.errors import UntrustedModelError
from gittrack.core.store import Store
from gittrack.registry.signatures import Signatures, against_actor

TRUST_ENV = "GITTRACK_TRUST_ALL"


@dataclass(frozen=True)
class Voucher:
    """What one object says about a model's provenance."""

    subject: str  # "run 1a2b3c4d5e6f" or "tag forecaster/prod/v3"
    author: str  # the commit's author or the tag's actor ("Name <email>")
    trusted: bool
    why: str  # "made in this clone", "signed by ...", or why not


def trust_all() -> bool:
    """Whether ``GITTRACK_TRUST_ALL`` asks to trust every author (1, true, yes)."""
    return os.environ.get(TRUST_ENV, "").strip().lower() in ("1", "true", "yes")


def vouch_commit(store: Store, commit: str, made: frozenset[str]) -> Voucher:
    """Whether the run commit was made here or is signed by an allowed key."""
    repo = store.repo
    author = repo.run_git("show", "-s", "--format=%an <%ae>", commit, check=False).stdout.strip()
    run_id = (store.read_file(commit, "run.yaml") or {}).get("id") or commit[:12]
    subject = f"run {run_id}"
    if commit in made:
        return Voucher(subject, author, True, "made in this clone")
    found = against_actor(signing.verify_commit(repo, commit), author)
    if found.verified:
        return Voucher(subject, author, True, found.detail)
    return Voucher(subject, author, False, f"not made in this clone and {found.detail}")


def vouch_tag(store: Store, tag: str, actor: str, made: frozenset[str]) -> Voucher:
    """Whether the registry tag was made here or is signed by an allowed key in its actor's name."""
    oid = store.repo.resolve_ref(f"refs/tags/{tag}")
    subject = f"tag {tag}"
    if oid is not None and oid in made:
        return Voucher(subject, actor, True, "made in this clone")
    found = Signatures(store.repo).check([(tag, actor)]).get(tag)
    if found is not None and found.verified:
        return Voucher(subject, actor, True, found.detail)
    detail = found.detail if found is not None else "missing"
    return Voucher(subject, actor, False, f"not made in this clone and {detail}")


def require_trusted(store: Store, what: str, commit: str,
                    tag: tuple[str, str] | None = None) -> Voucher:
    """The voucher that lets the pickled model ``what`` load; UntrustedModelError when none.

    ``tag`` is ``(tag name, actor)`` of the registry event a ``models:/`` URI resolved through.
    """
    made = provenance.made_here(store.repo.state_dir)
    vouchers = [vouch_commit(store, commit, made)]
    if tag is not None:
        vouchers.append(vouch_tag(store, *tag, made))
    for voucher in vouchers:
        if voucher.trusted:
            return voucher
    author = vouchers[-1].author or vouchers[0].author or "an unknown author"
    said = "; ".join(f"{v.subject} by {v.author or 'an unknown author'} is {v.why}" for v in vouchers)
    raise UntrustedModelError(
        f"Model {what} is a pickle, which runs code when loaded, and nothing here vouches for "
        f"it ({said}); if you trust {author}, add their signing key to "
        f"{signing.ALLOWED_SIGNERS} and have them sign with --sign, or load it with trust=True "
        f"(or {TRUST_ENV}=1).")
