"""Triggers: pure functions of an :class:`Observation` that say why a model should retrain.

Each trigger returns :class:`Firing` objects with a deterministic ``key`` (the alert
id, the metric window, the cron match, the dataset id, the request decision): the
controller acts at most once per key, however often it re-reads the same state.

A schema break (a missing column or type errors in a ``quality`` alert, or columns the
drift report had to skip) is never a reason to retrain: :func:`schema_breaks` finds
them so the controller can stop and ask a human.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlpilot.core.entities import Alert, Dataset, DecisionRecord, MetricPoint, ModelVersion
from mlpilot.pilot.cron import Cron
from mlpilot.pilot.policy import (
    ConceptShiftTrigger,
    DriftTrigger,
    NewDataTrigger,
    OnDemandTrigger,
    PerformanceTrigger,
    ScheduleTrigger,
    TriggerSpec,
)

_RANK = {"info": 0, "warning": 1, "critical": 2}
SCHEMA_CHECKS = ("missing_column", "type_error")
SCHEMA_SKIPS = ("missing from the current window", "not in the reference")


@dataclass(frozen=True)
class Firing:
    """One reason to act: the trigger type, its idempotency key, a sentence, the evidence."""

    trigger: str
    key: str
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"trigger": self.trigger, "key": self.key, "reason": self.reason,
                "evidence": self.evidence}


@dataclass(frozen=True)
class Observation:
    """What the controller read from the store for one model, at ``now``.

    Attributes:
        alerts: the model's unresolved alerts.
        points: the model's recent metric points, oldest first.
        datasets: snapshots of the datasets named by ``new_data`` triggers.
        production: the version behind the ``production`` alias, if any.
        requests: pending on-demand retrain requests (``request_retrain`` decisions).
        since: when the autopilot started driving the model (cron matches before are past).
    """

    model: str
    now: datetime
    alerts: Sequence[Alert] = ()
    points: Sequence[MetricPoint] = ()
    datasets: Sequence[Dataset] = ()
    production: ModelVersion | None = None
    requests: Sequence[DecisionRecord] = ()
    since: datetime | None = None


def _alert_evidence(alert: Alert) -> dict[str, Any]:
    return {"alert": alert.id, "kind": alert.kind, "severity": alert.severity,
            "title": alert.title, "summary": alert.summary, "evidence": alert.evidence}


def _on_demand(spec: OnDemandTrigger, obs: Observation) -> list[Firing]:
    return [Firing("on_demand", f"request:{r.id}", f"requested by {r.actor}: {r.reason}",
                   {"request": r.id, "by": r.actor}) for r in obs.requests]


def _schedule(spec: ScheduleTrigger, obs: Observation) -> list[Firing]:
    match = Cron(spec.cron).latest(obs.now)
    if match is None or (obs.since is not None and match <= obs.since):
        return []
    return [Firing("schedule", f"schedule:{spec.cron}:{match.isoformat()}",
                   f"scheduled retrain ({spec.cron}) due at {match:%Y-%m-%d %H:%M} UTC",
                   {"cron": spec.cron, "due": match.isoformat()})]


def _new_data(spec: NewDataTrigger, obs: Observation) -> list[Firing]:
    snapshots = [d for d in obs.datasets if d.name == spec.dataset
                 and d.num_rows >= spec.min_rows]
    if not snapshots:
        return []
    newest = max(snapshots, key=lambda d: d.created_at)
    prod = obs.production
    if prod is not None and (prod.dataset_id == newest.id
                             or newest.created_at <= prod.created_at):
        return []
    return [Firing("new_data", f"dataset:{newest.id}",
                   f"new snapshot of {spec.dataset!r} ({newest.num_rows} rows)",
                   {"dataset": newest.id, "name": newest.name, "rows": newest.num_rows,
                    "production_dataset": prod.dataset_id if prod else None})]


def _drift(spec: DriftTrigger, obs: Observation) -> list[Firing]:
    out = []
    for a in obs.alerts:
        share = float(a.evidence.get("share_drifted") or 0.0)
        if (a.kind == "drift" and _RANK[a.severity] >= _RANK[spec.min_severity]
                and share >= spec.min_share_drifted):
            out.append(Firing("drift", f"alert:{a.id}", f"drift alert #{a.id}: {a.title}",
                              _alert_evidence(a)))
    return out


def _performance(spec: PerformanceTrigger, obs: Observation) -> list[Firing]:
    out = []
    for a in obs.alerts:
        estimated = "estimated" in a.evidence
        if (a.kind == "performance" and _RANK[a.severity] >= _RANK[spec.min_severity]
                and (spec.estimated or not estimated)):
            out.append(Firing("performance", f"alert:{a.id}",
                              f"performance alert #{a.id}: {a.title}", _alert_evidence(a)))
    if spec.metric and spec.below is not None:
        names = {f"performance.{spec.metric}", spec.metric}
        if spec.estimated:
            names.add(f"estimated.{spec.metric}")
        latest = [p for p in obs.points if p.name in names and p.value is not None]
        if latest:
            point = max(latest, key=lambda p: (p.window_start, p.id))
            if point.value is not None and point.value < spec.below:
                out.append(Firing(
                    "performance", f"metric:{point.name}:{point.window_start.isoformat()}",
                    f"{point.name} = {point.value:.4g} below {spec.below:.4g}",
                    {"metric": point.name, "value": point.value, "threshold": spec.below,
                     "point": point.id, "window_start": point.window_start.isoformat(),
                     "window_end": point.window_end.isoformat()}))
    return out


def _concept_shift(spec: ConceptShiftTrigger, obs: Observation) -> list[Firing]:
    if any(a.kind == "drift" for a in obs.alerts):
        return []  # the inputs moved: that is data drift, not (only) a concept shift
    return [Firing("concept_shift", f"alert:{a.id}",
                   f"measured performance dropped without input drift (alert #{a.id})",
                   _alert_evidence(a))
            for a in obs.alerts if a.kind == "performance" and "estimated" not in a.evidence]


_EVALUATORS: dict[type, Callable[[Any, Observation], list[Firing]]] = {
    OnDemandTrigger: _on_demand, ScheduleTrigger: _schedule, NewDataTrigger: _new_data,
    DriftTrigger: _drift, PerformanceTrigger: _performance,
    ConceptShiftTrigger: _concept_shift,
}


def evaluate(triggers: Sequence[TriggerSpec], obs: Observation) -> list[Firing]:
    """Every firing of ``triggers`` on ``obs``, one per key (the first trigger wins)."""
    seen: dict[str, Firing] = {}
    for spec in triggers:
        for firing in _EVALUATORS[type(spec)](spec, obs):
            seen.setdefault(firing.key, firing)
    return list(seen.values())


def schema_breaks(obs: Observation) -> list[Firing]:
    """Schema breaks visible in ``obs``: they stop the loop and go to a human."""
    out = []
    for a in obs.alerts:
        if a.kind != "quality":
            continue
        bad = [f for f in a.evidence.get("findings", []) if f.get("check") in SCHEMA_CHECKS]
        if bad:
            out.append(Firing("schema_break", f"schema:alert:{a.id}",
                              f"schema break in alert #{a.id}: "
                              + ", ".join(f"{f['check']} on {f['column']}" for f in bad[:5]),
                              {**_alert_evidence(a), "findings": bad}))
    shares = [p for p in obs.points if p.name == "drift.share"]
    if shares:
        point = max(shares, key=lambda p: (p.window_start, p.id))
        skipped = {c: why for c, why in (point.details.get("skipped") or {}).items()
                   if why in SCHEMA_SKIPS}
        if skipped:
            cols = ",".join(sorted(skipped))
            out.append(Firing("schema_break", f"schema:columns:{cols}",
                              f"the drift report skipped columns: {cols}",
                              {"skipped": skipped, "point": point.id,
                               "window_start": point.window_start.isoformat()}))
    return out
