"""``gittrack plot``: the UI's curves as PNG/SVG (matplotlib) or self-contained HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def _runs(repo: Path) -> list[str]:
    import gittrack
    from gittrack import api
    api.set_tracking_repo(repo)
    ids = []
    for name, scale in (("<b>small</b>", 1.0), ("large", 2.0)):
        with gittrack.start_run(run_name=name) as run:
            for step in range(10):
                run.log_metric("loss", scale / (step + 1), step=step)
                run.log_metric("acc", 1 - scale / (step + 2), step=step)
        ids.append(run.id)
    return ids


def test_html_is_self_contained_and_escaped(repo: Path, cli: Any) -> None:
    ids = _runs(repo)
    out = repo / "curves.html"
    result = cli("plot", *ids, "-o", str(out))
    assert result.code == 0, result.err
    assert "2 metric(s), 40 point(s) of 2 run(s)" in result.out
    text = out.read_text()
    assert text.count('class="chart-line"') == 2 and text.count('class="series"') == 4
    assert "<b>small</b>" not in text and "&lt;b&gt;small&lt;/b&gt;" in text
    assert "<script" not in text and "http://" not in text.replace(
        "http://www.w3.org/2000/svg", "")


def test_png_and_svg_through_matplotlib(repo: Path, cli: Any) -> None:
    import matplotlib  # noqa: F401 - the PNG/SVG path needs it (test extra)
    ids = _runs(repo)
    assert cli("plot", *ids, "--metric", "loss", "-o", str(repo / "loss.png")).code == 0
    assert (repo / "loss.png").read_bytes().startswith(b"\x89PNG")
    assert cli("plot", ids[0], "-o", str(repo / "loss.svg")).code == 0
    assert b"<svg" in (repo / "loss.svg").read_bytes()[:2000]


def test_svg_without_matplotlib(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gittrack import api
    from gittrack.query import plot
    ids = _runs(repo)
    monkeypatch.setattr(plot, "has_matplotlib", lambda: False)
    drawn = plot.curves(api.open_store(), ids, ["acc"])
    assert plot.write(drawn, repo / "acc.svg") == "svg"
    assert (repo / "acc.svg").read_text().count('class="series"') == 2
    with pytest.raises(Exception, match="needs matplotlib"):
        plot.write(drawn, repo / "acc.png")


def test_plot_errors(repo: Path, cli: Any) -> None:
    ids = _runs(repo)
    missing = cli("plot", ids[0], "--metric", "nope", "-o", str(repo / "x.html"))
    assert missing.code == 1 and "nope" in missing.err
    wrong = cli("plot", ids[0], "-o", str(repo / "x.pdf"))
    assert wrong.code == 1 and ".png, .svg or .html" in wrong.err
    assert cli("plot", "no-such-run", "-o", str(repo / "x.html")).code == 1
    assert cli("plot").code == 2


def test_help_ends_with_an_example(cli: Any) -> None:
    import importlib

    for command in ("plot", "ui"):
        result = cli(command, "--help")
        assert result.code == 0 and "Example:" in result.out
        help_text = importlib.import_module(f"gittrack.cli.{command}").command.help
        assert help_text.rstrip().splitlines()[-1].strip().startswith("gittrack " + command)


def test_ui_without_a_repository_fails_cleanly(tmp_path: Path, cli: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("ui", str(tmp_path / "nowhere"))
    assert result.code == 1 and "error" in result.err
