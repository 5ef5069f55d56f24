"""The scoring server in-process: a real uvicorn server on 127.0.0.1 in a thread.

MLflow's payloads (dataframe_split, dataframe_records, instances, inputs with params, CSV,
Parquet) each give exactly ``model.predict`` of the same frame; bad input gets MLflow's JSON
errors naming the columns; convertible types are converted; /ping, /health, /version and
/metrics answer; concurrent requests are predicted in one call; request logs follow the
documented Parquet format; the app mounts in another Starlette app.
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import serving_models
from conftest import make_repo
from model_helpers import COLUMNS, make_frame, make_target
from serving_client import Client, ThreadServer, wait_for

import gittrack
import gittrack.serving
from gittrack import api


def log_and_promote(name: str, model: object, example: pd.DataFrame, stage: str = "prod") -> int:
    with gittrack.start_run() as run:
        gittrack.log_model(model, "model", input_example=example)
    version = gittrack.register_model(f"runs:/{run.id}/model", name).version
    gittrack.promote(name, version, stage)
    return version


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One repository with a forest and small python_function models, each promoted to prod."""
    from sklearn.ensemble import RandomForestRegressor

    path = make_repo(tmp_path_factory.mktemp("serving") / "repo")
    api.set_tracking_repo(path)
    frame = make_frame(200)
    forest = RandomForestRegressor(n_estimators=10, random_state=0).fit(frame, make_target(frame))
    log_and_promote("forest", forest, frame.head(5))
    small = pd.DataFrame({"f0": [1.0, 2.0], "f1": [3.0, 4.0]})
    log_and_promote("params", serving_models.WithParams(), small)
    log_and_promote("two", serving_models.TwoOutputs(), small)
    serving_models.GATE.set()  # its input example must pass when it loads
    log_and_promote("gated", serving_models.Gated(), small)
    api.set_tracking_repo(None)
    yield {"repo": path, "frame": make_frame(40, seed=7), "forest": forest}


@pytest.fixture(scope="module")
def forest_server(models: dict[str, Any]) -> Iterator[ThreadServer]:
    app = gittrack.serving.app("models:/forest/prod", repo=str(models["repo"]))
    with ThreadServer(app) as server:
        yield server


@pytest.fixture
def client(forest_server: ThreadServer) -> Iterator[Client]:
    c = Client(forest_server.port)
    yield c
    c.close()


def expected(models: dict[str, Any], frame: pd.DataFrame) -> list[float]:
    loaded = gittrack.load_model(str(_model_dir(models)))
    return [float(v) for v in loaded.predict(frame)]


def _model_dir(models: dict[str, Any]) -> Path:
    api.set_tracking_repo(models["repo"])
    return gittrack.load_model("models:/forest/prod").path


def test_every_payload_format_gives_model_predict(models: dict[str, Any], client: Client) -> None:
    frame = models["frame"]
    want = expected(models, frame)
    reordered = frame[list(reversed(COLUMNS))]
    split = json.loads(reordered.to_json(orient="split", index=False))
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    answers = {
        "dataframe_split": client.post({"dataframe_split": split}),
        "dataframe_split+index": client.post({"dataframe_split": json.loads(
            frame.to_json(orient="split"))}),
        "dataframe_records": client.post({"dataframe_records": frame.to_dict(orient="records")}),
        "instances": client.post({"instances": frame.to_dict(orient="records")}),
        "inputs (columns)": client.post({"inputs": frame.to_dict(orient="list")}),
        "inputs (rows)": client.post({"inputs": frame.to_numpy().tolist()}),
        "inputs + params": client.post({"inputs": frame.to_dict(orient="list"),
                                        "params": {"ignored": 1}}),
        "csv": client.post(body=frame.to_csv(index=False).encode(), content_type="text/csv"),
        "csv; charset": client.post(body=frame.to_csv(index=False).encode(),
                                    content_type="text/csv; charset=utf-8"),
        "parquet": client.post(body=buffer.getvalue(),
                               content_type="application/vnd.apache.parquet"),
    }
    for name, answer in answers.items():
        assert answer.status == 200, (name, answer.body)
        assert answer.json == {"predictions": want}, name
        assert answer.version == 1
        assert answer.headers["content-type"] == "application/json"


