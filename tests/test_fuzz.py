"""Fuzz: nothing a user types can break a repository (issue 12).

Hypothesis drives generated inputs (keys, names, values, paths, nesting, numbers, bytes, run
references, filters) through the public API in-process and through the CLI with click's
CliRunner, one fresh repository per example. An input may be refused, but only with a
GittrackError (or click's usage error); anything else fails the test. Each example is a batch
of inputs; after it the run is ended (or abandoned as if its process died) and `log`,
`show`, `experiments` and `start_run` must still work, and everything accepted must read back
as it was stored. A failing input is shrunk to the smallest batch that breaks the repository.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import fractions
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import numpy as np
from click.testing import CliRunner
from conftest import die, make_repo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gittrack
from gittrack import api
from gittrack.cli.main import cli as cli_group
from gittrack.core.errors import GittrackError
from gittrack.core.records import plain
from gittrack.tracking import stack
from gittrack.tracking.active import tag_text

INPUTS_PER_EXAMPLE = int(os.environ.get("GITTRACK_FUZZ_BATCH", "100"))
EXAMPLES = int(os.environ.get("GITTRACK_FUZZ_EXAMPLES", "100"))  # 100 x 100 = 10,000 inputs
COUNT = {"inputs": 0, "examples": 0, "refused": 0}
ROOT: dict[str, Path] = {}  # where the examples' repositories go (removed by pytest later)


class Colour(enum.IntEnum):
    RED = 1


# -- what a user may type -----------------------------------------------------------------
# Every character, surrogates and controls included, and the ones that broke gittrack before.
ANY_CHAR = st.characters(codec=None, categories=None)
TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=12),
    st.sampled_from(["loss\n", "a\ud800b", "x\udcffy", "\x00", "a/b", "a//b", ".", "..",
                     "a/../b", "a/.git/b", ".GIT", "x.tsv/y", " ", " lead", "trail ", "a:b",
                     "tab\t", "\u2028", "\x85", "\ufeff", "é/ü", "null", "true", "~", "- a",
                     "'q'", '"', "#c", "!!python/object:os.system", "%YAML", "---", "-", "1e400",
                     "nan", "-inf", "refs/heads/main", "--help", "-x", "$(touch x)", "a" * 300]),
    # nesting that once reached Python's recursion limit: filters, YAML scalars
    st.sampled_from(["(", "NOT ", "[", "{", "metrics.a > 1 AND ", "- "]).map(lambda s: s * 3000),
)
VALID_KEY = st.from_regex(r"[A-Za-z0-9_\-. :/]{1,12}", fullmatch=True)
KEYS = st.one_of(VALID_KEY, VALID_KEY, TEXT, st.integers(), st.none(), st.binary(max_size=4),
                 st.floats())
NUMBERS = st.one_of(
    st.floats(), st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([400, -400, 5000, 63]).map(lambda e: 10**abs(e) if e > 0 else -(10**-e)),
    st.sampled_from([2**63, -(2**63), 2**63 - 1, True, 0, -0.0, 1e308, -1e308, 5e-324]),
    st.builds(np.float64, st.floats()), st.builds(np.int64, st.integers(-(2**63), 2**63 - 1)),
    st.builds(np.float32, st.floats(width=32)),
    st.builds(fractions.Fraction, st.integers(), st.integers(min_value=1)),
    st.sampled_from([decimal.Decimal("1e400"), decimal.Decimal("NaN"), complex(1, 2), "1.0",
                     None, [1.0], Colour.RED, np.bool_(True), np.array(2.5)]),
)
SCALARS = st.one_of(TEXT, NUMBERS, st.binary(max_size=8),
                    st.datetimes(timezones=st.none() | st.just(dt.timezone.utc)),
                    st.dates(), st.sampled_from([math.nan, math.inf, -math.inf, set(), ()]))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner, inner),
                            st.dictionaries(KEYS, inner, max_size=3)),
    max_leaves=8,
)
STEPS = st.one_of(st.none(), st.integers(-(2**70), 2**70), st.sampled_from([True, 1.5, "3"]))


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def self_referencing() -> Any:
    value: dict[str, Any] = {"x": 1}
    value["self"] = value
    return value


class Special:
    """A value too deep (or cyclic) for Hypothesis to print: built when an input is applied."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return f"Special({self.kind!r})"

    def build(self) -> Any:
        if self.kind == "deep":
            return nested(5000)
        if self.kind == "self":
            return self_referencing()
        if self.kind == "deeplist":
            value: Any = []
            for _ in range(5000):
                value = [value]
            return value
        return {f"k{i}": i for i in range(3000)}


