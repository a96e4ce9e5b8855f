"""The UI without a browser: every page renders, user data is escaped, auth and CSRF hold."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute

from mlpilot.core.entities import Role
from mlpilot.sdk._context import Context
from mlpilot.ui._app import SECURITY_HEADERS, UiRoute
from mlpilot.ui._auth import NONCE_COOKIE, TOKEN_COOKIE, UiAuthorize, csrf_form, safe_next

PAGES = ["/ui/", "/ui/models?q=host", "/ui/models/hostile", "/ui/models/hostile/versions/1",
         "/ui/models/hostile/versions/2", "/ui/models/hostile/compare?a=1&b=2",
         "/ui/deployments", "/ui/deployments/hostile-ep", "/ui/alerts", "/ui/alerts?status=all",
         "/ui/alerts/1", "/ui/monitoring?model=hostile", "/ui/monitoring?model=hostile&period=30d",
         "/ui/decisions", "/ui/events", "/ui/events?actor=tester&limit=5"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_and_escapes_user_data(ui: Any, ui_ctx: Context, path: str) -> None:
    client = ui.client(ui_ctx, auth=False)
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "<img src=x" not in html and "<script>alert" not in html
    assert "onerror=alert(1)>" not in html.replace("&gt;", "")  # only ever escaped
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert re.search(r"<title>[^<]+ · mlpilot</title>", html)


def test_hostile_strings_show_as_text(ui: Any, ui_ctx: Context) -> None:
    client = ui.client(ui_ctx, auth=False)
    escaped_feature = "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"
    escaped_script = "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;"
    model = client.get("/ui/models/hostile").text
    assert escaped_script in model
    version = client.get("/ui/models/hostile/versions/1").text
    assert escaped_feature in version or "&quot;&gt;&lt;img" in version
    heat = client.get("/ui/monitoring?model=hostile").text
    assert "&lt;img src=x" in heat  # the SVG heat map's labels are escaped too
    assert '<script type="application/json"' in heat
    # JSON for the charts is escaped for a <script> element: no "</script>" inside it
    for block in re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', heat, re.S):
        assert "<" not in block
    alert = client.get("/ui/alerts/1").text
    assert "&lt;img src=x" in alert and "<img src=x" not in alert


def test_pages_have_content(ui: Any, ui_ctx: Context) -> None:
    client = ui.client(ui_ctx, auth=False)
    version = client.get("/ui/models/hostile/versions/2").text
    assert 'class="chart lineage"' in version and "/ui/deployments/hostile-ep" in version
    deployment = client.get("/ui/deployments/hostile-ep").text
    assert 'class="chart split"' in deployment and "Canary steps" in deployment
    assert "80%" in deployment and "20%" in deployment
    monitoring = client.get("/ui/monitoring?model=hostile").text
    assert 'class="chart heatmap"' in monitoring
    assert monitoring.count('data-drifted="yes"') == 3
    assert monitoring.count("<figure") == 3  # accuracy (measured + estimated), p99, errors
    alert = client.get("/ui/alerts/1").text
    assert "Ranked causes" in alert and "errors concentrate" in alert and "alias.set" in alert


def test_unknown_things_are_html_404s(ui: Any, ui_ctx: Context) -> None:
    client = ui.client(ui_ctx, auth=False)
    for path in ("/ui/models/nope", "/ui/models/hostile/versions/9", "/ui/deployments/nope",
                 "/ui/alerts/99"):
        response = client.get(path)
        assert response.status_code == 404 and "text/html" in response.headers["content-type"]
    bad = client.get("/ui/models/hostile/versions/x")
    assert bad.status_code == 400 and "text/html" in bad.headers["content-type"]


# -- auth -----------------------------------------------------------------------------------
def test_login_required_when_auth_is_on(ui: Any, ui_ctx: Context, tokens: dict[str, str]) -> None:
    client = ui.client(ui_ctx, auth=True)
    response = client.get("/ui/models/hostile?x=1")
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login?next=%2Fui%2Fmodels%2Fhostile%3Fx%3D1"
    assert client.get("/api/v1/models").status_code == 401  # the API is untouched
    bad = ui.login(client, "mlp_wrong")
    assert bad.status_code == 401 and "unknown or revoked" in bad.text
    good = ui.login(client, tokens["viewer"])
    assert good.status_code == 303 and good.headers["location"] == "/ui/"
    cookie = good.headers["set-cookie"]
    assert f"{TOKEN_COOKIE}=" in cookie and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
    assert "Path=/ui" in cookie
    page = client.get("/ui/")
    assert page.status_code == 200 and 'data-role="viewer"' in page.text


def test_viewer_sees_no_actions_and_cannot_post_them(ui: Any, ui_ctx: Context,
                                                     tokens: dict[str, str]) -> None:
    client = ui.client(ui_ctx, auth=True)
    ui.login(client, tokens["viewer"])
    version = client.get("/ui/models/hostile/versions/1").text
    assert "alias-form" not in version
    alert = client.get("/ui/alerts/1").text
    assert "alert-actions" not in alert
    csrf = ui.csrf_of(version)  # the sign-out form's token: a valid one
    forged = client.post("/ui/models/hostile/versions/1/alias",
                         data={"alias": "production", "csrf": csrf})
    assert forged.status_code == 403 and "editor" in forged.text
    assert client.post("/ui/alerts/1/resolve", data={"csrf": csrf}).status_code == 403
    assert "production" not in ui_ctx.store.get_model("hostile").aliases
    assert ui_ctx.store.get_alert(1).status == "open"


def test_editor_acts_with_csrf_only(ui: Any, ui_ctx: Context, tokens: dict[str, str]) -> None:
    client = ui.client(ui_ctx, auth=True)
    ui.login(client, tokens["editor"])
    page = client.get("/ui/models/hostile/versions/2").text
    assert "alias-form" in page
    csrf = ui.csrf_of(page)
    url = "/ui/models/hostile/versions/2/alias"
    assert client.post(url, data={"alias": "production"}).status_code == 403
    assert client.post(url, data={"alias": "production", "csrf": "0" * 64}).status_code == 403
    cross = client.post(url, data={"alias": "production", "csrf": csrf},
                        headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    ok = client.post(url, data={"alias": "production", "csrf": csrf, "reason": "ui test"})
    assert ok.status_code == 303, ok.text
    assert ui_ctx.store.get_model("hostile").aliases["production"] == 2
    event = ui_ctx.store.list_events(action="alias.set", limit=1)[0]
    assert event.actor == "editor" and event.reason == "ui test"
    ack = client.post("/ui/alerts/1/acknowledge", data={"csrf": csrf, "note": "on it"})
    assert ack.status_code == 303 and ui_ctx.store.get_alert(1).status == "acknowledged"
    assert client.post("/ui/alerts/1/explode", data={"csrf": csrf}).status_code == 400


def test_csrf_token_is_bound_to_the_browser(ui: Any, ui_ctx: Context,
                                            tokens: dict[str, str]) -> None:
    a, b = ui.client(ui_ctx, auth=True), ui.client(ui_ctx, auth=True)
    ui.login(a, tokens["editor"])
    ui.login(b, tokens["editor"])
    token_of_a = ui.csrf_of(a.get("/ui/models/hostile/versions/1").text)
    assert a.cookies.get(NONCE_COOKIE) != b.cookies.get(NONCE_COOKIE)
    stolen = b.post("/ui/models/hostile/versions/1/alias",
                    data={"alias": "candidate", "csrf": token_of_a})
    assert stolen.status_code == 403


def test_revoked_token_and_logout(ui: Any, ui_ctx: Context, tokens: dict[str, str]) -> None:
    client = ui.client(ui_ctx, auth=True)
    ui.login(client, tokens["admin"])
    page = client.get("/ui/")
    assert page.status_code == 200
    out = client.post("/ui/logout", data={"csrf": ui.csrf_of(page.text)})
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    client.cookies.delete(TOKEN_COOKIE)
    assert client.get("/ui/").status_code == 303
    ui.login(client, tokens["viewer"])
    viewer = next(t for t in ui_ctx.store.list_tokens() if t.name == "viewer")
    ui_ctx.store.revoke_token(viewer.id)
    assert client.get("/ui/").status_code == 303


def test_auth_off_acts_as_local_admin_but_still_needs_csrf(ui: Any, ui_ctx: Context) -> None:
    client = ui.client(ui_ctx, auth=False)
    page = client.get("/ui/models/hostile/versions/1")
    assert 'data-role="admin"' in page.text and "alias-form" in page.text
    url = "/ui/models/hostile/versions/1/alias"
    assert client.post(url, data={"alias": "shadow"}).status_code == 403
    ok = client.post(url, data={"alias": "shadow", "csrf": ui.csrf_of(page.text)})
    assert ok.status_code == 303
    assert client.get("/ui/login").headers["location"] == "/ui/"


@pytest.mark.parametrize("target, expected", [
    ("/ui/models", "/ui/models"), ("https://evil.example/", "/ui/"), ("//evil.example", "/ui/"),
    ("/ui/\\evil", "/ui/"), ("/api/v1/tokens", "/ui/"), ("", "/ui/"), (None, "/ui/")])
def test_next_never_leaves_the_ui(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


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


def test_every_ui_route_has_a_rule(ui: Any, ui_ctx: Context) -> None:
    app = ui.client(ui_ctx, auth=True).app
    checked = 0
    for path, route in _routes(app):
        if not path.startswith("/ui") or path.startswith("/ui/static"):
            continue
        assert isinstance(route, APIRoute) and isinstance(route, UiRoute), path
        calls = [d.call for d in _walk(route.dependant)]
        rules = [c for c in calls if isinstance(c, UiAuthorize)]
        if "POST" in route.methods:
            assert csrf_form in calls, f"POST {path} has no CSRF check"
        if path in ("/ui/login", "/ui/logout"):
            assert not rules
            continue
        assert len(rules) == 1, path
        needed = Role.VIEWER if "POST" not in route.methods else (
            Role.ADMIN if path.startswith("/ui/autopilot/decisions/") else Role.EDITOR)
        assert rules[0].role == needed, path
        checked += 1
    assert checked >= 12