def test_one_row_and_single_record(models: dict[str, Any], client: Client) -> None:
    row = models["frame"].head(1)
    want = expected(models, row)
    record = row.to_dict(orient="records")[0]
    assert client.post({"dataframe_records": [record]}).json == {"predictions": want}
    assert client.post({"inputs": record}).json == {"predictions": want}  # one row of scalars


def test_missing_column_is_400_naming_it(models: dict[str, Any], client: Client) -> None:
    frame = models["frame"].drop(columns=["f3", "f7"])
    answer = client.post({"dataframe_split": json.loads(frame.to_json(orient="split",
                                                                      index=False))})
    assert answer.status == 400
    body = answer.json
    assert set(body) == {"error_code", "message"}
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "'f3'" in body["message"] and "'f7'" in body["message"]
    csv = client.post(body=frame.to_csv(index=False).encode(), content_type="text/csv")
    assert csv.status == 400 and "'f3'" in csv.json["message"]


def test_mistyped_column_is_400_naming_it(models: dict[str, Any], client: Client) -> None:
    records = models["frame"].head(3).to_dict(orient="records")
    records[1]["f5"] = "not a number"
    answer = client.post({"dataframe_records": records})
    assert answer.status == 400
    assert "'f5'" in answer.json["message"] and "double" in answer.json["message"]


def test_convertible_types_are_converted(models: dict[str, Any], client: Client) -> None:
    # MLflow casts to the signature's types: integers and numeric strings for doubles.
    frame = pd.DataFrame({c: [1, 2, 3] for c in COLUMNS}).astype("int64")
    want = expected(models, frame.astype("float64"))
    as_strings = [{c: str(v) for c, v in row.items()} for row in frame.to_dict(orient="records")]
    as_strings[0]["extra"] = "ignored"  # extra columns are ignored, as MLflow does
    for document in ({"dataframe_records": frame.to_dict(orient="records")},
                     {"dataframe_records": as_strings},
                     {"inputs": frame.to_dict(orient="list")}):
        answer = client.post(document)
        assert answer.status == 200, answer.body
        assert answer.json == {"predictions": want}
    csv = client.post(body=frame.to_csv(index=False).encode(), content_type="text/csv")
    assert csv.json == {"predictions": want}


def test_bad_requests_get_mlflow_errors(client: Client) -> None:
    cases = [
        (client.post(body=b"{not json"), 400, "BAD_REQUEST", "not valid JSON"),
        (client.post({"rows": []}), 400, "BAD_REQUEST", "exactly one of"),
        (client.post({"inputs": [], "instances": []}), 400, "BAD_REQUEST", "exactly one of"),
        (client.post([1, 2]), 400, "BAD_REQUEST", "exactly one of"),
        (client.post({"dataframe_split": [[1, 2]]}), 400, "BAD_REQUEST", "dataframe_split"),
        (client.post({"dataframe_records": {"a": 1}}), 400, "BAD_REQUEST", "dataframe_records"),
        (client.post(body=b"a,b\n1,2", content_type="text/plain"), 415, "BAD_REQUEST",
         "not supported"),
        (client.post(body=b"f0\n1", content_type="text/csv; charset=latin-1"), 415,
         "BAD_REQUEST", "UTF-8"),
        (client.post(body=b"\x00garbage", content_type="application/vnd.apache.parquet"), 400,
         "BAD_REQUEST", "Parquet"),
    ]
    for answer, status, code, text in cases:
        assert answer.status == status, answer.body
        assert answer.json["error_code"] == code
        assert text in answer.json["message"]
    assert client.get("/invocations").status == 405


def test_ping_health_version_and_metrics(client: Client) -> None:
    assert client.get("/ping").status == 200
    assert client.get("/health").status == 200
    version = client.get("/version").json
    assert version["model_uri"] == "models:/forest/prod"
    assert (version["model"], version["follows"], version["version"]) == ("forest", "prod", 1)
    assert version["loaded_from"] == "models:/forest/v1" and version["last_error"] is None
    client.post({"dataframe_records": [{c: 0.5 for c in COLUMNS}]})
    client.post({"dataframe_records": [{"f0": 1.0}]})
    metrics = client.get("/metrics")
    assert metrics.status == 200 and metrics.headers["content-type"].startswith("text/plain")
    text = metrics.body.decode()
    assert re.search(r'gittrack_serve_requests_total\{status="200",version="1"\} [1-9]', text)
    assert re.search(r'gittrack_serve_requests_total\{status="400",version="1"\} [1-9]', text)
    assert re.search(r'gittrack_serve_errors_total\{error_code="INVALID_PARAMETER_VALUE"\}', text)
    assert "gittrack_serve_request_seconds_bucket" in text
    assert 'gittrack_serve_model_version{model_uri="models:/forest/prod"} 1.0' in text


