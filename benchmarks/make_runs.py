"""Write N synthetic finished runs (10 params, 10 metrics each) into a git repository, fast.

Live runs cost ~130 ms a process and ~1.5 ms a run in one process (NOTES); 100,000 runs
through them would take minutes. This writes the same records (the YAML that
gittrack.tracking.state renders, the same tree layout and ref names) as one `git fast-import` stream,
which packs as it goes, then packs the refs. Deterministic for a given --seed.

    python benchmarks/make_runs.py --runs 100000 --path /tmp/gittrack-bench-100000
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from gittrack.core import names
from gittrack.core.records import FORMAT_VERSION, TSV_HEADER, tsv_row

MODELS = ("rf", "xgb", "linear", "mlp", "svm")
PACKAGES = {"numpy": "2.1.0", "pandas": "3.1.1", "scikit-learn": "1.6.1"}


def make_repo(path: Path) -> str:
    """A repository with one commit holding a train.py; returns that commit."""
    path.mkdir(parents=True, exist_ok=True)
    env = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    (path / "train.py").write_text("print('training')\n")
    subprocess.run(["git", "-C", str(path), "add", "train.py"], check=True)
    subprocess.run(["git", "-C", str(path), *env, "commit", "-q", "-m", "initial"], check=True)
    out = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


def yaml_text(data: dict[str, Any], indent: str = "") -> str:
    """Block YAML of plain data (PyYAML's representer costs ~5 ms a document; this ~30 us).

    Strings are single-quoted (as PyYAML quotes strings that would read as something else);
    floats are written the way PyYAML writes them, so YAML 1.1 reads them back as floats.
    """
    lines = []
    for key, value in data.items():
        if isinstance(value, dict) and value:
            lines.append(f"{indent}{key}:\n{yaml_text(value, indent + '  ')}")
        elif isinstance(value, list) and value:  # block style, as gittrack writes lists
            lines.append(f"{indent}{key}:\n" + "".join(f"{indent}- {_scalar(v)}\n" for v in value))
        else:
            lines.append(f"{indent}{key}: {_scalar(value)}\n")
    return "".join(lines)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value).lower()
        return text.replace("e", ".0e", 1) if "." not in text and "e" in text else text
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return "'" + str(value).replace("'", "''") + "'"


def run_record(i: int, rng: random.Random, experiment: str, baseline: str,
               t0: dt.datetime) -> tuple[str, dict[str, bytes], str]:
    """(run id, {path below .gittrack/run: content}, commit message) of run ``i``."""
    run_id = f"{rng.getrandbits(64):016x}"
    start = t0 + dt.timedelta(seconds=i * 7, microseconds=rng.randrange(1_000_000))
    end = start + dt.timedelta(seconds=rng.randrange(1, 3600))
    params: dict[str, Any] = {
        "model": rng.choice(MODELS), "alpha": round(rng.random(), 3),
        "depth": rng.randrange(1, 17), "lr": rng.choice((0.001, 0.01, 0.1)),
        "epochs": rng.choice((10, 20, 50, 100)), "seed": i, "batch": rng.choice((32, 64, 128)),
        "optimizer": rng.choice(("adam", "sgd")), "dropout": round(rng.random() / 2, 2),
        "features": rng.choice(("all", "top10", "top50")),
    }
    ms = int(end.timestamp() * 1000)
    metrics = {f"m{k}": rng.random() for k in range(8)}
    metrics.update(rmse=rng.uniform(100, 1000), mae=rng.uniform(50, 900))
    name = names.generate_run_name(rng)
    info = {
        "format": FORMAT_VERSION, "id": run_id, "name": name, "experiment": experiment,
        "status": rng.choice(("finished",) * 18 + ("failed", "killed")),
        "start_time": start.isoformat(), "end_time": end.isoformat(), "user": "bench",
        "host": "bench-host", "pid": 1000 + i, "command": ["python", "train.py"],
        "cwd": "/work", "python": "3.11.9", "platform": "Linux", "baseline": baseline,
        "branch": "main", "dirty": False, "untracked": [], "untracked_count": 0,
        "packages": PACKAGES, "parent": None, "description": None,
        "tags": {"team": rng.choice(("ml", "data", "ops")), "stage": f"s{i % 7}"},
    }
    files = {
        "run.yaml": yaml_text(info).encode(),
        "params.yaml": yaml_text(dict(sorted(params.items()))).encode(),
        "metrics.yaml": yaml_text({k: {"value": v, "step": 9, "timestamp": ms}
                                   for k, v in sorted(metrics.items())}).encode(),
    }
    for key in ("rmse", "mae"):
        files[f"metrics/{key}.tsv"] = (TSV_HEADER + "".join(
            tsv_row(step, ms - 1000 * (9 - step), metrics[key] + 9 - step)
            for step in range(10))).encode()
    shown = " ".join(f"{k}={v:.6g}" for k, v in list(sorted(metrics.items()))[:5])
    message = f"run {name} ({info['status']}): {shown}\n\nexperiment: {experiment}\nrun: {run_id}\n"
    return run_id, files, message


def write_runs(path: Path, runs: int, experiments: int, seed: int) -> None:
    baseline = make_repo(path)
    rng = random.Random(seed)
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    proc = subprocess.Popen(["git", "-C", str(path), "fast-import", "--quiet",
                             "--done"], stdin=subprocess.PIPE)
    assert proc.stdin is not None
    out: IO[bytes] = proc.stdin
    stamp = int(t0.timestamp())
    for i in range(runs):
        experiment = f"exp-{i % experiments}"
        run_id, files, message = run_record(i, rng, experiment, baseline, t0)
        msg = message.encode()
        parts = [
            f"commit {names.run_ref(experiment, run_id)}\n".encode(),
            f"committer bench <bench@localhost> {stamp + i} +0000\n".encode(),
            f"data {len(msg)}\n".encode(), msg, f"from {baseline}\n".encode(),
        ]
        for rel, data in files.items():
            parts += [f"M 100644 inline {names.RECORD_DIR}/{rel}\n".encode(),
                      f"data {len(data)}\n".encode(), data, b"\n"]
        parts.append(b"\n")
        out.write(b"".join(parts))
    out.write(b"done\n")
    out.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")
    subprocess.run(["git", "-C", str(path), "pack-refs", "--all"], check=True)
    subprocess.run(["git", "-C", str(path), "repack", "-d", "-q"], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--experiments", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--path", type=Path, default=None)
    args = parser.parse_args(argv)
    path = args.path or Path(f"/tmp/gittrack-bench-{args.runs}")
    if path.exists():
        print(f"{path} exists; remove it first", file=sys.stderr)
        return 1
    started = time.perf_counter()
    write_runs(path, args.runs, args.experiments, args.seed)
    print(f"wrote {args.runs} runs to {path} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
