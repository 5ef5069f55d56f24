"""The web UI in real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright.

The server runs in a thread on 127.0.0.1 with a free port. These tests also write the
screenshots shown in the README (docs/screenshots/), so they are of the real UI.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import make_repo
from test_ui_api import XSS_NAME, make_demo_repo

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
# The suite writes the README's screenshots into docs/screenshots/ when asked
# (GITTRACK_SCREENSHOTS=docs), else into a scratch folder, so a test run leaves the tree clean.
SCREENSHOTS = (Path(__file__).resolve().parent.parent / "docs" / "screenshots"
               if os.environ.get("GITTRACK_SCREENSHOTS") == "docs"
               else Path(tempfile.mkdtemp(prefix="gittrack-screens-")))

from playwright import sync_api  # noqa: E402 - after the constants above

# pip cannot install a browser: without Debian's chromium these tests skip with the reason,
# as the README's test command says, except in CI (.ci/run installs it), where a browser
# test that skipped would hide a broken UI.
if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
    pytest.skip(f"{CHROMIUM} is missing; install Debian's chromium (apt-get install chromium) "
                "to run the browser tests", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """uvicorn serving the app in a thread; ``url`` once it listens."""

    def __init__(self, repo: Path, read_only: bool = False) -> None:
        import uvicorn

        from gittrack.ui.app import create_app

        self.repo = repo
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        app = create_app(repo, read_only=read_only, allowed_hosts=["127.0.0.1", "localhost"])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="off", ws="none")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the UI server did not start")
            self.thread.join(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    path = tmp_path_factory.mktemp("browser") / "repo"
    ids = make_demo_repo(path)
    with Server(path) as server:
        yield server, ids


def watch(page: Any) -> Any:
    """Record the page's dialogs, script errors and Content-Security-Policy violations.

    The pages run under the UI's own CSP (no bypass), so a script the policy blocks shows up
    here as Chromium's "Refused to ..." console error and fails the test that opened it.
    """
    page.dialogs, page.errors, page.csp = [], [], []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("console", lambda m: page.csp.append(m.text)
            if m.type == "error" and "Content Security Policy" in m.text else None)
    return page


def assert_clean(page: Any) -> None:
    assert page.errors == [], page.errors
    assert page.csp == [], page.csp


def wait_until(page: Any, expression: str, timeout_s: float = 15.0) -> None:
    """Poll a JavaScript condition. ``page.wait_for_function`` evaluates its predicate with
    eval() inside the page, which the UI's CSP (no 'unsafe-eval') refuses; ``evaluate`` does not."""
    for _ in range(int(timeout_s / 0.05)):
        if page.evaluate(f"Boolean({expression})"):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"never true: {expression}")


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1600, "height": 760})
    page = watch(context.new_page())
    yield page
    context.close()
    assert_clean(page)


def rows(page: Any) -> list[str]:
    return page.locator("table.runs tbody td.name a").all_inner_texts()


def test_runs_table_sort_filter_and_screenshot(demo: tuple[Server, dict[str, str]],
                                               page: Any) -> None:
    server, _ids = demo
    page.goto(server.url + "/")
    sync_api.expect(page.locator("table.experiments tbody tr")).to_have_count(3)
    page.get_by_role("link", name="forecast", exact=True).click()
    sync_api.expect(page.locator("table.runs tbody tr")).to_have_count(5)
    page.locator("th[data-col='metrics.rmse']").click()
    sync_api.expect(page.locator("th.sorted")).to_have_attribute("data-col", "metrics.rmse")
    sync_api.expect(page.locator("table.runs td.name a").first).to_have_text("xgb-4-3")
    assert rows(page) == ["xgb-4-3", "rf-12-2", "xgb-8-4", "rf-6-1", "linear-0-0"]
    page.locator("th[data-col='metrics.rmse']").click()  # again: descending
    sync_api.expect(page.locator("table.runs td.name a").first).to_have_text("linear-0-0")
    assert page.locator("tr.baseline-row .tag").inner_text() == "baseline"
    assert page.locator("span.delta").count() > 0
    page.locator("input.filter").fill("params.model = 'rf' OR metrics.rmse < 85")
    page.locator("input.filter").press("Enter")
    sync_api.expect(page.locator("table.runs tbody tr")).to_have_count(3)
    assert sorted(rows(page)) == ["rf-12-2", "rf-6-1", "xgb-4-3"]
    sync_api.expect(page.locator("#count")).to_have_text("3 of 5 runs match")
    page.locator("input.filter").fill("metrics.rmse <")
    page.locator("input.filter").press("Enter")
    sync_api.expect(page.locator(".error")).to_contain_text("Filter error")
    sync_api.expect(page.locator(".error")).to_contain_text("position")
    page.locator("input.filter").fill("")
    page.locator("input.filter").press("Enter")
    sync_api.expect(page.locator("table.runs tbody tr")).to_have_count(5)
    # the column chooser: hide mae
    page.locator("details.chooser summary").click()
    page.locator("details.chooser input[value='metrics.mae']").uncheck()
    page.get_by_role("button", name="Apply").click()
    sync_api.expect(page.locator("th[data-col='metrics.mae']")).to_have_count(0)
    sync_api.expect(page.locator("th[data-col='metrics.rmse']")).to_have_count(1)
    page.locator("details.chooser summary").click()
    page.get_by_role("button", name="Reset").click()
    sync_api.expect(page.locator("th[data-col='metrics.mae']")).to_have_count(1)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("th[data-col='metrics.rmse']").click()
    sync_api.expect(page.locator("table.runs td.name a").first).to_have_text("xgb-4-3")
    page.screenshot(path=str(SCREENSHOTS / "runs-table.png"))


