"""Sharing: push, pull and fetch of runs, registry tags and artifacts, against real servers.

git remotes are bare repositories served by `git daemon` (git://) or plain paths; the
artifact remote is moto's S3 server or a directory. Everything is checked with plain git.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import git, make_repo, run_python
from servers import (  # noqa: F401 - fixtures
    S3,
    GitDaemon,
    env_with_gittrack,
    git_daemon,
    s3,
    s3_keys,
    s3_object,
)

import gittrack

TESTS = Path(__file__).parent


# ---------------------------------------------------------------- helpers


def project(path: Path, artifact_remote: str | None, origin: str | None = None) -> Path:
    """A gittrack project with a committed config naming the artifact remote."""
    make_repo(path)
    (path / ".gittrack").mkdir()
    (path / ".gittrack" / "config.yaml").write_text(
        f"format: 1\ndefault_experiment: default\nartifact_remote: {artifact_remote or 'null'}\n")
    git(path, "add", ".gittrack/config.yaml")
    git(path, "commit", "-q", "-m", "gittrack config")
    if origin is not None:
        git(path, "remote", "add", "origin", origin)
        git(path, "push", "-q", "origin", "HEAD:refs/heads/main")
    return path


def clone(url: str, path: Path) -> Path:
    git(path.parent, "clone", "-q", url, str(path))
    return path


def log_runs(path: Path, count: int, experiment: str = "exp", tag: str = "") -> list[str]:
    """``count`` finished runs, each with a param, a metric and a small artifact file."""
    gittrack.set_tracking_repo(str(path))
    data = path.parent / f"data-{path.name}"
    data.mkdir(exist_ok=True)
    ids = []
    for i in range(count):
        with gittrack.start_run(experiment=experiment) as run:
            gittrack.log_param("i", i)
            gittrack.log_metric("rmse", 100.0 + i)
            f = data / f"{tag}{run.id}.txt"
            f.write_text(f"artifact of run {i} {run.id} {tag}\n")
            gittrack.log_artifact(str(f), artifact_path="out")
            ids.append(run.id)
    return ids


def log_model_run(path: Path, seed: int = 0) -> str:
    """A run holding a scikit-learn model artifact at ``model``."""
    from sklearn.linear_model import Ridge

    sys.path.insert(0, str(TESTS))
    from model_helpers import make_frame, make_target

    gittrack.set_tracking_repo(str(path))
    frame = make_frame(seed=seed)
    with gittrack.start_run(experiment="models") as run:
        model = Ridge(alpha=0.5 + seed).fit(frame, make_target(frame))
        gittrack.log_model(model, "model", input_example=frame.head(3))
        return run.id


def cache_objects(path: Path) -> dict[str, bytes]:
    """Every object file of a repository's artifact cache: {relative path: bytes}."""
    root = path / ".git" / "gittrack" / "cache" / "files" / "md5"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def refs(path: Path, *prefixes: str) -> dict[str, str]:
    out = git(path, "for-each-ref", "--format=%(refname) %(objectname)",
              *(prefixes or ("refs/gittrack", "refs/tags")))
    return dict(line.split(" ") for line in out.splitlines())


def ok(cli, path: Path, *args: str):  # type: ignore[no-untyped-def]
    """Run gittrack in ``path``; it must succeed."""
    result = cli("--repo", str(path), *args)
    assert result.code == 0, result.err
    return result


def cli_json(cli, path: Path, *args: str) -> object:  # type: ignore[no-untyped-def]
    result = cli("--repo", str(path), *args)
    assert result.code == 0, result.err
    return json.loads(result.out)


def remote_pointers_complete(s3: S3, bare: Path, prefix: str) -> int:
    """Check every pointer of every run ref in ``bare`` against the S3 prefix; how many."""
    import yaml

    base = prefix + "/files/md5/"
    have = {k[len(base):].replace("/", "", 1) for k in s3_keys(s3, base)}
    count = 0
    for ref, oid in refs(bare, "refs/gittrack/runs").items():
        doc = git(bare, "show", f"{oid}:.gittrack/run/artifacts.yaml", check=False)
        for entry in (yaml.safe_load(doc) or {}).values():
            assert entry["md5"] in have, (ref, entry)
            if entry["md5"].endswith(".dir"):  # and every file its listing names
                listing = json.loads(s3_object(s3, base + entry["md5"][:2] + "/" + entry["md5"][2:]))
                assert {e["md5"] for e in listing} <= have, (ref, entry)
            count += 1
    return count


