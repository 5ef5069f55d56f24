"""Run creation at scale through the API: does a run cost the same at 100,000 runs as at 0?

    python benchmarks/bench_scale.py [--prefill 99000] [--runs 1000] [--dir DIR]

Each run is the training-sweep workload: 10 params, 5 metrics x 100 steps (log_metrics per
step), a 10 KB artifact. First RUNS runs in an empty repository (the early rate); then
PREFILL finished runs written by the bulk path (gittrack.log_runs, the same records), then
RUNS more through the API (the late rate). Also the median of `log_artifact` (10 KB) and of
`end_run` in the warm process, and the repository's size.
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
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_bulk import records  # noqa: E402


def make_repo(path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    (path / "train.py").write_text("print('train')\n")
    subprocess.run(["git", "-C", str(path), "add", "train.py"], check=True)
    subprocess.run(["git", "-C", str(path), "-c", "user.name=b", "-c", "user.email=b@b",
                    "commit", "-qm", "init"], check=True)


def api_runs(gittrack: Any, count: int, offset: int, artifact: Path) -> dict[str, Any]:
    """``count`` runs through the API; runs/s and the per-call medians."""
    log_artifact: list[float] = []
    end_run: list[float] = []
    gittrack.flush()
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(offset, offset + count):
        gittrack.start_run(run_name=f"api-{i}")
        gittrack.log_params({f"p{j}": (i * 31 + j) % 97 for j in range(10)})
        for step in range(100):
            gittrack.log_metrics({f"m{k}": (i % 13) * 0.1 + k / (step + 1) for k in range(5)},
                                 step=step)
        artifact.write_bytes(os.urandom(10_000))  # a new model file each run
        t0 = time.perf_counter()
        gittrack.log_artifact(str(artifact))
        t1 = time.perf_counter()
        gittrack.end_run()
        t2 = time.perf_counter()
        log_artifact.append(t1 - t0)
        end_run.append(t2 - t1)
    gittrack.flush()  # the last final commit is part of the work
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"rate": count / took, "cpu_rate": count / cpu,
            "log_artifact_ms": statistics.median(log_artifact) * 1000,
            "end_run_ms": statistics.median(end_run) * 1000, "seconds": took}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefill", type=int, default=99_000)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--profile", type=Path, default=None,
                        help="write a cProfile of the late API runs to this file")
    args = parser.parse_args()
    path = args.dir or Path(tempfile.mkdtemp(prefix="gittrack-scale-"))
    make_repo(path)
    os.chdir(path)
    artifact = path / "model.bin"
    (path / ".gitignore").write_text("model.bin\n")
    subprocess.run(["git", "-C", str(path), "config", "user.name", "b"], check=True)
    subprocess.run(["git", "-C", str(path), "config", "user.email", "b@b"], check=True)
    import gittrack

    gittrack.set_experiment("sweep")
    print("each API run: 10 params, 5 metrics x 100 steps (log_metrics per step), a new 10 KB "
          "artifact")
    early = api_runs(gittrack, args.runs, 0, artifact)
    print(f"API runs 1-{args.runs:,}: {early['rate']:.1f} runs/s ({early['cpu_rate']:.1f} per CPU "
          f"second); median log_artifact {early['log_artifact_ms']:.2f} ms, end_run "
          f"{early['end_run_ms']:.2f} ms")
    started = time.perf_counter()
    if args.prefill:
        gittrack.log_runs(records(args.prefill, 100, offset=args.runs), experiment="sweep")
    filled = time.perf_counter() - started
    total = args.runs + args.prefill
    print(f"bulk prefill of {args.prefill:,} runs: {filled:.1f} s "
          f"({args.prefill / max(filled, 1e-9):,.0f} runs/s)")
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    late = api_runs(gittrack, args.runs, total, artifact)
    if args.profile:
        profiler.disable()
        profiler.dump_stats(str(args.profile))
    print(f"API runs {total + 1:,}-{total + args.runs:,}: {late['rate']:.1f} runs/s "
          f"({late['cpu_rate']:.1f} per CPU second); median log_artifact "
          f"{late['log_artifact_ms']:.2f} ms, end_run {late['end_run_ms']:.2f} ms")
    print(f"late / early: {late['rate'] / early['rate']:.2f} (wall), "
          f"{late['cpu_rate'] / early['cpu_rate']:.2f} (CPU)")
    refs = subprocess.run(["git", "-C", str(path), "for-each-ref", "--format=x",
                           "refs/gittrack/runs/"], capture_output=True, text=True, check=True)
    print(f"{len(refs.stdout.splitlines()):,} runs in {path}")


if __name__ == "__main__":
    main()
