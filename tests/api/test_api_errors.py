"""Bad input gets a clear 4xx JSON error, never a 500; unexpected errors leak nothing."""

from __future__ import annotations

from typing import Any

import pytest

from mlpilot.api import API_PREFIX as API
from mlpilot.sdk._context import Context

JSON = {"Content-Type": "application/json"}


def _register(client: Any, model: str = "credit-risk", n: int = 1) -> None:
    digest = client.post(f"{API}/artifacts", content=b"weights").json()["digest"]
    for _ in range(n):
        response = client.post(f"{API}/models/{model}/versions",
                               json={"format": "sklearn", "artifact_digest": digest})
        assert response.status_code == 201, response.text


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and body["message"] and isinstance(body["details"], dict)
    return body


def test_unknown_model_is_404_with_message(client: Any) -> None:
    client.post(f"{API}/models", json={"name": "fraud"})
    body = _error(client.get(f"{API}/models/credit"), 404, "not_found")
    assert "No model named 'credit'" in body["message"] and "fraud" in body["message"]
    _error(client.get(f"{API}/models/fraud/versions/3"), 404, "not_found")
    _error(client.get(f"{API}/runs/abc123"), 404, "not_found")
    _error(client.get(f"{API}/datasets/abc123"), 404, "not_found")
    _error(client.get(f"{API}/deployments/nope"), 404, "not_found")
    _error(client.get(f"{API}/resolve", params={"ref": "fraud@production"}), 404, "not_found")
    body = _error(client.get(f"{API}/resolve", params={"ref": "fraud"}), 400,
                  "invalid_argument")
    assert "no 'production' alias" in body["message"]
    _error(client.get(f"{API}/resolve", params={"ref": "a/b/c"}), 400, "invalid_argument")


@pytest.mark.parametrize("path", ["%2E%2E", "..", "a%2F..", "a%2f..%2fetc", "a%5Cb", "-x",
                                  "x" * 200, "a..b", "a%00b", "%20x"])
def test_bad_model_names_are_400(client: Any, path: str) -> None:
    response = client.get(f"{API}/models/{path}/versions")
    if path == "..":  # the client itself normalises the dot segment away
        assert response.status_code == 404
        return
    _error(response, 400, "invalid_argument")


@pytest.mark.parametrize("alias", ["Production", "1st", "latest", "a" * 70, "pro%2Fd", "a.b"])
def test_bad_alias_names_are_400(client: Any, alias: str) -> None:
    _register(client)
    response = client.put(f"{API}/models/credit-risk/aliases/{alias}", json={"version": 1})
    body = _error(response, 400, "invalid_argument")
    assert "alias" in body["message"] or "Path segments" in body["message"]


def test_bad_query_values_are_4xx(client: Any) -> None:
    _error(client.get(f"{API}/runs", params={"filter": "metrics.auc >> 1"}), 400,
           "invalid_argument")
    _error(client.get(f"{API}/runs", params={"order_by": "bogus"}), 400, "invalid_argument")
    _error(client.get(f"{API}/runs", params={"max_results": 0}), 422, "validation_error")
    _error(client.get(f"{API}/runs", params={"model": "../x"}), 400, "invalid_argument")
    _error(client.get(f"{API}/events", params={"limit": "lots"}), 422, "validation_error")
    _error(client.get(f"{API}/models", params={"search": "a\x00b"}), 400, "invalid_argument")
    _error(client.get(f"{API}/models/x/compare", params={"a": 1}), 422, "validation_error")
    _error(client.get(f"{API}/models/x/versions/0"), 422, "validation_error")
    _error(client.get(f"{API}/models/x/versions/99999999999999"), 422, "validation_error")


@pytest.mark.parametrize("body", [b"{bad", b'{"name": "m",}', b"", b"\xff\xfe", b"[" * 5000])
def test_malformed_json_is_400(client: Any, body: bytes) -> None:
    response = client.post(f"{API}/models", content=body, headers=JSON)
    if body == b"":  # no body at all: the required body is missing
        _error(response, 422, "validation_error")
        return
    _error(response, 400, "invalid_json")


def test_wrong_types_are_422_naming_the_field(client: Any) -> None:
    body = _error(client.post(f"{API}/models", json={"name": 3}), 422, "validation_error")
    assert body["details"]["errors"][0]["loc"] == ["body", "name"]
    assert "body.name" in body["message"]
    _register(client)
    body = _error(client.put(f"{API}/models/credit-risk/aliases/production",
                             json={"version": "1"}), 422, "validation_error")
    assert body["details"]["errors"][0]["loc"] == ["body", "version"]
    body = _error(client.post(f"{API}/models", json={"name": "m", "colour": "red"}), 422,
                  "validation_error")
    assert body["details"]["errors"][0]["loc"] == ["body", "colour"]
    body = _error(client.post(f"{API}/models", content=b'{"name": "m"}',
                              headers={"Content-Type": "text/plain"}), 422, "validation_error")
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


