"""Derived state is verified before it is trusted (issue 12): tampered six ways, `log` and
`show` agree, or a warning names the rebuild, and nothing exits 3.

Write with gittrack, tamper with the plain file system, read with the CLI.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import gittrack
from gittrack import api
from conftest import lose_object

from gittrack.query import index


def log_runs() -> list[str]:
    ids = []
    for i in range(4):
        with gittrack.start_run(run_name=f"r{i}") as run:
            run.log_params({"lr": round(0.1 * (i + 1), 1), "depth": i})
            run.log_metric("rmse", 1.5 + i)
            ids.append(run.id)
    return ids


def segments(repo: Path) -> list[Path]:
    folder = repo / ".git" / "gittrack" / "index" / f"v{index.INDEX_FORMAT}"
    return sorted(folder.glob("*.seg"))


def indexed(repo: Path, cli: Any) -> Path:
    """Build the index (one segment) and return its file."""
    assert cli("log").code == 0
    (seg,) = segments(repo)
    return seg


def header(data: bytes) -> tuple[dict[str, Any], int]:
    (size,) = struct.unpack_from("<Q", data, len(index.MAGIC))
    start = len(index.MAGIC) + 8
    return json.loads(data[start:start + size]), start + size


def shown_params(cli: Any, ids: list[str]) -> dict[str, Any]:
    """``{run id: params}`` from `log --format json`, and each checked against `show`."""
    listed = cli("log", "--format", "json")
    assert listed.code == 0, listed.err
    rows = {r["id"]: r["params"] for r in json.loads(listed.out)}
    for run_id in ids:
        shown = cli("show", run_id, "--format", "json")
        assert shown.code == 0, shown.err
        assert json.loads(shown.out)["params"] == rows[run_id]
    return rows


def test_an_edited_row_is_caught_and_rebuilt(repo: Path, cli: Any) -> None:
    ids = log_runs()
    seg = indexed(repo, cli)
    data = seg.read_bytes()
    assert data.count(b'"lr":0.1}') == 1
    seg.write_bytes(data.replace(b'"lr":0.1}', b'"lr":0.9}'))  # same length: only the CRC knows
    listed = cli("log", "--format", "json")
    assert "was damaged" in listed.err and seg.name in listed.err
    assert shown_params(cli, ids)[ids[0]]["lr"] == 0.1


def test_a_flipped_float_is_caught_and_rebuilt(repo: Path, cli: Any) -> None:
    ids = log_runs()
    seg = indexed(repo, cli)
    data = bytearray(seg.read_bytes())
    head, base = header(bytes(data))
    off, length = head["sections"]["metrics.rmse/v"]
    data[base + off + 6] ^= 0x40  # one bit of the exponent of one run's rmse
    seg.write_bytes(bytes(data))
    listed = cli("log", "--where", "metrics.rmse < 3", "--format", "csv", "--columns",
                 "id,metrics.rmse")  # the filter reads the column
    assert listed.code == 0 and "was damaged" in listed.err
    values = dict(line.split(",") for line in listed.out.splitlines()[1:])
    expected = {i for i in ids if gittrack.get_run(i).metrics["rmse"].value < 3}
    assert set(values) == expected and len(expected) == 2
    for run_id in ids:
        assert float(values.get(run_id, 99)) in (gittrack.get_run(run_id).metrics["rmse"].value,
                                                 99)


def test_a_truncated_segment_is_dropped_and_read_again(repo: Path, cli: Any) -> None:
    ids = log_runs()
    seg = indexed(repo, cli)
    before = cli("log", "--format", "json").out
    seg.write_bytes(seg.read_bytes()[: seg.stat().st_size // 2])
    after = cli("log", "--format", "json")
    assert after.code == 0 and "is damaged" in after.err and str(seg) in after.err
    assert after.out == before
    assert shown_params(cli, ids)


def test_a_garbage_cache_state_database_is_rebuilt(repo: Path, cli: Any) -> None:
    (repo / "model.txt").write_text("weights\n")
    with gittrack.start_run(run_name="with-artifact") as run:
        run.log_artifact(repo / "model.txt")
    (repo / "model.txt").unlink()
    assert cli("checkout", run.id).code == 0  # a checkout memoises the hashes it verified
    state = repo / ".git" / "gittrack" / "cache-state"
    databases = list(state.rglob("*.db"))
    assert databases
    for db in databases:
        db.write_bytes(b"this is not an SQLite database" * 100)
    (repo / "model.txt").unlink()
    restored = cli("checkout", run.id)
    assert restored.code == 0, restored.err
    assert "cache-state database" in restored.err and "rebuilt" in restored.err
    assert (repo / "model.txt").read_text() == "weights\n"
    assert cli("doctor", "--check").code == 0


def lose(repo: Path, oid: str) -> None:
    lose_object(repo / ".git", oid)


def test_a_deleted_run_commit_is_left_out_with_its_name(repo: Path, cli: Any) -> None:
    ids = log_runs()
    indexed(repo, cli)
    gone = gittrack.get_run(ids[1]).commit
    lose(repo, gone)
    listed = cli("log", "--format", "json")
    assert listed.code == 0
    assert ids[1] in listed.err and "gittrack pull" in listed.err
    assert {r["id"] for r in json.loads(listed.out)} == set(ids) - {ids[1]}
    # MLflow's search_runs leaves it out too (no row with an empty run id)
    found = gittrack.search_runs(output_format="list")
    assert sorted(r.info.run_id for r in found) == sorted(set(ids) - {ids[1]})
    shown = cli("show", ids[1])
    assert shown.code == 1 and "missing from this repository" in shown.err
    assert "gittrack doctor" in shown.err
    doctor = cli("doctor", "--check")
    assert doctor.code == 1 and ids[1] in doctor.out


def test_a_missing_blob_is_named_by_log_show_and_doctor(repo: Path, cli: Any) -> None:
    ids = log_runs()
    indexed(repo, cli)
    commit = gittrack.get_run(ids[2]).commit
    store = api.open_store()
    blob = next(oid for path, oid, _t in store.repo.list_tree(commit, ".gittrack/run")
                if path == "params.yaml")
    lose(repo, blob)
    listed = cli("log")
    assert listed.code == 0 and blob[:12] in listed.err and ids[2] in listed.err
    shown = cli("show", ids[2])
    assert shown.code == 1 and blob[:12] in shown.err and "gittrack pull" in shown.err
    assert shown_params(cli, [i for i in ids if i != ids[2]])
    doctor = cli("doctor", "--check", "--json")
    assert doctor.code == 1
    (finding,) = [f for f in json.loads(doctor.out)["findings"] if f["check"] == "objects"]
    assert blob[:12] in finding["problem"] and not finding["repaired"]
