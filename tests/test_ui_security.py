"""The web UI off loopback: a token (401 without it), the Host check (403), Origin scheme and
port compared, and the security headers on every answer, refusals included.

The machine this runs on allows servers on loopback only, so the real server is started with
``--host 127.0.0.2``: not one of the loopback names (127.0.0.1, localhost, ::1), so it takes
exactly the path ``--host 0.0.0.0`` takes, while it listens on the loopback interface.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import make_repo
from servers import env_with_gittrack, stop

pytest.importorskip("starlette")
from starlette.testclient import TestClient

from gittrack.ui.app import create_app
from gittrack.ui.security import bound_names, is_loopback, same_origin

TOKEN = "t0ken-for-tests"
HEADERS = ("content-security-policy", "x-content-type-options", "referrer-policy", "x-frame-options")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("ui-sec") / "repo")


@pytest.fixture
def exposed(project: Path) -> TestClient:
    """The app as `gittrack ui --host 0.0.0.0` builds it."""
    app = create_app(project, allowed_hosts=bound_names("0.0.0.0"), token=TOKEN)
    return TestClient(app, base_url="http://127.0.0.1:5000")


def secured(response: object) -> bool:
    headers = response.headers  # type: ignore[attr-defined]
    return all(name in headers for name in HEADERS) and "script-src 'self'" in headers[HEADERS[0]]


def test_without_the_token_every_request_is_401_with_the_headers(exposed: TestClient) -> None:
    for path in ("/", "/api/info", "/api/experiments", "/static/app.js", "/api/openapi.json"):
        answer = exposed.get(path)
        assert answer.status_code == 401 and secured(answer), path
        assert answer.json()["kind"] == "unauthorized" and "?token=" in answer.json()["error"]
    assert exposed.get("/api/info", headers={"Authorization": "token wrong"}).status_code == 401
    assert exposed.get("/api/info?token=wrong").status_code == 401
    # a token that is not ASCII (in the URL, a header or a cookie) is a wrong token, not a 500
    assert exposed.get("/api/info?token=%C3%A9%FF").status_code == 401
    assert exposed.get("/api/info", headers={"Authorization": b"token \xc3\xa9"}).status_code == 401
    assert exposed.get("/api/info", headers={"Cookie": b"gittrack_token=\xff"}).status_code == 401


def test_the_token_in_the_url_becomes_a_cookie_and_headers_work(exposed: TestClient) -> None:
    first = exposed.get(f"/?token={TOKEN}")
    assert first.status_code == 200 and secured(first)
    cookie = first.headers["set-cookie"]
    assert f"gittrack_token={TOKEN}" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert exposed.get("/api/info").status_code == 200  # the cookie carries it from now on
    fresh = TestClient(exposed.app, base_url="http://127.0.0.1:5000")
    assert fresh.get("/api/info", headers={"Authorization": f"token {TOKEN}"}).status_code == 200
    assert fresh.get("/api/info", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert "set-cookie" not in fresh.get("/api/info", headers={"Authorization": f"token {TOKEN}"}).headers


def test_a_foreign_host_is_403_even_with_the_token(exposed: TestClient) -> None:
    auth = {"Authorization": f"token {TOKEN}"}
    for host in ("evil.example", "evil.example:5000", "127.0.0.1.evil.example"):
        answer = exposed.get("/api/info", headers={"Host": host, **auth})
        assert answer.status_code == 403 and secured(answer), host
        assert answer.json()["kind"] == "forbidden"
    assert exposed.get("/api/info", headers={"Host": "evil.example"}).status_code == 403
    assert exposed.get("/api/info", headers={"Host": f"{socket.gethostname()}:5000", **auth}).status_code == 200
    assert exposed.get("/api/info", headers={"Host": "[::1]:5000", **auth}).status_code == 200


def test_writes_compare_origin_scheme_host_and_port(exposed: TestClient) -> None:
    auth = {"Authorization": f"token {TOKEN}"}
    url = "/api/models/forecaster/promote"
    for origin in ("https://127.0.0.1:5000", "http://127.0.0.1:5001", "http://evil.example:5000",
                   "null", "http://127.0.0.1"):
        answer = exposed.post(url, json={"version": 1, "stage": "prod"}, headers={"Origin": origin, **auth})
        assert answer.status_code == 403 and secured(answer), origin
    same = exposed.post(url, json={"version": 1, "stage": "prod"},
                        headers={"Origin": "http://127.0.0.1:5000", **auth})
    assert same.status_code not in (401, 403)  # past the guard: the registry answers
    assert same_origin("http://a:80", "http", "a") and same_origin("https://a", "https", "a:443")
    assert not same_origin("https://a", "http", "a:443")


def test_loopback_needs_no_token_and_keeps_its_names(project: Path) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("[::1]")
    assert not is_loopback("0.0.0.0") and not is_loopback("127.0.0.2")
    local = TestClient(create_app(project, allowed_hosts=bound_names("127.0.0.1")),
                       base_url="http://127.0.0.1:5000")
    answer = local.get("/api/info")
    assert answer.status_code == 200 and secured(answer)
    assert local.get("/api/info", headers={"Host": "evil.example"}).status_code == 403
    assert set(bound_names("0.0.0.0", ["ml-box.internal"])) >= {
        "127.0.0.1", "localhost", "::1", socket.gethostname().lower(), "ml-box.internal"}


@pytest.fixture
def served(project: Path) -> Iterator[tuple[int, str, str]]:
    """`gittrack ui --host 127.0.0.2 --port 0` in its own process: (port, token, warning)."""
    env = {k: v for k, v in env_with_gittrack().items() if k != "GITTRACK_UI_TOKEN"}
    proc = subprocess.Popen([sys.executable, "-m", "gittrack", "ui", "--host", "127.0.0.2",
                             "--port", "0", str(project)], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True, env=env)
    assert proc.stderr is not None
    warning = proc.stderr.readline()
    serving = proc.stderr.readline()  # printed once the socket listens
    try:
        assert "serving" in serving and "?token=" in serving, warning + serving
        url = serving.split(" at ", 1)[1].split(" ", 1)[0].rstrip(";")
        port = int(url.split(":")[2].split("/")[0])
        yield port, url.split("?token=", 1)[1], warning
    finally:
        stop(proc)


def request(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.2", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Host": f"127.0.0.2:{port}", **(headers or {})})
        answer = conn.getresponse()
        answer.read()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}
    finally:
        conn.close()


def test_gittrack_ui_off_loopback_prints_a_token_warns_and_enforces_it(
        served: tuple[int, str, str]) -> None:
    port, token, warning = served
    assert "warning" in warning and "exposes these runs" in warning
    assert len(token) >= 40
    status, headers = request(port, "/api/info")
    assert status == 401 and all(h in headers for h in HEADERS)
    status, headers = request(port, "/api/info", {"Host": "evil.example"})
    assert status == 403 and all(h in headers for h in HEADERS)
    status, headers = request(port, f"/?token={token}")
    assert status == 200 and "gittrack_token=" in headers["set-cookie"]
    status, _ = request(port, "/api/info", {"Cookie": f"gittrack_token={token}"})
    assert status == 200
    status, _ = request(port, "/api/info", {"Authorization": f"token {token}", "Host": "evil.example"})
    assert status == 403
    assert os.environ.get("GITTRACK_UI_TOKEN") is None
