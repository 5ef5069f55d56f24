"""``gittrack run [-e EXP] [-n NAME] [-P key=value ...] -- COMMAND...``: any program as a run.

This process owns the run (its journal and commits). COMMAND runs as a child with
$GITTRACK_RUN_ID and $GITTRACK_REPO set, so ``gittrack.log_*`` in Python and ``gittrack
log-metric`` in a shell script join the run through side journals (gittrack.tracking.attach).
Its stdout and stderr are copied to the terminal and to the artifact ``logs/output.log``;
its exit code becomes the status and this command's exit code.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import IO, Any

import click

from gittrack import api
from gittrack.core.errors import InvalidInputError
from gittrack.core.secrets import redact_argv
from gittrack.gates import GROUP_TAG, SEED_TAG

LOG_ARTIFACT_DIR = "logs"
LOG_NAME = "output.log"
KILL_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL)
SHELL_KILLED_CODES = (128 + signal.SIGINT, 128 + signal.SIGTERM)


@click.command("run", context_settings={"ignore_unknown_options": True,
                                        "allow_interspersed_args": False})
@click.option("-e", "--experiment", metavar="EXP", help="The experiment of the run.")
@click.option("-n", "--name", metavar="NAME", help="The run's name (generated when omitted).")
@click.option("-P", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="A param of the run; VALUE is read as a YAML scalar (3, 0.1, true, text).")
@click.option("--params-file", type=click.Path(dir_okay=False, path_type=Path),
              help="A YAML or JSON mapping of params (-P values win over it).")
@click.option("--repeat", type=click.IntRange(min=1), default=1, metavar="N",
              help="Run COMMAND N times, one run each, as a group (tag gittrack.group) with "
                   "$GITTRACK_SEED set to 0..N-1: what `gittrack gate` compares.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def command(experiment: str | None, name: str | None, params: tuple[str, ...],
            params_file: Path | None, repeat: int, command: tuple[str, ...]) -> int:
    """Run COMMAND as a tracked run and exit with its exit code.

    Python code inside that calls gittrack joins this run (GITTRACK_RUN_ID is set);
    shell scripts log with `gittrack log-metric`, `log-param` and `set-tag`. Output is kept
    as the artifact logs/output.log. Status: exit 0 finished, non-zero failed, Ctrl-C or
    SIGTERM killed. With --repeat N, COMMAND runs N times (seeds 0..N-1 in $GITTRACK_SEED);
    the runs share the tag gittrack.group, and the first non-zero exit code is returned.

    \b
    Example:
      gittrack run -e forecast -P alpha=0.5 -- python train.py --epochs 3
      gittrack run -- bash -c 'gittrack log-metric loss 0.5 --step 1'
      gittrack run --repeat 5 -e forecast -- python train.py   # five seeds, one group
    """
    logged = collect_params(params, params_file)
    group = secrets.token_hex(8) if repeat > 1 else None
    codes = []
    for seed in range(repeat):
        run_name = f"{name}-{seed}" if name and group else name
        codes.append(_one_run(experiment, run_name, logged, command, group, seed))
    return next((c for c in codes if c != 0), 0)


def _one_run(experiment: str | None, name: str | None, logged: dict[str, Any],
             command: tuple[str, ...], group: str | None, seed: int) -> int:
    run = api.start_run(run_name=name, experiment=experiment,
                        nested=bool(os.environ.get("GITTRACK_RUN_ID")))
    status, code = "failed", 1
    try:
        if logged:
            run.log_params(logged)
        run.set_tag("gittrack.command", shlex.join(redact_argv(command))[:8000])
        extra = {}
        if group is not None:
            run.set_tags({GROUP_TAG: group, SEED_TAG: str(seed)})
            extra["GITTRACK_SEED"] = str(seed)
        run.capture_code(script_of(command))
        status, code = supervise(run, list(command), extra)
        run.set_tag("gittrack.exit_code", str(code))
    finally:
        api.end_run_object(run, status)
    click.echo(f"gittrack: run {run.id} ({run.experiment}/{run.name}) {status}, exit code {code}.",
               err=True)
    return code


INTERPRETERS = re.compile(r"(python|pypy)[0-9.]*|bash|sh|dash|zsh|Rscript|node|julia|perl|ruby")


def script_of(argv: tuple[str, ...]) -> list[str]:
    """The script a command runs: after an interpreter (``python train.py``), its first
    argument that is not an option; else the program itself (``./train.sh``); when a file."""
    if not argv:
        return []
    script: str | None = argv[0]
    if INTERPRETERS.fullmatch(os.path.basename(argv[0])):
        script = next((a for a in argv[1:] if not a.startswith("-")), None)
    return [script] if script and os.path.isfile(script) else []


# ---------------------------------------------------------------- params


def collect_params(pairs: tuple[str, ...], params_file: Path | None) -> dict[str, Any]:
    """Params from the file, then from ``-P key=value`` pairs (which win)."""
    params: dict[str, Any] = dict(read_params_file(params_file)) if params_file else {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE.", param_hint="-P")
        params[key.strip()] = parse_scalar(text)
    return params


def parse_scalar(text: str) -> Any:
    """A -P value as YAML reads it (``3``, ``0.1``, ``true``, ``null``); text otherwise."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError):  # "[[[[..." nests past the parser's stack
        return text
    return text if isinstance(value, (dict, list)) else value  # scalars only: "a: b" is text


def read_params_file(path: Path) -> Mapping[str, Any]:
    """A YAML (or JSON) mapping of params."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except OSError as exc:
        raise InvalidInputError(f"Cannot read the params file {path} ({exc.strerror}); check the path.") from exc
    except (ValueError, yaml.YAMLError, RecursionError) as exc:
        raise InvalidInputError(f"The params file {path} is not valid YAML or JSON ({exc}).") from exc
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"The params file {path} must hold a mapping of names to values.")
    return data


# ---------------------------------------------------------------- the child


def supervise(run: Any, argv: list[str], extra_env: Mapping[str, str] | None = None
              ) -> tuple[str, int]:
    """Run ``argv`` as the run's child; ``(status, exit code)`` when it ends."""
    tmp = Path(tempfile.mkdtemp(prefix="run-", dir=_tmp_root(run)))
    try:
        with open(tmp / LOG_NAME, "wb") as log:
            status, code = _run_child(run, argv, log, extra_env or {})
        run.log_artifact(tmp / LOG_NAME, artifact_path=LOG_ARTIFACT_DIR)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return status, code


def _tmp_root(run: Any) -> Path:
    root = Path(run.store.repo.state_dir) / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    return root


def child_env(run: Any) -> dict[str, str]:
    """The child's environment: the run to join, its repository, unbuffered Python output."""
    env = dict(os.environ)
    repo = run.store.repo  # the work tree when there is one: a git dir alone may not say it
    env.update(GITTRACK_RUN_ID=run.id, GITTRACK_REPO=str(repo.workdir or repo.git_dir))
    env.setdefault("PYTHONUNBUFFERED", "1")  # a pipe would otherwise hold Python's output back
    return env


def _run_child(run: Any, argv: list[str], log: IO[bytes], extra_env: Mapping[str, str]
               ) -> tuple[str, int]:
    # With a terminal, the child stays in our process group: Ctrl-C reaches it from the
    # terminal, and it can read the terminal (pdb). Without one, it gets a group of its own
    # and we forward SIGINT too, so it is delivered exactly once either way.
    own_group = not _stdin_is_tty()
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**child_env(run), **extra_env}, process_group=0 if own_group else None)
    except OSError as exc:
        raise InvalidInputError(
            f"Cannot start {argv[0]!r} ({exc.strerror}); check the command and your PATH."
        ) from exc
    received: list[int] = []
    restore = _forward_signals(proc, own_group, received)
    lock = threading.Lock()
    pumps = [threading.Thread(target=_pump, args=(pipe, out, log, lock), daemon=True)
             for pipe, out in ((proc.stdout, _stream(sys.stdout)), (proc.stderr, _stream(sys.stderr)))]
    try:
        for pump in pumps:
            pump.start()
        code = proc.wait()
        for pump in pumps:
            pump.join()
    finally:
        restore()
    return status_of(code, bool(received)), (128 - code if code < 0 else code)


def status_of(returncode: int, signalled: bool) -> str:
    """The run status a child's return code means (negative: killed by that signal)."""
    if returncode == 0:
        return "finished"
    if returncode < 0 and -returncode in KILL_SIGNALS:
        return "killed"
    if signalled or returncode in SHELL_KILLED_CODES:  # 130/143: a shell reporting a signal
        return "killed"
    return "failed"


def _forward_signals(proc: subprocess.Popen[bytes], own_group: bool,
                     received: list[int]) -> Any:
    def forward(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if signum == signal.SIGINT and not own_group:
            return  # the terminal sent it to the child's group (ours) already
        try:
            if own_group:
                os.killpg(proc.pid, signum)
            else:
                proc.send_signal(signum)
        except ProcessLookupError:
            pass

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    return restore


def _pump(pipe: IO[bytes] | None, out: IO[bytes] | None, log: IO[bytes], lock: threading.Lock) -> None:
    """Copy a child's pipe to the terminal and to the log, chunk by chunk."""
    if pipe is None:
        return
    fd = pipe.fileno()
    while chunk := os.read(fd, 65536):
        with lock:
            log.write(chunk)
            log.flush()
        if out is not None:
            try:
                out.write(chunk)
                out.flush()
            except (OSError, ValueError):
                out = None  # the terminal went away (closed pipe): keep logging
    pipe.close()


def _stream(text: Any) -> IO[bytes] | None:
    buffer = getattr(text, "buffer", None)
    return buffer if buffer is not None else None


def _stdin_is_tty() -> bool:
    try:
        return os.isatty(sys.stdin.fileno())
    except (AttributeError, ValueError, OSError):
        return False
