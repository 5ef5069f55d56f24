"""The README's first command: the quickstart leaves a repository whose runs `gittrack log` shows."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import git, make_repo

ROOT = Path(__file__).resolve().parents[1]
# Columns whose values do not depend on when or where the quickstart ran (ids, start times
# and durations do).
STABLE = re.compile(r"^(name|experiment|status|params\..*|metrics\..*)$")


def table(lines: list[str]) -> list[dict[str, str]]:
    """The rows of a fixed-width table as `gittrack log` prints it: columns are separated by
    two or more spaces on every line (a start time's single space is inside its column)."""
    width = max(len(line) for line in lines)
    padded = [line.ljust(width) for line in lines]
    blank = [all(line[i] == " " for line in padded) for i in range(width)]
    spans, start = [], None
    for i, empty in enumerate([*blank, True, True]):
        if not empty and start is None:
            start = i
        elif empty and start is not None and (i + 1 >= len(blank) or blank[i + 1]):
            spans.append((start, i))
            start = None
    header = [padded[0][a:b].strip() for a, b in spans]
    return [{h: line[a:b].strip() for h, (a, b) in zip(header, spans)} for line in padded[1:]]


def readme_quickstart_table() -> list[str]:
    """The output block the README's Quickstart section shows for `gittrack log`."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```(\w*)\n(.*?)^```$", section, re.S | re.M)
    (block,) = [body for lang, body in blocks if not lang and body.startswith("id ")]
    return block.rstrip("\n").splitlines()


def stable(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if STABLE.match(k)} for row in rows]


def test_the_table_parser_keeps_empty_cells_and_times_with_a_space() -> None:
    rows = table(["id  name  start                a  b",
                  "x1  one   2026-11-29 14:25:06  1   ",
                  "x2  two   2026-11-29 14:25:07     2"])
    assert rows == [{"id": "x1", "name": "one", "start": "2026-11-29 14:25:06", "a": "1", "b": ""},
                    {"id": "x2", "name": "two", "start": "2026-11-29 14:25:07", "a": "", "b": "2"}]


def test_quickstart_records_three_runs_in_its_own_repository(tmp_path: Path) -> None:
    clone = make_repo(tmp_path / "clone")  # the README runs it inside a clone of gittrack
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")],
                          cwd=clone, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    demo = clone / "gittrack-quickstart"
    assert (demo / ".git").is_dir()
    assert git(clone, "for-each-ref", "refs/gittrack/") == ""  # nothing in the enclosing repo
    assert git(clone, "status", "--porcelain") == "?? gittrack-quickstart/\n"
    assert "cd gittrack-quickstart && gittrack log" in proc.stdout
    printed = proc.stdout.split("gittrack log` shows them:\n", 1)[1].strip("\n").splitlines()
    shown = readme_quickstart_table()
    assert printed[0] == shown[0]  # the same columns, in the same order and widths
    # the README shows what the quickstart prints: names, experiment, status, params, metrics
    assert stable(table(printed)) == stable(table(shown))
    assert proc.stdout.count("cost_center_forecasting") >= 3
    listing = subprocess.run([sys.executable, "-m", "gittrack", "log", "--format", "json"],
                             cwd=demo, capture_output=True, text=True, check=True)
    rows = json.loads(listing.stdout)
    assert sorted(r["name"] for r in rows) == ["forest-large", "forest-small", "linear-baseline"]
    assert all(r["status"] == "finished" and r["metrics"]["rmse"] > 0 for r in rows)
    head = git(demo, "rev-parse", "HEAD").strip()
    assert {r["baseline"] for r in rows} == {head}  # every run has the committed code
    assert git(demo, "status", "--porcelain") == ""
