"""Tests for gittrack.artifacts.models: save, describe and load sklearn, xgboost and python_function models.

Real scikit-learn and xgboost, no mocks. Round trips load in a fresh interpreter, so nothing
in this process (imported classes, caches) can make a broken model directory look fine.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import pathlib
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import gittrack.artifacts.models.sklearn as sklearn_flavor
from gittrack.artifacts.models import (
    LoadedModel,
    ModelInfo,
    detect_flavor,
    load_input_example,
    load_model,
    read_model_yaml,
    save_model,
)
from gittrack.artifacts.models.signature import read_example, write_example
from gittrack.core.errors import IntegrityError, InvalidInputError, ModelError

try:  # tests/ is a rootdir-relative directory today; keep working if it becomes a package
    from tests import model_helpers as helpers
except ImportError:
    import model_helpers as helpers  # type: ignore[no-redef]

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return helpers.make_frame()


@pytest.fixture(scope="module")
def forest(frame: pd.DataFrame) -> RandomForestRegressor:
    return RandomForestRegressor(n_estimators=20, random_state=0).fit(frame, helpers.make_target(frame))


@pytest.fixture(scope="module")
def xgb_regressor(frame: pd.DataFrame) -> xgboost.XGBRegressor:
    model = xgboost.XGBRegressor(n_estimators=20, max_depth=3, random_state=0)
    return model.fit(frame, helpers.make_target(frame))


@pytest.fixture(scope="module")
def booster(frame: pd.DataFrame) -> xgboost.Booster:
    train = xgboost.DMatrix(frame, label=helpers.make_target(frame))
    return xgboost.train({"max_depth": 3, "seed": 0}, train, num_boost_round=15)


def predict_in_fresh_process(model_dirs: dict[str, Path], cwd: Path) -> dict[str, np.ndarray]:
    """Load each model in one new interpreter; return their predictions on helpers.make_frame()."""
    script = (
        "import json, sys\n"
        "from gittrack.artifacts.models import load_model\n"
        "import model_helpers\n"
        "frame = model_helpers.make_frame()\n"
        "dirs = json.loads(sys.argv[1])\n"
        "print(json.dumps({k: load_model(d).predict(frame).tolist() for k, d in dirs.items()}))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)])}
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script, json.dumps({k: str(d) for k, d in model_dirs.items()})],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return {name: np.asarray(values) for name, values in json.loads(done.stdout).items()}


@pytest.fixture(scope="module")
def saved(
    tmp_path_factory: pytest.TempPathFactory,
    frame: pd.DataFrame,
    forest: RandomForestRegressor,
    xgb_regressor: xgboost.XGBRegressor,
    booster: xgboost.Booster,
) -> dict[str, ModelInfo]:
    """One model of each kind, saved in this process."""
    root = tmp_path_factory.mktemp("saved")
    models = {
        "forest": forest,
        "xgb_regressor": xgb_regressor,
        "booster": booster,
        "function": helpers.weighted_sum,
        "object": helpers.ScaledSum(2.5),
    }
    return {name: save_model(m, root / name, input_example=frame.head(5)) for name, m in models.items()}


@pytest.fixture(scope="module")
def fresh(saved: dict[str, ModelInfo], tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """Predictions of every saved model, loaded in one fresh interpreter (one start-up for all)."""
    return predict_in_fresh_process({name: info.path for name, info in saved.items()}, tmp_path_factory.mktemp("cwd"))


def rewrite_yaml(model_dir: Path, **changes: Any) -> None:
    """Edit fields of model.yaml in place (what a user or an attacker could do)."""
    spec = yaml.safe_load((model_dir / "model.yaml").read_text())
    spec.update(changes)
    (model_dir / "model.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


class MarkerPayload:
    """Pickles to a call that creates a marker file when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


# ---------------------------------------------------------------- round trips in a fresh process


