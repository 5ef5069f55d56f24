"""The model registry on real git tags: written with gittrack, checked with plain git."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import git, run_python

import gittrack
from gittrack import api
from gittrack.core.errors import InvalidInputError, RegistryError, RunNotFoundError
from gittrack.registry import tags
from gittrack.registry.resolver import Registry, RegistryWarning

ACTOR = "Test User <test@example.com>"


def make_run(name: str, value: float, artifacts: dict[str, str] | None = None,
             experiment: str = "forecasting") -> str:
    """An ended run with metric rmse=value and artifacts ``{path: kind}``; returns its id."""
    arts = {"model": "model"} if artifacts is None else artifacts
    with gittrack.start_run(run_name=name, experiment=experiment) as run:
        run.log_metric("rmse", value)
        for path, kind in arts.items():
            md5 = hashlib.md5(f"{name}/{path}".encode()).hexdigest()
            run.record(["a", path, {"md5": md5 + ("" if kind == "file" else ".dir"),
                                    "size": 1, "nfiles": 1, "kind": kind}])
    return run.id


def register_three(model: str = "forecaster") -> list[str]:
    ids = [make_run(f"r{i}", 10.0 - i) for i in (1, 2, 3)]
    for run_id in ids:
        gittrack.register_model(run_id, model)
    return ids


def tag_refs(repo: Path) -> dict[str, str]:
    out = git(repo, "for-each-ref", "refs/tags", "--format=%(refname) %(objectname)")
    return dict(line.split(" ") for line in out.splitlines())


def resolve_json(cli, ref: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    result = cli("models", "resolve", ref, "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)  # type: ignore[no-any-return]


def test_same_second_promotions_and_rollback_keep_every_event(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    ids = register_three()
    before = tag_refs(repo)
    for version in (1, 2, 3):  # no sleeps: these land within the same second
        gittrack.promote("forecaster", version, "prod")
    assert resolve_json(cli, "forecaster/prod")["version"] == 3

    result = cli("rollback", "forecaster", "prod")
    assert result.code == 0, result.err
    assert "now v2" in result.out
    resolved = resolve_json(cli, "forecaster/prod")
    assert (resolved["version"], resolved["run"]) == (2, ids[1])
    assert resolved["stage_tag"] == "forecaster/prod/v2"

    history = Registry(api.open_store()).history("forecaster")
    assert [(e.action, e.version) for e in history] == [
        ("register", 1), ("register", 2), ("register", 3),
        ("promote", 1), ("promote", 2), ("promote", 3), ("demote", 3)]
    assert [e.seq for e in history] == [1, 2, 3, 4, 5, 6, 7]
    assert all(e.actor == ACTOR and len(e.time.split(".")[1]) == len("123456+00:00")
               for e in history)
    shown = cli("models", "history", "forecaster")
    assert shown.code == 0 and len(shown.out.strip().splitlines()) == 1 + 7
    assert "Test User" in shown.out and "forecaster/prod/v3!" in shown.out

    after = tag_refs(repo)
    assert {k: after[k] for k in before} == before  # nothing deleted or moved
    assert set(after) - set(before) == {f"refs/tags/forecaster/prod/v{n}" for n in (1, 2, 3)} \
        | {"refs/tags/forecaster/prod/v3!"}
    assert "demote" in git(repo, "cat-file", "-p", "forecaster/prod/v3!")
    git(repo, "fsck", "--no-progress")


def test_a_version_promoted_again_after_demotion_gets_a_numbered_tag(repo: Path) -> None:
    register_three()
    for version in (2, 3):
        gittrack.promote("forecaster", version, "prod")
    gittrack.rollback("forecaster", "prod")
    again = gittrack.promote("forecaster", 3, "prod")
    assert again.tag == "forecaster/prod/v3#2"
    assert gittrack.resolve_model_uri("models:/forecaster/prod").version.version == 3
    demoted = gittrack.rollback("forecaster", "prod")
    assert [e.tag for e in demoted] == ["forecaster/prod/v3!#2"]
    assert gittrack.resolve_model_uri("models:/forecaster@prod").version.version == 2


def test_rollback_to_a_version_demotes_everything_above_it(repo: Path) -> None:
    register_three()
    for version in (1, 2, 3):
        gittrack.promote("forecaster", version, "prod")
    demoted = gittrack.rollback("forecaster", "prod", to="v1")
    assert [(e.action, e.version) for e in demoted] == [("demote", 3), ("demote", 2)]
    assert gittrack.get_model_version("forecaster", 1).stages == ("prod",)
    with pytest.raises(RegistryError, match="only active version"):
        gittrack.rollback("forecaster", "prod")
    with pytest.raises(RegistryError, match="not an active version"):
        gittrack.rollback("forecaster", "prod", to=3)
    with pytest.raises(RegistryError, match="no current version"):
        gittrack.rollback("forecaster", "staging")


def test_equal_sequence_numbers_break_ties_the_same_way_everywhere(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    # What two processes (or two clones) writing at the same moment produce: one seq twice.
    register_three()
    registry = Registry(api.open_store())
    model = registry.model("forecaster")
    for version, time in ((3, "2030-01-01T00:00:00.000002+00:00"),
                          (1, "2030-01-01T00:00:00.000001+00:00"),
                          (2, "2030-01-01T00:00:00.000002+00:00")):
        origin = model.versions[version]
        event = tags.Event("promote", "forecaster", version, "prod", origin.run,
                           origin.experiment, origin.artifact, origin.artifact_md5, ACTOR, time,
                           model.next_seq)
        name = tags.format_tag(tags.name_of(event))
        assert registry.repo.create_annotated_tag(name, origin.commit, tags.format_message(event))
    # seq ties; v2 and v3 tie on time too; the tag name decides: forecaster/prod/v3 > .../v2
    assert registry.resolve("forecaster/prod").version == 3
    assert gittrack.resolve_model_uri("models:/forecaster/prod").version.version == 3
    assert resolve_json(cli, "forecaster/prod")["version"] == 3
    assert [m.stages for m in gittrack.list_models()] == [{"prod": 3}]
    assert gittrack.promote("forecaster", 1, "prod").seq == model.next_seq + 1


CHILD = textwrap.dedent("""
    import os, sys, time
    import gittrack
    open(sys.argv[1] + ".ready", "w").close()
    while not os.path.exists(sys.argv[2]):  # a start barrier, not an ordering
        time.sleep(0.001)
    if sys.argv[3] == "promote":
        print(gittrack.promote("forecaster", int(sys.argv[4]), "prod").tag)
    else:
        print(gittrack.register_model(sys.argv[4], "forecaster").tag)
