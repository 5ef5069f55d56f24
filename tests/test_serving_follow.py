"""`gittrack serve models:/NAME/prod` as a real process following the stage.

Under load (8 clients, 4,000 requests) the stage is promoted and rolled back 10 times: no
request fails and every answer holds the predictions of the version its X-Model-Version names
(v1 answers f0, v2 answers 2*f0 + 1000). A corrupted version and a version that fails its input
example are refused while the old one keeps serving; SIGHUP retries; SIGTERM lets in-flight
requests finish, writes the request log and exits 0.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import serving_models
from conftest import make_repo
from servers import free_port
from serving_client import Client, wait_for

import gittrack
from gittrack import api
from gittrack.artifacts.models import save_model

TESTS = Path(__file__).resolve().parent
EXAMPLE = pd.DataFrame({"f0": [1.0, 2.0], "f1": [0.0, 0.0]})
ANSWERS = {1: lambda x: x, 2: lambda x: 2 * x + 1000, 3: lambda x: 3 * x}


SIGNATURE = {"inputs": [{"name": "f0", "type": "double"}, {"name": "f1", "type": "double"}],
             "outputs": [{"type": "double"}]}
RUNNING: list[tuple[subprocess.Popen[str], threading.Thread]] = []


@pytest.fixture(autouse=True)
def _stop_servers() -> Iterator[None]:
    yield
    while RUNNING:
        proc, reader = RUNNING.pop()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the server and any workers it started
        proc.wait(30)
        reader.join(30)
        if proc.stderr is not None:
            proc.stderr.close()


def register(name: str, model: object) -> int:
    with gittrack.start_run() as run:
        gittrack.log_model(model, "model", input_example=EXAMPLE, signature=SIGNATURE)
    return gittrack.register_model(f"runs:/{run.id}/model", name).version


@dataclass
class Served:
    proc: subprocess.Popen[str]
    port: int
    repo: Path
    logs: Path
    stderr: list[str] = field(default_factory=list)

    def version(self) -> dict[str, Any]:
        client = Client(self.port)
        try:
            return dict(client.get("/version").json)
        finally:
            client.close()


def start_server(repo: Path, uri: str, *extra: str) -> Served:
    port = free_port()
    logs = repo.parent / "logs"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "gittrack", "serve", uri, "--port", str(port),
                             "--log-requests", str(logs), *extra],
                            cwd=repo, env=env, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    served = Served(proc, port, repo, logs)
    assert proc.stderr is not None
    reader = threading.Thread(target=lambda: served.stderr.extend(proc.stderr or []), daemon=True)
    reader.start()
    RUNNING.append((proc, reader))

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"gittrack serve exited: {''.join(served.stderr)}")
        try:
            client = Client(port, timeout=5)
            ok = client.get("/ping").status == 200
            client.close()
            return ok
        except OSError:
            return False

    wait_for(up, 120, "gittrack serve answering /ping", every=0.05)
    return served


@pytest.fixture
def affine_repo(tmp_path: Path) -> Iterator[Path]:
    repo = make_repo(tmp_path / "repo")
    api.set_tracking_repo(repo)
    assert register("affine", serving_models.Affine(1.0, 0.0)) == 1
    assert register("affine", serving_models.Affine(2.0, 1000.0)) == 2
    gittrack.promote("affine", 1, "prod")
    yield repo


class Load:
    """8 clients sending one-row requests, released phase by phase (4,000 in all)."""

    def __init__(self, port: int, clients: int = 8) -> None:
        self.port, self.allowed, self.issued, self.done = port, 0, 0, 0
        self.results: list[tuple[int, int | None, float, Any]] = []
        self.cond = threading.Condition()
        self.finished = False
        self.threads = [threading.Thread(target=self._client, args=(i,)) for i in range(clients)]
        for t in self.threads:
            t.start()

    def release(self, count: int) -> None:
        with self.cond:
            self.allowed += count
            self.cond.notify_all()

    def wait_done(self) -> None:
        wait_for(lambda: self.done >= self.allowed, 60, "the phase's requests")

    def stop(self) -> None:
        with self.cond:
            self.finished = True
            self.cond.notify_all()
        for t in self.threads:
            t.join(60)

    def _client(self, index: int) -> None:
        client = Client(self.port)
        while True:
            with self.cond:
                while self.issued >= self.allowed and not self.finished:
                    self.cond.wait()
                if self.issued >= self.allowed:
                    break
                self.issued += 1
                n = self.issued
            x = float(n)
            answer = client.post({"dataframe_records": [{"f0": x, "f1": 0.0}]})
            body = answer.json if answer.status == 200 else answer.body
            with self.cond:
                self.results.append((answer.status, answer.version, x, body))
                self.done += 1
        client.close()


def corrupt_cache_copy(repo: Path, model: object, tmp: Path) -> tuple[Path, bytes]:
    """Overwrite the cache object of the model's model.pkl; its path and original bytes."""
    save_model(model, tmp / "copy")
    data = (tmp / "copy" / "model.pkl").read_bytes()
    md5 = hashlib.md5(data).hexdigest()
    obj = repo / ".git" / "gittrack" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"not a pickle" + data[12:])
    return obj, data


