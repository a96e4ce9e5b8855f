"""Timeline correlation: what changed shortly before the alert opened.

Events from the audit log within ``lookback`` before the alert's ``first_seen`` that
concern the alert's model or deployment are scored by

    ``score = relevance(action) × 0.5 ** (gap / half_life)``

so a deploy an hour before scores higher than one a day before, and a deploy
higher than a dataset registration. Relevance (see :data:`RELEVANCE`): deployment
changes and alias moves 1.0, rollout decisions 0.8, new versions 0.7 (1.0 when the
new version's input schema differs from its predecessor's), model metadata 0.3,
dataset registrations 0.4, annotations 0.1. Events of other models, tokens, runs
and alerts are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from mlpilot.core.clock import as_utc
from mlpilot.core.entities import Event
from mlpilot.diagnose.causes import Cause

__all__ = ["RELEVANCE", "schema_change", "timeline", "timeline_causes"]

RELEVANCE: dict[str, float] = {
    "deployment.put": 1.0,
    "deployment.delete": 1.0,
    "alias.set": 1.0,
    "alias.delete": 1.0,
    "decision.*": 0.8,
    "version.create": 0.7,
    "dataset.register": 0.4,
    "model.update": 0.3,
    "model.create": 0.3,
    "version.archive": 0.3,
    "version.annotate": 0.1,
}
"""Relevance of an audit action to a production incident (``prefix.*`` matches a family)."""

SCHEMA_CHANGE_RELEVANCE = 1.0


def _relevance(action: str) -> float | None:
    if action in RELEVANCE:
        return RELEVANCE[action]
    family = action.split(".", 1)[0] + ".*"
    return RELEVANCE.get(family)


def _concerns(event: Event, model: str, deployment: str) -> bool:
    """Whether an event is about the alert's model or deployment."""
    if event.action.startswith("dataset."):
        return True  # datasets are not tied to a model until a version uses them
    if event.target_kind == "deployment":
        if deployment and event.target == deployment:
            return True
        routes = (event.payload or {}).get("routes") or []
        return any(isinstance(r, Mapping) and r.get("model") == model for r in routes)
    if event.target_kind == "model":
        return event.target == model
    if event.target_kind == "version":
        return event.target.split("/", 1)[0] == model
    return event.target in (model, deployment) or event.target.startswith(f"{model}/")


def schema_change(old: Mapping[str, Any] | None,
                  new: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Input columns added, removed or retyped between two signatures, or ``None``."""
    if not old or not new:
        return None
    before = {c["name"]: c.get("dtype") for c in old.get("inputs", [])}
    after = {c["name"]: c.get("dtype") for c in new.get("inputs", [])}
    change = {
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "retyped": {c: [before[c], after[c]] for c in sorted(set(before) & set(after))
                    if before[c] != after[c]},
    }
    return change if any(change.values()) else None


def timeline(
    events: Iterable[Event],
    alert_time: datetime,
    *,
    model: str,
    deployment: str = "",
    lookback: timedelta = timedelta(hours=24),
    half_life: timedelta = timedelta(hours=6),
    schema_of: Callable[[Event], dict[str, Any] | None] | None = None,
) -> list[dict[str, Any]]:
    """Relevant events in ``[alert_time − lookback, alert_time]``, highest score first.

    Args:
        events: audit events (any order; others are filtered out).
        alert_time: when the alert opened.
        model: the alert's model.
        deployment: the alert's deployment ("" when none).
        lookback: how far back to look.
        half_life: the gap at which an event's score halves.
        schema_of: for ``version.create`` events, the input-schema change the new
            version brought (see :func:`schema_change`), or ``None``.

    Returns:
        Dicts with ``event_id``, ``time``, ``action``, ``target``, ``actor``, ``reason``,
        ``payload``, ``gap_seconds``, ``relevance``, ``closeness``, ``score`` and, when
        found, ``schema_change``.
    """
    when = as_utc(alert_time)
    start = when - lookback
    half = max(half_life.total_seconds(), 1.0)
    out = []
    for e in events:
        t = as_utc(e.time)
        relevance = _relevance(e.action)
        if relevance is None or not start <= t <= when or not _concerns(e, model, deployment):
            continue
        entry: dict[str, Any] = {}
        if e.action == "version.create" and schema_of is not None:
            change = schema_of(e)
            if change:
                entry["schema_change"] = change
                relevance = SCHEMA_CHANGE_RELEVANCE
        gap = (when - t).total_seconds()
        closeness = 0.5 ** (gap / half)
        out.append({"event_id": e.id, "time": t, "action": e.action, "target": e.target,
                    "actor": e.actor, "reason": e.reason, "payload": dict(e.payload or {}),
                    "gap_seconds": gap, "relevance": relevance, "closeness": closeness,
                    "score": relevance * closeness, **entry})
    out.sort(key=lambda x: (-x["score"], x["gap_seconds"], x["event_id"]))
    return out


def timeline_causes(entries: Iterable[Mapping[str, Any]], *, top_k: int = 5) -> list[Cause]:
    """The most relevant recent events as causes."""
    causes = []
    for entry in list(entries)[:top_k]:
        what = _describe(entry)
        gap = _gap(entry["gap_seconds"])
        causes.append(Cause(
            kind="event", subject=f"{entry['action']} {entry['target']}", score=entry["score"],
            summary=f"{what} {gap} before the alert opened"
                    + (f" ({entry['reason']})" if entry.get("reason") else "") + ".",
            evidence=dict(entry)))
    return causes


def _describe(entry: Mapping[str, Any]) -> str:
    action, target, payload = entry["action"], entry["target"], entry.get("payload") or {}
    if action == "alias.set":
        return (f"Alias {payload.get('alias')!r} of {target} moved from "
                f"{payload.get('from')} to {payload.get('to')}")
    if action == "alias.delete":
        return f"Alias {payload.get('alias')!r} of {target} was removed"
    if action == "deployment.put":
        return f"Deployment {target} was changed (strategy {payload.get('strategy')})"
    if action == "version.create":
        change = entry.get("schema_change")
        text = f"Version {target} was registered"
        return text + (f" with a changed input schema {change}" if change else "")
    if action == "dataset.register":
        return f"Dataset {payload.get('name', target)} was registered"
    return f"{action} on {target}"


def _gap(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
