"""`gittrack archive` at scale: what folding a hundred thousand run refs buys, and what it costs.

    python benchmarks/bench_archive.py --runs 100000 [--path DIR]
    python benchmarks/bench_archive.py --existing /tmp/gittrack-bench-1000000

Writes RUNS finished runs with the bulk path (benchmarks/make_runs.py: 10 experiments, 10
params and 10 metrics each) and pushes them to a bare remote, then measures, before and after
`gittrack archive --older-than 0` folds every run into one ref per experiment:
  * the size of packed-refs and the refs a remote advertises (`git ls-remote`, its time);
  * `gittrack push` of 100 more runs (bulk-written) to that remote;
  * `gittrack log -n 20 --where ... --sort ...` in a fresh process (best of 3);
and the fold itself, the push that carries it (the archives, and one prune of the folded run
refs on the remote), `gittrack show RUN-ID` of an archived run and MLflow's `search_runs`
with a filter after the fold, each in a fresh process.

With --existing, a copy of a repository that holds runs already (benchmarks/make_runs.py
writes a million; --in-place folds that repository itself) is folded instead, with no remote:
the fold, then `gittrack log` (the first time, which reads the archives once, and warm),
`search_runs`, `gittrack show RUN-ID` and one more API run, each in a fresh process.
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
from bench_million import SEARCH, SORT, WHERE, one_run, timed  # noqa: E402

MORE = """
import random, gittrack
rng = random.Random({seed})
gittrack.log_runs([{{"name": f"more-{{i}}", "params": {{"i": i}},
                     "metrics": {{"rmse": rng.uniform(100, 1000)}}}} for i in range(100)],
                  experiment="exp-0")
"""


def gittrack(*args: str) -> list[str]:
    return [sys.executable, "-m", "gittrack", *args]


def advertised(remote: Path, cwd: Path) -> tuple[float, int, int]:
    """Time, refs and bytes of the remote's ref advertisement (`git ls-remote`)."""
    took, out = timed(["git", "ls-remote", str(remote)], cwd)
    return took, len(out.splitlines()), len(out.encode())


def state(path: Path, remote: Path, label: str, seed: int) -> None:
    packed = (path / ".git" / "packed-refs").stat().st_size
    took, count, size = advertised(remote, path)
    log = gittrack("log", "-n", "20", "--where", WHERE, f"--sort={SORT}")
    warm = min(timed(log, path)[0] for _ in range(3))
    timed([sys.executable, "-c", MORE.format(seed=seed)], path)
    push, _out = timed(gittrack("push"), path)
    print(f"{label}: packed-refs {packed / 1e6:.2f} MB; the remote advertises {count:,} refs "
          f"({size / 1e6:.2f} MB) in {took:.2f} s; gittrack log -n 20 --where ... --sort ... "
          f"{warm:.2f} s; push of 100 more runs {push:.2f} s")


def git_out(path: Path, *cmd: str) -> str:
    return subprocess.run(["git", "-C", str(path), *cmd], capture_output=True, text=True,
                          check=True).stdout


def archived_id(path: Path) -> str:
    """The id of one archived run (the first line of the first shard of the first archive)."""
    archive = git_out(path, "for-each-ref", "--count=1", "--format=%(refname)",
                      "refs/gittrack/archive/").strip()
    shard = git_out(path, "ls-tree", "--name-only", f"{archive}:runs").split()[0]
    return git_out(path, "show", f"{archive}:runs/{shard}").split("\t")[0]


