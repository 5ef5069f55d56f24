"""Benchmark of sharing: push 10,000 runs (refs + objects, no artifacts) to a local bare
remote, then an incremental push of 100 more; fetch of all of them into a fresh clone.

Runs are generated with benchmarks/make_runs.py (one `git fast-import` stream). The floor is
plain `git push <bare> 'refs/gittrack/*:refs/gittrack/*'` of the same refs, which is what
gittrack's transport runs underneath (plus ls-remote, the merge rules and the artifact scan).

    python benchmarks/bench_remote.py --runs 10000 --more 100
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import make_runs  # noqa: E402

from gittrack.core import names  # noqa: E402
from gittrack.core.gitio import Repo  # noqa: E402
from gittrack.core.store import Store  # noqa: E402
from gittrack.sharing import remote


def add_runs(path: Path, count: int, seed: int) -> None:
    """``count`` more generated runs in an existing repository (experiment ``more``)."""
    baseline = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], check=True,
                              capture_output=True, text=True).stdout.strip()
    rng = random.Random(seed)
    t0 = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    proc = subprocess.Popen(["git", "-C", str(path), "fast-import", "--quiet", "--done"],
                            stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for i in range(count):
        run_id, files, message = make_runs.run_record(i, rng, "more", baseline, t0)
        msg = message.encode()
        parts = [f"commit {names.run_ref('more', run_id)}\n".encode(),
                 f"committer bench <bench@localhost> {int(t0.timestamp()) + i} +0000\n".encode(),
                 f"data {len(msg)}\n".encode(), msg, f"from {baseline}\n".encode()]
        for rel, data in files.items():
            parts += [f"M 100644 inline {names.RECORD_DIR}/{rel}\n".encode(),
                      f"data {len(data)}\n".encode(), data, b"\n"]
        proc.stdin.write(b"".join(parts) + b"\n")
    proc.stdin.write(b"done\n")
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")


def timed(label: str, func: object) -> float:
    started = time.perf_counter()
    result = func()  # type: ignore[operator]
    took = time.perf_counter() - started
    print(f"{label:<44} {took:7.2f} s   {result}")
    return took


def bare(path: Path) -> str:
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--more", type=int, default=100)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gittrack-bench-remote-") as tmp:
        root = Path(tmp)
        source = root / "source"
        timed(f"generate {args.runs} runs (make_runs)",
              lambda: make_runs.write_runs(source, args.runs, 10, seed=11))
        store = Store(Repo(source))

        floor = bare(root / "floor.git")
        timed(f"floor: git push refs/gittrack/* ({args.runs})", lambda: subprocess.run(
            ["git", "-C", str(source), "push", "-q", floor, "refs/gittrack/*:refs/gittrack/*"],
            check=True).returncode)

        target = bare(root / "remote.git")
        push = lambda: _summary(remote.push(store, target))  # noqa: E731
        timed(f"gittrack push, {args.runs} runs", push)
        timed("gittrack push again (nothing to send)", push)
        add_runs(source, args.more, seed=12)
        timed(f"gittrack push, {args.more} more runs", push)

        subprocess.run(["git", "clone", "-q", target, str(root / "clone")], check=True)
        clone = Store(Repo(root / "clone"))
        timed(f"gittrack fetch, {args.runs + args.more} runs (fresh clone)",
              lambda: _fetched(remote.fetch(clone, "origin")))
        timed("gittrack fetch again (nothing new)", lambda: _fetched(remote.fetch(clone, "origin")))
    return 0


def _summary(result: remote.PushResult) -> str:
    return f"{result.refs} refs, {result.tags} tags, {result.artifacts} artifacts"


def _fetched(result: remote.FetchResult) -> str:
    return f"{result.created} new, {result.updated} updated"


if __name__ == "__main__":
    sys.exit(main())