""")


def run_together(repo: Path, jobs: list[list[str]]) -> list[str]:
    go = repo.parent / "go"
    procs = []
    for n, job in enumerate(jobs):
        marker = str(repo.parent / f"child{n}")
        procs.append(subprocess.Popen([sys.executable, "-c", CHILD, marker, str(go), *job],
                                      cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    while not all((repo.parent / f"child{n}.ready").exists() for n in range(len(jobs))):
        if any(p.poll() is not None for p in procs):
            break
    go.touch()
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outs.append(out.strip())
    return outs


def test_two_processes_promoting_at_once_agree_everywhere(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    register_three()
    outs = run_together(repo, [["promote", "1"], ["promote", "2"]])
    assert sorted(outs) == ["forecaster/prod/v1", "forecaster/prod/v2"]
    tag_names = git(repo, "tag", "--list", "forecaster/prod/*").split()
    assert sorted(tag_names) == ["forecaster/prod/v1", "forecaster/prod/v2"]
    history = Registry(api.open_store()).history("forecaster", "prod")
    assert len(history) == 2
    expected = history[-1].version  # the later one in (seq, time, tag) order
    assert gittrack.resolve_model_uri("models:/forecaster/prod").version.version == expected
    assert gittrack.list_models()[0].stages == {"prod": expected}
    assert resolve_json(cli, "forecaster/prod")["version"] == expected
    listed = json.loads(cli("models", "--json").out)
    assert listed[0]["stages"] == {"prod": expected}
    fresh = run_python("import gittrack; print(gittrack.resolve_model_uri("
                       "'models:/forecaster/prod').version.version)", cwd=repo)
    assert fresh.stdout.strip() == str(expected), fresh.stderr


def test_two_processes_registering_at_once_get_distinct_versions(repo: Path) -> None:
    ids = [make_run(f"c{i}", float(i)) for i in (1, 2)]
    outs = run_together(repo, [["register", ids[0]], ["register", ids[1]]])
    assert sorted(outs) == ["forecaster/v1", "forecaster/v2"]
    versions = Registry(api.open_store()).model("forecaster").versions
    assert sorted(v.run for v in versions.values()) == sorted(ids)


def test_foreign_lightweight_and_malformed_tags_are_skipped_with_warnings(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    register_three()
    gittrack.promote("forecaster", 2, "prod")
    git(repo, "tag", "forecaster/prod/v9")
    git(repo, "tag", "-a", "release/v1", "-m", "Release 1")
    git(repo, "tag", "-a", "forecaster/prod/v3", "-m",
        "gittrack-registry/1: promote forecaster v3 to prod\n\naction: [broken\nmodel: {")
    with pytest.warns(RegistryWarning) as caught:
        models = gittrack.list_models()
    text = " ".join(str(w.message) for w in caught)
    for name in ("forecaster/prod/v9", "release/v1", "forecaster/prod/v3"):
        assert name in text
    assert [m.name for m in models] == ["forecaster"]
    assert models[0].stages == {"prod": 2}

    result = cli("models", "resolve", "forecaster/prod", "--json")
    assert result.code == 0 and json.loads(result.out)["version"] == 2
    assert "gittrack: warning:" in result.err and "forecaster/prod/v3" in result.err
    listed = cli("models")
    assert listed.code == 0 and "release/v1" in listed.err
    # The next promotion of v3 steps around the name the broken tag holds.
    with pytest.warns(RegistryWarning):
        assert gittrack.promote("forecaster", 3, "prod").tag == "forecaster/prod/v3#2"


def test_a_tag_whose_annotation_contradicts_its_name_is_skipped(repo: Path) -> None:
    register_three()
    repo_ = api.open_store().repo
    v1 = gittrack.get_model_version("forecaster", 1)
    lying = tags.Event("promote", "forecaster", 1, "prod", v1.run, v1.experiment, v1.artifact,
                       v1.artifact_md5, ACTOR, tags.now(), 99)
    assert repo_.create_annotated_tag("forecaster/staging/v1", v1.commit, tags.format_message(lying))
    with pytest.warns(RegistryWarning, match="unlike its name"):
        assert gittrack.list_models()[0].stages == {}


def test_checkout_of_a_stage_tag_gives_the_run_commit_and_record(repo: Path) -> None:
    ids = register_three()
    gittrack.promote("forecaster", 1, "prod")
    git(repo, "checkout", "-q", "forecaster/prod/v1")
    head = git(repo, "rev-parse", "HEAD").strip()
    assert head == gittrack.get_model_version("forecaster", 1).commit
    record = (repo / ".gittrack" / "run" / "run.yaml").read_text()
    assert f"id: {ids[0]}" in record
    assert (repo / ".gittrack" / "run" / "artifacts.yaml").exists()


def test_clone_brings_the_registry_and_agrees(repo: Path, remote: Path, tmp_path: Path) -> None:
    register_three()
    gittrack.promote("forecaster", 2, "prod")
    git(repo, "push", "-q", str(remote), "refs/tags/*:refs/tags/*")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    out = run_python("import gittrack; r = gittrack.resolve_model_uri('models:/forecaster/prod');"
                     "print(r.version.version, r.commit)", cwd=clone)
    assert out.stdout.split() == ["2", gittrack.get_model_version("forecaster", 2).commit], out.stderr


def test_model_uris_in_every_form(repo: Path) -> None:
    register_three()
    gittrack.promote("forecaster", 2, "prod")
    expected = {"models:/forecaster/prod": 2, "models:/forecaster@prod": 2,
                "models:/forecaster/1": 1, "models:/forecaster/v3": 3,
                "models:/forecaster/latest": 3, "forecaster/prod": 2}
    for uri, version in expected.items():
        commit, path, info = gittrack.resolve_model_uri(uri)
        assert (info.version, path, commit) == (version, "model", info.commit), uri
    for bad in ("models:/forecaster", "models:/a/b/c", "models:/forecaster/Prod", "prod"):
        with pytest.raises(InvalidInputError):
            gittrack.resolve_model_uri(bad)
    with pytest.raises(RegistryError, match="no current version"):
        gittrack.resolve_model_uri("models:/forecaster/staging")
    with pytest.raises(RegistryError, match="no v7"):
        gittrack.resolve_model_uri("models:/forecaster/7")
    with pytest.raises(RegistryError, match="No model 'other'"):
        gittrack.resolve_model_uri("models:/other/prod")


def test_register_picks_the_model_artifact_or_the_given_path(repo: Path) -> None:
    two = make_run("two", 1.0, {"model": "model", "backup": "model", "data.csv": "file"})
    with pytest.raises(RegistryError, match="2 model artifacts"):
        gittrack.register_model(two, "forecaster")
    assert gittrack.register_model(f"{two}:backup", "forecaster").artifact == "backup"
    assert gittrack.register_model(f"runs:/{two}/data.csv", "forecaster").artifact == "data.csv"
    v3 = gittrack.register_model(two, "forecaster", artifact_path="model")
    assert (v3.version, v3.artifact, v3.seq) == (3, "model", 3)
    with pytest.raises(RegistryError, match="already forecaster v3"):
        gittrack.register_model(f"{two}:model", "forecaster")
    with pytest.raises(RegistryError, match="no artifact 'nope'"):
        gittrack.register_model(f"{two}:nope", "forecaster")
    colon = make_run("colon", 1.0, experiment="exp:2024")
    assert gittrack.register_model("exp:2024/colon:model", "other").run == colon


def test_register_refuses_runs_without_a_model_or_still_running(repo: Path) -> None:
    bare = make_run("bare", 1.0, {})
    with pytest.raises(RegistryError, match="no artifacts"):
        gittrack.register_model(bare, "forecaster")
    files = make_run("files", 1.0, {"a.txt": "file"})
    with pytest.raises(RegistryError, match="no model artifact"):
        gittrack.register_model(files, "forecaster")
    with pytest.raises(RunNotFoundError):
        gittrack.register_model("nosuchrun", "forecaster")
    with gittrack.start_run(run_name="live") as live:
        live.record(["a", "model", {"md5": "0" * 32 + ".dir", "size": 1, "nfiles": 1,
                                    "kind": "model"}])
        live.commit()
        with pytest.raises(RegistryError, match="still running"):
            gittrack.register_model(live, "forecaster")


def test_model_names_that_git_could_not_hold_are_refused(repo: Path) -> None:
    run_id = make_run("r", 1.0)
    git(repo, "tag", "taken")
    with pytest.raises(RegistryError, match="A tag named 'taken' exists"):
        gittrack.register_model(run_id, "taken")
    with pytest.raises(InvalidInputError):
        gittrack.register_model(run_id, "team/forecaster")
    gittrack.register_model(run_id, "Forecaster")
    with pytest.raises(RegistryError, match="only in case"):
        gittrack.register_model(run_id, "forecaster")


def test_promote_errors(repo: Path) -> None:
    register_three()
    with pytest.raises(RegistryError, match="No model 'nope'"):
        gittrack.promote("nope", 1, "prod")
    with pytest.raises(RegistryError, match="no v9"):
        gittrack.promote("forecaster", 9, "prod")
    with pytest.raises(InvalidInputError, match="reserved"):
        gittrack.promote("forecaster", 1, "v2")
    gittrack.promote("forecaster", 1, "prod")
    with pytest.raises(RegistryError, match="already the current version"):
        gittrack.promote("forecaster", "v1", "prod")


def test_configured_stages_are_enforced_in_order(repo: Path) -> None:
    register_three()
    (repo / ".gittrack").mkdir(exist_ok=True)
    (repo / ".gittrack" / "config.yaml").write_text(
        "stages: [dev, staging, prod]\npromote_in_order: true\n")
    with pytest.raises(RegistryError, match="not one of the stages"):
        gittrack.promote("forecaster", 1, "qa")
    with pytest.raises(RegistryError, match="promote it to staging first"):
        gittrack.promote("forecaster", 1, "prod")
    for stage in ("dev", "staging", "prod"):
        gittrack.promote("forecaster", 1, stage)
    assert gittrack.get_model_version("forecaster", 1).stages == ("dev", "prod", "staging")
    (repo / ".gittrack" / "config.yaml").write_text("stages: [Prod]\n")
    with pytest.raises(RegistryError, match="'stages' is invalid"):
        gittrack.promote("forecaster", 2, "dev")


def train_and_register(repo: Path) -> dict[int, list[float]]:
    """Two Ridge models logged with log_model and registered as forecaster v1, v2;
    returns each version's predictions on the first 20 rows."""
    from model_helpers import make_frame, make_target
    from sklearn.linear_model import Ridge

    frame = make_frame(200)
    target = make_target(frame)
    expected = {}
    for version, alpha in ((1, 0.1), (2, 50.0)):
        with gittrack.start_run(run_name=f"ridge-{alpha}", experiment="forecasting") as run:
            model = Ridge(alpha=alpha).fit(frame, target)
            gittrack.log_model(model, "model", input_example=frame.head())
        expected[version] = [float(x) for x in model.predict(frame.head(20))]
        assert gittrack.register_model(run.id, "forecaster").version == version
    return expected


