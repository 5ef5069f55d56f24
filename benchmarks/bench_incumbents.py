"""The incumbents' side of the README's table: MLflow, DVCLive and GTO on the same machine.

    python benchmarks/bench_incumbents.py [--quick] [--only import,log_metric,dvclive,log_model,gto]

Each measurement mirrors a gittrack benchmark so the two sit side by side in one run:
  * ``import mlflow`` in a fresh interpreter (best of 7), as bench_tracking.py times
    ``import gittrack``;
  * MLflow's ``log_metric`` per call, synchronous, on its default SQLite store (a training
    loop's calls, as bench_tracking.py times gittrack's buffered ``log_metric``);
  * DVCLive's ``log_metric`` per call (each appends a row to the metric's TSV file);
  * ``mlflow.sklearn.log_model`` of the random forest of bench_run_artifacts.py (100 trees,
    1,000 x 10 rows, requirements inferred as by default; MLflow 3 saves it with skops and
    is told to trust scikit-learn's Tree type), the first in a fresh process and
    then others, each a forest fitted with another seed so nothing repeats;
  * ``gto show`` and ``gto show MODEL#prod`` in fresh processes over the registry that
    bench_registry.py builds for gittrack (50 models x 30 versions plus 500 stage events:
    2,000 tags by default), written in GTO's own tag grammar (``m@v0.0.N``, ``m#stage#N``,
    ``m#stage!#N``) with one `git fast-import` stream.

Every line printed is ``label: value unit`` so benchmarks/run.py can read it.
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
BIN = Path(sys.executable).parent


def fresh(cmd: list[str], cwd: Path, repeat: int, env: dict[str, str] | None = None) -> list[float]:
    """Wall seconds of ``cmd`` in a fresh process, ``repeat`` times."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                              env={**os.environ, **(env or {})})
        times.append(time.perf_counter() - started)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr[-2000:]}")
    return times


def in_process(code: str, cwd: Path, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, "MLFLOW_ENABLE_ASYNC_LOGGING": "false"})
    if proc.returncode != 0:
        raise SystemExit(f"measurement failed: {proc.stderr[-3000:]}")
    return proc.stdout


def bench_import(work: Path, repeat: int) -> None:
    floor = fresh([sys.executable, "-c", "pass"], work, repeat)
    times = fresh([sys.executable, "-c", "import mlflow"], work, repeat)
    print(f"python -c pass (floor, best of {repeat}): {min(floor) * 1000:.0f} ms")
    print(f"import mlflow (fresh interpreter, best of {repeat}): {min(times) * 1000:.0f} ms "
          f"(median {statistics.median(times) * 1000:.0f} ms)")


MLFLOW_LOG_METRIC = """
import sys, time, mlflow
mlflow.set_tracking_uri("sqlite:///" + sys.argv[1])
calls = int(sys.argv[2])
with mlflow.start_run():
    mlflow.log_metric("loss", 1.0, step=0)  # the first call creates the metric's rows
    started = time.perf_counter()
    for i in range(1, calls + 1):
        mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
    print((time.perf_counter() - started) / calls)
"""


def bench_log_metric(work: Path, calls: int) -> None:
    out = in_process(MLFLOW_LOG_METRIC, work, str(work / "metric.db"), str(calls))
    print(f"MLflow log_metric per call (SQLite, synchronous, {calls:,} calls): "
          f"{float(out.split()[-1]) * 1000:.2f} ms")


DVCLIVE_LOG_METRIC = """
import sys, time
from dvclive import Live
calls = int(sys.argv[1])
live = Live("dvclive", save_dvc_exp=False, dvcyaml=None, report=None)
started = time.perf_counter()
for i in range(calls):
    live.log_metric("loss", 1.0 / (i + 1))
elapsed = time.perf_counter() - started
live.end()
print(elapsed / calls)
"""


def bench_dvclive(work: Path, calls: int) -> None:
    where = work / "dvclive-run"
    where.mkdir()
    out = in_process(DVCLIVE_LOG_METRIC, where, str(calls))
    print(f"DVCLive log_metric per call ({calls:,} calls): {float(out.split()[-1]) * 1e6:.0f} us")


MLFLOW_LOG_MODEL = """
import sys, time
started = time.perf_counter()
import numpy as np, pandas as pd, mlflow, mlflow.sklearn
from sklearn.ensemble import RandomForestRegressor
mlflow.set_tracking_uri("sqlite:///" + sys.argv[1])
repeat = int(sys.argv[2])
rng = np.random.default_rng(0)
x = pd.DataFrame(rng.normal(size=(1000, 10)), columns=[f"f{i}" for i in range(10)])
y = x["f0"] * 3 - x["f1"] + rng.normal(scale=0.1, size=1000)
forests = [RandomForestRegressor(n_estimators=100, random_state=i, n_jobs=1).fit(x, y)
           for i in range(repeat)]
times = []
with mlflow.start_run():
    for i, forest in enumerate(forests):
        t = time.perf_counter()
        mlflow.sklearn.log_model(forest, name=f"rf-{i}",
                                 skops_trusted_types=["sklearn.tree._tree.Tree"])
        times.append(time.perf_counter() - t)
print(" ".join(str(t) for t in times))
"""


