"""Bad input gets a clear 4xx JSON error, never a 500; unexpected errors leak nothing."""

from __future__ import annotations

from typing import Any

import pytest

from mlpilot.api import API_PREFIX as API
from mlpilot.sdk._context import Context

JSON = {"Content-Type": "application/json"}


def test_unknown_model_is_404_with_message(client: Any, expect_error: Any) -> None:
    client.post(f"{API}/models", json={"name": "fraud"})
    body = expect_error(client.get(f"{API}/models/credit"), 404, "not_found")
    assert "No model named 'credit'" in body["message"] and "fraud" in body["message"]
    expect_error(client.get(f"{API}/models/fraud/versions/3"), 404, "not_found")
    expect_error(client.get(f"{API}/runs/abc123"), 404, "not_found")
    expect_error(client.get(f"{API}/datasets/abc123"), 404, "not_found")
    expect_error(client.get(f"{API}/deployments/nope"), 404, "not_found")
    expect_error(client.get(f"{API}/resolve", params={"ref": "fraud@production"}), 404, "not_found")
    body = expect_error(
        client.get(f"{API}/resolve", params={"ref": "fraud"}), 400, "invalid_argument"
    )
    assert "no 'production' alias" in body["message"]
    expect_error(client.get(f"{API}/resolve", params={"ref": "a/b/c"}), 400, "invalid_argument")


@pytest.mark.parametrize(
    "path",
    ["%2E%2E", "..", "a%2F..", "a%2f..%2fetc", "a%5Cb", "-x", "x" * 200, "a..b", "a%00b", "%20x"],
)
def test_bad_model_names_are_400(client: Any, path: str, expect_error: Any) -> None:
    response = client.get(f"{API}/models/{path}/versions")
    if path == "..":  # the client itself normalises the dot segment away
        assert response.status_code == 404
        return
    expect_error(response, 400, "invalid_argument")


@pytest.mark.parametrize("alias", ["Production", "1st", "latest", "a" * 70, "pro%2Fd", "a.b"])
def test_bad_alias_names_are_400(client: Any, alias: str, expect_error: Any, register: Any) -> None:
    register(client)
    response = client.put(f"{API}/models/credit-risk/aliases/{alias}", json={"version": 1})
    body = expect_error(response, 400, "invalid_argument")
    assert "alias" in body["message"] or "Path segments" in body["message"]


def test_bad_query_values_are_4xx(client: Any, expect_error: Any) -> None:
    expect_error(
        client.get(f"{API}/runs", params={"filter": "metrics.auc >> 1"}), 400, "invalid_argument"
    )
    expect_error(client.get(f"{API}/runs", params={"order_by": "bogus"}), 400, "invalid_argument")
    expect_error(client.get(f"{API}/runs", params={"max_results": 0}), 422, "validation_error")
    expect_error(client.get(f"{API}/runs", params={"model": "../x"}), 400, "invalid_argument")
    expect_error(client.get(f"{API}/events", params={"limit": "lots"}), 422, "validation_error")
    expect_error(client.get(f"{API}/models", params={"search": "a\x00b"}), 400, "invalid_argument")
    expect_error(client.get(f"{API}/models/x/compare", params={"a": 1}), 422, "validation_error")
    expect_error(client.get(f"{API}/models/x/versions/0"), 422, "validation_error")
    expect_error(client.get(f"{API}/models/x/versions/99999999999999"), 422, "validation_error")


@pytest.mark.parametrize("body", [b"{bad", b'{"name": "m",}', b"", b"\xff\xfe", b"[" * 5000])
def test_malformed_json_is_400(client: Any, body: bytes, expect_error: Any) -> None:
    response = client.post(f"{API}/models", content=body, headers=JSON)
    if body == b"":  # no body at all: the required body is missing
        expect_error(response, 422, "validation_error")
        return
    expect_error(response, 400, "invalid_json")


