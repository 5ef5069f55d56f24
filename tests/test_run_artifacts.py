"""Artifacts, inputs and models of runs: real git, a real dvc-data cache, no mocks."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

import gittrack
from gittrack.artifacts import local, run_artifacts
from gittrack.artifacts.cache import Cache, Pointer
from gittrack.core.errors import (
    ArtifactError,
    IntegrityError,
    InvalidInputError,
    ModelError,
)
from gittrack.core.store import Store, repo_from_env
from gittrack.sharing import workspace
from tests.conftest import git, run_python

MB = 1 << 20


def run_commit(repo: Path, run_id: str) -> str:
    return git(repo, "for-each-ref", "--format=%(objectname)", f"refs/gittrack/runs/default/{run_id}").strip()


def cache_of(repo: Path) -> Cache:
    return local.cache_for(repo_from_env(repo))


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def record(repo: Path, run_id: str, name: str) -> dict:
    ref = git(repo, "for-each-ref", "--format=%(refname)", f"refs/gittrack/runs/*/{run_id}").strip()
    return yaml.safe_load(git(repo, "cat-file", "-p", f"{ref}:.gittrack/run/{name}"))


def corrupt(path: Path) -> None:
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def frame(rows: int = 200, seed: int = 0):  # type: ignore[no-untyped-def]
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(rows, 10)), columns=[f"f{i}" for i in range(10)])


# ---------------------------------------------------------------- files and directories


@pytest.mark.slow
def test_same_50mb_file_in_100_runs_is_stored_once(repo: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:
        for i in range(50):
            fh.write(hashlib.sha256(str(i).encode()).digest() * (MB // 32))
    cache_dir = repo_from_env(repo).state_dir / "cache"
    before = dir_bytes(cache_dir)
    for i in range(100):
        with gittrack.start_run(run_name=f"r{i}") as run:
            run.log_artifact(big)
    grown = dir_bytes(cache_dir) - before
    assert 50 * MB <= grown < 51 * MB
    md5 = hashlib.md5(big.read_bytes()).hexdigest()
    assert record(repo, run.id, "artifacts.yaml") == {
        "big.bin": {"md5": md5, "size": 50 * MB, "nfiles": 1, "kind": "file"}}


def test_directory_of_1000_files_round_trips_through_checkout(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    root = repo / "data" / "many"
    files = {f"d{i % 10}/f{i}.bin": os.urandom(i % 50) + str(i).encode() for i in range(1000)}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    with gittrack.start_run() as run:
        pointer = run.log_artifacts(root)
    assert pointer.nfiles == 1000 and pointer.kind == "dir"
    assert record(repo, run.id, "artifacts.yaml")["data/many"]["nfiles"] == 1000
    for p in sorted(root.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    root.rmdir()
    result = cli("checkout", run.id)
    assert result.code == 0, result.err
    assert {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()} == files


def test_artifact_path_places_file_under_it_and_overlaps_are_refused(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    (repo / "out").mkdir()
    (repo / "out" / "b.txt").write_text("b")
    with gittrack.start_run() as run:
        run.log_artifact(tmp_path / "a.txt", artifact_path="results")
        run.log_artifact(repo / "out" / "b.txt")
        with pytest.raises(InvalidInputError, match="overlaps"):
            run.log_artifacts(repo / "out")
        with pytest.raises(InvalidInputError, match=".git"):
            run.log_text("x", ".git/hooks/pre-commit")
        with pytest.raises(InvalidInputError, match="leaves the workspace"):
            run.log_text("x", "../x.txt")
    assert set(record(repo, run.id, "artifacts.yaml")) == {"results/a.txt", "out/b.txt"}


def test_text_dict_table_and_figure_are_readable_back(repo: Path) -> None:
    from matplotlib.figure import Figure

    figure = Figure()
    figure.add_subplot().plot([1, 2, 3])
    with gittrack.start_run() as run:
        gittrack.log_text("hello\n", "notes/hello.txt")
        gittrack.log_dict({"lr": 0.1, "layers": [1, 2]}, "config.yaml")
        gittrack.log_dict({"lr": 0.1}, "config.json")
        gittrack.log_table({"a": [1, 2], "b": ["x", "y"]}, "table.json")
        gittrack.log_table(frame(3), "table.csv")
        gittrack.log_table(frame(3), "table.parquet")
        gittrack.log_figure(figure, "plots/line.png")
        with pytest.raises(InvalidInputError, match="writes"):
            gittrack.log_table(frame(3), "table.xlsx")
    gittrack.flush()  # the final commit is the run's thread's; Store reads the ref as it is
    store = Store(repo_from_env(repo))
    commit = store.repo.resolve_ref(store.ref_of(run.id) or "")
    assert commit is not None

    def read(path: str) -> bytes:
        pointer, inner = workspace.find_pointer(store, commit, path)
        with cache_of(repo).open(pointer, inner) as fh:
            return fh.read()

    assert read("notes/hello.txt") == b"hello\n"
    assert yaml.safe_load(read("config.yaml")) == {"lr": 0.1, "layers": [1, 2]}
    assert json.loads(read("config.json")) == {"lr": 0.1}
    assert json.loads(read("table.json")) == {"columns": ["a", "b"], "data": [[1, "x"], [2, "y"]]}
    assert read("table.csv").decode().splitlines()[0] == ",".join(f"f{i}" for i in range(10))
    assert read("table.parquet")[:4] == b"PAR1"
    assert read("plots/line.png")[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- inputs


def test_log_input_csv_records_hash_rows_columns_and_one_byte_changes_the_hash(repo: Path) -> None:
    data = repo / "train.csv"
    data.write_text("a,b,c\n" + "".join(f"{i},{i * 0.5},x{i}\n" for i in range(2500)))
    with gittrack.start_run() as first:
        gittrack.log_input(data)
    entry = record(repo, first.id, "inputs.yaml")["train.csv"]
    md5 = hashlib.md5(data.read_bytes()).hexdigest()
    assert entry == {
        "path": "train.csv", "md5": md5,
        "size": data.stat().st_size, "rows": 2500, "columns": ["a", "b", "c"],
        "schema": {"a": "int64", "b": "float64", "c": entry["schema"]["c"]},
        "context": "training", "kind": "csv", "profile": f"profiles/{md5}.json",
        "header": True,
    }
    raw = bytearray(data.read_bytes())
    raw[10] = ord("9") if raw[10] != ord("9") else ord("8")
    data.write_bytes(bytes(raw))
    with gittrack.start_run() as second:
        gittrack.log_input(data, context="validation")
    changed = record(repo, second.id, "inputs.yaml")["train.csv"]
    assert changed["md5"] == hashlib.md5(bytes(raw)).hexdigest() != entry["md5"]
    assert changed["context"] == "validation" and changed["rows"] == 2500


def test_log_input_csv_with_quoted_newlines_counts_records(repo: Path) -> None:
    data = repo / "quoted.csv"
    data.write_text("id,text\n" + "".join(f'{i},"line one\nline two"\n' for i in range(1500)))
    with gittrack.start_run() as run:
        gittrack.log_input(data, name="quoted")
    assert record(repo, run.id, "inputs.yaml")["quoted"]["rows"] == 1500


def test_log_input_csv_without_a_header_counts_every_row(repo: Path) -> None:
    numbers = repo / "hours.csv"  # the case: 400 rows of numbers, no header line
    numbers.write_text("".join(f"{i},{i * 1.5},{i % 7}\n" for i in range(400)))
    named = repo / "named.csv"
    named.write_text("city,hours\n" + "".join(f"c{i},{i}\n" for i in range(400)))
    words = repo / "words.csv"  # text and numbers, no header: csv.Sniffer's judgement
    words.write_text("".join(f"{'ab' * (1 + i % 5)},{i * 3}\n" for i in range(400)))
    with gittrack.start_run() as run:
        got = {p.name: gittrack.log_input(p) for p in (numbers, named, words)}
        forced = gittrack.log_input(numbers, name="forced", header=True)
        cut = gittrack.log_input(named, name="cut", header=False)
    assert got["hours.csv"]["rows"] == 400 and got["hours.csv"]["header"] is False
    assert got["hours.csv"]["columns"] == ["0", "1", "2"]
    assert got["hours.csv"]["schema"] == {"0": "int64", "1": "float64", "2": "int64"}
    assert got["named.csv"]["rows"] == 400 and got["named.csv"]["columns"] == ["city", "hours"]
    assert got["words.csv"]["rows"] == 400 and got["words.csv"]["header"] is False
    assert forced["rows"] == 399 and forced["columns"][0] == "0"
    assert cut["rows"] == 401 and cut["header"] is False
    assert record(repo, run.id, "inputs.yaml")["hours.csv"]["rows"] == 400


def test_log_input_parquet_reads_the_footer_and_dataframe_hash_is_stable(repo: Path) -> None:
    df = frame(120)
    df.to_parquet(repo / "train.parquet")
    with gittrack.start_run() as run:
        gittrack.log_input(repo / "train.parquet")
        first = gittrack.log_input(df, name="frame")
        again = gittrack.log_input(frame(120), name="frame-again", store=True)
        other = gittrack.log_input(frame(120, seed=1), name="other")
    inputs = record(repo, run.id, "inputs.yaml")
    assert inputs["train.parquet"]["rows"] == 120 and inputs["train.parquet"]["kind"] == "parquet"
    assert inputs["train.parquet"]["schema"] == {f"f{i}": "float64" for i in range(10)}
    assert first["md5"] == again["md5"] != other["md5"]
    assert inputs["frame"]["kind"] == "dataframe" and inputs["frame"]["path"] is None
    stored = Pointer.from_dict(inputs["frame-again"]["stored"])
    assert cache_of(repo).has(stored)


# ---------------------------------------------------------------- models


def test_sklearn_and_xgboost_models_load_in_a_fresh_process(repo: Path) -> None:
    import xgboost
    from sklearn.ensemble import RandomForestRegressor

    x = frame()
    y = 3 * x["f0"] - 2 * x["f1"]
    forest = RandomForestRegressor(n_estimators=10, random_state=0).fit(x, y)
    booster = xgboost.XGBRegressor(n_estimators=10, max_depth=3).fit(x, y)
    with gittrack.start_run(run_name="models") as run:
        rf = gittrack.log_model(forest, "models/rf", input_example=x.head())
        xg = gittrack.log_model(booster, "models/xgb", input_example=x.head())
    assert rf.model_uri == f"runs:/{run.id}/models/rf"
    assert record(repo, run.id, "artifacts.yaml")["models/rf"]["kind"] == "model"
    expected = {"rf": forest.predict(x).tolist(), "xgb": booster.predict(x).tolist()}
    code = textwrap.dedent(f"""
        import json, numpy as np, pandas as pd, gittrack
        x = pd.DataFrame(np.random.default_rng(0).normal(size=(200, 10)),
                         columns=[f"f{{i}}" for i in range(10)])
        rf = gittrack.load_model({rf.model_uri!r})
        xgb = gittrack.load_model("default/models/models/xgb")
        print(json.dumps({{"rf": np.asarray(rf.predict(x)).tolist(),
                          "xgb": np.asarray(xgb.predict(x)).tolist()}}))
    """)
    proc = run_python(code, repo)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == expected
    spec = yaml.safe_load(_read_cached(repo, run.id, "models/xgb/model.yaml"))
    assert any(r.startswith(f"xgboost=={xgboost.__version__}") for r in spec["requirements"])
    assert [c["name"] for c in spec["signature"]["inputs"]] == list(x.columns)
    assert xg.info.flavor == "xgboost"


def _read_cached(repo: Path, run_id: str, path: str) -> bytes:
    gittrack.flush()  # the final commit is the run's thread's; Store reads the ref as it is
    store = Store(repo_from_env(repo))
    commit = store.repo.resolve_ref(store.ref_of(run_id) or "")
    assert commit is not None
    pointer, inner = workspace.find_pointer(store, commit, path)
    with cache_of(repo).open(pointer, inner) as fh:
        return fh.read()


def test_load_model_from_the_registry_and_errors(repo: Path) -> None:
    from sklearn.linear_model import LinearRegression

    x = frame(50)
    fitted = LinearRegression().fit(x, x["f0"] * 3 - x["f1"])
    with gittrack.start_run() as run:
        gittrack.log_model(fitted, "model")
        gittrack.log_text("not a model", "note.txt")
    gittrack.register_model(run.id, "lin", "model")
    assert list(gittrack.load_model("models:/lin/1").predict(x)) == list(fitted.predict(x))
    with pytest.raises(ModelError, match="single file"):
        gittrack.load_model(f"runs:/{run.id}/note.txt")
    with pytest.raises(ModelError, match="no artifact"):
        gittrack.load_model(f"runs:/{run.id}/missing")
    with pytest.raises(ModelError, match="neither a model directory"):
        gittrack.load_model("nothing/here/model")


def test_corrupted_model_object_is_detected_on_load(repo: Path) -> None:
    from sklearn.linear_model import LinearRegression

    x = frame(50)
    with gittrack.start_run() as run:
        logged = gittrack.log_model(LinearRegression().fit(x, x["f0"]), "model")
    cache = cache_of(repo)
    pkl = next(md5 for rel, md5, _ in cache.list_files(logged.pointer) if rel == "model.skops")
    corrupt(cache.object_path(pkl))
    with pytest.raises(IntegrityError, match="does not match its hash"):
        gittrack.load_model(logged.model_uri)


def test_missing_objects_point_to_pull(repo: Path) -> None:
    with gittrack.start_run() as run:
        pointer = gittrack.log_text("x", "x.txt")
    cache_of(repo).object_path(pointer.md5).unlink()
    with pytest.raises(ArtifactError, match="gittrack pull --artifacts"):
        run_artifacts.ensure_local(Store(repo_from_env(repo)), [pointer])
    del run


def test_gc_keeps_what_a_live_run_has_logged(repo: Path) -> None:
    from gittrack.sharing import trash
    run = gittrack.start_run()
    pointer = run.log_text("live", "live.txt")
    result = trash.gc(Store(repo_from_env(repo)), days=0)
    assert pointer.md5 not in result.objects and cache_of(repo).has(pointer)
    gittrack.end_run()


def test_pointer_is_journaled_at_once_and_survives_a_kill(repo: Path) -> None:
    code = textwrap.dedent("""
        import os, gittrack
        run = gittrack.start_run(run_name="killed")
        run.log_text("kept", "kept.txt")
        os._exit(9)  # no flush, no commit: only the journal holds the pointer
    """)
    proc = run_python(code, repo, env={"GITTRACK_FLUSH_SECONDS": "1000"})
    assert proc.returncode == 9, proc.stderr
    run = gittrack.get_run("default/killed")  # recovers the dead run first
    assert run.status == "crashed"
    assert run.artifacts["kept.txt"]["md5"] == hashlib.md5(b"kept").hexdigest()


def test_module_level_log_artifacts_stores_a_directory_that_checks_out(repo: Path) -> None:
    (repo / "plots" / "sub").mkdir(parents=True)
    files = {"plots/a.txt": b"alpha\n", "plots/sub/b.bin": os.urandom(3000)}
    for rel, data in files.items():
        (repo / rel).write_bytes(data)
    with gittrack.start_run() as run:
        pointer = run.log_artifacts(str(repo / "plots"))  # gittrack.log_artifacts: MLflow layout
    assert pointer.nfiles == 2 and pointer.isdir
    record = gittrack.get_run(run.id)
    assert record.artifacts["plots"]["kind"] == "dir" and record.artifacts["plots"]["nfiles"] == 2
    shutil.rmtree(repo / "plots")
    store = Store(repo_from_env(repo))
    commit = store.repo.resolve_ref(store.ref_of(run.id) or "")
    assert commit is not None
    assert workspace.checkout_commit(store, commit).restored == ["plots"]
    assert {rel: (repo / rel).read_bytes() for rel in files} == files


# ---------------------------------------------------------------- symbolic links


def test_links_inside_a_logged_directory_are_kept_as_links(repo: Path, tmp_path: Path) -> None:
    data = repo / "ckpts"
    (data / "sub").mkdir(parents=True)
    (data / "ckpt-3.bin").write_bytes(b"weights")
    (data / "sub" / "x.txt").write_text("x")
    (data / "latest").symlink_to("ckpt-3.bin")
    (data / "sub" / "up").symlink_to("../ckpt-3.bin")
    (data / "alias").symlink_to("sub")  # a directory link
    (data / "absolute").symlink_to(data / "sub" / "x.txt")  # absolute, but inside
    with gittrack.start_run() as run:
        pointer = run.log_artifacts(str(data), "ckpts")
    assert pointer.nfiles == 6
    shutil.rmtree(data)
    result = workspace.checkout_commit(Store(repo_from_env(repo)), run_commit(repo, run.id))
    assert result.restored == ["ckpts"]
    assert os.readlink(data / "latest") == "ckpt-3.bin" and os.readlink(data / "alias") == "sub"
    assert os.readlink(data / "sub" / "up") == "../ckpt-3.bin"
    assert os.readlink(data / "absolute") == "sub/x.txt"  # stored relative, so it stays inside
    assert (data / "latest").read_bytes() == b"weights" and (data / "alias" / "x.txt").read_text() == "x"
    again = workspace.checkout_commit(Store(repo_from_env(repo)), run_commit(repo, run.id))
    assert again.unchanged == ["ckpts"]


@pytest.mark.parametrize("make", [
    lambda d, t: (d / "pw").symlink_to("/etc/passwd"),
    lambda d, t: (d / "up").symlink_to("../../outside.txt"),
    lambda d, t: ((d / "hop").symlink_to(t), (d / "via").symlink_to("hop")),
    lambda d, t: (d / "sub").symlink_to(t.parent),
], ids=["absolute", "relative", "chain", "directory"])
def test_a_link_out_of_a_logged_directory_is_refused_and_nothing_stored(
        repo: Path, tmp_path: Path, make) -> None:  # type: ignore[no-untyped-def]
    outside = tmp_path / "outside.txt"
    outside.write_text("secret outside\n")
    data = repo / "a" / "data"
    data.mkdir(parents=True)
    (data / "ok.txt").write_text("ok")
    make(data, outside)
    before = sorted(p.name for p in (cache_of(repo).objects_dir).rglob("*")) \
        if cache_of(repo).objects_dir.exists() else []
    with gittrack.start_run() as run:
        with pytest.raises(InvalidInputError, match="is a symbolic link to .*outside the directory"):
            run.log_artifacts(str(data), "data")
        with pytest.raises(InvalidInputError, match="is a symbolic link to .*outside the directory"):
            gittrack.log_artifacts(str(data), "data")  # MLflow's shape: file by file
        with pytest.raises(InvalidInputError, match="is a symbolic link to .*outside the directory"):
            gittrack.log_artifact(str(data), "data")
        with pytest.raises(InvalidInputError, match="symbolic link"):
            gittrack.log_input(str(data), store=True)
    after = sorted(p.name for p in (cache_of(repo).objects_dir).rglob("*")) \
        if cache_of(repo).objects_dir.exists() else []
    assert after == before
    passwd = hashlib.md5(Path("/etc/passwd").read_bytes()).hexdigest()
    assert not cache_of(repo).object_path(passwd).exists()


def test_a_directory_holding_a_git_directory_is_refused_at_log_time(repo: Path) -> None:
    data = repo / "vendored"
    (data / "lib" / ".git").mkdir(parents=True)
    (data / "lib" / ".git" / "config").write_text("[core]\n")
    with gittrack.start_run() as run:
        with pytest.raises(InvalidInputError, match="'lib/.git/config', whose path has the component"):
            run.log_artifacts(str(data), "vendored")
        with pytest.raises(InvalidInputError, match="'lib/.git/config', whose path has the component"):
            gittrack.log_artifacts(str(data), "vendored")
        with pytest.raises(InvalidInputError, match="opens .git"):
            gittrack.log_text("x", "notes/.GIT/x")
