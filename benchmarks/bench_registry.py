"""Benchmark of the registry: `gittrack models` and `models resolve` over ~2,000 tags.

Run: python benchmarks/bench_registry.py [--models 50] [--versions 30] [--stage-events 500]
     [--repeat 5] [--dir DIR]

Builds a repository with one run commit per version (written directly through the store),
then the registry tags through pygit2 with gittrack's own grammar (tags.format_tag and
tags.format_message: the bytes `gittrack register/promote` would write; `git tag` in a loop
is too slow to set up 2,000 tags). Each command then runs in a fresh process, as a user or a
deploy script runs it; the wall time includes interpreter start and imports. Measured twice:
with every tag loose (right after writing) and after `git pack-refs --all` + `git repack -d`,
which gittrack's maintenance runs as loose objects pile up (the steady state). The first call
after new tags reads them from git and fills the registry caches (.git/gittrack/registry/);
it is reported apart from the repeated calls, which read only refs and the caches.
benchmarks/bench_incumbents.py writes the same events in GTO's tag grammar and times `gto show`.
"""

from __future__ import annotations

import argparse
import compileall
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gittrack.core import names  # noqa: E402
from gittrack.core.gitio import Repo, init_repository  # noqa: E402
from gittrack.core.records import dump_yaml  # noqa: E402
from gittrack.core.store import Store  # noqa: E402
from gittrack.registry import tags
from gittrack.registry.tags import Event  # noqa: E402

ACTOR = "Bench <bench@example.com>"


def write_run(store: Store, base: str, tree: str, model: int, version: int) -> tuple[str, str]:
    """A finished run commit with one model artifact and two metrics; (run id, commit)."""
    run_id = names.new_run_id()
    info = {"format": 1, "id": run_id, "name": f"m{model}-v{version}", "experiment": "bench",
            "status": "finished", "start_time": tags.now(), "end_time": tags.now()}
    md5 = f"{model:08x}{version:08x}".ljust(32, "0") + ".dir"
    repo = store.repo
    blobs = {
        "run.yaml": repo.write_blob(dump_yaml(info, sort_keys=False)),
        "params.yaml": repo.write_blob(dump_yaml({"depth": version})),
        "metrics.yaml": repo.write_blob(dump_yaml({
            "rmse": {"value": 400.0 - version, "step": 0, "timestamp": 0},
            "mae": {"value": 300.0 - version, "step": 0, "timestamp": 0}})),
        "artifacts.yaml": repo.write_blob(dump_yaml({
            "model": {"md5": md5, "size": 1000, "nfiles": 2, "kind": "model"}})),
    }
    commit = store.write_commit(tree, base, blobs, f"run m{model}-v{version} (finished)")
    repo.create_ref(names.run_ref("bench", run_id), commit)
    return run_id, commit


def plan_stage_events(versions: int, per_model: int) -> list[tuple[str, str, int]]:
    """``(action, stage, version)`` for one model: promotions up staging and prod, a demotion."""
    top = list(range(max(1, versions - 9), versions + 1))
    plan: list[tuple[str, str, int]] = []
    for i, v in enumerate(top):
        plan.append(("promote", "staging", v))
        if i % 2 == 1:
            plan.append(("promote", "prod", v))
        if i % 4 == 3:
            plan.append(("demote", "prod", v))
    return plan[:per_model]


def build(path: Path, n_models: int, n_versions: int, stage_events: int) -> int:
    repo = init_repository(path)
    store = Store(repo)
    base = repo.write_commit(repo.write_tree({"train.py": repo.write_blob(b"print(1)\n")}),
                             None, "initial")
    repo.set_ref("refs/heads/main", base)
    tree = repo.commit_tree(base)
    count = 0
    for m in range(n_models):
        model, seq = f"model{m:02d}", 0
        origins: dict[int, Event] = {}
        for v in range(1, n_versions + 1):
            run_id, commit = write_run(store, base, tree, m, v)
            seq += 1
            event = Event("register", model, v, None, run_id, "bench", "model", None, ACTOR,
                          tags.now(), seq, None, commit=commit)
            origins[v] = event
            count += _tag(repo, event)
        for action, stage, v in plan_stage_events(n_versions, stage_events // n_models):
            seq += 1
            o = origins[v]
            event = Event(action, model, v, stage, o.run, o.experiment, o.artifact, None,
                          ACTOR, tags.now(), seq, None, commit=o.commit)
            count += _tag(repo, event)
    return count


def _tag(repo: Repo, event: Event) -> int:
    name = tags.format_tag(tags.name_of(event))
    if not repo.create_annotated_tag(name, event.commit, tags.format_message(event)):
        raise SystemExit(f"tag {name} exists")
    return 1


def fresh(cwd: Path, *args: str) -> tuple[float, float, str]:
    """Wall and CPU (user + sys) seconds of one command in a fresh process, and its stdout."""
    exe = shutil.which("gittrack")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "gittrack.cli.main", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr}")
    return elapsed, cpu, proc.stdout


def measure(cwd: Path, repeat: int, label: str) -> None:
    commands = (("models",), ("models", "resolve", "model17/prod", "--json"), ("--version",))
    for args in commands:
        walls, cpus, out = [], [], ""
        first = fresh(cwd, *args)[0]
        for _ in range(repeat):
            wall, cpu, out = fresh(cwd, *args)
            walls.append(wall)
            cpus.append(cpu)
        what = " ".join(args) + (" (floor: interpreter + click)" if args == ("--version",) else "")
        print(f"{label:7} gittrack {what:42} wall min {min(walls):.3f} median "
              f"{statistics.median(walls):.3f} s | cpu min {min(cpus):.3f} s | "
              f"first call {first:.3f} s")
        if args[1:2] == ("resolve",):
            print(f"{'':7}   -> v{json.loads(out)['version']} of model17/prod")


def compile_package() -> None:
    """Write gittrack's bytecode, as `pip install` does: a source checkout run with
    PYTHONDONTWRITEBYTECODE set would otherwise compile every module in every process."""
    import gittrack

    compileall.compile_dir(Path(gittrack.__file__).parent, quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--versions", type=int, default=30)
    parser.add_argument("--stage-events", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    compile_package()
    work = Path(tempfile.mkdtemp(prefix="bench-registry-", dir=args.dir))
    try:
        path = work / "repo"
        start = time.perf_counter()
        count = build(path, args.models, args.versions, args.stage_events)
        print(f"wrote {count} tags ({args.models} models x {args.versions} versions + "
              f"{count - args.models * args.versions} stage events) in "
              f"{time.perf_counter() - start:.1f} s")
        measure(path, args.repeat, "loose")
        subprocess.run(["git", "pack-refs", "--all"], cwd=path, check=True)
        subprocess.run(["git", "repack", "-d", "-q"], cwd=path, check=True)
        measure(path, args.repeat, "packed")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
