"""The only module that imports pygit2: every git read and write of gittrack goes through here.

pygit2 errors become :class:`GitError` with one sentence. Nothing here touches HEAD, the
index or the working tree: commits are written with no ref (``create_commit(None, ...)``)
and refs are set directly.

pygit2 takes ~85 ms to import, more than a read-only command such as ``gittrack models``
needs in all: the repository is found and refs are read with plain file reads, and pygit2 is
imported (inside the methods) only when an object is read or written.
"""

from __future__ import annotations

import mmap
import os
import random
import re
import subprocess
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from gittrack.core import packs, provenance
from gittrack.core.errors import GitError, MissingObjectError, NotARepositoryError

GIT_FILEMODE_BLOB = 0o100644
GIT_FILEMODE_EXEC = 0o100755
GIT_FILEMODE_LINK = 0o120000
GIT_FILEMODE_TREE = 0o040000

if TYPE_CHECKING:
    import pygit2

T = TypeVar("T")
# libgit2 errors that mean "git's own maintenance is moving things right now": `git pack-refs`
# locks each loose ref while pruning it and removes emptied directories under refs/, and
# `git repack -d`/`prune-packed` (git gc) remove emptied directories under objects/, so a
# concurrent ref or object write fails to lock its file, to make its directory or to rename
# its temporary file into place. Retried (writing an object again is harmless).
_REF_RACES = ("lock", "directory", "No such file", "File exists", "packed-refs",
              "reference has changed", "unexpected", "old reference value")
REF_ATTEMPTS = 12  # with backoff from 5 ms, doubling up to 200 ms: ~1.5 s in all

NO_REPO = (
    "Not inside a git repository; run `gittrack init` here first, or set GITTRACK_REPO "
    "to a repository."
)


@dataclass(frozen=True)
class Snapshot:
    """What the working copy looked like when a run started."""

    baseline: str | None  # commit HEAD pointed at, None in a repository with no commit
    branch: str | None
    tree: str | None  # baseline tree with uncommitted edits of tracked files applied
    dirty: bool
    untracked: tuple[str, ...]


@dataclass(frozen=True)
class TagInfo:
    """A tag as the registry reads it."""

    name: str  # without refs/tags/
    target: str  # the peeled object id
    target_type: str  # "commit", "tree", "blob"
    message: str | None  # None for a lightweight tag


