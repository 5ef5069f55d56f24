"""Benchmark of sharing: push 10,000 runs (refs + objects, no artifacts) to a local bare
remote, then an incremental push of 100 more; fetch of all of them into a fresh clone.

Runs are generated with benchmarks/make_runs.py (the bulk path, gittrack.log_runs). The floor
is plain `git push <bare> 'refs/gittrack/*:refs/gittrack/*'` of the same refs to another bare
remote in the same run, which is what gittrack's transport runs underneath (plus ls-remote,
the merge rules and the artifact scan). Then a fetch of one experiment (of 10) into a fresh
clone: only that experiment's refs and objects come.

    python benchmarks/bench_remote.py --runs 10000 --more 100
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import make_runs  # noqa: E402

from gittrack.core.gitio import Repo  # noqa: E402
from gittrack.core.store import Store  # noqa: E402
from gittrack.sharing import remote  # noqa: E402


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
        glob = ["git", "-C", str(source), "push", "-q", floor, "refs/gittrack/*:refs/gittrack/*"]
        base = timed(f"floor: git push refs/gittrack/* ({args.runs})",
                     lambda: subprocess.run(glob, check=True).returncode)

        target = bare(root / "remote.git")
        push = lambda: _summary(remote.push(store, target))  # noqa: E731
        ours = timed(f"gittrack push, {args.runs} runs", push)
        print(f"{'ratio to the floor':<44} {ours / base:7.2f}x")
        timed("gittrack push again (nothing to send)", push)
        make_runs.add_runs(source, args.more, 1, seed=12, offset=args.runs, prefix="more")
        base = timed(f"floor: git push, {args.more} more runs", lambda: subprocess.run(
            glob, check=True).returncode)
        ours = timed(f"gittrack push, {args.more} more runs", push)
        print(f"{'ratio to the floor, ' + str(args.more) + ' more runs':<44} {ours / base:7.2f}x")

        subprocess.run(["git", "clone", "-q", target, str(root / "clone")], check=True)
        clone = Store(Repo(root / "clone"))
        timed("gittrack fetch --experiment exp-3 (fresh clone)",
              lambda: _fetched(remote.fetch(clone, "origin", experiment="exp-3")))
        timed(f"gittrack fetch, {args.runs + args.more} runs (the rest)",
              lambda: _fetched(remote.fetch(clone, "origin")))
        timed("gittrack fetch again (nothing new)", lambda: _fetched(remote.fetch(clone, "origin")))
    return 0


def _summary(result: remote.PushResult) -> str:
    return f"{result.refs} refs, {result.tags} tags, {result.artifacts} artifacts"


def _fetched(result: remote.FetchResult) -> str:
    return f"{result.created} new, {result.updated} updated"


if __name__ == "__main__":
    sys.exit(main())
