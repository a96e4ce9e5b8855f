"""The autopilot's pages: its decision timeline, approvals waiting for a human, DORA metrics.

Answering an ``ask_human`` decision lets the autopilot retrain, deploy, promote or roll
back on its own on its next pass, so it needs the ``admin`` role (not ``editor``, the
rule of the UI's other actions). The answer goes through
:func:`mlpilot.pilot.actions.approve_decision` / ``reject_decision``, as
``mlpilot autopilot approve`` does, with the signed-in token's name as ``by``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from mlpilot.core.clock import utcnow
from mlpilot.core.entities import DecisionRecord, Role
from mlpilot.core.errors import InvalidArgument
from mlpilot.pilot.actions import approve_decision, reject_decision
from mlpilot.pilot.dora import BUCKETS, DoraStats, dora_metrics, fmt_seconds
from mlpilot.ui._app import UI_PREFIX, UiRoute, render
from mlpilot.ui._auth import Form, UiAuthorize, UiCaller, Viewer
from mlpilot.ui._pages_ops import _decision_view

router = APIRouter(route_class=UiRoute)

admin_rule = UiAuthorize(Role.ADMIN)
"""Approving or rejecting what the autopilot asks: admin only."""

Admin = Annotated[UiCaller, Depends(admin_rule)]

# what approve_decision accepts; other asks report a problem and can only be dismissed
APPROVABLE = ("retrain", "deploy", "promote", "rollback")
ACTIONS = ("retrain", "check", "deploy", "step", "promote", "rollback", "hold", "ask_human",
           "request_retrain")
SINCE_CHOICES = ("7d", "30d", "90d", "180d", "365d")
_MAX_SPAN = timedelta(days=3650)
_TIMELINE_LIMIT = 500


# -- the autopilot page ---------------------------------------------------------------------
def _model_of(d: DecisionRecord, owners: dict[str, str]) -> str:
    if d.target_kind == "deployment":
        return owners.get(d.target) or str(d.evidence.get("model") or "")
    return d.target if d.target_kind == "model" else ""


def _answered(caller: UiCaller, decision_id: int | None) -> DecisionRecord | None:
    """The decision named by ``?answered=`` after an approval: shown from the store, so a
    hand-made link cannot claim an answer that was never given."""
    if decision_id is None:
        return None
    found = [d for d in caller.store.list_decisions(action="ask_human", limit=10_000)
             if d.id == decision_id and d.outcome in ("approved", "rejected")]
    return found[0] if found else None


@router.get("/autopilot")
def autopilot_page(request: Request, caller: Viewer, model: str = "", action: str = "",
                   outcome: str = "", answered: int | None = None) -> Response:
    """Approvals waiting for a human, then every decision, newest first, with evidence."""
    store = caller.store
    owners = {d.name: d.model for d in store.list_deployments()}
    asks = store.list_decisions(action="ask_human", limit=1000)
    pending = [{"x": _decision_view(d), "model": _model_of(d, owners),
                "approvable": d.evidence.get("action") in APPROVABLE,
                "asks_for": d.evidence.get("action")}
               for d in asks if d.outcome == "pending"]
    decisions = store.list_decisions(action=action or None, limit=_TIMELINE_LIMIT)
    shown = [d for d in decisions
             if (not model or _model_of(d, owners) == model)
             and (not outcome or d.outcome == outcome)]
    outcomes = sorted({d.outcome for d in decisions} | {"pending", "applied", "failed",
                                                         "approved", "rejected"})
    return render(request, "autopilot.html", caller, title="Autopilot",
                  pending=pending, decisions=[_decision_view(d) for d in shown],
                  models=[m.name for m in store.list_models()],
                  actions=sorted(set(ACTIONS) | {d.action for d in decisions}),
                  outcomes=outcomes, model=model, action=action, outcome=outcome,
                  can_answer=caller.role.allows(Role.ADMIN),
                  answered=_answered(caller, answered), limit=_TIMELINE_LIMIT)


@router.post("/autopilot/decisions/{decision_id}/{answer}")
def answer_decision(request: Request, caller: Admin, form: Form, decision_id: int,
                    answer: str) -> Response:
    """Approve or reject a pending ``ask_human`` decision (admin)."""
    note = form.get("note", "")[:1000]
    if answer == "approve":
        approve_decision(caller.store, decision_id, caller.name, note)
    elif answer == "reject":
        reject_decision(caller.store, decision_id, caller.name, note)
    else:
        raise InvalidArgument(f"Unknown answer {answer!r}. Use approve or reject.")
    return RedirectResponse(f"{UI_PREFIX}/autopilot?answered={decision_id}", status_code=303)


# -- DORA -------------------------------------------------------------------------------------
def _span(since: str) -> timedelta:
    from mlpilot.monitor.monitor_config import parse_duration

    try:
        span = parse_duration(since)
    except (OverflowError, ValueError):
        span = _MAX_SPAN * 2
    if span > _MAX_SPAN:
        raise InvalidArgument(f"since must be at most {_MAX_SPAN.days}d. Got {since!r}.")
    return span


def _stats_view(s: DoraStats) -> dict[str, Any]:
    """Display strings for one scope's numbers."""
    cfr = "—" if s.change_failure_rate is None else f"{s.change_failure_rate:.0%}"
    return {"deployments": s.deployments, "per_day": f"{s.deploys_per_day:.2f}",
            "lead_p50": fmt_seconds(s.lead_time_median_s),
            "lead_p90": fmt_seconds(s.lead_time_p90_s), "cfr": cfr, "failed": s.failed,
            "mttd": fmt_seconds(s.mttd_median_s), "mttr": fmt_seconds(s.mttr_median_s),
            "incidents": s.incidents, "open": s.open_incidents}


