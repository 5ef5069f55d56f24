"""The record encodings: the fast YAML emitter writes what PyYAML's dumper writes."""

from __future__ import annotations

import math
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gittrack.core.records import RunInfo, dump_yaml, fast_dump_yaml, load_yaml


def real_dump(data: Any, sort_keys: bool) -> bytes:
    text: str = yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=sort_keys, allow_unicode=True,
                          default_flow_style=False, width=1000)
    return text.encode("utf-8")


words = st.from_regex(r"[A-Za-z0-9_./+\-:~]{0,12}", fullmatch=True)
tricky = st.sampled_from(["yes", "No", "on", "OFF", "y", "n", "~", "null", "Null", "1e3", "12e4",
                          "0x1F", "0o17", "0777", "1_000", "12:30", "2024-01-01", "3.11.7",
                          "2026-11-29T13:35:17.031811+00:00", "-", "-x", "+1", ".5", ".inf",
                          "-.nan", "-1", "-c", "--epochs", "-.inf", "_", "/usr/bin/python3", "a:b", "a: b", "it's", "", " x",
                          "ü", "=", "<<", "a/b", "x" * 101, "x" * 129, "1.0e+20", "9a7931e197b58614",
                          "1234567890123456"])
strings = st.one_of(words, tricky, st.text(max_size=5))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), strings)
keys = st.one_of(words, tricky, st.text(max_size=4))
docs = st.recursive(st.dictionaries(keys, scalars, max_size=4),
                    lambda inner: st.dictionaries(
                        keys, st.one_of(scalars, inner, st.lists(scalars, max_size=3),
                                        st.lists(inner, max_size=2)), max_size=4),
                    max_leaves=16)


@settings(max_examples=800, deadline=None)
@given(docs)
def test_the_fast_emitter_writes_what_pyyaml_writes(data: dict[str, Any]) -> None:
    for sort_keys in (True, False):
        assert dump_yaml(data, sort_keys=sort_keys) == real_dump(data, sort_keys), data


def test_a_run_record_renders_as_pyyaml_renders_it() -> None:
    info = RunInfo({"format": 1, "id": "0123456789012345", "name": "brisk-lamb-042",
                    "start_time": "2026-11-29T13:35:17.031811+00:00", "end_time": None,
                    "command": ["/usr/bin/python3", "-c", "--epochs", "10"], "cwd": "/tmp/x:y",
                    "python": "3.11.7", "dirty": True, "untracked": [], "packages": {},
                    "tags": {"team": "ml", "stage": "s1"}, "rmse": math.inf, "tiny": 1e-7})
    assert fast_dump_yaml(info, sort_keys=False) is not None  # written by the fast emitter
    assert dump_yaml(info, sort_keys=False) == real_dump(dict(info), False)
    assert load_yaml(dump_yaml(info, sort_keys=False)) == dict(info)
