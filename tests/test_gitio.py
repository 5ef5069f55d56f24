"""Finding the repository without libgit2 agrees with libgit2 in every layout."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pygit2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gittrack.core.errors import NotARepositoryError
from gittrack.core.gitio import Repo, is_repository
from tests.conftest import git, make_repo


def libgit2_view(start: Path) -> tuple[Path, Path | None] | None:
    """What libgit2 opens from ``start`` (searching upwards, following `gitdir:` files)."""
    try:
        opened = pygit2.Repository(str(start))
    except pygit2.GitError:
        return None
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
    git(root, "init", "-q", "--separate-git-dir", str(root / "sep.git"), "separate")
    included = make_repo(root / "included")
    (root / "extra.cfg").write_text(f"[core]\n\tworktree = {root / 'elsewhere'}\n")
    git(included, "config", "include.path", str(root / "extra.cfg"))
    valueless = make_repo(root / "valueless")
    with open(valueless / ".git" / "config", "a") as fh:
        fh.write("[core]\n\tbare\n")
    (main / "broken").mkdir()
    (main / "broken" / ".git").write_text("gitdir: ../nowhere\n")
    (root / "link").symlink_to(main / "src")
    return [main, main / "src", main / "src" / "deep", main / "src" / "deep" / "file.txt",
            main / ".git", main / ".git" / "refs", root / "linked", root / "linked" / "sub",
            root / "bare.git", root / "bare.git" / "refs" / "heads", root / "plain" / "dir",
            moved, sub / "child", root, root / "separate", included, valueless,
            main / "broken", root / "link"]


def test_discovery_agrees_with_libgit2_in_every_layout(tmp_path: Path) -> None:
    starts = layouts(tmp_path)
    found = 0
    for start in starts:
        expected = libgit2_view(start)
        assert gittrack_view(start) == expected, start
        assert is_repository(start) == (expected is not None), start
        found += expected is not None
    assert found == len(starts) - 3  # plain/dir, the root and the broken .git file: nothing
    assert gittrack_view(tmp_path / "missing" / "dir") is None


def test_a_read_only_command_never_imports_pygit2(tmp_path: Path) -> None:
    main = make_repo(tmp_path / "main")
    code = ("import sys\n"
            "from gittrack.core.gitio import Repo\n"
            "repo = Repo('.')\n"
            "refs = repo.list_refs('refs/heads/')\n"
            "print(len(refs), repo.workdir is not None, 'pygit2' in sys.modules)\n"
            "repo.head_commit()\n"
            "print('pygit2' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=main, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
                         check=True).stdout.split("\n")
    assert out[:2] == ["1 True False", "True"]


def test_a_run_in_a_separate_git_dir_layout_records_the_edit(tmp_path: Path) -> None:
    import gittrack

    git(tmp_path, "init", "-q", "--separate-git-dir", str(tmp_path / "sep.git"), "work")
    work = tmp_path / "work"
    (work / "train.py").write_text("print(1)\n")
    git(work, "add", "train.py")
    git(work, "commit", "-q", "-m", "initial")
    (work / "train.py").write_text("print(2)\n")
    gittrack.set_tracking_repo(str(work))
    with gittrack.start_run() as run:
        run.log_metric("m", 1.0)
    ref = f"refs/gittrack/runs/default/{run.id}"
    assert git(work, "show", f"{ref}:train.py") == "print(2)\n"
    assert git(work, "status", "--porcelain") == " M train.py\n"


@settings(max_examples=300, deadline=None)
@given(st.sets(st.from_regex(r"refs/[a-z]{1,3}(/[a-z0-9]{1,3}){0,2}", fullmatch=True), max_size=40),
       st.sets(st.integers(0, 39)), st.lists(st.from_regex(r"refs/[a-z0-9/]{1,8}", fullmatch=True),
                                              max_size=10), st.booleans())
def test_packed_ref_lookup_finds_exactly_the_packed_names(names: set[str], peeled: set[int],
                                                           probes: list[str], sorted_: bool) -> None:
    from gittrack.core.gitio import packed_ref_exists

    lines = []
    for i, name in enumerate(sorted(names, key=str.encode)):
        lines.append(f"{i:040x} {name}\n")
        if i in peeled:
            lines.append(f"^{i + 1:040x}\n")  # a tag's peeled line
    header = "# pack-refs with: peeled fully-peeled sorted \n" if sorted_ else "# pack-refs with: peeled \n"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "packed-refs"
        path.write_text(header + "".join(lines))
        for probe in [*names, *probes]:
            assert packed_ref_exists(path, probe) == (probe in names), probe


def test_a_released_repository_goes_back_to_the_pool_once(tmp_path: Path) -> None:
    import gc

    from gittrack.core import gitio

    repo = Repo(make_repo(tmp_path / "r"))
    gitio._POOL.clear()
    first = repo.git
    repo.release()
    assert gitio._POOL[str(repo._open_path)] == [first]
    second = repo.git  # taken again: the same warm one
    assert second is first and gitio._POOL[str(repo._open_path)] == []
    key = str(repo._open_path)
    repo.release()
    del repo
    gc.collect()
    assert gitio._POOL[key] == [first]  # once, not again by the finalizer


def test_a_repository_found_before_is_found_again_only_while_nothing_changed(tmp_path: Path) -> None:
    import shutil

    outer = make_repo(tmp_path / "outer")
    sub = outer / "a" / "b"
    sub.mkdir(parents=True)
    assert Repo(str(sub)).git_dir == (outer / ".git").resolve()
    assert Repo(str(sub)).git_dir == (outer / ".git").resolve()  # remembered
    git(outer / "a", "init", "-q")  # a repository between: found from then on
    assert Repo(str(sub)).git_dir == (outer / "a" / ".git").resolve()
    shutil.rmtree(outer / "a" / ".git")
    assert Repo(str(sub)).git_dir == (outer / ".git").resolve()
    git(sub, "init", "-q")  # in the start directory itself
    assert Repo(str(sub)).git_dir == (sub / ".git").resolve()
    shutil.rmtree(sub / ".git")
    shutil.rmtree(outer / ".git")
    with pytest.raises(NotARepositoryError):
        Repo(str(sub))


def test_packed_refs_by_prefix_match_a_plain_scan_with_peeled_tags(tmp_path: Path) -> None:
    """Prefix reads of a sorted packed-refs (two binary searches) give exactly what a scan
    of every line gives, with peeled ``^`` lines of annotated tags anywhere among them."""
    import random

    from gittrack.core.gitio import _read_packed_refs, packed_components

    rng = random.Random(7)
    parts = ["refs/gittrack/runs/a", "refs/gittrack/runs/b", "refs/gittrack/archive",
             "refs/tags/m", "refs/tags/m/prod", "refs/tags/n", "refs/heads", "refs/heads/x"]
    for trial in range(30):
        refs = {f"{rng.choice(parts)}/{rng.randrange(40):02d}": f"{rng.getrandbits(160):040x}"
                for _ in range(rng.randrange(1, 60))}
        lines = ["# pack-refs with: peeled fully-peeled sorted \n"]
        for name in sorted(refs, key=str.encode):
            lines.append(f"{refs[name]} {name}\n")
            if name.startswith("refs/tags/") and rng.random() < 0.7:
                lines.append(f"^{rng.getrandbits(160):040x}\n")
        path = tmp_path / f"packed-{trial}"
        path.write_text("".join(lines))
        for prefix in ["refs/", "refs/tags/", "refs/tags/m/", "refs/tags/m/prod/", "refs/heads/",
                       "refs/gittrack/", "refs/gittrack/runs/", "refs/gittrack/runs/b/", "refs/z/",
                       "refs/gittrack/archive/", "a"]:
            assert _read_packed_refs(path, prefix) == \
                {n: o for n, o in refs.items() if n.startswith(prefix)}, (trial, prefix)
        components = packed_components(path, "refs/tags/")
        assert set(components) == {n.split("/")[2] for n in refs if n.startswith("refs/tags/")}
