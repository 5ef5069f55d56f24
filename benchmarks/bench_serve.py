"""Benchmark `gittrack serve` against `mlflow models serve --env-manager local` on one model.

    python benchmarks/bench_serve.py [--seconds 5] [--rounds 3] [--clients 8]
                                     [--servers gittrack,gittrack-w2,mlflow]

One 100-tree random forest (10 float columns) is logged, registered and promoted with gittrack
and saved with MLflow (skops, trusting sklearn's Tree type) in a temporary directory. The
servers (`gittrack`, `gittrack-w2` = `--workers 2`, `mlflow`, `mlflow-w2`) are started on
127.0.0.1 one after another, each timed from the command's start to its first /ping answered
200 and to its first scored request. All stay up, then are measured in ROUNDS interleaved
rounds (the order reversed each round, so a change in the machine's load hits all alike), each
phase for SECONDS after a 1 s warm-up, by the same client:

- one-row requests (`dataframe_split`, a different row each time) from CLIENTS keep-alive
  connections: requests/s, p50 and p99 latency over every round;
- 1,000-row requests the same way;
- the server's CPU time (its processes, user + system) per request, which a busy machine
  disturbs less than requests/s.

The client is one asyncio process writing pre-encoded requests, so it costs every server the
same. All servers answer the same rows with the same numbers (checked before measuring).
Targets (NOTES): start <= 1 s, one-row >= 10x MLflow's requests/s at a lower p99, 1,000-row >= 2x.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROWS, COLUMNS = 2000, [f"f{i}" for i in range(10)]
HERE = Path(__file__).resolve().parent
TRUSTED = ["sklearn.tree._tree.Tree"]


def build(root: Path) -> tuple[Path, Path, Any]:
    """The gittrack repository (forest promoted to prod), the MLflow model dir, the data."""
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import RandomForestRegressor

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(ROWS, len(COLUMNS))), columns=COLUMNS)
    target = 3 * frame["f0"] - 2 * frame["f1"] + frame["f2"] ** 2 + rng.normal(scale=0.1, size=ROWS)
    forest = RandomForestRegressor(n_estimators=100, random_state=0).fit(frame, target)

    repo = root / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com",
                    "commit", "-q", "--allow-empty", "-m", "init"], cwd=repo, check=True)
    code = (
        "import pickle, sys, gittrack\n"
        "forest, example = pickle.load(open(sys.argv[1], 'rb'))\n"
        "with gittrack.start_run() as run:\n"
        "    gittrack.log_model(forest, 'model', input_example=example)\n"
        "v = gittrack.register_model(f'runs:/{run.id}/model', 'forest')\n"
        "gittrack.promote('forest', v.version, 'prod')\n"
        "from bench_models import row_sum\n"
        "with gittrack.start_run() as run:\n"
        "    gittrack.log_model(row_sum, 'model', input_example=example)\n"
        "v = gittrack.register_model(f'runs:/{run.id}/model', 'light')\n"
        "gittrack.promote('light', v.version, 'prod')\n")
    import pickle

    blob = root / "forest.pkl"
    blob.write_bytes(pickle.dumps((forest, frame.head(3))))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
           "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
    subprocess.run([sys.executable, "-c", code, str(blob)], cwd=repo, check=True, env=env)

    import mlflow.sklearn

    mlflow_dir = root / "mlflow-model"
    mlflow.sklearn.save_model(forest, str(mlflow_dir), input_example=frame.head(3),
                              skops_trusted_types=TRUSTED)
    return repo, mlflow_dir, frame


# -- a small keep-alive HTTP client ---------------------------------------------------------
def request_bytes(port: int, body: bytes) -> bytes:
    return (f"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   request: bytes) -> tuple[int, bytes]:
    writer.write(request)
    status = int((await reader.readline()).split()[1])
    length, chunked = None, False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        key, _, value = line.partition(b":")
        key = key.strip().lower()
        if key == b"content-length":
            length = int(value)
        elif key == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if length is not None:
        return status, await reader.readexactly(length)
    body = b""
    while chunked:
        size = int((await reader.readline()).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            break
        body += chunk[:-2]
    return status, body


async def load(port: int, requests: list[bytes], clients: int, seconds: float,
               warmup: float) -> dict[str, float]:
    latencies: list[float] = []
    errors = total = 0
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + seconds

    async def client(index: int) -> None:
        nonlocal errors, total
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = index
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                break
            status, _ = await exchange(reader, writer, requests[i % len(requests)])
            t1 = time.perf_counter()
            i += clients
            total += 1
            if t0 >= measure_from:
                latencies.append(t1 - t0)
                errors += status != 200
        writer.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    return {"latencies": latencies, "seconds": seconds, "errors": errors, "total": total}


def summary(phases: list[dict[str, Any]]) -> dict[str, Any]:
    """Requests/s over every round, and percentiles of every latency measured."""
    latencies = sorted(x for p in phases for x in p["latencies"])
    seconds = sum(p["seconds"] for p in phases)
    return {"rps": len(latencies) / seconds, "p50": 1000 * statistics.median(latencies),
            "p99": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
            "errors": sum(p["errors"] for p in phases),
            "cpu_ms": 1000 * sum(p["cpu"] for p in phases) / max(1, sum(p["total"] for p in phases)),
            "rps_rounds": [len(p["latencies"]) / p["seconds"] for p in phases],
            "batch": statistics.mean(p["batch"] for p in phases) if all(
                p.get("batch") for p in phases) else None}


# -- servers --------------------------------------------------------------------------------
def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SERVERS = ("gittrack", "gittrack-w2", "mlflow", "mlflow-w2", "gittrack-light")


def command(kind: str, repo: Path, mlflow_dir: Path, port: int) -> tuple[list[str], Path]:
    workers = ["--workers", "2"] if kind.endswith("-w2") else []
    if kind.startswith("gittrack"):
        model = "models:/light/prod" if kind == "gittrack-light" else "models:/forest/prod"
        return [sys.executable, "-m", "gittrack", "serve", model, "--port", str(port),
                *workers], repo
    mlflow = str(Path(sys.executable).parent / "mlflow")
    return [mlflow, "models", "serve", "-m", str(mlflow_dir), "--env-manager", "local",
            "-h", "127.0.0.1", "-p", str(port), *workers], mlflow_dir.parent


def post(port: int, body: bytes) -> tuple[int, bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def start(kind: str, repo: Path, mlflow_dir: Path, first: bytes) -> tuple[subprocess.Popen[bytes], int, float, float]:
    port = free_port()
    argv, cwd = command(kind, repo, mlflow_dir, port)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    ping = answer = None
    while answer is None:
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} server exited with {proc.returncode}")
        try:
            if ping is None:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5) as r:
                    if r.status == 200:
                        ping = time.perf_counter() - t0
            if ping is not None and post(port, first)[0] == 200:
                answer = time.perf_counter() - t0
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.01)
    return proc, port, ping or answer, answer


def batch_counts(port: int) -> tuple[float, float]:
    """(rows, predict calls) so far, from /metrics (of the worker this connection reaches)."""
    import re

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as answer:
        text = answer.read().decode()
    total = re.search(r"^gittrack_serve_batch_rows_sum (\S+)$", text, re.MULTILINE)
    count = re.search(r"^gittrack_serve_batch_rows_count (\S+)$", text, re.MULTILINE)
    return (float(total.group(1)) if total else 0.0, float(count.group(1)) if count else 0.0)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of the server and its children so far."""
    import psutil

    proc = psutil.Process(pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        times = p.cpu_times()
        total += times.user + times.system
    return total


def rss_mb(pid: int) -> float:
    import psutil

    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20


def stop(proc: subprocess.Popen[bytes]) -> None:
    import signal

    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def payloads(frame: Any, rows: int, count: int) -> list[bytes]:
    out = []
    for i in range(count):
        part = frame.iloc[(i * rows) % len(frame):][:rows]
        if len(part) < rows:
            part = frame.iloc[:rows]
        out.append(json.dumps({"dataframe_split": {"columns": list(part.columns),
                                                   "data": part.to_numpy().tolist()}}).encode())
    return out


@dataclass
class Running:
    kind: str
    proc: subprocess.Popen[bytes]
    port: int
    ping: float
    first: float
    phases: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def phase(server: Running, name: str, bodies: list[bytes], args: argparse.Namespace) -> None:
    requests = [request_bytes(server.port, b) for b in bodies]
    before = cpu_seconds(server.proc.pid)
    rows0, calls0 = batch_counts(server.port) if server.kind == "gittrack" else (0.0, 0.0)
    result = asyncio.run(load(server.port, requests, args.clients, args.seconds, 1.0))
    result["cpu"] = cpu_seconds(server.proc.pid) - before
    if server.kind == "gittrack":  # one worker: its /metrics count every call
        rows1, calls1 = batch_counts(server.port)
        result["batch"] = (rows1 - rows0) / max(1.0, calls1 - calls0)
    server.phases.setdefault(name, []).append(result)


def run_all(kinds: list[str], repo: Path, mlflow_dir: Path, frame: Any,
            args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Start each server in turn (timing its start), then measure them in interleaved rounds,
    the order reversed every round, so a change in the machine's load hits all alike."""
    one, big = payloads(frame, 1, 200), payloads(frame, 1000, 4)
    servers: list[Running] = []
    answers: dict[str, bytes] = {}
    try:
        proc, _port, _ping, light = start("gittrack-light", repo, mlflow_dir, one[0])
        stop(proc)
        print(f"gittrack serve of a python_function model (numpy only): first answer after "
              f"{light:.2f} s", flush=True)
        for kind in kinds:
            proc, port, ping, first = start(kind, repo, mlflow_dir, one[0])
            servers.append(Running(kind, proc, port, ping, first))
            answers[kind] = post(port, big[0])[1]
        same = len({json.dumps(json.loads(a)) for a in answers.values()}) == 1
        print(f"the same 1,000 predictions from every server: {same}", flush=True)
        for round_ in range(args.rounds):
            order = servers if round_ % 2 == 0 else servers[::-1]
            for name, bodies in (("one-row", one), ("1000-row", big)):
                for server in order:
                    phase(server, name, bodies, args)
        return {s.kind: {"ping": s.ping, "first": s.first, "rss": rss_mb(s.proc.pid),
                         **{name: summary(p) for name, p in s.phases.items()}} for s in servers}
    finally:
        for server in servers:
            stop(server.proc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per phase and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--servers", default="gittrack,gittrack-w2,mlflow",
                        help=f"comma-separated, of {', '.join(SERVERS)}")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    root = Path(tempfile.mkdtemp(prefix="gittrack-bench-serve-"))
    try:
        repo, mlflow_dir, frame = build(root)
        kinds = [k for k in args.servers.split(",") if k in SERVERS and k != "gittrack-light"]
        report(run_all(kinds, repo, mlflow_dir, frame, args), args)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"{args.clients} keep-alive clients, {args.rounds} rounds of {args.seconds:.0f} s per "
          f"phase and server, 100-tree forest of {len(COLUMNS)} float columns; load average "
          f"{os.getloadavg()[0]:.1f}")
    print("| server | first /ping | first answer | one-row req/s | p50 | p99 | CPU/req "
          "| 1,000-row req/s | p50 | p99 | CPU/req | RSS |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for kind, r in results.items():
        a, b = r["one-row"], r["1000-row"]
        print(f"| {kind} | {r['ping']:.2f} s | {r['first']:.2f} s | {a['rps']:.0f} | "
              f"{a['p50']:.1f} ms | {a['p99']:.1f} ms | {a['cpu_ms']:.2f} ms | {b['rps']:.1f} | "
              f"{b['p50']:.0f} ms | {b['p99']:.0f} ms | {b['cpu_ms']:.1f} ms | {r['rss']:.0f} MB |")
        if a["errors"] or b["errors"]:
            print(f"  {kind}: {a['errors'] + b['errors']} non-200 answers")
        print(f"  {kind}: one-row req/s by round {[round(x) for x in a['rps_rounds']]}, "
              f"1,000-row {[round(x, 1) for x in b['rps_rounds']]}"
              + (f"; mean rows per predict call {a['batch']:.1f} (one-row)" if a.get("batch") else ""))
    m = results.get("mlflow")
    for kind, g in results.items():
        if m is None or not kind.startswith("gittrack"):
            continue
        print(f"{kind} / mlflow: one-row {g['one-row']['rps'] / m['one-row']['rps']:.1f}x req/s "
              f"(p99 {g['one-row']['p99']:.0f} vs {m['one-row']['p99']:.0f} ms), "
              f"1,000-row {g['1000-row']['rps'] / m['1000-row']['rps']:.1f}x req/s "
              f"(p99 {g['1000-row']['p99']:.0f} vs {m['1000-row']['p99']:.0f} ms), "
              f"first answer {m['first'] / g['first']:.1f}x sooner; CPU a request "
              f"{m['one-row']['cpu_ms'] / g['one-row']['cpu_ms']:.1f}x less (one-row), "
              f"{m['1000-row']['cpu_ms'] / g['1000-row']['cpu_ms']:.1f}x less (1,000-row)")


if __name__ == "__main__":
    sys.exit(main())
