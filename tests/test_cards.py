"""Runs and registered models as notebook cards (HTML) and console text, in-process; the
notebook capture's pure parts; the link into a running `gittrack ui`."""

from __future__ import annotations

import hashlib
import html.parser
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

import gittrack
from gittrack.core import display
from gittrack.core.records import Run
from gittrack.tracking import notebook
from gittrack.tracking.active import ActiveRun
from tests.conftest import git
from tests.servers import stop

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


class Elements(html.parser.HTMLParser):
    """Every start tag and attribute name of an HTML fragment, as a browser would parse it."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(name for name, _value in attrs)


def assert_inert(card: str) -> None:
    """No element or attribute that could run code: no script, no handler, no iframe."""
    parsed = Elements(card)
    assert not {"script", "iframe", "object", "embed", "img"} & set(parsed.tags)
    assert not [a for a in parsed.attrs if a.startswith("on")]
    assert "javascript:" not in card.lower()


def logged_run(name: str = EVIL) -> ActiveRun:
    run = gittrack.start_run(run_name=name, experiment="cards", tags={"note": EVIL})
    run.log_params({"model": EVIL, "depth": 4, **{f"p{i}": i for i in range(12)}})
    for step in range(20):
        run.log_metric("loss", 1 / (step + 1), step=step)
    run.log_metric("acc", 0.93)
    return run


def test_active_and_read_back_runs_render_escaped_cards_with_a_chart(repo: Path) -> None:
    run = logged_run()
    live = run._repr_html_()
    assert live is not None
    gittrack.end_run()
    back = gittrack.get_run(run.id)._repr_html_()
    assert back is not None
    for card in (live, back):
        assert_inert(card)
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in card
        assert run.id in card and "acc" in card and "0.93" in card and "loss" in card
        assert card.count("<polyline") == 1  # loss has a history; acc is one point
        assert "+4 more" in card  # 14 params, 10 shown
        assert "open in gittrack ui" not in card  # no UI runs
    assert ">running<" in live and ">finished<" in back


def test_text_cards_for_consoles(repo: Path) -> None:
    run = logged_run("plain")
    text = display.text_card(run.card_data())
    assert text.splitlines()[0] == f"ActiveRun plain (running)  experiment cards  id {run.id}"
    gittrack.end_run()
    back = gittrack.get_run(run.id)
    assert repr(back) == f"<Run {run.id} cards/plain finished>"
    lines = display.text_card(back.card_data()).splitlines()
    assert lines[0] == f"Run plain (finished)  experiment cards  id {run.id}"
    assert "loss=0.05 (step 19)" in lines[2] and "(+6 more)" in lines[1]


def test_a_run_from_another_repository_shows_without_a_chart(repo: Path) -> None:
    run = logged_run("elsewhere")
    gittrack.end_run()
    moved = Run(**{**gittrack.get_run(run.id).__dict__, "commit": "0" * 40})
    card = moved._repr_html_()
    assert card is not None and "elsewhere" in card and "<svg" not in card


def test_registered_models_render_as_cards(repo: Path) -> None:
    ids = []
    for i, name in enumerate(["first", EVIL]):
        with gittrack.start_run(run_name=name, experiment="cards") as run:
            run.log_metric("rmse", 10.0 - i)
            run.log_metric("loss", 2.0, step=0)
            run.log_metric("loss", 1.0, step=1)
            md5 = hashlib.md5(name.encode()).hexdigest() + ".dir"
            run.record(["a", "model", {"md5": md5, "size": 1, "nfiles": 1, "kind": "model"}])
        ids.append(run.id)
    gittrack.register_model(ids[0], "forecaster")
    gittrack.register_model(ids[1], "forecaster")
    gittrack.promote("forecaster", 2, "prod")
    version = gittrack.get_model_version("forecaster", 2)
    card = version._repr_html_()
    assert_inert(card)
    assert "forecaster v2" in card and "prod" in card and "rmse" in card and "<polyline" in card
    assert "&lt;script&gt;" in card
    [model] = gittrack.list_models()
    card = model._repr_html_()
    assert_inert(card)
    assert "prod: v2" in card and "v1" in card and "rmse=9" in card and "&lt;script&gt;" in card
    from gittrack.registry import cards
    assert cards.model_text(model) == "Model forecaster  latest v2  (prod: v2)"
    assert cards.version_text(version).startswith("ModelVersion forecaster v2 [prod]")


def test_cards_link_to_a_running_gittrack_ui(repo: Path) -> None:
    run = logged_run("linked")
    gittrack.end_run()
    proc = subprocess.Popen([sys.executable, "-m", "gittrack", "ui", "--port", "0"], cwd=repo,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # printed once the port is bound and announced
        url = line.split(" at ")[1].split(";")[0]
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0/")
        card = gittrack.get_run(run.id)._repr_html_()
        assert card is not None and f'href="{url}#/r/{run.id}"' in card
        with urllib.request.urlopen(url, timeout=30) as answer:  # the link's page is served
            assert answer.status == 200
        beacon = json.loads((repo / ".git" / "gittrack" / "ui.json").read_text())
        assert beacon["url"] == url and beacon["pid"] == proc.pid
    finally:
        stop(proc)
    assert not (repo / ".git" / "gittrack" / "ui.json").exists()
    assert "open in gittrack ui" not in (gittrack.get_run(run.id)._repr_html_() or "")


# -- the notebook capture's pure parts ---------------------------------------------------
def test_percent_file_and_saved_code_cells(tmp_path: Path) -> None:
    text = notebook.percent_file("Cells.", [(1, "import x\n\n"), (2, ""), (3, "y = 1")])
    assert text == ("# Cells.\n\n# %% execution_count=1\nimport x\n"
                    "\n# %% execution_count=2\n\n# %% execution_count=3\ny = 1\n")
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps({"nbformat": 4, "cells": [
        {"cell_type": "markdown", "source": ["# title"]},
        {"cell_type": "code", "source": ["a = 1\n", "b = 2"], "outputs": [{"text": "secret"}]},
        {"cell_type": "code", "source": "c = 3"}]}))
    assert notebook.saved_code_cells(path) == ["a = 1\nb = 2", "c = 3"]
    (tmp_path / "bad.ipynb").write_text("{not json")
    assert notebook.saved_code_cells(tmp_path / "bad.ipynb") == []


def test_a_relative_session_path_is_found_above_the_kernel_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Jupyter Server gives the path relative to its root; the kernel starts in the
    # notebook's directory.
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "n.ipynb").write_text("{}")
    monkeypatch.chdir(tmp_path / "a" / "b")
    assert notebook._locate("a/b/n.ipynb") == tmp_path / "a" / "b" / "n.ipynb"
    assert notebook._locate(str(tmp_path / "a" / "b" / "n.ipynb")) == \
        tmp_path / "a" / "b" / "n.ipynb"
    assert notebook._locate("a/b/missing.ipynb") is None
    assert notebook._relative(tmp_path / "a" / "b" / "n.ipynb", tmp_path) == "a/b/n.ipynb"
    assert notebook._relative(tmp_path / "a" / "b" / "n.ipynb", tmp_path / "zz") == \
        str((tmp_path / "a" / "b" / "n.ipynb").resolve())


def test_outside_ipython_nothing_is_captured(repo: Path) -> None:
    assert notebook.detect(repo) is None
    with gittrack.start_run() as run:
        pass
    info = gittrack.get_run(run.id).info
    assert "notebook" not in info and info["command"][0] == sys.executable
    files = git(repo, "ls-tree", "-r", "--name-only", gittrack.get_run(run.id).commit)
    assert ".gittrack/notebook/" not in files and "train.py" in files
