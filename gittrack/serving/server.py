"""The scoring server: MLflow's protocol on Starlette, served by uvicorn.

``POST /invocations`` scores (see :mod:`gittrack.serving.payload`), ``GET /ping`` and
``/health`` say whether a model is loaded, ``/version`` names the version served and the last
refused one, ``/metrics`` is Prometheus' text format. Every scoring answer carries
``X-Model-Version``: the version whose predictions it holds. ``/invocations`` is a plain ASGI
callable rather than a Starlette request handler: it is the hot path, and a request object per
call costs more than the one-row predictions it carries once they are batched.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gittrack.core.errors import GittrackError, InvalidInputError
from gittrack.serving import payload
from gittrack.serving.batching import Batcher, Item, PredictError
from gittrack.serving.follower import Follower, Served
from gittrack.serving.metrics import Metrics
from gittrack.serving.request_log import Entry, RequestLog
from gittrack.serving.schema import SchemaError

log = logging.getLogger("gittrack.serving")
LARGE_BODY = 1 << 20  # bytes; larger request bodies are parsed off the event loop
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Options:
    """How the server runs (``gittrack serve``'s options)."""

    repo: str | None = None
    poll_interval: float = 0.5  # seconds between checks of the stage's tags
    batching: bool = True
    max_batch_rows: int = 4096
    predict_threads: int = 2
    log_requests: str | None = None
    log_rotate_rows: int = 50_000
    log_rotate_seconds: float = 60.0
    handle_sighup: bool = False  # re-resolve on SIGHUP (the CLI sets it; an embedded app does not)


class Service:
    """The model, its batcher, metrics and request log behind one app."""

    def __init__(self, uri: str, options: Options) -> None:
        self.options = options
        self.follower = Follower(uri, options.repo)
        self.metrics = Metrics()
        self.request_log: RequestLog | None = None
        self.batcher = Batcher(options.max_batch_rows, options.predict_threads, options.batching,
                               on_batch=self._log_batch, on_rows=self.metrics.batch_rows.observe)
        self.metrics.queued.set_function(lambda: self.batcher.pending_rows)
        self._loader = ThreadPoolExecutor(1, thread_name_prefix="gittrack-loader")
        self._start_lock = threading.Lock()
        self._started = False
        self._poller: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def load(self) -> Served:
        """Load the model now (GittrackError when it cannot be served); idempotent."""
        with self._start_lock:
            if self.follower.current is None:
                self._loader.submit(self.follower.start).result()
                if self.options.log_requests and self.request_log is None:
                    self.request_log = RequestLog(self.options.log_requests,
                                                  self.options.log_rotate_rows,
                                                  self.options.log_rotate_seconds)
                    atexit.register(self.request_log.close)
                self._observe()
        assert self.follower.current is not None
        return self.follower.current

    async def start(self) -> Served:
        """Load the model (off the event loop) and start following its stage."""
        served = self.follower.current
        if served is None:
            served = await asyncio.get_running_loop().run_in_executor(None, self.load)
        if not self._started:
            self._started = True
            self._wake = asyncio.Event()
            if self.follower.follows is not None:
                self._poller = asyncio.get_running_loop().create_task(self._follow())
        return served

    def reload(self) -> None:
        """Re-resolve the stage now and retry refused versions (SIGHUP)."""
        if self._wake is not None:
            self._wake.set()

    async def stop(self) -> None:
        """Stop following, let running predictions finish, write the request log."""
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.batcher.close)
        if self.request_log is not None:
            await loop.run_in_executor(None, self.request_log.close)
        self._loader.shutdown(wait=False)

    async def _follow(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.options.poll_interval)
            force = self._wake.is_set()
            self._wake.clear()
            try:
                await loop.run_in_executor(self._loader, self.follower.poll, force)
            except Exception as exc:  # noqa: BLE001 - keep serving and keep following
                log.error("gittrack serve: checking %s failed: %s: %s", self.follower.uri,
                          type(exc).__name__, exc)
            self._observe()

    def _observe(self) -> None:
        current = self.follower.current
        version = current.version if current is not None and current.version is not None else 0
        self.metrics.version.labels(self.follower.uri).set(version)
        self.metrics.swaps.set(self.follower.swaps)
        self.metrics.load_failures.set(self.follower.failures)

    def _log_batch(self, served: Served, batch: list[Item], data: Any, output: Any) -> None:
        if self.request_log is None:
            return
        kind = batch[0].parsed.kind
        inputs = [item.parsed.arrived for item in batch] if kind == "frame" else data
        self.request_log.add(Entry(served.version, [i.received for i in batch],
                                   [i.parsed.rows for i in batch], kind, inputs,
                                   served.schema.columns or (), output,
                                   data if kind == "frame" else None))

    # -- endpoints --------------------------------------------------------------------------
    async def invocations(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``POST /invocations``: score one request (plain ASGI)."""
        start = time.perf_counter()
        body = await _read_body(receive)
        status, version = 200, b""
        try:
            served = await self.start()
            version = b"" if served.version is None else str(served.version).encode()
            content_type = _header(scope, b"content-type")
            if len(body) < LARGE_BODY:
                parsed = payload.parse(body, content_type, served.schema)
            else:  # parsing megabytes would hold up every other request on the event loop
                parsed = await asyncio.get_running_loop().run_in_executor(
                    None, payload.parse, body, content_type, served.schema)
            answer = payload.render(await self.batcher.predict(served, parsed))
        except Exception as exc:  # noqa: BLE001 - every failure becomes MLflow's JSON error
            status, code, message = classify(exc)
            answer = payload.error_body(code, message)
            self.metrics.errors.labels(code).inc()
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(answer)).encode())]
        if version:
            headers.append((b"x-model-version", version))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})
        self.metrics.requests.labels(str(status), version.decode()).inc()
        self.metrics.latency.observe(time.perf_counter() - start)

    async def ping(self, request: Request) -> Response:
        """``GET /ping`` and ``/health``: 200 once a model is loaded."""
        try:
            await self.start()
        except GittrackError as exc:
            return Response(f"{exc}\n", status_code=503, media_type="text/plain")
        return Response("\n", media_type="application/json")

    async def version(self, request: Request) -> Response:
        """``GET /version``: the version served, what it follows, the last refused version."""
        from gittrack import __version__  # lazy: the package's version string only

        with contextlib.suppress(GittrackError):
            await self.start()
        return JSONResponse({**self.follower.describe(), "gittrack": __version__,
                             "pid": os.getpid()})

    async def metrics_text(self, request: Request) -> Response:
        """``GET /metrics``: Prometheus' text format."""
        body, content_type = self.metrics.render()
        return Response(body, media_type=content_type)


class _Invocations:
    """The ASGI callable Starlette routes ``/invocations`` to (a class, so it is not wrapped)."""

    def __init__(self, service: Service) -> None:
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.service.invocations(scope, receive, send)


def classify(exc: BaseException) -> tuple[int, str, str]:
    """HTTP status, MLflow error code and message of a failed scoring request."""
    if isinstance(exc, payload.UnsupportedMediaError):
        return 415, "BAD_REQUEST", str(exc)
    if isinstance(exc, SchemaError):
        return 400, "INVALID_PARAMETER_VALUE", str(exc)
    if isinstance(exc, InvalidInputError):
        return 400, "BAD_REQUEST", str(exc)
    if isinstance(exc, PredictError):
        return 400, "BAD_REQUEST", (f"Encountered an unexpected error while evaluating the model "
                                    f"({exc}); verify that the input is compatible with the model.")
    if isinstance(exc, GittrackError):
        return 503, "TEMPORARILY_UNAVAILABLE", str(exc)
    log.exception("gittrack serve: unexpected error while scoring")
    return 500, "INTERNAL_ERROR", f"Unexpected {type(exc).__name__} while scoring: {exc}"


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def create_app(model_uri: str, options: Options | None = None) -> Starlette:
    """The scoring app for ``model_uri``; the model loads at startup (or at the first request
    when the app is mounted in another one, whose lifespan does not reach it)."""
    service = Service(model_uri, options or Options())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        if service.options.handle_sighup and threading.current_thread() is threading.main_thread():
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, service.reload)
        yield
        await service.stop()

    routes = [Route("/ping", service.ping), Route("/health", service.ping),
              Route("/version", service.version), Route("/metrics", service.metrics_text),
              Route("/invocations", _Invocations(service), methods=["POST"])]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.service = service
    return app