@pytest.mark.slow
def test_random_forest_round_trip_in_fresh_process(
    saved: dict[str, ModelInfo], fresh: dict[str, np.ndarray], frame: pd.DataFrame, forest: RandomForestRegressor
) -> None:
    info = saved["forest"]

    assert info.flavor == "sklearn"
    assert sorted(p.name for p in info.path.iterdir()) == ["input_example.json", "model.skops", "model.yaml"]
    assert np.array_equal(fresh["forest"], forest.predict(frame))


@pytest.mark.slow
def test_xgb_regressor_round_trip_in_fresh_process(
    saved: dict[str, ModelInfo], fresh: dict[str, np.ndarray], frame: pd.DataFrame, xgb_regressor: xgboost.XGBRegressor
) -> None:
    info = saved["xgb_regressor"]

    assert info.flavor == "xgboost"
    assert info.model_file == "model.ubj"
    assert info.model_class == "xgboost.XGBRegressor"
    assert np.array_equal(fresh["xgb_regressor"], xgb_regressor.predict(frame))


def test_xgb_regressor_loads_as_the_same_class(
    tmp_path: Path, frame: pd.DataFrame, xgb_regressor: xgboost.XGBRegressor
) -> None:
    save_model(xgb_regressor, tmp_path / "xgb")

    loaded = load_model(tmp_path / "xgb")

    assert type(loaded.raw) is xgboost.XGBRegressor
    assert np.array_equal(loaded.raw.predict(frame), xgb_regressor.predict(frame))


@pytest.mark.slow
def test_booster_round_trip_in_fresh_process(
    saved: dict[str, ModelInfo], fresh: dict[str, np.ndarray], frame: pd.DataFrame, booster: xgboost.Booster
) -> None:
    info = saved["booster"]

    assert info.model_class == "xgboost.Booster"
    assert isinstance(load_model(info.path).raw, xgboost.Booster)
    assert np.array_equal(fresh["booster"], booster.predict(xgboost.DMatrix(frame)))


@pytest.mark.slow
def test_module_level_function_round_trip_in_fresh_process(
    saved: dict[str, ModelInfo], fresh: dict[str, np.ndarray], frame: pd.DataFrame
) -> None:
    info = saved["function"]

    assert info.flavor == "python_function"
    assert info.model_class.endswith("model_helpers.weighted_sum")
    assert np.array_equal(fresh["function"], helpers.weighted_sum(frame))


@pytest.mark.slow
def test_object_with_predict_round_trip_in_fresh_process(
    saved: dict[str, ModelInfo], fresh: dict[str, np.ndarray], frame: pd.DataFrame
) -> None:
    assert saved["object"].flavor == "python_function"
    assert np.array_equal(fresh["object"], helpers.ScaledSum(2.5).predict(frame))


def test_pipeline_round_trip_in_process(tmp_path: Path, frame: pd.DataFrame) -> None:
    pipeline = make_pipeline(StandardScaler(), LinearRegression()).fit(frame, helpers.make_target(frame))
    save_model(pipeline, tmp_path / "pipeline", input_example=frame.head(2))

    loaded = load_model(tmp_path / "pipeline")

    assert isinstance(loaded, LoadedModel)
    assert np.array_equal(loaded.predict(frame), pipeline.predict(frame))


# ---------------------------------------------------------------- model.yaml