PREDICT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    import gittrack
    from model_helpers import make_frame
    model = gittrack.load_model(sys.argv[2])
    print(json.dumps([float(x) for x in model.predict(make_frame(200).head(20))]))
""")


def predict_fresh(repo: Path, uri: str) -> list[float]:
    proc = subprocess.run([sys.executable, "-c", PREDICT, str(Path(__file__).parent), uri],
                          cwd=repo, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def test_load_model_by_stage_in_a_fresh_process_follows_rollback(repo: Path) -> None:
    expected = train_and_register(repo)
    gittrack.promote("forecaster", 1, "prod")
    gittrack.promote("forecaster", 2, "prod")
    assert predict_fresh(repo, "models:/forecaster/prod") == expected[2]
    gittrack.rollback("forecaster", "prod")
    assert predict_fresh(repo, "models:/forecaster/prod") == expected[1]
    assert predict_fresh(repo, "models:/forecaster@prod") == expected[1]
    assert predict_fresh(repo, "models:/forecaster/latest") == expected[2]


def test_checkout_of_a_stage_tag_then_gittrack_checkout_restores_that_model(repo: Path,
                                                                           cli) -> None:  # type: ignore[no-untyped-def]
    expected = train_and_register(repo)
    gittrack.promote("forecaster", 1, "prod")
    git(repo, "checkout", "-q", "forecaster/prod/v1")
    restored = cli("checkout")
    assert restored.code == 0, restored.err
    assert "restored  model" in restored.out
    assert "0 restored" in cli("checkout").out  # hashes verified equal the second time
    local = gittrack.load_model(str(repo / "model"))
    from model_helpers import make_frame

    assert [float(x) for x in local.predict(make_frame(200).head(20))] == expected[1]


def test_the_registry_caches_are_derived_and_can_be_deleted_or_torn(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    register_three()
    gittrack.promote("forecaster", 2, "prod")
    first, shown = gittrack.list_models(), cli("models", "--json").out
    assert json.loads(shown)[0]["shown"][0]["metrics"] == {"rmse": 8.0}  # v2's own record
    folder = api.open_store().repo.state_dir / "registry"
    for name in ("tags-v2.jsonl", "runs-v2.jsonl"):
        cache = folder / name
        assert cache.exists()
        cache.unlink()
        assert gittrack.list_models() == first
        assert cli("models", "--json").out == shown
        cache.write_bytes(cache.read_bytes()[:-40] + b"\n[\"torn\n" + b'["x", 1]\n')
        assert gittrack.list_models() == first
        assert cli("models", "--json").out == shown


def test_reading_the_registry_from_its_caches_loads_neither_libgit2_nor_yaml(repo: Path) -> None:
    register_three()
    gittrack.promote("forecaster", 3, "prod")
    code = ("import sys\n"
            "from gittrack.cli.main import main\n"
            "sys.argv = ['gittrack', *sys.argv[1:]]\n"
            "try:\n"
            "    main()\n"
            "finally:\n"
            "    print(sorted(m for m in ('pygit2', 'yaml') if m in sys.modules), file=sys.stderr)\n")

    def models(*args: str) -> tuple[str, str]:
        proc = subprocess.run([sys.executable, "-c", code, "models", *args], cwd=repo,
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout, proc.stderr.strip()

    cold = models()
    assert cold[1] == "['pygit2', 'yaml']"  # the first read fills the caches from git
    assert models() == (cold[0], "[]")
    resolved = json.loads(models("resolve", "forecaster/prod", "--json")[0])
    assert resolved["version"] == 3 and resolved["artifact_md5"].endswith(".dir")
    assert models("resolve", "forecaster/prod", "--json")[1] == "[]"
