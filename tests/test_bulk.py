"""gittrack.log_runs: many finished runs as one pack and one packed-refs update."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import gittrack
from gittrack.core.errors import InvalidInputError
from tests.conftest import git


def record_blobs(repo: Path, ref: str) -> dict[str, str]:
    """``{path below .gittrack/run: blob id}`` of a run commit, read with plain git."""
    out = git(repo, "ls-tree", "-r", ref, "--", ".gittrack/run/")
    return {line.split("\t")[1].removeprefix(".gittrack/run/"): line.split()[2]
            for line in out.splitlines()}


def test_a_bulk_run_holds_the_bytes_the_tracking_api_writes(repo: Path) -> None:
    with gittrack.start_run(run_name="live", tags={"team": "ml"}) as run:
        run.log_params({"alpha": 0.5, "model": {"depth": 3, "kind": "rf"}})
        for step in range(20):
            run.log_metrics({"loss": 1 / (step + 1), "acc": step / 20}, step=step)
        run.set_tag("note", "first")
    gittrack.flush()  # the final commit, before reading it with plain git
    ref = f"refs/gittrack/runs/default/{run.id}"
    live = record_blobs(repo, ref)
    recorded = gittrack.get_run(run.id)
    history = {k: [(s, t, v) for s, t, v in
                   gittrack.api.open_store().metric_history(recorded.commit, k)]
               for k in ("loss", "acc")}
    git(repo, "update-ref", "-d", ref)  # the same id again, written by the bulk path
    ids = gittrack.log_runs([{
        "id": run.id, "name": "live", "params": {"alpha": 0.5, "model": {"depth": 3, "kind": "rf"}},
        "metrics": history, "tags": {"team": "ml", "note": "first"},
        "start_time": recorded.info["start_time"], "end_time": recorded.info["end_time"],
    }])
    assert ids == [run.id]
    assert record_blobs(repo, ref) == live  # byte for byte, every file of the record
    git(repo, "fsck", "--strict", "--no-progress")


def test_thousands_of_runs_in_one_pack_read_with_plain_git(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    git(repo, "tag", "-a", "release/v1", "-m", "a user's tag")
    git(repo, "pack-refs", "--all")
    objects_before = git(repo, "count-objects", "-v")
    records = [{"name": f"r{i}", "params": {"i": i, "lr": 0.1 * (i % 7)},
                "metrics": {"rmse": 100.0 - i % 50, "loss": [(s, 1_700_000_000_000 + s, 1 / (s + 1))
                                                         for s in range(5)]},
                "tags": {"batch": "b"}} for i in range(3000)]
    ids = gittrack.log_runs(records, experiment="bulk")
    assert len(set(ids)) == 3000
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack/runs/bulk/").split()
    assert sorted(r.rpartition("/")[2] for r in refs) == sorted(ids)
    assert git(repo, "count-objects", "-v").split("\n")[0] == objects_before.split("\n")[0]  # no loose
    # the user's annotated tag kept its peeled line in the rewritten packed-refs
    assert git(repo, "show-ref", "-d", "release/v1").count("\n") == 2
    git(repo, "fsck", "--strict", "--no-progress")
    assert "i: 42" in git(repo, "show", f"refs/gittrack/runs/bulk/{ids[42]}:.gittrack/run/params.yaml")
    assert git(repo, "show", f"refs/gittrack/runs/bulk/{ids[0]}:.gittrack/run/metrics/loss.tsv") \
        .splitlines()[1:3] == ["0\t1700000000000\t1.0", "1\t1700000000001\t0.5"]
    listing = cli("log", "bulk", "--format", "json", "--where", "params.i = 42")
    assert listing.code == 0, listing.err
    (row,) = json.loads(listing.out)
    assert row["name"] == "r42" and row["metrics"]["rmse"] == 58.0 and row["status"] == "finished"
    git(repo, "gc", "--prune=now", "--quiet")
    assert len(git(repo, "for-each-ref", "refs/gittrack/runs/bulk/").splitlines()) == 3000
    frame = gittrack.query_runs("bulk", "metrics.rmse < 52")
    assert sorted(frame["params.i"]) == sorted(i for i in range(3000) if 100 - i % 50 < 52)


def test_bad_input_writes_nothing_of_its_batch(repo: Path) -> None:
    good = {"name": "ok", "metrics": {"rmse": 1.0}}
    for bad, message in [({"metrics": {"rmse": "high"}}, "must be a number"),
                         ({"params": {"bad*key": 1}}, "param"),
                         ({"status": "running"}, "cannot end a run"),
                         ({"start_time": "yesterday"}, "ISO-8601"),
                         ({"colour": "red"}, "unknown field"),
                         ({"id": "XYZ"}, "16 lower-case hex")]:
        with pytest.raises(InvalidInputError, match=message):
            gittrack.log_runs([good, good, bad])
    assert git(repo, "for-each-ref", "refs/gittrack/") == ""
    assert not (repo / ".git" / "packed-refs").exists() or "gittrack" not in \
        (repo / ".git" / "packed-refs").read_text()


def test_an_existing_run_id_is_refused(repo: Path) -> None:
    (first,) = gittrack.log_runs([{"name": "a"}])
    with pytest.raises(gittrack.GittrackError, match="exists already"):
        gittrack.log_runs([{"id": first, "name": "again"}])
    assert len(git(repo, "for-each-ref", "refs/gittrack/runs/").splitlines()) == 1


def test_bulk_runs_note_the_summaries_git_would_give(repo: Path) -> None:
    from gittrack import api
    from gittrack.query import index

    gittrack.log_runs([{"name": f"n{i}", "params": {"i": i, "model": {"depth": i % 3}},
                        "metrics": {"rmse": 1.0 / (i + 1), "loss": [(0, 1_700_000_000_000, 0.5)]},
                        "tags": {"team": "ml"}} for i in range(50)], experiment="noted")
    noted = sorted(line for p in (repo / ".git" / "gittrack" / "index" / f"v{index.INDEX_FORMAT}").glob(
        f"{index.NOTED_PREFIX}*.jsonl") for line in p.read_bytes().splitlines())
    store = api.open_store()
    from_git = index.summarize(store.repo, list(store.refs().values()))
    assert noted == sorted(index.noted_line(s).rstrip(b"\n") for s in from_git)  # byte for byte


def test_a_bulk_write_streams_into_few_packs_and_leaves_nothing_when_it_fails(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gittrack.core import packs

    pack_dir = repo / ".git" / "objects" / "pack"
    before = set(pack_dir.iterdir()) if pack_dir.exists() else set()
    records = [{"name": f"r{i}", "params": {"i": i}, "metrics": {"rmse": float(i)}}
               for i in range(400)]
    # bad input after hundreds of good records: no run, no pack, no temporary file
    with pytest.raises(InvalidInputError, match="must be a number"):
        gittrack.log_runs([*records, {"metrics": {"rmse": "high"}}])
    assert git(repo, "for-each-ref", "refs/gittrack/") == ""
    assert (set(pack_dir.iterdir()) if pack_dir.exists() else set()) == before
    (first,) = gittrack.log_runs([{"name": "a"}])
    with pytest.raises(InvalidInputError, match="given twice"):
        gittrack.log_runs([{"id": "0123456789abcdef"}, {"id": "0123456789abcdef"}])
    # a pack is closed past STREAM_MAX bytes and the next begun; refs go in once, at the end
    monkeypatch.setattr(packs, "STREAM_MAX", 100_000)
    before = set(pack_dir.iterdir())
    ids = gittrack.log_runs(records)
    made = {p for p in pack_dir.iterdir() if p.suffix == ".pack"} - before
    assert 3 <= len(made) <= 400 // 10  # ~600 KB of objects: a pack per 100 KB, not per run
    assert not [p for p in pack_dir.iterdir() if p.name.startswith("tmp")]
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack/runs/").split()
    assert sorted(r.rpartition("/")[2] for r in refs) == sorted([first, *ids])
    git(repo, "fsck", "--strict", "--no-progress")
    assert "i: 399" in git(repo, "show", f"{refs[0].rsplit('/', 1)[0]}/{ids[399]}"
                                         ":.gittrack/run/params.yaml")
