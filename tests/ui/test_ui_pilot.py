"""The autopilot and DORA pages without a browser: content, escaping, approvals and roles."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.routing import APIRoute

from mlpilot.core.entities import DecisionRecord, Role
from mlpilot.sdk._context import Context
from mlpilot.ui._auth import UiAuthorize, csrf_form
from mlpilot.ui._pages_pilot import router

SCRIPT = "<script>alert('ev')</script>"


@pytest.fixture
def pilot_ctx(ui_ctx: Context) -> Context:
    """The hostile home plus a small autopilot history: two promotions, a pending
    promote approval with hostile evidence, a pending problem report, an applied retrain."""
    store = ui_ctx.store
    store.set_alias("hostile", "production", 1, reason="first")
    store.set_alias("hostile", "production", 2, reason="second")
    store.record_decision("retrain", "model", "hostile", reason="drift on income",
                          evidence={"key": "retrain:1", "trigger": "drift"}, outcome="applied")
    store.record_decision("ask_human", "model", "hostile", reason=f"approve promoting {SCRIPT}",
                          evidence={"key": "ask:promote:hostile/2", "action": "promote",
                                    "version": 2, "note": SCRIPT})
    store.record_decision("ask_human", "model", "hostile", reason="schema break: income missing",
                          evidence={"key": "ask:schema", "columns": ["income"]})
    return ui_ctx


def _ask(context: Context, action: str | None = "promote") -> DecisionRecord:
    return next(d for d in context.store.list_decisions(action="ask_human", limit=100)
                if d.evidence.get("action") == action)


def _decision(context: Context, decision_id: int) -> DecisionRecord:
    return next(d for d in context.store.list_decisions(limit=1000) if d.id == decision_id)


@pytest.mark.parametrize("path", [
    "/ui/autopilot", "/ui/autopilot?model=hostile", "/ui/autopilot?action=ask_human",
    "/ui/autopilot?outcome=applied", "/ui/dora", "/ui/dora?since=7d&model=hostile&bucket=day",
    "/ui/dora?since=90d&bucket=month"])
def test_pages_render_and_escape(ui: Any, pilot_ctx: Context, path: str) -> None:
    response = ui.client(pilot_ctx, auth=False).get(path)
    assert response.status_code == 200, response.text
    html = response.text
    assert "<script>alert" not in html and "<img src=x" not in html
    assert re.search(r"<title>(Autopilot|DORA metrics) · mlpilot</title>", html)
    assert 'aria-current="page"' in html  # the nav marks where we are


def test_autopilot_page_shows_pending_and_timeline(ui: Any, pilot_ctx: Context) -> None:
    client = ui.client(pilot_ctx, auth=False)
    html = client.get("/ui/autopilot").text
    promote, problem = _ask(pilot_ctx), _ask(pilot_ctx, None)
    assert "Waiting for a human (2)" in html
    # evidence and reason are escaped text, in the pending list and in the timeline
    assert html.count("&lt;script&gt;alert(") >= 4
    assert f"/ui/autopilot/decisions/{promote.id}/approve" in html
    # a problem report has nothing to approve: it can only be dismissed
    assert f"/ui/autopilot/decisions/{problem.id}/approve" not in html
    assert f"/ui/autopilot/decisions/{problem.id}/reject" in html and "Dismiss" in html
    timeline = html[html.index('id="timeline"'):]
    assert timeline.index("schema break") < timeline.index("drift on income")  # newest first
    applied = client.get("/ui/autopilot?outcome=applied").text
    timeline = applied[applied.index('id="timeline"'):]
    assert "drift on income" in timeline and "schema break" not in timeline
    by_action = client.get("/ui/autopilot?action=rollback").text
    timeline = by_action[by_action.index('id="timeline"'):]
    assert "hostile-ep" in timeline and "drift on income" not in timeline
    # a deployment's decisions belong to its model
    assert "hostile-ep" in client.get("/ui/autopilot?model=hostile").text
    assert "No decisions match" in client.get("/ui/autopilot?model=nobody").text


def test_admin_approves_and_rejects(ui: Any, pilot_ctx: Context,
                                    tokens: dict[str, str]) -> None:
    client = ui.client(pilot_ctx, auth=True)
    ui.login(client, tokens["admin"])
    page = client.get("/ui/autopilot").text
    csrf = ui.csrf_of(page)
    promote, problem = _ask(pilot_ctx), _ask(pilot_ctx, None)
    url = f"/ui/autopilot/decisions/{promote.id}/approve"
    assert client.post(url, data={"note": "x"}).status_code == 403  # no CSRF token
    ok = client.post(url, data={"csrf": csrf, "note": "ship it"})
    assert ok.status_code == 303
    assert ok.headers["location"] == f"/ui/autopilot?answered={promote.id}"
    done = _decision(pilot_ctx, promote.id)
    assert done.outcome == "approved"
    assert done.outcome_detail == {"by": "admin", "note": "ship it"}
    flash = client.get(ok.headers["location"]).text
    assert f"Decision {promote.id} approved by admin" in flash
    assert "Waiting for a human (1)" in flash
    again = client.post(url, data={"csrf": csrf})
    assert again.status_code == 409 and "already answered" in again.text
    nothing = client.post(f"/ui/autopilot/decisions/{problem.id}/approve", data={"csrf": csrf})
    assert nothing.status_code == 400 and "nothing to approve" in nothing.text
    dismissed = client.post(f"/ui/autopilot/decisions/{problem.id}/reject",
                            data={"csrf": csrf, "note": "fixed upstream"})
    assert dismissed.status_code == 303
    assert _decision(pilot_ctx, problem.id).outcome == "rejected"
    assert "Nothing waits for approval" in client.get("/ui/autopilot").text
    assert client.post(f"/ui/autopilot/decisions/{problem.id}/explode",
                       data={"csrf": csrf}).status_code == 400
    assert client.post("/ui/autopilot/decisions/9999/approve",
                       data={"csrf": csrf}).status_code == 404


def test_a_forged_flash_claims_nothing(ui: Any, pilot_ctx: Context) -> None:
    promote = _ask(pilot_ctx)
    html = ui.client(pilot_ctx, auth=False).get(f"/ui/autopilot?answered={promote.id}").text
    assert 'id="flash"' not in html  # still pending: no "approved" message


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_only_admins_answer(ui: Any, pilot_ctx: Context, tokens: dict[str, str],
                            role: str) -> None:
    client = ui.client(pilot_ctx, auth=True)
    ui.login(client, tokens[role])
    page = client.get("/ui/autopilot").text
    assert "Waiting for a human (2)" in page
    assert "/approve" not in page and "/reject" not in page
    assert "needs the admin role" in page
    csrf = ui.csrf_of(page)  # the sign-out form's token: a valid one
    promote = _ask(pilot_ctx)
    for answer in ("approve", "reject"):
        forged = client.post(f"/ui/autopilot/decisions/{promote.id}/{answer}",
                             data={"csrf": csrf})
        assert forged.status_code == 403 and "admin" in forged.text
    assert _decision(pilot_ctx, promote.id).outcome == "pending"


def test_answer_route_needs_admin_and_csrf() -> None:
    route = next(r for r in router.routes
                 if isinstance(r, APIRoute) and "POST" in r.methods)
    assert route.path == "/autopilot/decisions/{decision_id}/{answer}"
    calls = [d.call for d in route.dependant.dependencies]
    assert csrf_form in calls
    assert [c.role for c in calls if isinstance(c, UiAuthorize)] == [Role.ADMIN]


def test_dora_page_numbers_and_charts(ui: Any, pilot_ctx: Context) -> None:
    client = ui.client(pilot_ctx, auth=False)
    html = client.get("/ui/dora?since=7d&bucket=day").text
    # two promotions plus the rolled-back canary (the rollback decision on hostile-ep)
    assert "(3 deployments)" in html and "1 of 3 failed" in html
    for card in ("Deployment frequency", "Lead time", "Change failure rate", "MTTR", "MTTD"):
        assert card in html
    assert 'id="dora-models"' in html and "/ui/dora?model=hostile" in html
    blocks = re.findall(r'<script type="application/json" id="dora-chart-\d">(.*?)</script>',
                        html, re.S)
    assert len(blocks) == 3
    specs = [json.loads(b) for b in blocks]
    assert all(len(s["x"]) == 8 and "<" not in b for s, b in zip(specs, blocks, strict=True))
    assert sum(specs[0]["series"][0]["values"]) == 3
    assert html.count("<tr>") >= 4  # one per model and one per deployment
    custom = client.get("/ui/dora?since=36h&model=hostile").text
    assert "<option selected>36h</option>" in custom


@pytest.mark.parametrize("query, status", [
    ("since=soon", 400), ("since=99999999999999d", 400), ("since=4000d", 400),
    ("bucket=year", 400), ("model=nope", 404)])
def test_dora_refuses_bad_filters(ui: Any, pilot_ctx: Context, query: str, status: int) -> None:
    response = ui.client(pilot_ctx, auth=False).get(f"/ui/dora?{query}")
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
