"""Benchmark listing and searching runs at scale (issue 4), each step in a fresh process.

    python benchmarks/make_runs.py --runs 100000           # once: /tmp/gittrack-bench-100000
    python benchmarks/bench_search.py [--path DIR] [--mlflow-python PYTHON]

Measures: a full index rebuild; `gittrack log -n 20 --where ... --sort ...` in a fresh
process (index warm); `search_runs` over every run; and, when MLflow is importable (the
optional `bench` extra, or a separate interpreter given by --mlflow-python), the runs of one
experiment (10,000 of the 100,000) loaded into MLflow's SQLite store and searched with
`mlflow.search_runs`, printed side by side with gittrack's search of the same runs as a ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

WHERE = "metrics.rmse < 300 AND params.model = 'rf' OR tags.team = 'ops' AND NOT params.depth > 8"
SORT = "-metrics.mae"
GITTRACK = shutil.which("gittrack") or "gittrack"


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr}")
    return elapsed, proc.stdout


def best(cmd: list[str], cwd: Path, repeat: int = 3) -> tuple[float, str]:
    runs = [timed(cmd, cwd) for _ in range(repeat)]
    return min(r[0] for r in runs), runs[0][1]


SEARCH = """
import sys, time
started = time.perf_counter()
import gittrack
df = gittrack.query_runs({names})
print(time.perf_counter() - started, len(df), len(df.columns))
"""


def bench_gittrack(path: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    results["rebuild_s"], out = timed([GITTRACK, "index", "--rebuild"], path)
    print(f"full index rebuild: {results['rebuild_s']:.2f} s ({out.strip()})")
    log = [GITTRACK, "log", "-n", "20", "--where", WHERE, f"--sort={SORT}"]
    results["log_s"], out = best(log, path)
    print(f"gittrack log -n 20 --where ... --sort ... (fresh process): {results['log_s']:.2f} s "
          f"({len(out.splitlines()) - 1} rows)")
    wall, out = best([sys.executable, "-c", SEARCH.format(names="")], path)
    inner, rows, cols = out.split()
    results["search_all_s"], results["search_all_wall_s"] = float(inner), wall
    print(f"search_runs over {rows} runs x {cols} columns: {float(inner):.2f} s from `import "
          f"gittrack` to the DataFrame ({wall:.2f} s for the whole process)")
    return results


MLFLOW_LOAD = """
import json, math, sqlite3, sys, time, uuid, mlflow
from mlflow.entities import Metric, Param, RunTag
mlflow.set_tracking_uri("sqlite:///" + sys.argv[1])
client = mlflow.MlflowClient()
exp = client.create_experiment("bench")
runs = json.load(open(sys.argv[2]))
started = time.perf_counter()


def through_client(r):
    run = client.create_run(exp, start_time=r["start"], run_name=r["name"])
    client.log_batch(run.info.run_id,
                     metrics=[Metric(k, v, r["start"], 0) for k, v in r["metrics"].items()],
                     params=[Param(k, str(v)) for k, v in r["params"].items()],
                     tags=[RunTag(k, v) for k, v in r["tags"].items()])
    client.set_terminated(run.info.run_id, "FINISHED", end_time=r["start"] + 1000)
    return run.info.run_id


# The first and last runs go through MLflow's client. The others are the rows the client
# writes for a run (the first run's row of `runs` is the template), inserted into MLflow's own
# tables in one transaction: the client commits three times a run, which at 10,000 runs on a
# busy 2-core machine is most of an hour of set-up for a search that is timed apart.
first = through_client(runs[0])
db = sqlite3.connect(sys.argv[1])
columns = [c[1] for c in db.execute("pragma table_info(runs)")]
template = dict(zip(columns, db.execute("select * from runs where run_uuid = ?", (first,)).fetchone()))
rows, params, metrics, tags = [], [], [], []
for r in runs[1:-1]:
    rid = uuid.uuid4().hex
    row = {**template, "run_uuid": rid, "name": r["name"], "start_time": r["start"],
           "end_time": r["start"] + 1000,
           "artifact_uri": template["artifact_uri"].replace(first, rid)}
    rows.append([row[c] for c in columns])
    params += [(k, str(v), rid) for k, v in r["params"].items()]
    metrics += [(k, v, r["start"], rid, 0, int(math.isnan(v))) for k, v in r["metrics"].items()]
    tags += [(k, v, rid) for k, v in [*r["tags"].items(), ("mlflow.runName", r["name"])]]
