"""Benchmark `gittrack import mlflow` on an MLflow SQLite store of 1,000 runs (issue 15).

    python benchmarks/bench_mlflow_import.py [--runs 1000] [--dir DIR]

Builds the store with MlflowClient.log_batch (each run: 10 params, a 50-step history of 2
metrics, tags, every 10th run nested, every 20th with an artifact file), registers two
scikit-learn versions with a stage transition and an alias, then times in fresh processes:
the first import, a second import (adds nothing), `gittrack log`, MLflow-shaped
`search_runs` against `mlflow.search_runs` over the same runs, and
`load_model("models:/bench@champion")` against MLflow's.
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

GITTRACK = str(Path(sys.executable).parent / "gittrack")
BASE_MS = 1_700_000_000_000


def build_store(uri: str, runs: int, artifacts: Path) -> None:
    import numpy as np
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag
    from sklearn.linear_model import LinearRegression

    import mlflow

    client = MlflowClient(uri)
    exp = client.create_experiment("bench", artifact_location=artifacts.as_uri())
    ids: list[str] = []
    for i in range(runs):
        rid = client.create_run(exp, start_time=BASE_MS + 1000 * i, run_name=f"r{i}").info.run_id
        metrics = [Metric(k, 1.0 / (s + i + 1) * (2 if k == "mae" else 1), BASE_MS + 1000 * i + s, s)
                   for k in ("loss", "mae") for s in range(50)]
        params = [Param(f"p{j}", str((i * (j + 1)) % 17)) for j in range(10)]
        tags = [RunTag("team", "ml" if i % 2 else "ops")]
        if i % 10 == 9:
            tags.append(RunTag("mlflow.parentRunId", ids[i - 1]))
        client.log_batch(rid, metrics=metrics, params=params, tags=tags)
        if i % 20 == 0:
            client.log_text(rid, f"run {i}\n", "notes/run.txt")
        client.set_terminated(rid, "FINISHED", BASE_MS + 1000 * i + 900)
        ids.append(rid)
    mlflow.set_tracking_uri(uri)
    x = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 5.0]])
    with mlflow.start_run(experiment_id=exp, run_name="trainer"):
        for k in range(2):
            mlflow.sklearn.log_model(LinearRegression().fit(x, x @ np.array([k + 1.0, 1.0])),
                                     name=f"model{k}", registered_model_name="bench",
                                     serialization_format="pickle")
    client.transition_model_version_stage("bench", "1", "Production")
    client.set_registered_model_alias("bench", "champion", "2")


def timed(args: list[str], **kw: object) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, check=True, **kw)  # type: ignore[call-overload]
    return time.perf_counter() - start, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--dir", default=None)
    opts = parser.parse_args()
    root = Path(opts.dir or tempfile.mkdtemp(prefix="gittrack-mlflow-import-"))
    uri = f"sqlite:///{root}/mlflow.db"
    start = time.perf_counter()
    build_store(uri, opts.runs, root / "artifacts")
    print(f"built the MLflow store ({opts.runs} runs + registry): {time.perf_counter() - start:.1f} s")
    repo = root / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    cli = [GITTRACK, "--repo", str(repo)]
    secs, out = timed([*cli, "import", "mlflow", "--tracking-uri", uri, "--json"], env=env)
    report = json.loads(out)
    print(f"first import: {secs:.1f} s ({report['runs']} runs, {report['metric_points']} metric "
          f"points, {report['artifacts']} artifact files, {report['versions']} versions, "
          f"{report['stage_events']} stage events)")
    secs, out = timed([*cli, "import", "mlflow", "--tracking-uri", uri, "--json"], env=env)
    print(f"second import: {secs:.1f} s, added {json.loads(out)['runs']} runs")
    secs, out = timed([*cli, "log", "--format", "json", "bench"], env=env)
    print(f"gittrack log: {secs:.2f} s, {len(json.loads(out))} runs")
    probe = ("import sys, time; t=time.perf_counter(); import {mod} as m; "
             "{setup}; df=m.search_runs({exp}, 'metrics.loss < 0.01', order_by=['params.p1 DESC']); "
             "print(len(df), round(time.perf_counter()-t, 2))")
    secs, out = timed([sys.executable, "-c", probe.format(
        mod="mlflow", setup=f"m.set_tracking_uri('{uri}')",
        exp="[m.get_experiment_by_name('bench').experiment_id]")], env=env)
    print(f"mlflow.search_runs (fresh process, import included): {out.strip()} -> {secs:.2f} s")
    secs, out = timed([sys.executable, "-c", probe.format(
        mod="gittrack", setup=f"m.set_tracking_uri('{repo}')", exp="['bench']")], env=env)
    print(f"gittrack.search_runs (fresh process, import included): {out.strip()} -> {secs:.2f} s")
    check = ("import gittrack, mlflow, numpy as np; x=np.array([[1.0, 2.0]]); "
             f"mlflow.set_tracking_uri('{uri}'); gittrack.set_tracking_uri('{repo}'); "
             "a=mlflow.pyfunc.load_model('models:/bench@champion').predict(x); "
             "b=gittrack.load_model('models:/bench@champion').predict(x); "
             "print(np.allclose(np.asarray(a), np.asarray(b)))")
    secs, out = timed([sys.executable, "-c", check], env=env)
    print(f"load_model('models:/bench@champion') agrees with MLflow: {out.strip()}")
    if opts.dir is None:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
