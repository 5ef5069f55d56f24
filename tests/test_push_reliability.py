"""Push tells git's real reason for each rejected ref and exits 1; a killed push leaves
nothing behind that the next push (or `gittrack doctor`) does not clean (issue 12).

Remotes are bare repositories served by `git daemon` or plain paths; leftovers are checked
with the plain file system and `git for-each-ref`.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import git, lose_object, make_repo
from servers import GitDaemon, env_with_gittrack, git_daemon  # noqa: F401 - fixture

import gittrack
from gittrack.sharing import leftovers, pushstatus

KILLS = 30


def runs(path: Path, count: int, experiment: str = "exp") -> list[str]:
    gittrack.set_tracking_repo(path)
    ids = []
    for i in range(count):
        with gittrack.start_run(experiment=experiment) as run:
            run.log_metric("m", float(i))
            ids.append(run.id)
    return ids


def refs(git_dir: Path, prefix: str = "refs/gittrack/") -> dict[str, str]:
    out = git(git_dir, "for-each-ref", "--format=%(refname) %(objectname)", prefix)
    return dict(line.split() for line in out.splitlines())


def git_locks(git_dir: Path) -> list[Path]:
    """git's lock files (gittrack's own flock files under gittrack/ are not git locks)."""
    return [p for p in git_dir.rglob("*.lock") if "gittrack" not in p.relative_to(git_dir).parts[:1]]


def push(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gittrack", "push", *args], cwd=path,
                          capture_output=True, text=True, env=env_with_gittrack(), timeout=300)


# ---------------------------------------------------------------- git's reasons


def test_a_stale_lock_on_the_remote_gives_gits_reason_and_exit_1(tmp_path: Path,
                                                                   remote: Path) -> None:
    path = make_repo(tmp_path / "a")
    (run_id,) = runs(path, 1)
    ref = next(iter(refs(path / ".git")))
    lock = remote / f"{ref}.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("")  # a git process on the remote died holding it
    result = push(path, str(remote))
    assert result.returncode == 1, result.stderr
    assert f"lock file {remote}" in result.stderr and ref in result.stderr
    assert "remote holds newer" not in result.stderr
    assert refs(remote) == {}
    lock.unlink()
    assert push(path, str(remote)).returncode == 0
    assert refs(remote) == refs(path / ".git")


def test_an_unpacker_error_and_a_missing_object_are_named(tmp_path: Path, remote: Path) -> None:
    path = make_repo(tmp_path / "a")
    runs(path, 2)
    git(remote, "config", "receive.maxInputSize", "10")
    result = push(path, str(remote))
    assert result.returncode == 1
    assert "could not unpack" in result.stderr and "maximum allowed size" in result.stderr
    git(remote, "config", "--unset", "receive.maxInputSize")
    commit = next(iter(refs(path / ".git").values()))
    tree = git(path, "rev-parse", f"{commit}^{{tree}}").strip()
    lose_object(path / ".git", tree)
    result = push(path, str(remote))
    assert result.returncode == 1 and tree[:12] in result.stderr
    assert "gittrack doctor" in result.stderr


def test_the_python_api_raises_with_every_reason(tmp_path: Path, remote: Path) -> None:
    from gittrack.core.errors import PushRejectedError

    path = make_repo(tmp_path / "a")
    runs(path, 3)
    local = refs(path / ".git")
    for ref in list(local)[:2]:
        (remote / f"{ref}.lock").parent.mkdir(parents=True, exist_ok=True)
        (remote / f"{ref}.lock").write_text("")
    with pytest.raises(PushRejectedError) as caught:
        gittrack.push(str(remote))
    assert set(caught.value.rejected) == set(list(local)[:2])
    assert all("lock file" in why for why in caught.value.rejected.values())
    assert "(and 1 more ref(s))" in str(caught.value)


PORCELAIN = {
    "lock": ("To r\n!\trefs/gittrack/runs/x/1:refs/gittrack/runs/x/1\t[remote rejected] (failed "
             "to update ref)\nDone\n",
             "remote: error: cannot lock ref 'refs/gittrack/runs/x/1': Unable to create "
             "'/srv/r.git/./refs/gittrack/runs/x/1.lock': File exists.        \n"),
    "unpack": ("To r\n!\tabc:refs/tags/m/v1\t[remote rejected] (unpacker error)\n",
               "remote: fatal: pack exceeds maximum allowed size\n"
               "error: remote unpack failed: unpack-objects abnormal exit\n"),
    "moved": ("To r\n!\tabc:refs/gittrack/runs/x/2\t[rejected] (stale info)\nDone\n", ""),
    "missing": ("To r\n!\trefs/gittrack/runs/x/5:refs/gittrack/runs/x/5\t[remote rejected] "
                "(unpacker error)\n",
                "fatal: unable to read 45b983be36b73c0788dc9cbcb76cbb80fc7bb057\n"
                "error: remote unpack failed: eof before pack header was fully read\n"),
    "hook": ("To r\n!\tabc:refs/gittrack/runs/x/3\t[remote rejected] (pre-receive hook "
             "declined)\n", "remote: refs/gittrack/runs/x/3 is frozen\n"),
    "ok": ("To r\n*\tabc:refs/gittrack/runs/x/4\t[new reference]\n=\tabc:refs/tags/t\t"
           "[up to date]\nDone\n", ""),
}


@pytest.mark.parametrize("case", sorted(PORCELAIN))
def test_porcelain_and_stderr_give_the_reason(case: str) -> None:
    found = pushstatus.parse(*PORCELAIN[case])
    kinds = {ref: st.kind for ref, st in found.items()}
    reasons = " ".join(st.reason for st in found.values())
    expected = {
        "lock": ({"refs/gittrack/runs/x/1": pushstatus.LOCKED}, "/srv/r.git/./refs/gittrack"),
        "unpack": ({"refs/tags/m/v1": pushstatus.UNPACK}, "maximum allowed size"),
        "moved": ({"refs/gittrack/runs/x/2": pushstatus.MOVED}, "stale info"),
        "missing": ({"refs/gittrack/runs/x/5": pushstatus.MISSING}, "45b983be36b7"),
        "hook": ({"refs/gittrack/runs/x/3": pushstatus.REFUSED}, "is frozen"),
        "ok": ({"refs/gittrack/runs/x/4": "", "refs/tags/t": ""}, ""),
    }[case]
    assert kinds == expected[0] and expected[1] in reasons
    assert pushstatus.failure("fatal: Authentication failed for 'https://h/r'\n") == \
        "Authentication failed for 'https://h/r'"


# ---------------------------------------------------------------- what a killed push leaves


def scratch(git_dir: Path) -> list[Path]:
    return sorted((git_dir / "gittrack").glob("push-*"))


def test_what_dead_pushes_left_is_removed(tmp_path: Path, remote: Path, cli: Any) -> None:
    path = make_repo(tmp_path / "a")
    runs(path, 2)
    commit = next(iter(refs(path / ".git").values()))
    git_dir = path / ".git"
    dead = git_dir / "gittrack" / "push-999999999-1"  # a killed push's scratch repository
    (dead / "refs").mkdir(parents=True)
    (dead / leftovers.OWNER_FILE).write_text("")  # nobody holds its lock
    git(path, "update-ref", "refs/gittrack-push/999999999/gittrack/runs/exp/x", commit)
    (git_dir / "refs" / "gittrack-push" / "999999999" / "gittrack" / "runs" / "exp" /
     "y.lock").write_text("")  # an older version's mirror, and a killed update-ref's lock
    checked = cli("--repo", str(path), "doctor", "--check")
    assert checked.code == 1 and "killed pushes left" in checked.out
    assert scratch(git_dir) == [dead]
    report = cli("--repo", str(path), "doctor", "--json")
    assert report.code == 0, report.out
    assert refs(git_dir, "refs/gittrack-push/") == {} and git_locks(git_dir) == []
    assert scratch(git_dir) == []

    (dead / "refs").mkdir(parents=True)
    git(path, "update-ref", "refs/gittrack-push/999999998/gittrack/runs/exp/x", commit)
    assert push(path, str(remote)).returncode == 0  # the next push cleans too
    assert refs(git_dir, "refs/gittrack-push/") == {} and scratch(git_dir) == []


def test_a_running_pushs_scratch_repository_is_left_alone(tmp_path: Path) -> None:
    path = make_repo(tmp_path / "a")
    runs(path, 1)
    repo = gittrack.api.open_store().repo
    live = repo.state_dir / "push-1-2"  # pid 1 is alive, but the lock decides
    live.mkdir()
    owner = leftovers.hold(live)
    try:
        assert not leftovers.stale_stages(repo)
        assert leftovers.drop_stale_stages(repo) == 0 and live.is_dir()
    finally:
        os.close(owner)
    assert leftovers.stale_stages(repo).scratch == [live]
    assert leftovers.drop_stale_stages(repo) == 1 and not live.exists()


def test_thirty_killed_pushes_then_one_plain_push_complete_the_remote(
        tmp_path: Path, git_daemon: GitDaemon) -> None:  # noqa: F811
    url = git_daemon.bare("team.git")
    bare = git_daemon.base / "team.git"
    path = make_repo(tmp_path / "a")
    git(path, "remote", "add", "origin", url)
    runs(path, 100)
    assert push(path).returncode == 0
    rng = random.Random(12)

    def lose_some() -> None:
        there = sorted(refs(bare))
        lost = rng.sample(there, min(70, len(there)))  # enough to stage a mirror (64+)
        subprocess.run(["git", f"--git-dir={bare}", "update-ref", "--stdin"], check=True,
                       input="".join(f"delete {r}\n" for r in lost), text=True)

    def start_push() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "gittrack", "push"], cwd=path,
                                env=env_with_gittrack(), start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    lose_some()
    started = time.monotonic()
    assert start_push().wait(timeout=300) == 0
    whole = time.monotonic() - started  # how long one such push takes on this machine
    killed = 0
    for _ in range(KILLS):
        lose_some()
        proc = start_push()
        try:
            proc.wait(timeout=rng.uniform(0.05, 0.95) * whole)  # a random moment of the push
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the push and the git it runs
            proc.wait()
            killed += 1
    assert killed > KILLS // 3

    final = push(path)
    assert final.returncode == 0, final.stderr
    assert refs(bare) == refs(path / ".git")  # the remote is complete
    assert refs(path / ".git", "refs/gittrack-push/") == {}
    assert git_locks(path / ".git") == [] and git_locks(bare) == []
    assert scratch(path / ".git") == []


# ---------------------------------------------------------------- user strings and git's argv


@pytest.mark.parametrize("command", ["pull", "push", "fetch"])
def test_a_remote_that_looks_like_an_option_is_refused(tmp_path: Path, cli: Any,
                                                       command: str) -> None:
    path = make_repo(tmp_path / "a")
    runs(path, 1)
    canary = tmp_path / "PWNED"
    result = cli("--repo", str(path), command, "--", f"--upload-pack=touch {canary}")
    assert result.code == 1 and "is not a remote name" in result.err
    assert not canary.exists()