with db:
    db.executemany(f"insert into runs ({','.join(columns)}) values ({','.join('?' * len(columns))})", rows)
    db.executemany("insert into params (key, value, run_uuid) values (?, ?, ?)", params)
    db.executemany("insert into metrics (key, value, timestamp, run_uuid, step, is_nan) "
                   "values (?, ?, ?, ?, ?, ?)", metrics)
    db.executemany("insert into latest_metrics (key, value, timestamp, run_uuid, step, is_nan) "
                   "values (?, ?, ?, ?, ?, ?)", metrics)
    db.executemany("insert into tags (key, value, run_uuid) values (?, ?, ?)", tags)
db.close()
last = through_client(runs[-1]) if len(runs) > 1 else first
# What the client wrote and what was inserted read back the same through MLflow.
for rid, r in ((rows[-1][columns.index("run_uuid")], runs[-2]), (last, runs[-1])) if rows else ():
    got = client.get_run(rid)
    assert got.data.params == {k: str(v) for k, v in r["params"].items()}, got.data.params
    assert got.data.metrics == r["metrics"] and got.info.run_name == r["name"]
    assert {k: v for k, v in got.data.tags.items() if k in r["tags"]} == r["tags"]
print(time.perf_counter() - started)
"""
MLFLOW_SEARCH = """
import sys, time
started = time.perf_counter()
import mlflow
mlflow.set_tracking_uri("sqlite:///" + sys.argv[1])
exp = mlflow.get_experiment_by_name("bench").experiment_id
df = mlflow.search_runs([exp], max_results=100000)
print(time.perf_counter() - started, len(df))
"""


def bench_mlflow(path: Path, python: str, experiment: str, limit: int | None = None
                 ) -> dict[str, Any]:
    """The runs of ``experiment`` in MLflow's SQLite store, searched by both tools."""
    export = """
import json, sys, gittrack
df = gittrack.query_runs([sys.argv[1]], max_results=int(sys.argv[2]) if sys.argv[2] else None)
out = []
for row in df.to_dict("records"):
    out.append({"name": row["name"], "start": int(row["start_time"].timestamp() * 1000),
                "params": {k[7:]: v for k, v in row.items() if k.startswith("params.")},
                "metrics": {k[8:]: v for k, v in row.items() if k.startswith("metrics.")},
                "tags": {k[5:]: v for k, v in row.items() if k.startswith("tags.")}})
json.dump(out, sys.stdout)
"""
    work = Path(tempfile.mkdtemp(prefix="gittrack-mlflow-"))
    _, dump = timed([sys.executable, "-c", export, experiment, str(limit or "")], path)
    (work / "runs.json").write_text(dump)
    count = len(json.loads(dump))
    db = work / "mlflow.db"
    _wall, out = timed([python, "-c", MLFLOW_LOAD, str(db), str(work / "runs.json")], work)
    print(f"MLflow: {count} runs into its SQLite store in {float(out.split()[-1]):.0f} s (set-up)")
    ml_wall, out = best([python, "-c", MLFLOW_SEARCH, str(db)], work)
    ml_inner = float(out.split()[0])
    args = f"{[experiment]!r}, max_results={limit!r}"
    gt_wall, out = best([sys.executable, "-c", SEARCH.format(names=args)], path)
    gt_inner = float(out.split()[0])
    print(f"search of the same {count} runs into a DataFrame, from import: "
          f"MLflow {ml_inner:.2f} s, gittrack {gt_inner:.2f} s -> gittrack is "
          f"{ml_inner / gt_inner:.1f}x faster (whole processes: {ml_wall:.2f} s vs {gt_wall:.2f} s)")
    shutil.rmtree(work, ignore_errors=True)
    return {"mlflow_runs": count, "mlflow_search_s": ml_inner, "gittrack_search_s": gt_inner,
            "ratio": ml_inner / gt_inner}


def mlflow_python(given: str | None) -> str | None:
    if given:
        return given
    try:
        import mlflow  # noqa: F401
    except ImportError:
        return None
    return sys.executable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, default=Path("/tmp/gittrack-bench-100000"))
    parser.add_argument("--mlflow-python", default=None,
                        help="A Python with mlflow installed (default: this one, if it has it).")
    parser.add_argument("--mlflow-experiment", default="exp-0")
    parser.add_argument("--mlflow-runs", type=int, default=None,
                        help="Compare only this many runs of the experiment (default: all).")
    parser.add_argument("--skip-gittrack", action="store_true")
    args = parser.parse_args(argv)
    if not args.path.exists():
        print(f"No runs at {args.path}; run benchmarks/make_runs.py first.", file=sys.stderr)
        return 1
    results = {} if args.skip_gittrack else bench_gittrack(args.path)
    python = mlflow_python(args.mlflow_python)
    if python is None:
        print("MLflow is not importable: skipped the comparison (pip install 'gittrack[bench]').")
    else:
        results.update(bench_mlflow(args.path, python, args.mlflow_experiment,
                                    args.mlflow_runs))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