def test_model_yaml_records_pinned_requirements_and_signature(
    tmp_path: Path, frame: pd.DataFrame
) -> None:
    pipeline = make_pipeline(StandardScaler(), xgboost.XGBRegressor(n_estimators=3))
    pipeline.fit(frame, helpers.make_target(frame))
    save_model(pipeline, tmp_path / "model", input_example=frame.head(5), metadata={"owner": "ml-team"})

    spec = read_model_yaml(tmp_path / "model")

    installed = importlib.metadata.version
    for dist in ("scikit-learn", "xgboost", "numpy", "pandas"):
        assert f"{dist}=={installed(dist)}" in spec["requirements"]
    assert spec["format_version"] == 1
    assert spec["flavor"] == "sklearn"
    assert spec["loader"] == "gittrack.models.sklearn:load"
    # skops cannot rebuild an XGBRegressor from trusted types alone: a pickle, and it says why
    assert spec["model_file"] == "model.pkl" and spec["serialization"] == "pickle"
    assert "xgboost.sklearn.XGBRegressor" in spec["serialization_note"]
    assert spec["model_hash"].startswith("sha256:") and len(spec["model_hash"]) == len("sha256:") + 64
    assert spec["python"] == ".".join(map(str, sys.version_info[:3]))
    assert spec["signature"]["inputs"] == [{"name": c, "type": "double"} for c in helpers.COLUMNS]
    assert spec["signature"]["outputs"] == [{"type": "float"}]
    assert spec["input_example"] == "input_example.json"
    assert spec["created"].endswith("+00:00")
    assert spec["metadata"] == {"owner": "ml-team"}


def test_model_yaml_is_plain_safe_yaml(tmp_path: Path, frame: pd.DataFrame, forest: RandomForestRegressor) -> None:
    save_model(forest, tmp_path / "model", input_example=frame.head(2))

    spec = yaml.safe_load((tmp_path / "model" / "model.yaml").read_text())

    assert list(spec)[:6] == ["format_version", "flavor", "loader", "model_file", "serialization",
                              "model_hash"]
    assert isinstance(spec["created"], str)


def test_save_returns_model_info_matching_yaml(tmp_path: Path, forest: RandomForestRegressor) -> None:
    info = save_model(forest, tmp_path / "model")

    spec = read_model_yaml(tmp_path / "model")

    assert isinstance(info, ModelInfo)
    assert info.requirements == tuple(spec["requirements"])
    assert info.model_hash == spec["model_hash"]
    assert info.signature is None and info.input_example is None


def test_pip_requirements_replace_inferred_ones(tmp_path: Path, forest: RandomForestRegressor) -> None:
    info = save_model(forest, tmp_path / "model", pip_requirements=["scikit-learn>=1.3", "numpy"])

    assert read_model_yaml(info.path)["requirements"] == ["scikit-learn>=1.3", "numpy"]


def test_booster_requirements_pin_xgboost_and_numpy(tmp_path: Path, booster: xgboost.Booster) -> None:
    info = save_model(booster, tmp_path / "booster")

    assert f"xgboost=={importlib.metadata.version('xgboost')}" in info.requirements
    assert f"numpy=={importlib.metadata.version('numpy')}" in info.requirements


def test_given_signature_is_recorded(tmp_path: Path) -> None:
    signature = {"inputs": [{"name": "x", "type": "double"}], "outputs": [{"type": "double"}]}

    info = save_model(helpers.first_column, tmp_path / "model", signature=signature)

    assert read_model_yaml(info.path)["signature"] == signature


def test_numpy_example_gives_a_tensor_signature(tmp_path: Path, frame: pd.DataFrame) -> None:
    array = frame.to_numpy()[:3]

    info = save_model(helpers.ScaledSum(1.0), tmp_path / "model", input_example=array)

    assert info.signature == {
        "inputs": [{"type": "tensor", "dtype": "float64", "shape": [-1, 10]}],
        "outputs": [{"type": "double"}],
    }
    assert np.array_equal(load_input_example(info.path), array)


def test_records_example_becomes_a_frame(tmp_path: Path) -> None:
    records = [{"b": 1, "a": 0.5}, {"b": 2, "a": 1.5}]

    info = save_model(helpers.first_column, tmp_path / "model", input_example=records)

    assert info.signature is not None
    assert info.signature["inputs"] == [{"name": "b", "type": "long"}, {"name": "a", "type": "double"}]
    assert info.signature["outputs"] == [{"type": "long"}]