def test_follows_promotions_and_rollbacks_under_load(affine_repo: Path, tmp_path: Path) -> None:
    server = start_server(affine_repo, "models:/affine/prod", "--poll-interval", "0.2")
    load = Load(server.port)
    rollbacks: list[float] = []
    try:
        assert server.version()["version"] == 1
        for cycle in range(10):
            gittrack.promote("affine", 2, "prod")
            load.release(200)
            wait_for(lambda: server.version()["version"] == 2, 30, f"promotion {cycle + 1}")
            load.wait_done()
            gittrack.rollback("affine", "prod")
            load.release(200)
            rollbacks.append(wait_for(lambda: server.version()["version"] == 1, 2.0,
                                      f"rollback {cycle + 1} served within 2 s"))
            load.wait_done()
    finally:
        load.stop()
    print(f"rollback served after {max(rollbacks):.2f} s at most (mean "
          f"{sum(rollbacks) / len(rollbacks):.2f} s)")
    assert len(load.results) == 4000
    failed = [r for r in load.results if r[0] != 200]
    assert not failed, failed[:5]
    wrong = [r for r in load.results if r[3] != {"predictions": [ANSWERS[r[1] or 0](r[2])]}]
    assert not wrong, wrong[:5]
    by_version = {v: sum(1 for r in load.results if r[1] == v) for v in (1, 2)}
    assert by_version[1] > 0 and by_version[2] > 0
    assert server.version()["swaps"] == 20

    # A version whose model file is corrupted in the cache is refused; v1 keeps serving.
    assert register("affine", serving_models.Affine(3.0, 0.0)) == 3
    obj, original = corrupt_cache_copy(affine_repo, serving_models.Affine(3.0, 0.0), tmp_path)
    gittrack.promote("affine", 3, "prod")
    wait_for(lambda: (server.version()["last_error"] or {}).get("version") == 3, 30,
             "the refusal of v3")
    state = server.version()
    assert state["version"] == 1 and "v3 was not swapped in" in state["last_error"]["message"]
    client = Client(server.port)
    answer = client.post({"inputs": {"f0": [5.0], "f1": [0.0]}})
    assert (answer.status, answer.version, answer.json) == (200, 1, {"predictions": [5.0]})
    metrics = client.get("/metrics").body.decode()
    assert "gittrack_serve_model_load_failures 1.0" in metrics

    # Repaired: SIGHUP retries at once (the tags did not change, so polling alone would not).
    obj.write_bytes(original)
    server.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: server.version()["version"] == 3, 30, "v3 after SIGHUP")
    assert client.post({"inputs": {"f0": [5.0], "f1": [0.0]}}).json == {"predictions": [15.0]}

    # A version that loads but fails its own input example is refused too.
    assert register("affine", serving_models.Broken()) == 4
    gittrack.promote("affine", 4, "prod")
    wait_for(lambda: (server.version()["last_error"] or {}).get("version") == 4, 30,
             "the refusal of v4")
    assert "input example" in server.version()["last_error"]["message"]
    answer = client.post({"inputs": {"f0": [5.0], "f1": [0.0]}})
    assert (answer.status, answer.version) == (200, 3)
    client.close()

    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(60) == 0
    logged = pd.concat([pd.read_parquet(f) for f in server.logs.glob("requests-*.parquet")])
    assert len(logged) == 4000 + 3  # every answered row, written at shutdown
    counts = logged["_gittrack_model_version"].value_counts().to_dict()
    assert counts[1] == by_version[1] + 1 and counts[2] == by_version[2]


def test_sigterm_lets_in_flight_requests_finish(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    api.set_tracking_repo(repo)
    gate = tmp_path / "gate"
    gate.mkdir()
    register("slow", serving_models.FileGated(str(gate)))
    gittrack.promote("slow", 1, "prod")
    server = start_server(repo, "models:/slow/prod")
    (gate / "armed").touch()
    answers: list[Any] = []
    client = Client(server.port)
    request = threading.Thread(target=lambda: answers.append(
        client.post({"inputs": {"f0": [7.0], "f1": [0.0]}})))
    request.start()
    wait_for((gate / "started").exists, 60, "the request to reach the model")
    server.proc.send_signal(signal.SIGTERM)
    (gate / "open").touch()
    request.join(60)
    client.close()
    assert server.proc.wait(60) == 0
    assert answers[0].status == 200 and answers[0].json == {"predictions": [7.0]}
    logged = pd.concat([pd.read_parquet(f) for f in server.logs.glob("requests-*.parquet")])
    assert logged["f0"].tolist() == [7.0]


def test_workers_share_the_port(affine_repo: Path) -> None:
    server = start_server(affine_repo, "models:/affine/prod", "--workers", "2")
    clients: list[Client] = []

    def both_listening() -> bool:  # a worker listens once its model is loaded
        clients.append(Client(server.port))
        return len({c.get("/version").json["pid"] for c in clients}) == 2

    wait_for(both_listening, 60, "both workers answering", every=0.05)
    pids = {c.get("/version").json["pid"] for c in clients}
    answers = [c.post({"inputs": {"f0": [2.0], "f1": [0.0]}}) for c in clients]
    for c in clients:
        c.close()
    assert len(pids) == 2 and server.proc.pid not in pids  # the kernel spread the connections
    assert all((a.status, a.version, a.json) == (200, 1, {"predictions": [2.0]}) for a in answers)
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(60) == 0


def test_serve_cli_errors(affine_repo: Path, cli: Any) -> None:
    result = cli("serve", "models:/nothing/prod")
    assert result.code == 1 and "No model 'nothing'" in result.err
    result = cli("serve", "models:/affine/staging")
    assert result.code == 1 and "no current version" in result.err
    result = cli("serve", "--help")
    assert result.code == 0 and "Example:" in result.out and "gittrack serve models:/" in result.out
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = cli("serve", "models:/affine/prod", "--port", str(busy.getsockname()[1]))
    assert result.code == 1 and "Could not listen" in result.err
    proc = subprocess.run([sys.executable, "-m", "gittrack", "serve", "models:/nothing/prod",
                           "--workers", "2", "--port", str(free_port())], cwd=affine_repo,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "No model 'nothing'" in proc.stderr
