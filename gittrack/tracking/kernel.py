"""End the open runs when the IPython kernel they live in shuts down or restarts.

A kernel manager (Jupyter Server, nbclient, VS Code, all through jupyter_client) stops a
kernel by interrupting it (SIGINT), sending ``shutdown_request`` on the control channel,
waiting ``shutdown_wait_time / 2`` (2.5 s by default) for the process to exit, then sending
SIGTERM, then SIGKILL; a restart is the same shutdown followed by a new process. A run left
open is ended when the request arrives (ipykernel calls ``do_shutdown`` first), so its last
commit is written before any signal can cut it short, rather than at interpreter exit.

The status (docs/notebooks.md): ``killed`` when a cell was still executing or the last cell
that ran was interrupted, because the run's work was cut off; ``finished`` when the kernel was
idle after its cells completed, because in a notebook an open run between cells is the normal
state and shutting the kernel down is how a user says they are done with it. Either way
``notebook.ended_by`` in run.yaml says ``kernel shutdown`` or ``kernel restart``.
"""

from __future__ import annotations

from typing import Any

from gittrack.tracking import stack

_HOOKED = "_gittrack_shutdown_hook"


class CellWatch:
    """Whether a cell is executing, and whether the last one was interrupted."""

    def __init__(self) -> None:
        self.busy = True  # a run starts from inside a cell
        self.interrupted = False

    def pre_run_cell(self, info: Any) -> None:
        self.busy, self.interrupted = True, False

    def post_run_cell(self, result: Any) -> None:
        self.busy = False
        self.interrupted = isinstance(getattr(result, "error_in_exec", None), KeyboardInterrupt)

    def status(self) -> str:
        return "killed" if self.busy or self.interrupted else "finished"


def watch(shell: Any) -> None:
    """End this process's open runs when ``shell``'s kernel shuts down (once per kernel)."""
    kernel = getattr(shell, "kernel", None)
    if kernel is None or getattr(kernel, _HOOKED, False):
        return
    cells = CellWatch()
    shell.events.register("pre_run_cell", cells.pre_run_cell)
    shell.events.register("post_run_cell", cells.post_run_cell)
    original = kernel.do_shutdown

    def do_shutdown(restart: bool) -> Any:
        end_open_runs("kernel restart" if restart else "kernel shutdown", cells.status())
        return original(restart)

    kernel.do_shutdown = do_shutdown
    setattr(kernel, _HOOKED, True)


def end_open_runs(reason: str, status: str) -> None:
    """End every open run with ``status``, noting ``reason`` in its ``notebook`` record."""
    with stack.lock:
        for run in list(stack.runs):
            state = getattr(run, "state", None)
            notebook = state.info.get("notebook") if state is not None else None
            if isinstance(notebook, dict) and not run.ended:
                run.record(["x", {"notebook": {**notebook, "ended_by": reason}}])
        stack.end_all(status)