def test_mixed_example_round_trips_with_dtypes(tmp_path: Path) -> None:
    example = pd.DataFrame(
        {
            "price": [0.1, 1 / 3, 2.5e-300],
            "count": np.array([1, 2, 3], dtype="int64"),
            "small": np.array([1, 2, 3], dtype="int32"),
            "flag": [True, False, True],
            "city": ["Oslo", "Zürich", "Lima"],
            "when": pd.to_datetime(["2024-01-01 00:00", "2024-02-29 12:30", "2025-12-31 23:59:59.250"], format="ISO8601"),
        }
    )

    info = save_model(helpers.first_column, tmp_path / "model", input_example=example)

    assert info.signature is not None
    assert [spec["type"] for spec in info.signature["inputs"]] == [
        "double", "long", "integer", "boolean", "string", "datetime"
    ]
    restored = load_input_example(info.path)
    assert list(restored.columns) == list(example.columns)
    pd.testing.assert_frame_equal(restored, example, check_exact=True, check_dtype=False)
    assert [str(t) for t in restored.dtypes[:4]] == ["float64", "int64", "int32", "bool"]


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=8),
    labels=st.lists(st.text(max_size=6), min_size=8, max_size=8),
)
def test_example_file_round_trips_floats_and_strings_exactly(values: list[float], labels: list[str]) -> None:
    example = pd.DataFrame({"value": values, "label": labels[: len(values)]})
    signature = {"inputs": [{"name": "value", "type": "double"}, {"name": "label", "type": "string"}]}

    with tempfile.TemporaryDirectory() as directory:
        name = write_example(Path(directory), example)
        restored = read_example(Path(directory) / name, signature)

    pd.testing.assert_frame_equal(restored, example, check_exact=True, check_dtype=False)
    assert restored["value"].dtype == np.float64


# ---------------------------------------------------------------- integrity and requirements


def test_tampered_model_file_is_refused_before_unpickling(
    tmp_path: Path, forest: RandomForestRegressor
) -> None:
    info = save_model(forest, tmp_path / "model")
    marker = tmp_path / "pickle-was-executed"
    payload = pickle.dumps(MarkerPayload(marker), protocol=5)
    proof = tmp_path / "payload-is-live"
    pickle.loads(pickle.dumps(MarkerPayload(proof)))
    assert proof.exists(), "the payload must really run when unpickled, or this test proves nothing"
    (info.path / "model.skops").write_bytes(payload)

    with pytest.raises(IntegrityError, match="model.skops does not match the hash in model.yaml"):
        load_model(info.path)
    with pytest.raises(IntegrityError):
        sklearn_flavor.load(info.path)

    assert not marker.exists()


def test_tampered_xgboost_file_is_refused(tmp_path: Path, booster: xgboost.Booster) -> None:
    info = save_model(booster, tmp_path / "model")
    with open(info.path / "model.ubj", "ab") as file:
        file.write(b"\0")

    with pytest.raises(IntegrityError):
        load_model(info.path)


def test_requirement_mismatch_warns_once_naming_the_package(
    tmp_path: Path, frame: pd.DataFrame, forest: RandomForestRegressor
) -> None:
    info = save_model(forest, tmp_path / "model")
    pins = [line for line in info.requirements if not line.startswith("scikit-learn==")]
    rewrite_yaml(info.path, requirements=[*pins, "scikit-learn==0.0.1", "surely-not-installed-dist==1.0"])

    with pytest.warns(UserWarning) as caught:
        loaded = load_model(info.path)

    assert len(caught) == 1
    message = str(caught[0].message)
    assert f"scikit-learn==0.0.1 (installed {importlib.metadata.version('scikit-learn')})" in message
    assert "surely-not-installed-dist==1.0 (not installed)" in message
    assert np.array_equal(loaded.predict(frame), forest.predict(frame))


