"""Runs started in real Jupyter kernels record their notebook and show themselves as cards.

Kernels are started by nbclient, by jupyter_client and by a real Jupyter Server on 127.0.0.1
(driven through its REST API and kernel websocket), as a user's notebook would be.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

import gittrack
from tests.conftest import git, make_repo
from tests.servers import JupyterServer, start_jupyter_server, stop

nbformat = pytest.importorskip("nbformat", reason="nbformat is in the test extra")
nbclient = pytest.importorskip("nbclient", reason="nbclient is in the test extra")

EVIL = "<script>alert('run')</script>"


def notebook(*sources: str) -> Any:
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])


def html_of(cell: Any) -> str:
    return "".join(o.get("data", {}).get("text/html", "") for o in cell.outputs)


def run_id_of(cell: Any) -> str:
    """The run id in a cell's text card (``... id <run id>`` on its first line)."""
    first_line = cell.outputs[0]["data"]["text/plain"].splitlines()[0]
    return str(first_line.rsplit(" id ", 1)[1])


def run_ref(repo: Path, run_id: str) -> str:
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack/runs/").split()
    return next(r for r in refs if r.endswith("/" + run_id))


CELLS = (
    "import gittrack\ngittrack.set_experiment('nb')",
    "alpha = 0.1",
    f"run = gittrack.start_run(run_name={EVIL!r})\nrun.log_param('alpha', alpha)\n"
    "for step in range(5):\n    run.log_metric('loss', 1 / (step + 1) + alpha, step=step)\nrun",
    "gittrack.end_run()\ngittrack.get_run(run.id)",
)


def test_cells_rerun_after_an_edit_are_recorded_in_order_and_diff_shows_the_change(
        tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "nb")
    nb = notebook(*CELLS)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(repo)}})
    with client.setup_kernel():
        for index in (0, 1):
            client.execute_cell(nb.cells[index], index)
        nb.cells[1].source = "alpha = 0.5"  # the user edits the cell and runs it again
        for index in (1, 2, 3):
            client.execute_cell(nb.cells[index], index)
    # the cards: the live run, then the run read back; the name is shown, escaped
    live, ended = html_of(nb.cells[2]), html_of(nb.cells[3])
    for card in (live, ended):
        assert "&lt;script&gt;alert(&#x27;run&#x27;)&lt;/script&gt;" in card
        assert "<script" not in card.lower() and "loss" in card and "0.7" in card
        assert "<svg" in card and "<polyline" in card  # the loss curve
    assert "finished" in ended and "running" in live
    text = nb.cells[3].outputs[0]["data"]["text/plain"]
    assert text.startswith(f"Run {EVIL} (finished)") and "loss=0.7" in text

    first = run_id_of(nb.cells[3])
    ref = run_ref(repo, first)
    executed = git(repo, "show", f"{ref}:.gittrack/notebook/executed.py")
    order = [executed.index(f"# %% execution_count={n}\n{src}")
             for n, src in enumerate(["import gittrack", "alpha = 0.1", "alpha = 0.5",
                                      "run = gittrack.start_run", "gittrack.end_run()"], 1)]
    assert order == sorted(order)
    info = gittrack_yaml(repo, ref)
    assert info["notebook"]["path"] is None and info["notebook"]["kernel_session"]
    assert info["command"][1:] == ["-m", "ipykernel_launcher"]

    # a second run of the notebook, edited again, in a fresh kernel
    nb2 = notebook(*CELLS)
    nb2.cells[1].source = "alpha = 0.9"
    nbclient.NotebookClient(nb2, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(repo)}}).execute()
    second = run_id_of(nb2.cells[3])
    proc = subprocess.run([sys.executable, "-m", "gittrack", "diff", first, second, "--code"],
                          cwd=repo, capture_output=True, text=True, check=True)
    assert ".gittrack/notebook/executed.py" in proc.stdout
    assert "\n-alpha = 0.5\n" in proc.stdout and "\n+alpha = 0.9\n" in proc.stdout


def gittrack_yaml(repo: Path, ref: str) -> dict[str, Any]:
    import yaml

    doc = yaml.safe_load(git(repo, "show", f"{ref}:.gittrack/run/run.yaml"))
    assert isinstance(doc, dict)
    return doc


# -- a real Jupyter Server ------------------------------------------------------------------
@pytest.fixture
def jupyter(tmp_path: Path) -> Any:
    repo = make_repo(tmp_path / "project")
    server = start_jupyter_server(repo)
    try:
        yield repo, server
    finally:
        stop(server.proc)


def kernel_socket(server: JupyterServer, kernel_id: str) -> Any:
    """The kernel's websocket channel of the server (what JupyterLab talks to)."""
    import websocket

    return websocket.create_connection(
        f"{server.url.replace('http', 'ws')}/api/kernels/{kernel_id}/channels",
        header=[f"Authorization: token {server.token}"], timeout=60)


