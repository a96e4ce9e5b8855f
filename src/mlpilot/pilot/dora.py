"""DORA metrics for models, from the store's audit log, decisions and alerts.

Definitions (per model, and over all models):

* **deployment** — a change reaching production: the ``production`` alias moving to
  a version it never held before (``alias.set`` events; moving back to a former
  holder is a *revert*, i.e. a rollback), or a canary rollout that was rolled back
  (``rollback`` decisions; the rollout served real traffic). Its time is the alias
  move, or for a rolled-back canary the ``deployment.put`` that started it.
* **deployment frequency** — deployments per day.
* **lead time** — from the newest input of the deployed version (its training
  dataset's snapshot time or its run's start, the commit proxy; the version's
  registration when neither is known) to the deployment. Median and p90.
* **change failure rate** — failed deployments ÷ deployments. A deployment fails
  when a rollback/revert or an alert on its model follows within
  ``failure_window`` (and before the model's next deployment); a rolled-back
  canary is a failure by definition.
* **MTTD** — for failed deployments: deployment → first alert or rollback.
* **MTTR** — for alerts: first seen → resolved or the model's next rollback,
  whichever comes first (open alerts are counted, not timed).

The pure :func:`compute_dora` works on plain :class:`Change` / :class:`Incident` /
:class:`Recovery` facts; :func:`collect_history` reads them from a store.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from mlpilot.core.clock import as_utc, utcnow
from mlpilot.core.errors import InvalidArgument, NotFound
from mlpilot.core.jsonsafe import json_safe

__all__ = ["BUCKETS", "Change", "DoraReport", "DoraStats", "Incident", "Recovery",
           "collect_history", "compute_dora", "dora_metrics"]

BUCKETS = ("day", "week", "month")
_LIMIT = 10_000


@dataclass(frozen=True)
class Change:
    """One deployment to production.

    Attributes:
        model, version: what was deployed.
        time: when it reached production.
        kind: ``"promotion"`` (alias move) or ``"canary"`` (a rolled-back rollout).
        lead_start: the newest input's time (``None``: unknown, no lead time).
        rolled_back_at: for a canary, when it was rolled back.
    """

    model: str
    version: int
    time: datetime
    kind: str = "promotion"
    lead_start: datetime | None = None
    rolled_back_at: datetime | None = None


@dataclass(frozen=True)
class Incident:
    """An alert on a model: opened, and resolved (``None`` while open)."""

    model: str
    opened: datetime
    resolved: datetime | None = None
    alert_id: int = 0


@dataclass(frozen=True)
class Recovery:
    """A rollback: a rollback decision or a revert of the production alias."""

    model: str
    time: datetime


@dataclass(frozen=True)
class DoraStats:
    """The four keys (and MTTD) over one period; durations in seconds."""

    deployments: int
    failed: int
    change_failure_rate: float | None
    deploys_per_day: float
    lead_time_median_s: float | None
    lead_time_p90_s: float | None
    mttr_median_s: float | None
    mttd_median_s: float | None
    incidents: int
    open_incidents: int


@dataclass(frozen=True)
class DoraReport:
    """DORA metrics over ``[since, until)``: overall, per model and per time bucket."""

    since: datetime
    until: datetime
    bucket: str
    failure_window_s: float
    overall: DoraStats
    models: dict[str, DoraStats]
    buckets: tuple[tuple[datetime, DoraStats], ...]
    changes: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """Strict JSON."""
        return json_safe({
            "since": self.since.isoformat(), "until": self.until.isoformat(),
            "bucket": self.bucket, "failure_window_s": self.failure_window_s,
            "overall": asdict(self.overall),
            "models": {m: asdict(s) for m, s in self.models.items()},
            "buckets": [{"start": b.isoformat(), **asdict(s)} for b, s in self.buckets],
            "changes": list(self.changes)})


def _quantile(values: Sequence[float], q: float) -> float | None:
    return float(np.quantile(values, q)) if values else None


def _bucket_start(when: datetime, bucket: str) -> datetime:
    day = when.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if bucket == "day":
        return day
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next_bucket(start: datetime, bucket: str) -> datetime:
    if bucket == "day":
        return start + timedelta(days=1)
    if bucket == "week":
        return start + timedelta(weeks=1)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def _judge(changes: list[Change], incidents: list[Incident], recoveries: list[Recovery],
           window: timedelta) -> list[dict[str, Any]]:
    """Each change with ``failed``, ``detected_at`` and ``lead_time_s``."""
    by_model: dict[str, list[Change]] = {}
    for c in sorted(changes, key=lambda c: c.time):
        by_model.setdefault(c.model, []).append(c)
    out = []
    for model, seq in by_model.items():
        for i, c in enumerate(seq):
            end = c.time + window
            if i + 1 < len(seq):
                end = min(end, seq[i + 1].time)
            signals = [r.time for r in recoveries
                       if r.model == model and c.time < r.time <= end]
            signals += [a.opened for a in incidents
                        if a.model == model and c.time < a.opened <= end]
            if c.rolled_back_at is not None:
                signals.append(c.rolled_back_at)
            detected = min(signals) if signals else None
            lead = (c.time - c.lead_start).total_seconds() if c.lead_start else None
            out.append({"model": model, "version": c.version, "time": c.time, "kind": c.kind,
                        "failed": detected is not None, "detected_at": detected,
                        "lead_time_s": lead if lead is None or lead >= 0 else None})
    return sorted(out, key=lambda r: r["time"])


def _mttr(incidents: list[Incident], recoveries: list[Recovery]) -> list[float | None]:
    out: list[float | None] = []
    for a in incidents:
        ends = [r.time for r in recoveries if r.model == a.model and r.time >= a.opened]
        if a.resolved is not None:
            ends.append(a.resolved)
        out.append((min(ends) - a.opened).total_seconds() if ends else None)
    return out


def _stats(judged: list[dict[str, Any]], incidents: list[Incident],
           recoveries: list[Recovery], days: float) -> DoraStats:
    n = len(judged)
    failed = [j for j in judged if j["failed"]]
    leads = [j["lead_time_s"] for j in judged if j["lead_time_s"] is not None]
    mttd = [(j["detected_at"] - j["time"]).total_seconds() for j in failed]
    repairs = _mttr(incidents, recoveries)
    timed = [r for r in repairs if r is not None]
    return DoraStats(
        deployments=n, failed=len(failed),
        change_failure_rate=len(failed) / n if n else None,
        deploys_per_day=n / days if days > 0 else 0.0,
        lead_time_median_s=_quantile(leads, 0.5), lead_time_p90_s=_quantile(leads, 0.9),
        mttr_median_s=_quantile(timed, 0.5), mttd_median_s=_quantile(mttd, 0.5),
        incidents=len(incidents), open_incidents=len(repairs) - len(timed))


def compute_dora(changes: Iterable[Change], incidents: Iterable[Incident],
                 recoveries: Iterable[Recovery], *, since: datetime, until: datetime,
                 bucket: str = "week",
                 failure_window: timedelta = timedelta(hours=24)) -> DoraReport:
    """DORA metrics from plain facts (see the module docstring for the definitions).

    Changes and incidents are counted in the period (and bucket) they start in;
    failures and recoveries are looked for after that, also past ``until``.

    Raises:
        InvalidArgument: ``until <= since``, an unknown bucket, a non-positive window.
    """
    since, until = as_utc(since), as_utc(until)
    if until <= since:
        raise InvalidArgument(f"until must be after since. Got {since} .. {until}.")
    if bucket not in BUCKETS:
        raise InvalidArgument(f"No bucket named {bucket!r}. Available: {list(BUCKETS)}.")
    if failure_window <= timedelta(0):
        raise InvalidArgument(f"failure_window must be positive. Got {failure_window!r}.")
    all_changes = list(changes)
    recov = [Recovery(r.model, as_utc(r.time)) for r in recoveries]
    incs = [Incident(a.model, as_utc(a.opened), a.resolved and as_utc(a.resolved), a.alert_id)
            for a in incidents]
    judged_all = _judge(all_changes, incs, recov, failure_window)
    judged = [j for j in judged_all if since <= j["time"] < until]
    incs_in = [a for a in incs if since <= a.opened < until]
    days = (until - since).total_seconds() / 86400

    def part(lo: datetime, hi: datetime, model: str | None = None) -> DoraStats:
        js = [j for j in judged if lo <= j["time"] < hi and model in (None, j["model"])]
        ins = [a for a in incs_in if lo <= a.opened < hi and model in (None, a.model)]
        return _stats(js, ins, recov, (hi - lo).total_seconds() / 86400)

    models = sorted({j["model"] for j in judged} | {a.model for a in incs_in})
    buckets = []
    start = _bucket_start(since, bucket)
    while start < until:
        nxt = _next_bucket(start, bucket)
        lo, hi = max(start, since), min(nxt, until)
        buckets.append((start, part(lo, hi)))
        start = nxt
    rows = tuple({**j, "time": j["time"].isoformat(),
                  "detected_at": j["detected_at"] and j["detected_at"].isoformat()}
                 for j in judged)
    overall = _stats(judged, incs_in, recov, days)
    return DoraReport(since, until, bucket, failure_window.total_seconds(), overall,
                      {m: part(since, until, m) for m in models}, tuple(buckets), rows)


# --- reading the store -------------------------------------------------------------
def _lead_start(store: Any, model: str, version: int) -> datetime | None:
    try:
        v = store.get_version(model, version)
    except NotFound:
        return None
    candidates = []
    if v.dataset_id:
        try:
            candidates.append(as_utc(store.get_dataset(v.dataset_id).created_at))
        except NotFound:
            pass
    if v.run_id:
        try:
            run = store.get_run(v.run_id)
            commit_time = run.code_version.get("commit_time")
            candidates.append(as_utc(datetime.fromisoformat(commit_time)) if isinstance(
                commit_time, str) else as_utc(run.start_time))
        except (NotFound, ValueError):
            pass
    return max(candidates) if candidates else as_utc(v.created_at)


def collect_history(store: Any, *, model: str | None = None,
                    ) -> tuple[list[Change], list[Incident], list[Recovery]]:
    """Changes, incidents and recoveries in the store (the whole history, newest 10 000
    of each kind), optionally for one model."""
    changes: list[Change] = []
    recoveries: list[Recovery] = []
    held: dict[str, set[int]] = {}
    events = store.list_events(action="alias.set", target_kind="model", target=model,
                               limit=_LIMIT)
    for e in sorted(events, key=lambda e: (e.time, e.id)):
        p = e.payload or {}
        to, frm = p.get("to"), p.get("from")
        if p.get("alias") != "production" or to is None or to == frm:
            continue
        seen = held.setdefault(e.target, set())
        if to in seen:
            recoveries.append(Recovery(e.target, as_utc(e.time)))
        else:
            changes.append(Change(e.target, int(to), as_utc(e.time),
                                  lead_start=_lead_start(store, e.target, int(to))))
        seen.update(v for v in (to, frm) if v is not None)
    changes += _canary_rollbacks(store, model, recoveries)
    incidents = [Incident(a.model, as_utc(a.first_seen),
                          a.resolved_at and as_utc(a.resolved_at), a.id)
                 for a in store.list_alerts(model=model, limit=_LIMIT)]
    return changes, incidents, recoveries


def _canary_rollbacks(store: Any, model: str | None,
                      recoveries: list[Recovery]) -> list[Change]:
    out = []
    owners: dict[str, str | None] = {}
    for d in store.list_decisions(action="rollback", limit=_LIMIT):
        if d.outcome not in ("applied", "pending"):
            continue
        if d.target not in owners:
            try:
                owners[d.target] = store.get_deployment(d.target).model
            except NotFound:
                owners[d.target] = d.evidence.get("model")
        owner = owners[d.target]
        if owner is None or (model is not None and owner != model):
            continue
        at = as_utc(d.time)
        recoveries.append(Recovery(owner, at))
        puts = [as_utc(e.time) for e in store.list_events(
            action="deployment.put", target_kind="deployment", target=d.target, limit=_LIMIT)
            if as_utc(e.time) < at]
        # the rollout started with the last put before its first decision
        previous = [as_utc(x.time) for x in store.list_decisions(
            target_kind="deployment", target=d.target, limit=_LIMIT)
            if x.action in ("promote", "rollback") and as_utc(x.time) < at]
        floor = max(previous) if previous else None
        started = [t for t in puts if floor is None or t > floor]
        version = d.evidence.get("canary_version") or d.evidence.get("canary") or 0
        out.append(Change(owner, int(version) if isinstance(version, int) else 0,
                          min(started) if started else at, kind="canary", rolled_back_at=at))
    return out


def dora_metrics(store: Any, *, model: str | None = None, since: datetime | None = None,
                 until: datetime | None = None, bucket: str = "week",
                 failure_window: timedelta = timedelta(hours=24)) -> DoraReport:
    """DORA metrics of ``model`` (or every model) over ``[since, until)`` from a store.

    Args:
        store: the metadata store.
        model: one model, or ``None`` for all.
        since: start (default: 30 days before ``until``).
        until: end (default: now).
        bucket: ``"day"``, ``"week"`` or ``"month"``.
        failure_window: how long after a deployment a rollback or alert counts as its
            failure.
    """
    until = as_utc(until) if until else utcnow()
    since = as_utc(since) if since else until - timedelta(days=30)
    changes, incidents, recoveries = collect_history(store, model=model)
    return compute_dora(changes, incidents, recoveries, since=since, until=until,
                        bucket=bucket, failure_window=failure_window)


def fmt_seconds(value: float | None) -> str:
    """``"42s"``, ``"12m"``, ``"3.5h"``, ``"2.1d"`` or ``"—"``."""
    if value is None or not math.isfinite(value):
        return "—"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if value >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.0f}s"
