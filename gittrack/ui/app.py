"""The web app: a Starlette application serving the JSON API and the packaged front end.

``create_app(repo, read_only)`` builds it; ``gittrack ui`` runs it with uvicorn on 127.0.0.1.
Every answer carries a Content-Security-Policy that allows only the app's own scripts, so even
a mistake in the front end could not run a script that came from a run name or a param.
Writes need a JSON body (a cross-site form cannot send one without a CORS preflight, which
this app never grants) and are refused with 403 in read-only mode. The API is described by
``GET /api/openapi.json``, generated from the routes below and their docstrings.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from gittrack import __version__
from gittrack.core.errors import (
    FilterError,
    GittrackError,
    RegistryError,
    RunNotFoundError,
    UnsafePathError,
)
from gittrack.core.store import Store, repo_from_env
from gittrack.query import series
from gittrack.tracking import stack
from gittrack.tracking.recovery import recover_dead_runs
from gittrack.ui import data, models, monitoring, previews
from gittrack.ui.security import Guard

STATIC = Path(__file__).parent / "static"
# Served artifact bytes get no scripts at all, even an SVG opened on its own.
RAW_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


class ReadOnlyError(GittrackError):
    """A write was asked of a server started with --read-only."""


# -- helpers ------------------------------------------------------------------------------
def _store(request: Request, recover: bool = False) -> Store:
    stack.wait_all()  # a run this process ended shows once its final commit is in, as in the API
    store = Store(repo_from_env(request.app.state.repo))
    if recover and not request.app.state.read_only:
        recover_dead_runs(store)  # a dead live run shows as crashed, as in `gittrack log`
    return store


def _int(request: Request, name: str, default: int) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise GittrackError(f"Query parameter {name} must be a whole number; got {text!r}.")


def _list(request: Request, name: str) -> list[str]:
    text = request.query_params.get(name, "")
    return [t for t in (s.strip() for s in text.split(",")) if t]


def error_response(exc: Exception) -> JSONResponse:
    """The JSON error answer: ``{"error": message, "kind": ...}`` with a fitting status."""
    status, kind = 400, "invalid"
    if isinstance(exc, (RunNotFoundError, LookupError)):
        status, kind = 404, "not_found"
    elif isinstance(exc, ReadOnlyError):
        status, kind = 403, "read_only"
    elif isinstance(exc, FilterError):
        kind = "filter"
    elif isinstance(exc, UnsafePathError):
        kind = "unsafe_path"
    elif isinstance(exc, RegistryError):
        status, kind = 409, "registry"
    message = str(exc.args[0]) if isinstance(exc, LookupError) and exc.args else str(exc)
    return JSONResponse({"error": message, "kind": kind}, status_code=status)


async def _answer(func: Callable[..., Any], *args: Any) -> Response:
    try:
        result = await run_in_threadpool(func, *args)
    except (GittrackError, LookupError) as exc:
        return error_response(exc)
    return result if isinstance(result, Response) else JSONResponse(result)


async def _body(request: Request) -> dict[str, Any]:
    if request.app.state.read_only:
        raise ReadOnlyError("This server is read-only (started with --read-only); "
                            "promote and roll back with the gittrack CLI.")
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise GittrackError("Send the request body as application/json.")
    try:
        body = await request.json()
    except ValueError:
        raise GittrackError("The request body is not valid JSON.")
    if not isinstance(body, dict):
        raise GittrackError("The request body must be a JSON object.")
    return body


# -- endpoints ----------------------------------------------------------------------------
async def info(request: Request) -> Response:
    """The repository served and whether writes are allowed."""
    def work() -> dict[str, Any]:
        store = _store(request)
        return {"repo": str(store.repo.workdir or store.repo.git_dir),
                "read_only": request.app.state.read_only, "version": __version__}
    return await _answer(work)


async def experiments(request: Request) -> Response:
    """Every experiment: name, runs, running runs, newest start, baseline commit."""
    return await _answer(lambda: data.experiments(_store(request, recover=True)))


async def runs(request: Request) -> Response:
    """One page of an experiment's runs. Query: where (the `gittrack log --where` grammar),
    order ("metrics.rmse DESC"), offset, limit (<= 500), columns (comma-separated)."""
    q = request.query_params

    def work() -> dict[str, Any]:
        return data.runs_page(_store(request, recover=True), request.path_params["experiment"],
                              q.get("where", ""), q.get("order", ""), _int(request, "offset", 0),
                              _int(request, "limit", 50), _list(request, "columns") or None)
    return await _answer(work)


async def run(request: Request) -> Response:
    """A run: params, metrics, tags, inputs, artifact pointers, info, whether it is live."""
    return await _answer(lambda: data.run_detail(_store(request), request.path_params["run"]))


async def run_metrics(request: Request) -> Response:
    """Every point of a run's metrics (keys: comma-separated), live points included."""
    return await _answer(lambda: series.metric_series(
        _store(request), request.path_params["run"], _list(request, "keys") or None))


