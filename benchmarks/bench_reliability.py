"""Reliability under git's maintenance and under killed pushes (README "Reliability").

1. WRITERS processes x RUNS runs each, every run logging POINTS points and committing three
   times, while `git pack-refs --all` and `git gc` run in a loop: runs lost, writer errors,
   background threads dead, `git fsck --strict`.
2. KILLS pushes of a repository of 100 runs to a bare remote served by `git daemon`, each
   after the remote lost 70 refs and SIGKILLed (with its git children) at a random moment,
   then one plain `gittrack push`: scratch repositories and lock files seen after the kills,
   left after the last push, and whether the remote is complete.

    python benchmarks/bench_reliability.py [--writers 16] [--runs 20] [--kills 30]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

WRITER = """
import json, logging, sys, threading
import gittrack
warned, errors, dead, made = [], [], 0, []
class Collect(logging.Handler):
    def emit(self, record):
        warned.append(record.getMessage())
logging.getLogger("gittrack").addHandler(Collect())
threading.excepthook = lambda args: errors.append(repr(args.exc_value))
for i in range(int(sys.argv[2])):
    try:
        with gittrack.start_run(experiment=f"writer-{sys.argv[1]}") as run:
            for step in range(int(sys.argv[3])):
                run.log_metric("loss", 1.0 / (step + 1), step=step)
                if step % 10 == 9:
                    run.flush()
                    run.commit()
            dead += not run._thread.is_alive()
            made.append(run.id)
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
print(json.dumps({"errors": errors, "warned": warned, "dead": dead, "made": made}))
"""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          check=True).stdout


def new_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q")
    git(path, "-c", "user.name=b", "-c", "user.email=b@x", "commit", "-q", "--allow-empty",
        "-m", "init")
    return path


def writers_under_maintenance(root: Path, writers: int, runs: int, points: int) -> dict[str, object]:
    repo = new_repo(root / "race")
    env = {**os.environ, "GITTRACK_COMMIT_SECONDS": "0.02", "GITTRACK_FLUSH_SECONDS": "0.01",
           "GITTRACK_REPO": str(repo)}
    stop, rounds = threading.Event(), {"pack-refs": 0, "gc": 0}

    def maintain() -> None:
        while not stop.is_set():
            for args in (("pack-refs", "--all"), ("gc", "--quiet")):
                subprocess.run(["git", *args], cwd=repo, capture_output=True)
                rounds[args[0]] += 1

    loop = threading.Thread(target=maintain)
    start = time.perf_counter()
    loop.start()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(w), str(runs), str(points)],
                              cwd=repo, env=env, stdout=subprocess.PIPE, text=True)
             for w in range(writers)]
    reports = [json.loads(p.communicate()[0].splitlines()[-1]) for p in procs]
    stop.set()
    loop.join()
    seconds = time.perf_counter() - start
    made = {r for rep in reports for r in rep["made"]}
    listed = {ref.rpartition("/")[2] for ref in
              git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack/runs/").split()}
    fsck = subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=repo,
                          capture_output=True, text=True)
    return {"runs": writers * runs, "made": len(made), "lost": len(made - listed),
            "errors": sum(len(r["errors"]) for r in reports),
            "warnings": sum(len([w for w in r["warned"] if "untracked" not in w])
                            for r in reports),
            "dead threads": sum(r["dead"] for r in reports), "maintenance rounds": rounds,
            "fsck --strict": "clean" if fsck.returncode == 0 else fsck.stderr.strip()[:200],
            "seconds": round(seconds, 1)}


def killed_pushes(root: Path, kills: int, seed: int) -> dict[str, object]:
    served = root / "served"
    served.mkdir()
    bare = served / "team.git"
    git(served, "init", "-q", "--bare", str(bare))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    daemon = subprocess.Popen(["git", "daemon", "--reuseaddr", f"--base-path={served}",
                               "--export-all", "--enable=receive-pack", "--listen=127.0.0.1",
                               f"--port={port}", "--verbose", str(served)],
                              stderr=subprocess.PIPE, text=True)
    assert daemon.stderr is not None
    for line in daemon.stderr:
        if "Ready to rumble" in line:
            break
    try:
        return _kill_loop(root, bare, f"git://127.0.0.1:{port}/team.git", kills, seed)
    finally:
        daemon.terminate()
        daemon.wait()


def _kill_loop(root: Path, bare: Path, url: str, kills: int, seed: int) -> dict[str, object]:
    import gittrack

    path = new_repo(root / "pusher")
    git(path, "remote", "add", "origin", url)
    gittrack.set_tracking_repo(path)
    for i in range(100):
        with gittrack.start_run(experiment="exp") as run:
            run.log_metric("m", float(i))
    push = [sys.executable, "-m", "gittrack", "push"]
    subprocess.run(push, cwd=path, check=True, capture_output=True)
    rng = random.Random(seed)
    killed = mirrors_seen = locks_seen = 0
    for _ in range(kills):
        there = git(bare, "for-each-ref", "--format=%(refname)", "refs/gittrack/").split()
        lost = rng.sample(there, min(70, len(there)))
        subprocess.run(["git", f"--git-dir={bare}", "update-ref", "--stdin"], check=True,
                       input="".join(f"delete {r}\n" for r in lost), text=True)
        proc = subprocess.Popen(push, cwd=path, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=rng.uniform(0.1, 1.5))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            killed += 1
            mirrors_seen += bool(list((path / ".git" / "gittrack").glob("push-*")))
            locks_seen += len(_git_locks(path / ".git"))
    final = subprocess.run(push, cwd=path, capture_output=True, text=True)
    here = git(path, "for-each-ref", "refs/gittrack/")
    there = git(bare, "for-each-ref", "refs/gittrack/")
    return {"pushes": kills, "killed mid-push": killed,
            "kills that left a scratch repository": mirrors_seen,
            "git lock files left by kills": locks_seen,
            "final push exit": final.returncode, "remote complete": here == there,
            "scratch repositories left": len(list((path / ".git" / "gittrack").glob("push-*"))),
            "locks left (local, remote)": (len(_git_locks(path / ".git")), len(_git_locks(bare)))}


def _git_locks(git_dir: Path) -> list[Path]:
    return [p for p in git_dir.rglob("*.lock")
            if p.relative_to(git_dir).parts[0] != "gittrack"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--points", type=int, default=30)
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="gittrack-reliability-"))
    try:
        race = writers_under_maintenance(root, args.writers, args.runs, args.points)
        print(json.dumps({"writers under pack-refs and gc": race}, indent=2))
        kills = killed_pushes(root, args.kills, args.seed)
        print(json.dumps({"killed pushes": kills}, indent=2))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