class Repo:
    """A git repository as gittrack uses it."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        start = os.fspath(path) if path is not None else os.getcwd()
        known = _found_before(start)
        if known is None:
            found = discover(start)
            if found is None:
                raise NotARepositoryError(NO_REPO)
            known = (found, _common_dir(found.git_dir))
            _remember(start, known)
        (self.git_dir, self._workdir, self._open_path), self.common_dir = known
        self.state_dir = self.common_dir / "gittrack"

    @cached_property
    def git(self) -> pygit2.Repository:
        """The libgit2 repository, opened on first use, or a warm one from the pool.

        A new libgit2 repository parses the whole packed-refs file on its first ref write
        (3.9 ms at 11,000 runs, against 0.2 ms on a reused one), so each run of a sweep
        opening its own made run creation slow down as runs piled up. Opened repositories go
        back to a per-process pool when their Repo is dropped; each is used by one Repo at a
        time, since libgit2 objects are not for sharing between threads.
        """
        import pygit2

        key = str(self._open_path)
        pooled = _POOL.get(key)
        if pooled:
            git = pooled.pop()
        else:
            try:  # from the directory holding .git, so libgit2 follows a `gitdir:` file itself
                git = pygit2.Repository(key)
            except pygit2.GitError as exc:
                raise GitError(f"Cannot open the git repository at {self.git_dir}: {exc}.") from exc
        self._give_back = weakref.finalize(self, _give_back, key, git)
        return git

    @property
    def workdir(self) -> Path | None:
        """The working tree, None for a bare repository."""
        if self._workdir is _ASK_LIBGIT2:
            self._workdir = Path(self.git.workdir) if self.git.workdir else None
        return self._workdir  # type: ignore[return-value]

    # -- reading -----------------------------------------------------------------------
    def head_commit(self) -> str | None:
        import pygit2

        try:
            if self.git.head_is_unborn:
                return None
            return str(self.git.head.target)
        except pygit2.GitError:
            return None

    def branch(self) -> str | None:
        import pygit2

        try:
            if self.git.head_is_detached:
                return None
            ref = self.git.lookup_reference("HEAD").target
            return str(ref).removeprefix("refs/heads/")
        except (pygit2.GitError, KeyError):
            return None

    def read_blob(self, commit: str, path: str) -> bytes | None:
        """The content of ``path`` in ``commit``'s tree, or None when absent."""
        import pygit2

        tree = self.tree_of(commit)
        if not _encodable(path):
            return None  # a name with a lone surrogate cannot be in a tree gittrack wrote
        try:
            obj = tree[path]
        except KeyError:
            self._check_path(tree, path, commit)
            return None
        except (ValueError, pygit2.GitError) as exc:
            raise GitError(f"Cannot read {path} from commit {commit[:12]}: {exc}.") from exc
        try:
            if not isinstance(obj, pygit2.Blob):
                return None
            return obj.data
        except KeyError:
            raise missing(str(obj.id), f"{path} of commit {commit[:12]}") from None

    def tree_of(self, commit: str) -> pygit2.Tree:
        """The root tree of ``commit``; MissingObjectError when either object is absent."""
        import pygit2

        try:
            obj = self.git[commit]
        except KeyError:
            raise missing(commit, "a commit") from None
        except (ValueError, pygit2.GitError) as exc:
            raise GitError(f"Cannot read commit {commit[:12]}: {exc}.") from exc
        try:
            return obj.peel(pygit2.Tree)
        except KeyError:
            tree_id = str(obj.tree_id) if isinstance(obj, pygit2.Commit) else commit
            raise missing(tree_id, f"the tree of commit {commit[:12]}") from None
        except (ValueError, pygit2.GitError) as exc:
            raise GitError(f"Cannot read the tree of {commit[:12]}: {exc}.") from exc

    def _check_path(self, tree: pygit2.Tree, path: str, commit: str) -> None:
        import pygit2

        # `tree[path]` says KeyError both when the path is absent and when a tree on the way
        # is missing from the object store: tell the two apart.
        node = tree
        parts = path.split("/")
        for i, part in enumerate(parts[:-1]):
            if part not in node:
                return
            entry = node[part]
            if entry.type_str != "tree":
                return
            if entry.id not in self.git:
                raise missing(str(entry.id), f"{'/'.join(parts[: i + 1])} of commit {commit[:12]}")
            node = self.git[entry.id].peel(pygit2.Tree)

    def read_blobs(self, commits: Iterable[str], path: str) -> dict[str, bytes]:
        """``{commit: content of path}`` for the commits that hold a blob at ``path``.

        One ``git cat-file --batch`` for all of them: at thousands of commits (a push's
        runs) ~10x faster than a libgit2 lookup each from Python.
        """
        wanted = list(dict.fromkeys(commits))
        if not wanted:
            return {}
        request = "".join(f"{c}:{path}\n" for c in wanted).encode()
        proc = subprocess.run(["git", f"--git-dir={self.git_dir}", "cat-file", "--batch"],
                              input=request, capture_output=True, check=False)
        if proc.returncode != 0:
            raise GitError(f"`git cat-file --batch` failed: {proc.stderr.decode(errors='replace').strip()}.")
        out, data, at = {}, proc.stdout, 0
        for commit in wanted:
            end = data.index(b"\n", at)
            header = data[at:end].split()
            at = end + 1
            if len(header) == 3 and header[1] == b"blob":
                size = int(header[2])
                out[commit] = data[at:at + size]
                at += size + 1
            elif len(header) == 3:
                at += int(header[2]) + 1  # a tree or other object at that path: not a file
        return out

    def list_tree(self, commit: str, path: str) -> list[tuple[str, str, bool]]:
        """Entries below ``path`` of a commit, recursively: (relative path, blob id, is_tree)."""
        import pygit2

        tree = self.tree_of(commit)
        if not _encodable(path):
            return []
        try:
            node = tree[path] if path else tree
        except KeyError:
            self._check_path(tree, path + "/", commit)
            return []
        out: list[tuple[str, str, bool]] = []
        try:
            _walk(self.git, node.peel(pygit2.Tree), "", out)
        except KeyError as exc:
            raise missing(str(exc.args[0] if exc.args else ""),
                          f"a tree below {path or '/'} of commit {commit[:12]}") from None
        return out

    def commit_parents(self, commit: str) -> list[str]:
        return [str(p) for p in self._commit(commit).parent_ids]

    def commit_tree(self, commit: str) -> str:
        return str(self._commit(commit).tree_id)

    def _commit(self, commit: str) -> pygit2.Commit:
        import pygit2

        try:
            return self.git[commit].peel(pygit2.Commit)
        except KeyError:
            raise missing(commit, "a commit") from None
        except (ValueError, pygit2.GitError) as exc:
            raise GitError(f"Cannot read commit {commit[:12]}: {exc}.") from exc

    def has_object(self, oid: str) -> bool:
        if len(oid) == 40:  # the object database alone: ~5x faster than a lookup
            try:
                return bool(self.git.odb.exists(oid))
            except ValueError:
                return False  # not hex
        return oid in self.git

    # -- snapshot of the working copy -------------------------------------------------
    def snapshot(self) -> Snapshot:
        """Baseline commit plus uncommitted edits of tracked files, as a tree. Read-only."""
        import pygit2

        baseline = self.head_commit()
        base_tree = self.commit_tree(baseline) if baseline else None
        if self.workdir is None:
            return Snapshot(baseline, self.branch(), base_tree, False, ())
        try:
            status = self.git.status(untracked_files="all")
        except pygit2.GitError as exc:
            raise GitError(f"Cannot read the working tree status: {exc}.") from exc
        untracked = tuple(sorted(p for p, f in status.items() if f & pygit2.GIT_STATUS_WT_NEW))
        tracked_change = (
            pygit2.GIT_STATUS_WT_MODIFIED | pygit2.GIT_STATUS_WT_DELETED
            | pygit2.GIT_STATUS_WT_TYPECHANGE | pygit2.GIT_STATUS_INDEX_NEW
            | pygit2.GIT_STATUS_INDEX_MODIFIED | pygit2.GIT_STATUS_INDEX_DELETED
            | pygit2.GIT_STATUS_INDEX_TYPECHANGE | pygit2.GIT_STATUS_INDEX_RENAMED
            | pygit2.GIT_STATUS_WT_RENAMED
        )
        changed = [p for p, f in status.items() if f & tracked_change]
        if not changed:
            return Snapshot(baseline, self.branch(), base_tree, False, untracked)
        tree = self._tree_with_edits(base_tree, changed)
        return Snapshot(baseline, self.branch(), tree, tree != base_tree, untracked)

    def tree_with_workdir_files(self, base_tree: str | None, paths: Iterable[str]) -> str:
        """``base_tree`` with ``paths`` (relative to the work tree) as they are on disk,
        through git's filters and with their modes, as ``git add`` would stage them."""
        return self._tree_with_edits(base_tree, paths)

    def _tree_with_edits(self, base_tree: str | None, paths: Iterable[str]) -> str:
        # A standalone index, so the user's .git/index is never read-modified-written.
        import pygit2

        index = pygit2.Index()
        if base_tree:
            index.read_tree(self.git[base_tree].peel(pygit2.Tree))
        assert self.workdir is not None
        for rel in paths:
            full = self.workdir / rel
            if full.is_symlink() or full.is_file():
                index.add(self._index_entry(rel, full))
            elif rel in index:
                index.remove(rel)
        return str(self.retrying(lambda: index.write_tree(self.git)))

    def _index_entry(self, rel: str, full: Path) -> pygit2.IndexEntry:
        import pygit2

        if full.is_symlink():
            target = os.readlink(full).encode()
            oid = self.retrying(lambda: self.git.create_blob(target))
            return pygit2.IndexEntry(rel, oid, pygit2.enums.FileMode.LINK)
        oid = self.retrying(lambda: self.git.create_blob_fromworkdir(rel))
        executable = os.access(full, os.X_OK)
        mode = pygit2.enums.FileMode.BLOB_EXECUTABLE if executable else pygit2.enums.FileMode.BLOB
        return pygit2.IndexEntry(rel, oid, mode)

    # -- writing objects and refs -------------------------------------------------------
    def write_blob(self, data: bytes) -> str:
        return str(self._writing(lambda: self.git.create_blob(data)))

    def write_tree(self, files: Mapping[str, str]) -> str:
        """A tree from ``{relative path: blob id}``; nested paths make subtrees."""
        root: dict[str, object] = {}
        for path, oid in files.items():
            node = root
            *dirs, leaf = path.split("/")
            for d in dirs:
                node = node.setdefault(d, {})  # type: ignore[assignment]
            node[leaf] = oid
        return self._build(root)

    def _build(self, node: Mapping[str, object]) -> str:
        import pygit2

        builder = self.git.TreeBuilder()
        for name, child in node.items():
            if isinstance(child, dict):
                builder.insert(name, pygit2.Oid(hex=self._build(child)), GIT_FILEMODE_TREE)
            else:
                builder.insert(name, pygit2.Oid(hex=str(child)), GIT_FILEMODE_BLOB)
        return str(self._writing(builder.write))

    def graft(self, base_tree: str | None, path: str, subtree: str) -> str:
        """``base_tree`` with the directory at ``path`` replaced by ``subtree``."""
        import pygit2

        head, _, rest = path.partition("/")
        base = self.git[base_tree].peel(pygit2.Tree) if base_tree else None
        builder = self.git.TreeBuilder(base) if base is not None else self.git.TreeBuilder()
        if rest:
            child = base[head] if base is not None and head in base else None
            child_id = str(child.id) if child is not None and child.type_str == "tree" else None
            subtree = self.graft(child_id, rest, subtree)
        builder.insert(head, pygit2.Oid(hex=subtree), GIT_FILEMODE_TREE)
        return str(self._writing(builder.write))

    def write_blob_from_file(self, path: str | os.PathLike[str]) -> str:
        """Store a file's bytes as a blob (streamed by libgit2, no filters applied)."""
        import pygit2

        try:
            return str(self.git.create_blob_fromdisk(os.fspath(path)))
        except (pygit2.GitError, OSError) as exc:
            raise GitError(f"Cannot store {path} as a git blob: {exc}.") from exc

    def tree_with_blobs(self, base_tree: str | None, files: Mapping[str, str]) -> str:
        """``base_tree`` plus the blobs ``{relative path: blob id}`` (nested paths make or
        extend subtrees; an existing entry at a path is replaced)."""
        import pygit2

        base = self.git[base_tree].peel(pygit2.Tree) if base_tree else None
        builder = self.git.TreeBuilder(base) if base is not None else self.git.TreeBuilder()
        children: dict[str, dict[str, str]] = {}
        for path, oid in files.items():
            head, _, rest = path.partition("/")
            if rest:
                children.setdefault(head, {})[rest] = oid
            else:
                builder.insert(head, pygit2.Oid(hex=oid), GIT_FILEMODE_BLOB)
        for head, sub in children.items():
            child = base[head] if base is not None and head in base else None
            child_id = str(child.id) if child is not None and child.type_str == "tree" else None
            builder.insert(head, pygit2.Oid(hex=self.tree_with_blobs(child_id, sub)),
                           GIT_FILEMODE_TREE)
        return str(builder.write())

    def paths_in(self, commit: str | None, paths: Iterable[str]) -> set[str]:
        """Which of ``paths`` exist in ``commit``'s tree (none when ``commit`` is None)."""
        import pygit2

        if commit is None:
            return set()
        tree = self.git[commit].peel(pygit2.Tree)
        found = set()
        for path in paths:
            try:
                tree[path]
            except KeyError:
                continue
            found.add(path)
        return found

    def is_ancestor(self, old: str, new: str) -> bool:
        """Whether commit ``old`` is an ancestor of (or the same as) ``new``."""
        return self.run_git("merge-base", "--is-ancestor", old, new, check=False).returncode == 0

    def write_commit(self, tree: str, parent: str | None, message: str,
                     more_parents: Iterable[str] = ()) -> str:
        import pygit2

        sig = self._signature()
        parents = [pygit2.Oid(hex=p) for p in ([parent] if parent else []) + list(more_parents)]
        try:
            oid = self.retrying(lambda: self.git.create_commit(
                None, sig, sig, message, pygit2.Oid(hex=tree), parents))
        except pygit2.GitError as exc:
            raise GitError(f"Cannot write a commit: {exc}.") from exc
        provenance.note_made(self.state_dir, str(oid))  # made here: its author is this clone
        return str(oid)

    def signature_line(self) -> str:
        """``Name <email> <epoch seconds> <+hhmm>``: the identity and time of a new commit."""
        sig = self._signature()
        sign = "-" if sig.offset < 0 else "+"
        hours, minutes = divmod(abs(sig.offset), 60)
        return f"{sig.name} <{sig.email}> {sig.time} {sign}{hours:02d}{minutes:02d}"

    def tree_items(self, tree: str) -> list[tuple[str, str, str]]:
        """``(mode, name, id)`` of a tree's entries, mode as git writes it (``40000``, ...)."""
        import pygit2

        return [(format(e.filemode, "o"), e.name or "", str(e.id))
                for e in self.git[tree].peel(pygit2.Tree)]

    def _signature(self) -> pygit2.Signature:
        import pygit2

        try:
            return self.git.default_signature
        except (KeyError, pygit2.GitError):
            return pygit2.Signature("gittrack", "gittrack@localhost")

    def create_ref(self, name: str, oid: str) -> bool:
        """Create ``name`` -> ``oid``; False when the ref already exists (atomic claim)."""
        import pygit2

        try:
            self.retrying(lambda: self.git.references.create(name, pygit2.Oid(hex=oid)))
        except pygit2.AlreadyExistsError:
            return False
        except (pygit2.GitError, OSError, ValueError) as exc:
            raise GitError(f"Cannot create ref {name}: {exc}.") from exc
        finally:
            packs.settle_thread()  # the packs this thread wrote may be rolled from now on
        return True

    def write_loose_ref(self, name: str, oid: str, create: bool = False) -> bool:
        """Write ``name`` -> ``oid`` as a loose ref with git's lock protocol (``<ref>.lock``
        created exclusively, written, renamed over the ref); with ``create``, False when the
        ref exists already, loose or packed (an atomic claim). Retried while git's own
        maintenance holds the lock or removes the directory (:meth:`retrying`).

        For refs whose objects the caller has just written: a libgit2 ref write looks the
        name up in packed-refs, which a libgit2 repository parses whole when it is new or the
        file changed (30 ms at 100,000 runs); here the lookup is a binary search of the
        sorted file, so writing a run's ref costs the same at any run count.
        """
        if not name.startswith("refs/") or ".." in name or name.endswith((".lock", "/")):
            raise GitError(f"Cannot write ref {name}: not a ref name gittrack writes.")
        try:
            return self.retrying(lambda: self._write_loose_ref(name, oid, create))
        except OSError as exc:
            raise GitError(f"Cannot write ref {name}: {exc}; if no git or gittrack process is "
                           "running, delete its .lock file and retry.") from exc
        finally:
            packs.settle_thread()  # the packs this thread wrote may be rolled from now on

    def _write_loose_ref(self, name: str, oid: str, create: bool) -> bool:
        path = self.common_dir / name
        lock = path.with_name(path.name + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            if create and (path.exists() or packed_ref_exists(self.common_dir / "packed-refs", name)):
                return False
            raise  # held by another writer or by git's maintenance: retried
        try:
            if create and (path.exists() or packed_ref_exists(self.common_dir / "packed-refs", name)):
                return False
            os.write(fd, f"{oid}\n".encode("ascii"))
            os.close(fd)
            fd = -1
            os.replace(lock, path)
            return True
        finally:
            if fd >= 0:
                os.close(fd)
            lock.unlink(missing_ok=True)

    def release(self) -> None:
        """Give the libgit2 repository back to the pool now (a later use takes one again)."""
        if self.__dict__.pop("git", None) is not None:
            self._give_back()  # a finalizer runs once: never given back twice

    def set_ref(self, name: str, oid: str) -> None:
        """Point ``name`` at ``oid`` (created or moved), a loose ref (:meth:`write_loose_ref`)."""
        self.write_loose_ref(name, oid)

    def delete_ref(self, name: str) -> None:
        import pygit2

        try:
            self.retrying(lambda: self.git.references.delete(name))
        except (KeyError, pygit2.GitError, OSError) as exc:
            raise GitError(f"Cannot delete ref {name}: {exc}.") from exc

    def _writing(self, action: Callable[[], T]) -> T:
        import pygit2

        try:
            return self.retrying(action)
        except (pygit2.GitError, OSError) as exc:
            raise GitError(f"Cannot write an object into {self.git_dir}: {exc}; check the "
                           "disk space and permissions.") from exc

    def retrying(self, action: Callable[[], T]) -> T:
        """``action()``, retried with backoff while git's own maintenance (pack-refs, gc)
        holds the ref's lock or removes its directory; the last failure is raised."""
        import pygit2

        delay = 0.005
        for attempt in range(REF_ATTEMPTS):
            try:
                return action()
            except pygit2.AlreadyExistsError:
                raise
            except (pygit2.GitError, OSError) as exc:
                if attempt == REF_ATTEMPTS - 1 or not any(w in str(exc) for w in _REF_RACES):
                    raise
            time.sleep(delay * random.uniform(0.5, 1.5))  # backoff, not ordering
            delay = min(delay * 2, 0.2)
        raise AssertionError("unreachable")  # pragma: no cover

    def resolve_ref(self, name: str) -> str | None:
        import pygit2

        try:
            return str(self.git.references[name].resolve().target)
        except (KeyError, ValueError, pygit2.GitError):  # absent, or not a valid ref name
            return None

    def list_refs(self, prefix: str) -> dict[str, str]:
        """``{ref: commit id}`` of every ref under ``prefix``, read from files directly.

        pygit2 has no prefix iterator (NOTES); reading loose refs first and packed-refs second
        never misses a ref that a concurrent ``git pack-refs`` moves between the two reads.
        """
        root = self.common_dir
        refs = _read_loose_refs(str(root), prefix.rstrip("/"))
        packed = _read_packed_refs(root / "packed-refs", prefix)
        for name, value in packed.items():
            refs.setdefault(name, value)
        return refs

    def ref_components(self, prefix: str) -> dict[str, str]:
        """``{component: a ref under it}`` for each distinct path component right below
        ``prefix`` (ending in '/'), loose or packed, without listing every ref."""
        out: dict[str, str] = {}
        try:
            with os.scandir(self.common_dir / prefix) as found:
                dirs = [e for e in found if e.is_dir()]
        except OSError:
            dirs = []
        for entry in dirs:
            try:
                with os.scandir(entry.path) as files:
                    leaf = next((f.name for f in files if f.is_file()
                                 and not f.name.endswith(".lock")), None)
            except OSError:
                continue
            if leaf is not None:
                out[entry.name] = f"{prefix}{entry.name}/{leaf}"
        for component, ref in packed_components(self.common_dir / "packed-refs", prefix).items():
            out.setdefault(component, ref)
        return out

    def list_loose_refs(self, prefix: str) -> dict[str, str]:
        """``{ref: commit id}`` of the loose refs under ``prefix`` (not packed-refs)."""
        return _read_loose_refs(str(self.common_dir), prefix.rstrip("/"))

    # -- tags (the registry) ---------------------------------------------------------------
    def list_tags(self, prefix: str = "") -> list[TagInfo]:
        """Every tag under ``refs/tags/<prefix>`` (``prefix`` empty or ending in '/'), sorted.

        Refs are read from files (:meth:`list_refs`), tag objects through libgit2.
        """
        out = []
        for ref, oid in sorted(self.list_refs("refs/tags/" + prefix).items()):
            info = self.read_tag(ref.removeprefix("refs/tags/"), oid)
            if info is not None:
                out.append(info)
        return out

    def read_tag(self, name: str, oid: str) -> TagInfo | None:
        """The tag ``name`` whose ref holds ``oid``: its peeled target and its annotation
        (``message=None`` for a lightweight tag); None when the object is missing."""
        import pygit2

        try:
            obj = self.git[oid]
            if isinstance(obj, pygit2.Tag):
                target = obj.peel(None)
                return TagInfo(name, str(target.id), target.type_str, obj.message)
            return TagInfo(name, oid, obj.type_str, None)
        except (KeyError, ValueError, pygit2.GitError):
            return None  # a dangling ref: nothing to read

    def create_annotated_tag(self, name: str, target: str, message: str) -> bool:
        """Create the annotated tag ``name`` on commit ``target``; False if it already exists.

        libgit2 creates the ref under a lock file and refuses an existing name, so two
        processes racing for one name cannot both win (a held lock also returns False).
        """
        import pygit2

        try:
            sig = self._signature()
            oid = self.retrying(lambda: self.git.create_tag(
                name, pygit2.Oid(hex=target), pygit2.enums.ObjectType.COMMIT, sig, message))
        except pygit2.AlreadyExistsError:
            return False
        except (pygit2.GitError, OSError, ValueError) as exc:
            if self.resolve_ref("refs/tags/" + name) is not None or "lock" in str(exc):
                return False
            raise GitError(f"Cannot create tag {name}: {exc}.") from exc
        provenance.note_made(self.state_dir, str(oid))
        return True

    def actor(self) -> str:
        """``Name <email>`` of the git identity that writes commits and tags here."""
        sig = self._signature()
        return f"{sig.name} <{sig.email}>"

    def untracked(self, paths: Iterable[str]) -> list[str]:
        """Which of ``paths`` (relative to the work tree) git lists as untracked, not ignored."""
        paths = list(paths)
        if self.workdir is None or not paths:
            return []
        proc = subprocess.run(["git", "status", "--porcelain", "-z", "--untracked-files=normal",
                               "--", *paths], cwd=self.workdir, capture_output=True, text=True,
                              check=False)
        return [entry[3:].rstrip("/") for entry in proc.stdout.split("\0")
                if entry.startswith("?? ")]

    def run_git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the git CLI on this repository."""
        cmd = ["git", f"--git-dir={self.git_dir}", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if check and proc.returncode != 0:
            raise GitError(f"`git {' '.join(args)}` failed: {proc.stderr.strip()}.")
        return proc


_ASK_LIBGIT2 = object()  # a work tree only libgit2 can tell (see discover)

# Opened libgit2 repositories not in use, by the path they were opened from (see Repo.git).
_POOL: dict[str, list[pygit2.Repository]] = {}
POOL_SIZE = 8  # per path: enough for nested runs and their writers


def _give_back(key: str, git: pygit2.Repository) -> None:
    pooled = _POOL.setdefault(key, [])
    if len(pooled) < POOL_SIZE:
        pooled.append(git)


# A forked child must not share its parent's open packfiles and caches.
os.register_at_fork(after_in_child=_POOL.clear)
# Config that may move or remove the work tree: core.worktree, core.bare other than a plain
# "false", or an include that may set either. Then libgit2 decides.
_SPECIAL_WORKTREE = re.compile(rb"worktree|include|^\s*bare\b(?!\s*=\s*false\s*$)", re.M | re.I)


class Found(NamedTuple):
    """Where :func:`discover` found a repository."""

    git_dir: Path
    work_tree: Path | None | object  # _ASK_LIBGIT2 when only libgit2 can tell
    open_path: Path  # what libgit2 opens: the directory holding .git, or the git dir


# Repositories found before, by the path their search started from, with what would tell a
# different answer now: the mtime of each directory from there up to the one holding .git
# (a .git made or removed in one changes it) and of the config. A run opens its Repo
# several times; discovery is ~30 file checks and reads (1 ms on a virtual disk).
_FOUND: dict[str, tuple[tuple[Found, Path], list[tuple[str, tuple[int, ...]]]]] = {}


def _stamp(path: str) -> tuple[int, ...]:
    try:
        st = os.stat(path)
    except OSError:
        return ()
    return st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size


def _remember(start: str, known: tuple[Found, Path]) -> None:
    found, common = known
    here = os.path.realpath(start)
    chain = [start]
    holder = os.fspath(found.open_path)
    while here != holder and os.path.dirname(here) != here and len(chain) < 64:
        chain.append(here)
        here = os.path.dirname(here)
    chain += [holder, os.fspath(common / "config"), os.fspath(found.git_dir / "HEAD")]
    if len(_FOUND) > 256:
        _FOUND.clear()
    _FOUND[start] = (known, [(p, _stamp(p)) for p in dict.fromkeys(chain)])


def _found_before(start: str) -> tuple[Found, Path] | None:
    entry = _FOUND.get(start)
    if entry is None:
        return None
    known, stamps = entry
    if any(not stamp or _stamp(p) != stamp for p, stamp in stamps):
        _FOUND.pop(start, None)
        return None
    return known


def discover(start: str) -> Found | None:
    """The repository at or above ``start``, or None.

    Plain file checks in libgit2's order (``pygit2.discover_repository``): from the real path
    of ``start`` up, in each directory a ``.git`` directory or ``gitdir:`` file (an invalid
    one ends the search, as in libgit2), then the directory itself as a git dir; never across
    a file system boundary (libgit2, unlike the git CLI, ignores $GIT_CEILING_DIRECTORIES
    here). The work tree is the directory holding ``.git``; when the config may say otherwise
    (core.worktree, core.bare, an include) or a git dir was named directly, libgit2 decides
    on first use.
    """
    here = Path(os.path.realpath(start))
    try:
        device = here.stat().st_dev
    except OSError:
        return None
    if not here.is_dir():
        here = here.parent
    while True:
        dotgit = here / ".git"
        if dotgit.is_file():
            target = _gitfile_target(dotgit)
            if target is None or not _is_git_dir(target):
                return None
            return Found(target.resolve(), _work_tree(target, here), here)
        if _is_git_dir(dotgit):
            return Found(dotgit.resolve(), _work_tree(dotgit, here), here)
        if _is_git_dir(here):
            return Found(here, _ASK_LIBGIT2, here)
        parent = here.parent
        if parent == here:
            return None
        try:
            if parent.stat().st_dev != device:
                return None
        except OSError:
            return None
        here = parent


def _work_tree(git_dir: Path, holder: Path) -> Path | object:
    return holder if _plain_work_tree(git_dir) else _ASK_LIBGIT2


def _gitfile_target(path: Path) -> Path | None:
    # A `.git` file (linked worktree, submodule) says `gitdir: <path>`, relative to itself.
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    return path.parent / text[len("gitdir:"):].strip()


def _is_git_dir(path: Path) -> bool:
    if not (path / "HEAD").is_file():
        return False
    common = _common_dir(path)
    return (common / "objects").is_dir() and (common / "refs").is_dir()


def _plain_work_tree(git_dir: Path) -> bool:
    # True when the work tree is simply the directory holding `.git`.
    for config in (_common_dir(git_dir) / "config", git_dir / "config.worktree"):
        try:
            if _SPECIAL_WORKTREE.search(config.read_bytes()):
                return False
        except OSError:
            continue
    return True


def _common_dir(git_dir: Path) -> Path:
    # A linked worktree's git dir names the shared one in its `commondir` file.
    marker = git_dir / "commondir"
    if marker.is_file():
        return (git_dir / marker.read_text().strip()).resolve()
    return git_dir.resolve()


def _encodable(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def missing(oid: str, what: str) -> MissingObjectError:
    """The one-sentence error for an object absent from the repository."""
    return MissingObjectError(
        f"Object {oid[:12]} ({what}) is missing from this repository; fetch it with "
        "`gittrack pull`, or list what is damaged with `gittrack doctor`.", oid)


def append_file(path: Path, data: bytes) -> bool:
    """Append ``data`` to a derived file of the state dir in one ``write()`` on an ``O_APPEND``
    descriptor, so concurrent writers add whole lines; False when it cannot be written (a
    read-only repository only loses the speed such files give)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    except OSError:
        return False
    return True


def _read_loose_refs(root: str, top: str) -> dict[str, str]:
    # Plain strings and scandir: at 2,000 refs pathlib's overhead was most of the time.
    refs: dict[str, str] = {}
    pending = [top]
    while pending:
        rel = pending.pop()
        try:
            entries = list(os.scandir(os.path.join(root, rel)))
        except OSError:
            continue
        for entry in entries:
            name = f"{rel}/{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                pending.append(name)
                continue
            if entry.name.endswith(".lock"):
                continue
            try:
                with open(entry.path, "rb") as f:
                    value = f.read(100).strip()
            except OSError:
                continue
            if len(value) == 40:
                refs[name] = value.decode("ascii", "replace")
    return refs


def packed_ref_exists(path: Path, name: str) -> bool:
    """Whether ``packed-refs`` at ``path`` holds ``name``: a binary search when the file
    says it is sorted (git and gittrack write it so), a scan otherwise."""
    try:
        with open(path, "rb") as fh:
            data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except (FileNotFoundError, ValueError):  # no file, or an empty one
        return False
    with data:
        target = name.encode()
        first = data.readline()
        if not (first.startswith(b"# pack-refs with:") and b" sorted" in first):
            return data.find(b" " + target + b"\n") >= 0 or data[-len(target) - 1:] == b" " + target
        lo, hi = len(first), len(data)  # both at line starts; the answer is in [lo, hi)
        while lo < hi:
            start = max(data.rfind(b"\n", lo, (lo + hi) // 2) + 1, lo)
            end = data.find(b"\n", start)
            end = len(data) if end < 0 else end
            line = data[start:end]
            if line.startswith(b"^"):  # a peeled line: probe the ref line above it instead
                above = data.rfind(b"\n", 0, start - 1) + 1
                if above < lo:  # that ref was found smaller than the target already
                    lo = end + 1
                    continue
                start, line = above, data[above:start - 1]
            ref = line.partition(b" ")[2]
            if ref == target:
                return True
            if ref < target:
                lo = end + 1
            else:
                hi = start
        return False


def _lower_bound(data: Any, lo: int, target: bytes) -> int:
    """A line start at or after ``lo`` (a line start) in a sorted packed-refs file such that
    every ref line before it names a ref ``< target`` and every one from it on ``>= target``
    (peeled ``^`` lines are no ref's); ``len(data)`` when there is none."""
    hi = len(data)
    while lo < hi:
        start = max(data.rfind(b"\n", lo, (lo + hi) // 2) + 1, lo)
        probe = start
        while probe < hi and data[probe:probe + 1] == b"^":  # peeled: the next ref line
            nl = data.find(b"\n", probe)
            probe = len(data) if nl < 0 else nl + 1
        if probe >= hi:
            hi = start  # only peeled lines in [start, hi)
            continue
        end = data.find(b"\n", probe)
        end = len(data) if end < 0 else end
        if data[probe:end].partition(b" ")[2] < target:
            lo = end + 1
        else:
            hi = start
    return lo


def packed_components(path: Path, prefix: str) -> dict[str, str]:
    """``{component: a ref}`` for each distinct path component right below ``prefix`` (which
    ends in '/') among the refs of packed-refs at ``path``, with one ref under each: a jump
    per component in a sorted file (a million runs of ten experiments: ten binary searches),
    a scan otherwise."""
    try:
        with open(path, "rb") as fh:
            data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except (FileNotFoundError, ValueError):
        return {}
    out: dict[str, str] = {}
    with data:
        key = b" " + prefix.encode()
        first = data.readline()
        ordered = first.startswith(b"# pack-refs with:") and b" sorted" in first
        pos = data.find(key)
        while pos >= 0:
            start = pos + len(key)
            end = data.find(b"\n", start)
            end = len(data) if end < 0 else end
            slash = data.find(b"/", start, end)
            if slash < 0:
                pos = data.find(key, end)
                continue
            component = data[start:slash]
            out.setdefault(component.decode("utf-8", "replace"),
                           data[pos + 1 : end].decode("utf-8", "replace"))
            if ordered:
                nxt = _lower_bound(data, end + 1, prefix.encode() + component + b"0")
                pos = data.find(key, max(nxt - 1, end))
            else:
                pos = data.find(key, end)
    return out


def read_packed_refs(path: Path, prefix: str) -> dict[str, str]:
    """``{ref: commit id}`` of the refs under ``prefix`` in the packed-refs file ``path``."""
    return _read_packed_refs(path, prefix)


def _read_packed_refs(path: Path, prefix: str) -> dict[str, str]:
    # One regex over the prefix's lines: ~10x faster than splitting lines at 100k refs. In a
    # sorted file (git and gittrack write it so) two binary searches find those lines, so a
    # prefix with few refs costs no read of a file of a million.
    try:
        with open(path, "rb") as fh:
            data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except (FileNotFoundError, ValueError):  # no file, or an empty one
        return {}
    with data:
        key = prefix.encode()
        first = data.readline()
        if first.startswith(b"# pack-refs with:") and b" sorted" in first and key:
            start = _lower_bound(data, len(first), key)
            end = _lower_bound(data, start, key[:-1] + bytes([key[-1] + 1])) \
                if key[-1] < 255 else len(data)
        else:
            start = data.find(b" " + key)
            if start < 0:
                return {}
            start = data.rfind(b"\n", 0, start) + 1
            end = data.find(b"\n", data.rfind(b" " + key))
            end = len(data) if end < 0 else end + 1
        pattern = re.compile(rb"^([0-9a-f]{40}) (" + re.escape(key) + rb"[^\n]*)$", re.M)
        found = pattern.findall(data, start, end)
    return {name.decode(): oid.decode() for oid, name in found}


def _walk(repo: pygit2.Repository, tree: pygit2.Tree, base: str,
          out: list[tuple[str, str, bool]]) -> None:
    import pygit2

    for entry in tree:
        path = f"{base}{entry.name}"
        if entry.type_str == "tree":
            out.append((path, str(entry.id), True))
            _walk(repo, repo[entry.id].peel(pygit2.Tree), path + "/", out)
        else:
            out.append((path, str(entry.id), False))


def init_repository(path: str | os.PathLike[str], bare: bool = False) -> Repo:
    """``git init`` at ``path`` (pygit2), returning the repository."""
    import pygit2

    try:
        pygit2.init_repository(os.fspath(path), bare=bare)
    except pygit2.GitError as exc:
        raise GitError(f"Cannot create a git repository at {path}: {exc}.") from exc
    return Repo(path)


def is_repository(path: str | os.PathLike[str]) -> bool:
    return discover(os.fspath(path)) is not None
