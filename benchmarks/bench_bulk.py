"""The bulk path: `gittrack.log_runs` writing N finished runs, runs per second.

Run: python benchmarks/bench_bulk.py [--runs 100000] [--steps 100] [--dir DIR]

Each run has 10 params and 5 metrics of STEPS points (the API workload of bench_tracking.py
without its artifact). The wall time covers building the records' YAML and TSV, hashing,
streaming the objects into one pack with its index, the one packed-refs update, and noting
each run's summary for `gittrack log`; then `gittrack log -n 20` runs in a fresh process as
a check.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def records(count: int, steps: int, offset: int = 0):  # type: ignore[no-untyped-def]
    base = 1_760_000_000_000
    for i in range(offset, offset + count):
        yield {"name": f"run-{i}",
               "params": {f"p{j}": (i * 31 + j) % 97 for j in range(10)},
               "metrics": {f"m{k}": [(s, base + s, (i % 13) * 0.1 + k / (s + 1)) for s in range(steps)]
                           for k in range(5)},
               "start_time": base + i, "end_time": base + i + 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    path = args.dir or Path(tempfile.mkdtemp(prefix="gittrack-bulk-"))
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    subprocess.run(["git", "-C", str(path), "-c", "user.name=b", "-c", "user.email=b@b", "commit",
                    "-q", "--allow-empty", "-m", "init"], check=True)
    os.chdir(path)
    import gittrack

    start, cpu = time.perf_counter(), time.process_time()
    ids = gittrack.log_runs(records(args.runs, args.steps), experiment="bulk")
    took, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"log_runs: {len(ids):,} runs in {took:.1f} s = {len(ids) / took:,.0f} runs/s, "
          f"{len(ids) / cpu:,.0f} per CPU second ({args.steps} steps x 5 metrics, 10 params "
          "each; generating the records included)")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "gittrack", "log", "bulk", "-n", "20"],
                         capture_output=True, text=True, check=True)
    print(f"gittrack log -n 20 afterwards (fresh process): {time.perf_counter() - start:.2f} s, "
          f"{len(out.stdout.splitlines()) - 1} rows")
    size = sum(p.stat().st_size for p in (path / ".git").rglob("*") if p.is_file())
    print(f".git size: {size / 1e6:.0f} MB ({size / len(ids) / 1000:.1f} KB a run); {path}")


if __name__ == "__main__":
    main()
