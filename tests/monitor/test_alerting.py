"""Alert notifications: a real local HTTP receiver, signatures, noise rules, retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mlpilot.core.entities import Alert
from mlpilot.core.errors import InvalidArgument
from mlpilot.core.settings import Settings
from mlpilot.monitor.alerting import decide, format_alert, notify, sign
from mlpilot.store import Store

SECRET = "s3cr3t-key"
T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: records requests, answers from a script."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    script: list[int] = field(default_factory=list)  # statuses to answer first, then 200

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                rec.requests.append({"path": self.path, "headers": dict(self.headers),
                                     "body": body})
                status = rec.script.pop(0) if rec.script else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/abc123"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()
    thread.join(5)


def settings_for(*urls: str, secret: str = SECRET, renotify: float = 60.0,
                 min_severity: str = "info") -> Settings:
    return Settings(home=Path("."), store_url="sqlite://", artifact_url=".", actor="t",
                    alert_webhooks=urls, alert_webhook_secret=secret,
                    alert_renotify_minutes=renotify, alert_min_severity=min_severity)


def raise_drift(store: Store, severity: str = "warning", at: datetime = T0
                ) -> tuple[Alert, bool]:
    return store.raise_alert("drift:credit:income", model="credit", kind="drift",
                             severity=severity, title="Drift on income",
                             summary="KS 0.31 > 0.1", evidence={"ks": 0.31, "threshold": 0.1},
                             deployment="credit-live", time=at)


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_opened_alert_posts_once_with_a_valid_signature(store: Store,
                                                        receiver: Receiver) -> None:
    alert, created = raise_drift(store)
    result = notify(alert, created, settings=settings_for(receiver.url), store=store, now=T0)
    assert created and result.sent and result.delivered and result.reason == "opened"
    assert [d.ok for d in result.deliveries] == [True]
    assert "abc123" not in result.deliveries[0].url  # webhook paths are secrets
    [request] = receiver.requests
    body, headers = request["body"], request["headers"]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Mlpilot-Signature"], expected)
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Mlpilot-Event"] == "alert.opened"
    payload = json.loads(body)
    assert payload["id"] == alert.id and payload["link"] == f"/api/v1/alerts/{alert.id}"
    assert {k: payload[k] for k in ("key", "model", "deployment", "kind", "severity",
                                    "status", "title", "summary", "occurrences")} == {
        "key": "drift:credit:income", "model": "credit", "deployment": "credit-live",
        "kind": "drift", "severity": "warning", "status": "open", "title": "Drift on income",
        "summary": "KS 0.31 > 0.1", "occurrences": 1}
    assert payload["evidence"] == {"ks": 0.31, "threshold": 0.1}
    assert datetime.fromisoformat(payload["first_seen"]) == T0
    assert "Drift on income" in payload["text"]


def test_noise_rules_repeat_escalate_remind(store: Store, receiver: Receiver) -> None:
    settings = settings_for(receiver.url, renotify=60)
    alert, created = raise_drift(store)
    assert notify(alert, created, settings=settings, store=store, now=T0).delivered
    for minute in (5, 10, 30):  # ongoing, within the renotify interval: quiet
        alert, created = raise_drift(store, at=T0 + minute * MINUTE)
        result = notify(alert, created, settings=settings, store=store,
                        now=T0 + minute * MINUTE)
        assert not created and not result.sent and result.reason == "suppressed"
    assert len(receiver.requests) == 1

    alert, created = raise_drift(store, "critical", at=T0 + 31 * MINUTE)  # escalation
    result = notify(alert, created, settings=settings, store=store, now=T0 + 31 * MINUTE)
    assert result.delivered and result.reason == "escalated"
    assert receiver.bodies()[-1]["severity"] == "critical"
    assert receiver.requests[-1]["headers"]["X-Mlpilot-Event"] == "alert.escalated"

    alert, created = raise_drift(store, "warning", at=T0 + 40 * MINUTE)  # stays critical
    assert notify(alert, created, settings=settings, store=store,
                  now=T0 + 40 * MINUTE).reason == "suppressed"
    alert, created = raise_drift(store, at=T0 + 92 * MINUTE)  # 61 min after the last one
    result = notify(alert, created, settings=settings, store=store, now=T0 + 92 * MINUTE)
    assert result.delivered and result.reason == "reminder"
    assert [b["reason"] for b in receiver.bodies()] == ["opened", "escalated", "reminder"]
    assert receiver.bodies()[-1]["occurrences"] == 7

    store.acknowledge_alert(alert.id, "looking")  # acknowledged: no more reminders
    alert, created = raise_drift(store, at=T0 + 200 * MINUTE)
    assert notify(alert, created, settings=settings, store=store,
                  now=T0 + 200 * MINUTE).reason == "acknowledged"
    assert len(receiver.requests) == 3


def test_resolved_alert_reopens_and_notifies_again(store: Store, receiver: Receiver) -> None:
    settings = settings_for(receiver.url)
    first, created = raise_drift(store)
    notify(first, created, settings=settings, store=store, now=T0)
    store.resolve_alert(first.id, "fixed")
    second, created = raise_drift(store, at=T0 + MINUTE)
    assert created and second.id != first.id
    assert notify(second, created, settings=settings, store=store,
                  now=T0 + MINUTE).reason == "opened"
    assert [b["id"] for b in receiver.bodies()] == [first.id, second.id]
    resolved = store.get_alert(first.id)
    assert notify(resolved, False, settings=settings, store=store).reason == "resolved"


def test_retries_5xx_then_delivers(store: Store, receiver: Receiver) -> None:
    receiver.script = [500, 503]
    alert, created = raise_drift(store)
    result = notify(alert, created, settings=settings_for(receiver.url), store=store, now=T0,
                    backoff_s=0.01)
    assert result.delivered
    assert result.deliveries[0].attempts == 3 and result.deliveries[0].status_code == 200
    assert len(receiver.requests) == 3
    ids = {r["headers"]["X-Mlpilot-Delivery"] for r in receiver.requests}
    assert len(ids) == 1  # one delivery id across retries: receivers can de-duplicate


def test_4xx_is_not_retried(store: Store, receiver: Receiver) -> None:
    receiver.script = [404]
    alert, created = raise_drift(store)
    result = notify(alert, created, settings=settings_for(receiver.url), store=store, now=T0,
                    backoff_s=0.01)
    assert result.failed and result.deliveries[0].attempts == 1
    assert result.deliveries[0].error == "HTTP 404"


def test_unreachable_receiver_fails_without_raising_and_retries_later(
        store: Store, receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    dead = f"http://127.0.0.1:{unused_port()}/hook"
    alert, created = raise_drift(store)
    result = notify(alert, created, settings=settings_for(dead), store=store, now=T0,
                    timeout_s=1.0, retries=1, backoff_s=0.01)
    assert result.sent and result.failed and not result.delivered
    [delivery] = result.deliveries
    assert not delivery.ok and delivery.attempts == 2 and delivery.status_code is None
    assert "ConnectError" in delivery.error
    assert "notifying http://127.0.0.1" in caplog.text
    # Nothing reached anyone, so the next occurrence tries again (to a working receiver).
    alert, created = raise_drift(store, at=T0 + MINUTE)
    result = notify(alert, created, settings=settings_for(receiver.url), store=store,
                    now=T0 + MINUTE)
    assert result.delivered and result.reason == "opened"
    assert len(receiver.requests) == 1


def test_one_dead_receiver_does_not_block_the_others(store: Store, receiver: Receiver) -> None:
    settings = settings_for("ftp://example.invalid/x", receiver.url)
    alert, created = raise_drift(store)
    result = notify(alert, created, settings=settings, store=store, now=T0)
    assert result.delivered and [d.ok for d in result.deliveries] == [False, True]
    assert result.deliveries[0].error == "not an http(s) URL"


def test_no_webhook_and_min_severity(store: Store, receiver: Receiver) -> None:
    alert, created = raise_drift(store, "info")
    assert notify(alert, created, settings=settings_for(), store=store).reason == "no_webhook"
    settings = settings_for(receiver.url, min_severity="warning")
    assert notify(alert, created, settings=settings, store=store,
                  now=T0).reason == "below_min_severity"
    alert, created = raise_drift(store, "critical", at=T0 + MINUTE)
    result = notify(alert, created, settings=settings, store=store, now=T0 + MINUTE)
    assert result.delivered and result.reason == "opened"  # first one that qualifies


def test_notify_never_raises_when_the_store_is_gone(receiver: Receiver, tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path}/x.db", actor="t")
    alert, created = raise_drift(store)
    alert, created = raise_drift(store, at=T0 + MINUTE)
    broken = _Broken()
    result = notify(alert, created, settings=settings_for(receiver.url), store=broken,  # type: ignore[arg-type]
                    now=T0 + MINUTE)
    assert result.reason == "state_unavailable" and not result.sent
    fresh, _ = store.raise_alert("other", model="credit", kind="errors", severity="critical",
                                 title="Errors")
    result = notify(fresh, True, settings=settings_for(receiver.url), store=broken,  # type: ignore[arg-type]
                    now=T0)
    assert result.delivered  # a new alert pages even when its state cannot be saved
    store.close()


class _Broken:
    def get_monitor_cursor(self, key: str) -> None:
        raise RuntimeError("database is down")

    def set_monitor_cursor(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("database is down")


def test_concurrent_claim_sends_once(store: Store, receiver: Receiver) -> None:
    settings = settings_for(receiver.url, renotify=0)
    alert, created = raise_drift(store)
    notify(alert, created, settings=settings, store=store, now=T0)
    alert, _ = raise_drift(store, at=T0 + MINUTE)
    state = store.get_monitor_cursor(f"notify:{alert.id}")
    assert state is not None
    # Another monitor claimed this occurrence a moment ago and is sending it.
    store.set_monitor_cursor(f"notify:{alert.id}", {**state, "claim_at": T0.isoformat()})
    result = notify(alert, False, settings=settings, store=store, now=T0 + MINUTE)
    assert result.reason == "in_flight" and len(receiver.requests) == 1
    # A claim older than the TTL belongs to a monitor that died: ignored.
    result = notify(alert, False, settings=settings, store=store, now=T0 + 10 * MINUTE)
    assert result.delivered and result.reason == "reminder"


def test_slack_urls_get_a_text_payload(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="ok")

    alert, created = raise_drift(store)
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        result = notify(alert, created, store=store, client=client, now=T0,
                        settings=settings_for("https://hooks.slack.com/services/T/B/X"))
    assert result.delivered and result.deliveries[0].url == "https://hooks.slack.com/…"
    body = json.loads(seen[0].content)
    assert list(body) == ["text"] and "Drift on income" in body["text"]
    assert seen[0].headers["X-Mlpilot-Signature"] == sign(seen[0].content, SECRET)


def test_no_signature_without_a_secret(store: Store, receiver: Receiver) -> None:
    alert, created = raise_drift(store)
    notify(alert, created, settings=settings_for(receiver.url, secret=""), store=store, now=T0)
    assert "X-Mlpilot-Signature" not in receiver.requests[0]["headers"]


def test_decide_is_pure() -> None:
    alert = Alert(id=1, key="k", model="m", deployment="", kind="drift", severity="warning",
                  status="open", title="t", summary="", evidence={}, occurrences=3,
                  first_seen=T0, last_seen=T0)
    notified = {"notified_at": T0.isoformat(), "severity": "warning", "occurrences": 2}
    assert decide(alert, True, None, now=T0) == (True, "opened")
    assert decide(alert, False, None, now=T0) == (True, "opened")
    assert decide(alert, False, notified, now=T0 + MINUTE) == (False, "suppressed")
    assert decide(alert, False, notified, now=T0 + 60 * MINUTE) == (True, "reminder")
    assert decide(alert, False, {**notified, "occurrences": 3},
                  now=T0 + 90 * MINUTE) == (False, "suppressed")  # nothing new since
    assert decide(replace(alert, severity="critical"), False, notified,
                  now=T0) == (True, "escalated")
    assert decide(replace(alert, status="acknowledged"), False, notified,
                  now=T0 + 120 * MINUTE) == (False, "acknowledged")


def test_format_alert() -> None:
    alert = Alert(id=7, key="k", model="credit", deployment="live", kind="latency",
                  severity="critical", status="open", title="p99 over SLO.",
                  summary="p99 812 ms > 500 ms.", evidence={}, occurrences=4, first_seen=T0,
                  last_seen=T0 + 60 * MINUTE, diagnosis={"summary": "Version 3 is slower."})
    assert format_alert(alert) == (
        "[CRITICAL] Alert #7 (open): p99 over SLO. Model credit, deployment live; latency, "
        "4 occurrences from 2026-11-01 12:00 UTC to 2026-11-01 13:00 UTC. "
        "p99 812 ms > 500 ms. Diagnosis: Version 3 is slower.")
    one = replace(alert, occurrences=1, last_seen=T0, deployment="", summary="", diagnosis={})
    assert format_alert(one) == ("[CRITICAL] Alert #7 (open): p99 over SLO. Model credit; "
                                 "latency, 1 occurrence at 2026-11-01 12:00 UTC.")


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLPILOT_ALERT_WEBHOOK", " http://a/x , ,https://b/y")
    monkeypatch.setenv("MLPILOT_ALERT_WEBHOOK_SECRET", "k")
    monkeypatch.setenv("MLPILOT_ALERT_RENOTIFY_MINUTES", "15")
    monkeypatch.setenv("MLPILOT_ALERT_MIN_SEVERITY", "Warning")
    s = Settings.from_env(tmp_path)
    assert s.alert_webhooks == ("http://a/x", "https://b/y")
    assert (s.alert_webhook_secret, s.alert_renotify_minutes, s.alert_min_severity) == (
        "k", 15.0, "warning")
    assert "'k'" not in repr(s)  # the secret stays out of logs
    monkeypatch.setenv("MLPILOT_ALERT_RENOTIFY_MINUTES", "soon")
    with pytest.raises(InvalidArgument, match="MLPILOT_ALERT_RENOTIFY_MINUTES.*'soon'"):
        Settings.from_env(tmp_path)
    monkeypatch.delenv("MLPILOT_ALERT_RENOTIFY_MINUTES")
    monkeypatch.setenv("MLPILOT_ALERT_MIN_SEVERITY", "loud")
    with pytest.raises(InvalidArgument, match="one of"):
        Settings.from_env(tmp_path)
    for var in ("MLPILOT_ALERT_WEBHOOK", "MLPILOT_ALERT_WEBHOOK_SECRET",
                "MLPILOT_ALERT_MIN_SEVERITY"):
        monkeypatch.delenv(var)
    s = Settings.from_env(tmp_path)
    assert (s.alert_webhooks, s.alert_renotify_minutes, s.alert_min_severity) == (
        (), 60.0, "info")
