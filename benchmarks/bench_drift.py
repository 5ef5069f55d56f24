"""Data profiles and drift against Evidently, on the same files, in the same run.

    python benchmarks/bench_drift.py                       # 1M x 20, 10M profile, agreement
    python benchmarks/bench_drift.py --evidently-python ~/venv-evidently/bin/python

1. Two Parquet files of ROWS x COLS float columns; the current one has column f00 shifted by
   half a standard deviation.
2. gittrack, in a fresh process (REPEAT times, the median compared): profile both files (one
   streaming pass each), then drift of the two profiles; wall time of each step and the
   process's peak RSS.
3. Evidently 0.7 (in its own virtual environment: it needs pandas < 3), in a fresh process:
   read both files with pandas and run ``Report([DataDriftPreset()])``; wall time and peak
   RSS. The ratio is Evidently's time over gittrack's (both from the same Parquet files).
4. The per-column verdicts of both, compared.
5. A BIG_ROWS x COLS Parquet file profiled in a fresh process: time and peak RSS (bounded memory).
6. Agreement over SEEDS seeds of 10-column mixed data (numerical, integer codes, categories;
   no shift, a 0.5-std shift, a new category), with small (KS / chi-squared / z) and large
   (Wasserstein / Jensen-Shannon) references: the share of column verdicts that agree.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Peak RSS is the kernel's VmHWM of the child's own address space: ru_maxrss would carry
# over the benchmark's own peak through fork and exec on Linux.
PEAK_RSS = """
def peak_rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""

GITTRACK_CHILD = PEAK_RSS + r"""
import json, sys, time
import numpy, pyarrow.parquet, pyarrow.compute  # imported before timing, as Evidently's are
from gittrack.artifacts.profiles import profile_path
from gittrack.monitoring import drift
ref_path, cur_path = sys.argv[1], sys.argv[2]
out = {}
t = time.perf_counter(); ref = profile_path(ref_path); out["profile_ref_s"] = time.perf_counter() - t
if cur_path != "-":
    import scipy.stats, scipy.spatial
    t = time.perf_counter(); cur = profile_path(cur_path); out["profile_cur_s"] = time.perf_counter() - t
    t = time.perf_counter(); report = drift.compare(ref, cur); out["drift_s"] = time.perf_counter() - t
    out["columns"] = {c.column: {"test": c.test, "score": c.score, "drifted": c.drifted}
                      for c in report.columns}
out["rows"] = ref.rows
out["profile_bytes"] = len(ref.to_json())
out["peak_rss_mb"] = peak_rss_mb()
print(json.dumps(out))
"""

EVIDENTLY_CHILD = PEAK_RSS + r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
P_VALUES = ("p_value",)

def verdicts(snapshot):
    out = {}
    for m in snapshot.dict()["metrics"]:
        cfg = m["config"]
        if not cfg["type"].endswith("ValueDrift"):
            continue
        method, value, threshold = cfg["method"], float(m["value"]), cfg["threshold"]
        p_value = "p_value" in method
        drifted = (value <= threshold if method.startswith("K-S") else value < threshold) \
            if p_value else value >= threshold
        out[cfg["column"]] = {"test": method, "score": value, "drifted": bool(drifted)}
    return out

jobs = json.loads(sys.argv[1])
results = []
for job in jobs:
    t = time.perf_counter()
    ref = pd.read_parquet(job["ref"]); cur = pd.read_parquet(job["cur"])
    read_s = time.perf_counter() - t
    t = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
    results.append({"read_s": read_s, "report_s": time.perf_counter() - t,
                    "columns": verdicts(snapshot)})
