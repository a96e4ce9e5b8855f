"""The UI in a real headless Chromium against a server filled by the demo.

Screenshots land in ``test-artifacts/ui/`` (git-ignored) for a person to look at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def page_as(browser: Any, live_server: Any) -> Any:
    """``page_as(role, viewport=DESKTOP)``: a fresh browser context signed in with that role."""
    contexts = []

    def open_page(role: str, viewport: dict[str, int] = DESKTOP) -> Any:
        context = browser.new_context(viewport=viewport)
        contexts.append(context)
        page = context.new_page()
        page.on("dialog", lambda d: pytest.fail(f"a dialog opened: {d.message}"))
        page.goto(f"{live_server.url}/ui/")
        assert "/ui/login" in page.url  # auth is on: sent to sign in
        page.fill("#token", live_server.tokens[role])
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/ui/")
        return page

    yield open_page
    for context in contexts:
        context.close()


def _shot(page: Any, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def test_click_through_model_version_lineage_deployment(page_as: Any, live_server: Any,
                                                        shots: Path) -> None:
    page = page_as("editor")
    assert page.title() == "Models · mlpilot"
    assert page.locator("table.list tbody tr").count() >= 2
    _shot(page, shots, "01-models")
    page.click("text=credit-risk")
    page.wait_for_url("**/ui/models/credit-risk")
    assert page.title() == "Model credit-risk · mlpilot"
    _shot(page, shots, "02-model")
    page.click("table.list >> text=v2")
    page.wait_for_url("**/ui/models/credit-risk/versions/2")
    assert page.locator("#checks table.list tbody tr").count() >= 5
    assert page.locator("svg.lineage a.node").count() >= 4
    _shot(page, shots, "03-version")
    # the lineage graph is clickable: version → deployment
    page.locator("svg.lineage a.node[data-kind=deployment]").first.click()
    page.wait_for_url("**/ui/deployments/credit-risk")
    assert page.title() == "Deployment credit-risk · mlpilot"
    assert page.locator("text=Canary steps").count() == 1
    assert page.locator("ol.timeline li.decision").count() >= 3
    _shot(page, shots, "04-deployment")
    page.goto(f"{live_server.url}/ui/models/credit-risk/compare?a=1&b=2")
    assert page.locator("h2", has_text="Metrics").count() == 1
    _shot(page, shots, "05-compare")


@pytest.mark.parametrize("path, name, title", [
    ("/ui/deployments", "06-deployments", "Deployments"),
    ("/ui/alerts?status=all", "07-alerts", "Alerts"),
    ("/ui/alerts/1", "08-alert", "Alert 1: "),
    ("/ui/monitoring?model=hostile&period=24h", "09-monitoring", "Monitoring hostile"),
    ("/ui/decisions", "10-decisions", "Decisions"),
    ("/ui/events", "11-audit-log", "Audit log"),
    ("/ui/autopilot", "16-autopilot", "Autopilot"),
    ("/ui/dora?since=30d", "17-dora", "DORA metrics"),
])
def test_every_page_opens(page_as: Any, live_server: Any, shots: Path, path: str, name: str,
                          title: str) -> None:
    page = page_as("viewer")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{live_server.url}{path}")
    assert page.title().startswith(title)
    if "dora" in path:
        page.wait_for_selector("figure.ts .uplot canvas")
        assert page.locator("figure.ts .uplot").count() == 3
    if "monitoring" in path:
        page.wait_for_selector("figure.ts .uplot canvas")
        assert page.locator("figure.ts .uplot").count() == 3
        assert page.locator("svg.heatmap rect[data-drifted=yes]").count() == 3
    _shot(page, shots, name)
    assert errors == []


def test_viewer_cannot_act(page_as: Any, live_server: Any, shots: Path) -> None:
    page = page_as("viewer")
    page.goto(f"{live_server.url}/ui/models/credit-risk/versions/2")
    assert page.locator("#alias-form").count() == 0
    page.goto(f"{live_server.url}/ui/alerts/1")
    assert page.locator("#alert-actions").count() == 0
    # even a hand-made POST with this session's valid CSRF token is refused server-side
    status = page.evaluate("""async () => {
        const csrf = document.querySelector('input[name=csrf]').value;
        const r = await fetch('/ui/models/credit-risk/versions/1/alias', {method: 'POST',
            headers: {'Content-Type': 'application/x-www-form-urlencoded'},
            body: 'alias=production&csrf=' + encodeURIComponent(csrf)});
        return r.status; }""")
    assert status == 403
    assert live_server.context.store.get_model("credit-risk").aliases["production"] == 2
    _shot(page, shots, "12-viewer-alert")


def test_editor_acknowledges_an_alert(page_as: Any, live_server: Any) -> None:
    page = page_as("editor")
    alert = live_server.context.store.list_alerts(model="credit-risk", limit=1)
    target = alert[0].id if alert else 1
    page.goto(f"{live_server.url}/ui/alerts/{target}")
    page.fill("#note", "looking")
    page.click("#alert-actions button:has-text('Acknowledge')")
    page.wait_for_url(f"**/ui/alerts/{target}")
    assert live_server.context.store.get_alert(target).status == "acknowledged"
    assert page.locator("text=acknowledged by editor-user").count() == 1


def test_admin_approves_a_pending_decision(page_as: Any, live_server: Any,
                                          shots: Path) -> None:
    store = live_server.context.store
    ask = store.record_decision("ask_human", "model", "credit-risk",
                                reason="approve promoting credit-risk/2 (browser test)",
                                evidence={"action": "promote", "version": 2})
    viewer = page_as("viewer")
    viewer.goto(f"{live_server.url}/ui/autopilot")
    assert viewer.locator(f"li[data-decision='{ask.id}']").count() == 1
    assert viewer.locator("button:has-text('Approve')").count() == 0
    status = viewer.evaluate("""async (id) => {
        const csrf = document.querySelector('input[name=csrf]').value;
        const r = await fetch('/ui/autopilot/decisions/' + id + '/approve', {method: 'POST',
            headers: {'Content-Type': 'application/x-www-form-urlencoded'},
            body: 'csrf=' + encodeURIComponent(csrf)});
        return r.status; }""", ask.id)
    assert status == 403
    page = page_as("admin")
    page.goto(f"{live_server.url}/ui/autopilot")
    page.fill(f"#note-{ask.id}", "looks good")
    page.click(f"#answer-{ask.id} button:has-text('Approve')")
    page.wait_for_url(f"**/ui/autopilot?answered={ask.id}")
    assert "approved by admin-user" in page.inner_text("#flash")
    assert page.locator(f"li[data-decision='{ask.id}']").count() == 0
    done = next(d for d in store.list_decisions(action="ask_human", limit=100) if d.id == ask.id)
    assert done.outcome == "approved" and done.outcome_detail["by"] == "admin-user"
    _shot(page, shots, "18-autopilot-approved")


def test_xss_through_feature_name_and_description_renders_as_text(
        page_as: Any, live_server: Any, shots: Path, ui: Any) -> None:
    page = page_as("viewer")
    page.goto(f"{live_server.url}/ui/models/hostile")
    assert ui.XSS_TEXT in page.inner_text("main")
    page.goto(f"{live_server.url}/ui/models/hostile/versions/1")
    assert ui.XSS_FEATURE in page.inner_text("#signature")
    assert page.locator("img[src=x]").count() == 0
    page.goto(f"{live_server.url}/ui/monitoring?model=hostile")
    assert page.locator("img[src=x]").count() == 0
    assert page.locator("svg.heatmap text", has_text=ui.XSS_FEATURE[:20]).count() == 1
    hostile = live_server.context.store.list_alerts(model="hostile", limit=1)[0]
    page.goto(f"{live_server.url}/ui/alerts/{hostile.id}")
    assert ui.XSS_FEATURE in page.inner_text("h1")
    assert ui.XSS_FEATURE in page.inner_text("#diag-h + p")
    _shot(page, shots, "13-xss-as-text")


def test_phone_width_and_keyboard(page_as: Any, live_server: Any, shots: Path) -> None:
    page = page_as("viewer", PHONE)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1  # nothing overflows the page sideways
    _shot(page, shots, "14-phone-models")
    page.goto(f"{live_server.url}/ui/models/credit-risk/versions/2")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    _shot(page, shots, "15-phone-version")
    # keyboard: the first Tab reaches the skip link, and lineage nodes take focus
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.locator("svg.lineage a.node").first.focus()
    assert page.evaluate("document.activeElement.getAttribute('class')") == "node"
