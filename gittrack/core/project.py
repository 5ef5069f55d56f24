"""The project set-up: ``gittrack init`` and the committed config ``.gittrack/config.yaml``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gittrack.core import gitio
from gittrack.core.records import load_yaml

CONFIG_PATH = ".gittrack/config.yaml"
CONFIG_TEXT = """\
# gittrack project settings, committed with the code (docs/format.md).
format: 1
# The experiment of runs that name none.
default_experiment: default
# The stages a model version may be promoted to (`gittrack promote MODEL vN STAGE`).
stages: [staging, prod]
# Where artifacts are pushed: a directory or an fsspec URL such as s3://bucket/prefix.
# With none, `gittrack push` sends them through the git remote itself, files up to
# git_artifacts_max_mb (default 50) each (docs/sharing.md).
artifact_remote: null
"""
IGNORE_PATH = ".gittrack/.gitignore"
IGNORE_TEXT = """\
# A run record and a notebook run's cells appear here only when a run commit is checked out;
# never commit them to a branch.
/run/
/notebook/
"""


@dataclass
class InitResult:
    workdir: Path
    created_repo: bool
    written: list[str] = field(default_factory=list)


def init(path: Path) -> InitResult:
    """``git init`` when needed, then write the config and ignore files if absent."""
    path.mkdir(parents=True, exist_ok=True)
    created = not gitio.is_repository(path)
    repo = gitio.init_repository(path) if created else gitio.Repo(path)
    workdir = repo.workdir or path.resolve()
    result = InitResult(workdir, created)
    if repo.workdir is None:
        repo.state_dir.mkdir(parents=True, exist_ok=True)
        return result
    for rel, text in ((CONFIG_PATH, CONFIG_TEXT), (IGNORE_PATH, IGNORE_TEXT)):
        target = workdir / rel
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            result.written.append(rel)
    repo.state_dir.mkdir(parents=True, exist_ok=True)
    return result


def config(repo: gitio.Repo) -> dict[str, Any]:
    """The committed project config, read from the working tree (empty when absent)."""
    if repo.workdir is None:
        return {}
    try:
        data = load_yaml((repo.workdir / CONFIG_PATH).read_bytes())
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}
