"""Safe model formats: scikit-learn through skops, XGBoost in its own JSON/UBJ, pickles only
as a stated fallback, and a tampered file never runs code."""

from __future__ import annotations

import json
import os
import pathlib
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio
import xgboost
import yaml
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import gittrack
from gittrack.artifacts.models import (
    load_model,
    read_model_yaml,
    save_model,
    uses_pickle,
)
from gittrack.artifacts.models.spec import hash_bytes
from gittrack.core import provenance
from gittrack.core.errors import IntegrityError, ModelError, UntrustedModelError
from gittrack.core.store import repo_from_env

RNG = np.random.default_rng(0)
X = RNG.normal(size=(200, 4))
Y = (X[:, 0] + X[:, 1] > 0).astype(int)


class Doubler(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """A transformer of our own: skops cannot vouch for it, so the model is pickled."""

    def fit(self, x: Any, y: Any = None) -> Doubler:
        return self

    def transform(self, x: Any) -> Any:
        return x * 2


class Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def rewrite(directory: Path, data: bytes, **fields: Any) -> None:
    """Replace the model file and make model.yaml agree with it (what an attacker can do)."""
    spec = read_model_yaml(directory)
    spec.update(fields)
    (directory / spec["model_file"]).write_bytes(data)
    spec["model_hash"] = hash_bytes(data)
    (directory / "model.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


@pytest.mark.parametrize("model", [
    RandomForestRegressor(n_estimators=5, random_state=0),
    HistGradientBoostingClassifier(max_iter=5),
    KNeighborsClassifier(3),
    make_pipeline(StandardScaler(), LogisticRegression()),
], ids=lambda m: type(m).__name__)
def test_skops_round_trip_predicts_identically(tmp_path: Path, model: Any) -> None:
    model.fit(X, Y)
    info = save_model(model, tmp_path / "model")
    spec = read_model_yaml(info.path)
    assert spec["serialization"] == "skops" and spec["model_file"] == "model.skops"
    assert not uses_pickle(spec) and any(r.startswith("skops==") for r in spec["requirements"])
    assert not (info.path / "model.pkl").exists()
    loaded = load_model(info.path, allow_pickle=False)  # nothing is unpickled on the way
    assert np.array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize("evil, name", [(lambda: {"f": os.system}, "posix.system"),
                                        (lambda: [eval], "builtins.eval")])
def test_a_tampered_skops_file_is_refused_before_anything_is_built(tmp_path: Path, evil: Any,
                                                                   name: str) -> None:
    info = save_model(LogisticRegression().fit(X, Y), tmp_path / "model")
    rewrite(info.path, sio.dumps(evil()))
    with pytest.raises(UntrustedModelError, match=name.replace(".", r"\.")):
        load_model(info.path)


def test_a_pickle_smuggled_into_a_skops_model_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    info = save_model(LogisticRegression().fit(X, Y), tmp_path / "model")
    rewrite(info.path, pickle.dumps(Payload(marker)))
    with pytest.raises(ModelError, match="not a skops file"):
        load_model(info.path)
    assert not marker.exists()
    (info.path / "model.skops").write_bytes(b"changed")  # without fixing the hash
    with pytest.raises(IntegrityError):
        load_model(info.path)


def test_xgboost_json_and_ubj_round_trip_and_refuse_tampering(tmp_path: Path) -> None:
    model = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(X, Y)
    ubj = save_model(model, tmp_path / "ubj")
    assert read_model_yaml(ubj.path)["serialization"] == "xgboost-ubj"
    assert np.array_equal(load_model(ubj.path, allow_pickle=False).predict(X), model.predict(X))
    # XGBoost's text JSON: the same directory with model.json
    as_json = tmp_path / "json"
    as_json.mkdir()
    model.save_model(str(as_json / "model.json"))
    spec = read_model_yaml(ubj.path) | {"model_file": "model.json", "serialization": "xgboost-json",
                                        "model_hash": hash_bytes((as_json / "model.json").read_bytes())}
    (as_json / "model.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    assert json.loads((as_json / "model.json").read_text())["learner"]
    assert np.array_equal(load_model(as_json, allow_pickle=False).predict(X), model.predict(X))
    marker = tmp_path / "ran"
    rewrite(as_json, pickle.dumps(Payload(marker)))
    with pytest.raises(ModelError, match="xgboost could not read"):
        load_model(as_json)
    rewrite(as_json, pickle.dumps(Payload(marker)), model_file="model.pkl")
    with pytest.raises(ModelError, match="own .json or .ubj format"):
        load_model(as_json)
    assert not marker.exists()


def test_a_pickle_is_a_stated_fallback_and_needs_trust_from_elsewhere(repo: Path) -> None:
    pipeline = make_pipeline(Doubler(), LogisticRegression()).fit(X, Y)
    with gittrack.start_run() as run:
        logged = gittrack.log_model(pipeline, "model")
    loaded = gittrack.load_model(logged.model_uri)  # made in this clone: trusted
    spec = loaded.metadata
    assert spec["serialization"] == "pickle" and spec["model_file"] == "model.pkl"
    assert "test_model_formats.Doubler" in spec["serialization_note"]
    assert np.array_equal(loaded.predict(X), pipeline.predict(X))

    (repo_from_env(repo).state_dir / provenance.FILE).unlink()  # as if pulled from elsewhere
    with pytest.raises(UntrustedModelError, match=r"run [0-9a-f]{16} by Test User <test@example.com>"):
        gittrack.load_model(f"runs:/{run.id}/model")
    assert np.array_equal(gittrack.load_model(f"runs:/{run.id}/model", trust=True).predict(X),
                          pipeline.predict(X))


def test_an_old_pickled_sklearn_model_still_loads_when_trusted(repo: Path, tmp_path: Path) -> None:
    """A model saved before skops: model.pkl and no `serialization` in model.yaml."""
    forest = RandomForestRegressor(n_estimators=3, random_state=0).fit(X, Y)
    old = tmp_path / "old"
    save_model(forest, old)
    (old / "model.skops").unlink()
    spec = read_model_yaml(old)
    del spec["serialization"]
    data = pickle.dumps(forest, protocol=5)
    (old / "model.pkl").write_bytes(data)
    spec.update(model_file="model.pkl", model_hash=hash_bytes(data))
    (old / "model.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    assert uses_pickle(read_model_yaml(old))
    assert np.array_equal(load_model(old).predict(X), forest.predict(X))  # your own directory
    with pytest.raises(UntrustedModelError):
        load_model(old, allow_pickle=False)
    with gittrack.start_run() as run:
        run.log_artifacts(str(old), "model")  # gittrack's own: one directory artifact
    assert np.array_equal(gittrack.load_model(f"runs:/{run.id}/model").predict(X), forest.predict(X))
    (repo_from_env(repo).state_dir / provenance.FILE).unlink()
    with pytest.raises(UntrustedModelError):
        gittrack.load_model(f"runs:/{run.id}/model")
    assert np.array_equal(gittrack.load_model(f"runs:/{run.id}/model", trust=True).predict(X),
                          forest.predict(X))
