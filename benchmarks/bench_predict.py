"""Benchmark `gittrack predict` on large CSV files: time and peak memory stay per chunk.

    python benchmarks/bench_predict.py [--rows 1000000,3000000] [--chunk-rows 100000]

The 100-tree random forest of bench_serve.py (10 float columns) is logged and promoted in a
temporary repository; CSV files of ROWS rows are written (each row a copy of one of 2,000
distinct rows), then `gittrack predict models:/forest/prod -i big.csv -o scored.csv` runs in a
fresh process for each. Reported: seconds, rows/s and the peak RSS the command prints. For
contrast, the peak RSS of a process that only reads the whole file with `pandas.read_csv`.
Peak RSS that stays flat while the file grows is what "bounded memory" means here.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_serve import build


def write_csv(path: Path, frame: object, rows: int) -> None:
    block = frame.to_csv(index=False, header=False).encode()  # type: ignore[attr-defined]
    per_block = len(frame)  # type: ignore[arg-type]
    with open(path, "wb") as f:
        f.write((",".join(frame.columns) + "\n").encode())  # type: ignore[attr-defined]
        f.writelines(block for _ in range(rows // per_block))


def whole_file_rss(path: Path) -> float:
    # VmHWM of the child's own address space: ru_maxrss would carry over this process's
    # peak through fork and exec on Linux.
    code = ("import pandas as pd; pd.read_csv(%r); "
            "print(next(int(l.split()[1]) for l in open('/proc/self/status') "
            "if l.startswith('VmHWM:')) / 1024)" % str(path))
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000000,3000000")
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="gittrack-bench-predict-"))
    try:
        repo, _mlflow_dir, frame = build(root)
        for rows in (int(r) for r in args.rows.split(",")):
            source, out = root / f"in-{rows}.csv", root / f"out-{rows}.csv"
            write_csv(source, frame, rows)
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "gittrack", "predict",
                                   "models:/forest/prod", "-i", str(source), "-o", str(out),
                                   "--chunk-rows", str(args.chunk_rows)],
                                  cwd=repo, capture_output=True, text=True, check=True,
                                  env={**os.environ})
            seconds = time.perf_counter() - t0
            rss = re.search(r"peak RSS (\d+) MB", proc.stderr)
            print(f"gittrack predict of {rows:,} rows ({source.stat().st_size / 2**20:.0f} MB "
                  f"CSV, chunks of {args.chunk_rows:,}): {seconds:.1f} s, {rows / seconds:,.0f} "
                  f"rows/s, peak RSS {rss.group(1) if rss else '?'} MB; pandas.read_csv of the "
                  f"whole file alone: peak RSS {whole_file_rss(source):.0f} MB", flush=True)
            source.unlink()
            out.unlink()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
