"""An active run: buffered logging, the journal, timed commits and the end of the run.

Logging calls only append to an in-memory buffer under a lock (microseconds). A background
thread moves the buffer into the journal every ``FLUSH_SECONDS`` and commits the record to
the run's ref every ``COMMIT_SECONDS``; the end of the run commits once more (DESIGN 3).
"""

from __future__ import annotations

import logging
import numbers
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from gittrack.core import display, environment, maintenance, names, project, signing
from gittrack.core.errors import InvalidInputError, RunStateError, SignatureError
from gittrack.core.gitio import Repo
from gittrack.core.journal import INT64, Journal
from gittrack.core.records import TERMINAL, RunInfo, flatten, now_iso, parse_tsv, plain
from gittrack.core.store import Store
from gittrack.tracking import code, services, sides, stack
from gittrack.tracking.state import MAX_TAG_CHARS, RunState

log = logging.getLogger("gittrack")

FLUSH_SECONDS = float(os.environ.get("GITTRACK_FLUSH_SECONDS", "0.2"))
COMMIT_SECONDS = float(os.environ.get("GITTRACK_COMMIT_SECONDS", "10"))
# Adds to the code tree at each commit what changes while the run lives (a notebook's cells):
# (repo, code tree) -> tree.
CodeGraft = Callable[[Repo, "str | None"], "str | None"]
WARN_AFTER_FAILURES = 3  # background failures in a row before a warning (git's own gc
# holding a ref lock is retried inside gitio and rarely outlasts one tick)