def test_compare_three_runs_charts(demo: tuple[Server, dict[str, str]], page: Any) -> None:
    server, ids = demo
    page.goto(server.url + "/#/e/forecast")
    sync_api.expect(page.locator("table.runs tbody tr")).to_have_count(5)
    for name in ("rf-6-1", "rf-12-2", "xgb-4-3"):
        page.locator(f"tr[data-id='{ids[name]}'] td.sel input").check()
    page.get_by_role("button", name="Compare 3").click()
    sync_api.expect(page.locator("h1")).to_have_text("Compare 3 runs")
    chart = page.locator("svg.chart-line[data-series='3']").first
    sync_api.expect(chart).to_be_visible()
    assert chart.locator("path.series").count() == 3
    par = page.locator("svg.parcoords")
    sync_api.expect(par).to_be_visible()
    assert par.locator("path.pc-line").count() == 3
    assert int(par.get_attribute("data-axes")) >= 4
    assert page.locator("svg.scatter circle.point").count() == 3
    # differences-only toggle: penalty-like constant params are hidden until unticked
    same = page.locator("table.compare tr.same")
    assert same.count() == 0
    page.locator("#diff-only").uncheck()
    assert same.count() > 0
    page.screenshot(path=str(SCREENSHOTS / "compare.png"), full_page=True)


def test_run_page_shows_curves_artifacts_and_code(demo: tuple[Server, dict[str, str]],
                                                  page: Any) -> None:
    server, ids = demo
    page.goto(server.url + f"/#/r/{ids['linear-0-0']}")
    sync_api.expect(page.locator("h1.run-name")).to_have_text("linear-0-0")
    sync_api.expect(page.locator(".curves svg.chart-line")).to_have_count(2)
    sync_api.expect(page.locator(".preview-title")).to_have_text("notes/fit.txt")
    page.get_by_role("button", name="tables/predictions.csv").click()
    sync_api.expect(page.locator(".preview table.csv tbody tr")).to_have_count(2)
    page.get_by_role("button", name="plots/loss.png").click()
    img = page.locator(".preview img")
    sync_api.expect(img).to_be_visible()
    wait_until(page, "document.querySelector('.preview img').naturalWidth > 0")
    page.goto(server.url + f"/#/r/{ids['rf-6-1']}")
    page.get_by_role("button", name="model.yaml").click()
    sync_api.expect(page.locator(".preview pre.model-yaml")).to_contain_text("flavor")


def test_payloads_render_as_text(demo: tuple[Server, dict[str, str]], page: Any) -> None:
    server, ids = demo
    page.goto(server.url + "/#/e/sandbox")
    sync_api.expect(page.locator("table.runs td.name a")).to_have_text(XSS_NAME)
    page.locator("table.runs td.name a").click()
    sync_api.expect(page.locator("h1.run-name")).to_have_text(XSS_NAME)
    sync_api.expect(page.locator("table.kv td", has_text="<script>")).to_have_count(1)
    page.goto(server.url + f"/#/compare?runs={ids['xss']},{ids['linear-0-0']}")
    sync_api.expect(page.locator("table.compare thead th", has_text=XSS_NAME)).to_have_count(2)
    page.wait_for_timeout(300)  # give an injected onerror handler its chance to fire
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("main script").count() == 0
    assert page.dialogs == []


