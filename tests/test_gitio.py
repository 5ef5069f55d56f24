"""Finding the repository without libgit2 agrees with libgit2 in every layout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pygit2

from gittrack.errors import NotARepositoryError
from gittrack.gitio import Repo, is_repository
from tests.conftest import git, make_repo


def libgit2_view(start: Path) -> tuple[Path, Path | None] | None:
    found = pygit2.discover_repository(str(start))
    if found is None:
        return None
    opened = pygit2.Repository(found)
    return (Path(opened.path).resolve(),
            Path(opened.workdir).resolve() if opened.workdir else None)


def gittrack_view(start: Path) -> tuple[Path, Path | None] | None:
    try:
        repo = Repo(start)
    except NotARepositoryError:
        return None
    return repo.git_dir, repo.workdir


def layouts(root: Path) -> list[Path]:
    """Start directories in every repository layout gittrack meets."""
    main = make_repo(root / "main")
    (main / "src" / "deep").mkdir(parents=True)
    (main / "src" / "deep" / "file.txt").write_text("x\n")
    git(main, "worktree", "add", "-q", str(root / "linked"), "-b", "side")
    (root / "linked" / "sub").mkdir()
    git(root, "init", "-q", "--bare", "bare.git")
    (root / "plain" / "dir").mkdir(parents=True)
    moved = make_repo(root / "moved")
    git(moved, "config", "core.worktree", str(root / "elsewhere"))
    (root / "elsewhere").mkdir()
    sub = make_repo(root / "super")
    git(root / "super", "-c", "protocol.file.allow=always", "submodule", "add", "-q",
        str(main), "child")
    return [main, main / "src", main / "src" / "deep", main / "src" / "deep" / "file.txt",
            main / ".git", main / ".git" / "refs", root / "linked", root / "linked" / "sub",
            root / "bare.git", root / "bare.git" / "refs" / "heads", root / "plain" / "dir",
            root / "missing" / "dir", moved, sub / "child", root]


def test_discovery_agrees_with_libgit2_in_every_layout(tmp_path: Path) -> None:
    starts = layouts(tmp_path)
    found = 0
    for start in starts:
        expected = libgit2_view(start)
        assert gittrack_view(start) == expected, start
        assert is_repository(start) == (expected is not None), start
        found += expected is not None
    assert found == len(starts) - 3  # plain/dir, missing/dir and the root find nothing


def test_a_read_only_command_never_imports_pygit2(tmp_path: Path) -> None:
    main = make_repo(tmp_path / "main")
    code = ("import sys\n"
            "from gittrack.gitio import Repo\n"
            "repo = Repo('.')\n"
            "refs = repo.list_refs('refs/heads/')\n"
            "print(len(refs), repo.workdir is not None, 'pygit2' in sys.modules)\n"
            "repo.head_commit()\n"
            "print('pygit2' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=main, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
                         check=True).stdout.split("\n")
    assert out[:2] == ["1 True False", "True"]
