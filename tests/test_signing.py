"""Signed registry events and runs through git's own machinery, with an SSH key made here."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import git

import gittrack
from gittrack.core.signing import split_signature


@pytest.fixture
def signer(repo: Path, tmp_path: Path) -> str:
    """An ed25519 key made by ssh-keygen, set up for git in this repository, and listed in the
    project's allowed-signers file for the repository's identity; its public key."""
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", str(key)],
                   check=True)
    git(repo, "config", "gpg.format", "ssh")
    git(repo, "config", "user.signingkey", str(key))
    public = Path(f"{key}.pub").read_text().strip()
    (repo / ".gittrack").mkdir(exist_ok=True)
    (repo / ".gittrack" / "allowed_signers").write_text(f'test@example.com namespaces="git" {public}\n')
    return public


def model_run(repo: Path) -> str:
    from sklearn.linear_model import LinearRegression

    gittrack.set_tracking_repo(str(repo))
    with gittrack.start_run() as run:
        gittrack.log_model(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), "model")
    return run.id


def test_signed_promote_verifies_and_the_same_tag_unsigned_does_not(repo: Path, signer: str,
                                                                      cli) -> None:  # type: ignore[no-untyped-def]
    run_id = model_run(repo)
    assert cli("register", "forecaster", run_id, "--sign").code == 0
    promoted = cli("promote", "forecaster", "v1", "prod", "--sign")
    assert promoted.code == 0, promoted.err
    raw = git(repo, "cat-file", "-p", "forecaster/prod/v1")
    assert "-----BEGIN SSH SIGNATURE-----" in raw
    assert git(repo, "-c", f"gpg.ssh.allowedSignersFile={repo}/.gittrack/allowed_signers",
               "verify-tag", "forecaster/prod/v1") == ""  # plain git agrees (exit 0)

    verified = cli("verify", "forecaster/prod")
    assert verified.code == 0 and "signed by test@example.com" in verified.out
    resolved = cli("models", "resolve", "forecaster/prod", "--require-signed", "--json")
    assert resolved.code == 0, resolved.err
    doc = json.loads(resolved.out)
    assert doc["verified"] is True and doc["signer"] == "test@example.com" and doc["version"] == 1
    history = json.loads(cli("models", "history", "forecaster", "--json").out)
    assert [e["verified"] for e in history] == [True, True]
    assert gittrack.resolve_model_uri("models:/forecaster/prod").version.version == 1

    # the same tag re-created without a signature (same name, same annotation)
    message = split_signature(raw.partition("\n\n")[2])[0]
    commit = git(repo, "rev-parse", "forecaster/prod/v1^{commit}").strip()
    git(repo, "tag", "-d", "forecaster/prod/v1")
    subprocess.run(["git", "tag", "-a", "--cleanup=verbatim", "-F", "-", "forecaster/prod/v1", commit],
                   cwd=repo, input=message, text=True, check=True)
    assert gittrack.resolve_model_uri("models:/forecaster/prod").version.version == 1  # still read
    unsigned = cli("verify", "forecaster/prod/v1")
    assert unsigned.code == 1 and "not signed" in unsigned.err
    refused = cli("models", "resolve", "forecaster/prod", "--require-signed")
    assert refused.code == 1 and "forecaster/prod/v1" in refused.err and "not signed" in refused.err
    table = cli("models", "history", "forecaster").out
    assert "yes (test@example.com)" in table and "unsigned" in table


def test_a_listed_key_vouches_only_in_its_own_name(repo: Path, signer: str, cli) -> None:  # type: ignore[no-untyped-def]
    run_id = model_run(repo)
    gittrack.register_model(run_id, "forecaster", sign=True)
    git(repo, "config", "user.name", "Ada")
    git(repo, "config", "user.email", "ada@example.com")  # the key is listed for test@example.com
    gittrack.promote("forecaster", 1, "prod", sign=True)
    result = cli("verify", "forecaster/prod")
    assert result.code == 1 and "names Ada <ada@example.com> as its actor" in result.err
    assert cli("models", "resolve", "forecaster/v1", "--require-signed").code == 0


def test_sign_true_in_the_config_signs_events_and_runs(repo: Path, signer: str, cli) -> None:  # type: ignore[no-untyped-def]
    (repo / ".gittrack" / "config.yaml").write_text("format: 1\nsign: true\nsign_runs: true\n")
    run_id = model_run(repo)
    ref = git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack/runs").split()[0]
    assert "gpgsig -----BEGIN SSH SIGNATURE-----" in git(repo, "cat-file", "-p", ref)
    assert cli("verify", run_id).code == 0
    gittrack.register_model(run_id, "forecaster")
    assert cli("verify", "forecaster/v1").code == 0
    (repo / ".gittrack" / "allowed_signers").write_text("")  # nobody listed: nothing verifies
    assert cli("verify", run_id).code == 1
    assert "not in .gittrack/allowed_signers" in cli("verify", "forecaster/v1").err


def test_signing_without_a_key_is_one_sentence(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    git(repo, "config", "gpg.format", "ssh")
    git(repo, "config", "user.signingkey", str(repo / "no-such-key"))
    run_id = model_run(repo)
    result = cli("register", "forecaster", run_id, "--sign")
    assert result.code == 1 and "git could not sign tag forecaster/v1" in result.err
    assert "user.signingKey" in result.err and git(repo, "tag") == ""  # no unsigned tag left


def test_an_allowed_signers_file_is_not_trusted_while_head_is_a_checked_out_run(repo: Path) -> None:
    from gittrack.core.signing import ALLOWED_SIGNERS, allowed_signers, no_signers_reason
    from gittrack.core.store import repo_from_env

    (repo / ALLOWED_SIGNERS).parent.mkdir(parents=True, exist_ok=True)
    (repo / ALLOWED_SIGNERS).write_text("alice@example.com ssh-ed25519 AAAA\n")
    with gittrack.start_run() as run:
        run.log_metric("x", 1.0)
    gitrepo = repo_from_env(repo)
    assert allowed_signers(gitrepo) == repo / ALLOWED_SIGNERS and no_signers_reason(gitrepo) == ""
    branch = git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip()
    git(repo, "checkout", "-q", "--detach", run.ref)  # a run's tree: its files came from the run
    assert allowed_signers(repo_from_env(repo)) is None
    assert "checked-out run" in no_signers_reason(repo_from_env(repo))
    git(repo, "checkout", "-q", branch)
    assert allowed_signers(repo_from_env(repo)) == repo / ALLOWED_SIGNERS
