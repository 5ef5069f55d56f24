"""Safe to pull from a colleague: an attacker with push access, and what the victim does with it.

Two real clones share a bare repository served by `git daemon` and a directory artifact
remote. The attacker writes what gittrack itself refuses to write (records and listings with
``.git`` at depth 1 and 3, ``.GIT``, ``.git.``, symlinks to /etc/passwd), with plain git and by
hand, as anyone with push access could. The victim's pull, checkout, get, post-checkout hook,
bundle import and UI must write and show none of it, and say why. A pickled model runs code
only once its author is trusted (a key in .gittrack/allowed_signers, or trust=True).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import git, make_repo
from servers import GitDaemon, env_with_gittrack, git_daemon  # noqa: F401 - fixture

import gittrack
from gittrack.core import names
from gittrack.core.errors import UntrustedModelError
from gittrack.core.paths import is_dotgit
from gittrack.core.records import dump_yaml
from gittrack.core.store import Store, repo_from_env

FSMONITOR = "[core]\n\tfsmonitor = touch {marker}\n"
RECORD_PATHS = [".git/hooks/post-checkout", "x/y/.git/config", ".GIT/config", ".git./config"]
LISTED_PATHS = [".git/config", "a/b/.git/config", ".GIT/config", ".git./config"]


@dataclass
class Team:
    victim: Path
    attacker: Path
    store: Path  # the artifact remote (a directory)
    marker: Path  # created only if an attacker's command ever runs


@pytest.fixture
def team(tmp_path: Path, git_daemon: GitDaemon, monkeypatch: pytest.MonkeyPatch) -> Team:  # noqa: F811
    url = git_daemon.bare("team.git")
    store = tmp_path / "artifacts"
    victim = make_repo(tmp_path / "victim")
    (victim / ".gittrack").mkdir()
    (victim / ".gittrack" / "config.yaml").write_text(
        f"format: 1\ndefault_experiment: default\nartifact_remote: {store}\n")
    git(victim, "add", ".gittrack/config.yaml")
    git(victim, "commit", "-q", "-m", "gittrack config")
    git(victim, "remote", "add", "origin", url)
    git(victim, "push", "-q", "origin", "HEAD:refs/heads/main")
    attacker = tmp_path / "attacker"
    git(tmp_path, "clone", "-q", url, str(attacker))
    git(attacker, "config", "user.name", "Mallory")
    git(attacker, "config", "user.email", "mallory@example.com")
    monkeypatch.chdir(victim)
    return Team(victim, attacker, store, tmp_path / "pwned")


# ---------------------------------------------------------------- what the attacker writes


def put_object(store: Path, data: bytes, suffix: str = "") -> str:
    """Write an object straight into the artifact remote's layout; its id."""
    oid = hashlib.md5(data).hexdigest() + suffix
    path = store / "files" / "md5" / oid[:2] / oid[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return oid


def listing(store: Path, entries: list[dict[str, str]]) -> dict[str, Any]:
    """A directory listing object (dvc-data's layout) in the artifact remote; its pointer."""
    raw = json.dumps(sorted(entries, key=lambda e: e["relpath"]), sort_keys=True).encode()
    oid = put_object(store, raw, ".dir")
    return {"md5": oid, "size": 10, "nfiles": len(entries), "kind": "dir"}


def craft_run(attacker: Path, artifacts: dict[str, Any], name: str) -> str:
    """A run commit with a hand-made artifacts.yaml on the attacker's clone; its ref."""
    store = Store(repo_from_env(attacker))
    run_id = names.new_run_id()
    info = {"format": 1, "id": run_id, "name": name, "experiment": "default",
            "status": "finished", "user": "mallory"}
    blobs = {"run.yaml": store.repo.write_blob(dump_yaml(info)),
             "artifacts.yaml": store.repo.write_blob(dump_yaml(artifacts))}
    head = store.repo.head_commit()
    assert head is not None
    commit = store.write_commit(store.repo.commit_tree(head), head, blobs, f"run {name}")
    ref = names.run_ref("default", run_id)
    store.repo.set_ref(ref, commit)
    return ref


def attack(team: Team) -> tuple[list[str], dict[str, str]]:
    """The attacker's runs: refs whose records are unsafe, and refs whose listings are."""
    config = put_object(team.store, FSMONITOR.format(marker=team.marker).encode())
    ok = put_object(team.store, b"harmless\n")
    file_pointer = {"md5": config, "size": 40, "nfiles": 1, "kind": "file"}
    record_refs = [craft_run(team.attacker, {path: file_pointer}, f"record-{i}")
                   for i, path in enumerate(RECORD_PATHS)]
    listed: dict[str, str] = {}
    for i, path in enumerate(LISTED_PATHS):
        pointer = listing(team.store, [{"md5": config, "relpath": path},
                                       {"md5": ok, "relpath": f"ok{i}.txt"}])
        listed[path] = craft_run(team.attacker, {"data": pointer}, f"listed-{i}")
    for target in ("/etc/passwd", "../../../../../../../../etc/passwd"):
        link = put_object(team.store, target.encode())
        pointer = listing(team.store, [{"md5": link, "relpath": "pw", "symlink": target},
                                       {"md5": ok, "relpath": "ok.txt"}])
        listed[f"symlink {target}"] = craft_run(team.attacker, {"data": pointer}, "linked")
    git(team.attacker, "push", "-q", "origin", *record_refs, *listed.values())
    return record_refs, listed


def untouched(team: Team, config_before: bytes) -> None:
    """Nothing of the attack reached the victim's work tree or .git, and nothing ran."""
    assert not (team.victim / "data").exists()
    own = team.victim / ".git"
    assert [p for p in team.victim.rglob("*") if is_dotgit(p.name) and p != own
            and own not in p.parents] == []
    assert (team.victim / ".git" / "config").read_bytes() == config_before
    hook = team.victim / ".git" / "hooks" / "post-checkout"
    assert "fsmonitor" not in (hook.read_text() if hook.exists() else "")
    git(team.victim, "status")  # would run core.fsmonitor if an attacker's config were active
    assert not team.marker.exists()


# ---------------------------------------------------------------- paths


def test_pull_checkout_get_hook_and_ui_take_none_of_it(team: Team, cli) -> None:  # type: ignore[no-untyped-def]
    record_refs, listed = attack(team)
    assert cli("install-hooks").code == 0
    config_before = (team.victim / ".git" / "config").read_bytes()

    pulled = cli("pull")
    assert pulled.code == 0, pulled.err
    for ref, path in zip(record_refs, RECORD_PATHS):
        assert f"Refused {ref} from origin: its artifact path {path!r}" in pulled.err
    assert "which git refuses in a tree because it opens .git" in pulled.err
    have = git(team.victim, "for-each-ref", "--format=%(refname)", "refs/gittrack/runs").split()
    assert sorted(have) == sorted(listed.values())  # the record-level attacks never arrived

    from starlette.testclient import TestClient

    from gittrack.ui.app import create_app
    ui = TestClient(create_app(team.victim))
    for what, ref in listed.items():
        run_id = ref.rpartition("/")[2]
        checkout = cli("checkout", run_id)
        assert checkout.code == 1
        why = "outside the directory" if what.startswith("symlink") else "because it opens .git"
        assert why in checkout.err, checkout.err
        get = cli("get", run_id, "data", "-o", str(team.victim / "out"))
        assert get.code == 1 and why in get.err
        if not what.startswith("symlink"):
            inner = cli("get", run_id, f"data/{what}", "-o", str(team.victim / "out"))
            assert inner.code == 1 and "opens .git" in inner.err
            preview = ui.get(f"/api/runs/{run_id}/preview", params={"path": "data", "file": what})
            assert preview.status_code == 400 and preview.json()["kind"] == "unsafe_path"
        shown = ui.get(f"/api/runs/{run_id}/artifacts").json()["artifacts"]
        assert shown[0]["files"] == [] and not shown[0]["cached"]  # never fetched, never kept
        # even a listing already in the cache (an older gittrack fetched it) shows no file
        oid = shown[0]["md5"]
        kept = team.victim / ".git" / "gittrack" / "cache" / "files" / "md5" / oid[:2] / oid[2:]
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_bytes((team.store / "files" / "md5" / oid[:2] / oid[2:]).read_bytes())
        shown = ui.get(f"/api/runs/{run_id}/artifacts").json()["artifacts"]
        assert shown[0]["files"] == [] and why in shown[0]["error"]
        safe_file = "ok.txt" if what.startswith("symlink") else f"ok{LISTED_PATHS.index(what)}.txt"
        preview = ui.get(f"/api/runs/{run_id}/preview", params={"path": "data", "file": safe_file})
        assert preview.status_code == 400 and why in preview.json()["error"]
        assert cli("checkout", run_id).code == 1
        kept.unlink()
        assert not (team.victim / "out").exists()
        # the post-checkout hook refuses too, says why, and never blocks git
        hook = subprocess.run(["git", "checkout", "-q", ref], cwd=team.victim, text=True,
                              capture_output=True, env=env_with_gittrack(), check=False)
        assert hook.returncode == 0 and why in hook.stderr, hook.stderr
        git(team.victim, "checkout", "-q", "main")
    untouched(team, config_before)


def test_the_same_attack_in_a_bundle_is_refused_on_import(team: Team, tmp_path: Path,
                                                          cli) -> None:  # type: ignore[no-untyped-def]
    record_refs, listed = attack(team)
    refs = {ref: git(team.attacker, "rev-parse", ref).strip() for ref in [*record_refs, *listed.values()]}
    bundle = tmp_path / "attack.tar"
    git_bundle = tmp_path / "refs.bundle"
    git(team.attacker, "bundle", "create", "-q", str(git_bundle), *refs)
    objects = sorted(str(p.relative_to(team.store / "files" / "md5"))
                     for p in (team.store / "files" / "md5").rglob("*") if p.is_file())
    manifest = {"format": 1, "created": "2026-01-01T00:00:00+00:00", "since": None, "refs": refs,
                "objects": [o.replace("/", "") for o in objects], "prerequisites": []}
    with tarfile.open(bundle, "w") as tar:
        data = yaml.safe_dump(manifest).encode()
        info = tarfile.TarInfo("gittrack-bundle.yaml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        tar.add(git_bundle, "refs.bundle")
        for rel in objects:
            tar.add(team.store / "files" / "md5" / rel, f"cache/{rel}")
    other = tmp_path / "air-gapped"
    git(tmp_path, "clone", "-q", str(team.victim), str(other))
    os.chdir(other)
    config_before = (other / ".git" / "config").read_bytes()

    imported = cli("bundle", "import", str(bundle))
    assert imported.code == 0, imported.err
    for ref, path in zip(record_refs, RECORD_PATHS):
        assert f"Refused {ref} from" in imported.err and repr(path) in imported.err
    for ref in listed.values():
        assert f"Refused {ref} from" in imported.err
    assert imported.err.count("Refused artifact listing") == len(listed)
    assert "because it opens .git" in imported.err and "outside the directory" in imported.err
    assert git(other, "for-each-ref", "refs/gittrack/runs") == ""
    cache = other / ".git" / "gittrack" / "cache" / "files" / "md5"
    assert not any(p.name.endswith(".dir") for p in cache.rglob("*")), "no unsafe listing kept"
    untouched(Team(other, team.attacker, team.store, team.marker), config_before)


# ---------------------------------------------------------------- pickles and signatures


class Payload:
    """A model whose pickle touches a file when it is loaded (as `os.system` would run)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def predict(self, data: Any) -> Any:
        return data

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def ssh_key(path: Path, comment: str) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True)
    return Path(f"{path}.pub").read_text().strip()


def log_payload(repo: Path, marker: Path) -> str:
    gittrack.set_tracking_repo(str(repo))
    with gittrack.start_run(experiment="forecast") as run:
        gittrack.log_model(Payload(marker), "model")
    return run.id


def test_a_pickled_model_runs_only_once_its_author_is_trusted(
        team: Team, tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    public = ssh_key(tmp_path / "mallory-key", "mallory")
    git(team.attacker, "config", "gpg.format", "ssh")
    git(team.attacker, "config", "user.signingkey", str(tmp_path / "mallory-key"))
    run_id = log_payload(team.attacker, team.marker)
    gittrack.register_model(run_id, "forecaster", sign=True)
    gittrack.promote("forecaster", 1, "prod", sign=True)
    gittrack.push()
    assert not team.marker.exists()

    os.chdir(team.victim)
    gittrack.set_tracking_repo(str(team.victim))
    assert cli("pull").code == 0
    with pytest.raises(UntrustedModelError) as refused:
        gittrack.load_model("models:/forecaster/prod")
    message = str(refused.value)
    assert "Mallory <mallory@example.com>" in message and "allowed_signers" in message
    assert "trust=True" in message and message.count(". ") == 0
    assert not team.marker.exists()
    history = cli("models", "history", "forecaster")
    assert "verified" in history.out and "NO" in history.out  # signed, key not listed here

    gittrack.load_model("models:/forecaster/prod", trust=True)  # the caller says so
    assert team.marker.exists()
    team.marker.unlink()
    monkeypatch.setenv("GITTRACK_TRUST_ALL", "1")
    gittrack.load_model("models:/forecaster/prod")
    assert team.marker.exists()
    team.marker.unlink()
    monkeypatch.delenv("GITTRACK_TRUST_ALL")

    # the victim's project decides to trust Mallory's key: the same model now loads
    (team.victim / ".gittrack" / "allowed_signers").write_text(
        f'mallory@example.com namespaces="git" {public}\n')
    gittrack.load_model("models:/forecaster/prod")
    assert team.marker.exists()
    team.marker.unlink()
    assert cli("verify", "forecaster/prod").code == 0
    assert "yes (mallory@example.com)" in cli("models", "history", "forecaster").out
    assert cli("models", "resolve", "forecaster/prod", "--require-signed").code == 0

    # then Mallory forges: an unsigned v2, promoted in the victim's name
    second = tmp_path / "pwned-again"
    git(team.attacker, "config", "user.name", "Test User")
    git(team.attacker, "config", "user.email", "test@example.com")
    run2 = log_payload(team.attacker, second)
    gittrack.register_model(run2, "forecaster", sign=False)
    gittrack.promote("forecaster", 2, "prod", sign=False)
    gittrack.push()
    os.chdir(team.victim)
    gittrack.set_tracking_repo(str(team.victim))
    assert cli("pull").code == 0
    resolved = cli("models", "resolve", "forecaster/prod", "--require-signed")
    assert resolved.code == 1 and "forecaster/prod/v2" in resolved.err and "not signed" in resolved.err
    assert cli("verify", "forecaster/prod").code == 1
    with pytest.raises(UntrustedModelError, match="Test User <test@example.com>"):
        gittrack.load_model("models:/forecaster/prod")
    assert not second.exists()
    assert cli("models", "resolve", "forecaster/v1", "--require-signed").code == 0


@pytest.mark.parametrize("broken", [b"a: [1, 2\n", b"\x00\xff: :\n", b"- !!python/object:os.system x\n"])
def test_a_pulled_record_that_is_not_yaml_carries_no_artifacts_and_stops_nothing(
        tmp_path: Path, broken: bytes) -> None:
    from gittrack.artifacts import transfer

    path = make_repo(tmp_path / "a")
    store = Store(repo_from_env(path))
    good = craft_run(path, {"ok.txt": {"md5": "0" * 32, "size": 1, "nfiles": 1, "kind": "file"}},
                     "good")
    info = {"format": 1, "id": names.new_run_id(), "name": "bad", "experiment": "default",
            "status": "finished"}
    head = store.repo.head_commit()
    assert head is not None
    bad = store.write_commit(store.repo.commit_tree(head), head,
                             {"run.yaml": store.repo.write_blob(dump_yaml(info)),
                              "artifacts.yaml": store.repo.write_blob(broken)}, "run bad")
    found = transfer.pointers_of(store, [bad, store.repo.resolve_ref(good) or ""])
    assert [p.md5 for p in found] == ["0" * 32]  # the good run's, and nothing of the bad one
