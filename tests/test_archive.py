"""``gittrack archive``: finished runs folded into one ref per experiment stay readable,
resolvable, searchable, removable and pushable; plain git sees one ref and keeps every run."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
from conftest import git, make_repo
from servers import GitDaemon, git_daemon  # noqa: F401 - fixtures

import gittrack
from gittrack.core import archive as core_archive
from gittrack.core.errors import InvalidInputError
from gittrack.core.gitio import Repo
from gittrack.core.store import Store
from gittrack.sharing import archive

NOW = dt.datetime.now(dt.timezone.utc)


def refs(path: Path, prefix: str = "refs/gittrack/") -> dict[str, str]:
    out = git(path, "for-each-ref", "--format=%(refname) %(objectname)", prefix)
    return dict(line.split(" ") for line in out.splitlines() if line)


def runs_of(path: Path, experiment: str = "exp", count: int = 4, value: float = 1.0) -> list[str]:
    gittrack.set_tracking_repo(str(path))
    ids = []
    for i in range(count):
        with gittrack.start_run(experiment=experiment, run_name=f"r{i}") as run:
            gittrack.log_param("i", i)
            gittrack.log_metric("rmse", value + i)
            ids.append(run.id)
    gittrack.flush()  # every run's last commit written (each run's thread writes it)
    return ids


def log_json(cli, path: Path, *args: str) -> list[dict]:  # type: ignore[no-untyped-def]
    result = cli("--repo", str(path), "log", "--format", "json", *args)
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_archive_folds_ended_runs_and_keeps_every_run_readable(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    old = runs_of(repo, count=3)
    time.sleep(0.02)
    cutoff = dt.datetime.now(dt.timezone.utc)
    time.sleep(0.02)
    recent = runs_of(repo, count=1, value=50.0)
    live = gittrack.start_run(experiment="exp", run_name="live")
    before = log_json(cli, repo, "-n", "100")
    assert len(before) == 5

    done = archive.archive_experiments(Store(Repo(repo)), 0, ["exp"], now=cutoff)
    assert [(d.folded, d.total, d.stay) for d in done] == [(3, 3, 2)]
    run_refs = refs(repo, "refs/gittrack/runs/")
    assert sorted(r.rpartition("/")[2] for r in run_refs) == sorted([*recent, live.id])
    assert list(refs(repo, "refs/gittrack/archive/")) == ["refs/gittrack/archive/exp"]

    # plain git: one ref lists the three, and every run commit survives gc and fsck
    tip = refs(repo)["refs/gittrack/archive/exp"]
    listed = {line.split("\t")[0]: line.split("\t")[1] for hh in {i[:2] for i in old}
              for line in git(repo, "show", f"{tip}:runs/{hh}.tsv").splitlines()}
    assert sorted(listed) == sorted(old)
    git(repo, "gc", "-q", "--prune=now")
    git(repo, "fsck", "--no-progress", "--no-dangling")
    for commit in listed.values():
        assert "rmse" in git(repo, "show", f"{commit}:.gittrack/run/metrics.yaml")

    # the same listing, resolution by id, prefix, name and search as before the fold
    live.end()
    after = log_json(cli, repo, "-n", "100")
    assert {r["id"]: r["metrics"]["rmse"] for r in after if r["id"] != live.id} == \
        {r["id"]: r["metrics"]["rmse"] for r in before if r["id"] != live.id}
    assert gittrack.get_run(old[1]).params == {"i": 1}
    shown = cli("--repo", str(repo), "show", old[2][:6])
    assert shown.code == 0 and "rmse" in shown.out
    assert cli("--repo", str(repo), "show", "exp/r0").code == 0
    found = gittrack.search_runs(experiment_names=["exp"], filter_string="metrics.rmse < 2.5")
    assert sorted(found["run_id"]) == sorted(old[:2])
    assert [r["id"] for r in log_json(cli, repo, "--where", "params.i = 2", "-n", "5")] == [old[2]]
    assert cli("--repo", str(repo), "experiments").out.splitlines()[1].split()[:2] == ["exp", "5"]


def test_an_archive_of_nothing_changes_nothing_and_bad_input_is_one_sentence(repo: Path,
                                                                             cli) -> None:  # type: ignore[no-untyped-def]
    gittrack.set_tracking_repo(str(repo))
    live = gittrack.start_run(experiment="exp")
    result = cli("--repo", str(repo), "archive", "--older-than", "0")
    assert result.code == 0 and "folded 0 run(s)" in result.out
    assert refs(repo, "refs/gittrack/archive/") == {}
    live.end()
    dry = cli("--repo", str(repo), "archive", "--older-than", "0", "--dry-run")
    assert "would fold 1 run(s)" in dry.out and refs(repo, "refs/gittrack/archive/") == {}
    missing = cli("--repo", str(repo), "archive", "--older-than", "0", "nope")
    assert missing.code == 1 and missing.err.count("\n") == 1 and "No experiment 'nope'" in missing.err
    negative = cli("--repo", str(repo), "archive", "--older-than", "-1")
    assert negative.code == 2
    with pytest.raises(InvalidInputError):
        archive.archive_experiments(Store(Repo(repo)), -1)


def test_changed_removed_and_restored_archived_runs(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    ids = runs_of(repo, count=3)
    assert cli("--repo", str(repo), "archive", "--older-than", "0").code == 0
    assert refs(repo, "refs/gittrack/runs/") == {}

    # a change after the fold gives the run its own ref again, which wins
    gittrack.MlflowClient().set_tag(ids[0], "reviewed", "yes")
    assert list(refs(repo, "refs/gittrack/runs/")) == [f"refs/gittrack/runs/exp/{ids[0]}"]
    assert gittrack.get_run(ids[0]).tags["reviewed"] == "yes"
    with gittrack.start_run(run_id=ids[1]):
        gittrack.log_metric("later", 7.0)
    assert gittrack.get_run(ids[1]).metrics["later"].value == 7.0
    rows = {r["id"]: r for r in log_json(cli, repo)}
    assert rows[ids[1]]["metrics"]["later"] == 7.0 and len(rows) == 3

    # rm hides an archived run; restore brings it back; gc empties it for good
    assert cli("--repo", str(repo), "rm", ids[2]).code == 0
    assert ids[2] not in {r["id"] for r in log_json(cli, repo)}
    assert cli("--repo", str(repo), "show", ids[2]).code == 1
    assert cli("--repo", str(repo), "restore", ids[2]).code == 0
    assert ids[2] in {r["id"] for r in log_json(cli, repo)}
    assert cli("--repo", str(repo), "rm", ids[2]).code == 0
    assert cli("--repo", str(repo), "gc", "--trash-older-than", "0").code == 0
    assert ids[2] not in {r["id"] for r in log_json(cli, repo)}
    assert cli("--repo", str(repo), "archive", "--older-than", "0").code == 0  # folds ids[0], ids[1]
    assert refs(repo, "refs/gittrack/runs/") == {}
    assert sorted(r["id"] for r in log_json(cli, repo)) == sorted(ids[:2])
    assert gittrack.get_run(ids[0]).tags["reviewed"] == "yes"


def test_gc_keeps_the_artifacts_of_archived_runs(repo: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    gittrack.set_tracking_repo(str(repo))
    data = tmp_path / "weights.bin"
    data.write_bytes(b"weights " * 1000)
    with gittrack.start_run(experiment="exp") as run:
        gittrack.log_artifact(str(data))
    assert cli("--repo", str(repo), "archive", "--older-than", "0").code == 0
    collected = cli("--repo", str(repo), "gc")
    assert collected.code == 0 and "Freed 0 object(s)" in collected.out
    out = tmp_path / "back"
    assert cli("--repo", str(repo), "get", run.id, "weights.bin", "-o", str(out)).code == 0
    assert out.read_bytes() == data.read_bytes()


def test_the_summary_cache_follows_archives_and_removals(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    ids = runs_of(repo, count=5)
    git(repo, "pack-refs", "--all")
    assert len(log_json(cli, repo)) == 5
    assert cli("--repo", str(repo), "archive", "--older-than", "0").code == 0
    cache = repo / ".git" / "gittrack" / "index" / "v3" / "refs.cache"
    first = log_json(cli, repo)
    assert cache.is_file() and len(first) == 5
    assert log_json(cli, repo) == first  # read through the cache
    assert cli("--repo", str(repo), "rm", ids[3]).code == 0
    assert sorted(r["id"] for r in log_json(cli, repo)) == sorted(ids[:3] + ids[4:])
    git(repo, "update-ref", "-d", f"refs/gittrack/trash/exp/{ids[3]}")
    assert len(log_json(cli, repo)) == 5  # nothing hides it any more


def test_hostile_archive_lines_are_ignored(repo: Path) -> None:
    ids = runs_of(repo, count=2)
    store = Store(Repo(repo))
    commits = {i: store.commit_of(f"refs/gittrack/runs/exp/{i}") for i in ids}
    one = next(iter(commits.values()))
    shard = (b"../../etc\tpasswd\n" + b"0" * 16 + b"\t" + b"z" * 40 + b"\n"
             + f"{'f' * 16}\t{one}\n{'0' * 15}a\t{one}\n".encode())
    files = {"runs/00.tsv": store.repo.write_blob(shard),
             "runs/zz.tsv": store.repo.write_blob(f"zz{'0' * 14}\t{one}\n".encode()),
             "runs/deep/00.tsv": store.repo.write_blob(f"{'0' * 15}b\t{one}\n".encode())}
    tip = store.repo.write_commit(store.repo.write_tree(files), None, "hostile\n")
    # a path name, a bad commit id, an id in the wrong shard and shards not named <hh>.tsv
    # are all left out: only the one well-formed line counts
    assert core_archive.read(store.repo, tip) == {"0" * 15 + "a": one}
    assert core_archive.lookup(store.repo, tip, "f" * 16) is None
    assert core_archive.lookup(store.repo, tip, "0" * 15 + "b") is None
    # an id listed twice counts by its last well-formed line, for the map and the lookup
    other = list(commits.values())[-1]
    twice = f"{'0' * 16}\t{one}\n{'0' * 16}\t{other}\n{'0' * 16}\tnot-a-commit\n".encode()
    tip = store.repo.write_commit(store.repo.write_tree(
        {"runs/00.tsv": store.repo.write_blob(twice)}), None, "twice\n")
    assert core_archive.read(store.repo, tip) == {"0" * 16: other}
    core_archive._MAPS.clear()  # the lookup reads the shard itself, not the map
    assert core_archive.lookup(store.repo, tip, "0" * 16) == other


def test_archives_travel_fold_on_both_sides_and_merge_when_diverged(
        tmp_path: Path, git_daemon: GitDaemon, cli) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    url = git_daemon.bare("team.git")
    bare = git_daemon.base / "team.git"
    a = make_repo(tmp_path / "a")
    git(a, "remote", "add", "origin", url)
    first = runs_of(a, count=4)
    assert cli("--repo", str(a), "push").code == 0
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", url, str(b))
    assert cli("--repo", str(b), "pull").code == 0
    assert len(refs(b, "refs/gittrack/runs/")) == 4

    # a folds and pushes: the remote keeps one archive ref and no run ref of those runs
    assert cli("--repo", str(a), "archive", "--older-than", "0").code == 0
    pushed = cli("--repo", str(a), "push")
    assert pushed.code == 0, pushed.err
    assert refs(bare, "refs/gittrack/runs/") == {}
    assert refs(bare, "refs/gittrack/archive/") == refs(a, "refs/gittrack/archive/")
    git(bare, "fsck", "--no-progress", "--no-dangling")

    # b pulls: its own run refs fold too, and every run reads as before
    assert cli("--repo", str(b), "pull").code == 0
    assert refs(b, "refs/gittrack/runs/") == {}
    assert sorted(r["id"] for r in log_json(cli, b)) == sorted(first)

    # a fresh clone fetching one experiment gets the archive and every run in it
    c = tmp_path / "c"
    git(tmp_path, "clone", "-q", url, str(c))
    assert cli("--repo", str(c), "pull", "--experiment", "exp").code == 0
    assert sorted(r["id"] for r in log_json(cli, c)) == sorted(first)
    assert gittrack.get_run(first[0]).params == {"i": 0}

    # diverged archives: both clones fold new runs; the second push waits, pulls and merges
    gittrack.set_tracking_repo(str(a))
    more_a = runs_of(a, count=2, value=10.0)
    more_b = runs_of(b, count=2, value=20.0)
    for path in (a, b):
        assert cli("--repo", str(path), "archive", "--older-than", "0").code == 0
    assert cli("--repo", str(a), "push").code == 0
    behind = cli("--repo", str(b), "push")
    assert "pull" in behind.out + behind.err
    assert cli("--repo", str(b), "pull").code == 0
    assert cli("--repo", str(b), "push").code == 0
    assert cli("--repo", str(a), "pull").code == 0
    everything = sorted(first + more_a + more_b)
    for path in (a, b):
        assert sorted(r["id"] for r in log_json(cli, path)) == everything
        assert refs(path, "refs/gittrack/runs/") == {}
    assert refs(a, "refs/gittrack/archive/") == refs(b, "refs/gittrack/archive/") == \
        refs(bare, "refs/gittrack/archive/")
    tip = refs(bare)["refs/gittrack/archive/exp"]
    assert len(git(bare, "show", "-s", "--format=%P", tip).split()) == 2  # the merge
    assert refs(bare, "refs/gittrack/runs/") == {}

    # a stale run ref a colleague pushes again does not come back into a clone
    stale = tmp_path / "stale"
    git(tmp_path, "init", "-q", "--bare", str(stale))
    git(a, "push", "-q", str(stale), f"{Store(Repo(a)).commit_of(f'refs/gittrack/runs/exp/{first[0]}')}"
        f":refs/gittrack/runs/exp/{first[0]}")
    git(bare, "fetch", "-q", str(stale), "refs/gittrack/runs/*:refs/gittrack/runs/*")
    assert cli("--repo", str(a), "pull").code == 0
    assert refs(a, "refs/gittrack/runs/") == {}
    assert cli("--repo", str(a), "push").code == 0
    assert refs(bare, "refs/gittrack/runs/") == {}  # and the next push removes it there


def test_a_big_fold_is_deleted_on_the_remote_by_one_prune_and_nothing_else_goes(
        tmp_path: Path, remote: Path, cli) -> None:  # type: ignore[no-untyped-def]
    a = make_repo(tmp_path / "a")
    git(a, "remote", "add", "origin", str(remote))
    gittrack.set_tracking_repo(str(a))
    records = [{"name": f"r{i}", "params": {"i": i}, "metrics": {"rmse": float(i)},
                "start_time": "2026-01-01T00:00:00+00:00", "end_time": "2026-01-01T00:01:00+00:00"}
               for i in range(150)]
    ids = gittrack.log_runs(records, experiment="big")
    other = gittrack.log_runs(records[:3], experiment="other")
    assert cli("--repo", str(a), "push").code == 0
    # refs under the same experiment the fold must not touch: a name that is no run id, and a
    # run this clone has not fetched
    head = git(a, "rev-parse", "HEAD").strip()
    git(remote, "update-ref", "refs/gittrack/runs/big/not-a-run", head)
    stranger = "f" * 16
    git(remote, "update-ref", f"refs/gittrack/runs/big/{stranger}",
        Store(Repo(a)).commit_of(f"refs/gittrack/runs/big/{ids[0]}"))
    recent = gittrack.log_runs([{**records[0], "end_time": NOW.isoformat()}], experiment="big")

    folded = archive.archive_experiments(Store(Repo(a)), 30, ["big"])
    assert folded[0].folded == 150 and folded[0].stay == 1
    pushed = cli("--repo", str(a), "push")
    assert pushed.code == 0, pushed.err
    assert "150 deletion(s)" in pushed.out
    left = sorted(refs(remote, "refs/gittrack/runs/"))
    assert left == sorted([f"refs/gittrack/runs/big/{recent[0]}", "refs/gittrack/runs/big/not-a-run",
                           f"refs/gittrack/runs/big/{stranger}",
                           *(f"refs/gittrack/runs/other/{i}" for i in other)])
    git(remote, "fsck", "--no-progress", "--no-dangling")
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(remote), str(b))
    assert cli("--repo", str(b), "pull").code == 0
    assert len(log_json(cli, b, "big", "-n", "1000")) == 152  # 150 archived, the recent one, f*16


def test_removing_and_restoring_an_archived_run_travel(tmp_path: Path, remote: Path,
                                                       cli) -> None:  # type: ignore[no-untyped-def]
    a = make_repo(tmp_path / "a")
    git(a, "remote", "add", "origin", str(remote))
    ids = runs_of(a, count=3)
    assert cli("--repo", str(a), "archive", "--older-than", "0").code == 0
    assert cli("--repo", str(a), "rm", ids[0]).code == 0
    assert cli("--repo", str(a), "push").code == 0
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(remote), str(b))
    assert cli("--repo", str(b), "pull").code == 0
    assert sorted(r["id"] for r in log_json(cli, b)) == sorted(ids[1:])  # removed there too
    assert cli("--repo", str(b), "restore", ids[0]).code == 0
    assert cli("--repo", str(b), "push").code == 0
    assert f"refs/gittrack/trash/exp/{ids[0]}" not in refs(remote)
    c = tmp_path / "c"
    git(tmp_path, "clone", "-q", str(remote), str(c))
    assert cli("--repo", str(c), "pull").code == 0
    assert sorted(r["id"] for r in log_json(cli, c)) == sorted(ids)  # restored everywhere


def test_a_bundle_carries_archived_runs_and_their_artifacts(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    a = make_repo(tmp_path / "a")
    gittrack.set_tracking_repo(str(a))
    data = tmp_path / "model.bin"
    data.write_bytes(b"model bytes " * 500)
    with gittrack.start_run(experiment="exp") as run:
        gittrack.log_artifact(str(data))
    ids = [run.id, *runs_of(a, count=2)]
    assert cli("--repo", str(a), "archive", "--older-than", "0").code == 0
    bundle = tmp_path / "runs.tar"
    made = cli("--repo", str(a), "bundle", "create", str(bundle))
    assert made.code == 0 and "3 run(s)" in made.out, made.out + made.err
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(a), str(b))
    assert cli("--repo", str(b), "bundle", "import", str(bundle)).code == 0
    assert sorted(r["id"] for r in log_json(cli, b)) == sorted(ids)
    assert refs(b, "refs/gittrack/runs/") == {}
    out = tmp_path / "back.bin"
    assert cli("--repo", str(b), "get", run.id, "model.bin", "-o", str(out)).code == 0
    assert out.read_bytes() == data.read_bytes()


def test_a_run_changed_while_it_is_folded_keeps_its_ref(repo: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    ids = runs_of(repo, count=3)
    git(repo, "pack-refs", "--all")
    git(repo, "tag", "-a", "v1", "-m", "a user's annotated tag")
    git(repo, "pack-refs", "--all")
    moved = f"refs/gittrack/runs/exp/{ids[1]}"
    newer = git(repo, "commit-tree", "-p", "HEAD", "-m", "newer record",
                git(repo, "rev-parse", f"{moved}^{{tree}}").strip()).strip()
    real_write = core_archive.write

    def write_then_move(*args, **kwargs):  # type: ignore[no-untyped-def]
        commit = real_write(*args, **kwargs)
        git(repo, "update-ref", moved, newer)  # another process updates the run meanwhile
        return commit

    monkeypatch.setattr(core_archive, "write", write_then_move)
    done = archive.archive_experiments(Store(Repo(repo)), 0, ["exp"])
    assert (done[0].folded, done[0].moved) == (3, 1)
    assert refs(repo, "refs/gittrack/runs/") == {moved: newer}  # it stays, and wins
    assert Store(Repo(repo)).refs("exp")[moved] == newer
    assert git(repo, "show-ref", "-d", "v1").count("\n") == 2  # the tag kept its peeled line
    git(repo, "fsck", "--no-progress", "--no-dangling")


def test_the_refs_cache_holds_when_an_archived_run_gets_its_ref_back(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gittrack.query.index import REFS_CACHE, Index

    ids = runs_of(repo, count=6)
    assert archive.archive_experiments(Store(Repo(repo)), 0)[0].folded == 6
    gittrack.MlflowClient().set_tag(ids[2], "reviewed", "yes")  # a loose ref wins now
    gittrack.flush()
    store = Store(Repo(repo))
    index = Index(store)
    index.clear()  # an index made since: the record the loose ref overrides is not in it
    table, rows = index.runs()
    assert sorted(table.take("run_id", rows.tolist())) == sorted(ids)
    assert (index.dir / REFS_CACHE).is_file()  # written although a loose ref overrides one
    with monkeypatch.context() as patched:  # and read: no listing of every run
        patched.setattr(Store, "refs", lambda *a: pytest.fail("refs were listed"))
        table, rows = Index(store).runs()
        assert sorted(table.take("run_id", rows.tolist())) == sorted(ids)
        tags = dict(zip(table.take("run_id", rows.tolist()), table.take("tags.reviewed",
                                                                       rows.tolist())))
        assert tags[ids[2]] == "yes"


def test_a_pulled_archive_that_does_not_keep_its_runs_is_refused(tmp_path: Path, remote: Path,
                                                                   cli) -> None:  # type: ignore[no-untyped-def]
    a = make_repo(tmp_path / "a")
    git(a, "remote", "add", "origin", str(remote))
    ids = runs_of(a, count=2)
    assert cli("--repo", str(a), "push").code == 0
    # a colleague writes, with plain git, an archive listing a's run but keeping nothing
    commit = Store(Repo(a)).commit_of(f"refs/gittrack/runs/exp/{ids[0]}")
    evil = Repo(make_repo(tmp_path / "evil"))
    shard = evil.write_blob(f"{ids[0]}\t{commit}\n".encode())
    tip = evil.write_commit(evil.write_tree({f"runs/{ids[0][:2]}.tsv": shard}), None, "archive\n")
    git(tmp_path / "evil", "push", "-q", str(remote), f"{tip}:refs/gittrack/archive/exp")

    pulled = cli("--repo", str(a), "pull")
    assert pulled.code == 0 and "Refused refs/gittrack/archive/exp" in pulled.out + pulled.err
    assert f"refs/gittrack/runs/exp/{ids[0]}" in refs(a)  # not folded
    assert "refs/gittrack/archive/exp" not in refs(a)
    git(a, "gc", "-q", "--prune=now")
    assert gittrack.get_run(ids[0]).params == {"i": 0}
    pushed = cli("--repo", str(a), "push")  # and the remote's run refs are not deleted for it
    assert pushed.code == 0 and "0 deletion(s)" in pushed.out, pushed.out + pushed.err
    assert f"refs/gittrack/runs/exp/{ids[0]}" in refs(remote)


def test_a_fold_leaves_another_writers_lock_on_packed_refs(repo: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from gittrack.core import packs

    runs_of(repo, count=2)
    git(repo, "pack-refs", "--all")
    lock = repo / ".git" / "packed-refs.lock"
    real_replace = os.replace

    def replace_then_another_writer_locks(src, dst):  # type: ignore[no-untyped-def]
        real_replace(src, dst)
        if str(dst).endswith("packed-refs"):
            lock.write_text("another writer's rewrite\n")

    monkeypatch.setattr(packs.os, "replace", replace_then_another_writer_locks)
    archive.archive_experiments(Store(Repo(repo)), 0)
    assert lock.read_text() == "another writer's rewrite\n"  # not ours to remove


def test_removed_archived_runs_do_not_block_a_push_or_hide_their_experiment(
        tmp_path: Path, remote: Path, cli) -> None:  # type: ignore[no-untyped-def]
    a = make_repo(tmp_path / "a")
    git(a, "remote", "add", "origin", str(remote))
    gittrack.set_tracking_repo(str(a))
    for i in range(2):
        data = tmp_path / f"w{i}.bin"
        data.write_bytes(f"weights {i} ".encode() * 300)
        with gittrack.start_run(experiment="exp") as run:
            gittrack.log_artifact(str(data))
            if i == 0:
                gone = run.id
    gittrack.flush()
    assert cli("--repo", str(a), "archive", "--older-than", "0").code == 0
    assert cli("--repo", str(a), "rm", gone).code == 0
    assert cli("--repo", str(a), "gc", "--trash-older-than", "0").code == 0
    pushed = cli("--repo", str(a), "push")
    assert pushed.code == 0, pushed.err
    made = cli("--repo", str(a), "bundle", "create", str(tmp_path / "b.tar"))
    assert made.code == 0 and "1 run(s)" in made.out and "missing" not in made.err.lower()
    # runs of the experiment that were never folded are removed: the archived one still shows
    newer = runs_of(a, count=2)
    for run_id in newer:
        assert cli("--repo", str(a), "rm", run_id).code == 0
    assert "exp" in Store(Repo(a)).experiments()
    assert len(gittrack.search_runs(experiment_names=["exp"])) == 1


def test_archive_refs_gittrack_would_not_name_are_ignored_and_refused(
        tmp_path: Path, remote: Path, cli) -> None:  # type: ignore[no-untyped-def]
    a = make_repo(tmp_path / "a")
    git(a, "remote", "add", "origin", str(remote))
    ids = runs_of(a, count=2)
    assert cli("--repo", str(a), "archive", "--older-than", "0").code == 0
    tip = refs(a)["refs/gittrack/archive/exp"]
    for alias in ("e%ZZ", "%00x", "A%2Fb", "%2E%2E", "ex%70"):
        git(a, "update-ref", f"refs/gittrack/archive/{alias}", tip)
    assert sorted(r["id"] for r in log_json(cli, a)) == sorted(ids)  # each run once
    git(a, "push", "-q", str(remote), "refs/gittrack/archive/*:refs/gittrack/archive/*")
    b = make_repo(tmp_path / "b")
    git(b, "remote", "add", "origin", str(remote))
    pulled = cli("--repo", str(b), "pull")
    assert pulled.code == 0 and pulled.out.count("Refused refs/gittrack/archive/") + \
        pulled.err.count("Refused refs/gittrack/archive/") == 5
    assert sorted(r["id"] for r in log_json(cli, b)) == sorted(ids)


def test_an_age_that_is_no_number_of_days_is_one_sentence(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    runs_of(repo, count=1)
    for bad in ("nan", "inf", "1e300"):
        result = cli("--repo", str(repo), "archive", "--older-than", bad)
        assert result.code == 1 and "number of days" in result.err and "Traceback" not in result.err
    assert refs(repo, "refs/gittrack/archive/") == {}