def test_params_reach_a_model_that_takes_them(models: dict[str, Any]) -> None:
    app = gittrack.serving.app("models:/params/prod", repo=str(models["repo"]))
    with ThreadServer(app) as server:
        client = Client(server.port)
        plain = client.post({"inputs": {"f0": [1.0, 2.0], "f1": [0.0, 0.0]}})
        scaled = client.post({"inputs": {"f0": [1.0, 2.0], "f1": [0.0, 0.0]}, "params": {"k": 3}})
        client.close()
    assert plain.json == {"predictions": [1.0, 2.0]}
    assert scaled.json == {"predictions": [3.0, 6.0]}


def test_concurrent_requests_are_predicted_in_one_call(models: dict[str, Any]) -> None:
    serving_models.GATE.set()  # its input example passes when it loads
    app = gittrack.serving.app("models:/gated/prod", repo=str(models["repo"]))
    try:
        with ThreadServer(app) as server:
            serving_models.GATE.clear()  # the first predict call waits while the others queue
            answers: dict[int, Any] = {}

            def one(i: int) -> None:
                c = Client(server.port)
                answers[i] = c.post({"dataframe_records": [{"f0": float(i), "f1": 0.0}]})
                c.close()

            threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
            threads[0].start()
            monitor = Client(server.port)
            queued = re.compile(r"^gittrack_serve_queued_rows (\S+)$", re.MULTILINE)

            def waiting(n: float) -> bool:
                found = queued.search(monitor.get("/metrics").body.decode())
                return found is not None and float(found.group(1)) == n

            wait_for(lambda: app.state.service.batcher.running == 1, 30, "the first predict")
            for t in threads[1:]:
                t.start()
            wait_for(lambda: waiting(7), 30, "seven queued requests")
            serving_models.GATE.set()
            for t in threads:
                t.join(60)
            text = monitor.get("/metrics").body.decode()
            monitor.close()
    finally:
        serving_models.GATE.set()
    assert all(answers[i].json == {"predictions": [float(i)]} for i in range(8))
    assert "gittrack_serve_batch_rows_count 2.0" in text  # 1 row, then 7 rows in one call
    assert "gittrack_serve_batch_rows_sum 8.0" in text


