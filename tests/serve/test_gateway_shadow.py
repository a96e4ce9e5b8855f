"""Shadow traffic: a copy to the candidate, off the user's path, with agreement recorded."""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_gateway_predict import make_context, make_frame, make_model, records

from mlpilot.formats._base import LoadedModel
from mlpilot.sdk._context import Context
from mlpilot.sdk._deploy import deploy
from mlpilot.sdk._registry import RegisteredModel, load, register
from mlpilot.serve.gateway import GatewaySettings, create_gateway
from mlpilot.serve.gateway.shadow import agreeing_rows
from mlpilot.serve.inference_log import InferenceLog, read_records

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def versions(tmp_path: Path) -> Iterator[Context]:
    """``credit`` v1 (production), v2 (flipped labels: disagrees), v3 (same as v1)."""
    ctx = make_context(tmp_path)
    X = make_frame(150)
    y = (X.age > 40).astype(int)
    register(make_model(X, y), "credit", training_data=X, alias="production", context=ctx)
    register(make_model(X, 1 - y), "credit", training_data=X, context=ctx)
    register(make_model(X, y), "credit", training_data=X, context=ctx)
    yield ctx
    ctx.store.close()


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def serve(ctx: Context, log: InferenceLog | None, loader: Any = None, **kwargs: Any
          ) -> TestClient:
    settings = GatewaySettings(reconcile_interval_s=0.1, seed=2, **kwargs)
    return TestClient(create_gateway(ctx, log=log, settings=settings, loader=loader))


def test_shadow_gets_a_copy_logged_under_the_same_request_id(versions: Context,
                                                               tmp_path: Path) -> None:
    deploy("credit", 2, strategy="shadow", context=versions)
    frame = make_frame(4, seed=3)
    with InferenceLog(tmp_path / "log", fsync="never") as log:
        with serve(versions, log) as client:
            ids = []
            for i in range(10):
                r = client.post("/v1/models/credit/predict",
                                json={"records": records(frame.iloc[i % 2:i % 2 + 2])})
                assert r.status_code == 200 and r.json()["version"] == 1  # users see v1 only
                ids.append(r.json()["request_id"])
            state = client.app.state.gateway  # type: ignore[attr-defined]
            wait_for(lambda: state.shadows.pending == 0)
            text = client.get("/metrics").text
        log.flush(5)
        logged = list(read_records(log.directory))
    served = {r.request_id: r for r in logged if r.route == "primary"}
    shadow = {r.request_id: r for r in logged if r.route == "shadow"}
    assert set(served) == set(shadow) == set(ids)
    assert all(r.version == 2 and r.status == 200 and r.features == {} for r in shadow.values())
    v1, v2 = load("credit/1", context=versions), load("credit/2", context=versions)
    disagree = int((v1.predict(frame.iloc[:3]) != v2.predict(frame.iloc[:3])).sum())
    assert disagree > 0  # the flipped model disagrees, so agreement must show it
    rows = metric(text, "mlpilot_shadow_rows_total", version="2", agreement="disagree")
    assert rows == sum(int((np.asarray(shadow[i].outputs["predict"])
                            != np.asarray(served[i].outputs["predict"])).sum()) for i in ids)
    assert metric(text, "mlpilot_shadow_requests_total", outcome="answered") == 10
    assert metric(text, "mlpilot_shadow_latency_seconds_count", version="2") == 10


def test_an_agreeing_shadow_counts_agreement(versions: Context) -> None:
    deploy("credit", 3, strategy="shadow", context=versions)
    with serve(versions, None) as client:
        for _ in range(5):
            assert client.post("/v1/models/credit/predict",
                               json={"records": records(make_frame(3, 1))}).status_code == 200
        state = client.app.state.gateway  # type: ignore[attr-defined]
        wait_for(lambda: state.shadows.pending == 0)
        text = client.get("/metrics").text
    assert metric(text, "mlpilot_shadow_rows_total", agreement="agree") == 15
    assert metric(text, "mlpilot_shadow_rows_total", agreement="disagree") == 0


def _breaking(ctx: Context, broken: int, *, sleep: float = 0.0,
              release: threading.Event | None = None) -> Any:
    def loader(model: str, version: int) -> RegisteredModel:
        real = load(f"{model}/{version}", context=ctx)
        if version != broken:
            return real

        def predict(frame: Any) -> Any:
            if release is not None:
                release.wait(5)
            time.sleep(sleep)
            raise ZeroDivisionError("the shadow is broken")

        return RegisteredModel(real.version, LoadedModel(real.raw, format="sklearn",
                                                         predict=predict))
    return loader


def test_a_failing_shadow_never_fails_the_user(versions: Context, tmp_path: Path) -> None:
    deploy("credit", 2, strategy="shadow", context=versions)
    with InferenceLog(tmp_path / "log", fsync="never") as log:
        with serve(versions, log, loader=_breaking(versions, 2)) as client:
            for _ in range(4):
                r = client.post("/v1/models/credit/predict",
                                json={"records": records(make_frame(2, 5))})
                assert r.status_code == 200 and r.json()["version"] == 1
            state = client.app.state.gateway  # type: ignore[attr-defined]
            wait_for(lambda: state.shadows.pending == 0)
            text = client.get("/metrics").text
        log.flush(5)
        shadow = [r for r in read_records(log.directory) if r.route == "shadow"]
    assert len(shadow) == 4 and {(r.status, r.error) for r in shadow} == {
        (500, "ZeroDivisionError")}
    assert metric(text, "mlpilot_shadow_requests_total", outcome="failed") == 4


def test_shadow_copies_beyond_the_limit_are_dropped_and_counted(versions: Context) -> None:
    deploy("credit", 2, strategy="shadow", context=versions)
    release = threading.Event()
    with serve(versions, None, loader=_breaking(versions, 2, release=release),
               max_shadow_pending=2) as client:
        for _ in range(6):  # the first two copies block; the rest find the limit reached
            assert client.post("/v1/models/credit/predict",
                               json={"records": records(make_frame(1, 5))}).status_code == 200
        release.set()
        state = client.app.state.gateway  # type: ignore[attr-defined]
        wait_for(lambda: state.shadows.pending == 0)
        text = client.get("/metrics").text
    assert metric(text, "mlpilot_shadow_requests_total", outcome="dropped") == 4
    assert metric(text, "mlpilot_requests_total", status="200") == 6


def test_agreeing_rows() -> None:
    assert agreeing_rows(np.array([1, 0, 1]), np.array([1, 1, 1])) == 2
    assert agreeing_rows(np.array([0.5, 1.0]), np.array([0.5 + 1e-9, 2.0])) == 1
    assert agreeing_rows(np.array(["a", "b"], dtype=object), np.array(["a", "c"])) == 1
    assert agreeing_rows(np.array([[1, 2], [3, 4]]), np.array([[1, 2], [3, 5]])) == 1
    assert agreeing_rows(np.array([1, 2]), np.array([1, 2, 3])) == 0
