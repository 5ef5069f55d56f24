"""Git hooks: what they run, and installing them into a repository.

The scripts in the project's ``hooks/`` directory (also offered to the pre-commit framework by
``.pre-commit-hooks.yaml``) are the texts below; a test keeps the two identical. They are thin
shell scripts: they exit 0 at once in a repository that does not use gittrack or where
gittrack is not installed, and otherwise call ``gittrack hook NAME``, which lands here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gittrack.core import project
from gittrack.core.errors import GittrackError, RunNotFoundError
from gittrack.core.gitio import Repo
from gittrack.core.store import Store

MARKER = "# gittrack "
POST_CHECKOUT = """\
#!/bin/sh
# gittrack post-checkout hook: after `git checkout` of a run ref or a registry tag, put the
# run's artifacts back (`gittrack checkout`). Installed by `gittrack install-hooks` or by
# pre-commit (id gittrack-post-checkout). Does nothing, and exits 0, in a repository that does
# not use gittrack, when HEAD holds no run record, or where gittrack is not installed.
[ -n "$GITTRACK_HOOK_ACTIVE" ] && exit 0
flag=${3:-${PRE_COMMIT_CHECKOUT_TYPE:-1}}
[ "$flag" = "1" ] || exit 0
git cat-file -e HEAD:.gittrack/run/artifacts.yaml 2>/dev/null || exit 0
command -v gittrack >/dev/null 2>&1 || exit 0
GITTRACK_HOOK_ACTIVE=1 gittrack hook post-checkout || true
exit 0
"""
PRE_PUSH = """\
#!/bin/sh
# gittrack pre-push hook: when .gittrack/config.yaml says `push_runs: true`, `git push` also
# pushes runs, registry tags and their artifacts (`gittrack push REMOTE`). Installed by
# `gittrack install-hooks` or by pre-commit (id gittrack-pre-push). Does nothing, and exits 0,
# in a repository that does not use gittrack or where gittrack is not installed.
[ -n "$GITTRACK_HOOK_ACTIVE" ] && exit 0
remote=${1:-$PRE_COMMIT_REMOTE_NAME}
top=$(git rev-parse --show-toplevel 2>/dev/null) || exit 0
[ -f "$top/.gittrack/config.yaml" ] || exit 0
command -v gittrack >/dev/null 2>&1 || exit 0
GITTRACK_HOOK_ACTIVE=1 gittrack hook pre-push "$remote" </dev/null || true
exit 0
"""
SCRIPTS = {"post-checkout": POST_CHECKOUT, "pre-push": PRE_PUSH}


@dataclass(frozen=True)
class Installed:
    """One hook written into a repository."""

    name: str
    path: Path
    backup: Path | None  # where a foreign hook that was there was moved


def hooks_dir(repo: Repo) -> Path:
    """Where git looks for hooks (honours core.hooksPath)."""
    out = repo.run_git("rev-parse", "--git-path", "hooks").stdout.strip()
    return Path(out).absolute()


def install(repo: Repo, force: bool = False) -> list[Installed]:
    """Write gittrack's hooks into the repository's hooks directory.

    A hook file that gittrack did not write is left alone (GittrackError naming ``--force``);
    with ``force`` it is kept beside as ``<name>.pre-gittrack``.
    """
    target = hooks_dir(repo)
    foreign = [n for n in SCRIPTS if (target / n).exists()
               and MARKER not in (target / n).read_text(errors="replace")]
    if foreign and not force:
        raise GittrackError(
            f"{target} already has a {', '.join(foreign)} hook that gittrack did not write; "
            "rerun with --force to move it aside, or call gittrack from it yourself."
        )
    target.mkdir(parents=True, exist_ok=True)
    done = []
    for name, text in SCRIPTS.items():
        path = target / name
        backup = None
        if name in foreign:
            backup = path.with_name(name + ".pre-gittrack")
            os.replace(path, backup)
        path.write_text(text)
        path.chmod(0o755)
        done.append(Installed(name, path, backup))
    return done


def uses_gittrack(repo: Repo) -> bool:
    """Whether the repository has a gittrack config or gittrack refs."""
    if repo.workdir is not None and (repo.workdir / project.CONFIG_PATH).is_file():
        return True
    return bool(repo.list_refs("refs/gittrack/"))


def post_checkout(store: Store) -> str | None:
    """Restore the artifacts of the run record HEAD holds; a summary, or None if none."""
    from gittrack.sharing import workspace  # lazy: a hook in a repo without runs exits first

    try:
        commit = workspace.head_run_commit(store)
    except RunNotFoundError:
        return None
    report = workspace.checkout_commit(store, commit)
    summary = f"gittrack: {len(report.restored)} artifact(s) restored, {len(report.unchanged)} unchanged"
    if report.modified:
        summary += (f", {len(report.modified)} modified locally and left alone "
                    "(`gittrack checkout --force` overwrites them)")
    return summary + "."


def pre_push(store: Store, remote_name: str | None) -> str | None:
    """Push runs, tags and artifacts when the config says ``push_runs: true``; a summary."""
    from gittrack.sharing import remote  # lazy: a hook in a repo without runs exits first
    if project.config(store.repo).get("push_runs") is not True:
        return None
    result = remote.push(store, remote_name or None)
    return (f"gittrack: pushed {result.refs} run ref(s), {result.tags} tag(s) and "
            f"{result.artifacts} artifact(s) to {result.remote}.")
