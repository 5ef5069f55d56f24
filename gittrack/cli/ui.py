"""``gittrack ui``: the local web UI (starlette on uvicorn, both in the default install)."""

from __future__ import annotations

import errno
import os
import socket

import click

from gittrack.core.errors import GittrackError

TOKEN_ENV = "GITTRACK_UI_TOKEN"


@click.command("ui")
@click.argument("repo", required=False, type=click.Path(file_okay=False))
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but 127.0.0.1, localhost or ::1 exposes your "
                   "runs to the network, so it requires a token.")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Another Host name to answer to (a DNS name or proxy in front); repeatable.")
@click.option("--read-only", "read_only", is_flag=True,
              help="Refuse every write (promote, roll back) with HTTP 403.")
def command(repo: str | None, port: int, host: str, allow_hosts: tuple[str, ...],
            read_only: bool) -> None:
    """Browse, compare and promote runs in a local web app (works offline).

    Serves the runs of REPO (default: the repository around the current directory) at
    http://HOST:PORT/, with its JSON API described at /api/openapi.json. Off loopback every
    request needs the token printed with the URL (or $GITTRACK_UI_TOKEN), and only the
    machine's own names (and --allow-host) are answered.

    \b
    Example:
      gittrack ui --read-only
      gittrack ui --host 0.0.0.0 --read-only --allow-host ml-box.internal
    """
    try:
        import uvicorn

        from gittrack.ui.app import create_app  # lazy: the web stack loads only for `gittrack ui`
        from gittrack.ui.security import (  # lazy: as above
            bound_names,
            is_loopback,
            new_token,
        )
    except ImportError as exc:
        raise GittrackError(f"The web UI needs starlette and uvicorn ({exc.name} is missing); "
                            "reinstall gittrack with `pip install gittrack`.") from exc
    from gittrack import api  # lazy: the web stack loads only for `gittrack ui`
    from gittrack.core.store import repo_from_env  # lazy: as above
    from gittrack.query import uilink  # lazy: as above
    path = repo or api.get_tracking_repo()
    exposed = not is_loopback(host)
    token = (os.environ.get(TOKEN_ENV) or new_token()) if exposed else None
    app = create_app(path, read_only=read_only, allowed_hosts=bound_names(host, allow_hosts),
                     token=token)
    sock = _listen(host, port)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}/"
    # Notebook cards link to the runs while this server lives (gittrack.query.uilink); the
    # token never goes into that note, so an exposed server's cards ask for it.
    beacon = uilink.announce(repo_from_env(path), url.replace("0.0.0.0", "127.0.0.1")
                             .replace("[::]", "[::1]"))
    if exposed:
        click.echo(f"gittrack ui: warning: listening on {host} exposes these runs"
                   f"{'' if read_only else ' and promote/roll back'} to the network; only "
                   "requests that carry the token are answered (add --read-only to refuse writes).",
                   err=True)
    click.echo(f"gittrack ui: serving {path} at {url}{f'?token={token}' if token else ''}"
               f"{' (read-only)' if read_only else ''}; Ctrl-C stops it.", err=True)

    class Server(uvicorn.Server):
        # uvicorn re-raises SIGTERM/SIGINT once it has shut down, so code after run() may
        # never run: the note is withdrawn as part of the shutdown.
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            uilink.withdraw(beacon)
            await super().shutdown(sockets)

    try:
        Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
    finally:
        uilink.withdraw(beacon)


def _listen(host: str, port: int) -> socket.socket:
    # Bound and listening here rather than in uvicorn, so the URL printed names the real port
    # when --port is 0 and a client can connect as soon as it is printed (the kernel queues
    # connections until the server accepts them).
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        taken = "is already in use" if exc.errno == errno.EADDRINUSE else f"fails ({exc.strerror})"
        raise GittrackError(f"Port {port} on {host} {taken}; stop what uses it or pick another "
                            f"with `gittrack ui --port {port + 1 if port else 0}`.") from exc
    sock.set_inheritable(True)
    return sock
