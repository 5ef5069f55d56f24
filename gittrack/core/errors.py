"""The one exception tree of gittrack.

Every message is one sentence that says what failed and what to do next.
Library code raises only these; the CLI maps them to exit codes.
"""

from __future__ import annotations


class GittrackError(Exception):
    """Base of every error gittrack raises on purpose."""


class NotARepositoryError(GittrackError):
    """No git repository where gittrack was asked to work."""


class RunNotFoundError(GittrackError):
    """A run reference resolved to nothing."""


class AmbiguousRunError(GittrackError):
    """A run reference matched more than one run."""


class InvalidInputError(GittrackError, ValueError):
    """A name, key or value that gittrack cannot record."""


class RunStateError(GittrackError):
    """An operation that the run's state does not allow (logging after end, ...)."""


class GitError(GittrackError):
    """git or libgit2 failed underneath."""


class MissingObjectError(GitError):
    """A git object that a ref or a run record names is not in this repository."""

    def __init__(self, message: str, oid: str = "") -> None:
        super().__init__(message)
        self.oid = oid


class ArtifactError(GittrackError):
    """An artifact could not be stored, found or verified."""


class IntegrityError(ArtifactError):
    """Stored content no longer matches its recorded hash."""


class UnsafePathError(ArtifactError):
    """A recorded path would leave the workspace."""


class ModelError(GittrackError):
    """A model could not be saved, described or loaded."""


class UntrustedModelError(ModelError):
    """A model would run code when loaded (a pickle) and nobody trusted vouches for it."""


class SignatureError(GittrackError):
    """A signature could not be made, or a run or tag is not signed by an allowed key."""


class FilterError(InvalidInputError):
    """A filter expression could not be parsed."""


class RegistryError(GittrackError):
    """A registry operation (register, promote, rollback) was refused."""


class RemoteError(GittrackError):
    """Pushing or pulling runs, tags or artifacts failed."""


class PushRejectedError(RemoteError):
    """The remote rejected some refs of a push; ``rejected`` maps each to git's reason."""

    def __init__(self, message: str, rejected: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.rejected = dict(rejected or {})