def test_nul_and_lone_surrogates_in_json_are_400(client: Any) -> None:
    for text in (b'{"name": "m", "description": "a\\u0000b"}',
                 b'{"name": "m", "description": "\\ud800"}'):
        _error(client.post(f"{API}/models", content=text, headers=JSON), 400, "invalid_json")


def test_oversized_bodies_are_413(make_client: Any) -> None:
    client = make_client(max_json_bytes=1000, max_artifact_bytes=5000)
    big = {"name": "m", "description": "x" * 2000}
    body = _error(client.post(f"{API}/models", json=big), 413, "payload_too_large")
    assert body["details"]["limit"] == 1000

    def chunks() -> Any:
        for _ in range(10):
            yield b"x" * 1000

    body = _error(client.post(f"{API}/artifacts", content=chunks()), 413, "payload_too_large")
    assert body["details"]["limit"] == 5000
    _error(client.post(f"{API}/artifacts", content=b"x" * 6000), 413, "payload_too_large")
    assert client.post(f"{API}/artifacts", content=b"x" * 4000).status_code == 201
    _error(client.post(f"{API}/artifacts", content=b""), 400, "invalid_argument")


def test_alias_conflict_names_the_holder(client: Any) -> None:
    _register(client, n=3)
    url = f"{API}/models/credit-risk/aliases/production"
    assert client.put(url, json={"version": 1, "expected": None}).status_code == 200
    body = _error(client.put(url, json={"version": 2, "expected": None}), 409, "alias_conflict")
    assert "held by version 1" in body["message"] and body["details"]["holder"] == 1
    body = _error(client.put(url, json={"version": 3, "expected": 2}), 409, "alias_conflict")
    assert body["details"]["holder"] == 1
    assert client.put(url, json={"version": 3, "expected": 1}).json()["aliases"] == [
        "production"]
    assert client.put(url, json={"version": 2}).status_code == 200  # no expected: no check
    _error(client.delete(url, params={"expected": 3}), 409, "alias_conflict")
    assert client.delete(url).status_code == 204
    _error(client.delete(url), 404, "not_found")


def test_archived_version_cannot_take_an_alias(client: Any) -> None:
    _register(client, n=2)
    url = f"{API}/models/credit-risk"
    client.put(f"{url}/aliases/production", json={"version": 1})
    _error(client.post(f"{url}/versions/1/archive", json={"reason": "old"}), 409, "conflict")
    archived = client.post(f"{url}/versions/2/archive")
    assert archived.status_code == 200 and archived.json()["status"] == "archived"
    body = _error(client.put(f"{url}/aliases/canary", json={"version": 2}), 409, "conflict")
    assert "archived" in body["message"]


def test_versions_need_an_uploaded_artifact(client: Any) -> None:
    missing = "sha256:" + "0" * 64
    body = _error(client.post(f"{API}/models/m/versions",
                              json={"format": "sklearn", "artifact_digest": missing}),
                  404, "not_found")
    assert "POST /api/v1/artifacts" in body["message"]
    _error(client.post(f"{API}/models/m/versions",
                       json={"format": "sklearn", "artifact_digest": "../../etc/passwd"}),
           400, "invalid_argument")
    _error(client.get(f"{API}/artifacts/{missing}"), 404, "not_found")
    _error(client.get(f"{API}/artifacts/sha256:xyz"), 400, "invalid_argument")


def test_tampered_artifact_is_refused(ctx: Context, client: Any) -> None:
    digest = client.post(f"{API}/artifacts", content=b"original").json()["digest"]
    hexdigest = digest.split(":")[1]
    blob = ctx.settings.home / "artifacts" / "sha256" / hexdigest[:2] / hexdigest[2:]
    blob.chmod(0o600)
    blob.write_bytes(b"tampered")
    _error(client.get(f"{API}/artifacts/{digest}"), 422, "integrity_error")


def test_unknown_routes_and_methods_are_json(client: Any) -> None:
    _error(client.get(f"{API}/nothing-here"), 404, "not_found")
    _error(client.get("/nothing-here"), 404, "not_found")
    body = _error(client.delete(f"{API}/models"), 405, "method_not_allowed")
    assert "DELETE" in body["message"]


def test_unexpected_errors_are_generic_500(ctx: Context, client: Any,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("password=hunter2 at /srv/secret/path")

    monkeypatch.setattr(type(ctx.store), "list_models", boom)
    response = client.get(f"{API}/models")
    _error(response, 500, "internal")
    assert "hunter2" not in response.text and "Traceback" not in response.text