async def metrics(request: Request) -> Response:
    """Points of several runs' metrics for overlaid curves. Query: runs, keys."""
    return await _answer(lambda: {"runs": series.many_series(
        _store(request), _list(request, "runs"), _list(request, "keys") or None)})


async def run_code(request: Request) -> Response:
    """The code the run changed against its baseline commit, as git's patch."""
    return await _answer(lambda: data.code_diff(_store(request), request.path_params["run"]))


async def run_artifacts(request: Request) -> Response:
    """The run's artifacts, with the files of directory artifacts."""
    return await _answer(lambda: {"artifacts": previews.list_artifacts(
        _store(request), request.path_params["run"])})


async def run_preview(request: Request) -> Response:
    """A preview of one artifact file. Query: path (the logical artifact path), file (inside
    a directory artifact). Text, the first CSV rows, model.yaml, or an image's media type."""
    q = request.query_params
    return await _answer(lambda: previews.preview(
        _store(request), request.path_params["run"], q.get("path", ""), q.get("file") or None))


async def run_raw(request: Request) -> Response:
    """The verified bytes of an image artifact (query as for the preview)."""
    q = request.query_params

    def work() -> Response:
        path, file = q.get("path", ""), q.get("file") or None
        body, name, _cut = previews.read_bytes(_store(request), request.path_params["run"],
                                               path, file, previews.MAX_IMAGE)
        if previews.kind_of(name) != "image":
            raise GittrackError(f"'{name}' is not an image; use the preview endpoint.")
        media = previews.IMAGE_TYPES[os.path.splitext(name.lower())[1]]
        return Response(body, media_type=media, headers={"Content-Security-Policy": RAW_CSP})
    return await _answer(work)


async def compare(request: Request) -> Response:
    """The comparison of 2..20 runs (query: runs): every param, metric, tag, input, artifact."""
    return await _answer(lambda: data.compare(_store(request), _list(request, "runs")))


async def model_list(request: Request) -> Response:
    """Every registered model: versions, current stages, history, skipped-tag warnings."""
    return await _answer(lambda: models.models(_store(request)))


async def model_monitoring(request: Request) -> Response:
    """A model's monitoring runs (experiment <model>/monitoring) in step order: version,
    error and drift metrics, alerts; and the steps where the serving version changed."""
    return await _answer(lambda: monitoring.monitoring(_store(request),
                                                       request.path_params["model"]))


async def run_drift(request: Request) -> Response:
    """The drift report (drift.json) of a monitoring run: every column's test, score,
    verdict and both distributions."""
    return await _answer(lambda: monitoring.drift_report(_store(request),
                                                         request.path_params["run"]))


async def promote(request: Request) -> Response:
    """Promote a version. Body: {"version": 3, "stage": "prod", "note": "..."}. 403 read-only."""
    try:
        body = await _body(request)
    except GittrackError as exc:
        return error_response(exc)
    return await _answer(lambda: models.promote(
        _store(request), request.path_params["model"], body.get("version") or 0,
        str(body.get("stage", "")), body.get("note")))


