"""The gateway end to end: round trips, validation errors, request ids, log, feedback, metrics."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlpilot.core.settings import Settings
from mlpilot.sdk._context import Context
from mlpilot.sdk._registry import load, register
from mlpilot.serve.gateway import GatewaySettings, create_gateway, read_feedback
from mlpilot.serve.gateway.codec import json_depth
from mlpilot.serve.inference_log import InferenceLog, read_records
from mlpilot.store import Store
from mlpilot.store.artifacts import get_artifact_store

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def make_frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.integers(18, 80, n),
        "income": rng.normal(50.0, 10.0, n),
        "city": rng.choice(["oslo", "rome", "lima"], n),
        "score": np.where(rng.random(n) < 0.2, np.nan, rng.random(n)),
        "member": rng.random(n) < 0.5,
    })


def make_model(X: pd.DataFrame, y: pd.Series) -> Any:
    columns = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["city"]),
        (SimpleImputer(), ["score"]),
        (StandardScaler(), ["age", "income"]),
        ("passthrough", ["member"]),
    )
    return make_pipeline(columns, LogisticRegression()).fit(X, y)


def make_context(tmp: Path) -> Context:
    url = f"sqlite:///{tmp / 'store.db'}"
    settings = Settings(home=tmp, store_url=url, artifact_url=str(tmp / "artifacts"),
                        actor="test")
    return Context(settings=settings, store=Store.open(url, actor="test"),
                   artifacts=get_artifact_store(settings.artifact_url))


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Context]:
    """A store with ``credit`` v1 at production."""
    ctx = make_context(tmp_path_factory.mktemp("registry"))
    X = make_frame(200)
    register(make_model(X, (X.age > 40).astype(int)), "credit", training_data=X,
             alias="production", context=ctx)
    yield ctx
    ctx.store.close()


@pytest.fixture(scope="module")
def gateway(registry: Context, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[TestClient, InferenceLog]]:
    log = InferenceLog(tmp_path_factory.mktemp("log"), fsync="never")
    settings = GatewaySettings(max_body_bytes=64 * 1024, max_batch_rows=100,
                               reconcile_interval_s=0.2, request_timeout_s=5, seed=1)
    app = create_gateway(registry, log=log, settings=settings)
    with TestClient(app) as client:
        yield client, log
    log.close()


@pytest.fixture
def client(gateway: tuple[TestClient, InferenceLog]) -> TestClient:
    return gateway[0]


def rows(n: int = 3, seed: int = 7) -> pd.DataFrame:
    return make_frame(n, seed)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records"))


def oip_body(frame: pd.DataFrame) -> dict[str, Any]:
    types = {"age": "INT64", "income": "FP64", "city": "BYTES", "score": "FP64",
             "member": "BOOL"}
    columns = json.loads(frame.to_json(orient="columns"))
    return {"inputs": [{"name": c, "shape": [len(frame)], "datatype": types[c],
                        "data": [columns[c][str(i)] for i in range(len(frame))]}
                       for c in frame.columns]}


def expected(registry: Context, frame: pd.DataFrame) -> tuple[list[Any], np.ndarray]:
    model = load("credit/1", context=registry)
    return model.predict(frame).tolist(), model.predict_proba(frame)


# -- round trips ---------------------------------------------------------------------


def test_v1_records_round_trip_equals_direct_predict(client: TestClient,
                                                     registry: Context) -> None:
    frame = rows(5)
    frame.loc[1, "score"] = np.nan
    r = client.post("/v1/models/credit/predict", json={"records": records(frame)})
    assert r.status_code == 200, r.text
    body = r.json()
    predictions, proba = expected(registry, frame)
    assert body["predictions"] == predictions
    np.testing.assert_allclose(body["probabilities"], proba)
    assert body["model"] == "credit" and body["version"] == 1
    assert body["classes"] == [0, 1]
    assert body["request_id"] == r.headers["x-request-id"]


def test_v1_columns_and_single_record(client: TestClient, registry: Context) -> None:
    frame = rows(4)
    cols = {c: records(frame) and [r[c] for r in records(frame)] for c in frame.columns}
    r = client.post("/v1/models/credit/predict", json={"columns": cols})
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == expected(registry, frame)[0]
    one = client.post("/v1/models/credit/predict", json={"record": records(frame)[0]})
    assert one.status_code == 200, one.text
    assert one.json()["predictions"] == expected(registry, frame.head(1))[0]


def test_oip_infer_round_trip(client: TestClient, registry: Context) -> None:
    frame = rows(6)
    r = client.post("/v2/models/credit/infer", json=oip_body(frame))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_name"] == "credit" and body["model_version"] == "1"
    assert body["id"] == r.headers["x-request-id"]
    outputs = {o["name"]: o for o in body["outputs"]}
    predictions, proba = expected(registry, frame)
    assert outputs["predict"]["data"] == predictions
    assert outputs["predict"]["shape"] == [6] and outputs["predict"]["datatype"] == "INT64"
    assert outputs["predict_proba"]["shape"] == [6, 2]
    np.testing.assert_allclose(np.reshape(outputs["predict_proba"]["data"], (6, 2)), proba)


def test_oip_accepts_n_by_1_tensors_and_output_selection(client: TestClient) -> None:
    body = oip_body(rows(2))
    for t in body["inputs"]:
        t["shape"] = [2, 1]
        t["data"] = [[v] for v in t["data"]]
    body["outputs"] = [{"name": "predict"}]
    r = client.post("/v2/models/credit/infer", json=body)
    assert r.status_code == 200, r.text
    assert [o["name"] for o in r.json()["outputs"]] == ["predict"]


def test_metadata_health_and_ready(client: TestClient) -> None:
    meta = client.get("/v2/models/credit").json()
    assert meta["name"] == "credit" and meta["versions"] == ["1"]
    assert meta["platform"] == "mlpilot_sklearn"
    assert {i["name"]: i["datatype"] for i in meta["inputs"]} == {
        "age": "INT64", "income": "FP64", "city": "BYTES", "score": "FP64", "member": "BOOL"}
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").json()["ready"] is True
    assert client.get("/v2/models/credit/ready").json()["ready"] is True
    assert client.get("/v2/models/nope/ready").status_code == 404


# -- bad input -----------------------------------------------------------------------


def post(client: TestClient, content: bytes | str, path: str = "/v1/models/credit/predict",
         content_type: str = "application/json") -> Any:
    return client.post(path, content=content, headers={"content-type": content_type})


@pytest.mark.parametrize(("content", "status", "code", "words"), [
    (b'{"records": [', 400, "invalid_json", "not valid JSON"),
    (b'{"record": {"age": NaN}}', 400, "invalid_json", "NaN"),
    (b'{"record": {"income": Infinity}}', 400, "invalid_json", "Infinity"),
    (b'{"record": {"income": 1e999}}', 400, "invalid_json", "infinity"),
    (b"\xff\xfe", 400, "invalid_json", "UTF-8"),
    (b"", 400, "invalid_json", "empty"),
    (b"[1, 2]", 422, "invalid_input", "JSON object"),
    (b'{"rows": []}', 422, "invalid_input", "exactly one of"),
    (b'{"records": [1]}', 422, "invalid_input", "records[0]"),
    (b'{"records": []}', 422, "invalid_input", "no rows"),
    (b'{"columns": {"age": [1, 2], "income": [1.0]}}', 422, "invalid_input", "same length"),
])
def test_malformed_bodies(client: TestClient, content: bytes, status: int, code: str,
                          words: str) -> None:
    r = post(client, content)
    assert r.status_code == status, r.text
    assert r.json()["code"] == code
    assert words in r.json()["message"]


def good_record() -> dict[str, Any]:
    return {"age": 30, "income": 40.5, "city": "oslo", "score": 0.3, "member": True}


@pytest.mark.parametrize(("change", "code", "words"), [
    (lambda r: r.pop("city"), "null_not_allowed", "['city'] may not be null"),
    (lambda r: r.update(extra=1), "schema_mismatch", "Unexpected columns: ['extra']"),
    (lambda r: r.update(age="old"), "schema_mismatch", "'age' must be integer"),
    (lambda r: r.update(member="yes"), "schema_mismatch", "'member' must be boolean"),
    (lambda r: r.update(age=None), "null_not_allowed", "['age'] may not be null"),
    (lambda r: r.update(city={"a": 1}), "invalid_input", "'city' must hold scalar"),
    (lambda r: r.update(age=2**63), "invalid_input", "64-bit"),
    (lambda r: r.update(age=2**70), "invalid_input", "64-bit"),  # parsed as a double
])
def test_signature_violations_are_422(client: TestClient, change: Any, code: str,
                                      words: str) -> None:
    record = good_record()
    change(record)
    r = client.post("/v1/models/credit/predict", json={"records": [good_record(), record]})
    if code == "schema_mismatch":  # the same through the single-record form
        assert client.post("/v1/models/credit/predict",
                           json={"record": record}).json()["code"] == code
    assert r.status_code == 422, r.text
    assert r.json()["code"] == code
    assert words in r.json()["message"]


def test_schema_mismatch_details_name_columns(client: TestClient) -> None:
    record = good_record()
    record.pop("city")
    record["age"] = "x"
    details = client.post("/v1/models/credit/predict", json={"record": record}).json()["details"]
    assert details["missing"] == ["city"] and details["retyped"]["age"]["expected"] == "integer"


def test_null_allowed_in_nullable_column(client: TestClient) -> None:
    record = good_record() | {"score": None}
    assert client.post("/v1/models/credit/predict", json={"record": record}).status_code == 200


@pytest.mark.parametrize(("mutate", "words"), [
    (lambda b: b["inputs"][0].update(shape=[2]), "declares shape [2] but carries 3"),
    (lambda b: b["inputs"][1].update(shape=[3, 2]), "shape [n] or [n, 1]"),
    (lambda b: b["inputs"][0].update(datatype="FP128"), "datatype 'FP128'"),
    (lambda b: b["inputs"][0].update(datatype="BOOL"), "declared BOOL"),
    (lambda b: b["inputs"].append(dict(b["inputs"][0])), "appears twice"),
    (lambda b: b.update(inputs=[]), "non-empty list"),
    (lambda b: b.update(outputs=[{"name": "shap"}]), "Unknown outputs"),
])
def test_oip_tensor_errors(client: TestClient, mutate: Any, words: str) -> None:
    body = oip_body(rows(3))
    mutate(body)
    r = client.post("/v2/models/credit/infer", json=body)
    assert r.status_code == 422, r.text
    assert words in r.json()["message"]


def test_oip_tensors_of_different_lengths(client: TestClient) -> None:
    body = oip_body(rows(3))
    body["inputs"][0] = oip_body(rows(2))["inputs"][0]
    r = client.post("/v2/models/credit/infer", json=body)
    assert r.status_code == 422 and "same first dimension" in r.json()["message"]


def test_unknown_model_is_404(client: TestClient) -> None:
    r = client.post("/v1/models/nope/predict", json={"record": good_record()})
    assert r.status_code == 404 and "nope" in r.json()["message"]
    assert "credit" in r.json()["message"]
    assert client.get("/v2/models/nope").status_code == 404


def test_body_over_limit_is_413(gateway: tuple[TestClient, InferenceLog]) -> None:
    client, log = gateway
    big = json.dumps({"records": [good_record()] * 2000})
    r = client.post("/v1/models/credit/predict", content=big,
                    headers={"content-type": "application/json", "X-Request-ID": "big-1"})
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
    assert r.json()["request_id"] == "big-1"  # refused by the handler: logged like others
    assert log.flush(timeout=10)
    assert {(x.status, x.error) for x in read_records(log.directory)
            if x.request_id == "big-1"} == {(413, "PayloadTooLarge")}

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        for _ in range(100):
            yield b" " * 4096

    r = client.post("/v1/models/credit/predict", content=chunks(),
                    headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_batch_over_max_rows_is_413(client: TestClient) -> None:
    cols = {k: [v] * 101 for k, v in good_record().items()}
    r = client.post("/v1/models/credit/predict", json={"columns": cols})
    assert r.status_code == 413 and "101 rows" in r.json()["message"]


def test_deep_json_is_400_before_parsing(client: TestClient) -> None:
    deep = '{"record": ' + "[" * 40 + "]" * 40 + "}"
    r = post(client, deep)
    assert r.status_code == 400 and r.json()["code"] == "json_too_deep"
    very_deep = "[" * 30_000 + "]" * 30_000  # would blow the recursive parser
    assert post(client, very_deep).json()["code"] == "json_too_deep"


def test_json_depth_ignores_brackets_in_strings() -> None:
    assert json_depth(b'{"a": "[[[[{{{", "b": [1, {"c": "\\"]]"}]}') == 3
    assert json_depth(b"1") == 0


@pytest.mark.parametrize("content_type", [
    "application/octet-stream", "application/x-pickle", "text/plain",
    "application/x-www-form-urlencoded"])
def test_non_json_content_types_are_415(client: TestClient, content_type: str) -> None:
    import pickle

    r = post(client, pickle.dumps({"record": good_record()}), content_type=content_type)
    assert r.status_code == 415 and "JSON only" in r.json()["message"]


# -- request ids ---------------------------------------------------------------------


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    r = client.post("/v1/models/credit/predict", json={"record": good_record()},
                    headers={"X-Request-ID": "order-42.a_b"})
    assert r.headers["x-request-id"] == "order-42.a_b" == r.json()["request_id"]
    for bad in ("has space", "x" * 129, "semi;colon"):
        r = client.post("/v1/models/credit/predict", json={"record": good_record()},
                        headers={"X-Request-ID": bad})
        rid = r.headers["x-request-id"]
        assert rid != bad and len(rid) == 32 and rid == r.json()["request_id"]
    r = client.post("/v1/models/credit/predict", json={"record": {}})
    assert r.json()["request_id"] == r.headers["x-request-id"]


# -- model failures and timeouts ----------------------------------------------------------


class Exploding:
    def predict(self, X: pd.DataFrame) -> Any:
        raise ZeroDivisionError("secret detail")


class Slow:
    def predict(self, X: pd.DataFrame) -> Any:
        import time

        time.sleep(1.0)
        return np.zeros(len(X))


@pytest.fixture(scope="module")
def odd_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from mlpilot.formats import LoadedModel
    from mlpilot.sdk._registry import RegisteredModel

    ctx = make_context(tmp_path_factory.mktemp("odd"))
    X = make_frame(50)
    fitted = make_model(X, (X.age > 40).astype(int))
    for name in ("boom", "slow"):
        register(fitted, name, training_data=X, alias="production", context=ctx)
    raws = {"boom": Exploding(), "slow": Slow()}

    def loader(model: str, version: int) -> RegisteredModel:
        real = load(f"{model}/{version}", context=ctx)
        return RegisteredModel(real.version, LoadedModel(raws[model], format="pyfunc"))

    log = InferenceLog(tmp_path_factory.mktemp("odd-log"), fsync="never")
    app = create_gateway(ctx, log=log, loader=loader,
                         settings=GatewaySettings(request_timeout_s=0.2))
    with TestClient(app) as client:
        client.log = log  # type: ignore[attr-defined]
        yield client
    log.close()
    ctx.store.close()


def test_model_exception_is_generic_500(odd_models: TestClient,
                                        caplog: pytest.LogCaptureFixture) -> None:
    r = odd_models.post("/v1/models/boom/predict", json={"record": good_record()})
    assert r.status_code == 500 and r.json()["code"] == "predict_failed"
    assert "secret" not in r.text
    assert "ZeroDivisionError" in caplog.text and "secret" not in caplog.text
    log: InferenceLog = odd_models.log  # type: ignore[attr-defined]
    log.flush()
    failed = [x for x in read_records(log.directory) if x.request_id == r.json()["request_id"]]
    assert failed[0].status == 500 and failed[0].error == "ZeroDivisionError"


def test_slow_predict_is_504(odd_models: TestClient) -> None:
    r = odd_models.post("/v1/models/slow/predict", json={"record": good_record()})
    assert r.status_code == 504 and "timeout" in r.json()["message"]


# -- inference log, feedback, metrics -------------------------------------------------------


def test_answered_requests_are_logged(gateway: tuple[TestClient, InferenceLog]) -> None:
    client, log = gateway
    ok = client.post("/v1/models/credit/predict", json={"records": [good_record()] * 2},
                     headers={"X-Request-ID": "log-ok"})
    single = client.post("/v1/models/credit/predict", json={"record": good_record()},
                         headers={"X-Request-ID": "log-one"})
    bad = client.post("/v1/models/credit/predict", json={"record": {"age": "x"}},
                      headers={"X-Request-ID": "log-bad"})
    client.post("/v1/models/unknown/predict", json={"record": {}},
                headers={"X-Request-ID": "log-404"})
    assert (ok.status_code, single.status_code, bad.status_code) == (200, 200, 422)
    assert log.flush(timeout=10)
    by_id = {r.request_id: r for r in read_records(log.directory)}
    rec = by_id["log-ok"]
    assert (rec.deployment, rec.model, rec.version, rec.status) == ("credit", "credit", 1, 200)
    assert rec.features["age"] == [30, 30] and rec.route == "production"
    assert rec.outputs["predict"] == ok.json()["predictions"] and rec.latency_ms > 0
    assert by_id["log-one"].features == good_record()
    assert by_id["log-bad"].status == 422 and by_id["log-bad"].error == "InputSchemaMismatch"
    assert "log-404" not in by_id  # the name never resolved


def test_feedback_is_stored_and_latest_wins(gateway: tuple[TestClient, InferenceLog]) -> None:
    client, log = gateway
    r = client.post("/v1/feedback", json={"items": [
        {"request_id": "fb-1", "label": 0}, {"request_id": "fb-2", "label": "yes",
                                             "time": "2025-01-02T03:04:05+00:00"}]})
    assert r.status_code == 202 and r.json()["accepted"] == 2
    assert client.post("/v1/feedback", json={"request_id": "fb-1", "label": 1}).status_code == 202
    assert client.post("/v1/feedback", json={"request_id": "fb-1", "label": 1}).status_code == 202
    feedback_log = client.app.state.gateway.feedback_log  # type: ignore[attr-defined]
    assert feedback_log.flush(timeout=10)
    labels = read_feedback(feedback_log.directory)
    assert labels["fb-1"].label == 1 and labels["fb-2"].label == "yes"
    assert labels["fb-2"].time is not None and labels["fb-2"].time.year == 2025


def test_batch_requests_take_one_label_per_row(gateway: tuple[TestClient, InferenceLog]
                                               ) -> None:
    from mlpilot.delivery.windows import collect_windows

    client, log = gateway
    r = client.post("/v1/models/credit/predict", json={"records": records(rows(4))})
    rid, predicted = r.json()["request_id"], r.json()["predictions"]
    labels = [predicted[0], 1 - predicted[1], None, predicted[3]]  # row 2 not known yet
    assert client.post("/v1/feedback", json={"request_id": rid, "labels": labels}
                       ).status_code == 202
    feedback_log = client.app.state.gateway.feedback_log  # type: ignore[attr-defined]
    assert feedback_log.flush(timeout=10) and log.flush(timeout=10)
    feedback = read_feedback(feedback_log.directory)
    assert feedback[rid].label == labels
    since = datetime.now(UTC) - timedelta(minutes=5)
    stats = collect_windows(log.directory, "credit", [1], since, feedback={rid: feedback[rid]})
    assert (stats[1].labelled, stats[1].correct) == (3, 2)  # per row, the null skipped


@pytest.mark.parametrize(("body", "words"), [
    ({"items": [{"request_id": "bad id", "label": 1}]}, "request_id"),
    ({"items": [{"request_id": "a", "label": [1]}]}, "label must be"),
    ({"items": [{"request_id": "a"}]}, "exactly one of 'label'"),
    ({"items": [{"request_id": "a", "label": 1, "labels": [1]}]}, "exactly one of 'label'"),
    ({"items": [{"request_id": "a", "labels": []}]}, "labels must be a list"),
    ({"items": [{"request_id": "a", "labels": [None]}]}, "labels must be a list"),
    ({"items": [{"request_id": "a", "labels": [[1]]}]}, "labels must be a list"),
    ({"items": [{"request_id": "a", "label": None}]}, "label must be"),
    ({"items": [{"request_id": "a", "label": 1, "time": "yesterday"}]}, "ISO 8601"),
    ({"items": [{"request_id": "a", "label": 1, "who": "me"}]}, "unknown keys"),
    ({"items": []}, "no items"),
])
def test_feedback_validation(client: TestClient, body: Any, words: str) -> None:
    r = client.post("/v1/feedback", json=body)
    assert r.status_code == 422, r.text
    assert words in r.json()["message"]


def test_too_many_feedback_items(client: TestClient) -> None:
    items = [{"request_id": f"r{i}", "label": 1} for i in range(1001)]
    assert client.post("/v1/feedback", json={"items": items}).status_code == 413


def test_metrics_after_traffic(client: TestClient) -> None:
    client.post("/v1/models/credit/predict", json={"records": [good_record()] * 3})
    client.post("/v1/models/credit/predict", json={"record": {"age": "x"}})
    text = client.get("/metrics").text
    assert 'mlpilot_requests_total{name="credit",route="production",status="200",version="1"}' \
        in text
    assert 'mlpilot_request_errors_total{name="credit",reason="schema_mismatch"}' in text
    assert "mlpilot_request_latency_seconds_bucket{" in text
    assert 'mlpilot_predict_rows_total{name="credit",version="1"}' in text
    assert "mlpilot_log_queue_depth " in text
    assert 'mlpilot_log_dropped_total{reason="queue_full"} 0.0' in text
    assert "mlpilot_log_submitted_total " in text
