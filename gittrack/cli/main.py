"""The ``gittrack`` command group and its one error handler (exit codes as in STYLE.md)."""

from __future__ import annotations

import errno
import importlib
import logging
import os
import sys
import traceback
from typing import Any

import click

from gittrack.core.errors import GittrackError

# command name -> module in gittrack.cli (":attribute" when not `command`), imported only
# when that command runs
COMMANDS = {
    "init": "init", "log": "log", "show": "show", "experiments": "experiments",
    "diff": "diff", "baseline": "baseline", "index": "index",
    "register": "register", "promote": "promote", "rollback": "rollback", "models": "models",
    "checkout": "checkout", "artifacts": "artifacts", "get": "get", "rm": "rm",
    "restore": "restore", "gc": "gc", "archive": "archive",
    "run": "run", "log-metric": "log_value:log_metric", "log-param": "log_value:log_param",
    "set-tag": "log_value:set_tag",
    "push": "push", "pull": "pull", "fetch": "pull:fetch_command", "remote": "remote",
    "bundle": "bundle", "install-hooks": "install_hooks", "hook": "install_hooks:hook_command",
    "ui": "ui", "plot": "plot", "gate": "gate", "doctor": "doctor", "verify": "verify",
    "profile": "profile", "drift": "drift", "monitor": "monitor",
    "import": "import_store",
    "serve": "serve", "predict": "predict",
}

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_BUG, EXIT_INTERRUPT = 0, 1, 2, 3, 130


class LazyGroup(click.Group):
    """A group that imports a command's module only when the command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        module, _, attribute = module.partition(":")
        mod = importlib.import_module(f"gittrack.cli.{module}")
        command: click.Command = getattr(mod, attribute or "command")
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--repo", "repo", metavar="PATH", envvar="GITTRACK_REPO",
              help="The git repository to use (default: the one around the current directory).")
@click.option("--traceback", "show_traceback", is_flag=True,
              help="Show the full traceback of an unexpected error.")
@click.version_option(package_name="gittrack")
def cli(repo: str | None, show_traceback: bool) -> None:
    """Experiment tracking in your git repository: runs are commits, models are tags.

    \b
    Example:
      gittrack init && python train.py && gittrack log
    """
    _setup_output()
    if repo:
        from gittrack.core.store import set_tracking_path  # lazy: `gittrack --help` stays instant

        set_tracking_path(repo)


class _Warnings(logging.Handler):
    """The library's warnings (logger ``gittrack``) as ``gittrack: warning: ...`` on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"gittrack: warning: {record.getMessage()}", err=True)


def _setup_output() -> None:
    # A run's values may hold any text; a terminal or pipe that cannot show a character gets
    # an escape instead of a UnicodeEncodeError.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if callable(reconfigure):
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # pragma: no cover - a stream that cannot change
                pass
    logger = logging.getLogger("gittrack")
    if not any(isinstance(h, _Warnings) for h in logger.handlers):
        logger.addHandler(_Warnings(logging.WARNING))


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script; exits with the documented codes."""
    args = sys.argv[1:] if argv is None else argv
    try:
        code = cli.main(args=args, prog_name="gittrack", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else EXIT_OK)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE if isinstance(exc, click.UsageError) else EXIT_ERROR)
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo("gittrack: interrupted", err=True)
        sys.exit(EXIT_INTERRUPT)
    except GittrackError as exc:
        _report(f"gittrack: error: {exc}", "--traceback" in args)
        sys.exit(EXIT_ERROR)
    except BrokenPipeError:
        _quiet_broken_pipe()
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            _quiet_broken_pipe()
        _report(f"gittrack: error: {exc}", "--traceback" in args)
        sys.exit(EXIT_ERROR)
    except Exception as exc:  # noqa: BLE001 - the one place unexpected errors are mapped
        _report(f"gittrack: unexpected error: {type(exc).__name__}: {exc}. "
                "Rerun with --traceback and report it.", "--traceback" in args)
        sys.exit(EXIT_BUG)


def _report(message: str, with_traceback: bool) -> None:
    if with_traceback:
        traceback.print_exc()
    click.echo(message, err=True)


def _quiet_broken_pipe() -> Any:
    # `gittrack log | head`: the reader left; point stdout at /dev/null so the interpreter's
    # final flush does not complain, and exit quietly.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(EXIT_OK)
