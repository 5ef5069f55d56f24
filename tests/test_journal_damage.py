"""A damaged journal loses only its damaged lines, never stops a command, and is quarantined.

The run's process "dies" (its journal stays, unlocked), the journal is damaged one of six
ways (and a seventh: the header itself zeroed), then plain commands run. Every command works,
the run ends ``crashed`` holding every point of an intact line, the damaged bytes are kept
under .git/gittrack/quarantine/, and a warning names the journal.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import die, git

import gittrack
from gittrack import api

POINTS = 200


def dead_run(committed: int = 0) -> tuple[str, Path, bytes]:
    """A run that logged POINTS points of `loss` (the first ``committed`` of them also
    committed to its ref), a param and a tag, then died: its id, journal and journal bytes."""
    run = gittrack.start_run(run_name="victim")
    for step in range(POINTS):
        run.log_metric("loss", 1 / (step + 1), step=step, timestamp=1000 + step)
        if step + 1 == committed:
            run.flush()
            run.commit()
    run.log_param("lr", 0.1)
    run.set_tag("team", "ml")
    die(run)
    path = api._store().repo.state_dir / "journal" / f"{run.id}.jsonl"  # no recovery yet
    return run.id, path, path.read_bytes()


def spans(data: bytes) -> list[tuple[int, int, bytes]]:
    """``(start, end of its newline, line)`` of each line."""
    out, start = [], 0
    while (end := data.find(b"\n", start)) >= 0:
        out.append((start, end, data[start:end]))
        start = end + 1
    return out


def steps_in(lines: list[bytes]) -> list[int]:
    return [int(line.split(b"\t")[2]) for line in lines if line.startswith(b"m\tloss\t")]


# Each damage: (journal bytes) -> (damaged bytes, the metric lines left intact)
Damage = Callable[[bytes], tuple[bytes, list[bytes]]]


def truncated_line(data: bytes) -> tuple[bytes, list[bytes]]:
    lines = spans(data)
    start, end, _ = lines[-1]
    return data[: start + (end - start) // 2], [line for _s, _e, line in lines[:-1]]


def garbage_line(data: bytes) -> tuple[bytes, list[bytes]]:
    lines = spans(data)
    cut = lines[len(lines) // 2][0]
    return data[:cut] + b"\x8f#garbage{[\x01 not a journal line\n" + data[cut:], \
        [line for _s, _e, line in lines]


def zero_block(data: bytes, at: float = 0.5, size: int = 4096) -> tuple[bytes, list[bytes]]:
    lo = int(len(data) * at) - size // 2 if at else 0
    lo, hi = max(lo, 0), max(lo, 0) + size  # zeroed: [lo, hi)
    damaged = data[:lo] + b"\0" * (min(hi, len(data)) - lo) + data[hi:]
    intact = [line for s, e, line in spans(data) if e < lo or s - 1 >= hi]
    return damaged, intact


def wrong_field_count(data: bytes) -> tuple[bytes, list[bytes]]:
    lines = spans(data)
    s, e, line = lines[len(lines) // 3]
    assert line.startswith(b"m\tloss\t")
    return data[:s] + b"m\tloss\t5\t1005" + data[e:], [ln for _s, _e, ln in lines if ln != line]


def invalid_utf8(data: bytes) -> tuple[bytes, list[bytes]]:
    lines = spans(data)
    s, e, line = lines[len(lines) // 4]
    return data[:s] + line.replace(b"loss", b"lo\xff\xfess") + data[e:], \
        [ln for _s, _e, ln in lines if ln != line]


def empty(data: bytes) -> tuple[bytes, list[bytes]]:
    return b"", []


DAMAGES: dict[str, Damage] = {
    "truncated line": truncated_line, "garbage line": garbage_line,
    "zero-filled block": zero_block, "wrong field count": wrong_field_count,
    "invalid UTF-8": invalid_utf8, "empty": empty,
    "zero-filled header": lambda data: zero_block(data, at=0, size=300),
}


@pytest.mark.parametrize("kind", sorted(DAMAGES))
def test_a_damaged_journal_loses_only_its_damaged_lines(repo: Path, cli: Any, kind: str) -> None:
    committed = 50 if kind in ("empty", "zero-filled header") else 0
    run_id, journal, data = dead_run(committed)
    damaged, intact = DAMAGES[kind](data)
    journal.write_bytes(damaged)

    shown = cli("log")  # the first command recovers the dead run
    assert shown.code == 0, shown.err
    assert f"Run {run_id}" in shown.err and "warning" in shown.err
    for args in (("show", run_id), ("experiments",), ("log", "--format", "json")):
        result = cli(*args)
        assert result.code == 0, (args, result.err)
    with gittrack.start_run(run_name="after") as after:
        after.log_metric("ok", 1.0)

    run = gittrack.get_run(run_id)
    assert run.status == "crashed"
    store = api.open_store()
    history = store.metric_history(run.commit, "loss")
    expected = sorted(set(steps_in(intact)) | set(range(committed)))
    assert [step for step, _ts, _v in history] == expected  # every intact point, none twice
    assert all(math.isclose(v, 1 / (s + 1)) for s, _ts, v in history)
    quarantine = store.repo.state_dir / "quarantine"
    kept = b"".join(p.read_bytes() for p in quarantine.iterdir()) if quarantine.is_dir() else b""
    if kind == "empty":
        assert "was empty" in shown.err and not kept
    else:
        assert str(journal) in shown.err and str(quarantine) in shown.err
        lost = [ln for _s, _e, ln in spans(damaged + b"\n") if ln and ln not in intact]
        assert all(line in kept for line in lost if not line.startswith(b'["h"'))
    assert not journal.exists()


def test_a_journal_with_no_run_ref_is_kept_in_quarantine(repo: Path, cli: Any) -> None:
    run_id, journal, data = dead_run()
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/gittrack/runs/").split()
    git(repo, "update-ref", "-d", next(r for r in refs if r.endswith(run_id)))
    result = cli("log")
    assert result.code == 0, result.err
    assert "no run ref" in result.err and not journal.exists()
    kept = list((repo / ".git" / "gittrack" / "quarantine").iterdir())
    assert [p.read_bytes() for p in kept] == [data]


@pytest.mark.parametrize("header", [
    {"ref": "refs/heads/main", "parent": "zz"},
    {"ref": "refs/gittrack/runs/default/0123456789abcdef", "parent": "0" * 40},
], ids=["a branch", "another run"])
def test_a_journal_header_moves_only_its_own_runs_ref(repo: Path, cli: Any,
                                                      header: dict[str, str]) -> None:
    import json

    main = git(repo, "rev-parse", "HEAD").strip()
    run_id, journal, data = dead_run()
    lines = data.split(b"\n")
    first = json.loads(lines[0])
    assert first[0] == "h"
    first[1].update(header)  # a header edited or damaged to name another ref and no parent
    journal.write_bytes(b"\n".join([json.dumps(first).encode(), *lines[1:]]))
    result = cli("log")
    assert result.code == 0, result.err
    assert git(repo, "rev-parse", "HEAD").strip() == main  # the branch did not move
    assert "0123456789abcdef" not in git(repo, "for-each-ref", "refs/gittrack/runs/")
    run = gittrack.get_run(run_id)
    assert run.status == "crashed" and run.params == {"lr": 0.1}
    assert run.metrics["loss"].step == POINTS - 1  # every point recovered into its own ref
    fsck = git(repo, "fsck", "--no-dangling")
    assert "error" not in fsck
