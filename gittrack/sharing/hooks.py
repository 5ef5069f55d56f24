"""Git hooks: what they run, and installing them into a repository.

The scripts in the project's ``hooks/`` directory (also offered to the pre-commit framework by
``.pre-commit-hooks.yaml``) are the texts below; a test keeps the two identical. They are thin
shell scripts: they exit 0 at once in a repository that does not use gittrack or where
gittrack is not installed, and otherwise call ``gittrack hook NAME``, which lands here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from gittrack.core import project
from gittrack.core.errors import GittrackError, RunNotFoundError
from gittrack.core.gitio import Repo
from gittrack.core.store import Store

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
    backup: Path | None  # the foreign hook it runs first, kept under this name


def hooks_dir(repo: Repo) -> Path:
    """Where git looks for hooks (honours core.hooksPath)."""
    out = repo.run_git("rev-parse", "--git-path", "hooks").stdout.strip()
    return Path(out).absolute()


BACKUP_SUFFIX = ".pre-gittrack"
_CHAINED_MARK = re.compile(r"# here before, kept as (?P<backup>\S+), then gittrack's part")


def chained(name: str, backup: str) -> str:
    """The hook ``name`` that runs the earlier hook ``backup`` (same directory) first.

    A failing earlier hook stops there with its exit code (so a pre-push hook that refuses
    still refuses); pre-push's ref lines on stdin go to it unchanged.
    """
    body = SCRIPTS[name].split("\n")
    start = next(i for i, line in enumerate(body) if line and not line.startswith("#"))
    if name == "pre-push":
        run = (f'input=$(cat)\nif [ -x "$hook_dir/{backup}" ]; then\n'
               f'  if [ -n "$input" ]; then printf \'%s\\n\' "$input"; fi | '
               f'"$hook_dir/{backup}" "$@" || exit $?\nfi\n')
    else:
        run = (f'if [ -x "$hook_dir/{backup}" ]; then\n'
               f'  "$hook_dir/{backup}" "$@" || exit $?\nfi\n')
    return (f"#!/bin/sh\n# gittrack {name} hook, chained by `gittrack install-hooks --force`: runs "
            f"the hook that was\n# here before, kept as {backup}, then gittrack's part (see "
            f"hooks/{name} in gittrack).\nhook_dir=$(dirname \"$0\")\n{run}"
            + "\n".join(body[start:]))


def _ours(name: str, text: str) -> str | None:
    """'' for gittrack's plain hook, the backup's name for a chained one, None if foreign.

    Only exact texts count as gittrack's: a user's hook that merely mentions gittrack (or
    holds the marker comment) is foreign and never overwritten without a backup.
    """
    if text == SCRIPTS[name]:
        return ""
    match = _CHAINED_MARK.search(text)
    if match and text == chained(name, match["backup"]):
        return match["backup"]
    return None


def install(repo: Repo, force: bool = False) -> list[Installed]:
    """Write gittrack's hooks into the repository's hooks directory.

    A hook file that gittrack did not write is left alone (GittrackError naming ``--force``);
    with ``force`` it is kept under a name of its own (``<name>.pre-gittrack``, then
    ``.pre-gittrack.1``, ...: no backup is ever overwritten) and gittrack's hook runs it first.
    """
    target = hooks_dir(repo)
    found = {n: (target / n).read_text(errors="replace") for n in SCRIPTS if (target / n).exists()}
    foreign = [n for n, text in found.items() if _ours(n, text) is None]
    if foreign and not force:
        raise GittrackError(
            f"{target} already has a {', '.join(foreign)} hook that gittrack did not write; "
            "rerun with --force to keep it (renamed) and run it before gittrack's, or call "
            "gittrack from it yourself."
        )
    target.mkdir(parents=True, exist_ok=True)
    done = []
    for name in SCRIPTS:
        path = target / name
        backup = None
        previous = _ours(name, found[name]) if name in found else ""
        if previous is None:  # foreign: keep it under a fresh name, and run it first
            backup = _free_name(target, name + BACKUP_SUFFIX)
            os.replace(path, backup)
            previous = backup.name
        elif previous and not (target / previous).exists():
            previous = ""  # the chained hook is gone: plain gittrack hook
        _write(path, chained(name, previous) if previous else SCRIPTS[name])
        done.append(Installed(name, path, backup))
    return done


def _free_name(directory: Path, name: str) -> Path:
    candidate, n = directory / name, 0
    while candidate.exists() or candidate.is_symlink():
        n += 1
        candidate = directory / f"{name}.{n}"
    return candidate


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.chmod(0o755)
    os.replace(tmp, path)


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