def execute(ws: Any, code: str) -> list[dict[str, Any]]:
    """Run ``code`` through the websocket; the iopub messages it caused.

    Done when both the shell reply and iopub's ``idle`` for the request arrived: the two
    channels are not ordered with respect to each other.
    """
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": True,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
    seen: list[dict[str, Any]] = []
    replied = idle = False
    while not (replied and idle):
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "execute_reply":
            assert msg["content"]["status"] == "ok", msg["content"]
            replied = True
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            idle = True
        else:
            seen.append(msg)
    return seen


def test_jupyter_server_session_records_the_notebook_path_and_shutdown_ends_the_run(
        jupyter: tuple[Path, JupyterServer]) -> None:
    repo, server = jupyter
    sources = ["import gittrack", "run = gittrack.start_run(run_name='served')",
               "run.log_metric('acc', 0.91)\nrun"]
    (repo / "sub").mkdir()
    nbformat.write(notebook(*sources), repo / "sub" / "train.ipynb")
    # as JupyterLab opens a notebook: a session for its path (the kernel starts in sub/)
    session: Any = server.request("POST", "/api/sessions", {
        "path": "sub/train.ipynb", "name": "train.ipynb", "type": "notebook",
        "kernel": {"name": "python3"}})
    ws = kernel_socket(server, session["kernel"]["id"])
    try:
        outputs = [execute(ws, source) for source in sources]
    finally:
        ws.close()
    card = "".join(m["content"].get("data", {}).get("text/html", "") for m in outputs[-1])
    # the untracked notebook is captured (saved.py): no warning that it is not
    assert "not captured" not in json.dumps(outputs[1])
    assert "served" in card and "acc" in card and "0.91" in card
    server.request("DELETE", f"/api/sessions/{session['id']}")  # shuts the kernel down

    gittrack.set_tracking_repo(repo)
    [run] = gittrack.query_runs(output_format="list")
    assert run.status == "finished" and run.metrics["acc"].value == 0.91
    assert run.info["notebook"]["path"] == "sub/train.ipynb"
    assert run.info["notebook"]["found_by"] == "JPY_SESSION_NAME"
    assert run.info["notebook"]["ended_by"] == "kernel shutdown"
    assert run.info["command"] == ["sub/train.ipynb"]
    saved = git(repo, "show", f"{run.commit}:.gittrack/notebook/saved.py")
    assert saved == ("# Code cells of sub/train.ipynb as saved (outputs stripped).\n"
                     "\n# %%\nimport gittrack\n"
                     "\n# %%\nrun = gittrack.start_run(run_name='served')\n"
                     "\n# %%\nrun.log_metric('acc', 0.91)\nrun\n")


# -- a kernel shut down while a cell still runs --------------------------------------------
def test_kernel_shut_down_while_busy_ends_the_run_killed_with_its_metrics(tmp_path: Path
                                                                           ) -> None:
    from jupyter_client.manager import KernelManager

    repo = make_repo(tmp_path / "busy")
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(repo))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        kc.execute("import threading, gittrack\nrun = gittrack.start_run(run_name='busy')\n"
                   "run.log_metric('seen', 3.0)\nprint('training', flush=True)\n"
                   "threading.Event().wait()  # a long training loop")
        while True:  # the cell is running once it printed
            msg = kc.get_iopub_msg(timeout=60)
            if msg["msg_type"] == "stream" and "training" in msg["content"]["text"]:
                break
        km.shutdown_kernel()  # as the server does: interrupt, shutdown_request, wait
    finally:
        kc.stop_channels()
    gittrack.set_tracking_repo(repo)
    [run] = gittrack.query_runs(output_format="list")
    assert run.status == "killed" and run.metrics["seen"].value == 3.0
    assert run.info["notebook"]["ended_by"] == "kernel shutdown"


def test_vscode_notebook_path_and_kernel_restart_ending_an_idle_run_finished(tmp_path: Path
                                                                              ) -> None:
    from jupyter_client.manager import KernelManager

    repo = make_repo(tmp_path / "restart")
    (repo / "nb").mkdir()
    nbformat.write(notebook("x = 1", "y = 2"), repo / "nb" / "vs.ipynb")
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(repo))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        # VS Code's Jupyter extension puts the notebook's path in the user namespace
        kc.execute_interactive(f"__vsc_ipynb_file__ = {str(repo / 'nb' / 'vs.ipynb')!r}",
                               timeout=60)
        kc.execute_interactive("import gittrack\nrun = gittrack.start_run(run_name='idle')\n"
                               "run.log_metric('acc', 0.5)", timeout=60)
        km.restart_kernel()  # Kernel > Restart: a shutdown_request(restart=True), a new process
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    gittrack.set_tracking_repo(repo)
    [run] = gittrack.query_runs(output_format="list")
    assert run.status == "finished" and run.metrics["acc"].value == 0.5
    assert run.info["notebook"]["ended_by"] == "kernel restart"
    assert run.info["notebook"]["path"] == "nb/vs.ipynb"
    assert run.info["notebook"]["found_by"] == "__vsc_ipynb_file__"
    saved = git(repo, "show", f"{run.commit}:.gittrack/notebook/saved.py")
    assert "\n# %%\nx = 1\n\n# %%\ny = 2\n" in saved