def test_promote_in_models_page_agrees_with_cli(tmp_path: Path, browser: Any) -> None:
    path = tmp_path / "repo"
    make_demo_repo(path)
    context = browser.new_context(viewport={"width": 1360, "height": 800})
    page = watch(context.new_page())
    with Server(path) as server:
        page.goto(server.url + "/#/models")
        card = page.locator("section.model[data-model='forecaster']")
        sync_api.expect(card.locator(".stage")).to_have_count(2)
        page.screenshot(path=str(SCREENSHOTS / "models.png"), full_page=True)
        card.locator("tr[data-version='2'] button[data-action='promote']").click()
        dialog = page.locator("dialog.confirm")
        sync_api.expect(dialog).to_be_visible()
        dialog.locator("input[name='stage']").fill("prod")
        dialog.locator("input[name='note']").fill("better rmse")
        dialog.locator("button[data-confirm]").click()
        sync_api.expect(page.locator("#flash .ok")).to_contain_text("forecaster/prod/v2")
        resolved = _cli(path, "models", "resolve", "forecaster/prod", "--json")
        assert resolved["version"] == 2 and resolved["stage_tag"] == "forecaster/prod/v2"
        # roll back with its confirmation: prod returns to v1
        page.locator(".stage", has_text="prod").locator("button").click()
        page.locator("dialog.confirm button[data-confirm]").click()
        sync_api.expect(page.locator("#flash .ok")).to_contain_text("Rolled back")
        assert _cli(path, "models", "resolve", "forecaster/prod", "--json")["version"] == 1
    context.close()
    assert_clean(page)


def test_read_only_disables_promotion(demo: tuple[Server, dict[str, str]], browser: Any,
                                      tmp_path: Path) -> None:
    server, _ids = demo
    path = server.repo
    context = browser.new_context()
    page = watch(context.new_page())
    with Server(path, read_only=True) as ro:
        page.goto(ro.url + "/#/models")
        sync_api.expect(page.locator("#readonly")).to_be_visible()
        buttons = page.locator("button[data-action]")
        sync_api.expect(buttons.first).to_be_disabled()
        assert all(b.is_disabled() for b in buttons.all())
    context.close()
    assert_clean(page)


