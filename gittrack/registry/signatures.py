"""Who signed each registry event: ``git verify-tag`` against the project's allowed signers.

A tag's ``actor`` is self-declared: anyone can write ``actor: "Ada <ada@example.com>"``. A
signed tag (``gittrack promote --sign``) is verified by git with ``.gittrack/allowed_signers``
(gittrack.core.signing); it counts as verified only when the key's principal also matches
the actor's email, so a colleague's key cannot vouch for an event that names someone else.

Verdicts are remembered by tag object id in ``.git/gittrack/registry/signatures-v1.jsonl``
(a :class:`gittrack.registry.resolver.LineCache`), each with a digest of the allowed-signers
file it was made against, so editing that file re-checks every signed tag once. An unsigned
tag is answered from its annotation without running git.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterable
from dataclasses import astuple

from gittrack.core import signing
from gittrack.core.errors import GittrackError, SignatureError
from gittrack.core.gitio import Repo
from gittrack.core.signing import Verification
from gittrack.core.store import Store
from gittrack.registry.resolver import LineCache, Registry, parse_model_ref
from gittrack.registry.tags import Event

FORMAT = 1


class Signatures:
    """Verify registry tags of one repository, with a cache of verdicts."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.cache = LineCache(repo.state_dir / "registry" / f"signatures-v{FORMAT}.jsonl")
        self.digest = _signers_digest(repo)
        self._refs: dict[str, str] | None = None  # the tag refs, read once per instance

    def check(self, items: Iterable[tuple[str, str]]) -> dict[str, Verification]:
        """``{tag: Verification}`` of ``(tag name, actor)`` pairs (tags missing here are skipped)."""
        if self._refs is None:
            self._refs = self.repo.list_refs("refs/tags/")
        refs = self._refs
        wanted = {tag: (actor, refs[f"refs/tags/{tag}"]) for tag, actor in items
                  if f"refs/tags/{tag}" in refs}
        known = self.cache.get(oid for _actor, oid in wanted.values())
        out: dict[str, Verification] = {}
        fresh: dict[str, list[object]] = {}
        for tag, (actor, oid) in wanted.items():
            row = known.get(oid)
            if row and row[0] == self.digest and len(row) == 6:
                out[tag] = Verification(*row[1:])
                continue
            info = self.repo.read_tag(tag, oid)
            found = signing.verify_tag(self.repo, tag, info.message if info else None)
            out[tag] = against_actor(found, actor)
            fresh[oid] = [self.digest, *astuple(out[tag])]
        self.cache.add(fresh)
        return out

    def require(self, tag: str, actor: str, what: str) -> Verification:
        """The verification of ``tag``; SignatureError (one sentence) unless it is verified."""
        found = self.check([(tag, actor)]).get(tag)
        if found is None or not found.verified:
            detail = found.detail if found is not None else "missing here"
            raise SignatureError(
                f"{what} stands on tag {tag}, which is {detail}; sign registry events with "
                f"--sign (or `sign: true` in .gittrack/config.yaml) and list the signers' keys "
                f"in {signing.ALLOWED_SIGNERS}.")
        return found


def against_actor(found: Verification, actor: str) -> Verification:
    """A verified signature whose principal is not the actor's email is not verified: the
    signer vouches only for events in their own name."""
    if not found.verified or found.signer is None:
        return found
    email = actor.rpartition("<")[2].rstrip(">").strip().lower()
    if fnmatch.fnmatchcase(email, found.signer.lower()):
        return found
    return Verification(True, False, found.signer, found.key,
                        f"signed by {found.signer}, but it names {actor} as its actor")


def _signers_digest(repo: Repo) -> str:
    path = signing.allowed_signers(repo)
    if path is None:
        return "none"
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError as exc:
        raise SignatureError(f"Cannot read {path} ({exc.strerror}); check its permissions.") from exc


def verify_target(store: Store, text: str) -> tuple[str, Verification]:
    """``(what was checked, its verification)`` for a tag name, a model reference
    (``forecaster/prod``, ``models:/forecaster/3``: the tag the reference stands on) or a run.
    """
    from gittrack import query  # lazy: only `gittrack verify RUN` resolves runs
    repo = store.repo
    registry = Registry(store)
    if repo.resolve_ref(f"refs/tags/{text}") is not None:
        event = _event_of_tag(registry, text)
        if event is None:
            return f"tag {text}", signing.verify_tag(repo, text)
        return f"tag {text}", Signatures(repo).check([(text, event.actor)])[text]
    try:
        version = registry.resolve(text)
    except GittrackError:
        version = None
    if version is not None:
        promotion = registry.model(version.model).current.get(parse_model_ref(text)[1])
        tag, actor = (promotion.tag, promotion.actor) if promotion else (version.tag, version.actor)
        return f"tag {tag} ({text})", Signatures(repo).check([(tag, actor)])[tag]
    _ref, commit = query.resolve(store, text)
    author = repo.run_git("show", "-s", "--format=%an <%ae>", commit, check=False).stdout.strip()
    return f"run commit {commit[:12]}", against_actor(signing.verify_commit(repo, commit), author)


def _event_of_tag(registry: Registry, tag: str) -> Event | None:
    name = tag.partition("/")[0]
    try:
        model = registry.model(name, must_exist=False)
    except GittrackError:
        return None
    return next((e for e in model.history if e.tag == tag), None)
