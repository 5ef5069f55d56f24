"""The registry tag grammar: names and annotations round-trip, and every name is a git ref."""

from __future__ import annotations

import pygit2
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from gittrack.core.errors import InvalidInputError
from gittrack.registry import tags
from gittrack.registry.tags import Event, TagName

models = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}(\.[A-Za-z0-9_-]{1,5}){0,2}",
                       fullmatch=True).filter(lambda m: not m.endswith(".lock"))
stages = st.from_regex(r"[a-z][a-z0-9_-]{0,15}", fullmatch=True).filter(
    lambda s: not tags._VERSION_LIKE.fullmatch(s) and s not in tags.RESERVED_STAGES)
versions = st.integers(min_value=1, max_value=10**6)


@st.composite
def tag_names(draw: st.DrawFn) -> TagName:
    model, version = draw(models), draw(versions)
    if draw(st.booleans()):
        return TagName(model, version)
    return TagName(model, version, draw(stages), draw(st.booleans()),
                   draw(st.integers(min_value=1, max_value=500)))


text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | text
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8)


@st.composite
def events(draw: st.DrawFn) -> Event:
    name = draw(tag_names())
    return Event(
        action=name.action, model=name.model, version=name.version, stage=name.stage,
        run=draw(st.from_regex(r"[0-9a-f]{16}", fullmatch=True)), experiment=draw(text),
        artifact=draw(text), artifact_md5=draw(st.none() | text), actor=draw(text),
        time=tags.now(), seq=draw(st.integers(min_value=1, max_value=10**9)),
        note=draw(st.none() | text),
        gate=draw(st.none() | st.dictionaries(text, json_values, max_size=4)),
        tag=tags.format_tag(name), commit="ab" * 20,
    )


@given(tag_names())
def test_tag_name_round_trips(name: TagName) -> None:
    formatted = tags.format_tag(name)
    assert tags.parse_tag(formatted) == name
    assert pygit2.reference_is_valid_name("refs/tags/" + formatted)


@given(events())
def test_annotation_round_trips(event: Event) -> None:
    message = tags.format_message(event)
    assert tags.is_registry_message(message)
    assert tags.parse_message(message, event.tag, event.commit) == event


@given(events())
def test_annotation_is_yaml_that_reads_the_same_as_the_fast_path(event: Event) -> None:
    body = tags.format_message(event).partition("\n")[2]
    assert yaml.safe_load(body) == tags._fast_body(body)


def test_annotation_written_by_hand_in_block_yaml_is_read() -> None:
    message = ("gittrack-registry/1: promote m v2 to prod\n\naction: promote\nmodel: m\n"
               "version: 2\nstage: prod\nrun: 0123456789abcdef\nexperiment: e\nartifact: model\n"
               "artifact_md5: null\nactor: me\ntime: '2024-01-01T00:00:00.000001+00:00'\nseq: 4\n")
    event = tags.parse_message(message)
    assert (event.action, event.version, event.stage, event.seq) == ("promote", 2, "prod", 4)


@pytest.mark.parametrize("message", [
    "no header\n\naction: promote\n",
    "gittrack-registry/2: future\n\naction: promote\n",
    "gittrack-registry/1: broken\n\naction: [unclosed\n",
    "gittrack-registry/1: list\n\n- a\n- b\n",
    "gittrack-registry/1: partial\n\naction: \"promote\"\nmodel: \"m\"\n",
])
def test_bad_annotations_raise_invalid_input(message: str) -> None:
    with pytest.raises(InvalidInputError):
        tags.parse_message(message)


@pytest.mark.parametrize("text", [
    "m/prod", "m/v0", "m/v01", "m/prod/v1#1", "m/prod/v1#01", "m/v1!", "m/v1#2",
    "m/Prod/v1", "m/v3/v1", "m/latest/v1", "a/b/c/v1", "m/prod/v1!!", "release", "v1.0.0",
    ".m/v1", "m..x/v1", "m.lock/v1", "m/prod/v1#", "/v1",
])
def test_non_registry_names_do_not_parse(text: str) -> None:
    assert tags.parse_tag(text) is None


@pytest.mark.parametrize("text,parts", [
    ("forecaster/v3", TagName("forecaster", 3)),
    ("forecaster/prod/v3", TagName("forecaster", 3, "prod")),
    ("forecaster/prod/v3!", TagName("forecaster", 3, "prod", True)),
    ("forecaster/prod/v3#2", TagName("forecaster", 3, "prod", False, 2)),
    ("forecaster/prod/v3!#4", TagName("forecaster", 3, "prod", True, 4)),
])
def test_documented_examples_parse(text: str, parts: TagName) -> None:
    assert tags.parse_tag(text) == parts
    assert tags.format_tag(parts) == text


@pytest.mark.parametrize("stage", ["v3", "V3", "latest", "Prod", "pro d", "a/b", "", "1st"])
def test_stage_names_that_could_collide_are_refused(stage: str) -> None:
    with pytest.raises(InvalidInputError):
        tags.validate_stage(stage)


@pytest.mark.parametrize("model", ["a/b", "", "-x", ".x", "x..y", "x.lock", "x.", "a b", "é"])
def test_model_names_that_could_collide_are_refused(model: str) -> None:
    with pytest.raises(InvalidInputError):
        tags.validate_model(model)


@pytest.mark.parametrize("raw,number", [(3, 3), ("3", 3), ("v3", 3), ("V12", 12)])
def test_versions_parse(raw: int | str, number: int) -> None:
    assert tags.parse_version(raw) == number


@pytest.mark.parametrize("raw", [0, -1, "v0", "x3", "", True, "3.0"])
def test_bad_versions_raise(raw: object) -> None:
    with pytest.raises(InvalidInputError):
        tags.parse_version(raw)


def test_order_key_breaks_same_sequence_ties_by_time_then_name() -> None:
    base = dict(action="promote", model="m", stage="prod", run="0" * 16, experiment="e",
                artifact="model", artifact_md5=None, actor="a", seq=5, commit="c")
    early = Event(version=1, time="2024-01-01T00:00:00.000001+00:00", tag="m/prod/v1", **base)
    late = Event(version=2, time="2024-01-01T00:00:00.000002+00:00", tag="m/prod/v2", **base)
    same = Event(version=3, time=late.time, tag="m/prod/v3", **base)
    assert sorted([same, late, early], key=Event.order_key) == [early, late, same]


@given(st.from_regex(r"[A-Za-z0-9._-]{1,8}(/[a-z0-9v_-]{1,4})?/v[0-9]{1,3}!?(#[0-9]{1,2})?",
                     fullmatch=True))
def test_parse_accepts_only_names_that_format_writes(text: str) -> None:
    parsed = tags.parse_tag(text)
    if parsed is not None:
        assert tags.format_tag(parsed) == text  # format validates fully, so parse agrees
