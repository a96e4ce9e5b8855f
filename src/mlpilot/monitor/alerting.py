"""Alert notifications: signed webhooks, sent when they matter, never raised into the monitor.

The monitor calls :func:`notify` after every ``store.raise_alert``. Whether a
webhook goes out follows a few rules, so that a drifting feature seen in every
window pages once, not every five minutes:

* a newly opened alert notifies (reason ``opened``);
* a higher severity than the last one notified notifies (``escalated``), even
  when the alert is acknowledged;
* an ongoing, unacknowledged alert reminds at most every
  ``MLPILOT_ALERT_RENOTIFY_MINUTES`` (``reminder``); acknowledged alerts don't;
* nothing below ``MLPILOT_ALERT_MIN_SEVERITY``, nothing about resolved alerts;
* a notification that reached no receiver is tried again at the next occurrence.

What was last delivered is kept under the monitor cursor ``notify:<alert id>``
(the alert's evidence belongs to the monitor, which overwrites it). The cursor is
claimed with compare-and-set before sending, so two monitors handling the same
occurrence send one webhook between them.

Each receiver gets a JSON POST; with ``MLPILOT_ALERT_WEBHOOK_SECRET`` set, the
header ``X-Mlpilot-Signature: sha256=<hex>`` carries the HMAC-SHA256 of the exact
body bytes. Receivers on ``hooks.slack.com`` get Slack's ``{"text": ...}`` shape.
Connection errors, timeouts, 429 and 5xx answers are retried with exponential
backoff; other 4xx answers are not.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from mlpilot import __version__
from mlpilot.core.clock import as_utc, utcnow
from mlpilot.core.entities import ALERT_SEVERITIES, Alert
from mlpilot.core.errors import Conflict

if TYPE_CHECKING:
    from mlpilot.core.settings import Settings
    from mlpilot.store import Store

__all__ = ["Delivery", "NotifyResult", "alert_payload", "decide", "format_alert", "notify",
           "sign"]

logger = logging.getLogger("mlpilot.monitor.alerting")

LINK = "/api/v1/alerts/{id}"
"""The control-plane path of an alert, sent as ``link`` in every payload."""

SIGNATURE_HEADER = "X-Mlpilot-Signature"
CURSOR_PREFIX = "notify:"
CLAIM_TTL = timedelta(minutes=5)
"""A claim older than this belongs to a monitor that died mid-send; it is ignored."""

_RANK = {s: i for i, s in enumerate(ALERT_SEVERITIES)}
_RETRY_STATUSES = frozenset({408, 425, 429})
_MAX_BACKOFF_S = 5.0


@dataclass(frozen=True)
class Delivery:
    """One webhook receiver's outcome.

    Attributes:
        url: the receiver, redacted to scheme, host and port (webhook paths are secrets).
        ok: True when it answered 2xx.
        status_code: its last HTTP status (None when it never answered).
        attempts: how many POSTs were made.
        error: why it failed ("" when ok).
    """

    url: str
    ok: bool
    status_code: int | None
    attempts: int
    error: str = ""


@dataclass(frozen=True)
class NotifyResult:
    """What :func:`notify` did about one alert.

    Attributes:
        alert_id: the alert.
        reason: why it sent (``opened``, ``escalated``, ``reminder``) or did not
            (``no_webhook``, ``suppressed``, ``acknowledged``, ``resolved``,
            ``below_min_severity``, ``in_flight``, ``state_unavailable``, ``error``).
        sent: True when webhooks were attempted.
        deliveries: one per receiver, when sent.
        error: what went wrong outside the deliveries ("" otherwise).
    """

    alert_id: int
    reason: str
    sent: bool = False
    deliveries: tuple[Delivery, ...] = ()
    error: str = ""

    @property
    def delivered(self) -> bool:
        """True when at least one receiver accepted the notification."""
        return any(d.ok for d in self.deliveries)

    @property
    def failed(self) -> bool:
        """True when a notification was due but no receiver accepted it."""
        return (self.sent and not self.delivered) or self.reason == "error"


# -- text and payloads -----------------------------------------------------------------
def _when(value: datetime) -> str:
    return as_utc(value).strftime("%Y-%m-%d %H:%M UTC")


def format_alert(alert: Alert) -> str:
    """One paragraph describing ``alert``, for logs, chat messages and the CLI.

    Example: ``[CRITICAL] Alert #3 (open): Drift on income. Model credit-risk,
    deployment live; drift, 4 occurrences from 2026-11-01 12:00 UTC to
    2026-11-01 15:00 UTC. KS 0.31 > 0.1.``
    """
    where = f"Model {alert.model}" + (f", deployment {alert.deployment}"
                                      if alert.deployment else "")
    times = "occurrence" if alert.occurrences == 1 else "occurrences"
    span = (f"at {_when(alert.first_seen)}" if alert.first_seen == alert.last_seen
            else f"from {_when(alert.first_seen)} to {_when(alert.last_seen)}")
    text = (f"[{alert.severity.upper()}] Alert #{alert.id} ({alert.status}): "
            f"{alert.title.rstrip('.')}. {where}; {alert.kind}, {alert.occurrences} {times} "
            f"{span}.")
    if alert.summary:
        text += f" {alert.summary.strip()}"
    diagnosis = alert.diagnosis.get("summary") if alert.diagnosis else None
    if isinstance(diagnosis, str) and diagnosis:
        text += f" Diagnosis: {diagnosis.strip()}"
    return text


def alert_payload(alert: Alert, reason: str, *, sent_at: datetime | None = None
                  ) -> dict[str, Any]:
    """The JSON body of a webhook about ``alert`` (strict JSON, times in ISO 8601).

    Args:
        alert: the alert.
        reason: ``opened``, ``escalated`` or ``reminder``; also in ``event``.
        sent_at: the time stamped into the (signed) body; default now.
    """
    return {
        "event": f"alert.{reason}",
        "reason": reason,
        "id": alert.id,
        "key": alert.key,
        "model": alert.model,
        "deployment": alert.deployment,
        "kind": alert.kind,
        "severity": alert.severity,
        "status": alert.status,
        "title": alert.title,
        "summary": alert.summary,
        "evidence": alert.evidence,
        "occurrences": alert.occurrences,
        "first_seen": as_utc(alert.first_seen).isoformat(),
        "last_seen": as_utc(alert.last_seen).isoformat(),
        "link": LINK.format(id=alert.id),
        "text": format_alert(alert),
        "sent_at": (sent_at or utcnow()).isoformat(),
    }


def _slack_payload(alert: Alert, reason: str) -> dict[str, Any]:
    prefix = {"opened": "New alert", "escalated": "Alert escalated",
              "reminder": "Still firing"}.get(reason, "Alert")
    return {"text": f"{prefix}: {format_alert(alert)} ({LINK.format(id=alert.id)})"}


def sign(body: bytes, secret: str) -> str:
    """The ``X-Mlpilot-Signature`` value of ``body``: ``sha256=<hex HMAC-SHA256>``.

    Receivers recompute it over the raw body and compare with ``hmac.compare_digest``.
    """
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _redact(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<malformed URL>"
    path = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{host}{port}{path}"


def _is_slack(url: str) -> bool:
    try:
        return (urlsplit(url).hostname or "").lower() == "hooks.slack.com"
    except ValueError:
        return False


# -- the rules ---------------------------------------------------------------------------
def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError:
        return None


def decide(
    alert: Alert,
    created: bool,
    state: dict[str, Any] | None,
    *,
    now: datetime,
    renotify_minutes: float = 60.0,
    min_severity: str = "info",
) -> tuple[bool, str]:
    """Whether ``alert`` should be notified now, and why (the rules in the module doc).

    Args:
        alert: the alert as ``raise_alert`` returned it.
        created: True when ``raise_alert`` opened it.
        state: its notification cursor (None before the first notification).
        now: the current time.
        renotify_minutes: least minutes between reminders.
        min_severity: the least severity that notifies.

    Returns:
        ``(notify, reason)``.
    """
    if alert.status == "resolved":
        return False, "resolved"
    if _RANK.get(alert.severity, 0) < _RANK.get(min_severity, 0):
        return False, "below_min_severity"
    state = state or {}
    claimed = _parse_time(state.get("claim_at"))
    if claimed is not None and now - claimed < CLAIM_TTL:
        return False, "in_flight"
    if created:
        return True, "opened"
    notified = _parse_time(state.get("notified_at"))
    if notified is None:
        return True, "opened"  # never reached a receiver yet (or webhooks set up since)
    if _RANK.get(alert.severity, 0) > _RANK.get(str(state.get("severity")), 0):
        return True, "escalated"
    if alert.status == "acknowledged":
        return False, "acknowledged"
    if (alert.occurrences > int(state.get("occurrences") or 0)
            and now - notified >= timedelta(minutes=renotify_minutes)):
        return True, "reminder"
    return False, "suppressed"


# -- sending -----------------------------------------------------------------------------
def _post(client: httpx.Client, url: str, body: bytes, headers: dict[str, str], *,
          retries: int, backoff_s: float) -> Delivery:
    shown = _redact(url)
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        scheme = ""
    if scheme not in ("http", "https"):
        return Delivery(shown, False, None, 0, "not an http(s) URL")
    status: int | None = None
    error = ""
    attempts = 0
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(min(backoff_s * 2 ** (attempt - 1), _MAX_BACKOFF_S))
        attempts += 1
        try:
            response = client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:  # connection refused, DNS, timeout, protocol
            status, error = None, f"{type(exc).__name__}: {exc}".rstrip(": ")
            continue
        status = response.status_code
        if response.is_success:
            return Delivery(shown, True, status, attempts)
        error = f"HTTP {status}"
        if status < 500 and status not in _RETRY_STATUSES:
            break  # the receiver refuses this request; sending it again won't help
    return Delivery(shown, False, status, attempts, error[:300])


def _send(alert: Alert, reason: str, settings: Settings, client: httpx.Client | None, *,
          timeout_s: float, retries: int, backoff_s: float) -> tuple[Delivery, ...]:
    delivery_id = uuid.uuid4().hex
    payload = alert_payload(alert, reason)
    base_headers = {"Content-Type": "application/json",
                    "User-Agent": f"mlpilot/{__version__}",
                    "X-Mlpilot-Event": payload["event"],
                    "X-Mlpilot-Delivery": delivery_id}
    own = client is None
    http = client or httpx.Client(timeout=timeout_s, follow_redirects=False)
    try:
        deliveries = []
        for url in settings.alert_webhooks:
            data = _slack_payload(alert, reason) if _is_slack(url) else payload
            body = json.dumps(data, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False).encode()
            headers = dict(base_headers)
            if settings.alert_webhook_secret:
                headers[SIGNATURE_HEADER] = sign(body, settings.alert_webhook_secret)
            delivery = _post(http, url, body, headers, retries=retries, backoff_s=backoff_s)
            if delivery.ok:
                logger.info("Alert %s notified (%s) to %s.", alert.id, reason, delivery.url)
            else:
                logger.warning("Alert %s: notifying %s failed after %d attempt(s): %s.",
                               alert.id, delivery.url, delivery.attempts, delivery.error)
            deliveries.append(delivery)
        return tuple(deliveries)
    finally:
        if own:
            http.close()


def notify(
    alert: Alert,
    created: bool,
    *,
    settings: Settings | None = None,
    store: Store | None = None,
    client: httpx.Client | None = None,
    now: datetime | None = None,
    timeout_s: float = 5.0,
    retries: int = 2,
    backoff_s: float = 0.5,
) -> NotifyResult:
    """Send the webhook(s) about ``alert`` if the noise rules say so; never raises.

    Args:
        alert: the alert ``store.raise_alert`` returned.
        created: the flag ``store.raise_alert`` returned with it.
        settings: where to send (default ``Settings.from_env()``).
        store: where the notification state lives (default the SDK's context store;
            pass the store the monitor raised the alert in).
        client: an httpx client to send with (default a fresh one with ``timeout_s``).
        now: the current time (default the clock).
        timeout_s: per-request timeout when no client is given.
        retries: further attempts after a connection error, timeout, 429 or 5xx.
        backoff_s: the first wait between attempts; it doubles (capped at 5 s).

    Returns:
        What happened; failures are also logged on ``mlpilot.monitor.alerting``.
    """
    try:
        return _notify(alert, created, settings=settings, store=store, client=client,
                       now=now, timeout_s=timeout_s, retries=retries, backoff_s=backoff_s)
    except Exception as exc:  # the monitor must keep running whatever happens here
        logger.exception("Notifying alert %s failed.", getattr(alert, "id", "?"))
        return NotifyResult(getattr(alert, "id", 0), "error", error=f"{type(exc).__name__}: "
                            f"{exc}"[:300])


def _notify(alert: Alert, created: bool, *, settings: Settings | None, store: Store | None,
            client: httpx.Client | None, now: datetime | None, timeout_s: float,
            retries: int, backoff_s: float) -> NotifyResult:
    if settings is None:
        from mlpilot.core.settings import Settings

        settings = Settings.from_env()
    if not settings.alert_webhooks:
        return NotifyResult(alert.id, "no_webhook")
    now = as_utc(now) if now is not None else utcnow()
    if store is None:
        from mlpilot.sdk._context import get_context

        store = get_context().store
    key = f"{CURSOR_PREFIX}{alert.id}"
    state: dict[str, Any] | None = None
    if not created:
        try:
            state = store.get_monitor_cursor(key)
        except Exception as exc:
            logger.warning("Alert %s: cannot read its notification state (%s); not notifying.",
                           alert.id, exc)
            return NotifyResult(alert.id, "state_unavailable", error=str(exc)[:300])
    go, reason = decide(alert, created, state, now=now,
                        renotify_minutes=settings.alert_renotify_minutes,
                        min_severity=settings.alert_min_severity)
    if not go:
        return NotifyResult(alert.id, reason)

    previous = dict(state or {})
    claim = {**previous, "claim_at": now.isoformat()}
    claimed = True
    try:  # claim the notification so a concurrent monitor does not send it too
        store.set_monitor_cursor(key, claim, expected=state)
    except Conflict:
        return NotifyResult(alert.id, "in_flight")
    except Exception as exc:  # a store hiccup must not swallow the page: send unclaimed
        logger.warning("Alert %s: cannot record its notification state (%s).", alert.id, exc)
        claimed = False

    deliveries = _send(alert, reason, settings, client, timeout_s=timeout_s, retries=retries,
                       backoff_s=backoff_s)
    result = NotifyResult(alert.id, reason, sent=True, deliveries=deliveries)

    final = {**previous, "claim_at": None}
    if result.delivered:
        final.update(notified_at=now.isoformat(), severity=alert.severity,
                     occurrences=alert.occurrences, reason=reason, failures=0)
    else:
        final.update(failed_at=now.isoformat(), failures=int(previous.get("failures") or 0) + 1)
    try:
        store.set_monitor_cursor(key, final, expected=claim if claimed else None)
    except Exception as exc:
        logger.warning("Alert %s: cannot record its notification state (%s).", alert.id, exc)
    return result
