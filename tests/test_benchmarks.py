"""The README's benchmark tables come from `python benchmarks/run.py`: every number in them is in
the results file that command wrote last (benchmarks/results/latest.json)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "latest.json"
_spec = importlib.util.spec_from_file_location("benchmarks_run", ROOT / "benchmarks" / "run.py")
assert _spec is not None and _spec.loader is not None
bench_run = importlib.util.module_from_spec(_spec)
sys.modules["benchmarks_run"] = bench_run
_spec.loader.exec_module(bench_run)

# A number as a person reads it: 1,234.5 / 0.07 / 11x; not the digits inside a word (eb259f8)
# or after a dot (the 2 of 3.17.2 belongs to the version's own token 3.17).
NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")
NOT_RESULTS = {"output", "stderr", "command"}  # raw text: the parsed numbers are what count


def generated(text: str) -> dict[str, str]:
    """The README's generated blocks, by name."""
    blocks = {}
    for name in bench_run.ROWS:
        start, end = bench_run.markers(name)
        blocks[name] = text.split(start + "\n", 1)[1].split(end, 1)[0]
    return blocks


def leaves(data: Any) -> list[Any]:
    if isinstance(data, dict):
        return [leaf for key, value in data.items() if key not in NOT_RESULTS
                for leaf in leaves(value)]
    if isinstance(data, list):
        return [leaf for value in data for leaf in leaves(value)]
    return [data]


def unexplained(text: str, results: dict[str, Any]) -> list[str]:
    """The numbers of ``text`` that no value of ``results`` gives, at the precision shown."""
    values = [v for v in leaves(results) if isinstance(v, (int, float)) and not isinstance(v, bool)]
    words = {t.replace(",", "") for v in leaves(results) if isinstance(v, str)
             for t in NUMBER.findall(v)}
    missing = []
    for token in NUMBER.findall(text):
        plain = token.replace(",", "")
        decimals = len(plain.split(".")[1]) if "." in plain else 0
        if plain in words or any(f"{v:.{decimals}f}" == plain for v in values):
            continue
        missing.append(token)
    return missing


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    return json.loads(RESULTS.read_text())  # type: ignore[no-any-return]


def test_every_number_in_the_readme_tables_is_in_the_results_file(results: dict[str, Any]) -> None:
    blocks = generated((ROOT / "README.md").read_text())
    assert set(blocks) == {"table", "startup"}
    for name, block in blocks.items():
        assert "|---" in block, name
        assert unexplained(block, results) == [], name
        assert "(not measured)" not in block, name


def test_the_check_catches_a_number_from_nowhere(results: dict[str, Any]) -> None:
    block = generated((ROOT / "README.md").read_text())["table"]
    assert unexplained(block + "| made up | 123,456.78 s | |\n", results) == ["123,456.78"]


def test_the_readme_tables_are_what_run_py_renders_from_the_results_file(
        results: dict[str, Any]) -> None:
    readme = (ROOT / "README.md").read_text()
    assert bench_run.rewrite_readme(readme, results) == readme
    assert results["meta"]["mode"] == "full"
    assert results["command"] == "python benchmarks/run.py"


def test_each_benchmarks_patterns_read_its_recorded_output(results: dict[str, Any]) -> None:
    """Every registered benchmark ran in the last full run, and its patterns give back the
    numbers recorded from its raw output (so a changed script's output is noticed)."""
    for bench in bench_run.BENCHMARKS:
        entry = results["benchmarks"][bench.name]
        assert entry["returncode"] == 0 and "missing" not in entry, bench.name
        numbers, missing = bench_run.parse(bench, entry["output"])
        assert missing == [] and numbers == entry["numbers"], bench.name


def test_run_py_runs_a_benchmark_then_writes_results_and_the_readme(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scripts = tmp_path / "benchmarks"
    scripts.mkdir()
    (scripts / "prepare.py").write_text(
        "import sys, pathlib\npathlib.Path(sys.argv[1]).write_text('42')\n")
    (scripts / "bench_fake.py").write_text(
        "import sys, pathlib\n"
        "n = int(pathlib.Path(sys.argv[1]).read_text())\n"
        "print(f'answer ({n:,} items): {n / 8:.3f} s')\n")
    fake = bench_run.Benchmark(
        "fake", "bench_fake.py", ("{work}/n",), ("{work}/n",),
        {"items": rf"answer \({bench_run.NUMBER} items\)", "took_s": rf": {bench_run.NUMBER} s"},
        setup=("prepare.py", "{work}/n"), setup_quick=("prepare.py", "{work}/n"))
    monkeypatch.setattr(bench_run, "HERE", scripts)
    monkeypatch.setattr(bench_run, "EVIDENTLY", str(tmp_path / "no-venv"))  # its import is slow
    monkeypatch.setattr(bench_run, "BENCHMARKS", [fake])
    monkeypatch.setattr(bench_run, "ROWS", {"table": [
        bench_run.Row("{fake.items:,.0f} items", "{fake.took_s:.2f} s", "<= {target.fake} s")]})
    monkeypatch.setattr(bench_run, "INTROS", {"table": "On {machine.nproc} cores:"})
    monkeypatch.setattr(bench_run, "TARGETS", {"fake": 9})
    readme = tmp_path / "README.md"
    start, end = bench_run.markers("table")
    readme.write_text(f"# x\n\n{start}\nold\n{end}\n\nafter\n")
    output = tmp_path / "latest.json"

    assert bench_run.main(["--output", str(output), "--readme", str(readme)]) == 0
    saved = json.loads(output.read_text())
    entry = saved["benchmarks"]["fake"]
    assert entry["numbers"] == {"items": 42.0, "took_s": 5.25}
    assert entry["output"] == "answer (42 items): 5.250 s\n"
    assert entry["command"] == ("python benchmarks/prepare.py {work}/n && "
                                "python benchmarks/bench_fake.py {work}/n")
    assert saved["targets"] == {"fake": 9} and saved["versions"]["pygit2"]
    text = readme.read_text()
    assert f"{start}\nOn {saved['machine']['nproc']} cores:\n\n| what | gittrack |" in text
    load = f"{entry['load']:.1f} → {entry['load_end']:.1f}"  # the load average as it started, ended
    assert f"| 42 items | 5.25 s | <= 9 s | {load} |\n" + end + "\n\nafter\n" in text
    assert unexplained(generated_one(text, start, end), saved) == []


def generated_one(text: str, start: str, end: str) -> str:
    return text.split(start + "\n", 1)[1].split(end, 1)[0]
