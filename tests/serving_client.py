"""A real uvicorn server in a thread for an ASGI app, and a small HTTP client for it."""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from servers import free_port


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def version(self) -> int | None:
        text = self.headers.get("x-model-version")
        return int(text) if text else None


class ThreadServer:
    """uvicorn serving ``app`` on 127.0.0.1 in a thread, lifespan included."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="on", ws="none")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            self.thread.join(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


class Client:
    """One keep-alive connection to a server on 127.0.0.1."""

    def __init__(self, port: int, timeout: float = 60) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str | None = None) -> Answer:
        headers = {"Content-Type": content_type} if content_type else {}
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)

    def post(self, document: Any = None, body: bytes | None = None,
             content_type: str = "application/json") -> Answer:
        data = body if body is not None else json.dumps(document).encode()
        return self.request("POST", "/invocations", data, content_type)

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def close(self) -> None:
        self.conn.close()


def wait_for(condition: Any, timeout: float, what: str, every: float = 0.02) -> float:
    """Poll ``condition()`` until it is true; the seconds it took (AssertionError after timeout)."""
    start = time.perf_counter()
    event = threading.Event()
    while not condition():
        if time.perf_counter() - start > timeout:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        event.wait(every)
    return time.perf_counter() - start
