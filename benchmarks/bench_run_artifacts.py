"""Benchmark of run artifacts: log_model of a random forest, and `gittrack checkout` of 1 GB.

Run: python benchmarks/bench_run_artifacts.py [--dir DIR] [--restore-mb 1024] [--repeat 5]
Targets (issue 3): log_model of a RandomForestRegressor (100 trees, 1,000 x 10) <= 0.5 s.
The restore is timed both as the real command (`gittrack checkout RUN` in a new process,
interpreter start included) and in-process (checkout_commit), the first after the file was
logged and deleted, the second again after deleting it once more (warm page cache).
Every log_model call logs a forest fitted with its own seed, so no call finds its model file
already in the cache.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MB = 1 << 20


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "init"]):
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True,
                       env={**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
                            "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"})
    return path


def bench_log_model(repo: Path, repeat: int) -> None:
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import RandomForestRegressor

    import gittrack

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(1000, 10)), columns=[f"f{i}" for i in range(10)])
    y = x["f0"] * 3 - x["f1"] + rng.normal(scale=0.1, size=1000)
    # A forest of its own for every call (another seed): a model logged twice would find its
    # file already in the cache and measure a cache hit.
    forests = [RandomForestRegressor(n_estimators=100, random_state=i, n_jobs=1).fit(x, y)
               for i in range(2 * repeat)]
    gittrack.set_tracking_repo(repo)
    plain, example = [], []
    with gittrack.start_run() as run:
        for i in range(repeat):
            plain.append(timed(lambda: run.log_model(forests[i], f"rf-{i}")))
        for i in range(repeat):
            example.append(timed(lambda: run.log_model(forests[repeat + i], f"rf-ex-{i}",
                                                       input_example=x.head())))
    md5s = {run.state.artifacts[f"rf-{i}"]["md5"] for i in range(repeat)}
    assert len(md5s) == repeat, "every forest logged is a different model"
    size = run.state.artifacts["rf-0"]["size"]
    after = plain[1:] or plain
    print(f"log_model RF 100 trees, 1000x10 ({size / MB:.1f} MB model dir), {repeat} forests, "
          f"each fitted with its own seed")
    print(f"  no input_example   s   first {plain[0]:.3f}  median after {statistics.median(after):.3f}"
          f"  max {max(plain):.3f}   (target <= 0.5)")
    print(f"  with input_example s   first {example[0]:.3f}  median {statistics.median(example):.3f}"
          f"  max {max(example):.3f}   (signature inferred by predict)")


def bench_checkout(repo: Path, mb: int) -> None:
    import gittrack
    from gittrack import api, query
    from gittrack.sharing import workspace
    big = repo / "data" / "big.bin"
    big.parent.mkdir()
    with open(big, "wb") as fh:
        for _ in range(mb):
            fh.write(os.urandom(MB))
    gittrack.set_tracking_repo(repo)
    with gittrack.start_run() as run:
        log_s = timed(lambda: run.log_artifact(big))
    big.unlink()
    cmd = [shutil.which("gittrack") or "gittrack", "checkout", run.id]
    cli_s = timed(lambda: subprocess.run(cmd, cwd=repo, check=True, capture_output=True))
    assert big.stat().st_size == mb * MB
    unchanged_s = timed(lambda: subprocess.run(cmd, cwd=repo, check=True, capture_output=True))
    big.unlink()
    store = api.open_store()
    commit = query.resolve(store, run.id)[1]
    lib_s = timed(lambda: workspace.checkout_commit(store, commit))
    print(f"{mb} MB artifact: log_artifact {log_s:.2f} s (hash + copy into the cache)")
    print(f"  `gittrack checkout RUN` (new process)  s   {cli_s:.2f}   ({mb / cli_s:.0f} MB/s, verified)")
    print(f"  checkout_commit in-process (warm)      s   {lib_s:.2f}   ({mb / lib_s:.0f} MB/s)")
    print(f"  `gittrack checkout RUN`, nothing to do s   {unchanged_s:.2f}   (State memo)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=None, help="scratch directory (default: a temp dir)")
    parser.add_argument("--restore-mb", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gittrack-bench-", dir=args.dir))
    cwd = os.getcwd()
    try:
        os.chdir(make_repo(work / "models"))
        bench_log_model(work / "models", args.repeat)
        os.chdir(make_repo(work / "restore"))
        bench_checkout(work / "restore", args.restore_mb)
    finally:
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
