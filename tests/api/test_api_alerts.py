"""``/api/v1/alerts`` and ``/api/v1/metrics``: listing, lifecycle, errors and roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlpilot.api import API_PREFIX as API
from mlpilot.core.entities import MetricPoint
from mlpilot.sdk._context import Context
from mlpilot.store import Store

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)


def seed_alerts(store: Store) -> tuple[int, int, int]:
    """Three alerts: credit drift (raised twice), credit latency, churn errors (resolved)."""
    drift, _ = store.raise_alert("drift:credit", model="credit", kind="drift",
                                 severity="warning", title="Drift on income",
                                 evidence={"ks": 0.2}, time=T0)
    store.raise_alert("drift:credit", model="credit", kind="drift", severity="critical",
                      title="Drift on income", evidence={"ks": 0.4}, time=T0 + HOUR)
    latency, _ = store.raise_alert("latency:credit", model="credit", kind="latency",
                                   severity="info", title="p99 up", deployment="credit-live",
                                   time=T0)
    errors, _ = store.raise_alert("errors:churn", model="churn", kind="errors",
                                  severity="critical", title="5xx", time=T0)
    store.resolve_alert(errors.id, "fixed")
    return drift.id, latency.id, errors.id


def seed_points(store: Store) -> None:
    store.add_metric_points([
        MetricPoint("credit", "drift.ks", T0 + h * HOUR, T0 + (h + 1) * HOUR, 0.1 * h,
                    feature=f, details={"threshold": 0.1})
        for h in range(3) for f in ("age", "income")
    ] + [MetricPoint("credit", "accuracy", T0, T0 + HOUR, None, deployment="credit-live",
                     version=2, details={"reason": "no labels yet"})])


def test_list_and_get_alerts(make_any_client: Any, any_ctx: Context) -> None:
    client = make_any_client()
    drift, latency, errors = seed_alerts(any_ctx.store)
    listed = client.get(f"{API}/alerts")
    assert listed.status_code == 200
    assert [a["id"] for a in listed.json()] == [errors, latency, drift]  # newest first
    assert [a["id"] for a in client.get(f"{API}/alerts", params={"active": "true"}).json()
            ] == [latency, drift]
    assert [a["id"] for a in client.get(f"{API}/alerts", params={"active": "false"}).json()
            ] == [errors]
    assert [a["id"] for a in client.get(f"{API}/alerts", params={"model": "churn"}).json()
            ] == [errors]
    assert [a["id"] for a in client.get(f"{API}/alerts", params={
        "status": "open", "model": "credit", "limit": 1}).json()] == [latency]
    got = client.get(f"{API}/alerts/{drift}").json()
    assert (got["severity"], got["occurrences"], got["evidence"], got["active"]) == (
        "critical", 2, {"ks": 0.4}, True)
    assert datetime.fromisoformat(got["first_seen"]) == T0
    assert datetime.fromisoformat(got["last_seen"]) == T0 + HOUR
    assert got["diagnosis"] == {} and got["acknowledged_at"] is None


def test_acknowledge_and_resolve(make_any_client: Any, any_ctx: Context) -> None:
    client = make_any_client()
    drift, _, errors = seed_alerts(any_ctx.store)
    acked = client.post(f"{API}/alerts/{drift}/acknowledge", json={"note": "on it"})
    assert acked.status_code == 200, acked.text
    body = acked.json()
    assert (body["status"], body["acknowledged_by"], body["note"]) == (
        "acknowledged", "local", "on it")
    again = client.post(f"{API}/alerts/{drift}/acknowledge")
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    resolved = client.post(f"{API}/alerts/{drift}/resolve")  # no body: no note
    assert resolved.status_code == 200
    assert (resolved.json()["status"], resolved.json()["note"], resolved.json()["active"]) == (
        "resolved", "on it", False)
    for action in ("acknowledge", "resolve"):
        late = client.post(f"{API}/alerts/{errors}/{action}", json={"note": "x"})
        assert late.status_code == 409 and "already resolved" in late.json()["message"]
    events = client.get(f"{API}/events", params={"target_kind": "alert",
                                                  "target": str(drift)}).json()
    assert [(e["action"], e["actor"]) for e in events][:2] == [
        ("alert.resolve", "local"), ("alert.acknowledge", "local")]


def test_alert_errors(client: Any, ctx: Context, expect_error: Any) -> None:
    drift, _, _ = seed_alerts(ctx.store)
    expect_error(client.get(f"{API}/alerts/999"), 404, "not_found")
    expect_error(client.post(f"{API}/alerts/999/resolve"), 404, "not_found")
    expect_error(client.get(f"{API}/alerts/abc"), 422, "validation_error")
    expect_error(client.get(f"{API}/alerts/0"), 422, "validation_error")
    expect_error(client.get(f"{API}/alerts/{2**64}"), 422, "validation_error")
    expect_error(client.get(f"{API}/alerts", params={"status": "closed"}), 422,
                 "validation_error")
    expect_error(client.get(f"{API}/alerts", params={"limit": 0}), 422, "validation_error")
    expect_error(client.get(f"{API}/alerts", params={"active": "maybe"}), 422,
                 "validation_error")
    expect_error(client.get(f"{API}/alerts", params={"model": "../etc"}), 422,
                 "validation_error")
    bad = expect_error(client.post(f"{API}/alerts/{drift}/acknowledge",
                                   json={"note": "x", "by": "me"}), 422, "validation_error")
    assert bad["details"]["errors"][0]["field"] == "body.by"
    expect_error(client.post(f"{API}/alerts/{drift}/acknowledge", json={"note": 3}), 422,
                 "validation_error")
    expect_error(client.post(f"{API}/alerts/{drift}/acknowledge", json={"note": "x" * 2001}),
                 422, "validation_error")
    expect_error(client.post(f"{API}/alerts/{drift}/acknowledge", content=b"{nope",
                             headers={"Content-Type": "application/json"}), 400,
                 "invalid_json")
    assert ctx.store.get_alert(drift).status == "open"  # nothing changed on a refusal


def test_metric_points(make_any_client: Any, any_ctx: Context) -> None:
    client = make_any_client()
    seed_points(any_ctx.store)
    url = f"{API}/metrics"
    everything = client.get(url, params={"model": "credit"})
    assert everything.status_code == 200 and len(everything.json()) == 7
    income = client.get(url, params={"model": "credit", "name": "drift.ks",
                                     "feature": "income"}).json()
    assert [p["value"] for p in income] == pytest.approx([0.0, 0.1, 0.2])
    assert income[0]["details"] == {"threshold": 0.1} and income[0]["id"] > 0
    assert datetime.fromisoformat(income[1]["window_start"]) == T0 + HOUR
    window = client.get(url, params={"model": "credit", "name": "drift.*", "feature": "age",
                                     "since": (T0 + HOUR).isoformat(),
                                     "until": (T0 + 2 * HOUR).isoformat()}).json()
    assert [p["value"] for p in window] == [pytest.approx(0.1)]
    [acc] = client.get(url, params={"model": "credit", "deployment": "credit-live",
                                    "version": 2}).json()
    assert (acc["name"], acc["value"], acc["details"]) == (
        "accuracy", None, {"reason": "no labels yet"})
    assert len(client.get(url, params={"model": "credit", "limit": 2}).json()) == 2
    assert client.get(url, params={"model": "nobody"}).json() == []


def test_metric_point_errors(client: Any, expect_error: Any) -> None:
    url = f"{API}/metrics"
    bad = expect_error(client.get(url), 422, "validation_error")
    assert bad["details"]["errors"][0]["field"] == "query.model"
    for params in ({"model": "credit", "since": "yesterday"},
                   {"model": "credit", "version": -1},
                   {"model": "credit", "limit": 100_001},
                   {"model": "a/b"}):
        expect_error(client.get(url, params=params), 422, "validation_error")
    reversed_ = expect_error(client.get(url, params={
        "model": "credit", "since": T0.isoformat(), "until": (T0 - HOUR).isoformat()}),
        422, "validation_error")
    assert reversed_["details"]["errors"][0]["field"] == "query.until"
    assert "before since" in reversed_["message"]


def test_roles(ctx: Context, make_client: Any, role_secrets: dict[str, str]) -> None:
    drift, latency, _ = seed_alerts(ctx.store)
    seed_points(ctx.store)
    viewer, editor = (make_client(auth=True, token=role_secrets[r]) for r in ("viewer", "editor"))
    anonymous = make_client(auth=True)
    assert anonymous.get(f"{API}/alerts").status_code == 401
    assert anonymous.get(f"{API}/metrics", params={"model": "credit"}).status_code == 401
    assert viewer.get(f"{API}/alerts").status_code == 200
    assert viewer.get(f"{API}/alerts/{drift}").status_code == 200
    assert viewer.get(f"{API}/metrics", params={"model": "credit"}).status_code == 200
    denied = viewer.post(f"{API}/alerts/{drift}/acknowledge", json={"note": "me"})
    assert denied.status_code == 403 and denied.json()["code"] == "permission_denied"
    assert viewer.post(f"{API}/alerts/{drift}/resolve").status_code == 403
    assert ctx.store.get_alert(drift).status == "open"
    acked = editor.post(f"{API}/alerts/{drift}/acknowledge", json={"note": "me"})
    assert acked.status_code == 200 and acked.json()["acknowledged_by"] == "editor"
    resolved = editor.post(f"{API}/alerts/{latency}/resolve", json={"note": "ok"})
    assert resolved.status_code == 200 and resolved.json()["resolved_by"] == "editor"


def test_openapi_documents_the_routes(client: Any) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {f"{API}/alerts", f"{API}/alerts/{{alert_id}}", f"{API}/alerts/{{alert_id}}/resolve",
            f"{API}/alerts/{{alert_id}}/acknowledge", f"{API}/metrics"} <= set(paths)
    assert "409" in paths[f"{API}/alerts/{{alert_id}}/resolve"]["post"]["responses"]