def bench_log_model(work: Path, repeat: int) -> None:
    where = work / "mlflow-models"
    where.mkdir()
    out = in_process(MLFLOW_LOG_MODEL, where, str(where / "mlflow.db"), str(repeat))
    times = [float(t) for t in out.split()[-repeat:]]
    after = times[1:] or times
    print(f"MLflow log_model RF 100 trees, first in a fresh process: {times[0]:.2f} s")
    print(f"MLflow log_model RF 100 trees, another forest after ({len(after)}): median "
          f"{statistics.median(after):.2f} s (max {max(after):.2f} s)")


def gto_repo(path: Path, models: int, versions: int, stage_events: int) -> int:
    """A repository whose registry, in GTO's tag grammar, has bench_registry.py's events."""
    from bench_registry import plan_stage_events

    subprocess.run(["git", "init", "-q", str(path)], check=True)
    stream: list[bytes] = []
    stamp, count, mark = 1_760_000_000, 0, 0

    def tag(name: str, target: int, message: str) -> None:
        nonlocal stamp, count
        stamp += 1  # GTO orders events by the tagger's time: one second apart
        data = message.encode()
        stream.extend([f"tag {name}\nfrom :{target}\n".encode(),
                       f"tagger bench <bench@localhost> {stamp} +0000\n".encode(),
                       f"data {len(data)}\n".encode(), data, b"\n"])
        count += 1

    for m in range(models):
        model = f"model{m:02d}"
        commits = {}
        for v in range(1, versions + 1):
            mark += 1
            commits[v] = mark
            body = f"{model} v{v}\n".encode()
            stream.extend([b"commit refs/heads/main\n", f"mark :{mark}\n".encode(),
                           f"committer bench <bench@localhost> {stamp} +0000\n".encode(),
                           b"data 7\nversion\n", f"M 100644 inline {model}.txt\n".encode(),
                           f"data {len(body)}\n".encode(), body, b"\n"])
            tag(f"{model}@v0.0.{v}", mark,
                f"Registering artifact {model} version v0.0.{v}")
        numbers: dict[str, int] = {}
        for action, stage, v in plan_stage_events(versions, stage_events // models):
            numbers[stage] = numbers.get(stage, 0) + 1
            if action == "promote":
                tag(f"{model}#{stage}#{numbers[stage]}", commits[v],
                    f"Assigning stage {stage} to artifact {model} version v0.0.{v}")
            else:
                tag(f"{model}#{stage}!#{numbers[stage]}", commits[v],
                    f"Unassigning stage {stage} from artifact {model} version v0.0.{v}")
    stream.append(b"done\n")
    subprocess.run(["git", "-C", str(path), "fast-import", "--quiet", "--done"],
                   input=b"".join(stream), check=True)
    subprocess.run(["git", "-C", str(path), "checkout", "-q", "main"], check=True)
    return count


def bench_gto(work: Path, models: int, versions: int, stage_events: int, repeat: int) -> None:
    path = work / "gto"
    count = gto_repo(path, models, versions, stage_events)
    gto = str(BIN / "gto") if (BIN / "gto").exists() else "gto"
    env = {"GTO_NO_TELEMETRY": "1", "DO_NOT_TRACK": "1"}
    target = f"model{min(17, models - 1):02d}#prod"
    shown = subprocess.run([gto, "show", target, "--plain"], cwd=path, capture_output=True,
                           text=True, env={**os.environ, **env}).stdout.splitlines()
    answer = shown[1].split()[1] if len(shown) > 1 else "nothing"
    show = fresh([gto, "show"], path, repeat, env)
    resolve = fresh([gto, "show", target], path, repeat, env)
    print(f"GTO registry: {count:,} tags ({models} models x {versions} versions + "
          f"{count - models * versions} stage events); {target} -> {answer}")
    print(f"gto show, fresh process (min of {repeat}): {min(show):.2f} s "
          f"(median {statistics.median(show):.2f} s)")
    print(f"gto show MODEL#prod, fresh process (min of {repeat}): {min(resolve):.2f} s "
          f"(median {statistics.median(resolve):.2f} s)")


PARTS = ("import", "log_metric", "dvclive", "log_model", "gto")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a fast check")
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated: " + ", ".join(PARTS))
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--versions", type=int, default=30)
    parser.add_argument("--stage-events", type=int, default=500)
    args = parser.parse_args(argv)
    quick = args.quick
    parts = set(args.only.split(","))
    work = Path(tempfile.mkdtemp(prefix="gittrack-bench-incumbents-"))
    try:
        if "import" in parts:
            bench_import(work, 3 if quick else 7)
        if "log_metric" in parts:
            bench_log_metric(work, 50 if quick else 500)
        if "dvclive" in parts:
            bench_dvclive(work, 500 if quick else 20_000)
        if "log_model" in parts:
            bench_log_model(work, 2 if quick else 4)
        if "gto" in parts:
            if quick:
                args.models, args.versions, args.stage_events = 10, 10, 50
            bench_gto(work, args.models, args.versions, args.stage_events, 2 if quick else 3)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