async def rollback(request: Request) -> Response:
    """Roll a stage back. Body: {"stage": "prod", "to": null, "note": "..."}. 403 read-only."""
    try:
        body = await _body(request)
    except GittrackError as exc:
        return error_response(exc)
    return await _answer(lambda: models.rollback(
        _store(request), request.path_params["model"], str(body.get("stage", "")),
        body.get("to"), body.get("note")))


async def openapi(request: Request) -> Response:
    """This API described as OpenAPI 3."""
    return JSONResponse(openapi_document(request.app.routes))


async def index(request: Request) -> Response:
    """The single page of the front end (it routes on the URL fragment)."""
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


API: list[tuple[str, Callable[[Request], Awaitable[Response]], list[str]]] = [
    ("/api/info", info, ["GET"]),
    ("/api/experiments", experiments, ["GET"]),
    ("/api/experiments/{experiment:path}/runs", runs, ["GET"]),
    ("/api/runs/{run}", run, ["GET"]),
    ("/api/runs/{run}/metrics", run_metrics, ["GET"]),
    ("/api/runs/{run}/code", run_code, ["GET"]),
    ("/api/runs/{run}/artifacts", run_artifacts, ["GET"]),
    ("/api/runs/{run}/preview", run_preview, ["GET"]),
    ("/api/runs/{run}/raw", run_raw, ["GET"]),
    ("/api/runs/{run}/drift", run_drift, ["GET"]),
    ("/api/metrics", metrics, ["GET"]),
    ("/api/compare", compare, ["GET"]),
    ("/api/models", model_list, ["GET"]),
    ("/api/models/{model}/monitoring", model_monitoring, ["GET"]),
    ("/api/models/{model}/promote", promote, ["POST"]),
    ("/api/models/{model}/rollback", rollback, ["POST"]),
    ("/api/openapi.json", openapi, ["GET"]),
]


def openapi_document(routes: list[BaseRoute]) -> dict[str, Any]:
    """An OpenAPI 3 document of the API routes, summaries from their docstrings."""
    paths: dict[str, Any] = {}
    for route in routes:
        if not isinstance(route, Route) or not route.path.startswith("/api/"):
            continue
        doc = " ".join((route.endpoint.__doc__ or "").split())
        path = route.path.replace(":path}", "}")
        params = [{"name": p.strip("{}").split(":")[0], "in": "path", "required": True,
                   "schema": {"type": "string"}} for p in route.path.split("/") if "{" in p]
        for method in sorted((route.methods or set()) - {"HEAD"}):
            paths.setdefault(path, {})[method.lower()] = {
                "summary": doc.split(". ")[0].rstrip("."), "description": doc,
                "parameters": params,
                "responses": {"200": {"description": "JSON"},
                              "400": {"description": "{error, kind}"}},
            }
    return {"openapi": "3.0.3",
            "info": {"title": "gittrack UI API", "version": __version__}, "paths": paths}


# -- the application ----------------------------------------------------------------------
def create_app(repo: str | os.PathLike[str] | None = None, read_only: bool = False,
               allowed_hosts: list[str] | None = None, token: str | None = None) -> Starlette:
    """The web app over the repository at ``repo`` (default: $GITTRACK_REPO or the current one).

    ``allowed_hosts`` limits the Host header (``gittrack ui`` passes the names it is bound to);
    None accepts any. With ``token``, every request must carry it (gittrack.ui.security).

    >>> uvicorn.run(create_app("/path/to/repo", read_only=True), host="127.0.0.1", port=5000)
    """
    path = str(repo_from_env(repo).git_dir)  # fails early when there is no repository
    routes: list[BaseRoute] = [Route(p, f, methods=m) for p, f, m in API]
    routes += [Route("/", index), Mount("/static", StaticFiles(directory=STATIC), name="static")]
    app = Starlette(routes=routes)
    app.state.repo = path
    app.state.read_only = read_only
    app.add_middleware(Guard, allowed_hosts=allowed_hosts, token=token)
    return app
