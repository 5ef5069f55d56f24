"""Benchmarks of the tracking core (numbers go into the README).

    python benchmarks/bench_tracking.py [--runs 10000] [--small 1000] [--calls 200000]

Measures, each in a fresh temporary repository:
  * ``import gittrack`` in a fresh interpreter (best of 5),
  * ``log_metric`` cost per call in a training loop (buffered; --calls calls, median of 3),
  * short runs per second: in one process (a small and a large set), and one process per run,
  * ``gittrack log`` in a fresh process over both sets of runs, made by the real API.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


SCRATCH = tempfile.TemporaryDirectory(prefix="gittrack-bench-tracking-")  # removed at exit


def fresh_repo() -> Path:
    path = Path(tempfile.mkdtemp(dir=SCRATCH.name))
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    (path / "train.py").write_text("print('train')\n")
    subprocess.run(["git", "-C", str(path), "add", "train.py"], check=True)
    subprocess.run(["git", "-C", str(path), "-c", "user.name=b", "-c", "user.email=b@b",
                    "commit", "-qm", "init"], check=True)
    return path


def timed(cmd: list[str], cwd: Path, repeat: int = 5) -> float:
    """Best wall time of ``cmd`` in seconds."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - start)
    return best


def bench_import(repo: Path) -> float:
    return timed([sys.executable, "-c", "import gittrack"], repo, repeat=7)


def bench_log_metric(repo: Path, calls: int) -> float:
    code = f"""
import time, gittrack
run = gittrack.start_run()
start = time.perf_counter()
for i in range({calls}):
    run.log_metric("loss", 1.0 / (i + 1), step=i)
elapsed = time.perf_counter() - start
run.end()
print(elapsed / {calls} * 1e6)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, check=True,
                         capture_output=True, text=True).stdout
    return float(out.strip())


def make_runs(repo: Path, n: int) -> float:
    """Log ``n`` short runs in one process; returns runs per second."""
    code = f"""
import time, gittrack
gittrack.set_experiment("bench")
start = time.perf_counter()
for i in range({n}):
    with gittrack.start_run() as run:
        run.log_params({{"lr": 0.001 * (i % 10), "depth": i % 7, "i": i}})
        run.log_metrics({{"rmse": 1.0 / (i + 1), "mae": i % 13}})
print({n} / (time.perf_counter() - start))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, check=True,
                         capture_output=True, text=True).stdout
    return float(out.strip())


def process_per_run(repo: Path, n: int = 20) -> float:
    code = "import gittrack\nwith gittrack.start_run() as r:\n    r.log_metric('m', 1)\n"
    start = time.perf_counter()
    for _ in range(n):
        subprocess.run([sys.executable, "-c", code], cwd=repo, check=True)
    return n / (time.perf_counter() - start)


def bench_log(repo: Path) -> tuple[float, float]:
    """(first `gittrack log` after the runs, which fills the index; best of 5 after)."""
    cmd = [sys.executable, "-m", "gittrack", "log", "bench"]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=repo, check=True, stdout=subprocess.DEVNULL)
    first = time.perf_counter() - start
    return first, timed(cmd, repo)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000, help="the large set of runs")
    parser.add_argument("--small", type=int, default=1_000, help="the small set of runs")
    parser.add_argument("--calls", type=int, default=200_000, help="log_metric calls")
    args = parser.parse_args()
    os.environ.pop("GITTRACK_REPO", None)
    repo = fresh_repo()
    print(f"import gittrack (fresh interpreter, best of 7): {bench_import(repo) * 1000:.0f} ms")
    costs = [bench_log_metric(repo, args.calls) for _ in range(3)]
    print(f"log_metric per call ({args.calls:,} calls, median of 3): "
          f"{statistics.median(costs):.2f} us")
    rate = process_per_run(repo)
    print(f"short runs, one process per run: {rate:.1f} runs/s = {1 / rate:.2f} s a run")
    for label, count in (("small", args.small), ("large", args.runs)):
        path = fresh_repo()
        rate = make_runs(path, count)
        print(f"short runs in one process, {label} set ({count:,} runs): {rate:.0f} runs/s")
        first, warm = bench_log(path)
        print(f"gittrack log, {label} set ({count:,} runs), fresh process: {first:.2f} s first "
              f"(fills the index), {warm:.2f} s after")
    counts = subprocess.run(["git", "count-objects", "-v"], cwd=path, check=True,
                            capture_output=True, text=True).stdout
    loose = int(counts.split("count: ")[1].split()[0])
    packs = int(counts.split("packs: ")[1].split()[0])
    auto = subprocess.run(["git", "gc", "--auto", "--no-quiet"], cwd=path, check=True,
                          capture_output=True, text=True)
    print(f"after {args.runs:,} runs: {loose} loose objects (git auto-gcs above 6,700), "
          f"{packs} packs, `git gc --auto` {'ran' if auto.stdout or auto.stderr else 'had nothing to do'}")


if __name__ == "__main__":
    main()
