"""The runs open in this process, innermost last, and the process hooks that end them.

An exception that escapes ends the open runs ``failed``, Ctrl-C or SIGTERM ``killed``, a clean
exit ``finished``. The stack lives in the tracking layer so that a run leaving its ``with``
block can end itself and the nested runs above it without reaching up into gittrack.api.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from types import FrameType, TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gittrack.tracking.active import ActiveRun

lock = threading.RLock()
runs: list[ActiveRun] = []
last: ActiveRun | None = None  # the run pushed last (MLflow's last_active_run)
_finishing: list[ActiveRun] = []  # ended runs whose thread may still be committing
_exit_status: str | None = None
_hooks_installed = False


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so an active run ends ``killed``."""


def status_for(exc: BaseException | None) -> str:
    """The status a run ends with when ``exc`` is what stopped it."""
    if exc is None or (isinstance(exc, SystemExit) and exc.code in (0, None)):
        return "finished"
    if isinstance(exc, KeyboardInterrupt):
        return "killed"
    return "failed"


def push(run: ActiveRun) -> None:
    """Make ``run`` the innermost open run, with the process hooks in place."""
    global last
    with lock:
        runs.append(run)
        last = run
    install_hooks()


def discard(run: ActiveRun) -> None:
    """Take ``run`` off the stack (it is ending); the runs above it stay open."""
    with lock:
        if run in runs:
            runs.remove(run)


def end_run_object(run: ActiveRun, status: str) -> None:
    """End ``run`` and the nested runs above it on the stack."""
    with lock:
        while run in runs:
            top = runs.pop()
            top.end(status)
        if not run.ended:
            run.end(status)


def finishing(run: ActiveRun) -> None:
    """Note a run whose final commit its thread is writing (see :func:`wait_all`)."""
    with lock:
        _finishing[:] = [r for r in _finishing if r.committing]
        _finishing.append(run)


def wait_all() -> None:
    """Wait for the final commits of the runs that ended in this process."""
    with lock:
        pending, _finishing[:] = list(_finishing), []
    for run in pending:
        run.wait()


def install_hooks() -> None:
    """End the open runs on exit, on an uncaught exception and on SIGTERM (once per process)."""
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_end_all_at_exit)
    previous = sys.excepthook

    def excepthook(kind: type[BaseException], exc: BaseException,
                   tb: TracebackType | None) -> None:
        global _exit_status
        _exit_status = status_for(exc)
        if isinstance(exc, Terminated):
            # Die of SIGTERM as the process would have without gittrack (exit 143, no
            # traceback), after the runs are committed as killed.
            _end_all_at_exit()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
        previous(kind, exc, tb)

    sys.excepthook = excepthook
    if threading.current_thread() is threading.main_thread() \
            and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)
    os.register_at_fork(after_in_child=_forget_in_child)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated(f"signal {signum}")


def end_all(status: str) -> None:
    """End every open run, innermost first, with ``status``."""
    with lock:
        while runs:
            runs.pop().end(status)


def _end_all_at_exit() -> None:
    end_all(_exit_status or "finished")
    wait_all()


def _forget_in_child() -> None:
    # A forked child must not commit its parent's runs; it may start its own.
    global lock
    lock = threading.RLock()
    runs.clear()
    _finishing.clear()