def test_request_log_parquet_format(models: dict[str, Any], tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    app = gittrack.serving.app("models:/two/prod", repo=str(models["repo"]),
                               log_requests=str(logs), log_rotate_rows=3)
    with ThreadServer(app) as server:
        client = Client(server.port)
        for i in range(4):  # f1 arrives as an int or a string: logged as the double it became
            assert client.post({"dataframe_records": [{"f0": float(i), "f1": [1, "1.0"][i % 2],
                                                       "note": f"n{i}"}]}).status == 200
        assert client.post({"inputs": {"f0": [10.0, 11.0], "f1": [1, 2]}}).status == 200
        assert client.post({"inputs": {"f0": [1.0]}}).status == 400  # refused: not logged
        client.close()
    files = sorted(logs.iterdir())
    pattern = re.compile(r"requests-\d{8}T\d{6}-\d+-\d{6}\.parquet")
    assert files and all(pattern.fullmatch(f.name) for f in files), files
    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    frame = frame.sort_values("f0", ignore_index=True)
    assert list(frame.columns[-4:]) == ["prediction_0", "prediction_1", "_gittrack_model_version",
                                        "_gittrack_time"]
    assert frame["f0"].tolist() == [0.0, 1.0, 2.0, 3.0, 10.0, 11.0]
    assert frame["note"].tolist()[:4] == ["n0", "n1", "n2", "n3"]  # as they arrived
    assert frame["f1"].tolist() == [1.0, 1.0, 1.0, 1.0, 1.0, 2.0]
    assert frame["prediction_0"].tolist() == frame["f0"].tolist()
    assert frame["prediction_1"].tolist() == (-frame["f0"]).tolist()
    assert frame["_gittrack_model_version"].tolist() == [1] * 6
    assert str(frame["_gittrack_time"].dt.tz) == "UTC"
    assert not list(logs.glob(".*"))  # no partial file left


def test_app_mounts_in_another_starlette_app(models: dict[str, Any]) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    scoring = gittrack.serving.app("two@prod", repo=str(models["repo"]))  # bare NAME@STAGE
    outer = Starlette(routes=[Mount("/models/two", app=scoring)])
    with ThreadServer(outer) as server:
        client = Client(server.port)
        answer = client.request("POST", "/models/two/invocations",
                                json.dumps({"inputs": {"f0": [2.0], "f1": [0.0]}}).encode(),
                                "application/json")
        ping = client.get("/models/two/ping")
        client.close()
    assert answer.status == 200 and answer.json == {"predictions": [[2.0, -2.0]]}
    assert answer.version == 1 and ping.status == 200


def test_runs_uri_and_model_directory(models: dict[str, Any], tmp_path: Path) -> None:
    api.set_tracking_repo(models["repo"])
    version = gittrack.get_model_version("two", 1)
    directory = gittrack.load_model("models:/two/1").path
    api.set_tracking_repo(None)
    for uri in (f"runs:/{version.run}/model", str(directory), "models:/two/1"):
        app = gittrack.serving.app(uri, repo=str(models["repo"]))
        with ThreadServer(app) as server:
            client = Client(server.port)
            answer = client.post({"inputs": {"f0": [3.0], "f1": [0.0]}})
            described = client.get("/version").json
            client.close()
        assert answer.status == 200 and answer.json == {"predictions": [[3.0, -3.0]]}
        if uri.startswith("models:/"):
            assert answer.version == 1 and described["follows"] is None
        else:
            assert answer.version is None and described["version"] is None
        assert described["model_uri"] == uri


def test_split_and_combine() -> None:
    from gittrack.serving.batching import combine, split

    out = np.arange(6.0)
    assert [p.tolist() for p in split(out, [1, 3, 2]) or []] == [[0.0], [1.0, 2.0, 3.0], [4.0, 5.0]]
    assert split(out, [2, 2]) is None  # not one row per input row
    assert split(np.float64(1.0), [1, 1]) is None
    frame = pd.DataFrame({"a": [1, 2, 3]})
    assert [p["a"].tolist() for p in split(frame, [2, 1]) or []] == [[1, 2], [3]]
    assert combine("rows", [np.ones((1, 2)), np.zeros((2, 2))]).shape == (3, 2)
    assert combine("frame", [frame, frame])["a"].tolist() == [1, 2, 3, 1, 2, 3]


def test_schema_conversions() -> None:
    from gittrack.serving.schema import InputSchema, SchemaError

    schema = InputSchema.of({"inputs": [{"name": "a", "type": "double"},
                                        {"name": "b", "type": "long"},
                                        {"name": "c", "type": "string"},
                                        {"name": "d", "type": "boolean"},
                                        {"name": "e", "type": "datetime"}]})
    frame = pd.DataFrame({"a": [1, "2.5"], "b": [1.0, "3"], "c": [1, "x"], "d": ["true", 0],
                          "e": ["2026-01-02", "2026-01-03T04:05:06"], "extra": [0, 0]})
    out = schema.conform(frame)
    assert list(out.columns) == ["a", "b", "c", "d", "e"]
    assert out["a"].tolist() == [1.0, 2.5] and out["b"].tolist() == [1, 3]
    assert out["c"].tolist() == ["1", "x"] and out["d"].tolist() == [True, False]
    assert str(out["e"].dtype).startswith("datetime64")
    for column, bad, text in (("b", [1.5, 2], "not a whole number"),
                              ("b", [None, 2], "nulls"),
                              ("d", ["maybe", 1], "true/false"),
                              ("a", ["x", 1], "'a' must be double")):
        with pytest.raises(SchemaError, match=text):
            schema.conform(frame.assign(**{column: bad}))
    assert InputSchema.of(None).conform(frame) is frame
