"""Routing: atomic snapshot swaps on alias moves, weighted and sticky routes, deployments."""

from __future__ import annotations

import random
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from test_gateway_predict import good_record, make_context, make_frame, make_model

from mlpilot.core.entities import Route
from mlpilot.sdk._context import Context
from mlpilot.sdk._registry import load, register
from mlpilot.serve.gateway import GatewaySettings, WeightedPolicy, create_gateway

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

INTERVAL = 0.1


@pytest.fixture
def two_versions(tmp_path: Any) -> Iterator[Context]:
    """``credit`` v1 (production) and v2 (trained on flipped labels, so answers differ)."""
    ctx = make_context(tmp_path)
    X = make_frame(120)
    y = (X.age > 40).astype(int)
    register(make_model(X, y), "credit", training_data=X, alias="production", context=ctx)
    register(make_model(X, 1 - y), "credit", training_data=X, context=ctx)
    yield ctx
    ctx.store.close()


def gateway(ctx: Context, **kwargs: Any) -> TestClient:
    settings = GatewaySettings(reconcile_interval_s=INTERVAL, seed=3, **kwargs)
    return TestClient(create_gateway(ctx, log=None, settings=settings))


def predict(client: TestClient, name: str = "credit", **headers: str) -> Any:
    return client.post(f"/v1/models/{name}/predict", json={"record": good_record()},
                       headers=headers)


def test_alias_moves_drop_no_request(two_versions: Context) -> None:
    store = two_versions.store
    history: list[tuple[float, int]] = [(time.monotonic(), 1)]
    answers: list[tuple[float, float, int, int]] = []
    stop = threading.Event()
    with gateway(two_versions) as client:

        def hammer() -> None:
            while not stop.is_set():
                start = time.monotonic()
                r = predict(client)
                version = r.json().get("version", -1) if r.status_code == 200 else -1
                answers.append((start, time.monotonic(), r.status_code, version))

        worker = threading.Thread(target=hammer)
        worker.start()
        try:
            for target in (2, 1, 2, 1, 2):
                time.sleep(4 * INTERVAL)
                store.set_alias("credit", "production", target)
                history.append((time.monotonic(), target))
            time.sleep(5 * INTERVAL)
        finally:
            stop.set()
            worker.join()
        after = [predict(client).json()["version"] for _ in range(10)]

    assert len(answers) > 20
    assert [a for a in answers if a[2] != 200] == []
    slack = INTERVAL + 1.0  # one reconcile period plus loading time

    def holders(lo: float, hi: float) -> set[int]:
        held = {v for t, v in history if lo <= t <= hi}
        before = [v for t, v in history if t < lo]
        return held | set(before[-1:])

    for start, end, _, version in answers:
        assert version in holders(start - slack, end)
    assert {a[3] for a in answers} == {1, 2}
    assert after == [2] * 10


def test_deployment_overrides_alias_and_routes_by_weight(two_versions: Context) -> None:
    store = two_versions.store
    with gateway(two_versions) as client:
        state = client.app.state.gateway  # type: ignore[attr-defined]
        store.put_deployment("credit", model="credit", strategy="canary", routes=[
            Route(1, 0.8, "primary"), Route(2, 0.2, "canary")])
        state.reconciler.reconcile()
        versions = Counter(predict(client).json()["version"] for _ in range(120))
        assert 0.1 <= versions[2] / 120 <= 0.3, versions
        meta = client.get("/v2/models/credit").json()
        assert meta["versions"] == ["1", "2"] and meta["parameters"]["source"] == "deployment"
        text = client.get("/metrics").text
        assert 'route="canary"' in text and 'route="primary"' in text

        sticky = {predict(client, **{"X-Routing-Key": "customer-7"}).json()["version"]
                  for _ in range(10)}
        assert len(sticky) == 1
        spread = Counter(predict(client, **{"X-Routing-Key": f"c{i}"}).json()["version"]
                         for i in range(30))
        assert set(spread) == {1, 2}

        store.delete_deployment("credit")
        state.reconciler.reconcile()
        assert {predict(client).json()["version"] for _ in range(10)} == {1}


def test_weighted_policy_proportions_and_stickiness() -> None:
    routes = [Route(1, 0.8, "primary"), Route(2, 0.2, "canary")]
    policy = WeightedPolicy(routes, random.Random(0))
    counts = Counter(policy.choose(None).version for _ in range(20_000))
    assert abs(counts[2] / 20_000 - 0.2) < 0.015
    keyed = Counter(policy.choose(f"user-{i}").version for i in range(20_000))
    assert abs(keyed[2] / 20_000 - 0.2) < 0.015
    assert all(policy.choose("user-5") == policy.choose("user-5") for _ in range(10))


def test_failed_load_keeps_serving_previous_version(two_versions: Context) -> None:
    def loader(model: str, version: int) -> Any:
        if version == 2:
            raise OSError("artifact store down")
        return load(f"{model}/{version}", context=two_versions)

    settings = GatewaySettings(reconcile_interval_s=60)
    app = create_gateway(two_versions, log=None, settings=settings, loader=loader)
    with TestClient(app) as client:
        two_versions.store.set_alias("credit", "production", 2)
        app.state.gateway.reconciler.reconcile()
        assert predict(client).json()["version"] == 1
        assert client.get("/v2/health/ready").status_code == 200
        two_versions.store.put_deployment("fresh", model="credit", strategy="single",
                                          routes=[Route(2, 1.0)])
        app.state.gateway.reconciler.reconcile()
        r = predict(client, "fresh")
        assert r.status_code == 503 and r.json()["code"] == "model_not_ready"
        assert client.get("/v2/health/ready").status_code == 503


def test_zero_weight_routes_are_never_chosen() -> None:
    import random

    from mlpilot.core.entities import Route
    from mlpilot.serve.gateway.routing import WeightedPolicy

    policy = WeightedPolicy([Route(1, 1.0), Route(2, 0.0, "canary")], random.Random(0))
    assert {policy.choose(None).version for _ in range(2000)} == {1}
    assert {policy.choose(f"user-{i}").version for i in range(2000)} == {1}