def built(value: Any) -> Any:
    """``value`` with its Special parts built (they sit at the top or one mapping down)."""
    if isinstance(value, Special):
        return value.build()
    if isinstance(value, dict):
        return {k: built(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(built(v) for v in value)
    return value


VALUE = st.one_of(VALUES, st.sampled_from(["deep", "self", "deeplist", "wide"]).map(Special))

# -- the inputs ------------------------------------------------------------------------------
Op = tuple[str, tuple[Any, ...]]
OPS: list[st.SearchStrategy[Op]] = [
    st.tuples(st.just("log_metric"), st.tuples(KEYS, NUMBERS, STEPS)),
    st.tuples(st.just("log_metrics"), st.tuples(st.dictionaries(KEYS, NUMBERS, max_size=3),
                                                STEPS)),
    st.tuples(st.just("log_param"), st.tuples(KEYS, VALUE)),
    st.tuples(st.just("log_params"), st.tuples(st.dictionaries(KEYS, VALUE, max_size=3))),
    st.tuples(st.just("set_tag"), st.tuples(KEYS, VALUE)),
    st.tuples(st.just("log_text"), st.tuples(TEXT, TEXT)),
    st.tuples(st.just("log_dict"), st.tuples(VALUE, TEXT)),
    st.tuples(st.just("untracked"), st.tuples(st.binary(min_size=1, max_size=8))),
    st.tuples(st.just("cli"), st.tuples(st.sampled_from(
        ["show", "log-where", "log-sort", "log-columns", "log-experiment", "diff", "plot",
         "log-param", "models"]), TEXT)),
    st.tuples(st.just("api"), st.tuples(st.sampled_from(
        ["get_run", "search", "order", "set_experiment", "history", "register"]), TEXT)),
]
BATCH = st.tuples(
    st.one_of(st.none(), TEXT),  # run name
    st.one_of(st.none(), TEXT),  # experiment
    st.one_of(st.none(), st.dictionaries(KEYS, VALUE, max_size=2)),  # tags at start
    st.lists(st.one_of(*OPS), min_size=INPUTS_PER_EXAMPLE, max_size=INPUTS_PER_EXAMPLE),
    st.sampled_from(["end", "run.end", "crash", "fail"]),
)


# -- running them ------------------------------------------------------------------------
@contextmanager
def fresh_repo() -> Iterator[Path]:
    if "template" not in ROOT:
        ROOT.setdefault("base", Path(tempfile.mkdtemp(prefix="gittrack-fuzz-")))
        ROOT["template"] = make_repo(ROOT["base"] / "template")
    path = Path(tempfile.mkdtemp(prefix="repo-", dir=ROOT["base"]))
    shutil.copytree(ROOT["template"], path, dirs_exist_ok=True)
    old = os.getcwd()
    try:
        os.chdir(path)
        api.set_tracking_repo(path)
        api._experiment = None
        yield path
    finally:
        while stack.runs:
            stack.runs.pop().end("finished")
        os.chdir(old)
        api.set_tracking_repo(None)


def invoke(*args: str) -> click.testing.Result:
    """The CLI in-process; refusals are fine, any other exception is a failure."""
    result = CliRunner().invoke(cli_group, list(args), catch_exceptions=True)
    exc = result.exception
    if exc is not None and not isinstance(exc, (SystemExit, GittrackError, click.ClickException,
                                                 click.exceptions.Exit)):
        raise AssertionError(f"gittrack {args!r} raised {type(exc).__name__}: {exc}") from exc
    return result


def attempt(action: Callable[[], Any]) -> bool:
    """Run one input; True when accepted, False when refused with a GittrackError."""
    COUNT["inputs"] += 1
    try:
        action()
    except GittrackError:
        COUNT["refused"] += 1
        return False
    return True


class Model:
    """What the run accepted, to compare with what it reads back."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self.tags: dict[str, str] = {}
        self.points: dict[str, list[tuple[int, float]]] = {}


def apply(run: Any, op: Op, model: Model, repo: Path) -> None:
    kind, args = op[0], built(op[1])
    if kind == "log_metric":
        key, value, step = args
        if attempt(lambda: run.log_metric(key, value, step)):
            model.points.setdefault(key, []).append((0 if step is None else int(step),
                                                     float(value)))
    elif kind == "log_metrics":
        metrics, step = args
        if attempt(lambda: run.log_metrics(metrics, step)):
            for key, value in metrics.items():
                model.points.setdefault(key, []).append((0 if step is None else int(step),
                                                         float(value)))
    elif kind == "log_param":
        key, value = args
        if attempt(lambda: run.log_param(key, value)):
            model.params[key] = plain(value)
    elif kind == "log_params":
        (params,) = args
        if attempt(lambda: run.log_params(params)):
            model.params.update({k: plain(v) for k, v in params.items()})
    elif kind == "set_tag":
        key, value = args
        if attempt(lambda: run.set_tag(key, value)):
            model.tags[key] = tag_text(value)
    elif kind == "log_text":
        attempt(lambda: run.log_text(*args))
    elif kind == "log_dict":
        attempt(lambda: run.log_dict(*args))
    elif kind == "untracked":  # a file name that is not UTF-8, for the next run's snapshot
        COUNT["inputs"] += 1
        name = b"u-" + args[0].replace(b"/", b"_").replace(b"\0", b"_")
        (repo / os.fsdecode(name)).write_bytes(b"x")
    elif kind == "cli":
        COUNT["inputs"] += 1
        command, text = args
        cli_input(command, text, run)
    else:
        api_input(args[0], args[1], run)


def cli_input(command: str, text: str, run: Any) -> None:
    forms = {
        "show": ["show", text], "log-where": ["log", "--where", text],
        "log-sort": ["log", "--sort", text], "log-columns": ["log", "--columns", text],
        "log-experiment": ["log", text], "diff": ["diff", run.id, text],
        "plot": ["plot", run.id, "--metric", text, "-o", "plot.html"],
        "log-param": ["log-param", text, text], "models": ["models", "resolve", text],
    }
    invoke(*forms[command])


def api_input(call: str, text: str, run: Any) -> None:
    actions: dict[str, Callable[[], Any]] = {
        "get_run": lambda: gittrack.get_run(text),
        "search": lambda: gittrack.query_runs(filter_string=text, output_format="list"),
        "order": lambda: gittrack.query_runs(order_by=[text], output_format="list"),
        "set_experiment": lambda: gittrack.set_experiment(text),
        "history": lambda: gittrack.metric_history(run.id, [text]),
        "register": lambda: gittrack.register_model(run.id, text),
    }
    attempt(actions[call])


def check_repository(run_id: str | None, model: Model | None) -> None:
    """`log`, `show`, `experiments` and `start_run` work, and what was accepted reads back."""
    for args in (["log"], ["log", "--format", "json"], ["experiments"]):
        result = invoke(*args)
        assert result.exit_code == 0, (args, result.output, result.exception)
    if run_id is not None:
        result = invoke("show", run_id)
        assert result.exit_code == 0, (result.output, result.exception)
        run = gittrack.get_run(run_id)
        assert model is not None
        assert equal(run.params, expected_params(model.params)), (run.params, model.params)
        assert {k: run.tags[k] for k in model.tags} == model.tags
        for key, points in model.points.items():
            history = [(s, v) for s, _t, v in gittrack_history(run_id, key)]
            assert len(history) == len(points), key
            assert all(_same(a, b) for a, b in zip(history, points)), (key, history, points)
    with gittrack.start_run(experiment="after") as probe:
        probe.log_metric("ok", 1.0)


def gittrack_history(run_id: str, key: str) -> list[tuple[int, int, float]]:
    return api.open_store().metric_history(gittrack.get_run(run_id).commit, key)


def expected_params(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        _merge(out, key, value)
    return out


def _merge(into: dict[str, Any], key: str, value: Any) -> None:
    if isinstance(value, dict) and value:
        target = into.setdefault(key, {})
        for k, v in value.items():
            _merge(target, k, v)
    else:
        into[key] = value


def equal(a: Any, b: Any) -> bool:
    """``a == b`` where NaN equals NaN (a param logged as NaN reads back as NaN)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    return bool(a == b) and type(a) is type(b)


def _same(a: tuple[int, float], b: tuple[int, float]) -> bool:
    return a[0] == b[0] and (a[1] == b[1] or (math.isnan(a[1]) and math.isnan(b[1])))


def run_batch(batch: tuple[Any, ...]) -> None:
    name, experiment, tags, ops, ending = batch
    tags = built(tags)
    COUNT["examples"] += 1
    with fresh_repo() as repo:
        run = None
        COUNT["inputs"] += 1
        try:
            run = gittrack.start_run(run_name=name, experiment=experiment, tags=tags)
        except GittrackError:
            COUNT["refused"] += 1
        if run is None:
            run = gittrack.start_run()
        model = Model()
        for op in ops:
            apply(run, op, model, repo)
        end(run, ending)
        check_repository(run.id, model)


def end(run: Any, ending: str) -> None:
    if ending == "end":
        gittrack.end_run()
    elif ending == "run.end":
        run.end()
        assert gittrack.active_run() is None  # run.end() leaves no active run behind
    elif ending == "fail":
        gittrack.end_run("failed")
    else:  # as if the process died: the journal stays, unlocked, and recovery commits it
        die(run)


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(BATCH)
def fuzz_batches(batch: tuple[Any, ...]) -> None:
    run_batch(batch)


def test_ten_thousand_generated_inputs_never_break_the_repository(tmp_path: Path) -> None:
    COUNT.update(inputs=0, examples=0, refused=0)
    ROOT.clear()
    ROOT["base"] = tmp_path  # pytest removes it with its other temporary directories
    fuzz_batches()
    assert COUNT["inputs"] >= 10_000, COUNT
    assert 0 < COUNT["refused"] < COUNT["inputs"], COUNT  # both kinds were exercised