class ActiveRun:
    """A run being recorded by this process. Also a context manager.

    An exception inside ``with`` ends the run ``failed``; KeyboardInterrupt (and SIGTERM,
    which gittrack turns into one) ends it ``killed``; otherwise it ends ``finished``.
    """

    def __init__(self, store: Store, state: RunState, ref: str, parent: str | None,
                 code_tree: str | None, journal: Journal, code_graft: CodeGraft | None = None
                 ) -> None:
        self.store = store
        self.state = state
        self.ref = ref
        self._parent = parent
        self._code_tree = code_tree
        self._code_graft = code_graft
        self._lock = threading.Lock()  # guards the buffer and the state
        self._git_lock = threading.Lock()  # one commit at a time
        self._pending: list[tuple[str, float, int, int]] = []
        self._events: list[list[Any]] = []
        self._metric_keys: set[str] = set()
        self._ended = False
        self._dirty = False
        self._journal = journal
        self._writer = Store(Repo(store.repo.git_dir))
        self._sides: Any = None  # gittrack.tracking.sides.SideJournals, made on first merge
        self.logged_paths: list[Path] = []  # files and directories logged as artifacts or inputs
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"gittrack-{self.id}",
                                        daemon=True)
        self._thread.start()

    # -- identity -----------------------------------------------------------------------
    @property
    def id(self) -> str:
        return str(self.state.info["id"])

    @property
    def name(self) -> str:
        return str(self.state.info["name"])

    @property
    def experiment(self) -> str:
        return str(self.state.info["experiment"])

    @property
    def info(self) -> RunInfo:
        """``run.yaml`` so far, a dict that also answers MLflow's ``run.info.run_id`` etc."""
        return RunInfo(self.state.info)

    @property
    def _info(self) -> RunInfo:  # MLflow's examples read run._info.run_id
        return self.info

    def __repr__(self) -> str:
        return f"<ActiveRun {self.id} {self.experiment}/{self.name}>"

    # -- display in notebooks (gittrack.core.display) -------------------------------------
    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(display.text_card(self.card_data()))

    def _repr_html_(self) -> str | None:
        return display.html(self)

    def card_data(self) -> display.CardData:
        """What the run's card shows, including values logged since the last flush."""
        if not self._ended:
            self.flush()
        with self._lock:
            histories = {k: bytes(h) for k, h in self.state.history.items()}
            latest = {k: (v, s) for k, (v, s, _t) in sorted(self.state.latest.items())}
            return display.CardData(
                "ActiveRun", self.id, self.name, self.experiment,
                str(self.state.info.get("status")), dict(self.state.flat_params), latest,
                lambda key: [(float(s), v) for s, _t, v in
                             parse_tsv(histories.get(key, b"").decode("utf-8"))])

    # -- logging ------------------------------------------------------------------------
    def log_metric(self, key: str, value: float, step: int | None = None,
                   timestamp: int | None = None) -> None:
        """Record one point of a metric; ``step`` defaults to 0 and ``timestamp`` to now (ms)."""
        if type(key) is not str or key not in self._metric_keys:
            self._new_metric_key(key)
        if type(value) is not float:
            value = _as_number(key, value)
        ts = int(time.time() * 1000) if timestamp is None else _as_int("timestamp", timestamp)
        st = 0 if step is None else (step if type(step) is int and -INT64 <= step < INT64
                                     else _as_int("step", step))
        with self._lock:
            if self._ended:
                raise self._ended_error()
            self._pending.append((key, value, st, ts))

    def _new_metric_key(self, key: str) -> None:
        names.validate_key("metric", key)
        self._metric_keys.add(str.__str__(key))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None,
                    timestamp: int | None = None) -> None:
        """Record several metrics at one step; all are checked before any is recorded."""
        _require_mapping("log_metrics", metrics)
        ts = int(time.time() * 1000) if timestamp is None else _as_int("timestamp", timestamp)
        checked = []
        known = self._metric_keys
        for key, value in metrics.items():
            if type(key) is not str or key not in known:
                self._new_metric_key(key)
                key = str.__str__(key)
            checked.append((key, value if type(value) is float else _as_number(key, value)))
        st = 0 if step is None else (step if type(step) is int and -INT64 <= step < INT64
                                     else _as_int("step", step))
        with self._lock:
            if self._ended:
                raise self._ended_error()
            self._pending.extend((k, v, st, ts) for k, v in checked)

    def log_param(self, key: str, value: Any) -> Any:
        """Record a parameter; a param is fixed once logged (another value is an error)."""
        self.log_params({key: value})
        return value

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record several parameters (nested mappings allowed) all or nothing."""
        clean = clean_params(params)
        with self._lock:
            if self._ended:
                raise self._ended_error()
            self.state.check_params(clean)
            self.state.merge_params(clean)
            self._events.append(["p", clean])
            self._dirty = True

    def set_tag(self, key: str, value: Any) -> None:
        """Set a tag (a string); a tag can be changed, unlike a param."""
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set several tags (strings) at once; all are checked before any is set."""
        clean = clean_tags(tags)
        with self._lock:
            if self._ended:
                raise self._ended_error()
            for key, text in clean.items():
                self.state.apply(["t", key, text])
                self._events.append(["t", key, text])
            self._dirty = True

    def record(self, event: list[Any]) -> None:
        """Apply and journal a prepared event (artifacts and inputs use this)."""
        with self._lock:
            if self._ended:
                raise self._ended_error()
            self.state.apply(event)
            self._events.append(event)
            self._dirty = True

    def _ended_error(self) -> RunStateError:
        return RunStateError(
            f"Run {self.id} ({self.name}) has ended ({self.state.info['status']}); "
            "start a new run, or resume it with start_run(run_id=...)."
        )

    # -- flushing and committing --------------------------------------------------------
    def flush(self) -> None:
        """Move buffered values into the state and the journal (a kill after this loses nothing)."""
        with self._lock:
            pending, self._pending = self._pending, []
            events, self._events = self._events, []
            lines = []
            for key, value, step, ts in pending:
                row = f"{step}\t{ts}\t{value!r}\n"
                self.state.add_point(key, value, step, ts, row)
                lines.append(f"m\t{key}\t{row}")
            if pending:
                self._dirty = True
        self._journal.append(events, "".join(lines))

    def commit(self) -> str:
        """Write the record as a new commit on the run's ref."""
        return self._commit()[0]

    def _commit(self, final: bool = False) -> tuple[str, dict[str, bytes | str]]:
        # The commit and the record files it holds, as rendered.
        with self._git_lock:
            with self._lock:
                self._dirty = False
                files = self.state.render()
                message = self.state.message()
            # Blobs are written outside the buffer lock, so logging never waits on git;
            # and with a Repo object of its own, as libgit2 objects are not for sharing
            # between threads.
            code_tree = self._code_tree
            if self._code_graft is not None:
                code_tree = self._code_graft(self._writer.repo, code_tree)
            commit = self.state.commit(self._writer, code_tree, self._parent, files, message)
            if final:
                commit = self._signed(commit)
            self._writer.repo.set_ref(self.ref, commit)
            return commit, files

    def _signed(self, commit: str) -> str:
        """The final commit, signed by git when the config says ``sign_runs: true``; a run
        whose commit cannot be signed still ends (unsigned), with a warning."""
        repo = self._writer.repo
        if project.config(repo).get("sign_runs") is not True:
            return commit
        try:
            return signing.sign_commit(repo, commit)
        except SignatureError as exc:
            log.warning("Run %s ends unsigned: %s", self.id, exc)
            return commit

    def _loop(self) -> None:
        last_commit = time.monotonic()
        failures = 0
        while not self._stop.wait(FLUSH_SECONDS):
            try:
                self.flush()
                due = time.monotonic() - last_commit >= COMMIT_SECONDS
                if due:
                    self.merge_side_journals()
                if self._dirty and due:
                    try:
                        self.commit()
                    except BaseException:
                        self._dirty = True  # the next tick commits again
                        raise
                    last_commit = time.monotonic()
                failures = 0
            except Exception as exc:  # noqa: BLE001 - a dead flusher would stop the journal silently
                failures += 1
                if failures == WARN_AFTER_FAILURES:
                    log.warning(
                        "Run %s: the background flush or commit failed %d times in a row "
                        "(%s: %s); values still go to the journal, and each %.1f s it tries "
                        "again.", self.id, failures, type(exc).__name__, exc, FLUSH_SECONDS)
        if self._ended:
            self._finish()

    # -- ending -------------------------------------------------------------------------
    def end(self, status: str = "finished") -> None:
        """End the run with ``status`` (finished, failed or killed).

        The run's own thread journals the end with what is still buffered, then writes the
        final commit, right after this returns: ending costs the training loop microseconds.
        Every gittrack read in this process waits for it (:func:`gittrack.flush` does
        explicitly), and so does the process's exit; a crash once the end is journaled
        recovers the run with this status (docs/format.md).
        """
        if status not in TERMINAL or status == "crashed":
            raise InvalidInputError(
                f"Status {status!r} cannot end a run; use 'finished', 'failed' or 'killed'."
            )
        with self._lock:
            if self._ended:
                return
            self._ended = True
            ending = {"status": status, "end_time": now_iso()}
            self.state.info.update(ending)
            self._events.append(["x", ending])
        stack.discard(self)  # `run.end()` ends the active run as end_run() does
        self.capture_code()  # modules imported since the run started
        stack.finishing(self)
        if threading.current_thread() is self._thread:
            self._finish()
        else:
            self._stop.set()

    def _finish(self) -> None:
        # The final commit, in the run's thread: side journals merged, the record committed,
        # its summary noted, the journal removed, the repository tidied.
        try:
            self.flush()  # the end and the last values, journaled together
            packages = environment.imported_packages(self.store.repo.state_dir)
            with self._lock:
                self.state.info["packages"] = packages
            self.merge_side_journals()
            commit, files = self._commit(final=True)
            services.runs_ended(self.store.repo, [(commit, files, self.state.summary(commit))])
            code.warn_left_out(self.store.repo, self.state.info.get("untracked") or [],
                               int(self.state.info.get("untracked_count") or 0), self.logged_paths)
            self._sides.remove()
            self._journal.close(remove=True)
            maintenance.keep_healthy(self._writer.repo)
            self._writer.repo.release()  # a warm libgit2 repository for the next run to take
        except Exception as exc:  # noqa: BLE001 - nothing above this thread could report it
            # The journal stays (locked until this process exits); the next gittrack
            # command after that commits the run from it with the status it ended with.
            log.warning("Run %s could not be committed at its end (%s); it is recovered from "
                        "its journal once this process exits.", self.id, exc)

    @property
    def committing(self) -> bool:
        """Whether the run has ended and its thread is still writing the final commit."""
        return self._ended and self._thread.is_alive()

    def wait(self) -> None:
        """Wait until the run's final commit is written (returns at once for a live run)."""
        if self._ended and threading.current_thread() is not self._thread:
            self._thread.join()

    def capture_code(self, paths: Iterable[str | os.PathLike[str]] = ()) -> list[str]:
        """Put into the run's code tree the untracked files of the work tree that this process
        executed or imported, and ``paths`` (a script it ran); the files taken."""
        recorded = list(self.state.info.get("untracked") or [])
        # a name that is not UTF-8 is recorded as its bytes (docs/format.md) and kept as such
        listed = [n for n in recorded if isinstance(n, str)]
        taken = code.executed(self.store.repo, listed, paths)
        if not taken:
            return []
        with self._git_lock:
            self._code_tree = self._writer.repo.tree_with_workdir_files(self._code_tree, taken)
        with self._lock:
            info = self.state.info
            info["untracked"] = [n for n in recorded if n not in taken]
            info["untracked_count"] = max(int(info.get("untracked_count") or 0) - len(taken), 0)
            info["dirty"] = True
            self._dirty = True
        return taken

    def merge_side_journals(self) -> None:
        """Apply what child processes appended to this run's side journals (gittrack.tracking.sides)."""
        if self._sides is None:
            self._sides = sides.SideJournals(self.store.repo.state_dir / "journal", self.id)
        if self._sides.merge(self.state, self._lock):
            self._dirty = True

    @property
    def ended(self) -> bool:
        return self._ended

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        stack.end_run_object(self, stack.status_for(exc))

    # -- artifacts, inputs and models (gittrack.artifacts.run_artifacts, via services) ---------------------------
    def record_now(self, event: list[Any]) -> None:
        """Apply ``event`` and write it to the journal at once, not on the next flush.

        Artifact pointers use this: gc reads live runs' journals, so a pointer must be on
        disk before the cache lock that guarded its object is released (docs/artifacts.md).
        """
        with self._lock:
            if self._ended:
                raise self._ended_error()
            self.state.apply(event)
            self._journal.append([event])
            self._dirty = True

    def log_artifact(self, path: str | os.PathLike[str], artifact_path: str | None = None) -> Any:
        """Store a file or directory in the cache and record its pointer."""
        return services.artifacts().log_artifact(self, path, artifact_path)

    def log_artifacts(self, local_dir: str | os.PathLike[str],
                      artifact_path: str | None = None) -> Any:
        """Store a directory as one artifact."""
        return services.artifacts().log_artifacts(self, local_dir, artifact_path)

    def log_text(self, text: str, artifact_file: str) -> Any:
        """Store text as the file artifact ``artifact_file``."""
        return services.artifacts().log_text(self, text, artifact_file)

    def log_dict(self, dictionary: Mapping[str, Any], artifact_file: str) -> Any:
        """Store a mapping as YAML or JSON (by extension)."""
        return services.artifacts().log_dict(self, dictionary, artifact_file)

    def log_figure(self, figure: Any, artifact_file: str) -> Any:
        """Store a matplotlib figure."""
        return services.artifacts().log_figure(self, figure, artifact_file)

    def log_table(self, data: Any, artifact_file: str) -> Any:
        """Store a DataFrame (or dict of columns) as JSON, CSV or Parquet."""
        return services.artifacts().log_table(self, data, artifact_file)

    def log_input(self, source: Any, name: str | None = None, context: str = "training",
                  store: bool = False, profile: Any = True,
                  header: bool | None = None) -> dict[str, Any]:
        """Record a dataset the run read (hash, size, rows, columns, schema, data profile);
        ``header`` says whether a CSV's first line names its columns (None: detected)."""
        entry: dict[str, Any] = services.artifacts().log_input(self, source, name, context, store,
                                                               profile, header=header)
        return entry

    def log_model(self, model: object, name: str, input_example: object = None,
                  signature: Mapping[str, Any] | None = None,
                  pip_requirements: list[str] | None = None) -> Any:
        """Save a model with model.yaml and store it as artifact ``name``."""
        return services.artifacts().log_model(self, model, name, input_example, signature,
                                       pip_requirements)