def _cli(cwd: Path, *args: str) -> Any:
    proc = subprocess.run([sys.executable, "-m", "gittrack", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_running_run_shows_new_points_without_reload(tmp_path: Path, page: Any) -> None:
    path = make_repo(tmp_path / "repo")
    script = (
        "import gittrack, sys\n"
        "run = gittrack.start_run(run_name='training')\n"
        "print(run.id, flush=True)\n"
        "for line in sys.stdin:\n"
        "    if line.strip() == 'end':\n"
        "        break\n"
        "    step = int(line)\n"
        "    run.log_metric('loss', 1.0 / (step + 1), step=step)\n"
        "    run.flush()\n"
        "    print('ok', flush=True)\n"
        "run.end()\n"
    )
    env = {**os.environ, "GITTRACK_COMMIT_SECONDS": "0.5"}
    with subprocess.Popen([sys.executable, "-c", script], cwd=path, text=True, env=env,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE) as proc, \
            Server(path) as server:
        assert proc.stdin is not None and proc.stdout is not None

        def log(step: int) -> None:
            proc.stdin.write(f"{step}\n")  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]
            assert proc.stdout.readline().strip() == "ok"  # type: ignore[union-attr]

        run_id = proc.stdout.readline().strip()
        log(0)
        log(1)
        page.goto(server.url + f"/#/r/{run_id}")
        sync_api.expect(page.locator(".status-running")).to_be_visible()
        sync_api.expect(page.locator(".curves")).to_have_attribute("data-points", "2")
        page.evaluate("window.__sameDocument = true")
        for step in range(2, 6):
            log(step)
        sync_api.expect(page.locator(".curves")).to_have_attribute("data-points", "6")
        assert page.locator(".curves path.series").count() == 1
        page.goto(server.url + "/#/e/default")  # the table row is live too
        sync_api.expect(page.locator("table.runs .status-running")).to_have_count(1)
        proc.stdin.write("end\n")
        proc.stdin.flush()
        assert proc.wait(timeout=60) == 0
        sync_api.expect(page.locator("table.runs .status-finished")).to_have_count(1)
        assert page.evaluate("window.__sameDocument") is True  # never reloaded


def test_an_inline_script_in_the_ui_fails_the_browser_check(tmp_path: Path, browser: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The check every browser test ends with catches a script the CSP blocks."""
    from gittrack.ui import app as ui_app

    static = tmp_path / "static"
    import shutil

    shutil.copytree(ui_app.STATIC, static)
    index = static / "index.html"
    index.write_text(index.read_text().replace(
        "</body>", "<script>window.__inline = 1; document.title = 'inline';</script></body>"))
    monkeypatch.setattr(ui_app, "STATIC", static)
    path = make_repo(tmp_path / "repo")
    context = browser.new_context()
    page = watch(context.new_page())
    with Server(path) as server:
        page.goto(server.url + "/")
        sync_api.expect(page.locator("#app, main").first).to_be_attached()
        wait_until(page, "document.readyState === 'complete'")
        assert page.evaluate("window.__inline") is None  # the policy refused to run it
    context.close()
    assert any("inline script" in m for m in page.csp), page.csp
    with pytest.raises(AssertionError):
        assert_clean(page)


FILL = """(sel) => Array.from(document.querySelectorAll(sel)).map(svg => {
  const card = svg.closest('.card'), style = getComputedStyle(card);
  const inner = card.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return svg.getBoundingClientRect().width / inner;
})"""
DRAWN = """() => { const all = Array.from(document.querySelectorAll('.chart > svg'));
  return all.length > 0 && all.every(s =>
    s.getAttribute('width') === String(Math.floor(s.parentElement.clientWidth))); }"""
LABELS = """() => Array.from(document.querySelectorAll('svg.parcoords text')).map(t => {
  const r = t.getBoundingClientRect();
  return [r.height, r.left, r.right];
})"""


def test_compare_and_run_page_charts_fill_their_panels(demo: tuple[Server, dict[str, str]],
                                                       page: Any) -> None:
    server, ids = demo
    chosen = ",".join(ids[n] for n in ("rf-6-1", "rf-12-2", "xgb-4-3"))
    page.goto(server.url + f"/#/compare?runs={chosen}")
    sync_api.expect(page.locator("svg.parcoords")).to_be_visible()
    page.wait_for_function(DRAWN)
    parallel = page.evaluate(FILL, "svg.parcoords")
    assert len(parallel) == 1 and parallel[0] > 0.97, parallel
    curves = page.evaluate(FILL, "svg.chart-line")
    assert len(curves) == 2 and all(0.45 < w <= 0.5 for w in curves), curves  # side by side
    labels = page.evaluate(LABELS)
    assert labels and max(h for h, _l, _r in labels) <= 18, labels  # 12 px text, not scaled up
    box = page.locator("svg.parcoords").bounding_box()
    assert all(box["x"] - 1 <= left and right <= box["x"] + box["width"] + 1
               for _h, left, right in labels)  # no label cut at the edges
    assert page.locator("svg.parcoords rect.pc-plate").count() > 0  # values sit above lines
    page.goto(server.url + f"/#/r/{ids['rf-6-1']}")
    sync_api.expect(page.locator(".curves svg.chart-line")).to_have_count(2)
    page.wait_for_function(DRAWN)
    run_curves = page.evaluate(FILL, ".curves svg.chart-line")
    assert all(0.45 < w <= 0.5 for w in run_curves), run_curves


TRAIN_ARGS = """\
import sys, gittrack
with gittrack.start_run(experiment="cmd", run_name="argv"):
    gittrack.log_params({"n": int(sys.argv[1]), "lr": float(sys.argv[2]), "mode": sys.argv[3]})
"""


def test_run_page_shows_the_command_as_a_shell_line(tmp_path: Path, page: Any) -> None:
    repo = make_repo(tmp_path / "cmd")
    (repo / "train.py").write_text(TRAIN_ARGS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")]))}
    argv = [sys.executable, "train.py", "500", "0.3", "fast mode"]
    subprocess.run(argv, cwd=repo, check=True, env=env, timeout=120)
    run_id = subprocess.run(["git", "for-each-ref", "--format=%(refname:lstrip=-1)",
                             "refs/gittrack/runs/cmd"], cwd=repo, capture_output=True,
                            text=True, check=True).stdout.strip()
    with Server(repo) as server:
        page.goto(server.url + f"/#/r/{run_id}")
        command = page.locator(".meta code.command")
        sync_api.expect(command).to_have_text(f"{sys.executable} train.py 500 0.3 'fast mode'")
