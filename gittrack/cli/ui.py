"""``gittrack ui``: the local web UI (needs the ``ui`` extra: starlette and uvicorn)."""

from __future__ import annotations

import click

from gittrack.core.errors import GittrackError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@click.command("ui")
@click.argument("repo", required=False, type=click.Path(file_okay=False))
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback exposes your runs to the network.")
@click.option("--read-only", "read_only", is_flag=True,
              help="Refuse every write (promote, roll back) with HTTP 403.")
def command(repo: str | None, port: int, host: str, read_only: bool) -> None:
    """Browse, compare and promote runs in a local web app (works offline).

    Serves the runs of REPO (default: the repository around the current directory) at
    http://HOST:PORT/, with its JSON API described at /api/openapi.json.

    \b
    Example:
      gittrack ui --read-only
      gittrack ui --port 8080 ~/projects/forecasting
    """
    try:
        import uvicorn

        from gittrack.ui.app import create_app  # lazy: the web stack loads only for `gittrack ui`
    except ImportError as exc:
        raise GittrackError(f"The web UI needs the 'ui' extra ({exc.name} is missing); "
                            "install it with `pip install 'gittrack[ui]'`.") from exc
    from gittrack import api  # lazy: the web stack loads only for `gittrack ui`
    path = repo or api.get_tracking_repo()
    allowed = ["127.0.0.1", "localhost", "::1"] if host in LOOPBACK else None
    app = create_app(path, read_only=read_only, allowed_hosts=allowed)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"gittrack ui: serving {path} at http://{shown}:{port}/"
               f"{' (read-only)' if read_only else ''}; Ctrl-C stops it.", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