print(json.dumps({"results": results, "peak_rss_mb": peak_rss_mb()}))
"""


def run_child(python: str, code: str, *args: str, env: dict[str, str] | None = None) -> dict:
    t = time.perf_counter()
    proc = subprocess.run([python, "-c", code, *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise SystemExit(f"child failed:\n{proc.stderr[-3000:]}")
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    doc["process_s"] = time.perf_counter() - t
    return doc


def write_floats(path: Path, rows: int, cols: int, seed: int, shift: float = 0.0,
                 group: int = 250_000) -> None:
    """ROWS x COLS normal columns, written one row group at a time (bounded memory)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    names = [f"f{i:02d}" for i in range(cols)]
    writer = None
    for start in range(0, rows, group):
        n = min(group, rows - start)
        arrays = [rng.normal(0.0, 1.0, n) + (shift if i == 0 else 0.0) for i in range(cols)]
        table = pa.table(dict(zip(names, arrays)))
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def mixed(rows: int, seed: int, shift: float = 0.0, new_category: bool = False):  # type: ignore[no-untyped-def]
    """10 columns: 7 numerical of different shapes, an integer code, 2 categorical."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    out = pd.DataFrame({
        "normal": rng.normal(50, 10, rows) + shift * 10, "wide": rng.normal(0, 1000, rows),
        "lognormal": rng.lognormal(3, 0.5, rows), "uniform": rng.uniform(-5, 5, rows),
        "exponential": rng.exponential(2.0, rows), "offset": rng.normal(1e6, 1, rows),
        "counts": rng.poisson(40, rows).astype(float), "code": rng.integers(0, 6, rows),
        "region": rng.choice(["north", "south", "east", "west"], rows, p=[0.4, 0.3, 0.2, 0.1]),
        "tier": rng.choice(["gold", "silver"], rows, p=[0.3, 0.7])})
    if new_category:
        out.loc[rng.random(rows) < 0.15, "region"] = "central"
    return out


def agreement(tmp: Path, evidently: str, seeds: int) -> dict:
    from gittrack.artifacts.profiles import profile_path
    from gittrack.monitoring import drift

    jobs, ours = [], []
    for regime, (n_ref, n_cur) in {"small (KS/chi2/z)": (600, 500),
                                   "large (Wasserstein/JS)": (5000, 2000)}.items():
        for case, kwargs in {"none": {}, "shift": {"shift": 0.5},
                             "new category": {"new_category": True}}.items():
            for seed in range(seeds):
                ref, cur = tmp / f"a-{len(jobs)}-ref.parquet", tmp / f"a-{len(jobs)}-cur.parquet"
                mixed(n_ref, seed).to_parquet(ref)
                mixed(n_cur, 1000 + seed, **kwargs).to_parquet(cur)
                jobs.append({"ref": str(ref), "cur": str(cur), "regime": regime, "case": case})
                report = drift.compare(profile_path(ref), profile_path(cur))
                ours.append({c.column: c.drifted for c in report.columns if c.tested})
    theirs = run_child(evidently, EVIDENTLY_CHILD, json.dumps(jobs))["results"]
    table: dict[str, dict[str, list[int]]] = {}
    for job, mine, other in zip(jobs, ours, theirs):
        cell = table.setdefault(job["regime"], {}).setdefault(job["case"], [0, 0])
        for column, drifted in mine.items():
            cell[0] += drifted == other["columns"][column]["drifted"]
            cell[1] += 1
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cols", type=int, default=20)
    parser.add_argument("--big-rows", type=int, default=10_000_000)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3, help="gittrack runs (median compared)")
    parser.add_argument("--evidently-python", default=os.path.expanduser("~/venv-evidently/bin/python"))
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--skip-big", action="store_true")
    args = parser.parse_args()
    env = {"PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as tmp_name:
        tmp = Path(tmp_name)
        ref, cur = tmp / "ref.parquet", tmp / "cur.parquet"
        write_floats(ref, args.rows, args.cols, seed=1)
        write_floats(cur, args.rows, args.cols, seed=2, shift=0.5)
        print(f"data: 2 Parquet files of {args.rows:,} x {args.cols} floats "
              f"({ref.stat().st_size / 1e6:.0f} MB each); f00 shifted by 0.5 std", flush=True)
        runs = []
        for _ in range(args.repeat):  # a fresh process each time; the median is compared
            ours = run_child(sys.executable, GITTRACK_CHILD, str(ref), str(cur), env=env)
            ours["total_s"] = ours["profile_ref_s"] + ours["profile_cur_s"] + ours["drift_s"]
            runs.append(ours)
            print(f"gittrack: profile {ours['profile_ref_s']:.2f} s + {ours['profile_cur_s']:.2f} s, "
                  f"drift of the two profiles {ours['drift_s'] * 1000:.0f} ms; total "
                  f"{ours['total_s']:.2f} s; peak RSS {ours['peak_rss_mb']:.0f} MB; profile "
                  f"{ours['profile_bytes'] / 1e3:.0f} KB", flush=True)
        ours = sorted(runs, key=lambda r: r["total_s"])[len(runs) // 2]
        total = ours["total_s"]
        print(f"gittrack, the median of {args.repeat}: profiles {ours['profile_ref_s']:.2f} s + "
              f"{ours['profile_cur_s']:.2f} s, drift {ours['drift_s'] * 1000:.0f} ms; total "
              f"{total:.2f} s; peak RSS {ours['peak_rss_mb']:.0f} MB", flush=True)
        if not args.skip_evidently:
            theirs = run_child(args.evidently_python, EVIDENTLY_CHILD,
                               json.dumps([{"ref": str(ref), "cur": str(cur)}]))
            result = theirs["results"][0]
            their_total = result["read_s"] + result["report_s"]
            print(f"Evidently: read {result['read_s']:.2f} s + Report(DataDriftPreset) "
                  f"{result['report_s']:.2f} s = {their_total:.2f} s; peak RSS "
                  f"{theirs['peak_rss_mb']:.0f} MB", flush=True)
            print(f"ratio (Evidently / gittrack's median {total:.2f} s): "
                  f"{their_total / total:.0f}x", flush=True)
            same = [c for c in ours["columns"]
                    if ours["columns"][c]["drifted"] == result["columns"][c]["drifted"]]
            drifted = sorted(c for c, v in ours["columns"].items() if v["drifted"])
            their_drifted = sorted(c for c, v in result["columns"].items() if v["drifted"])
            print(f"verdicts: gittrack {drifted}, Evidently {their_drifted}; "
                  f"{len(same)}/{len(ours['columns'])} columns agree; f00 score "
                  f"{ours['columns']['f00']['score']:.4f} vs {result['columns']['f00']['score']:.4f}",
                  flush=True)
        if not args.skip_big:
            big = tmp / "big.parquet"
            write_floats(big, args.big_rows, args.cols, seed=3)
            doc = run_child(sys.executable, GITTRACK_CHILD, str(big), "-", env=env)
            print(f"gittrack: profile of {doc['rows']:,} x {args.cols} "
                  f"({big.stat().st_size / 1e9:.1f} GB Parquet) {doc['profile_ref_s']:.2f} s, "
                  f"peak RSS {doc['peak_rss_mb']:.0f} MB", flush=True)
            big.unlink()
        if not args.skip_evidently and args.seeds:
            table = agreement(tmp, args.evidently_python, args.seeds)
            for regime, cases in table.items():
                cells = ", ".join(f"{case} {a}/{n}" for case, (a, n) in cases.items())
                print(f"agreement with Evidently, {regime}, {args.seeds} seeds x 10 columns: "
                      f"{cells}", flush=True)
            agree = sum(a for cases in table.values() for a, _n in cases.values())
            count = sum(n for cases in table.values() for _a, n in cases.values())
            print(f"agreement with Evidently in all: {agree:,} of {count:,} column verdicts",
                  flush=True)


if __name__ == "__main__":
    main()
