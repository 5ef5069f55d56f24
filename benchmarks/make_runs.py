"""Write N synthetic finished runs (10 params, 10 metrics each) into a git repository, fast.

Live runs cost ~10 ms each in one process (benchmarks/bench_scale.py); 100,000 runs through
them would take many minutes. This writes them with the bulk path, `gittrack.log_runs`, which
writes exactly the records the tracking API writes for the same values (tests/test_bulk.py
proves it byte for byte), as one pack and one packed-refs update.
Deterministic for a given --seed (run ids, names, values; not the commit times).

    python benchmarks/make_runs.py --runs 100000 --path /tmp/gittrack-bench-100000
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gittrack.core import names

MODELS = ("rf", "xgb", "linear", "mlp", "svm")


def make_repo(path: Path) -> str:
    """A repository with one commit holding a train.py; returns that commit."""
    path.mkdir(parents=True, exist_ok=True)
    env = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    (path / "train.py").write_text("print('training')\n")
    subprocess.run(["git", "-C", str(path), "add", "train.py"], check=True)
    subprocess.run(["git", "-C", str(path), *env, "commit", "-q", "-m", "initial"], check=True)
    for key, value in (("user.name", "bench"), ("user.email", "bench@localhost")):
        subprocess.run(["git", "-C", str(path), "config", key, value], check=True)
    out = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


def run_record(i: int, rng: random.Random, experiment: str, t0: dt.datetime) -> dict[str, Any]:
    """The `gittrack.log_runs` record of synthetic run ``i``."""
    run_id = f"{rng.getrandbits(64):016x}"
    start = t0 + dt.timedelta(seconds=i * 7, microseconds=rng.randrange(1_000_000))
    end = start + dt.timedelta(seconds=rng.randrange(1, 3600))
    params: dict[str, Any] = {
        "model": rng.choice(MODELS), "alpha": round(rng.random(), 3),
        "depth": rng.randrange(1, 17), "lr": rng.choice((0.001, 0.01, 0.1)),
        "epochs": rng.choice((10, 20, 50, 100)), "seed": i, "batch": rng.choice((32, 64, 128)),
        "optimizer": rng.choice(("adam", "sgd")), "dropout": round(rng.random() / 2, 2),
        "features": rng.choice(("all", "top10", "top50")),
    }
    ms = int(end.timestamp() * 1000)
    metrics: dict[str, Any] = {f"m{k}": [(9, ms, rng.random())] for k in range(8)}
    for key, low, high in (("rmse", 100, 1000), ("mae", 50, 900)):
        value = rng.uniform(low, high)
        metrics[key] = [(step, ms - 1000 * (9 - step), value + 9 - step) for step in range(10)]
    return {"id": run_id, "name": names.generate_run_name(rng), "experiment": experiment,
            "status": rng.choice(("finished",) * 18 + ("failed", "killed")),
            "start_time": start.isoformat(), "end_time": end.isoformat(), "user": "bench",
            "params": params, "metrics": metrics,
            "tags": {"team": rng.choice(("ml", "data", "ops")), "stage": f"s{i % 7}"}}


def records(runs: int, experiments: int, seed: int, offset: int = 0,
            prefix: str = "exp") -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    for i in range(offset, offset + runs):
        yield run_record(i, rng, f"{prefix}-{i % experiments}", t0)


def write_runs(path: Path, runs: int, experiments: int, seed: int) -> None:
    """A new repository at ``path`` holding ``runs`` runs in ``experiments`` experiments."""
    make_repo(path)
    add_runs(path, runs, experiments, seed)


def add_runs(path: Path, runs: int, experiments: int, seed: int, offset: int = 0,
             prefix: str = "exp") -> None:
    """``runs`` more runs in the repository at ``path``, through `gittrack.log_runs`."""
    import gittrack

    cwd = os.getcwd()
    os.chdir(path)
    try:
        gittrack.set_tracking_repo(path)
        gittrack.log_runs(records(runs, experiments, seed, offset, prefix))
    finally:
        gittrack.set_tracking_repo(None)
        os.chdir(cwd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--experiments", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--path", type=Path, default=None)
    args = parser.parse_args(argv)
    path = args.path or Path(f"/tmp/gittrack-bench-{args.runs}")
    if path.exists():
        print(f"{path} exists; remove it first", file=sys.stderr)
        return 1
    started = time.perf_counter()
    write_runs(path, args.runs, args.experiments, args.seed)
    took = time.perf_counter() - started
    print(f"wrote {args.runs} runs to {path} in {took:.1f} s ({args.runs / took:,.0f} runs/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
