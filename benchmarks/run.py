"""Rerun every benchmark the README quotes, gittrack and the incumbents side by side, and
regenerate the README's benchmark tables from what they printed.

    python benchmarks/run.py                  # every benchmark at the README's sizes
    python benchmarks/run.py --quick          # small sizes: a fast check that all of them run
    python benchmarks/run.py --only search,ui # rerun some; the others keep their last numbers
    python benchmarks/run.py --render         # rewrite the README from the results file only
    python benchmarks/run.py --list           # the benchmarks and the commands they run

Each benchmark is one entry of BENCHMARKS below: the script and its arguments at full and at
quick sizes, and how to read named numbers out of what it prints (one regular expression with
one group per number). The README's tables are the ROWS templates, whose ``{bench.number}``
fields are filled from those numbers; ``{versions.x}``, ``{machine.x}`` and ``{target.x}``
come from the same results file. A full run writes benchmarks/results/latest.json (each
script's command, raw output and parsed numbers; the machine, the package versions, the date)
and rewrites the README between the ``<!-- benchmarks:NAME -->`` markers; a quick run writes
benchmarks/results/quick.json and leaves the README alone. tests/test_benchmarks.py checks
that every number in the README's tables is in latest.json.

To add a benchmark: write benchmarks/bench_x.py printing one ``label: value unit`` line per
number, add a Benchmark(...) to BENCHMARKS and the Row(...)s it fills to ROWS, then
`python benchmarks/run.py --only x`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
README = ROOT / "README.md"
RESULTS = HERE / "results"
NUMBER = r"([\d,]+(?:\.\d+)?)"
# Evidently needs pandas < 3, so it lives in a virtual environment of its own.
EVIDENTLY = os.environ.get("EVIDENTLY_PYTHON", "/work/venv-evidently/bin/python")


@dataclass(frozen=True)
class Benchmark:
    name: str
    script: str                                  # file in benchmarks/
    full: tuple[str, ...]                        # arguments at the README's sizes
    quick: tuple[str, ...]                       # arguments for a fast check
    numbers: Mapping[str, str]                   # number name -> regex, one group, over stdout
    setup: tuple[str, ...] = ()                  # a script and its arguments, run first
    setup_quick: tuple[str, ...] = ()            # the same at quick sizes
    requires: tuple[str, ...] = ()               # modules it imports, or paths (/...) it needs
                                                 # (one missing: recorded as skipped, with why)
    python: str | None = None                    # another interpreter, for conflicting deps
    texts: Mapping[str, str] = field(default_factory=dict)  # name -> regex of a word, not a number


BENCHMARKS: list[Benchmark] = [
    Benchmark(
        "tracking", "bench_tracking.py", ("--runs", "10000", "--small", "1000"),
        ("--runs", "500", "--small", "100", "--calls", "20000"),
        {"import_ms": rf"import gittrack \(fresh interpreter, best of \d+\): {NUMBER} ms",
         "log_metric_us": rf"log_metric per call .*: {NUMBER} us",
         "process_s": rf"one process per run: .* = {NUMBER} s a run",
         "small_runs": rf"small set \({NUMBER} runs\)",
         "small_rate": rf"in one process, small set .*: {NUMBER} runs/s",
         "runs": rf"large set \({NUMBER} runs\)",
         "rate": rf"in one process, large set .*: {NUMBER} runs/s",
         "log_small_first_s": rf"gittrack log, small set .*: {NUMBER} s first",
         "log_small_s": rf"gittrack log, small set .* {NUMBER} s after",
         "log_first_s": rf"gittrack log, large set .*: {NUMBER} s first",
         "log_s": rf"gittrack log, large set .* {NUMBER} s after",
         "loose": rf"after [\d,]+ runs: {NUMBER} loose objects",
         "gc_auto_limit": rf"git auto-gcs above {NUMBER}",
         "packs": rf", {NUMBER} packs"},
        texts={"gc_auto": r"`git gc --auto` (ran|had nothing to do)"}),
    Benchmark(
        "search", "bench_search.py", ("--path", "{work}/runs"), ("--path", "{work}/runs"),
        {"rebuild_s": rf"full index rebuild: {NUMBER} s",
         "log_s": rf"gittrack log -n 20 .*: {NUMBER} s",
         "runs": rf"search_runs over {NUMBER} runs",
         "search_all_s": rf"search_runs over .*: {NUMBER} s from `import",
         "mlflow_runs": rf"search of the same {NUMBER} runs",
         "mlflow_search_s": rf"from import: MLflow {NUMBER} s",
         "gittrack_search_s": rf"from import: MLflow [\d.]+ s, gittrack {NUMBER} s",
         "ratio": rf"gittrack is {NUMBER}x faster"},
        setup=("make_runs.py", "--runs", "100000", "--path", "{work}/runs"),
        setup_quick=("make_runs.py", "--runs", "5000", "--path", "{work}/runs"),
        requires=("mlflow",)),
    Benchmark(
        "registry", "bench_registry.py", (),
        ("--models", "20", "--versions", "4", "--stage-events", "80", "--repeat", "2"),
        {"tags": rf"wrote {NUMBER} tags",
         "loose_models_s": rf"loose +gittrack models +wall min [\d.]+ median {NUMBER}",
         "loose_resolve_s": rf"loose +gittrack models resolve \S+ --json +wall min [\d.]+ median {NUMBER}",
         "packed_models_s": rf"packed +gittrack models +wall min [\d.]+ median {NUMBER}",
         "packed_resolve_s": rf"packed +gittrack models resolve \S+ --json +wall min [\d.]+ median {NUMBER}",
         "first_models_s": rf"loose +gittrack models +wall .* first call {NUMBER} s"}),
    Benchmark(
        "artifacts", "bench_artifacts.py", ("--add-mb", "500", "--restore-mb", "256"),
        ("--add-mb", "50", "--restore-mb", "50"),
        {"add_mb": rf"file size +{NUMBER} MB",
         "hash_ratio": rf"hash only .* ratio to md5sum \(warm\) {NUMBER}",
         "store_ratio": rf"hash\+store .* ratio to md5sum \(warm\) {NUMBER}"}),
    Benchmark(
        "run_artifacts", "bench_run_artifacts.py", ("--restore-mb", "1024", "--repeat", "5"),
        ("--restore-mb", "64", "--repeat", "2"),
        {"trees": rf"log_model RF {NUMBER} trees",
         "model_mb": rf"\({NUMBER} MB model dir\)",
         "first_s": rf"no input_example +s +first {NUMBER}",
         "after_s": rf"no input_example .* median after {NUMBER}",
         "restore_mb": rf"^{NUMBER} MB artifact",
         "checkout_s": rf"`gittrack checkout RUN` \(new process\) +s +{NUMBER}"}),
    Benchmark(
        "remote", "bench_remote.py", ("--runs", "10000", "--more", "100"),
        ("--runs", "1000", "--more", "20"),
        {"runs": rf"gittrack push, {NUMBER} runs",
         "push_s": rf"gittrack push, [\d,]+ runs +{NUMBER} s",
         "more": rf"gittrack push, {NUMBER} more runs",
         "push_more_s": rf"gittrack push, [\d,]+ more runs +{NUMBER} s",
         "floor_s": rf"floor: git push refs/gittrack/\* \([\d,]+\) +{NUMBER} s"}),
    Benchmark(
        "ui", "bench_ui.py", ("--runs", "10000", "--path", "{work}/ui"),
        ("--runs", "1000", "--repeat", "2", "--path", "{work}/ui"),
        {"runs": rf"runs table of {NUMBER} runs",
         "first_ms": rf"first page shown in {NUMBER} ms",
         "sort_ms": rf"sort by metrics.m0: {NUMBER} ms",
         "filter_ms": rf"filter: {NUMBER} ms"},
        requires=("playwright",)),
    Benchmark(
        "bulk", "bench_bulk.py", ("--runs", "20000", "--steps", "100", "--dir", "{work}/bulk"),
        ("--runs", "1000", "--steps", "20", "--dir", "{work}/bulk"),
        {"runs": rf"log_runs: {NUMBER} runs",
         "rate": rf"log_runs: .* = {NUMBER} runs/s",
         "steps": rf"\({NUMBER} steps x",
         "log_s": rf"gittrack log -n 20 afterwards \(fresh process\): {NUMBER} s"}),
    Benchmark(
        "incumbents", "bench_incumbents.py", (), ("--quick",),
        {"import_ms": rf"import mlflow \(fresh interpreter, best of \d+\): {NUMBER} ms",
         "log_metric_ms": rf"MLflow log_metric per call .*: {NUMBER} ms",
         "dvclive_us": rf"DVCLive log_metric per call .*: {NUMBER} us",
         "log_model_first_s": rf"MLflow log_model .* first in a fresh process: {NUMBER} s",
         "log_model_after_s": rf"MLflow log_model .* after \(\d+\): median {NUMBER} s",
         "gto_tags": rf"GTO registry: {NUMBER} tags",
         "gto_show_s": rf"gto show, fresh process \(min of \d+\): {NUMBER} s",
         "gto_resolve_s": rf"gto show MODEL#prod, fresh process \(min of \d+\): {NUMBER} s"},
        requires=("mlflow", "dvclive", "gto", "sklearn")),
    Benchmark(
        "mlflow_import", "bench_mlflow_import.py", ("--runs", "1000"), ("--runs", "100"),
        {"runs": rf"built the MLflow store \({NUMBER} runs",
         "points": rf"first import: .* runs, {NUMBER} metric points",
         "artifacts": rf"first import: .* {NUMBER} artifact files",
         "versions": rf"first import: .* {NUMBER} versions",
         "first_s": rf"first import: {NUMBER} s",
         "second_s": rf"second import: {NUMBER} s",
         "added": rf"second import: .* added {NUMBER} runs",
         "found": rf"gittrack.search_runs \(fresh process, import included\): {NUMBER} ",
         "search_s": rf"gittrack.search_runs \(fresh process, import included\): .* -> {NUMBER} s",
         "mlflow_search_s": rf"mlflow.search_runs \(fresh process, import included\): .* -> {NUMBER} s"},
        texts={"same_model": r"agrees with MLflow: (True|False)"},
        requires=("mlflow", "sklearn")),
    Benchmark(
        "drift", "bench_drift.py", ("--seeds", "5", "--evidently-python", EVIDENTLY),
        ("--rows", "20000", "--big-rows", "200000", "--seeds", "1", "--repeat", "1",
         "--evidently-python", EVIDENTLY),
        {"rows": rf"data: 2 Parquet files of {NUMBER} x",
         "cols": rf"data: 2 Parquet files of [\d,]+ x {NUMBER} floats",
         "repeat": rf"gittrack, the median of {NUMBER}:",
         "total_s": rf"gittrack, the median of .* total {NUMBER} s",
         "rss_mb": rf"gittrack, the median of .* peak RSS {NUMBER} MB",
         "evidently_s": rf"Evidently: read .* = {NUMBER} s",
         "evidently_rss_mb": rf"Evidently: read .* peak RSS {NUMBER} MB",
         "ratio": rf"ratio \(Evidently / gittrack's median [\d.]+ s\): {NUMBER}x",
         "same_columns": rf"; {NUMBER}/[\d,]+ columns agree",
         "columns": rf"; [\d,]+/{NUMBER} columns agree",
         "big_rows": rf"gittrack: profile of {NUMBER} x",
         "big_gb": rf"gittrack: profile of .* \({NUMBER} GB Parquet\)",
         "big_s": rf"GB Parquet\) {NUMBER} s",
         "big_rss_mb": rf"GB Parquet\) .* peak RSS {NUMBER} MB",
         "seeds": rf"agreement with Evidently, .*, {NUMBER} seeds x",
         "mixed_columns": rf"agreement with Evidently, .* seeds x {NUMBER} columns",
         "agree": rf"agreement with Evidently in all: {NUMBER} of",
         "cases": rf"agreement with Evidently in all: [\d,]+ of {NUMBER} column"},
        requires=(EVIDENTLY, "pyarrow", "scipy")),
    Benchmark(
        "startup", "bench_import.py", ("--rev", "eb259f8"), ("--rev", "eb259f8", "--repeat", "3"),
        {"repeat": rf"median of {NUMBER}",
         "floor_ms": rf"this checkout[\s\S]*python -c pass \(floor\) +median +{NUMBER} ms",
         "before_import_ms": rf"revision eb259f8[\s\S]*?  import gittrack +median +{NUMBER} ms",
         "before_api_ms": rf"revision eb259f8[\s\S]*?import gittrack; gittrack.start_run .*? median +{NUMBER} ms",
         "before_help_ms": rf"revision eb259f8[\s\S]*?gittrack --help +median +{NUMBER} ms",
         "import_ms": rf"this checkout[\s\S]*  import gittrack +median +{NUMBER} ms",
         "api_ms": rf"this checkout[\s\S]*import gittrack; gittrack.start_run .*? median +{NUMBER} ms",
         "help_ms": rf"this checkout[\s\S]*gittrack --help +median +{NUMBER} ms"}),
]

# Goals the issues set (not measurements): shown beside the numbers, kept in the results file.
TARGETS = {"import_ms": 300, "log_metric_us": 20, "log_10k_s": 1, "log_100k_s": 1,
           "search_100k_s": 3, "rebuild_100k_s": 60, "registry_s": 0.3, "log_model_s": 0.5,
           "hash_ratio": 0.8, "ui_first_s": 2, "profile_rss_mb": 300}


@dataclass(frozen=True)
class Row:
    what: str
    gittrack: str
    other: str


ROWS: dict[str, list[Row]] = {
    "table": [
        Row("`import gittrack` (fresh interpreter, best of 7)",
            "{tracking.import_ms:.0f} ms",
            "<= {target.import_ms} ms; `import mlflow` {incumbents.import_ms:,.0f} ms"),
        Row("`log_metric` in a training loop",
            "{tracking.log_metric_us:.2f} us a call (buffered)",
            "<= {target.log_metric_us} us; MLflow on SQLite {incumbents.log_metric_ms:.2f} ms "
            "(synchronous), DVCLive {incumbents.dvclive_us:.0f} us"),
        Row("short runs in one process, {tracking.small_runs:,.0f} / {tracking.runs:,.0f} runs",
            "{tracking.small_rate:.0f} / {tracking.rate:.0f} runs/s", ""),
        Row("one process per run", "{tracking.process_s:.2f} s a run",
            "mostly interpreter start and imports"),
        Row("`gittrack log`, fresh process, {tracking.small_runs:,.0f} / {tracking.runs:,.0f} runs",
            "{tracking.log_small_s:.2f} s / {tracking.log_s:.2f} s ({tracking.log_small_first_s:.2f} s"
            " / {tracking.log_first_s:.2f} s the first time, which fills the index)",
            "<= {target.log_10k_s} s"),
        Row("after {tracking.runs:,.0f} runs one after another",
            "{tracking.loose:,.0f} loose objects, {tracking.packs:.0f} packs; `git gc --auto` "
            "{tracking.gc_auto}", "git auto-gcs above {tracking.gc_auto_limit:,.0f} loose objects"),
        Row("{search.runs:,.0f} runs (make_runs.py): `gittrack log -n 20 --where ... --sort ...`",
            "{search.log_s:.2f} s", "<= {target.log_100k_s} s"),
        Row("{search.runs:,.0f} runs: `query_runs()` into a DataFrame, from `import gittrack`",
            "{search.search_all_s:.2f} s", "<= {target.search_100k_s} s"),
        Row("{search.mlflow_runs:,.0f} of those runs searched into a DataFrame, side by side",
            "{search.gittrack_search_s:.2f} s",
            "MLflow {versions.mlflow} on SQLite {search.mlflow_search_s:.2f} s: gittrack "
            "{search.ratio:.1f}x faster"),
        Row("{search.runs:,.0f} runs: full index rebuild", "{search.rebuild_s:.0f} s",
            "<= {target.rebuild_100k_s} s"),
        Row("registry of {registry.tags:,.0f} tags, fresh process: `gittrack models resolve` / "
            "`gittrack models`",
            "{registry.packed_resolve_s:.2f} s / {registry.packed_models_s:.2f} s packed, "
            "{registry.loose_resolve_s:.2f} s / {registry.loose_models_s:.2f} s loose "
            "({registry.first_models_s:.2f} s for `models` the first time, which fills the caches)",
            "<= {target.registry_s} s; GTO {versions.gto} on the same events ({incumbents.gto_tags:,.0f}"
            " tags): `gto show MODEL#prod` {incumbents.gto_resolve_s:.2f} s, `gto show` "
            "{incumbents.gto_show_s:.2f} s"),
        Row("`log_model` of a random forest ({run_artifacts.trees:.0f} trees, "
            "{run_artifacts.model_mb:.1f} MB)",
            "{run_artifacts.first_s:.2f} s as the first artifact of a fresh process, "
            "{run_artifacts.after_s:.2f} s for another forest after",
            "<= {target.log_model_s} s; MLflow {incumbents.log_model_first_s:.2f} s / "
            "{incumbents.log_model_after_s:.2f} s"),
        Row("hashing a {artifacts.add_mb:.0f} MB file, ratio to `md5sum`",
            "{artifacts.hash_ratio:.2f} (hash and store into a new cache: {artifacts.store_ratio:.2f})",
            ">= {target.hash_ratio}"),
        Row("restoring a {run_artifacts.restore_mb:,.0f} MB artifact (`gittrack checkout`, verified)",
            "{run_artifacts.checkout_s:.2f} s", ""),
        Row("`gittrack push` of {remote.runs:,.0f} runs / {remote.more:,.0f} more, to a local bare remote",
            "{remote.push_s:.2f} s / {remote.push_more_s:.2f} s",
            "plain `git push` of the same refs: {remote.floor_s:.2f} s"),
        Row("`gittrack.log_runs` (bulk): {bulk.runs:,.0f} finished runs of {bulk.steps:.0f} steps",
            "{bulk.rate:,.0f} runs/s; `gittrack log -n 20` after: {bulk.log_s:.2f} s", ""),
        Row("`gittrack import mlflow` of an MLflow SQLite store: {mlflow_import.runs:,.0f} runs "
            "({mlflow_import.points:,.0f} metric points, {mlflow_import.artifacts:.0f} artifact "
            "files, nested runs) and {mlflow_import.versions:.0f} registered versions",
            "first import {mlflow_import.first_s:.1f} s; a second {mlflow_import.second_s:.1f} s, "
            "adding {mlflow_import.added:.0f} runs", ""),
        Row("over those imported runs, fresh process: MLflow-shaped `search_runs` with a filter "
            "and a params order", "{mlflow_import.search_s:.2f} s ({mlflow_import.found:,.0f} runs)",
            "`mlflow.search_runs` of the same {mlflow_import.mlflow_search_s:.2f} s"),
        Row("drift of two {drift.rows:,.0f} x {drift.cols:.0f} Parquet files: both profiles + "
            "drift, fresh process",
            "{drift.total_s:.2f} s (median of {drift.repeat:.0f}), peak RSS {drift.rss_mb:,.0f} MB",
            "Evidently {versions.evidently} `Report([DataDriftPreset()])` on the same files: "
            "{drift.evidently_s:,.0f} s, {drift.evidently_rss_mb:,.0f} MB: gittrack "
            "{drift.ratio:.0f}x faster; the same verdict on {drift.same_columns:.0f} of "
            "{drift.columns:.0f} columns"),
        Row("profile of {drift.big_rows:,.0f} x {drift.cols:.0f} floats ({drift.big_gb:.1f} GB "
            "Parquet), fresh process",
            "{drift.big_s:.1f} s, peak RSS {drift.big_rss_mb:,.0f} MB",
            "<= {target.profile_rss_mb} MB"),
        Row("drift verdicts against Evidently's, {drift.seeds:.0f} seeds x {drift.mixed_columns:.0f}"
            " mixed columns (no shift, a shifted mean, a new category; small and large references)",
            "{drift.agree:,.0f} of {drift.cases:,.0f} agree", "same verdicts"),
        Row("web UI: runs table of {ui.runs:,.0f} runs, first page drawn (headless Chromium)",
            "{ui.first_ms:,.0f} ms (sort {ui.sort_ms:,.0f} ms, filter {ui.filter_ms:,.0f} ms)",
            "<= {target.ui_first_s} s"),
    ],
    "startup": [
        Row("`import gittrack`", "{startup.before_import_ms:.1f} ms", "{startup.import_ms:.1f} ms"),
        Row("`import gittrack; gittrack.start_run` (the API loaded)",
            "{startup.before_api_ms:.1f} ms", "{startup.api_ms:.1f} ms"),
        Row("`gittrack --help`", "{startup.before_help_ms:.1f} ms", "{startup.help_ms:.1f} ms"),
    ],
}
HEADERS = {"table": ("what", "gittrack", "target / incumbent"),
           "startup": ("", "before (eb259f8, flat package)", "after (layers)")}
INTROS = {
    "table": "Measured {meta.date} by `python benchmarks/run.py` ({meta.mode} sizes) on "
             "{machine.nproc} cores ({machine.cpu}) with {machine.memory_gib:.0f} GiB of memory, "
             "shared with other work (load average {machine.load} as each benchmark started); Python "
             "{versions.python}, git {versions.git}, pygit2 {versions.pygit2}, dvc-data "
             "{versions.dvc-data}, pandas {versions.pandas}; MLflow {versions.mlflow}, DVCLive "
             "{versions.dvclive}, GTO {versions.gto}, Evidently {versions.evidently}. Each figure is one run's (the script's "
             "median or best where it repeats); every script's output is in "
             "[benchmarks/results/latest.json](benchmarks/results/latest.json).",
    "startup": "`python benchmarks/bench_import.py --rev eb259f8` (fresh processes, medians of "
               "{startup.repeat:.0f}; the interpreter alone {startup.floor_ms:.1f} ms), in the same run:",
}


# ------------------------------------------------------------------------------ running


def parse(bench: Benchmark, output: str) -> tuple[dict[str, Any], list[str]]:
    """The named numbers (and words) ``bench`` prints; the names whose pattern did not match."""
    values: dict[str, Any] = {}
    missing = []
    for key, pattern in bench.numbers.items():
        found = re.search(pattern, output, re.MULTILINE)
        if found is None:
            missing.append(key)
        else:
            values[key] = float(found.group(1).replace(",", ""))
    for key, pattern in bench.texts.items():
        found = re.search(pattern, output, re.MULTILINE)
        if found is None:
            missing.append(key)
        else:
            values[key] = found.group(1)
    return values, missing


def missing_requirement(bench: Benchmark) -> str | None:
    if bench.python is not None:
        return None if Path(bench.python).exists() else f"no interpreter at {bench.python}"
    for module in bench.requires:
        if module.startswith("/"):
            if not Path(module).exists():
                return f"{module} does not exist"
        elif importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install '.[bench]')"
    return None


def run_one(bench: Benchmark, quick: bool) -> dict[str, Any]:
    """Run ``bench`` (its setup first) in a scratch directory ``{work}``; its results entry."""
    args = list(bench.quick if quick else bench.full)
    setup = list(bench.setup_quick if quick else bench.setup)
    shown = [f"python benchmarks/{bench.script}", *args]
    if setup:
        shown = [f"python benchmarks/{setup[0]}", *setup[1:], "&&", *shown]
    entry: dict[str, Any] = {"command": " ".join(shown), "date": now(),
                             "load": round(os.getloadavg()[0], 1)}
    reason = missing_requirement(bench)
    if reason:
        print(f"[{bench.name}] skipped: {reason}", flush=True)
        return {**entry, "skipped": reason, "numbers": {}}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    with tempfile.TemporaryDirectory(prefix=f"gittrack-bench-{bench.name}-") as work:
        def resolved(values: list[str]) -> list[str]:
            return [v.replace("{work}", work) for v in values]

        print(f"[{bench.name}] {entry['command']}", flush=True)
        if setup:
            subprocess.run([sys.executable, str(HERE / setup[0]), *resolved(setup[1:])],
                           cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        started = time.perf_counter()
        proc = subprocess.run([bench.python or sys.executable, str(HERE / bench.script),
                               *resolved(args)], cwd=ROOT, env=env, capture_output=True, text=True)
    entry["seconds"] = round(time.perf_counter() - started, 1)
    entry["returncode"] = proc.returncode
    entry["output"] = proc.stdout.replace(work, "{work}")
    if proc.returncode != 0:
        entry["stderr"] = proc.stderr[-4000:]
    entry["numbers"], missing = parse(bench, proc.stdout)
    if missing:
        entry["missing"] = missing
    print(proc.stdout, end="", flush=True)
    if proc.returncode != 0 or missing:
        print(f"[{bench.name}] FAILED (exit {proc.returncode}; not found: {', '.join(missing)})\n"
              f"{proc.stderr[-2000:]}", file=sys.stderr, flush=True)
    return entry


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def machine() -> dict[str, Any]:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory_gib": round(mem_kib / 2**20, 1),
            "load": os.getloadavg()[0], "system": platform.platform()}


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    git = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.split()
    out["git"] = git[-1] if git else "?"
    for package in ("gittrack", "pygit2", "dvc-data", "pandas", "pyyaml", "scikit-learn",
                    "mlflow", "dvc", "dvclive", "gto", "playwright"):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = "not installed"
    evidently = Path(EVIDENTLY)
    if evidently.exists():
        found = subprocess.run([str(evidently), "-c", "import evidently; print(evidently.__version__)"],
                               capture_output=True, text=True)
        out["evidently"] = found.stdout.strip() or "not installed"
    return out


# ------------------------------------------------------------------------------ rendering

FIELD = re.compile(r"\{([\w-]+)\.([\w-]+)(?::([^}]*))?\}")


def lookup(results: Mapping[str, Any], scope: str, key: str) -> Any:
    if scope in ("meta", "machine", "versions", "targets", "target"):
        source = results["meta"] if scope == "meta" else results["targets" if scope == "target" else scope]
        return source.get(key)
    return results.get("benchmarks", {}).get(scope, {}).get("numbers", {}).get(key)


def fill(template: str, results: Mapping[str, Any]) -> str:
    def one(match: re.Match[str]) -> str:
        value = lookup(results, match.group(1), match.group(2))
        if value is None:
            return "(not measured)"
        return format(value, match.group(3) or "")
    return FIELD.sub(one, template)


def render(name: str, results: Mapping[str, Any]) -> str:
    head = HEADERS[name]
    lines = [fill(INTROS[name], results), "", "| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    for row in ROWS[name]:
        cells = [fill(t, results) for t in (row.what, row.gittrack, row.other)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def markers(name: str) -> tuple[str, str]:
    return f"<!-- benchmarks:{name} (generated by benchmarks/run.py) -->", \
        f"<!-- /benchmarks:{name} -->"


def rewrite_readme(text: str, results: Mapping[str, Any]) -> str:
    for name in ROWS:
        start, end = markers(name)
        pattern = re.compile(re.escape(start) + r"\n.*?" + re.escape(end), re.DOTALL)
        found = pattern.search(text)
        if found is None:
            raise SystemExit(f"README.md has no {start} ... {end} block")
        text = text[:found.start()] + f"{start}\n{render(name, results)}{end}" + text[found.end():]
    return text


# ------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:8]))
    parser.add_argument("--quick", action="store_true", help="small sizes; writes results/quick.json")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--render", action="store_true", help="only rewrite README from results")
    parser.add_argument("--list", action="store_true", help="list the benchmarks")
    parser.add_argument("--output", type=Path, default=None, help="results file to write")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    if args.list:
        for b in BENCHMARKS:
            print(f"{b.name:14} python benchmarks/{b.script} {' '.join(b.full)}   "
                  f"(quick: {' '.join(b.quick)})")
        return 0
    output = args.output or RESULTS / ("quick.json" if args.quick else "latest.json")
    previous: dict[str, Any] = json.loads(output.read_text()) if output.exists() else {}
    if args.render:
        args.readme.write_text(rewrite_readme(args.readme.read_text(), previous))
        return 0
    names = [n for n in args.only.split(",") if n] or [b.name for b in BENCHMARKS]
    unknown = set(names) - {b.name for b in BENCHMARKS}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    results: dict[str, Any] = {
        "command": "python benchmarks/run.py" + (" --quick" if args.quick else ""),
        "meta": {"date": now()[:10], "mode": "quick" if args.quick else "full"},
        "machine": machine(), "versions": versions(), "targets": TARGETS,
        "benchmarks": dict(previous.get("benchmarks", {})),
    }
    failed = []
    for bench in BENCHMARKS:
        if bench.name in names:
            entry = run_one(bench, args.quick)
            results["benchmarks"][bench.name] = entry
            if entry.get("returncode") or entry.get("missing"):
                failed.append(bench.name)
    entries = results["benchmarks"].values()
    days = sorted(e["date"][:10] for e in entries if e.get("date"))
    if days:
        results["meta"]["date"] = days[0] if days[0] == days[-1] else f"{days[0]} to {days[-1]}"
    loads = sorted(e["load"] for e in entries if "load" in e)
    if loads:
        results["machine"]["load"] = f"{loads[0]:.1f}" if loads[0] == loads[-1] else \
            f"{loads[0]:.1f} to {loads[-1]:.1f}"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    print(f"results: {output}")
    if (not args.quick and args.output is None) or args.readme != README:
        args.readme.write_text(rewrite_readme(args.readme.read_text(), results))
        print(f"tables rewritten in {args.readme}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
