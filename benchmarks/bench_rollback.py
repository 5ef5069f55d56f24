"""How soon a following `gittrack serve` serves a promotion and a rollback, under load.

    python benchmarks/bench_rollback.py [--cycles 10] [--clients 4] [--poll-interval 0.2]

Two python_function models (numpy only, so loading one costs little) are registered as
versions 1 and 2 of `flip` (v1 answers the row's sum, v2 the sum plus 1,000); v1 is promoted
to prod and `gittrack serve models:/flip/prod --poll-interval P` starts on 127.0.0.1. While
CLIENTS keep-alive connections send one-row requests without pause, the stage is promoted to
v2 and rolled back to v1 CYCLES times; each time, the seconds from the start of the
`promote`/`rollback` call to the first `/version` answer naming the new version (polled every
10 ms). Every scoring answer is checked: status 200 and the predictions of the version its
X-Model-Version header names. Target: a rollback served within 2 s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_models  # noqa: E402
import bench_serve  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build(repo: Path) -> None:
    """A repository where `flip` v1 is in prod and v2 waits."""
    import pandas as pd

    import gittrack

    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    for key, value in (("user.name", "bench"), ("user.email", "bench@example.com")):
        subprocess.run(["git", "-C", str(repo), "config", key, value], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-q", "--allow-empty", "-m", "init"],
                   check=True)
    gittrack.set_tracking_repo(repo)
    example = pd.DataFrame({"f0": [1.0, 2.0], "f1": [0.5, 0.0]})
    for model in (bench_models.row_sum, bench_models.row_sum_plus_1000):
        with gittrack.start_run() as run:
            gittrack.log_model(model, "model", input_example=example)
        gittrack.register_model(f"runs:/{run.id}/model", "flip")
    gittrack.promote("flip", 1, "prod")


class Connection:
    """One keep-alive HTTP connection to the server."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(self, path: str) -> Any:
        self.conn.request("GET", path)
        answer = self.conn.getresponse()
        return json.loads(answer.read())

    def post(self, payload: dict[str, Any]) -> tuple[int, int | None, Any]:
        self.conn.request("POST", "/invocations", body=json.dumps(payload),
                          headers={"Content-Type": "application/json"})
        answer = self.conn.getresponse()
        body = answer.read()
        version = answer.getheader("X-Model-Version")
        return answer.status, int(version) if version else None, \
            json.loads(body) if answer.status == 200 else body

    def close(self) -> None:
        self.conn.close()


class Load:
    """CLIENTS connections sending one-row requests without pause until stopped."""

    def __init__(self, port: int, clients: int) -> None:
        self.port, self.stopping = port, threading.Event()
        self.lock = threading.Lock()
        self.answers = self.failed = self.wrong = 0
        self.by_version: dict[int | None, int] = {}
        self.threads = [threading.Thread(target=self.client, args=(i,)) for i in range(clients)]
        for t in self.threads:
            t.start()

    def client(self, index: int) -> None:
        conn, n = Connection(self.port), 0
        while not self.stopping.is_set():
            n += 1
            f0 = float(index * 1_000_000 + n)
            status, version, body = conn.post({"dataframe_records": [{"f0": f0, "f1": 0.5}]})
            expected = f0 + 0.5 + (1000.0 if version == 2 else 0.0)
            with self.lock:
                self.answers += 1
                self.by_version[version] = self.by_version.get(version, 0) + 1
                if status != 200:
                    self.failed += 1
                elif version not in (1, 2) or body != {"predictions": [expected]}:
                    self.wrong += 1
        conn.close()

    def stop(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(60)


def served_after(conn: Connection, change: Any, version: int, limit: float = 60) -> float:
    """Seconds from calling ``change`` until the server's /version names ``version``."""
    started = time.perf_counter()
    change()
    while conn.get("/version")["version"] != version:
        if time.perf_counter() - started > limit:
            raise SystemExit(f"version {version} was not served within {limit:.0f} s")
        time.sleep(0.01)  # the polling period of this measurement, not an ordering device
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--poll-interval", type=float, default=0.2)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="gittrack-bench-rollback-"))
    proc = None
    try:
        repo = root / "repo"
        build(repo)
        import gittrack

        port = free_port()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
        proc = subprocess.Popen([sys.executable, "-m", "gittrack", "serve", "models:/flip/prod",
                                 "--port", str(port), "--poll-interval", str(args.poll_interval)],
                                cwd=repo, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.perf_counter() + 120
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"gittrack serve exited with {proc.returncode}")
            try:
                conn = Connection(port)
                if conn.get("/version")["version"] == 1:
                    break
                conn.close()
            except (OSError, ValueError, http.client.HTTPException):
                if time.perf_counter() > deadline:
                    raise SystemExit("gittrack serve did not answer within 120 s") from None
                time.sleep(0.05)
        load = Load(port, args.clients)
        promotions, rollbacks = [], []
        try:
            for _ in range(args.cycles):
                promotions.append(served_after(conn, lambda: gittrack.promote("flip", 2, "prod"), 2))
                rollbacks.append(served_after(conn, lambda: gittrack.rollback("flip", "prod"), 1))
        finally:
            load.stop()
        conn.close()
        print(f"{args.clients} clients sending one-row requests; poll interval "
              f"{args.poll_interval} s; load average {os.getloadavg()[0]:.1f}")
        print(f"promotion served after: median {statistics.median(promotions):.2f} s, "
              f"at most {max(promotions):.2f} s ({args.cycles} promotions)")
        print(f"rollback served after: median {statistics.median(rollbacks):.2f} s, "
              f"at most {max(rollbacks):.2f} s ({args.cycles} rollbacks)")
        print(f"requests answered meanwhile: {load.answers:,} ({load.by_version.get(1, 0):,} by "
              f"v1, {load.by_version.get(2, 0):,} by v2); {load.failed} not 200, "
              f"{load.wrong} with predictions not of the version named")
        return 1 if load.failed or load.wrong else 0
    finally:
        if proc is not None and proc.poll() is None:
            bench_serve.stop(proc)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
