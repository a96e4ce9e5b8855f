"""``mlpilot alerts``, ``alerts show``, ``alerts ack`` and ``alerts resolve``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlpilot.cli.alerts import fmt_age
from mlpilot.store import Store

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


@pytest.fixture
def alerts(store: Store) -> dict[str, int]:
    """A critical credit drift alert (3 occurrences, diagnosed), an info one, a resolved one."""
    for h in range(3):
        drift, _ = store.raise_alert(
            "drift:credit", model="credit-risk", kind="drift",
            severity="warning" if h < 2 else "critical", title="Drift on income [bold]",
            summary="KS above threshold on 1 of 3 features.",
            evidence={"features": {"income": {"ks": 0.31, "p_value": 1e-6}}, "window": h},
            deployment="credit-live", time=T0 + timedelta(hours=h))
    store.set_alert_diagnosis(drift.id, {
        "summary": "income shifted upward after the 2026-11-01 data load.",
        "causes": [{"cause": "income drift", "score": 0.8}, {"cause": "age", "score": 0.1}]})
    latency, _ = store.raise_alert("latency:credit", model="credit-risk", kind="latency",
                                   severity="info", title="p99 up", time=T0)
    old, _ = store.raise_alert("errors:churn", model="churn", kind="errors",
                               severity="critical", title="5xx burst", time=T0)
    store.resolve_alert(old.id, "deployed fix")
    return {"drift": drift.id, "latency": latency.id, "old": old.id}


def test_list_active_by_default(cli: Any, alerts: dict[str, int]) -> None:
    text = cli.ok("alerts")
    for header in ("id", "severity", "status", "model", "kind", "title", "occurrences",
                   "first seen", "last seen", "age"):
        assert header in text
    assert "Drift on income [bold]" in text  # user text is never parsed as markup
    assert "critical" in text and "p99 up" in text and "5xx burst" not in text
    assert "2026-11-01 12:00" in text and "2026-11-01 14:00" in text
    everything = cli.ok("alerts", "--all")
    assert "5xx burst" in everything and "resolved" in everything
    resolved = cli.ok("alerts", "--status", "resolved")
    assert "5xx burst" in resolved and "p99 up" not in resolved
    churn = cli.ok("alerts", "--model", "churn")
    assert "No alerts match" in churn
    assert "5xx burst" in cli.ok("alerts", "--model", "churn", "--all")


def test_list_json(cli: Any, alerts: dict[str, int]) -> None:
    listed = json.loads(cli.ok("alerts", "--json"))
    assert [a["id"] for a in listed] == [alerts["latency"], alerts["drift"]]
    drift = listed[1]
    assert (drift["severity"], drift["occurrences"], drift["evidence"]["window"]) == (
        "critical", 3, 2)
    assert datetime.fromisoformat(drift["first_seen"]) == T0
    assert len(json.loads(cli.ok("alerts", "--all", "--json"))) == 3


def test_show(cli: Any, alerts: dict[str, int]) -> None:
    text = cli.ok("alerts", "show", str(alerts["drift"]))
    assert f"Alert #{alerts['drift']}: Drift on income [bold]" in text
    assert "credit-live" in text and "drift:credit" in text
    assert '"p_value": 1e-06' in text and '"ks": 0.31' in text  # evidence, pretty JSON
    assert "income shifted upward" in text and "1. income drift (0.8)" in text
    shown = json.loads(cli.ok("alerts", "show", str(alerts["drift"]), "--json"))
    assert shown["diagnosis"]["causes"][0]["score"] == 0.8
    old = cli.ok("alerts", "show", str(alerts["old"]))
    assert "resolved" in old and "by tester" in old and "deployed fix" in old


def test_ack_and_resolve(cli: Any, store: Store, alerts: dict[str, int]) -> None:
    drift = str(alerts["drift"])
    assert f"Acknowledged alert #{drift}" in cli.ok("alerts", "ack", drift, "--note", "on it")
    alert = store.get_alert(alerts["drift"])
    assert (alert.status, alert.acknowledged_by, alert.note) == ("acknowledged", "tester",
                                                                  "on it")
    assert "acknowledged" in cli.ok("alerts")
    done = json.loads(cli.ok("alerts", "resolve", drift, "-m", "rolled back", "--json"))
    assert (done["status"], done["resolved_by"], done["note"]) == ("resolved", "tester",
                                                                   "rolled back")
    assert "Resolved alert" in cli.ok("alerts", "resolve", str(alerts["latency"]))
    assert "No active alerts" in cli.ok("alerts")


def test_errors(cli: Any, alerts: dict[str, int]) -> None:
    assert "No alert with id 999" in cli.fails("alerts", "show", "999")
    assert "No alert with id 999" in cli.fails("alerts", "ack", "999")
    stderr = cli.fails("alerts", "resolve", str(alerts["old"]))
    assert "already resolved" in stderr and len(stderr.strip().splitlines()) == 1
    assert "already resolved" in cli.fails("alerts", "ack", str(alerts["old"]))
    assert "Alert status must be one of" in cli.fails("alerts", "--status", "closed")
    cli.fails("alerts", "show", "abc", code=2)
    cli.fails("alerts", "show", code=2)


def test_empty_store(cli: Any) -> None:
    assert "No active alerts" in cli.ok("alerts")
    assert "No alerts yet" in cli.ok("alerts", "--all")
    assert json.loads(cli.ok("alerts", "--json")) == []


def test_fmt_age() -> None:
    now = T0 + timedelta(days=2, hours=3)
    assert [fmt_age(t, now) for t in (now, now - timedelta(seconds=45),
                                      now - timedelta(minutes=12), now - timedelta(hours=3),
                                      T0)] == ["0s", "45s", "12m", "3h", "2d"]