@pytest.fixture
def served(git_daemon: GitDaemon) -> Iterator[tuple[GitDaemon, str]]:  # noqa: F811
    yield git_daemon, git_daemon.bare("team.git")


# ---------------------------------------------------------------- acceptance


def test_push_to_git_daemon_and_s3_then_pull_in_a_fresh_clone(
        tmp_path: Path, served: tuple[GitDaemon, str], s3: S3, cli) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    daemon, url = served
    a = project(tmp_path / "a", s3.url("prefix"), origin=url)
    run_ids = log_runs(a, 50)
    model_run = log_model_run(a)
    gittrack.register_model(f"runs:/{model_run}/model", "forecaster")
    gittrack.promote("forecaster", 1, "prod")

    pushed = cli("--repo", str(a), "push")
    assert pushed.code == 0, pushed.err
    assert "51 ref(s)" in pushed.out and "2 tag(s)" in pushed.out and "51 artifact(s)" in pushed.out
    bare = daemon.base / "team.git"
    assert refs(bare) == refs(a)  # plain git: every run ref and registry tag arrived
    assert remote_pointers_complete(s3, bare, "prefix") == 51

    again = cli("--repo", str(a), "push")  # nothing left to send
    assert again.code == 0 and "0 ref(s)" in again.out and "0 artifact(s)" in again.out

    b = clone(url, tmp_path / "b")
    pulled = cli("--repo", str(b), "pull")
    assert pulled.code == 0, pulled.err
    assert refs(b) == refs(a)
    assert cli_json(cli, b, "log", "--format", "json") == cli_json(cli, a, "log", "--format", "json")
    assert len(cli_json(cli, b, "log", "--format", "json")) == 51  # type: ignore[arg-type]
    assert cli_json(cli, b, "models", "resolve", "forecaster/prod", "--json") == \
        cli_json(cli, a, "models", "resolve", "forecaster/prod", "--json")
    assert not (b / ".git" / "gittrack" / "cache" / "files").exists()  # artifacts stay lazy

    code = ("import sys, gittrack; sys.path.insert(0, {tests!r}); "
            "from model_helpers import make_frame; "
            "print(list(gittrack.load_model('models:/forecaster/prod').predict(make_frame(seed=5))))")
    preds = [run_python(code.format(tests=str(TESTS)), cwd=p,
                         env={"PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])})
             for p in (a, b)]
    assert all(p.returncode == 0 for p in preds), [p.stderr[-2000:] for p in preds]
    assert preds[0].stdout == preds[1].stdout and preds[0].stdout.startswith("[")

    # A pulled run's artifacts come lazily with `gittrack checkout`, or all at once.
    restored = cli("--repo", str(b), "checkout", run_ids[0])
    assert restored.code == 0, restored.err
    assert [p.name for p in (b / "out").iterdir()] == [f"{run_ids[0]}.txt"]
    assert (b / "out" / f"{run_ids[0]}.txt").read_text() == f"artifact of run 0 {run_ids[0]} \n"
    everything = cli("--repo", str(b), "pull", "--artifacts")
    assert everything.code == 0, everything.err
    # the 49 text files not yet here (the model's objects came with load_model)
    assert "49 artifact(s) fetched" in everything.out, everything.out
    assert cache_objects(b) == cache_objects(a)  # every object, byte for byte


def test_two_clones_push_runs_at_the_same_moment(tmp_path: Path, served: tuple[GitDaemon, str],  # noqa: F811
                                                 s3: S3) -> None:  # noqa: F811
    daemon, url = served
    a = project(tmp_path / "a", s3.url("p"), origin=url)
    b = clone(url, tmp_path / "b")
    ids = log_runs(a, 15, tag="a") + log_runs(b, 15, tag="b")
    procs = [subprocess.Popen([sys.executable, "-m", "gittrack", "push"], cwd=p,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for p in (a, b)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    on_remote = refs(daemon.base / "team.git", "refs/gittrack/runs")
    assert sorted(r.rpartition("/")[2] for r in on_remote) == sorted(ids)
    assert remote_pointers_complete(s3, daemon.base / "team.git", "p") == 30
    git(daemon.base / "team.git", "fsck", "--no-progress")


def test_offline_registrations_of_one_model_are_renumbered_on_push(
        tmp_path: Path, served: tuple[GitDaemon, str], s3: S3, cli) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    daemon, url = served
    a = project(tmp_path / "a", s3.url("p"), origin=url)
    first = log_model_run(a)
    gittrack.register_model(f"runs:/{first}/model", "forecaster")
    ok(cli, a, "push")
    b = clone(url, tmp_path / "b")
    ok(cli, b, "pull")

    # Offline: each clone registers a different run as forecaster v2 and promotes it.
    run_a = log_model_run(a, seed=1)
    gittrack.register_model(f"runs:/{run_a}/model", "forecaster")
    gittrack.promote("forecaster", 2, "prod")
    run_b = log_model_run(b, seed=2)
    gittrack.register_model(f"runs:/{run_b}/model", "forecaster")
    gittrack.promote("forecaster", 2, "prod")
    tag_a = refs(a, "refs/tags")["refs/tags/forecaster/v2"]
    tag_b = refs(b, "refs/tags")["refs/tags/forecaster/v2"]
    assert tag_a != tag_b

    ok(cli, a, "push")
    pushed = cli("--repo", str(b), "push")
    assert pushed.code == 0, pushed.err
    assert "renumbered forecaster/v2 -> forecaster/v3" in pushed.out
    assert "renumbered forecaster/prod/v2 -> forecaster/prod/v3" in pushed.out

    bare = daemon.base / "team.git"
    remote_tags = refs(bare, "refs/tags")
    assert remote_tags["refs/tags/forecaster/v2"] == tag_a  # nothing force-overwritten
    assert "refs/tags/forecaster/v3" in remote_tags
    annotation = git(bare, "cat-file", "-p", "refs/tags/forecaster/v3")
    assert f'run: "{run_b}"' in annotation and "version: 3" in annotation
    assert "refs/tags/forecaster/v2" in refs(b, "refs/tags")  # b now holds a's v2 too
    assert refs(b, "refs/tags")["refs/tags/forecaster/v2"] == tag_a

    ok(cli, a, "pull")
    assert refs(a, "refs/tags") == refs(b, "refs/tags") == remote_tags
    views = [cli_json(cli, p, "models", "--json") for p in (a, b)]
    assert views[0] == views[1]
    versions = {v: cli_json(cli, a, "models", "resolve", f"forecaster/v{v}", "--json")
                for v in (1, 2, 3)}
    assert [versions[v]["run"] for v in (1, 2, 3)] == [first, run_a, run_b]  # type: ignore[index]
    assert cli_json(cli, a, "models", "resolve", "forecaster/prod", "--json") == \
        cli_json(cli, b, "models", "resolve", "forecaster/prod", "--json")


def test_push_killed_mid_transfer_and_rerun_leaves_the_remote_complete(
        tmp_path: Path, served: tuple[GitDaemon, str], s3: S3) -> None:  # noqa: F811
    daemon, url = served
    a = project(tmp_path / "a", s3.url("k"), origin=url)
    log_runs(a, 60)
    bare = daemon.base / "team.git"
    env = env_with_gittrack()
    proc = subprocess.Popen([sys.executable, "-m", "gittrack", "push", "--progress"], cwd=a,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("artifacts: ") and 0 < int(line.split()[1].split("/")[0]) < 60:
            os.kill(proc.pid, signal.SIGKILL)  # mid-transfer: some artifacts sent, not all
            break
    proc.wait()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, seen
    assert refs(bare, "refs/gittrack") == {}  # refs go last: none point at missing artifacts
    sent = s3_keys(s3, "k/files/md5/")
    assert 0 < len(sent) < 60

    rerun = subprocess.run([sys.executable, "-m", "gittrack", "push"], cwd=a, env=env,
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert refs(bare) == refs(a)
    assert remote_pointers_complete(s3, bare, "k") == 60
    assert len(s3_keys(s3, "k/files/md5/")) == 60  # nothing duplicated


# ---------------------------------------------------------------- rules and edges


def test_runs_trash_and_baselines_travel_and_removals_propagate(tmp_path: Path, remote: Path,
                                                                cli) -> None:  # type: ignore[no-untyped-def]
    store_dir = tmp_path / "artifacts"
    a = project(tmp_path / "a", str(store_dir), origin=str(remote))
    ids = log_runs(a, 3)
    ok(cli, a, "baseline", "set", ids[0])
    ok(cli, a, "push")
    b = clone(str(remote), tmp_path / "b")
    ok(cli, b, "pull")
    assert refs(b) == refs(a)

    ok(cli, a, "rm", ids[1])
    pushed = cli("--repo", str(a), "push")
    assert pushed.code == 0 and "1 deletion(s)" in pushed.out
    assert refs(remote) == refs(a)
    ok(cli, b, "pull")
    assert refs(b) == refs(a)  # the run is in b's trash too
    again = cli("--repo", str(b), "pull")
    assert "0 new, 0 updated, 0 removed" in again.out


def test_push_to_a_missing_remote_fails_with_one_sentence(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    a = project(tmp_path / "a", None)
    result = cli("--repo", str(a), "push", str(tmp_path / "nowhere.git"))
    assert result.code == 1
    assert "Cannot read remote" in result.err and "git ls-remote" in result.err
    assert "does not appear to be a git repository" in result.err  # git's reason, not its advice
    assert "exists" not in result.err
    result = cli("--repo", str(a), "pull")
    assert result.code == 1 and "git remote add" in result.err


def test_push_of_one_experiment_and_of_named_runs(tmp_path: Path, remote: Path, cli) -> None:  # type: ignore[no-untyped-def]
    a = project(tmp_path / "a", str(tmp_path / "store"), origin=str(remote))
    first = log_runs(a, 2, experiment="one")
    second = log_runs(a, 2, experiment="two")
    ok(cli, a, "push", "--experiment", "one")
    assert sorted(r.rpartition("/")[2] for r in refs(remote, "refs/gittrack")) == sorted(first)
    ok(cli, a, "push", "origin", second[0][:8])
    assert len(refs(remote, "refs/gittrack")) == 3


def test_a_finished_run_replaces_its_running_record_on_the_remote(tmp_path: Path, remote: Path,
                                                                   cli) -> None:  # type: ignore[no-untyped-def]
    a = project(tmp_path / "a", str(tmp_path / "store"), origin=str(remote))
    gittrack.set_tracking_repo(str(a))
    run = gittrack.start_run(experiment="live")
    gittrack.log_metric("loss", 1.0)
    run.commit()
    ok(cli, a, "push")
    b = clone(str(remote), tmp_path / "b")
    ok(cli, b, "pull")
    gittrack.set_tracking_repo(str(a))
    gittrack.end_run()
    stale = cli("--repo", str(b), "push")  # b's older record must not overwrite a's newer one
    assert stale.code == 0
    pushed = cli("--repo", str(a), "push")
    assert pushed.code == 0 and "1 ref(s)" in pushed.out
    assert refs(remote, "refs/gittrack") == refs(a, "refs/gittrack")
    ok(cli, b, "pull")
    assert refs(b, "refs/gittrack") == refs(a, "refs/gittrack")
    shown = git(b, "show", f"{refs(b, 'refs/gittrack')[next(iter(refs(b, 'refs/gittrack')))]}"
                ":.gittrack/run/run.yaml")
    assert "status: finished" in shown
    back = cli("--repo", str(b), "push")  # b holds the same record now: nothing to send
    assert "0 ref(s)" in back.out


def test_remote_setup_lets_plain_git_carry_runs(tmp_path: Path, remote: Path, cli) -> None:  # type: ignore[no-untyped-def]
    a = project(tmp_path / "a", str(tmp_path / "store"), origin=str(remote))
    ids = log_runs(a, 2)
    result = cli("--repo", str(a), "remote", "setup")
    assert result.code == 0 and "5 refspec(s) added" in result.out
    assert cli("--repo", str(a), "remote", "setup").out.strip() == "Remote already set up."
    git(a, "push", "-q", "origin")
    assert sorted(r.rpartition("/")[2] for r in refs(remote, "refs/gittrack")) == sorted(ids)
    b = clone(str(remote), tmp_path / "b")
    ok(cli, b, "remote", "setup")
    git(b, "fetch", "-q", "origin")
    assert refs(b, "refs/gittrack") == refs(a, "refs/gittrack")


def test_progress_is_rendered_on_request_only(tmp_path: Path, remote: Path, cli) -> None:  # type: ignore[no-untyped-def]
    a = project(tmp_path / "a", str(tmp_path / "store"), origin=str(remote))
    log_runs(a, 2)
    quiet = cli("--repo", str(a), "push")
    assert quiet.code == 0 and quiet.err == ""
    log_runs(a, 1)
    loud = cli("--repo", str(a), "push", "--progress")
    assert "artifacts: 1/1" in loud.err and "refs: 1/1" in loud.err



def test_an_unreachable_artifact_remote_is_one_sentence(tmp_path: Path, remote: Path, cli,  # type: ignore[no-untyped-def]
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from servers import free_port

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1",
                       "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}.items():
        monkeypatch.setenv(key, value)
    a = project(tmp_path / "a", "s3://bucket/nowhere", origin=str(remote))
    log_runs(a, 1)
    result = cli("--repo", str(a), "push")
    assert result.code == 1, result.err
    assert "The artifact remote s3://bucket/nowhere failed" in result.err
    assert refs(remote, "refs/gittrack") == {}


def test_python_push_and_pull_match_the_cli(tmp_path: Path, remote: Path, cli,  # type: ignore[no-untyped-def]
                                            caplog: pytest.LogCaptureFixture) -> None:
    a = project(tmp_path / "a", str(tmp_path / "store"), origin=str(remote))
    ids = log_runs(a, 3)
    gittrack.register_model(ids[1], "forecaster", artifact_path=f"out/{ids[1]}.txt")
    pushed = gittrack.push()
    assert (pushed.remote, pushed.refs, pushed.tags, pushed.artifacts) == ("origin", 3, 1, 3)
    assert refs(remote, "refs/gittrack", "refs/tags") == refs(a, "refs/gittrack", "refs/tags")
    assert gittrack.push().refs == 0  # nothing new

    b = clone(str(remote), tmp_path / "b")
    gittrack.set_tracking_repo(str(b))
    pulled = gittrack.pull(artifacts=True)
    assert (pulled.created, pulled.artifacts) == (3, 3)
    assert refs(b, "refs/gittrack", "refs/tags") == refs(a, "refs/gittrack", "refs/tags")
    assert cli_json(cli, b, "log", "--format", "json") == cli_json(cli, a, "log", "--format", "json")
    assert gittrack.get_model_version("forecaster", 1).run == ids[1]
    assert gittrack.pull().created == 0
    with pytest.raises(gittrack.GittrackError,
                       match="Cannot read remote 'nowhere' .'nowhere' does not appear to be a git"):
        gittrack.pull("nowhere")

    # both clones register a v2 offline; the second push renumbers its own and says so
    for clone_dir in (a, b):
        run_id = log_runs(clone_dir, 1, tag="offline")[0]
        gittrack.register_model(run_id, "forecaster", artifact_path=f"out/offline{run_id}.txt")
    gittrack.set_tracking_repo(str(a))
    assert gittrack.push().renamed == []
    gittrack.set_tracking_repo(str(b))
    with caplog.at_level("WARNING", logger="gittrack"):
        renamed = gittrack.push().renamed
    assert [(r.old, r.new) for r in renamed] == [("forecaster/v2", "forecaster/v3")]
    assert "renumbered forecaster/v2 -> forecaster/v3" in caplog.text


def test_a_run_emptied_from_the_trash_stays_gone_everywhere(tmp_path: Path, remote: Path,
                                                             cli) -> None:  # type: ignore[no-untyped-def]
    a = project(tmp_path / "a", str(tmp_path / "store"), origin=str(remote))
    ids = log_runs(a, 4)
    ok(cli, a, "push")
    b = clone(str(remote), tmp_path / "b")
    ok(cli, b, "pull")
    c = clone(str(remote), tmp_path / "c")
    ok(cli, c, "pull")

    # emptied before its removal was ever pushed, and emptied after it was pushed
    ok(cli, a, "rm", ids[0])
    ok(cli, a, "gc", "--trash-older-than", "0")
    ok(cli, a, "rm", ids[1])
    ok(cli, a, "push")
    ok(cli, a, "gc", "--trash-older-than", "0")
    assert cli("--repo", str(a), "push").code == 0
    gone = {f"refs/gittrack/runs/exp/{i}" for i in ids[:2]} | \
        {f"refs/gittrack/trash/exp/{i}" for i in ids[:2]}
    assert not gone & set(refs(remote))
    assert {f"refs/gittrack/emptied/exp/{i}" for i in ids[:2]} <= set(refs(remote))

    # b had both runs: a pull removes them there too, and nothing comes back to a
    ok(cli, b, "pull")
    assert refs(b, "refs/gittrack") == refs(a, "refs/gittrack") == refs(remote, "refs/gittrack")
    again = cli("--repo", str(a), "pull")
    assert again.code == 0 and "0 new, 0 updated, 0 removed" in again.out
    listed = cli_json(cli, a, "log", "--format", "json")
    assert sorted(r["id"] for r in listed) == sorted(ids[2:])  # type: ignore[union-attr, index]

    # c never pulled the removal: its push does not bring the runs back, its pull removes them
    pushed = cli("--repo", str(c), "push")
    assert pushed.code == 0 and "2 ref(s) not pushed" in pushed.err
    assert not gone & set(refs(remote))
    ok(cli, c, "pull")
    assert refs(c, "refs/gittrack") == refs(remote, "refs/gittrack")
    git(a, "fsck", "--no-progress")


def test_a_run_resumed_elsewhere_survives_its_old_record_being_emptied(
        tmp_path: Path, remote: Path, cli) -> None:  # type: ignore[no-untyped-def]
    a = project(tmp_path / "a", str(tmp_path / "store"), origin=str(remote))
    (run_id,) = log_runs(a, 1)
    ok(cli, a, "push")
    b = clone(str(remote), tmp_path / "b")
    ok(cli, b, "pull")
    gittrack.set_tracking_repo(str(b))
    with gittrack.start_run(run_id=run_id) as run:  # b resumes it: a newer record
        run.log_metric("late", 1.0)
    ok(cli, a, "rm", run_id)
    ok(cli, a, "gc", "--trash-older-than", "0")
    ok(cli, a, "push")

    first = cli("--repo", str(b), "push")  # b has not seen the emptied record: pull first
    assert first.code == 0 and "1 ref(s) not pushed" in first.err
    ok(cli, b, "pull")  # the record removed an older commit than b's: b keeps its run
    ref = f"refs/gittrack/runs/exp/{run_id}"
    assert ref in refs(b)
    ok(cli, b, "push")  # and the newer record travels as any run update
    ok(cli, a, "pull")
    assert refs(a)[ref] == refs(b)[ref] == refs(remote)[ref]
    assert "late" in gittrack.get_run(run_id).metrics
    again = cli("--repo", str(b), "push")
    assert again.code == 0 and "not pushed" not in again.err


def test_a_run_emptied_twice_and_emptied_on_two_clones_stays_gone(
        tmp_path: Path, remote: Path, cli) -> None:  # type: ignore[no-untyped-def]
    a = project(tmp_path / "a", str(tmp_path / "store"), origin=str(remote))
    first, other = log_runs(a, 2)
    ok(cli, a, "push")
    b = clone(str(remote), tmp_path / "b")
    ok(cli, b, "pull")
    ok(cli, a, "rm", first)
    ok(cli, a, "gc", "--trash-older-than", "0")
    ok(cli, a, "push")
    gittrack.set_tracking_repo(str(b))
    with gittrack.start_run(run_id=first) as run:  # b resumes it: a newer record travels
        run.log_metric("late", 1.0)
    ok(cli, b, "pull")
    ok(cli, b, "push")
    ok(cli, a, "pull")
    ref = f"refs/gittrack/runs/exp/{first}"
    assert ref in refs(a)

    # emptied a second time: the record lists both commits and extends the first one
    ok(cli, a, "rm", first)
    ok(cli, a, "gc", "--trash-older-than", "0")
    record = refs(a)[f"refs/gittrack/emptied/exp/{first}"]
    assert len(git(a, "rev-list", record).split()) == 2  # the new list, then the old one
    assert git(a, "show", f"{record}:.gittrack/trash/emptied.yaml").count("run_commit:") == 2
    ok(cli, a, "push")
    assert ref not in refs(remote)
    assert "not pushed" in cli("--repo", str(b), "push").err  # b must pull first
    ok(cli, b, "pull")
    assert ref not in refs(b)

    # two clones empty the same run's records independently: the lists merge, nothing returns
    ok(cli, a, "rm", other)
    ok(cli, a, "push")
    ok(cli, b, "pull")
    ok(cli, b, "restore", other)
    ok(cli, b, "rm", other)  # b's own removal: another trash marker
    ok(cli, a, "gc", "--trash-older-than", "0")
    ok(cli, b, "gc", "--trash-older-than", "0")
    ok(cli, a, "push")
    ok(cli, b, "pull")  # diverged lists: b merges them
    merged = refs(b)[f"refs/gittrack/emptied/exp/{other}"]
    assert len(git(b, "rev-list", "--parents", "-n", "1", merged).split()) == 3  # two parents
    ok(cli, b, "push")
    ok(cli, a, "pull")
    for clone_dir in (a, b, remote):
        assert not any(other in r and "emptied" not in r for r in refs(clone_dir)), clone_dir
    assert refs(a, "refs/gittrack") == refs(b, "refs/gittrack") == refs(remote, "refs/gittrack")
    git(b, "fsck", "--no-progress")


def test_fetch_brings_runs_and_tags_like_pull(tmp_path: Path, remote: Path, cli) -> None:  # type: ignore[no-untyped-def]
    a = make_repo(tmp_path / "a")
    git(a, "remote", "add", "origin", str(remote))
    run_ids = log_runs(a, 3, experiment="shared")
    model_run = log_model_run(a)
    gittrack.register_model(f"runs:/{model_run}/model", "forecaster")
    gittrack.promote("forecaster", 1, "prod")
    ok(cli, a, "push", "--no-artifacts")
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(remote), str(b))
    fetched = cli("--repo", str(b), "fetch", "origin", "--experiment", "shared")
    assert fetched.code == 0, fetched.err
    assert refs(b, "refs/gittrack/runs/") == refs(a, "refs/gittrack/runs/shared/")  # only that one
    assert sorted(r.rpartition("/")[2] for r in refs(b, "refs/gittrack/runs/")) == sorted(run_ids)
    ok(cli, b, "fetch")
    assert refs(b) == refs(a)
    assert cli_json(cli, b, "models", "resolve", "forecaster/prod", "--json") == \
        cli_json(cli, a, "models", "resolve", "forecaster/prod", "--json")


def test_a_big_push_of_one_experiment_then_a_clone_fetches_only_it(tmp_path: Path, remote: Path,
                                                                      cli) -> None:  # type: ignore[no-untyped-def]
    a = project(tmp_path / "a", str(tmp_path / "store"), origin=str(remote))
    gittrack.set_tracking_repo(str(a))
    one = gittrack.log_runs([{"name": f"r{i}", "metrics": {"m": float(i)}} for i in range(80)],
                            experiment="one")
    two = gittrack.log_runs([{"name": f"s{i}", "metrics": {"m": float(i)}} for i in range(80)],
                            experiment="two")
    (with_artifact,) = log_runs(a, 1, experiment="one")
    pushed = ok(cli, a, "push", "--experiment", "one")  # 81 refs: one glob from a scratch repo
    assert "81 ref(s)" in pushed.out and "1 artifact(s)" in pushed.out
    there = refs(remote, "refs/gittrack")
    assert sorted(r.rpartition("/")[2] for r in there) == sorted([*one, with_artifact])
    assert refs(a, "refs/gittrack-push") == {}  # no ref of the repository was written
    assert not list((a / ".git" / "gittrack").glob("push-*"))  # the scratch repo is gone
    ok(cli, a, "push")
    assert len(refs(remote, "refs/gittrack")) == 161
    b = clone(f"file://{remote}", tmp_path / "b")  # a transport, not a copy of the objects dir
    ok(cli, b, "pull", "--experiment", "two")
    assert sorted(r.rpartition("/")[2] for r in refs(b, "refs/gittrack")) == sorted(two)
    commit_of_one = there[f"refs/gittrack/runs/one/{one[0]}"]
    missing = subprocess.run(["git", "cat-file", "-e", commit_of_one], cwd=b)
    assert missing.returncode != 0  # the other experiment's commits did not come
    git(b, "fsck", "--strict", "--no-progress")
