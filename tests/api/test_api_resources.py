"""Datasets, runs, deployments, tokens and the OpenAPI document, one resource at a time."""

from __future__ import annotations

from typing import Any

from mlpilot.api import API_PREFIX as API
from mlpilot.sdk._context import Context


def test_datasets_include_schema_and_profile(ctx: Context, client: Any) -> None:
    schema = {"columns": [{"name": "age", "dtype": "int64"}]}
    profile = {"age": {"mean": 41.5, "null_rate": 0.0}}
    ds = ctx.store.register_dataset("loans", digest="sha256:" + "1" * 64, num_rows=10,
                                    num_columns=1, schema=schema, profile=profile)
    ctx.store.register_dataset("other", digest="sha256:" + "2" * 64, num_rows=1,
                               num_columns=1, schema={}, profile={})
    listed = client.get(f"{API}/datasets", params={"name": "loans"}).json()
    assert [d["id"] for d in listed] == [ds.id]
    got = client.get(f"{API}/datasets/{ds.id}").json()
    assert (got["schema"], got["profile"], got["num_rows"]) == (schema, profile, 10)
    assert len(client.get(f"{API}/datasets").json()) == 2


def test_run_lifecycle_rules(client: Any) -> None:
    run = client.post(f"{API}/runs", json={"name": "r", "tags": {"git": "abc"},
                                           "code_version": {"commit": "abc", "dirty": False}})
    assert run.status_code == 201 and run.json()["status"] == "running"
    run_id = run.json()["id"]
    url = f"{API}/runs/{run_id}"
    assert client.post(f"{url}/log-batch", json={"params": {"lr": 0.1},
                                                  "metrics": [{"key": "val/loss", "value": 1}]}
                       ).status_code == 204
    conflict = client.post(f"{url}/log-batch", json={"params": {"lr": 0.2}})
    assert conflict.status_code == 409 and "immutable" in conflict.json()["message"]
    assert [p["value"] for p in client.get(f"{url}/metrics/val/loss").json()] == [1.0]
    far = client.post(f"{url}/log-batch", json={"metrics": [
        {"key": "auc", "value": 1, "timestamp_ms": 2**62}]})
    assert far.status_code == 422 and far.json()["details"]["errors"][0]["loc"] == [
        "body", "metrics", 0, "timestamp_ms"]
    bad_key = client.post(f"{url}/log-batch", json={"metrics": [{"key": "../x", "value": 1}]})
    assert bad_key.status_code == 400
    assert client.post(f"{url}/end", json={"status": "running"}).status_code == 422
    assert client.post(f"{url}/end").json()["status"] == "finished"
    ended = client.post(f"{url}/log-batch", json={"metrics": [{"key": "auc", "value": 1}]})
    assert ended.status_code == 409
    assert client.post(f"{API}/runs", json={"parent_run_id": "nope"}).status_code == 404


def test_deployment_lifecycle(client: Any) -> None:
    digest = client.post(f"{API}/artifacts", content=b"w").json()["digest"]
    client.post(f"{API}/models/m/versions", json={"format": "onnx", "artifact_digest": digest})
    url = f"{API}/deployments/m-api"
    body = {"model": "m", "strategy": "single", "routes": [{"version": 1, "weight": 1.0}]}
    first = client.put(url, json=body)
    assert first.status_code == 200 and first.json()["routes"][0]["role"] == "primary"
    second = client.put(url, json={**body, "slos": {"p99_ms": 50}, "expected_revision": 1})
    assert second.json()["revision"] == 2 and second.json()["slos"] == {"p99_ms": 50}
    bad = client.put(url, json={**body, "strategy": "yolo"})
    assert bad.status_code == 400 and "Available" in bad.json()["message"]
    weights = client.put(url, json={**body, "routes": [{"version": 1, "weight": 0.5}]})
    assert weights.status_code == 400
    assert client.put(url, json={**body, "routes": []}).status_code == 422
    assert client.put(url, json={**body, "routes": [{"version": 9, "weight": 1}]}
                      ).status_code == 404
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


def test_tokens_secret_shown_once(ctx: Context, client: Any) -> None:
    created = client.post(f"{API}/tokens", json={"name": "ci", "role": "viewer"})
    assert created.status_code == 201
    secret = created.json()["secret"]
    assert ctx.store.verify_token(secret).name == "ci"
    assert "secret" not in client.get(f"{API}/tokens").json()[0]
    assert client.post(f"{API}/tokens", json={"name": "x", "role": "root"}).status_code == 422
    assert client.delete(f"{API}/tokens/{created.json()['id']}").status_code == 204
    assert client.delete(f"{API}/tokens/ffffffffffff").status_code == 404


def test_models_update_and_events(client: Any) -> None:
    client.post(f"{API}/models", json={"name": "m", "tags": {"a": "1"}})
    patched = client.patch(f"{API}/models/m", json={"tags": {"b": "2"}}).json()
    assert patched["tags"] == {"a": "1", "b": "2"}
    events = client.get(f"{API}/events", params={"target_kind": "model", "target": "m"}).json()
    assert [e["action"] for e in events] == ["model.update", "model.create"]
    assert events[0]["time"].endswith("Z") or "+00:00" in events[0]["time"]


def test_openapi_documents_every_route(client: Any) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/v1/models/{name}/aliases/{alias}" in spec["paths"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    upload = spec["paths"]["/api/v1/artifacts"]["post"]
    assert "application/octet-stream" in upload["requestBody"]["content"]
    assert spec["paths"]["/api/v1/models"]["post"]["responses"]["409"]


def test_decisions_are_listed_with_evidence(ctx: Context, client: Any) -> None:
    ctx.store.record_decision("rollback", "deployment", "credit-api", reason="error rate",
                              evidence={"p_value": 0.001})
    reply = client.get(f"{API}/decisions", params={"target": "credit-api"})
    assert reply.status_code == 200
    body = reply.json()
    assert [(d["action"], d["evidence"]["p_value"], d["outcome"]) for d in body] == [
        ("rollback", 0.001, "pending")]
