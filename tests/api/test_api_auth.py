"""Authentication and roles: tokens, 401/403, auth defaults, and the route-table walk."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute

from mlpilot.api import API_PREFIX as API
from mlpilot.api import auth_default, create_app, is_loopback, server
from mlpilot.api.auth import Authorize
from mlpilot.api.routing import StrictJSONRoute
from mlpilot.core.entities import Role
from mlpilot.core.errors import InvalidArgument
from mlpilot.sdk._context import Context


def test_auth_off_acts_as_local_admin(client: Any) -> None:
    assert client.get(f"{API}/health").json()["auth"] is False
    assert client.post(f"{API}/models", json={"name": "m"}).status_code == 201
    assert client.post(f"{API}/tokens", json={"name": "ci", "role": "viewer"}).status_code == 201
    events = client.get(f"{API}/events", params={"action": "model.create"}).json()
    assert [e["actor"] for e in events] == ["local"]


@pytest.mark.parametrize("header", [None, "Bearer mlp_nope_wrong", "Bearer nonsense",
                                    "Basic dXNlcjpwYXNz", "Bearer"])
def test_missing_or_wrong_token_is_401(make_client: Any, header: str | None) -> None:
    client = make_client(auth=True)
    headers = {"Authorization": header} if header else {}
    response = client.get(f"{API}/models", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["code"] == "unauthenticated"
    assert "mlp_nope" not in response.text  # the secret is never echoed


def test_health_needs_no_token(make_client: Any) -> None:
    response = make_client(auth=True).get(f"{API}/health")
    assert response.status_code == 200 and response.json()["auth"] is True


def test_revoked_token_is_401(ctx: Context, make_client: Any, role_secrets: dict) -> None:
    token = next(t for t in ctx.store.list_tokens() if t.name == "viewer")
    admin = make_client(auth=True, token=role_secrets["admin"])
    assert admin.delete(f"{API}/tokens/{token.id}").status_code == 204
    viewer = make_client(auth=True, token=role_secrets["viewer"])
    assert viewer.get(f"{API}/models").status_code == 401


def test_roles(make_client: Any, role_secrets: dict[str, str]) -> None:
    viewer, editor, admin = (make_client(auth=True, token=role_secrets[r])
                             for r in ("viewer", "editor", "admin"))
    assert viewer.get(f"{API}/models").status_code == 200
    denied = viewer.post(f"{API}/models", json={"name": "m"})
    assert denied.status_code == 403
    assert denied.json()["code"] == "permission_denied"
    assert "'editor'" in denied.json()["message"] and "'viewer'" in denied.json()["message"]
    assert viewer.post(f"{API}/artifacts", content=b"x").status_code == 403
    assert editor.post(f"{API}/models", json={"name": "m"}).status_code == 201
    assert editor.get(f"{API}/tokens").status_code == 403
    assert editor.post(f"{API}/tokens", json={"name": "x", "role": "admin"}).status_code == 403
    assert admin.get(f"{API}/tokens").status_code == 200
    listed = admin.get(f"{API}/tokens").json()
    assert {t["name"] for t in listed} == {"viewer", "editor", "admin"}
    assert all("secret" not in t for t in listed)


def test_every_api_route_has_an_auth_rule(ctx: Context) -> None:
    app = create_app(ctx, auth=True)
    open_routes, checked = [], 0
    for path, route in _routes(app):
        if not path.startswith(API):
            continue
        assert isinstance(route, APIRoute), f"{path} is not an APIRoute"
        assert isinstance(route, StrictJSONRoute), f"{path} does not parse JSON strictly"
        rules = [d.call for d in _walk(route.dependant) if isinstance(d.call, Authorize)]
        if not rules:
            open_routes.append(path)
            continue
        checked += 1
        for method in route.methods:
            needed = {r.needed(method) for r in rules}
            if path.startswith(f"{API}/tokens"):
                assert needed == {Role.ADMIN}, (method, path)
            elif method in ("GET", "HEAD"):
                assert needed == {Role.VIEWER}, (method, path)
            else:
                assert needed == {Role.EDITOR}, (method, path)
    assert open_routes == [f"{API}/health"]
    assert checked >= 30


def _routes(app: Any) -> list[tuple[str, Any]]:
    """(full path, route) for every route, through included routers on any FastAPI."""
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI >= 0.16x: lazy includes
    except ImportError:
        return [(getattr(r, "path", ""), r) for r in app.routes]
    return [(c.path or "", c.original_route) for c in iter_route_contexts(app.routes)]


def _walk(dependant: Any) -> list[Any]:
    found = []
    for dep in dependant.dependencies:
        found.append(dep)
        found.extend(_walk(dep))
    return found


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("LOCALHOST", True), ("::ffff:127.0.0.1", True),
    ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("", False),
    ("example.com", False), ("localhost.example.com", False),
])
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    assert auth_default(host) is (not loopback)


@pytest.mark.parametrize(("host", "auth", "expected"), [
    ("127.0.0.1", None, False), ("0.0.0.0", None, True), ("127.0.0.1", True, True),
    ("localhost", None, False),
])
def test_serve_picks_auth(ctx: Context, monkeypatch: pytest.MonkeyPatch, host: str,
                          auth: bool | None, expected: bool) -> None:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    server.serve(ctx, host, 9999, auth=auth)
    assert seen["app"].state.mlpilot.auth is expected
    assert (seen["host"], seen["port"]) == (host, 9999)


def test_serve_refuses_auth_off_on_exposed_hosts(ctx: Context) -> None:
    with pytest.raises(InvalidArgument, match="without authentication"):
        server.serve(ctx, "0.0.0.0", 9999, auth=False)
