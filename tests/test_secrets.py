"""Secrets are never recorded: command lines and URL credentials are masked before a run is written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import git
from servers import env_with_gittrack

from gittrack.core.secrets import MASK, redact_argv, redact_text, redact_url

TOKEN = "ghp_s3cr3tT0kenABCDEFGHIJKLMNOPQRSTU"


@pytest.mark.parametrize("argv, hidden, kept", [
    (["train.py", "--password=hunter2", "--lr=0.1"], "hunter2", "--lr=0.1"),
    (["train.py", "--token", "abc123", "--epochs", "3"], "abc123", "--epochs"),
    (["train.py", "--db-password", "pw1"], "pw1", "--db-password"),
    (["train.py", "--api-key=K9"], "K9", "--api-key=***"),
    (["env", "AWS_SECRET_ACCESS_KEY=abc/def", "python"], "abc/def", "AWS_SECRET_ACCESS_KEY=***"),
    (["bash", "-c", "python t.py --secret s3 && echo ok"], "s3 ", "echo ok"),
    (["git", "clone", "https://bob:pa55@git.example.com/r.git"], "pa55", "https://bob:***@git.example.com"),
    (["git", "clone", f"https://{TOKEN}@github.com/o/r.git"], TOKEN, "https://***@github.com/o/r.git"),
    (["curl", "https://h/x?token=T0K&page=2"], "T0K", "page=2"),
])
def test_secret_values_are_masked_and_the_rest_is_kept(argv: list[str], hidden: str, kept: str) -> None:
    out = " ".join(redact_argv(argv))
    assert hidden not in out and kept in out and MASK in out


def test_ordinary_arguments_are_left_alone() -> None:
    argv = ["train.py", "--max-tokens", "512", "max_tokens=10", "--author", "Ada", "--tokenizer=bert",
            "ssh://git@host/r.git", "git@github.com:o/r.git", "--sign", "https://example.com/a@b"]
    assert redact_argv(argv) == argv
    assert redact_url("https://user@host/x") == "https://user@host/x"
    assert redact_text("PASSWORD=x") == f"PASSWORD={MASK}"


def test_no_secret_reaches_any_object_of_the_run(repo: Path, tmp_path: Path) -> None:
    """`gittrack run ... --password=hunter2` in a clone whose remote URL carries a token: neither
    string is in `git cat-file -p` of any object the run commit reaches."""
    remote_url = f"https://bob:{TOKEN}@git.example.com/team/forecast.git"
    git(repo, "remote", "add", "origin", remote_url)
    script = tmp_path / "train.py"
    script.write_text(
        "import subprocess, sys, gittrack\n"
        "url = subprocess.run(['git', 'remote', 'get-url', 'origin'], capture_output=True,\n"
        "                     text=True, check=True).stdout.strip()\n"
        "gittrack.log_param('remote', url)            # as a tracker records the repo URL\n"
        "gittrack.set_tag('argv', ' '.join(sys.argv))\n"
        "gittrack.log_metric('loss', 0.5)\n")
    proc = subprocess.run(
        [sys.executable, "-m", "gittrack", "run", "-n", "secretive", "--", sys.executable,
         str(script), "--password=hunter2", "--push-to", remote_url],
        cwd=repo, capture_output=True, text=True, env=env_with_gittrack(), check=False)
    assert proc.returncode == 0, proc.stderr
    ref = git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack/runs").split()[0]
    objects = [line.split()[0] for line in git(repo, "rev-list", "--objects", ref).splitlines()]
    dumped = "\n".join(git(repo, "cat-file", "-p", oid) for oid in objects)
    assert "secretive" in dumped and "--password=***" in dumped  # the record is there, masked
    assert f"bob:{MASK}@git.example.com" in dumped
    for secret in ("hunter2", TOKEN):
        assert secret not in dumped
