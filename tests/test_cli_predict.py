"""`gittrack predict`: CSV, Parquet and JSON lines scored in chunks, equal to model.predict."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import serving_models
from conftest import make_repo

import gittrack
from gittrack import api

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def affine(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "repo")
    api.set_tracking_repo(repo)
    with gittrack.start_run() as run:
        gittrack.log_model(serving_models.Affine(2.0, 1.0), "model",
                           input_example=pd.DataFrame({"f0": [1.0], "f1": [2.0]}))
    gittrack.register_model(f"runs:/{run.id}/model", "affine")
    gittrack.promote("affine", 1, "prod")
    return repo


def frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({"id": [f"r{i}" for i in range(rows)], "f1": rng.normal(size=rows),
                         "f0": rng.normal(size=rows)})


def test_every_format_in_chunks(affine: Path, tmp_path: Path, cli: Any) -> None:
    data = frame(25)
    want = (data["f0"] * 2.0 + 1.0).tolist()
    data.to_csv(tmp_path / "in.csv", index=False)
    data.to_parquet(tmp_path / "in.parquet")
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n"
                                               for r in data.to_dict(orient="records")))
    readers = {"csv": pd.read_csv, "parquet": pd.read_parquet,
               "jsonl": lambda p: pd.read_json(p, lines=True, precise_float=True)}
    for source in ("csv", "parquet", "jsonl"):
        for target in ("csv", "parquet", "jsonl"):
            out = tmp_path / f"{source}-to.{target}"
            result = cli("predict", "models:/affine/prod", "-i", str(tmp_path / f"in.{source}"),
                         "-o", str(out), "--chunk-rows", "7")
            assert result.code == 0, result.err
            assert "Scored 25 rows in 4 chunk(s)" in result.err and "v1" in result.err
            scored = readers[target](out)
            assert list(scored.columns) == ["prediction"]
            assert scored["prediction"].tolist() == want, (source, target)
    kept = tmp_path / "kept.parquet"
    assert cli("predict", "models:/affine/prod", "-i", str(tmp_path / "in.csv"), "-o", str(kept),
               "--keep-input").code == 0
    scored = pd.read_parquet(kept)
    assert list(scored.columns) == ["id", "f1", "f0", "prediction"]
    assert scored["id"].tolist() == data["id"].tolist()
    assert scored["prediction"].tolist() == want


def test_errors(affine: Path, tmp_path: Path, cli: Any) -> None:
    frame(10).drop(columns=["f1"]).to_csv(tmp_path / "in.csv", index=False)
    out = tmp_path / "out.csv"
    result = cli("predict", "models:/affine/prod", "-i", str(tmp_path / "in.csv"), "-o", str(out),
                 "--chunk-rows", "4")
    assert result.code == 1 and "'f1'" in result.err and "Rows 1-4" in result.err
    assert not out.exists() and not list(tmp_path.glob(".out.csv*"))  # nothing half-written
    result = cli("predict", "models:/affine/prod", "-i", str(tmp_path / "in.csv"),
                 "-o", str(tmp_path / "out.xlsx"))
    assert result.code == 1 and "--output-format" in result.err
    help_text = cli("predict", "--help").out
    assert "Example:" in help_text and "gittrack predict models:/" in help_text


def test_a_million_rows_stream_in_bounded_memory(affine: Path, tmp_path: Path) -> None:
    block = frame(1000).drop(columns=["id"]).to_csv(index=False, header=False).encode()
    source = tmp_path / "million.csv"
    with open(source, "wb") as f:
        f.write(b"f1,f0\n")
        f.writelines(block for _ in range(1000))
    out = tmp_path / "million-scored.csv"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "gittrack", "predict", "models:/affine/prod",
                           "-i", str(source), "-o", str(out), "--chunk-rows", "100000"],
                          cwd=affine, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    summary = re.search(r"Scored 1,000,000 rows in 10 chunk\(s\).*peak RSS (\d+) MB", proc.stderr)
    assert summary, proc.stderr
    print(f"gittrack predict of a 1,000,000-row CSV ({source.stat().st_size / 2**20:.0f} MB): "
          f"peak RSS {summary.group(1)} MB")
    with open(out, "rb") as f:
        assert sum(1 for _ in f) == 1_000_001
    tail = pd.read_csv(out, skiprows=range(1, 999_001))
    want = frame(1000)["f0"] * 2.0 + 1.0
    assert tail["prediction"].tolist() == want.tolist()
