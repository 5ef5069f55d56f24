"""git's tree-path rules (gittrack.core.paths), checked against git itself where git can say."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gittrack.core.errors import UnsafePathError
from gittrack.core.paths import (
    check_tree_path,
    is_dotgit,
    link_name_problem,
    tree_path_problem,
)

REFUSED = [
    ".git", ".git/config", "a/.git", "a/b/c/.git/config", ".GIT/config", "x/.GiT",
    ".git./config", ".git../x", ".git /x", ".git. . /x", ".git::$INDEX_ALLOCATION/config",
    ".git:stream", "git~1/config", "GIT~1", "git~1./x",
    ".g\u200cit/config", "\u200b.git/config".replace("\u200b", "\ufeff"), ".gi\u206at",
    "..", "../x", "a/../../x", "a/..", ".", "./a", "a/./b", "a//b", "a/", "/etc/passwd",
    "C:/x", "c:x", "a\\b", "..\\x", "a\x00b", "",
]
ACCEPTED = ["a", "a/b.txt", ".gitignore", ".gitx/y", "x.git/y", "git/y", "gitx~1", "git~2",
            "...", "a/.../b", "é/.gît", ".gittrack/config.yaml", "model/model.yaml"]


@pytest.mark.parametrize("path", REFUSED)
def test_paths_git_refuses_are_refused_with_one_sentence(path: str) -> None:
    assert tree_path_problem(path) is not None
    with pytest.raises(UnsafePathError) as caught:
        check_tree_path(path, "Artifact path")
    message = str(caught.value)
    assert message.startswith("Artifact path ") and message.endswith(".") and "; " in message


@pytest.mark.parametrize("path", ACCEPTED)
def test_ordinary_paths_pass(path: str) -> None:
    assert tree_path_problem(path) is None
    assert check_tree_path(path) == path


def test_git_itself_refuses_the_same_dotgit_spellings(tmp_path: Path) -> None:
    """`git update-index --add --cacheinfo` applies verify_path; it must refuse what we refuse."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=tmp_path, input="x",
                          capture_output=True, text=True, check=True).stdout.strip()
    for path in [".git/config", "a/.GIT/x", ".git./x", "git~1/x", ".g\u200cit/x", "a/../b"]:
        proc = subprocess.run(["git", "-c", "core.protectNTFS=true", "-c", "core.protectHFS=true",
                               "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}"],
                              cwd=tmp_path, capture_output=True, text=True, check=False)
        assert proc.returncode != 0, path
        assert tree_path_problem(path) is not None
    ok = subprocess.run(["git", "update-index", "--add", "--cacheinfo", f"100644,{blob},a/.gitx"],
                        cwd=tmp_path, capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and tree_path_problem("a/.gitx") is None


def test_links_named_like_git_files_are_refused() -> None:
    assert link_name_problem("a/.gitmodules") and link_name_problem(".GITATTRIBUTES")
    assert link_name_problem("gitmod~1") and link_name_problem(".gitignore ")
    assert link_name_problem("a/gitmodules") is None and link_name_problem("x.txt") is None
    assert is_dotgit(".Git. ") and not is_dotgit(".gitmodules")


_IGNORABLE = st.sampled_from(["", "\u200c", "\u200d", "\u200e", "\u200f", "\u202a", "\u202e",
                              "\u206a", "\u206f", "\ufeff"])


@settings(deadline=None, max_examples=200)
@given(st.lists(st.sampled_from(["a", "b", "data", "x.txt"]), max_size=3),
       st.tuples(_IGNORABLE, _IGNORABLE, _IGNORABLE, _IGNORABLE), st.sampled_from(["", ".", " ", ". ", "::$DATA"]),
       st.sampled_from([".git", ".GIT", ".Git"]))
def test_any_spelling_of_dotgit_at_any_depth_is_refused(parents: list[str], noise: tuple[str, ...],
                                                       tail: str, base: str) -> None:
    spelled = "".join(ch + n for ch, n in zip(base, (*noise, "")))
    path = "/".join([*parents, spelled + tail, "config"])
    assert tree_path_problem(path) is not None
