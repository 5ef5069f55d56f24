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
import dataclasses
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
EVIDENTLY = os.environ.get("EVIDENTLY_PYTHON", os.path.expanduser("~/venv-evidently/bin/python"))


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


def _serve_cell(server: str, index: int) -> str:
    """The pattern of one number of bench_serve.py's table row for ``server`` (0: first /ping
    ... 10: RSS), the others matched loosely."""
    units = ("s", "s", "", "ms", "ms", "ms", "", "ms", "ms", "ms", "MB")
    cells = [(NUMBER if i == index else r"[\d,.]+") + (f" {u}" if u else "")
             for i, u in enumerate(units)]
    return rf"^\| {re.escape(server)} \| " + r" \| ".join(cells) + r" \|$"


# The last of several lines that start alike: ``pattern`` not followed by another ``start``.
def _last(start: str, pattern: str) -> str:
    return pattern + rf"(?![\s\S]*{start})"


BENCHMARKS: list[Benchmark] = [
    Benchmark(
        "tracking", "bench_tracking.py", ("--runs", "10000", "--small", "1000"),
        ("--runs", "500", "--small", "100", "--calls", "20000"),
        {"import_ms": rf"import gittrack \(fresh interpreter, best of \d+\): {NUMBER} ms",
         "import_repeat": rf"import gittrack \(fresh interpreter, best of {NUMBER}\)",
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
         "floor_s": rf"floor: git push refs/gittrack/\* \([\d,]+\) +{NUMBER} s",
         "ratio": rf"ratio to the floor +{NUMBER}x",
         "floor_more_s": rf"floor: git push, [\d,]+ more runs +{NUMBER} s",
         "ratio_more": rf"ratio to the floor, [\d,]+ more runs +{NUMBER}x",
         "fetch_experiment_s": rf"gittrack fetch --experiment \S+ \(fresh clone\) +{NUMBER} s",
         "fetch_experiment_runs": rf"gittrack fetch --experiment .* s +{NUMBER} new",
         "fetch_rest_s": rf"gittrack fetch, [\d,]+ runs \(the rest\) +{NUMBER} s",
         "fetch_rest_runs": rf"gittrack fetch, [\d,]+ runs \(the rest\) .* s +{NUMBER} new",
         "fetch_total": rf"gittrack fetch, {NUMBER} runs \(the rest\)"},
        texts={"experiment": r"gittrack fetch --experiment (\S+)"}),
    Benchmark(
        "archive", "bench_archive.py", ("--runs", "100000"), ("--runs", "2000"),
        {"runs": rf"wrote {NUMBER} runs with the bulk path",
         "packed_before_mb": rf"before the fold: packed-refs {NUMBER} MB",
         "refs_before": rf"before the fold: .* advertises {NUMBER} refs",
         "ls_before_s": rf"before the fold: .* MB\) in {NUMBER} s",
         "log_before_s": rf"before the fold: .* --sort \.\.\. {NUMBER} s",
         "push_before_s": rf"before the fold: .* push of 100 more runs {NUMBER} s",
         "folded": rf"gittrack archive --older-than 0: {NUMBER} runs folded",
         "fold_s": rf"gittrack archive --older-than 0: .* in {NUMBER} s",
         "fold_rate": rf"gittrack archive --older-than 0: .* s \({NUMBER} runs/s\)",
         "carry_s": rf"push of the fold .*: {NUMBER} s",
         "packed_after_mb": rf"after the fold: packed-refs {NUMBER} MB",
         "refs_after": rf"after the fold: .* advertises {NUMBER} refs",
         "ls_after_s": rf"after the fold: .* MB\) in {NUMBER} s",
         "log_after_s": rf"after the fold: .* --sort \.\.\. {NUMBER} s",
         "push_after_s": rf"after the fold: .* push of 100 more runs {NUMBER} s",
         "show_s": rf"gittrack show \S+ \(an archived run.*: {NUMBER} s",
         "search_s": rf"search_runs\(filter\) after the fold: {NUMBER} s",
         "search_rss_mb": rf"search_runs\(filter\) after the fold: .* peak RSS {NUMBER} MB"}),
    Benchmark(
        "ui", "bench_ui.py", ("--runs", "10000", "--path", "{work}/ui"),
        ("--runs", "1000", "--repeat", "2", "--path", "{work}/ui"),
        {"runs": rf"runs table of {NUMBER} runs",
         "first_ms": rf"first page shown in {NUMBER} ms",
         "sort_ms": rf"sort by metrics.m0: {NUMBER} ms",
         "filter_ms": rf"filter: {NUMBER} ms"},
        requires=("playwright",)),
    Benchmark(
        "bulk", "bench_bulk.py", ("--runs", "100000", "--steps", "1", "--dir", "{work}/bulk"),
        ("--runs", "5000", "--steps", "1", "--dir", "{work}/bulk"),
        {"runs": rf"log_runs: {NUMBER} runs",
         "rate": rf"log_runs: .* = {NUMBER} runs/s",
         "cpu_rate": rf"log_runs: .* runs/s, {NUMBER} per CPU second",
         "steps": rf"\({NUMBER} steps x",
         "metrics": rf"steps x {NUMBER} metrics",
         "params": rf"metrics, {NUMBER} params each",
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
    Benchmark(
        "scale", "bench_scale.py", ("--prefill", "99000", "--runs", "1000", "--dir", "{work}/scale"),
        ("--prefill", "3000", "--runs", "200", "--dir", "{work}/scale"),
        {"params": rf"each API run: {NUMBER} params",
         "metrics": rf"each API run: .* params, {NUMBER} metrics",
         "steps": rf"each API run: .* metrics x {NUMBER} steps",
         "artifact_kb": rf"each API run: .* a new {NUMBER} KB artifact",
         "runs": rf"API runs 1-{NUMBER}:",
         "early_rate": rf"API runs 1-[\d,]+: {NUMBER} runs/s",
         "early_cpu_rate": rf"API runs 1-[\d,]+: .* \({NUMBER} per CPU second\)",
         "early_log_artifact_ms": rf"API runs 1-[\d,]+: .* median log_artifact {NUMBER} ms",
         "early_end_run_ms": rf"API runs 1-[\d,]+: .* end_run {NUMBER} ms",
         "prefill": rf"bulk prefill of {NUMBER} runs",
         "prefill_s": rf"bulk prefill of [\d,]+ runs: {NUMBER} s",
         "prefill_rate": rf"bulk prefill of [\d,]+ runs: .* \({NUMBER} runs/s\)",
         "late_first": rf"API runs (?!1-){NUMBER}-",
         "late_last": rf"API runs (?!1-)[\d,]+-{NUMBER}:",
         "late_rate": rf"API runs (?!1-)[\d,]+-[\d,]+: {NUMBER} runs/s",
         "late_cpu_rate": rf"API runs (?!1-)[\d,]+-[\d,]+: .* \({NUMBER} per CPU second\)",
         "late_log_artifact_ms": rf"API runs (?!1-)[\d,]+-[\d,]+: .* median log_artifact {NUMBER} ms",
         "late_end_run_ms": rf"API runs (?!1-)[\d,]+-[\d,]+: .* end_run {NUMBER} ms",
         "late_early": rf"late / early: {NUMBER} \(wall\)",
         "late_early_cpu": rf"late / early: .*, {NUMBER} \(CPU\)"}),
    Benchmark(
        "million", "bench_million.py", ("--runs", "100000", "--path", "{work}/runs"),
        ("--runs", "5000", "--path", "{work}/runs"),
        {"runs": rf"^{NUMBER} runs in ",
         "write_rate": rf"wrote [\d,]+ runs with the bulk path in .* \({NUMBER} runs/s\)",
         "log_first_s": rf"gittrack log -n 20 .*: {NUMBER} s the first time",
         "log_s": rf"gittrack log -n 20 .* {NUMBER} s warm",
         "search_s": rf"search_runs\(.*\): {NUMBER} s from import gittrack",
         "search_rows": rf"search_runs\(.*\): .* s from import gittrack, {NUMBER} rows",
         "search_rss_mb": rf"search_runs\(.*\): .* peak RSS {NUMBER} MB",
         "one_run_repeat": rf"one more API run \(median of {NUMBER}[ ,]",
         "one_run_small_ms": rf"one more API run .*: {NUMBER} ms at",
         "small_runs": rf"one more API run .*: [\d.]+ ms at {NUMBER} runs",
         "one_run_ms": rf"one more API run .* runs, {NUMBER} ms at",
         "log_after_s": rf"gittrack log -n 20 .* after those [\d,]+ runs .*: {NUMBER} s",
         "after_runs": rf"gittrack log -n 20 .* after those {NUMBER} runs"},
        texts={"filter": r"search_runs\(filter_string=\"([^\"]*)\""}),
    Benchmark(
        "serve", "bench_serve.py", (), ("--seconds", "1", "--rounds", "1"),
        {"clients": rf"^{NUMBER} keep-alive clients",
         "rounds": rf"keep-alive clients, {NUMBER} rounds",
         "seconds": rf"rounds of {NUMBER} s per phase",
         "trees": rf"{NUMBER}-tree forest",
         "columns": rf"forest of {NUMBER} float columns",
         "light_first_s": rf"python_function model \(numpy only\): first answer after {NUMBER} s",
         **{f"{key}{suffix}": _serve_cell(server, index)
            for server, suffix in (("gittrack", ""), ("gittrack-w2", "_w2"), ("mlflow", "_mlflow"))
            for index, key in enumerate(("ping_s", "first_s", "rps", "p50_ms", "p99_ms", "cpu_ms",
                                         "big_rps", "big_p50_ms", "big_p99_ms", "big_cpu_ms",
                                         "rss_mb"))},
         "batch_rows": rf"^  gittrack: .*mean rows per predict call {NUMBER}",
         "ratio": rf"^gittrack / mlflow: one-row {NUMBER}x req/s",
         "big_ratio": rf"^gittrack / mlflow: .* 1,000-row {NUMBER}x req/s",
         "first_ratio": rf"^gittrack / mlflow: .* first answer {NUMBER}x sooner",
         "cpu_ratio": rf"^gittrack / mlflow: .* CPU a request {NUMBER}x less \(one-row\)",
         "big_cpu_ratio": rf"^gittrack / mlflow: .* {NUMBER}x less \(1,000-row\)"},
        texts={"same": r"the same 1,000 predictions from every server: (True|False)"},
        requires=("mlflow", "sklearn", "psutil")),
    Benchmark(
        "rollback", "bench_rollback.py", ("--cycles", "10"), ("--cycles", "3"),
        {"clients": rf"^{NUMBER} clients sending",
         "poll_s": rf"poll interval {NUMBER} s",
         "promote_s": rf"promotion served after: median {NUMBER} s",
         "promote_max_s": rf"promotion served after: .* at most {NUMBER} s",
         "rollback_s": rf"rollback served after: median {NUMBER} s",
         "rollback_max_s": rf"rollback served after: .* at most {NUMBER} s",
         "cycles": rf"rollback served after: .* \({NUMBER} rollbacks\)",
         "answers": rf"requests answered meanwhile: {NUMBER} ",
         "failed": rf"requests answered meanwhile: .*; {NUMBER} not 200",
         "wrong": rf"requests answered meanwhile: .*, {NUMBER} with predictions"}),
    Benchmark(
        "predict", "bench_predict.py", ("--rows", "1000000,3000000"), ("--rows", "100000,300000"),
        {"rows": rf"gittrack predict of {NUMBER} rows",
         "csv_mb": rf"gittrack predict of [\d,]+ rows \({NUMBER} MB CSV",
         "chunk_rows": rf"CSV, chunks of {NUMBER}\)",
         "seconds": rf"gittrack predict of [\d,]+ rows .*\): {NUMBER} s",
         "rss_mb": rf"gittrack predict of [\d,]+ rows .* peak RSS {NUMBER} MB;",
         "pandas_rss_mb": rf"gittrack predict of [\d,]+ rows .* whole file alone: peak RSS {NUMBER} MB",
         "big_rows": _last("gittrack predict of", rf"gittrack predict of {NUMBER} rows"),
         "big_csv_mb": _last("gittrack predict of", rf"gittrack predict of [\d,]+ rows \({NUMBER} MB CSV"),
         "big_seconds": _last("gittrack predict of", rf"gittrack predict of [\d,]+ rows .*\): {NUMBER} s"),
         "big_rss_mb": _last("gittrack predict of", rf"gittrack predict of [\d,]+ rows .* peak RSS {NUMBER} MB;"),
         "big_pandas_rss_mb": _last("gittrack predict of", rf"gittrack predict of [\d,]+ rows .* whole file alone: peak RSS {NUMBER} MB")},
        requires=("mlflow", "sklearn")),
]

# The million-run figures: the same script at ten times the size, in a repository of its own.
BENCHMARKS.append(dataclasses.replace(
    next(b for b in BENCHMARKS if b.name == "million"), name="million_1m",
    full=("--runs", "1000000", "--path", "{work}/runs-1m"),
    quick=("--runs", "10000", "--path", "{work}/runs-1m")))

# The fold of those million runs: a copy of that repository, folded and queried.
BENCHMARKS.append(Benchmark(
    "archive_1m", "bench_archive.py", ("--existing", "{work}/runs-1m", "--in-place"),
    ("--existing", "{work}/runs-1m", "--in-place"),
    {"runs": rf"existing: {NUMBER} runs, packed-refs",
     "packed_before_mb": rf"existing: [\d,]+ runs, packed-refs {NUMBER} MB",
     "log_before_s": rf"existing: .* {NUMBER} s before the fold",
     "folded": rf"existing: gittrack archive --older-than 0: {NUMBER} runs folded",
     "fold_s": rf"existing: gittrack archive .* folded in {NUMBER} s",
     "fold_rate": rf"existing: gittrack archive .* s \({NUMBER} runs/s\)",
     "packed_after_mb": rf"existing: gittrack archive .* packed-refs {NUMBER} MB after",
     "log_first_s": rf"existing: after the fold, gittrack log .*: {NUMBER} s the first time",
     "log_s": rf"existing: after the fold, gittrack log .* {NUMBER} s warm",
     "search_s": rf"existing: after the fold, search_runs\(filter\): {NUMBER} s",
     "search_rss_mb": rf"existing: after the fold, search_runs.* peak RSS {NUMBER} MB",
     "show_s": rf"existing: after the fold, gittrack show RUN-ID: {NUMBER} s",
     "one_run_ms": rf"existing: after the fold, one more API run: {NUMBER} ms"},
    setup=("make_runs.py", "--runs", "1000000", "--path", "{work}/runs-1m"),
    setup_quick=("make_runs.py", "--runs", "10000", "--path", "{work}/runs-1m")))

# Goals the issues set (not measurements): shown beside the numbers, kept in the results file.
TARGETS = {"import_ms": 300, "log_metric_us": 20, "log_10k_s": 1, "log_100k_s": 1,
           "search_100k_s": 3, "rebuild_100k_s": 60, "registry_s": 0.3, "log_model_s": 0.5,
           "hash_ratio": 0.8, "ui_first_s": 2, "profile_rss_mb": 300, "api_runs_s": 100,
           "late_early_pct": 10, "bulk_runs_s": 2000, "log_artifact_ms": 1, "end_run_ms": 1,
           "push_ratio": 1.3, "push_more_s": 1, "serve_ratio": 10, "serve_big_ratio": 2,
           "serve_first_s": 1, "rollback_s": 2}


@dataclass(frozen=True)
class Row:
    what: str
    gittrack: str
    other: str


ROWS: dict[str, list[Row]] = {
    "table": [
        Row("`import gittrack` (fresh interpreter, best of {tracking.import_repeat:.0f})",
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
        Row("runs through the API: {scale.params:.0f} params, {scale.metrics:.0f} metrics x "
            "{scale.steps:.0f} steps, a new {scale.artifact_kb:.0f} KB artifact each",
            "runs 1-{scale.runs:,.0f}: {scale.early_rate:.1f} runs/s ({scale.early_cpu_rate:.0f} per "
            "CPU second); runs {scale.late_first:,.0f}-{scale.late_last:,.0f}, after "
            "{scale.prefill:,.0f} bulk-written: {scale.late_rate:.1f} runs/s "
            "({scale.late_cpu_rate:.0f} per CPU second); late / early {scale.late_early:.2f} "
            "({scale.late_early_cpu:.2f} per CPU second)",
            ">= {target.api_runs_s} runs/s; late within {target.late_early_pct} % of early"),
        Row("`log_artifact` of a {scale.artifact_kb:.0f} KB file / `end_run`, median in a warm process",
            "{scale.early_log_artifact_ms:.2f} ms / {scale.early_end_run_ms:.2f} ms at "
            "{scale.runs:,.0f} runs, {scale.late_log_artifact_ms:.2f} ms / "
            "{scale.late_end_run_ms:.2f} ms at {scale.late_last:,.0f}",
            "<= {target.log_artifact_ms} ms each"),
        Row("`gittrack.log_runs` (bulk): {bulk.runs:,.0f} finished runs of {bulk.params:.0f} params"
            " + {bulk.metrics:.0f} metrics x {bulk.steps:.0f} point",
            "{bulk.rate:,.0f} runs/s ({bulk.cpu_rate:,.0f} per CPU second); the first "
            "`gittrack log -n 20` after, which adds their summaries to the index: {bulk.log_s:.2f} s",
            ">= {target.bulk_runs_s} runs/s"),
        Row("`gittrack.log_runs` with {scale.metrics:.0f} metrics x {scale.steps:.0f} points a run:"
            " the {scale.prefill:,.0f} runs written before the late API runs above",
            "{scale.prefill_rate:,.0f} runs/s ({scale.prefill_s:,.0f} s)", ""),
        Row("`gittrack log`, fresh process, {tracking.small_runs:,.0f} / {tracking.runs:,.0f} runs",
            "{tracking.log_small_s:.2f} s / {tracking.log_s:.2f} s ({tracking.log_small_first_s:.2f} s"
            " / {tracking.log_first_s:.2f} s the first time, which fills the index)",
            "<= {target.log_10k_s} s"),
        Row("after {tracking.runs:,.0f} runs one after another",
            "{tracking.loose:,.0f} loose objects, {tracking.packs:.0f} packs; `git gc --auto` "
            "{tracking.gc_auto}", "git auto-gcs above {tracking.gc_auto_limit:,.0f} loose objects"),
        Row("{search.runs:,.0f} runs written by the bulk path (make_runs.py): `gittrack log -n 20 "
            "--where ... --sort ...`, fresh process",
            "{search.log_s:.2f} s ({million.log_first_s:.2f} s the first time after they were "
            "written, which adds their summaries to the index)", "<= {target.log_100k_s} s"),
        Row("{search.runs:,.0f} runs: `query_runs()` into a DataFrame, from `import gittrack`",
            "{search.search_all_s:.2f} s", "<= {target.search_100k_s} s"),
        Row("{million.runs:,.0f} runs: MLflow's `search_runs(filter_string=\"{million.filter}\", "
            "search_all_experiments=True)`, from `import gittrack`",
            "{million.search_s:.2f} s, {million.search_rows:,.0f} rows, peak RSS "
            "{million.search_rss_mb:,.0f} MB", "<= {target.search_100k_s} s"),
        Row("{million.runs:,.0f} runs: one more API run ({scale.params:.0f} params, "
            "{scale.metrics:.0f} metrics x {scale.steps:.0f} points, a {scale.artifact_kb:.0f} KB "
            "artifact), start to committed, median of {million.one_run_repeat:.0f}",
            "{million.one_run_ms:.1f} ms", "{million.one_run_small_ms:.1f} ms at "
            "{million.small_runs:,.0f} runs; target: as fast as there"),
        Row("{million_1m.runs:,.0f} runs written by the bulk path (10 experiments, 10 params "
            "and 10 metrics a run): `gittrack log -n 20 --where ... --sort ...`, fresh process",
            "{million_1m.log_s:.2f} s ({million_1m.log_first_s:.2f} s the first time after "
            "they were written, which adds their summaries to the index; "
            "{million_1m.log_after_s:.2f} s after {million_1m.after_runs:.0f} more API "
            "runs); written at {million_1m.write_rate:,.0f} runs/s", "<= {target.log_100k_s} s"),
        Row("{million_1m.runs:,.0f} runs: MLflow's `search_runs(filter_string=..., "
            "search_all_experiments=True)`, from `import gittrack`",
            "{million_1m.search_s:.2f} s, {million_1m.search_rows:,.0f} rows, peak RSS "
            "{million_1m.search_rss_mb:,.0f} MB", "<= {target.search_100k_s} s"),
        Row("`gittrack archive --older-than 0` of {archive.runs:,.0f} bulk-written runs (10 "
            "experiments), pushed before to a bare remote",
            "{archive.folded:,.0f} runs folded in {archive.fold_s:.1f} s; the push that carries "
            "it (10 archives, the run refs pruned there) {archive.carry_s:.1f} s",
            "before / after the fold: packed-refs {archive.packed_before_mb:.1f} / "
            "{archive.packed_after_mb:.2f} MB; the remote advertises {archive.refs_before:,.0f} / "
            "{archive.refs_after:,.0f} refs ({archive.ls_before_s:.2f} / {archive.ls_after_s:.2f} s);"
            " push of 100 more runs {archive.push_before_s:.2f} / {archive.push_after_s:.2f} s; "
            "`log -n 20 --where --sort` {archive.log_before_s:.2f} / {archive.log_after_s:.2f} s"),
        Row("after that fold: `gittrack show RUN-ID` of an archived run / MLflow's "
            "`search_runs(filter)`, fresh process",
            "{archive.show_s:.2f} s / {archive.search_s:.2f} s (peak RSS "
            "{archive.search_rss_mb:,.0f} MB)", ""),
        Row("{archive_1m.runs:,.0f} runs written by the bulk path (as above), folded by "
            "`gittrack archive --older-than 0`",
            "{archive_1m.folded:,.0f} runs in {archive_1m.fold_s:.0f} s "
            "({archive_1m.fold_rate:,.0f} runs/s); packed-refs {archive_1m.packed_before_mb:.0f} "
            "-> {archive_1m.packed_after_mb:.2f} MB",
            "after the fold, fresh process: `log -n 20 --where --sort` {archive_1m.log_s:.2f} s "
            "({archive_1m.log_first_s:.2f} s the first time; {archive_1m.log_before_s:.2f} s "
            "before), `search_runs(filter)` {archive_1m.search_s:.2f} s (peak RSS "
            "{archive_1m.search_rss_mb:,.0f} MB), `show RUN-ID` {archive_1m.show_s:.2f} s, one "
            "more API run {archive_1m.one_run_ms:.1f} ms"),
        Row("{million_1m.runs:,.0f} runs: one more API run, start to committed, median of "
            "{million_1m.one_run_repeat:.0f}", "{million_1m.one_run_ms:.1f} ms",
            "{million_1m.one_run_small_ms:.1f} ms at {million_1m.small_runs:,.0f} runs; target: "
            "as fast as there"),
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
            "plain `git push` of the same refs in the same run: {remote.floor_s:.2f} s / "
            "{remote.floor_more_s:.2f} s ({remote.ratio:.2f}x / {remote.ratio_more:.2f}x); target "
            "<= {target.push_ratio}x / <= {target.push_more_s} s"),
        Row("`gittrack fetch --experiment {remote.experiment}` ({remote.fetch_experiment_runs:,.0f}"
            " of {remote.fetch_total:,.0f} runs) into a fresh clone / the other "
            "{remote.fetch_rest_runs:,.0f}",
            "{remote.fetch_experiment_s:.2f} s / {remote.fetch_rest_s:.2f} s",
            "only that experiment's refs and commits come"),
        Row("`gittrack import mlflow` of an MLflow SQLite store: {mlflow_import.runs:,.0f} runs "
            "({mlflow_import.points:,.0f} metric points, {mlflow_import.artifacts:.0f} artifact "
            "files, nested runs) and {mlflow_import.versions:.0f} registered versions",
            "first import {mlflow_import.first_s:.1f} s; a second {mlflow_import.second_s:.1f} s, "
            "adding {mlflow_import.added:.0f} runs", ""),
        Row("over those imported runs, fresh process: MLflow-shaped `search_runs` with a filter "
            "and a params order", "{mlflow_import.search_s:.2f} s ({mlflow_import.found:,.0f} runs)",
            "`mlflow.search_runs` of the same {mlflow_import.mlflow_search_s:.2f} s"),
        Row("`gittrack serve` vs `mlflow models serve --env-manager local`, the same "
            "{serve.trees:.0f}-tree forest ({serve.columns:.0f} float columns), "
            "{serve.clients:.0f} keep-alive clients, all servers up at once and measured in "
            "{serve.rounds:.0f} interleaved rounds of {serve.seconds:.0f} s",
            "one-row requests: {serve.rps:,.0f} req/s, p99 {serve.p99_ms:,.0f} ms, "
            "{serve.cpu_ms:.2f} ms of server CPU a request ({serve.batch_rows:.1f} rows per "
            "predict call on average); 1,000-row requests: {serve.big_rps:.1f} req/s, p99 "
            "{serve.big_p99_ms:,.0f} ms, {serve.big_cpu_ms:.1f} ms of CPU a request. With "
            "`--workers 2`: {serve.rps_w2:,.0f} / {serve.big_rps_w2:.1f} req/s",
            "MLflow {versions.mlflow}: one-row {serve.rps_mlflow:,.0f} req/s, p99 "
            "{serve.p99_ms_mlflow:,.0f} ms, {serve.cpu_ms_mlflow:.2f} ms of CPU; 1,000-row "
            "{serve.big_rps_mlflow:.1f} req/s, p99 {serve.big_p99_ms_mlflow:,.0f} ms, "
            "{serve.big_cpu_ms_mlflow:.1f} ms of CPU. gittrack: one-row {serve.ratio:.1f}x the "
            "requests/s, {serve.cpu_ratio:.1f}x less CPU a request; 1,000-row "
            "{serve.big_ratio:.1f}x, {serve.big_cpu_ratio:.1f}x less CPU (targets "
            "{target.serve_ratio}x / {target.serve_big_ratio}x the requests/s)"),
        Row("time from `gittrack serve` to its first answer",
            "{serve.first_s:.1f} s for the forest (most of it importing scikit-learn and skops to "
            "load it); {serve.light_first_s:.1f} s for a numpy-only python_function model",
            "MLflow {serve.first_s_mlflow:.1f} s for the forest; target <= {target.serve_first_s} s"),
        Row("a rollback served by a following `gittrack serve` (`--poll-interval "
            "{rollback.poll_s}`, {rollback.clients:.0f} clients sending one-row requests)",
            "{rollback.rollback_s:.2f} s median, {rollback.rollback_max_s:.2f} s at most over "
            "{rollback.cycles:.0f} rollbacks (promotions: {rollback.promote_max_s:.2f} s at most); "
            "{rollback.answers:,.0f} answers meanwhile, {rollback.failed:.0f} failed, "
            "{rollback.wrong:.0f} not of the version named",
            "<= {target.rollback_s} s"),
        Row("`gittrack predict` of a {predict.rows:,.0f} / {predict.big_rows:,.0f}-row CSV "
            "({predict.csv_mb:,.0f} / {predict.big_csv_mb:,.0f} MB, the forest, chunks of "
            "{predict.chunk_rows:,.0f})",
            "{predict.seconds:.1f} s / {predict.big_seconds:.1f} s, peak RSS {predict.rss_mb:,.0f}"
            " / {predict.big_rss_mb:,.0f} MB",
            "`pandas.read_csv` of the whole file alone: {predict.pandas_rss_mb:,.0f} / "
            "{predict.big_pandas_rss_mb:,.0f} MB"),
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
HEADERS = {"table": ("what", "gittrack", "target / incumbent", "load"),
           "startup": ("", "before (eb259f8, flat package)", "after (layers)")}
INTROS = {
    "table": "Measured {meta.date} by `python benchmarks/run.py` ({meta.mode} sizes) on "
             "{machine.nproc} cores ({machine.cpu}) with {machine.memory_gib:.0f} GiB of memory, "
             "shared with other work; Python {versions.python}, git {versions.git}, pygit2 "
             "{versions.pygit2}, dvc-data {versions.dvc-data}, pandas {versions.pandas}; MLflow "
             "{versions.mlflow}, DVCLive {versions.dvclive}, GTO {versions.gto}, Evidently "
             "{versions.evidently}. Each figure is one run's (the script's median or best where it "
             "repeats); every script's output is in "
             "[benchmarks/results/latest.json](benchmarks/results/latest.json). The load column is "
             "the 1-minute load average as the row's benchmark started → as it ended (one pair "
             "for each benchmark the row draws on): the benchmark's own processes count in it, "
             "and above {machine.nproc} processes waited for a core, which stretches wall-clock "
             "figures.",
    "startup": "`python benchmarks/bench_import.py --rev eb259f8` (fresh processes, medians of "
               "{startup.repeat:.0f}; the interpreter alone {startup.floor_ms:.1f} ms; load average "
               "{startup.load:.1f} at the start, {startup.load_end:.1f} at the end), in the same run:",
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
    entry["load_end"] = round(os.getloadavg()[0], 1)
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
    entry = results.get("benchmarks", {}).get(scope, {})
    found = entry.get("numbers", {}).get(key)
    if found is None and key in ENTRY_NUMBERS:
        found = entry.get(key)
    return found


# Numbers every benchmark's entry has, beside the ones its script printed.
ENTRY_NUMBERS = ("load", "load_end", "seconds")
SCOPES = ("meta", "machine", "versions", "targets", "target")


def load_cell(row: Row, results: Mapping[str, Any]) -> str:
    """The load average as the row's benchmarks started and ended ("1.2 → 3.4"), one pair per
    benchmark, in the order the row names them."""
    names: list[str] = []
    for template in (row.what, row.gittrack, row.other):
        for match in FIELD.finditer(template):
            if match.group(1) not in SCOPES and match.group(1) not in names:
                names.append(match.group(1))
    cells = []
    for bench in names:
        start, end = lookup(results, bench, "load"), lookup(results, bench, "load_end")
        if start is None:
            cells.append("(not measured)")
        else:
            cells.append(f"{start:.1f}" if end is None else f"{start:.1f} → {end:.1f}")
    return " / ".join(cells)


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
        if head[-1] == "load":
            cells.append(load_cell(row, results))
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
