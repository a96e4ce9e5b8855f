"""Conflicts and artifact rules: alias compare-and-set, archived versions, integrity."""

from __future__ import annotations

from typing import Any

from mlpilot.api import API_PREFIX as API
from mlpilot.sdk._context import Context


def test_alias_conflict_names_the_holder(client: Any, expect_error: Any, register: Any) -> None:
    register(client, n=3)
    url = f"{API}/models/credit-risk/aliases/production"
    assert client.put(url, json={"version": 1, "expected": None}).status_code == 200
    body = expect_error(
        client.put(url, json={"version": 2, "expected": None}), 409, "alias_conflict"
    )
    assert "held by version 1" in body["message"] and body["details"]["holder"] == 1
    body = expect_error(client.put(url, json={"version": 3, "expected": 2}), 409, "alias_conflict")
    assert body["details"]["holder"] == 1
    assert client.put(url, json={"version": 3, "expected": 1}).json()["aliases"] == ["production"]
    assert client.put(url, json={"version": 2}).status_code == 200  # no expected: no check
    expect_error(client.delete(url, params={"expected": 3}), 409, "alias_conflict")
    assert client.delete(url).status_code == 204
    expect_error(client.delete(url), 404, "not_found")


def test_archived_version_cannot_take_an_alias(
    client: Any, expect_error: Any, register: Any
) -> None:
    register(client, n=2)
    url = f"{API}/models/credit-risk"
    client.put(f"{url}/aliases/production", json={"version": 1})
    expect_error(client.post(f"{url}/versions/1/archive", json={"reason": "old"}), 409, "conflict")
    archived = client.post(f"{url}/versions/2/archive")
    assert archived.status_code == 200 and archived.json()["status"] == "archived"
    body = expect_error(client.put(f"{url}/aliases/canary", json={"version": 2}), 409, "conflict")
    assert "archived" in body["message"]


def test_versions_need_an_uploaded_artifact(client: Any, expect_error: Any) -> None:
    missing = "sha256:" + "0" * 64
    body = expect_error(
        client.post(
            f"{API}/models/m/versions", json={"format": "sklearn", "artifact_digest": missing}
        ),
        404,
        "not_found",
    )
    assert "POST /api/v1/artifacts" in body["message"]
    expect_error(
        client.post(
            f"{API}/models/m/versions",
            json={"format": "sklearn", "artifact_digest": "../../etc/passwd"},
        ),
        400,
        "invalid_argument",
    )
    expect_error(client.get(f"{API}/artifacts/{missing}"), 404, "not_found")
    expect_error(client.get(f"{API}/artifacts/sha256:xyz"), 400, "invalid_argument")


def test_tampered_artifact_is_refused(ctx: Context, client: Any, expect_error: Any) -> None:
    digest = client.post(f"{API}/artifacts", content=b"original").json()["digest"]
    hexdigest = digest.split(":")[1]
    blob = ctx.settings.home / "artifacts" / "sha256" / hexdigest[:2] / hexdigest[2:]
    blob.chmod(0o600)
    blob.write_bytes(b"tampered")
    expect_error(client.get(f"{API}/artifacts/{digest}"), 422, "integrity_error")
