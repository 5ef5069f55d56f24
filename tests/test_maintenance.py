"""gittrack keeps the repository healthy: git never auto-gcs because of runs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

import gittrack
from gittrack.core import maintenance
from gittrack.core.gitio import Repo
from tests.conftest import git

GC_AUTO = 6700  # git's default gc.auto loose-object threshold


def _count_objects(repo: Path) -> dict[str, int]:
    out = git(repo, "count-objects", "-v")
    return {k: int(v) for k, v in re.findall(r"^([\w-]+): (\d+)$", out, re.M)}


RUNS = 1_500  # ~20,000 objects unpacked: three times what makes git auto-gc
# (benchmarks/bench_tracking.py checks the same at 10,000 runs)


def test_many_runs_stay_below_gc_auto(repo: Path) -> None:
    gittrack.set_experiment("many")
    for i in range(RUNS):
        with gittrack.start_run(run_name=f"r{i}") as run:
            run.log_param("i", i)
            run.log_metric("m", i)
    counts = _count_objects(repo)
    assert counts["count"] < GC_AUTO
    assert counts["packs"] < 50  # gc.autoPackLimit
    loose_refs = list((repo / ".git" / "refs" / "gittrack").rglob("*"))
    packed = (repo / ".git" / "packed-refs").read_text().count("refs/gittrack/runs/many/")
    assert packed > RUNS - 500 and len([p for p in loose_refs if p.is_file()]) < 500
    # git itself agrees that no automatic gc is due
    assert git(repo, "gc", "--auto", "--no-quiet") == ""
    assert len(git(repo, "for-each-ref", "refs/gittrack/runs/many").splitlines()) == RUNS


def test_keep_healthy_packs_loose_objects_and_refs(repo: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patched:  # no roll while the runs write: the force does it
        patched.setattr(maintenance, "ROLL_PACKS", 10_000)
        for _ in range(10):
            with gittrack.start_run() as run:
                run.log_metric("m", 1)
        gittrack.flush()
    for i in range(150):  # loose objects another writer left
        subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=f"loose {i}\n",
                       text=True, capture_output=True, check=True)
    before = _count_objects(repo)
    assert before["count"] >= 150 and before["packs"] >= 10  # each run commit is one small pack
    assert maintenance.keep_healthy(Repo(repo), force=True)
    after = _count_objects(repo)
    assert after["count"] == 0 and after["in-pack"] >= before["count"]
    assert after["packs"] <= 2
    assert not list((repo / ".git" / "refs" / "gittrack").rglob("*/*/*"))
    assert len(git(repo, "for-each-ref", "refs/gittrack/runs").splitlines()) == 10
    git(repo, "fsck", "--strict", "--no-progress")


def test_small_packs_roll_geometrically(repo: Path) -> None:
    sizes = [100, 120, 130, 1000, 5000, 100_000]
    paths = []
    for i, size in enumerate(sizes):
        path = repo / f"p{i}.pack"
        path.write_bytes(b"x" * size)
        paths.append(path)
    # the three small ones roll into one of 350 bytes; the ones left grow at least twofold
    assert maintenance.geometric(paths) == paths[:3]
    assert maintenance.geometric(paths[4:]) == paths[4:]  # always at least two


def test_failed_housekeeping_never_fails_the_run(repo: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    # Another git process holding packed-refs.lock makes `git pack-refs` fail.
    (repo / ".git" / "packed-refs.lock").write_text("")
    assert maintenance.keep_healthy(Repo(repo), force=True) is False
    assert "Packing the repository failed, to be retried" in caplog.text
    with gittrack.start_run() as run:
        run.log_metric("m", 1)
    assert gittrack.get_run(run.id).status == "finished"


def test_roll_up_merges_whole_object_packs_and_leaves_git_packs(repo: Path) -> None:
    from gittrack.core.packs import PackBuilder, roll_up

    for i in range(5):  # similar versions of one file: git's pack stores them as deltas
        (repo / "big.txt").write_text("line\n" * 2000 + f"edit {i}\n")
        git(repo, "add", "big.txt")
        git(repo, "commit", "-qm", f"edit {i}")
    git(repo, "gc", "-q")
    (git_pack,) = (repo / ".git" / "objects" / "pack").glob("*.pack")
    ids = []
    for i in range(3):
        pack = PackBuilder()
        ids.append(pack.blob(f"object {i}\n".encode()))
        pack.write_pack(repo / ".git")
    packs = sorted((repo / ".git" / "objects" / "pack").glob("*.pack"))
    assert len(packs) == 4
    assert roll_up(repo / ".git" / "objects" / "pack", packs) == [git_pack]
    left = sorted((repo / ".git" / "objects" / "pack").glob("*.pack"))
    assert len(left) == 2 and git_pack in left
    for oid in ids:
        assert git(repo, "cat-file", "-p", oid).startswith("object")
    git(repo, "fsck", "--strict", "--no-progress")
