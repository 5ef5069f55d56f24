"""``gittrack serve``: a model server speaking MLflow's scoring protocol."""

from __future__ import annotations

import logging
import sys
import time

import click

from gittrack.core.errors import GittrackError, NotARepositoryError

NEEDS = ("starlette", "uvicorn", "prometheus_client", "orjson")


def require_serving_extra() -> None:
    """Fail with the install hint when the server's dependencies are missing."""
    import importlib.util

    missing = [name for name in NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        raise GittrackError(f"Serving needs the 'serve' extra ({', '.join(missing)} missing); "
                            "install it with `pip install 'gittrack[serve]'`.")


def tracking_repo() -> str | None:
    """The repository gittrack would use here, or None outside any (a model directory)."""
    from gittrack import api  # lazy: the API only when a server starts

    try:
        return api.get_tracking_repo()
    except NotARepositoryError:
        return None


@click.command("serve")
@click.argument("model_uri")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind (0.0.0.0 serves the network).")
@click.option("--port", default=5001, show_default=True, type=click.IntRange(1, 65535),
              help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Server processes on the port (SO_REUSEPORT); each loads the model and "
                   "follows the stage.")
@click.option("--poll-interval", default=0.5, show_default=True, type=click.FloatRange(0.05),
              help="Seconds between checks of the stage's tags.")
@click.option("--batching/--no-batching", default=True, show_default=True,
              help="Predict concurrent requests in one call (turn off for models that are not "
                   "row by row).")
@click.option("--max-batch-rows", default=4096, show_default=True, type=click.IntRange(1),
              help="Most rows merged into one predict call.")
@click.option("--predict-threads", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Predict calls that may run at once.")
@click.option("--log-requests", "log_requests", type=click.Path(file_okay=False), default=None,
              help="Append inputs and predictions to Parquet files in this directory.")
@click.option("--log-rotate-rows", default=50_000, show_default=True, type=click.IntRange(1),
              help="Start a new request log file after this many rows.")
@click.option("--log-rotate-seconds", default=60.0, show_default=True,
              type=click.FloatRange(0.05), help="... or when the oldest buffered row is this old.")
@click.option("--reuse-port", is_flag=True, hidden=True)  # a worker of --workers N
def command(model_uri: str, host: str, port: int, workers: int, poll_interval: float,
            batching: bool, max_batch_rows: int, predict_threads: int, log_requests: str | None,
            log_rotate_rows: int, log_rotate_seconds: float, reuse_port: bool) -> int:
    """Serve MODEL_URI over HTTP with MLflow's scoring protocol.

    MODEL_URI is anything load_model takes: models:/NAME/STAGE, models:/NAME@STAGE,
    models:/NAME/3, runs:/RUN/PATH or a model directory. A stage is followed: its tags are
    checked every POLL_INTERVAL seconds (and on SIGHUP); a new version is loaded beside the old
    one, checked with its input example and swapped in with no restart and no failed request.
    POST /invocations scores (JSON with dataframe_split, dataframe_records, instances or
    inputs, or CSV); /ping, /health, /version and /metrics describe the server. SIGTERM stops
    gracefully.

    \b
    Example:
      gittrack serve runs:/4b609412af556160/model --port 8080 --workers 2
      gittrack serve models:/forecaster/prod --log-requests logs/requests
    """
    require_serving_extra()
    from gittrack.serving import server  # lazy: the web stack for a server
    from gittrack.serving import workers as runner  # lazy: as above

    repo = tracking_repo()
    shown = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
    if workers > 1:
        click.echo(f"gittrack serve: {model_uri} with {workers} workers at {shown}", err=True)
        return runner.run_workers(_worker_argv(repo, model_uri, host, port, poll_interval,
                                               batching, max_batch_rows, predict_threads,
                                               log_requests, log_rotate_rows,
                                               log_rotate_seconds), workers)
    _log_to_stderr()
    options = server.Options(repo, poll_interval, batching, max_batch_rows, predict_threads,
                             log_requests, log_rotate_rows, log_rotate_seconds, handle_sighup=True)
    started = time.perf_counter()
    app = server.create_app(model_uri, options)
    served = app.state.service.load()
    sock = runner.listen(host, port, reuse_port)
    if not reuse_port:
        what = f"v{served.version}" if served.version is not None else served.uri
        click.echo(f"gittrack serve: {model_uri} ({what}) loaded in "
                   f"{time.perf_counter() - started:.2f} s; serving at {shown} (Ctrl-C stops)",
                   err=True)
    runner.serve(app, sock)
    return 0


def _worker_argv(repo: str | None, uri: str, host: str, port: int, poll: float, batching: bool,
                 max_rows: int, threads: int, log_dir: str | None, rotate_rows: int,
                 rotate_seconds: float) -> list[str]:
    argv = [sys.executable, "-m", "gittrack", *(["--repo", repo] if repo else []), "serve", uri,
            "--host", host, "--port", str(port), "--poll-interval", str(poll),
            "--batching" if batching else "--no-batching", "--max-batch-rows", str(max_rows),
            "--predict-threads", str(threads), "--log-rotate-rows", str(rotate_rows),
            "--log-rotate-seconds", str(rotate_seconds), "--reuse-port"]
    return argv + (["--log-requests", log_dir] if log_dir else [])


def _log_to_stderr() -> None:
    logger = logging.getLogger("gittrack.serving")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
