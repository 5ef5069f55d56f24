"""Running the scoring app: one uvicorn server, or N worker processes on one port.

uvicorn's own ``--workers`` share one listening socket, and keep-alive clients then tend to
land on one worker (MLflow's ``--workers 2`` gains nothing for that reason, NOTES). Here each
worker opens its own socket on the same port with ``SO_REUSEPORT``, so the kernel spreads
connections over the workers. The parent only starts the workers, passes SIGTERM, SIGINT and
SIGHUP on to them, and stops the others when one fails. SIGTERM is a graceful stop: requests in
flight finish, the request log is written, and the process exits 0.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from gittrack.core.errors import GittrackError


def uvicorn_server(app: Any, host: str, port: int) -> Any:
    """A uvicorn server for ``app`` that exits 0 after a graceful stop on SIGTERM."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                try:
                    yield
                finally:  # uvicorn re-raises the signal it stopped on; SIGTERM means done
                    captured = getattr(self, "_captured_signals", None)
                    if isinstance(captured, list):
                        captured[:] = [s for s in captured if s != signal.SIGTERM]

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=30)
    return Server(config)


def serve(app: Any, sock: socket.socket) -> None:
    """Serve ``app`` on a listening socket until SIGTERM or Ctrl-C."""
    host, port = sock.getsockname()[:2]
    uvicorn_server(app, host, port).run(sockets=[sock])


def listen(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket on ``host:port`` (shared with other processes when
    ``reuse_port``); GittrackError, naming the port, when it is taken."""
    if reuse_port and not hasattr(socket, "SO_REUSEPORT"):
        raise GittrackError("--workers above 1 needs SO_REUSEPORT (Linux, macOS, BSD); run one "
                            "worker.")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise GittrackError(f"Could not listen on {host}:{port} ({exc.strerror}); is another "
                            "server using the port? Choose another with --port.") from exc
    sock.listen(2048)
    sock.set_inheritable(False)
    return sock


def _die_with_parent() -> None:
    """In a worker, between fork and exec: SIGTERM when the parent dies (Linux), so a killed
    parent never leaves workers behind."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def run_workers(argv: list[str], count: int) -> int:
    """Run ``count`` copies of the worker command ``argv``; the first failing exit code, else 0."""
    # preexec_fn is safe here: the parent runs no threads (it only starts and waits)
    children = [subprocess.Popen(argv, preexec_fn=_die_with_parent)  # noqa: PLW1509
                for _ in range(count)]

    def forward(signum: int, frame: Any) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    code = 0
    try:
        remaining = {child.pid: child for child in children}
        while remaining:
            pid, status = os.wait()
            child = remaining.pop(pid, None)
            if child is None:
                continue
            child.returncode = os.waitstatus_to_exitcode(status)
            if child.returncode != 0 and code == 0:
                code = child.returncode if child.returncode > 0 else 1
                forward(signal.SIGTERM, None)  # one failed: stop the others
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return code