def test_pickle_from_another_sklearn_gives_only_our_warning(
    tmp_path: Path, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sklearn.base

    model = LinearRegression().fit(frame, helpers.make_target(frame))
    with monkeypatch.context() as patch:  # the pickle really records another version
        patch.setattr(sklearn.base, "__version__", "0.0.1")
        info = save_model(model, tmp_path / "model", pip_requirements=["scikit-learn==0.0.1"])

    with pytest.warns(UserWarning) as caught:  # sklearn's InconsistentVersionWarning is folded into ours
        load_model(info.path)

    assert [type(w.message) for w in caught] == [UserWarning]
    assert "scikit-learn==0.0.1" in str(caught[0].message)


def test_python_version_mismatch_is_in_the_warning(tmp_path: Path, forest: RandomForestRegressor) -> None:
    info = save_model(forest, tmp_path / "model")
    rewrite_yaml(info.path, python="2.7.18")

    with pytest.warns(UserWarning, match="python 2.7.18") as caught:
        load_model(info.path)

    assert len(caught) == 1


def test_check_requirements_false_does_not_warn(tmp_path: Path, forest: RandomForestRegressor) -> None:
    info = save_model(forest, tmp_path / "model", pip_requirements=["scikit-learn==0.0.1"])

    load_model(info.path, check_requirements=False)  # warnings are errors in this test run


def test_loader_outside_gittrack_is_refused(tmp_path: Path, forest: RandomForestRegressor) -> None:
    info = save_model(forest, tmp_path / "model")
    rewrite_yaml(info.path, loader="os:system")

    with pytest.raises(ModelError, match="loader 'os:system'"):
        load_model(info.path)


def test_model_file_outside_the_directory_is_refused(tmp_path: Path, forest: RandomForestRegressor) -> None:
    info = save_model(forest, tmp_path / "model")
    rewrite_yaml(info.path, model_file="../model.pkl")

    with pytest.raises(ModelError, match="not a plain file name"):
        load_model(info.path)


def test_missing_model_file_and_missing_yaml(tmp_path: Path, forest: RandomForestRegressor) -> None:
    info = save_model(forest, tmp_path / "model")
    (info.path / "model.skops").unlink()

    with pytest.raises(ModelError, match="model.skops named in model.yaml is missing"):
        load_model(info.path)
    with pytest.raises(ModelError, match="No model.yaml"):
        load_model(tmp_path)


def test_newer_format_version_is_refused(tmp_path: Path, forest: RandomForestRegressor) -> None:
    info = save_model(forest, tmp_path / "model")
    assert read_model_yaml(info.path)["format_version"] == 2  # skops: older gittrack refuses it
    rewrite_yaml(info.path, format_version=3)

    with pytest.raises(ModelError, match="upgrade gittrack"):
        read_model_yaml(info.path)


# ---------------------------------------------------------------- predict input handling


def test_predict_reorders_columns_to_the_signature(
    tmp_path: Path, frame: pd.DataFrame, forest: RandomForestRegressor
) -> None:
    save_model(forest, tmp_path / "model", input_example=frame.head(3))
    loaded = load_model(tmp_path / "model")
    shuffled = frame[list(reversed(frame.columns))]

    assert np.array_equal(loaded.predict(shuffled), forest.predict(frame))
    assert np.array_equal(loaded.predict(frame.head(4).to_dict(orient="records")), forest.predict(frame.head(4)))
    assert np.array_equal(loaded.predict(frame.head(4).to_dict(orient="list")), forest.predict(frame.head(4)))
    assert np.array_equal(loaded.predict(frame.to_numpy()[:4]), forest.predict(frame.head(4)))


def test_predict_names_missing_columns(tmp_path: Path, frame: pd.DataFrame, forest: RandomForestRegressor) -> None:
    save_model(forest, tmp_path / "model", input_example=frame.head(3))
    loaded = load_model(tmp_path / "model")

    with pytest.raises(ModelError, match="missing column\\(s\\) 'f3', 'f7'"):
        loaded.predict(frame.drop(columns=["f3", "f7"]))


def test_loaded_model_exposes_raw_and_metadata(tmp_path: Path, forest: RandomForestRegressor) -> None:
    save_model(forest, tmp_path / "model", metadata={"stage": "candidate"})

    loaded = load_model(tmp_path / "model" / "model.yaml")

    assert isinstance(loaded.raw, RandomForestRegressor)
    assert loaded.metadata["metadata"] == {"stage": "candidate"}
    assert loaded.flavor == "sklearn" and loaded.path == tmp_path / "model"


# ---------------------------------------------------------------- flavors and save errors


def test_detect_flavor_on_each_kind(
    forest: RandomForestRegressor, xgb_regressor: xgboost.XGBRegressor, booster: xgboost.Booster
) -> None:
    assert detect_flavor(forest) == "sklearn"
    assert detect_flavor(make_pipeline(StandardScaler(), LinearRegression())) == "sklearn"
    assert detect_flavor(helpers.HandMadeEstimator()) == "sklearn"
    assert detect_flavor(xgb_regressor) == "xgboost"
    assert detect_flavor(xgboost.XGBClassifier()) == "xgboost"
    assert detect_flavor(booster) == "xgboost"
    assert detect_flavor(helpers.weighted_sum) == "python_function"
    assert detect_flavor(helpers.ScaledSum(1.0)) == "python_function"


def test_detect_flavor_refuses_object_without_predict() -> None:
    with pytest.raises(ModelError, match="no predict method and is not callable") as caught:
        detect_flavor(object())

    assert str(caught.value).count(". ") == 0  # one sentence


def test_flavor_can_be_forced(tmp_path: Path, frame: pd.DataFrame, forest: RandomForestRegressor) -> None:
    info = save_model(forest, tmp_path / "model", flavor="python_function")

    assert info.flavor == "python_function"
    assert np.array_equal(load_model(info.path).predict(frame), forest.predict(frame))
    with pytest.raises(ModelError, match="xgboost flavor cannot save"):
        save_model(forest, tmp_path / "other", flavor="xgboost")
    with pytest.raises(InvalidInputError, match="Unknown flavor 'onnx'"):
        save_model(forest, tmp_path / "other", flavor="onnx")


def test_save_refuses_a_non_empty_directory(tmp_path: Path, forest: RandomForestRegressor) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "keep.txt").write_text("mine")

    with pytest.raises(ModelError, match="not an empty directory"):
        save_model(forest, tmp_path / "model")

    assert (tmp_path / "model" / "keep.txt").read_text() == "mine"