def test_wrong_types_are_422_naming_the_field(
    client: Any, expect_error: Any, register: Any
) -> None:
    body = expect_error(client.post(f"{API}/models", json={"name": 3}), 422, "validation_error")
    assert body["details"]["errors"][0]["loc"] == ["body", "name"]
    assert "body.name" in body["message"]
    register(client)
    body = expect_error(
        client.put(f"{API}/models/credit-risk/aliases/production", json={"version": "1"}),
        422,
        "validation_error",
    )
    assert body["details"]["errors"][0]["loc"] == ["body", "version"]
    body = expect_error(
        client.post(f"{API}/models", json={"name": "m", "colour": "red"}), 422, "validation_error"
    )
    assert body["details"]["errors"][0]["loc"] == ["body", "colour"]
    body = expect_error(
        client.post(
            f"{API}/models", content=b'{"name": "m"}', headers={"Content-Type": "text/plain"}
        ),
        422,
        "validation_error",
    )
    assert "Content-Type: application/json" in body["message"]


@pytest.mark.parametrize("value", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_non_finite_metrics_are_refused(client: Any, value: bytes) -> None:
    run_id = client.post(f"{API}/runs", json={}).json()["id"]
    body = b'{"metrics": [{"key": "auc", "value": ' + value + b"}]}"
    response = client.post(f"{API}/runs/{run_id}/log-batch", content=body, headers=JSON)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["code"] == "invalid_json"
    version = b'{"format": "sklearn", "artifact_digest": "x", "metrics": {"auc": ' + value + b"}}"
    response = client.post(f"{API}/models/m/versions", content=version, headers=JSON)
    assert response.status_code == 400
    assert client.get(f"{API}/runs/{run_id}").json()["metrics"] == {}


def test_nul_and_lone_surrogates_are_400(make_any_client: Any, expect_error: Any) -> None:
    client = make_any_client()  # PostgreSQL cannot store either: they must never reach it
    for text in (
        b'{"name": "m", "description": "a\\u0000b"}',
        b'{"name": "m", "description": "\\ud800"}',
        b'{"name": "m", "tags": {"a\\u0000": "b"}}',
    ):
        expect_error(client.post(f"{API}/models", content=text, headers=JSON), 400, "invalid_json")
    expect_error(client.get(f"{API}/models", params={"search": "a\x00"}), 400, "invalid_argument")
    assert client.get(f"{API}/models", params={"search": "100%_\\"}).json() == []


def test_oversized_bodies_are_413(make_client: Any, expect_error: Any) -> None:
    client = make_client(max_json_bytes=1000, max_artifact_bytes=5000)
    big = {"name": "m", "description": "x" * 2000}
    body = expect_error(client.post(f"{API}/models", json=big), 413, "payload_too_large")
    assert body["details"]["limit"] == 1000
    streamed = client.post(
        f"{API}/models", content=iter([b'{"name": "m", "x": "'] + [b"x" * 500] * 4), headers=JSON
    )
    expect_error(streamed, 413, "payload_too_large")

    def chunks() -> Any:
        for _ in range(10):
            yield b"x" * 1000

    body = expect_error(client.post(f"{API}/artifacts", content=chunks()), 413, "payload_too_large")
    assert body["details"]["limit"] == 5000
    expect_error(client.post(f"{API}/artifacts", content=b"x" * 6000), 413, "payload_too_large")
    assert client.post(f"{API}/artifacts", content=b"x" * 4000).status_code == 201
    expect_error(client.post(f"{API}/artifacts", content=b""), 400, "invalid_argument")


def test_unknown_routes_and_methods_are_json(client: Any, expect_error: Any) -> None:
    expect_error(client.get(f"{API}/nothing-here"), 404, "not_found")
    expect_error(client.get("/nothing-here"), 404, "not_found")
    body = expect_error(client.delete(f"{API}/models"), 405, "method_not_allowed")
    assert "DELETE" in body["message"]


def test_unexpected_errors_are_generic_500(
    ctx: Context, client: Any, monkeypatch: pytest.MonkeyPatch, expect_error: Any
) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("password=hunter2 at /srv/secret/path")

    monkeypatch.setattr(type(ctx.store), "list_models", boom)
    response = client.get(f"{API}/models")
    expect_error(response, 500, "internal")
    assert "hunter2" not in response.text and "Traceback" not in response.text