def existing(source: Path, copy: bool = True) -> int:
    root = Path(tempfile.mkdtemp(prefix="gittrack-bench-archive-"))
    path = root / "repo" if copy else source
    try:
        if copy:
            subprocess.run(["cp", "-a", str(source), str(path)], check=True)
        runs = len(git_out(path, "for-each-ref", "--format=x", "refs/gittrack/runs/").splitlines())
        packed = (path / ".git" / "packed-refs").stat().st_size
        log = gittrack("log", "-n", "20", "--where", WHERE, f"--sort={SORT}")
        before = min(timed(log, path)[0] for _ in range(3))
        print(f"existing: {runs:,} runs, packed-refs {packed / 1e6:.1f} MB; gittrack log -n 20 "
              f"--where ... --sort ... {before:.2f} s before the fold")
        fold, out = timed(gittrack("archive", "--older-than", "0"), path)
        folded = sum(int(line.split(" run(s)")[0].rsplit(" ", 1)[1])
                     for line in out.splitlines() if " run(s) into " in line)
        packed = (path / ".git" / "packed-refs").stat().st_size
        print(f"existing: gittrack archive --older-than 0: {folded:,} runs folded in {fold:.1f} s "
              f"({folded / fold:,.0f} runs/s); packed-refs {packed / 1e6:.2f} MB after")
        first = timed(log, path)[0]
        warm = min(timed(log, path)[0] for _ in range(3))
        print(f"existing: after the fold, gittrack log -n 20 --where ... --sort ...: {first:.2f} s "
              f"the first time, {warm:.2f} s warm")
        search = min((timed([sys.executable, "-c", SEARCH], path)[1].split() for _ in range(3)),
                     key=lambda r: float(r[0]))
        print(f"existing: after the fold, search_runs(filter): {float(search[0]):.2f} s, "
              f"{int(search[1]):,} rows, peak RSS {int(search[2]) / 1024:.0f} MB")
        show = min(timed(gittrack("show", archived_id(path)), path)[0] for _ in range(3))
        print(f"existing: after the fold, gittrack show RUN-ID: {show:.2f} s")
        more = sorted(one_run(path) for _ in range(3))[1]
        print(f"existing: after the fold, one more API run: {more * 1000:.1f} ms")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--path", type=Path, default=None)
    parser.add_argument("--existing", type=Path, default=None,
                        help="fold a copy of this repository (holding runs) instead")
    parser.add_argument("--in-place", action="store_true",
                        help="with --existing: fold that repository itself, not a copy")
    args = parser.parse_args(argv)
    if args.existing is not None:
        return existing(args.existing, copy=not args.in_place)
    root = args.path or Path(tempfile.mkdtemp(prefix="gittrack-bench-archive-"))
    path, remote = root / "repo", root / "remote.git"
    try:
        started = time.perf_counter()
        make_runs.write_runs(path, args.runs, 10, seed=11)
        print(f"wrote {args.runs:,} runs with the bulk path in "
              f"{time.perf_counter() - started:.0f} s")
        subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
        subprocess.run(["git", "-C", str(path), "remote", "add", "origin", str(remote)],
                       check=True)
        first, _out = timed(gittrack("push"), path)
        print(f"push of {args.runs:,} runs to a bare remote: {first:.1f} s")
        state(path, remote, "before the fold", 1)
        fold, out = timed(gittrack("archive", "--older-than", "0"), path)
        folded = sum(int(line.split(" run(s)")[0].rsplit(" ", 1)[1])
                     for line in out.splitlines() if " run(s) into " in line)
        print(f"gittrack archive --older-than 0: {folded:,} runs folded into 10 refs in "
              f"{fold:.1f} s ({folded / fold:,.0f} runs/s)")
        carry, out = timed(gittrack("push"), path)
        print(f"push of the fold (10 archives, the folded refs pruned on the remote): "
              f"{carry:.1f} s ({out.strip()})")
        state(path, remote, "after the fold", 2)
        run_id = archived_id(path)
        show = min(timed(gittrack("show", run_id), path)[0] for _ in range(3))
        print(f"gittrack show {run_id} (an archived run, by id, fresh process): {show:.2f} s")
        search = min((timed([sys.executable, "-c", SEARCH], path)[1].split() for _ in range(3)),
                     key=lambda r: float(r[0]))
        print(f"search_runs(filter) after the fold: {float(search[0]):.2f} s, "
              f"{int(search[1]):,} rows, peak RSS {int(search[2]) / 1024:.0f} MB")
    finally:
        if args.path is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
