"""CLI of artifacts: checkout, artifacts, get, rm, restore, gc. Real git, written then read back."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

import pytest

import gittrack
from gittrack.artifacts import local
from gittrack.core import names
from gittrack.core.records import dump_yaml
from gittrack.core.store import Store, repo_from_env
from gittrack.sharing import trash
from tests.conftest import git

COMMANDS = ("checkout", "artifacts", "get", "rm", "restore", "gc")


def store_of(repo: Path) -> Store:
    return Store(repo_from_env(repo))


def log_files(repo: Path, files: dict[str, bytes], run_name: str | None = None) -> str:
    """One run that logs each file (written into the work tree first); returns its id."""
    with gittrack.start_run(run_name=run_name) as run:
        for rel, data in files.items():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_bytes(data)
            run.log_artifact(repo / rel)
    gittrack.flush()  # the tests read the run commit from the store directly
    return run.id


def corrupt(path: Path) -> None:
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))


def craft_run(repo: Path, artifacts: dict[str, dict[str, object]]) -> str:
    """A run commit written by hand, with a hand-made artifacts.yaml; returns its id."""
    store = store_of(repo)
    run_id = names.new_run_id()
    info = {"id": run_id, "name": "crafted", "experiment": "default", "status": "finished"}
    blobs = {"run.yaml": store.repo.write_blob(dump_yaml(info)),
             "artifacts.yaml": store.repo.write_blob(dump_yaml(artifacts))}
    head = store.repo.head_commit()
    commit = store.write_commit(store.repo.commit_tree(head or ""), head, blobs, "crafted run")
    store.repo.set_ref(names.run_ref("default", run_id), commit)
    return run_id


# ---------------------------------------------------------------- help and errors


@pytest.mark.parametrize("name", COMMANDS)
def test_help_ends_with_an_example(cli, name: str) -> None:  # type: ignore[no-untyped-def]
    result = cli(name, "--help")
    assert result.code == 0
    lines = [line.strip() for line in result.out.splitlines() if line.strip()]
    example = lines.index("Example:")
    assert lines[example + 1].startswith(("gittrack ", "git "))


@pytest.mark.parametrize("args, code, message", [
    (("checkout", "nosuchrun"), 1, "model version 'nosuchrun'"),
    (("checkout",), 1, "HEAD holds no run record"),
    (("artifacts", "nosuchrun"), 1, "model version 'nosuchrun'"),
    (("get", "nosuchrun", "x"), 1, "model version 'nosuchrun'"),
    (("rm", "nosuchrun"), 1, "No run 'nosuchrun'"),
    (("restore", "nosuchrun"), 1, "No run 'nosuchrun' in the trash"),
    (("gc", "--trash-older-than", "-1"), 2, "-1"),
    (("rm",), 2, "Missing argument"),
])
def test_error_paths(repo: Path, cli, args: tuple[str, ...], code: int, message: str) -> None:  # type: ignore[no-untyped-def]
    result = cli(*args)
    assert result.code == code
    assert message in result.err


def test_get_of_a_missing_path_lists_the_artifacts(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    run_id = log_files(repo, {"out/a.txt": b"a"})
    result = cli("get", run_id, "out/b.txt")
    assert result.code == 1 and "it has: out/a.txt" in result.err


# ---------------------------------------------------------------- artifacts, get, checkout


def test_artifacts_lists_pointers_and_get_copies_one(repo: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    run_id = log_files(repo, {"out/a.txt": b"alpha", "out/deep/b.txt": b"beta"})
    result = cli("artifacts", run_id)
    assert result.code == 0
    assert result.out.splitlines()[0].split() == ["path", "kind", "size", "nfiles", "md5"]
    assert hashlib.md5(b"alpha").hexdigest() in result.out
    listed = cli("artifacts", run_id, "--format", "json")
    assert '"path": "out/deep/b.txt"' in listed.out
    assert cli("get", run_id, "out/a.txt", "-o", str(tmp_path / "a.txt")).code == 0
    assert (tmp_path / "a.txt").read_bytes() == b"alpha"
    again = cli("get", run_id, "out/a.txt", "-o", str(tmp_path / "a.txt"))
    assert again.code == 1 and "--force" in again.err


def test_get_reads_one_file_inside_a_directory_artifact(repo: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (repo / "d" / "sub").mkdir(parents=True)
    (repo / "d" / "sub" / "x.bin").write_bytes(b"x" * 10)
    with gittrack.start_run() as run:
        run.log_artifacts(repo / "d")
    assert cli("get", run.id, "d/sub/x.bin", "-o", str(tmp_path)).code == 0
    assert (tmp_path / "x.bin").read_bytes() == b"x" * 10


def test_checkout_keeps_local_edits_unless_forced(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    run_id = log_files(repo, {"out/a.txt": b"original"})
    (repo / "out" / "a.txt").write_bytes(b"edited")
    result = cli("checkout", run_id)
    assert result.code == 1 and "--force" in result.err
    assert (repo / "out" / "a.txt").read_bytes() == b"edited"
    assert cli("checkout", run_id, "--force").code == 0
    assert (repo / "out" / "a.txt").read_bytes() == b"original"
    unchanged = cli("checkout", run_id)
    assert unchanged.code == 0 and "1 unchanged" in unchanged.out


def test_git_checkout_of_a_run_then_checkout_without_run(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    run_id = log_files(repo, {"out/model.bin": os.urandom(1000), "out/b.txt": b"b"})
    wanted = {p: (repo / p).read_bytes() for p in ("out/model.bin", "out/b.txt")}
    for p in wanted:
        (repo / p).unlink()
    ref = git(repo, "for-each-ref", "--format=%(refname)", f"refs/gittrack/runs/*/{run_id}").strip()
    git(repo, "checkout", "-q", "--detach", ref)
    result = cli("checkout")
    assert result.code == 0, result.err
    assert {p: (repo / p).read_bytes() for p in wanted} == wanted


def test_checkout_of_a_registry_tag(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    run_id = log_files(repo, {"out/m.bin": b"model bytes"})
    ref = git(repo, "for-each-ref", "--format=%(objectname)", f"refs/gittrack/runs/*/{run_id}").strip()
    git(repo, "tag", "-a", "m/v1", ref, "-m", "version 1")
    (repo / "out" / "m.bin").unlink()
    assert cli("checkout", "m/v1").code == 0
    assert (repo / "out" / "m.bin").read_bytes() == b"model bytes"


def test_checkout_of_a_model_stage(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    run_id = log_files(repo, {"out/m.bin": b"staged bytes"})
    assert cli("register", "m", f"{run_id}:out/m.bin").code == 0
    assert cli("promote", "m", "v1", "prod").code == 0
    (repo / "out" / "m.bin").unlink()
    assert cli("checkout", "m/prod").code == 0
    assert (repo / "out" / "m.bin").read_bytes() == b"staged bytes"
    missing = cli("checkout", "m/staging")
    assert missing.code == 1 and "Stage 'staging' of model 'm' has no current version" in missing.err


# ---------------------------------------------------------------- safety


@pytest.mark.parametrize("evil, why", [
    ("../../outside/evil.txt", "climbs out with '..'"),
    ("ABSOLUTE", "is absolute"),
    (".git/hooks/post-checkout", "because it opens .git"),
    ("link/evil.txt", "through a symlink"),
])
def test_crafted_unsafe_paths_are_refused_and_nothing_is_written(
        repo: Path, tmp_path: Path, cli, evil: str, why: str) -> None:  # type: ignore[no-untyped-def]
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo / "link").symlink_to(outside)
    pointer = gittrack.start_run().log_text("payload", "payload.txt").to_dict()
    gittrack.end_run()
    evil = str(outside / "abs.txt") if evil == "ABSOLUTE" else evil
    (repo / "payload.txt").unlink(missing_ok=True)
    run_id = craft_run(repo, {evil: pointer, "safe.txt": pointer})
    result = cli("checkout", run_id)
    assert result.code == 1
    assert why in result.err
    assert list(outside.iterdir()) == []
    assert not (repo / "safe.txt").exists() and not (repo / ".git" / "hooks" / "post-checkout").exists()


def test_corrupt_cache_object_is_detected_on_checkout(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    run_id = log_files(repo, {"out/a.bin": os.urandom(5000)})
    cache = local.cache_for(repo_from_env(repo))
    pointer = local.read_pointers(store_of(repo), store_of(repo).repo.resolve_ref(
        store_of(repo).ref_of(run_id) or "") or "")["out/a.bin"]
    corrupt(cache.object_path(pointer.md5))
    (repo / "out" / "a.bin").unlink()
    result = cli("checkout", run_id)
    assert result.code == 1 and "does not match its hash" in result.err
    assert not (repo / "out" / "a.bin").exists()


# ---------------------------------------------------------------- rm, restore, gc


def test_rm_and_restore_round_trip(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    run_id = log_files(repo, {"a.txt": b"a"}, run_name="doomed")
    ref = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/gittrack/runs/").split()
    assert cli("rm", "default/doomed").code == 0
    assert git(repo, "for-each-ref", "refs/gittrack/runs/") == ""
    trashed = git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack/trash/").strip()
    assert trashed == f"refs/gittrack/trash/default/{run_id}"
    assert git(repo, "rev-parse", f"{trashed}^") .strip() == ref[1]
    assert "deleted:" in git(repo, "cat-file", "-p", f"{trashed}:.gittrack/trash/record.yaml")
    assert cli("show", run_id).code == 1
    assert cli("restore", run_id[:8]).code == 0
    assert git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/gittrack/runs/").split() == ref
    assert git(repo, "for-each-ref", "refs/gittrack/trash/") == ""
    git(repo, "fsck", "--no-progress")


def test_gc_dry_run_then_gc_frees_exactly_that(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    shared = os.urandom(3000)
    content = {"a.bin": os.urandom(2000), "shared.bin": shared, "t.bin": os.urandom(1000),
               "c.bin": os.urandom(1000)}
    keep_a = log_files(repo, {"a.bin": content["a.bin"], "shared.bin": shared})
    doomed = log_files(repo, {"b.bin": os.urandom(4000), "shared.bin": shared, "d/x": b"x", "d/y": b"y"})
    tagged = log_files(repo, {"t.bin": content["t.bin"]})
    keep_c = log_files(repo, {"c.bin": content["c.bin"]})
    commit = git(repo, "for-each-ref", "--format=%(objectname)", f"refs/gittrack/runs/*/{tagged}").strip()
    git(repo, "tag", "-a", "m/v1", commit, "-m", "registered")
    assert cli("rm", doomed, tagged).code == 0
    kept = cli("gc", "--dry-run")  # trash younger than 30 days is kept
    assert kept.code == 0 and "Would free 0 object(s)" in kept.out

    dry = cli("gc", "--dry-run", "--trash-older-than", "0")
    assert dry.code == 0
    planned = [line for line in dry.out.splitlines() if line.startswith("would ")]
    cache = local.cache_for(repo_from_env(repo))
    before = {p.parent.name + p.name for p in cache.objects_dir.rglob("*") if p.is_file()}
    real = cli("gc", "--trash-older-than", "0")
    assert real.code == 0
    done = [line for line in real.out.splitlines() if not line[0].isupper()]
    assert [line.removeprefix("would ") for line in planned] == done
    assert dry.out.splitlines()[-1].replace("Would free", "Freed") == real.out.splitlines()[-1]
    freed = {line.split()[1] for line in done if line.startswith("free")}
    after = {p.parent.name + p.name for p in cache.objects_dir.rglob("*") if p.is_file()}
    assert freed and after == before - freed
    assert len(freed) == 3  # b.bin, d/x and d/y; shared.bin and the tagged run stay
    assert any(doomed in line for line in done) and any(tagged in line for line in done)

    for run_id, expected in ((keep_a, ("a.bin", "shared.bin")), (keep_c, ("c.bin",))):
        for p in repo.glob("*.bin"):
            p.unlink()
        assert cli("checkout", run_id).code == 0
        assert sorted(p.name for p in repo.glob("*.bin")) == sorted(expected)
        assert all((repo / n).read_bytes() == content[n] for n in expected)  # the same bytes back
    tag_commit = git(repo, "rev-parse", "m/v1^{commit}").strip()
    assert local.read_pointers(store_of(repo), tag_commit)  # its objects survived:
    (repo / "t.bin").unlink(missing_ok=True)
    assert cli("checkout", "m/v1").code == 0
    assert (repo / "t.bin").read_bytes() == content["t.bin"]
    assert cli("gc", "--dry-run").out.splitlines()[-1].startswith("Would free 0 object(s)")


def test_gc_empties_trash_older_than_the_configured_age(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    old = log_files(repo, {"old.bin": b"old"})
    young = log_files(repo, {"young.bin": b"young"})
    store = store_of(repo)
    now = dt.datetime.now(dt.timezone.utc)
    trash.trash_run(store, old, when=now - dt.timedelta(days=40))
    trash.trash_run(store, young, when=now - dt.timedelta(days=10))
    result = cli("gc")
    assert result.code == 0 and f"empty trash  {old}" in result.out and young not in result.out
    assert "1 run(s) stay in the trash, deleted less than the limit ago" in result.err
    assert "`--trash-older-than 0` empties them now" in result.err
    assert [t.run_id for t in trash.list_trash(store)] == [young]
    (repo / ".gittrack").mkdir(exist_ok=True)
    (repo / ".gittrack" / "config.yaml").write_text("trash_days: 5\n")
    assert trash.trash_days(store) == 5
    result = cli("gc")
    assert f"empty trash  {young}" in result.out and trash.list_trash(store) == []
    (repo / ".gittrack" / "config.yaml").write_text("trash_days: soon\n")
    bad = cli("gc")
    assert bad.code == 1 and "trash_days" in bad.err


def test_gc_removes_model_copies_of_models_nothing_references(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LinearRegression

    x = [[0.0], [1.0], [2.0], [3.0]]
    ids = []
    for slope in (2.0, 3.0):
        with gittrack.start_run() as run:
            gittrack.log_model(LinearRegression().fit(x, [slope * v[0] for v in x]), "model")
        ids.append(run.id)
    keep, doomed = ids
    for run_id in ids:
        assert gittrack.load_model(f"runs:/{run_id}/model").predict([[1.0]])[0] > 0
    copies = repo_from_env(repo).state_dir / "models"
    assert len(list(copies.iterdir())) == 2
    assert cli("rm", doomed).code == 0

    dry = cli("gc", "--dry-run", "--trash-older-than", "0")
    assert dry.code == 0 and len(list(copies.iterdir())) == 2
    planned = [line.split()[-1] for line in dry.out.splitlines()
               if line.startswith("would remove model copy")]
    real = cli("gc", "--trash-older-than", "0")
    assert real.code == 0 and "1 unused model copy(ies)" in real.out.splitlines()[-1]
    removed = [line.split()[-1] for line in real.out.splitlines()
               if line.startswith("remove model copy")]
    assert len(removed) == 1 and removed == planned
    assert [d.name for d in copies.iterdir()] != removed and len(list(copies.iterdir())) == 1
    assert gittrack.load_model(f"runs:/{keep}/model").predict([[1.0]])[0] == pytest.approx(2.0)
    assert "model copy" not in cli("gc", "--trash-older-than", "0").out


def test_checkout_restores_inputs_stored_with_the_run(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    data = repo / "data" / "train.csv"
    data.parent.mkdir()
    data.write_text("x,y\n1,2\n3,4\n")
    original = data.read_bytes()
    with gittrack.start_run() as run:
        gittrack.log_input(data, store=True)
        gittrack.log_input(pd.DataFrame({"a": [1, 2]}), name="frame", store=True)
        gittrack.log_input(repo / "README.md")  # recorded, not stored: never written
    data.write_text("x,y\n9,9\n")
    kept = cli("checkout", run.id)
    assert kept.code == 1 and "data/train.csv" in kept.out + kept.err  # edited: left alone
    assert data.read_text() == "x,y\n9,9\n"
    data.unlink()
    (repo / "README.md").unlink()
    restored = cli("checkout", run.id)
    assert restored.code == 0, restored.err
    assert "restored  data/train.csv" in restored.out
    assert "Not tracked by git: data/train.csv." in restored.err  # a hint, not an error
    assert data.read_bytes() == original
    assert not (repo / "README.md").exists() and not (repo / "frame").exists()
    assert "0 restored" in cli("checkout", run.id).out
    (repo / ".gitignore").write_text("data/\n")
    data.unlink()
    ignored = cli("checkout", run.id)
    assert "restored  data/train.csv" in ignored.out and "Not tracked" not in ignored.err
