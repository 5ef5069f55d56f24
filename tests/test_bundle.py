"""Air-gapped exchange: `gittrack bundle create` and `gittrack bundle import`."""

from __future__ import annotations

import json
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from conftest import git
from test_remote import log_model_run, log_runs, refs

import gittrack

ROOT = Path(__file__).resolve().parents[1]


def cache_files(path: Path) -> set[str]:
    root = path / ".git" / "gittrack" / "cache" / "files" / "md5"
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def manifest(bundle: Path) -> dict:  # type: ignore[type-arg]
    with tarfile.open(bundle) as tar:
        member = tar.extractfile("gittrack-bundle.yaml")
        assert member is not None
        return yaml.safe_load(member.read())  # type: ignore[no-any-return]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A repository with 500 generated runs plus runs with artifacts and a promoted model."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import make_runs

    path = tmp_path / "source"
    make_runs.write_runs(path, 500, 5, seed=3)
    log_runs(path, 3)
    run = log_model_run(path)
    gittrack.register_model(f"runs:/{run}/model", "forecaster")
    gittrack.promote("forecaster", 1, "prod")
    return path


def test_bundles_import_into_an_empty_clone_idempotently(tmp_path: Path, source: Path,
                                                         cli) -> None:  # type: ignore[no-untyped-def]
    first = tmp_path / "first.tar"
    made = cli("--repo", str(source), "bundle", "create", str(first))
    assert made.code == 0, made.err
    assert "504 run(s), 2 tag(s)" in made.out
    target = tmp_path / "target"
    git(tmp_path, "clone", "-q", str(source), str(target))
    assert refs(target, "refs/gittrack") == {}

    imported = cli("--repo", str(target), "bundle", "import", str(first))
    assert imported.code == 0, imported.err
    assert refs(target) == refs(source)
    assert cache_files(target) == cache_files(source)
    git(target, "fsck", "--no-progress")
    resolved = cli("--repo", str(target), "models", "resolve", "forecaster/prod", "--json")
    assert resolved.code == 0, resolved.err
    there = cli("--repo", str(source), "models", "resolve", "forecaster/prod", "--json")
    assert json.loads(resolved.out) == json.loads(there.out)
    assert json.loads(resolved.out)["version"] == 1
    sys.path.insert(0, str(ROOT / "tests"))
    from model_helpers import make_frame

    frame = make_frame(seed=5)
    gittrack.set_tracking_repo(str(source))
    expected = gittrack.load_model("models:/forecaster/prod").predict(frame)
    gittrack.set_tracking_repo(str(target))
    assert list(gittrack.load_model("models:/forecaster/prod").predict(frame)) == list(expected)

    before = (refs(target), cache_files(target))
    again = cli("--repo", str(target), "bundle", "import", str(first))
    assert again.code == 0 and "0 new, 0 updated, 0 removed ref(s), 0 artifact object(s)" in again.out
    assert (refs(target), cache_files(target)) == before

    newer = log_runs(source, 2, experiment="later")
    second = tmp_path / "second.tar"
    assert cli("--repo", str(source), "bundle", "create", str(second), "--since", str(first)).code == 0
    held = manifest(second)
    assert sorted(r.rpartition("/")[2] for r in held["refs"]) == sorted(newer)
    assert len(held["objects"]) == 2 and held["prerequisites"]
    assert second.stat().st_size < first.stat().st_size / 10

    for _ in range(2):
        result = cli("--repo", str(target), "bundle", "import", str(second))
        assert result.code == 0, result.err
    assert refs(target) == refs(source)
    assert cache_files(target) == cache_files(source)
    checked = cli("--repo", str(target), "checkout", newer[0])
    assert checked.code == 0, checked.err
    assert (target / "out" / f"{newer[0]}.txt").read_text() == f"artifact of run 0 {newer[0]} \n"


def test_a_bundle_since_needs_its_predecessor_and_since_a_date(tmp_path: Path, source: Path,
                                                              cli) -> None:  # type: ignore[no-untyped-def]
    first = tmp_path / "first.tar"
    assert cli("--repo", str(source), "bundle", "create", str(first)).code == 0
    log_runs(source, 1, experiment="later")
    second = tmp_path / "second.tar"
    assert cli("--repo", str(source), "bundle", "create", str(second), "--since", str(first)).code == 0
    empty = tmp_path / "empty"
    git(tmp_path, "init", "-q", str(empty))
    refused = cli("--repo", str(empty), "bundle", "import", str(second))
    assert refused.code == 1 and "import the earlier bundle first" in refused.err

    future = cli("--repo", str(source), "bundle", "create", str(tmp_path / "none.tar"),
                 "--since", "2999-01-01")
    assert future.code == 0 and "0 ref(s)" in future.out
    assert manifest(tmp_path / "none.tar")["refs"] == {}
    bad = cli("--repo", str(source), "bundle", "create", str(tmp_path / "x.tar"), "--since", "soon")
    assert bad.code == 1 and "ISO date" in bad.err
    nothing = cli("--repo", str(empty), "bundle", "import", str(tmp_path / "none.tar"))
    assert nothing.code == 0


def test_a_file_that_is_not_a_bundle_is_refused(tmp_path: Path, repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    junk = tmp_path / "junk.tar"
    junk.write_text("not a tar")
    result = cli("bundle", "import", str(junk))
    assert result.code == 1 and "gittrack bundle create" in result.err


@pytest.mark.parametrize("command", [("bundle",), ("bundle", "create"), ("bundle", "import")])
def test_help_ends_with_an_example(cli, command: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    result = cli(*command, "--help")
    usage = result.out.split("Options:")[0].rstrip()
    assert result.code == 0 and usage.splitlines()[-1].strip().startswith("gittrack ")