def clean_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Params as they are recorded (plain values), every key checked, nested keys too."""
    _require_mapping("log_params", params)
    clean = {str.__str__(names.validate_key("param", k)): plain(v) for k, v in params.items()}
    for flat_key in flatten(clean):
        names.validate_key("param", flat_key)
    return clean


def clean_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    """Tags as they are recorded: strings (None as empty), every key and length checked."""
    _require_mapping("set_tags", tags)
    clean = {}
    for key, value in tags.items():
        key = str.__str__(names.validate_key("tag", key))
        text = tag_text(value)
        if len(text) > MAX_TAG_CHARS:
            raise InvalidInputError(
                f"Tag '{key}' is longer than {MAX_TAG_CHARS} characters; "
                "log large values with log_text instead."
            )
        clean[key] = text
    return clean


def as_number(key: str, value: Any) -> float:
    """A metric value as recorded (a float), or one sentence saying why it is not one."""
    return _as_number(key, value)


def as_int(what: str, value: Any) -> int:
    """A step or timestamp as recorded (an int), or one sentence saying why it is not one."""
    return _as_int(what, value)


def _as_number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(
            f"Metric '{key}' must be a number, got {_short_repr(value)} "
            f"({type(value).__name__}); log text with set_tag or log_param instead."
        )
    try:
        return float(value)
    except (OverflowError, ValueError, TypeError):
        raise InvalidInputError(
            f"Metric '{key}' is {_short_repr(value)}, beyond what a 64-bit float holds; "
            "log it scaled, or as text with set_tag."
        ) from None


def _as_int(what: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidInputError(f"The {what} must be a whole number, got {_short_repr(value)}.")
    number = int(value)
    if not -INT64 <= number < INT64:
        raise InvalidInputError(
            f"The {what} {_short_repr(number)} is outside the 64-bit range MLflow and "
            "gittrack store; use a smaller number."
        )
    return number


def tag_text(value: Any) -> str:
    """A tag's value as the text recorded: None as '', anything else as its plain text."""
    text = "" if value is None else plain(value)
    return text if isinstance(text, str) else str(text)


def _require_mapping(what: str, value: Any) -> None:
    if not isinstance(value, Mapping):
        raise InvalidInputError(
            f"{what} takes a mapping of names to values; got {type(value).__name__}."
        )


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a user object whose repr fails (or recurses)
        return f"a {type(value).__name__}"
    return text if len(text) <= 60 else text[:57] + "..."
