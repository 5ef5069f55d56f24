"""Real servers for the sharing tests, started by the tests themselves on 127.0.0.1.

- ``git daemon`` serving bare repositories over git:// (receive-pack enabled), started as a
  subprocess; readiness is its own "Ready to rumble" line, never a sleep.
- moto's S3 server (``ThreadedMotoServer``, the way s3fs's own tests run it) in a thread of
  the test process; credentials and the endpoint go through the environment
  (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_ENDPOINT_URL``), as botocore and s3fs
  read them.

Both are stopped at teardown.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class GitDaemon:
    """A running git daemon: ``url(name)`` is the git:// URL of ``<base>/<name>``."""

    base: Path
    port: int
    proc: subprocess.Popen[str]

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def bare(self, name: str) -> str:
        """Create a bare repository under the base path; its git:// URL."""
        subprocess.run(["git", "init", "-q", "--bare", str(self.base / name)], check=True)
        return self.url(name)


def start_git_daemon(base: Path) -> GitDaemon:
    """Start ``git daemon`` on a free port of 127.0.0.1, serving ``base``."""
    base.mkdir(parents=True, exist_ok=True)
    for _attempt in range(5):
        port = free_port()
        proc = subprocess.Popen(
            ["git", "daemon", "--verbose", "--reuseaddr", f"--base-path={base}", "--export-all",
             "--enable=receive-pack", "--listen=127.0.0.1", f"--port={port}", str(base)],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        assert proc.stderr is not None
        for line in proc.stderr:
            if "Ready to rumble" in line:
                return GitDaemon(base, port, proc)
        proc.wait()  # exited before it was ready (the port was taken meanwhile): try another
    raise RuntimeError("git daemon did not start")


def stop(proc: subprocess.Popen[str]) -> None:
    """Stop a server process started here."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()


@pytest.fixture
def git_daemon(tmp_path: Path) -> Iterator[GitDaemon]:
    """A git daemon serving ``tmp_path/served`` over git:// on 127.0.0.1."""
    daemon = start_git_daemon(tmp_path / "served")
    try:
        yield daemon
    finally:
        stop(daemon.proc)


@dataclass
class S3:
    """A moto S3 endpoint with one bucket."""

    endpoint: str
    bucket: str

    def url(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix}"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3]:
    """moto's S3 server on 127.0.0.1 with a bucket; the environment points boto/s3fs at it."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    try:
        import boto3

        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="bucket")
        yield S3(endpoint, "bucket")
    finally:
        server.stop()


def s3_keys(s3: S3, prefix: str) -> set[str]:
    """Every object key under ``prefix`` in the bucket."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3.endpoint)
    keys: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=s3.bucket, Prefix=prefix):
        keys.update(item["Key"] for item in page.get("Contents", []))
    return keys


def s3_object(s3: S3, key: str) -> bytes:
    """The content of one object in the bucket."""
    import boto3

    body = boto3.client("s3", endpoint_url=s3.endpoint).get_object(Bucket=s3.bucket, Key=key)
    return bytes(body["Body"].read())


def env_with_gittrack() -> dict[str, str]:
    """os.environ with the interpreter's bin directory (where `gittrack` lives) on PATH."""
    import sys

    bindir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}


@dataclass
class JupyterServer:
    """A running Jupyter Server: its REST API at ``url``, authenticated by ``token``."""

    url: str
    token: str
    proc: subprocess.Popen[str]
    log: list[str]

    def request(self, method: str, path: str, body: object = None) -> object:
        """One REST call; the decoded JSON answer (None for an empty one)."""
        import json
        import urllib.request

        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as answer:
            text = answer.read()
        return json.loads(text) if text else None


# jupyter_server binds its port in an event-loop callback queued by initialize(), after it
# logs "is running at"; a callback queued after initialize() runs once the port is bound.
JUPYTER_LAUNCH = """
import sys
from jupyter_server.serverapp import ServerApp
app = ServerApp.instance()
app.initialize(sys.argv[1:])
app.io_loop.add_callback(lambda: print("gittrack-test: listening", file=sys.stderr, flush=True))
app.start()
"""


def start_jupyter_server(root: Path) -> JupyterServer:
    """A Jupyter Server on a free port of 127.0.0.1 serving ``root``, once it listens.

    Its output is drained by a thread (kernels log there too); readiness is a line printed
    from the server's event loop after the port is bound, never a sleep.
    """
    import sys
    import threading

    token = os.urandom(12).hex()
    for _attempt in range(5):
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-c", JUPYTER_LAUNCH, "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
             f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}",
             "--ServerApp.open_browser=False", "--ServerApp.allow_root=True"],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        ready, log = threading.Event(), []

        def drain(stream: object = proc.stderr, ready: threading.Event = ready,
                  log: list[str] = log) -> None:
            for line in stream:  # type: ignore[attr-defined]
                log.append(line)
                if "gittrack-test: listening" in line:
                    ready.set()
            ready.set()  # exited

        threading.Thread(target=drain, daemon=True).start()
        ready.wait(timeout=120)
        if proc.poll() is None and any("gittrack-test: listening" in line for line in log):
            return JupyterServer(f"http://127.0.0.1:{port}", token, proc, log)
        stop(proc)  # the port was taken meanwhile: try another
    raise RuntimeError("jupyter server did not start:\n" + "".join(log[-20:]))