def test_save_into_an_existing_empty_directory(tmp_path: Path, forest: RandomForestRegressor) -> None:
    (tmp_path / "model").mkdir()

    info = save_model(forest, tmp_path / "model")

    assert (info.path / "model.yaml").is_file()


def test_unfitted_models_are_refused(tmp_path: Path) -> None:
    for model in (xgboost.XGBRegressor(), xgboost.Booster()):
        with pytest.raises(ModelError, match="fit the model before saving it") as caught:
            save_model(model, tmp_path / "model")
        assert "\n" not in str(caught.value)
    with pytest.raises(ModelError, match="is a class, not a model"):
        save_model(RandomForestRegressor, tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_failed_save_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="Cannot pickle"):
        save_model(lambda frame: frame, tmp_path / "model")

    assert not (tmp_path / "model").exists()


def test_example_the_model_rejects_is_reported(tmp_path: Path, forest: RandomForestRegressor) -> None:
    with pytest.raises(ModelError, match="predict failed on input_example"):
        save_model(forest, tmp_path / "model", input_example=pd.DataFrame({"other": [1.0]}))

    assert not (tmp_path / "model").exists()


def test_bad_arguments_are_refused(tmp_path: Path, forest: RandomForestRegressor) -> None:
    with pytest.raises(InvalidInputError, match="pip_requirements must be a list"):
        save_model(forest, tmp_path / "a", pip_requirements="numpy")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="signature must be a mapping"):
        save_model(forest, tmp_path / "b", signature={"columns": []})
    with pytest.raises(InvalidInputError, match="Model metadata"):
        save_model(forest, tmp_path / "c", metadata={"when": object()})
    assert not any(tmp_path.iterdir())
