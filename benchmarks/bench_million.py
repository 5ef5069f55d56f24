"""Queries and a new run at a large run count (written by the bulk path), each in a fresh process.

    python benchmarks/bench_million.py --runs 1000000 [--path DIR]

Writes RUNS runs with benchmarks/make_runs.py (10 experiments, 10 params and 10 metrics each;
reused when PATH holds them already), then measures in fresh processes:
  * `gittrack log -n 20 --where ... --sort ...`, the first time (the index filled from the
    summaries the bulk path noted) and warm (best of 3);
  * `search_runs(filter_string=..., search_all_experiments=True)` (MLflow's call; without
    the flag it searches the active experiment only) into a DataFrame, from `import gittrack`,
    with the process's peak RSS;
  * one more run through the API (10 params, 5 metrics x 100 steps, a 10 KB artifact): its
    `start_run` .. `end_run` and the commit it waits for (the median of 15 in one process,
    after 3 warm-up runs; the middle of 3 such processes, alternated with the same in a
    repository of 1,000 runs);
  * the same `gittrack log` once those runs exist (their refs are loose, the rest packed).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import make_runs  # noqa: E402

WHERE = "metrics.rmse < 300 AND params.model = 'rf' OR tags.team = 'ops' AND NOT params.depth > 8"
SORT = "-metrics.mae"
FILTER = "metrics.rmse < 200 and params.model = 'rf'"
# Peak RSS is the kernel's VmHWM of the child's own address space (KiB): ru_maxrss would carry
# over this process's peak (it wrote the runs) through fork and exec on Linux.
SEARCH = f"""
import time
started = time.perf_counter()
import gittrack
df = gittrack.search_runs(filter_string={FILTER!r}, search_all_experiments=True)
took = time.perf_counter() - started
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(took, len(df), peak)
"""
WARM, RUNS = 3, 15  # the first runs of a process import and open what the others reuse
ONE_RUN = f"""
import os, time, gittrack
WARM, RUNS = {WARM}, {RUNS}
open("model.bin", "wb").write(os.urandom(10_000))
times = []
for i in range(WARM + RUNS):
    started = time.perf_counter()
    with gittrack.start_run(experiment="exp-0"):
        gittrack.log_params({{f"p{{j}}": j for j in range(10)}})
        for step in range(100):
            gittrack.log_metrics({{f"m{{k}}": k / (step + 1) for k in range(5)}}, step=step)
        gittrack.log_artifact("model.bin")
    gittrack.flush()
    times.append(time.perf_counter() - started)
times = sorted(times[WARM:])
print(times[len(times) // 2])
"""


def timed(cmd: list[str], cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr}")
    return time.perf_counter() - started, proc.stdout


def ensure_runs(path: Path, runs: int) -> None:
    if path.exists():
        return
    started = time.perf_counter()
    make_runs.write_runs(path, runs, 10, seed=7)
    took = time.perf_counter() - started
    print(f"wrote {runs:,} runs with the bulk path in {took:.0f} s ({runs / took:,.0f} runs/s)")


def one_run(path: Path) -> float:
    (path / ".gitignore").write_text("model.bin\n")
    _wall, out = timed([sys.executable, "-c", ONE_RUN], path)
    return float(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--path", type=Path, default=None)
    args = parser.parse_args(argv)
    path = args.path or Path(f"/tmp/gittrack-bench-{args.runs}")
    ensure_runs(path, args.runs)
    packed = (path / ".git" / "packed-refs").stat().st_size
    print(f"{args.runs:,} runs in {path}; packed-refs {packed / 1e6:.0f} MB")
    log = [sys.executable, "-m", "gittrack", "log", "-n", "20", "--where", WHERE, f"--sort={SORT}"]
    first, out = timed(log, path)
    warm = min(timed(log, path)[0] for _ in range(3))
    print(f"gittrack log -n 20 --where ... --sort ... (fresh process): {first:.2f} s the first "
          f"time, {warm:.2f} s warm ({len(out.splitlines()) - 1} rows)")
    runs = []
    for _ in range(3):
        _wall, out = timed([sys.executable, "-c", SEARCH], path)
        runs.append(out.split())
    took, rows, rss = min(runs, key=lambda r: float(r[0]))
    print(f"search_runs(filter_string={FILTER!r}, search_all_experiments=True): "
          f"{float(took):.2f} s from import gittrack, "
          f"{int(rows):,} rows, peak RSS {int(rss) / 1024:.0f} MB")
    scratch = Path(tempfile.mkdtemp(prefix="gittrack-bench-1000-"))
    try:
        make_runs.write_runs(scratch / "repo", 1000, 10, seed=7)
        small, large = [], []
        for _ in range(3):  # alternated: the machine's drift hits both sizes alike
            small.append(one_run(scratch / "repo"))
            large.append(one_run(path))
        at_small, at_large = sorted(small)[1], sorted(large)[1]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"one more API run (median of {RUNS} after {WARM} warm-up runs, start to committed; "
          f"the middle of 3 processes each, alternated): "
          f"{at_small * 1000:.1f} ms at "
          f"1,000 runs, {at_large * 1000:.1f} ms at {args.runs:,}")
    after = min(timed(log, path)[0] for _ in range(3))
    print(f"gittrack log -n 20 --where ... --sort ... after those {3 * (WARM + RUNS)} runs (fresh "
          f"process, their refs loose): {after:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
