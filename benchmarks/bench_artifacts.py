"""Benchmark of gittrack.artifacts.cache: hashing speed against md5sum, and restore time.

Run: python benchmarks/bench_artifacts.py [--dir DIR] [--add-mb 500] [--restore-mb 1024]
Each measurement runs twice; the second (warm page cache) is the one reported.
Add always goes into a fresh cache, so the warm add still hashes and copies the file
(the State memo would otherwise make it instant, which is reported separately).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gittrack.artifacts import cache as cache_module  # noqa: E402
from gittrack.artifacts.cache import Cache  # noqa: E402

MB = 1 << 20


def make_file(path: Path, mb: int) -> None:
    with open(path, "wb") as f:
        for _ in range(mb):
            f.write(os.urandom(MB))


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def twice(fn: Callable[[int], object]) -> list[float]:
    return [timed(lambda: fn(i)) for i in range(2)]


def bench_add(work: Path, mb: int) -> None:
    src = work / "add.bin"
    make_file(src, mb)
    md5sum = twice(lambda _: subprocess.run(["md5sum", str(src)], check=True, capture_output=True))
    caches = [Cache(work / f"add-{i}" / "cache") for i in range(2)]
    add = twice(lambda i: caches[i].add(src))
    readd = timed(lambda: caches[1].add(src))

    def rehash(_: int) -> None:
        # Content already stored, State memo dropped (closed: it stays open in the process,
        # then deleted): Cache.add only hashes.
        cache_module._close_states()
        shutil.rmtree(caches[1].state_dir, ignore_errors=True)
        caches[1].add(src)

    hashing = twice(rehash)
    print(f"file size                  {mb} MB")
    print(f"md5sum                 s   cold {md5sum[0]:.3f}  warm {md5sum[1]:.3f}")
    print(f"Cache.add, hash only   s   cold {hashing[0]:.3f}  warm {hashing[1]:.3f}"
          f"   ratio to md5sum (warm) {md5sum[1] / hashing[1]:.2f}  (target >= 0.8)")
    print(f"Cache.add, hash+store  s   cold {add[0]:.3f}  warm {add[1]:.3f}"
          f"   ratio to md5sum (warm) {md5sum[1] / add[1]:.2f}")
    print(f"Cache.add unchanged    s   {readd:.4f}   (State memo)")
    for c in caches:
        shutil.rmtree(c.path.parent)
    src.unlink()


def bench_restore(work: Path, mb: int) -> None:
    src = work / "restore.bin"
    make_file(src, mb)
    cache = Cache(work / "restore" / "cache")
    pointer = cache.add(src)
    src.unlink()
    dest = work / "out.bin"

    def restore(_: int) -> None:
        dest.unlink(missing_ok=True)
        cache.checkout(pointer, dest)

    runs = twice(restore)
    print(f"restore {mb} MB by copy s   first {runs[0]:.3f}  warm {runs[1]:.3f}"
          f"   ({mb / runs[1]:.0f} MB/s, verified while copying)")
    print(f"checkout unchanged     s   {timed(lambda: cache.checkout(pointer, dest)):.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=None, help="scratch directory (default: a temp dir)")
    parser.add_argument("--add-mb", type=int, default=500)
    parser.add_argument("--restore-mb", type=int, default=1024)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gittrack-bench-", dir=args.dir))
    try:
        bench_add(work, args.add_mb)
        bench_restore(work, args.restore_mb)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
