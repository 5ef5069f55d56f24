"""What a user types is stored as given, stored losslessly, or refused with one sentence
(issue 12): the inputs that once broke a repository, one by one."""

from __future__ import annotations

import enum
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import git

import gittrack
from gittrack import api
from gittrack.core.errors import GittrackError, InvalidInputError
from gittrack.core.records import load_yaml


def one_sentence(exc: BaseException) -> bool:
    text = str(exc)
    return text.endswith(".") and "\n" not in text and len(text) < 400


def refused(action: Any) -> GittrackError:
    with pytest.raises(GittrackError) as caught:
        action()
    assert one_sentence(caught.value), caught.value
    return caught.value


class Level(enum.IntEnum):
    HIGH = 3


def test_keys_are_matched_as_whole_strings(repo: Path, cli: Any) -> None:
    with gittrack.start_run() as run:
        for key in ("loss\n", "loss\r\n", "a\x00", "\nloss", "a/.git/b", ".GIT/x", "x.tsv/y"):
            refused(lambda k=key: run.log_metric(k, 1.0))
        refused(lambda: run.log_param("p\n", 1))
        refused(lambda: run.set_tag("t\n", "v"))
        run.log_metric("train/loss", 1.0)
    assert cli("log").code == 0 and cli("show", run.id).code == 0


def test_text_that_utf8_cannot_hold_is_refused(repo: Path) -> None:
    with gittrack.start_run() as run:
        refused(lambda: run.set_tag("t", "a\ud800b"))
        refused(lambda: run.log_param("p", {"nested": ["x\udcffy"]}))
        refused(lambda: run.log_text("a\ud800", "notes.txt"))
        refused(lambda: run.log_dict({"k": "\ud800"}, "d.json"))
        run.log_text("bytes \udcff kept", "raw.txt")  # undecodable input: its bytes, exactly
        run.log_dict({"ü": "ok"}, "d.yaml")
    refused(lambda: gittrack.start_run(run_name="a\ud800"))
    refused(lambda: gittrack.set_experiment("x\udcff"))
    store = api.open_store()
    from gittrack.artifacts.local import cache_for

    pointer = gittrack.get_run(run.id).artifacts["raw.txt"]
    assert cache_for(store.repo).object_path(pointer["md5"]).read_bytes() == b"bytes \xff kept"


def test_numbers_beyond_what_a_record_holds_are_refused(repo: Path, cli: Any) -> None:
    with gittrack.start_run() as run:
        refused(lambda: run.log_metric("m", 10**400))
        refused(lambda: run.log_metric("m", 1.0, step=10**30))
        refused(lambda: run.log_metric("m", 1.0, timestamp=-(2**64)))
        refused(lambda: run.log_param("p", 10**5000))
        run.log_param("big", 10**400)  # an int that prints: stored as it is
        run.log_metric("far", 2.0, step=2**62)
        run.log_metric("far", 1.0, step=-(2**62))
    assert gittrack.get_run(run.id).params["big"] == 10**400
    plot = cli("plot", run.id, "--metric", "far", "-o", "far.html")
    assert plot.code == 0, plot.err
    with gittrack.start_run() as single:
        single.log_metric("x", 1e308, step=2**62)  # one point: a zero-width range
    assert cli("plot", single.id, "-o", "one.html").code == 0


def test_values_yaml_cannot_represent_take_their_documented_form(repo: Path) -> None:
    with gittrack.start_run() as run:
        run.log_params({"inf": np.float64("inf"), "level": Level.HIGH, "n": np.int64(7),
                        "arr": np.array([1.5, 2.0]), "t": (1, 2)})
        run.set_tag("np", np.float32(0.5))
    params = gittrack.get_run(run.id).params
    assert math.isinf(params["inf"]) and params["level"] == 3 and params["n"] == 7
    assert params["arr"] == [1.5, 2.0] and params["t"] == [1, 2]
    assert gittrack.get_run(run.id).tags["np"] == "0.5"


def test_cycles_and_deep_nesting_are_refused(repo: Path) -> None:
    cyclic: dict[str, Any] = {}
    cyclic["me"] = cyclic
    deep: Any = 0
    for _ in range(10_000):
        deep = [deep]
    with gittrack.start_run() as run:
        for value in (cyclic, deep, {"a": deep}):
            refused(lambda v=value: run.log_param("p", v))
            refused(lambda v=value: run.set_tag("t", v))
        refused(lambda: run.log_dict(cyclic, "c.json"))
        run.log_param("ok", {"a": {"b": 1}})
    assert gittrack.get_run(run.id).params == {"ok": {"a": {"b": 1}}}


def test_filters_and_scalars_that_nest_too_deep_are_refused(repo: Path, cli: Any) -> None:
    with gittrack.start_run():
        gittrack.log_metric("a", 2.0)
    for where in ("(" * 3000 + "metrics.a > 1" + ")" * 3000, "NOT " * 3000 + "metrics.a > 1",
                  " AND ".join(["metrics.a > 1"] * 3000)):
        result = cli("log", "--where", where)
        assert result.code == 1 and len(result.err) < 400, result.err
    assert cli("log", "--where", "(((metrics.a > 1)))").code == 0
    refused(lambda: gittrack.query_runs(order_by=["(" * 3000]))


def test_run_end_clears_the_active_run(repo: Path) -> None:
    run = gittrack.start_run()
    run.end()
    assert gittrack.active_run() is None
    with gittrack.start_run() as second:  # no "already active" error
        assert gittrack.active_run() is second


def test_arguments_and_file_names_that_are_not_utf8_are_kept_exactly(repo: Path) -> None:
    (repo / "café\udcff.txt".encode("utf-8", "surrogateescape").decode("utf-8",
                                                                         "surrogateescape")
     ).write_bytes(b"x")  # an untracked file whose name is not UTF-8
    name = b"caf\xc3\xa9\xff.txt"
    script = ("import gittrack\n"
              "with gittrack.start_run() as run:\n"
              "    run.log_metric('m', 1.0)\n"
              "print(run.id)\n")
    proc = subprocess.run([sys.executable, "-c", script, b"--path=\xfe\xff"], cwd=repo,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip()
    run = gittrack.get_run(run_id)
    assert run.info["command"][-1] == b"--path=\xfe\xff"
    assert name in run.info["untracked"]
    ref = next(r for r in git(repo, "for-each-ref", "--format=%(refname)").split()
               if r.endswith(run_id))
    raw = git(repo, "show", f"{ref}:.gittrack/run/run.yaml")
    assert "!!binary" in raw and load_yaml(raw)["command"][-1] == b"--path=\xfe\xff"


def test_every_refusal_is_an_invalid_input_error_of_one_sentence(repo: Path) -> None:
    with gittrack.start_run() as run:
        for action in (lambda: run.log_metric(["k"], 1.0), lambda: run.log_metrics([1]),
                       lambda: run.set_tags("t"), lambda: run.log_metric("m", "1.0"),
                       lambda: run.log_metric("m", complex(1, 2))):
            assert isinstance(refused(action), InvalidInputError)