def _hours(value: float | None) -> float | None:
    return None if value is None else round(value / 3600, 3)


def _bucket_charts(buckets: Sequence[tuple[datetime, DoraStats]],
                   bucket: str) -> list[dict[str, Any]]:
    """uPlot-ready specs (the monitoring page's format) of the metrics per bucket."""
    if not buckets:
        return []
    x = [start.timestamp() for start, _ in buckets]
    stats = [s for _, s in buckets]

    def spec(title: str, unit: str, lines: dict[str, list[Any]]) -> dict[str, Any]:
        return {"title": title, "unit": unit, "x": x, "bands": [],
                "series": [{"label": label, "values": values, "color": i}
                           for i, (label, values) in enumerate(lines.items())]}

    return [
        spec(f"Deployments per {bucket}", "", {
            "deployments": [s.deployments for s in stats],
            "failed": [s.failed for s in stats]}),
        spec(f"Change failure rate per {bucket}", "%", {
            "change failure rate": [None if s.change_failure_rate is None
                                    else round(100 * s.change_failure_rate, 2)
                                    for s in stats]}),
        spec(f"Lead time, MTTD and MTTR per {bucket} (medians)", "h", {
            "lead time p50": [_hours(s.lead_time_median_s) for s in stats],
            "MTTD": [_hours(s.mttd_median_s) for s in stats],
            "MTTR": [_hours(s.mttr_median_s) for s in stats]}),
    ]


@router.get("/dora")
def dora_page(request: Request, caller: Viewer, since: str = "30d", model: str = "",
              bucket: str = "week") -> Response:
    """Deployment frequency, lead time, change failure rate, MTTR and MTTD: overall, per
    model and per time bucket."""
    if bucket not in BUCKETS:
        raise InvalidArgument(f"No bucket named {bucket!r}. Available: {list(BUCKETS)}.")
    if model:
        caller.store.get_model(model)  # an unknown model is a 404, not empty metrics
    until = utcnow()
    report = dora_metrics(caller.store, model=model or None, since=until - _span(since),
                          until=until, bucket=bucket)
    changes = [{**c, "lead": fmt_seconds(c.get("lead_time_s"))}
               for c in sorted(report.changes, key=lambda c: str(c.get("time", "")),
                               reverse=True)]
    return render(request, "dora.html", caller, title="DORA metrics", report=report,
                  overall=_stats_view(report.overall),
                  per_model={m: _stats_view(s) for m, s in report.models.items()},
                  charts=_bucket_charts(report.buckets, bucket), changes=changes[:200],
                  models=[m.name for m in caller.store.list_models()], model=model,
                  since=since, since_choices=SINCE_CHOICES, bucket=bucket, buckets=BUCKETS)
