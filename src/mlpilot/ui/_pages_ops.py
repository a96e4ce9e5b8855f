"""Deployments, alerts (with diagnosis), monitoring charts, decisions and the audit log."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from markupsafe import Markup

from mlpilot.core.clock import utcnow
from mlpilot.core.entities import DecisionRecord, MetricPoint
from mlpilot.core.errors import InvalidArgument
from mlpilot.diagnose.report import cdf_chart
from mlpilot.reports.html import evidence_html
from mlpilot.reports.svg import grouped_bar_chart
from mlpilot.ui._app import UI_PREFIX, UiRoute, render
from mlpilot.ui._auth import Editor, Form, Viewer, api_state
from mlpilot.ui._charts import HeatCell, fmt, heatmap_svg, split_svg

router = APIRouter(route_class=UiRoute)

_PERIODS = {"6h": timedelta(hours=6), "24h": timedelta(days=1), "7d": timedelta(days=7),
            "30d": timedelta(days=30)}


def _evidence(value: Any) -> Markup:
    return Markup(evidence_html(value))


def _decision_view(d: DecisionRecord) -> dict[str, Any]:
    analysis = d.evidence.get("analysis") if isinstance(d.evidence, Mapping) else None
    checks = analysis.get("checks", []) if isinstance(analysis, Mapping) else []
    rest = {k: v for k, v in d.evidence.items() if k != "analysis"}
    return {"d": d, "checks": [c for c in checks if isinstance(c, Mapping)],
            "verdict": analysis.get("verdict") if isinstance(analysis, Mapping) else None,
            "evidence": _evidence(rest), "outcome": _evidence(d.outcome_detail)}


# -- deployments --------------------------------------------------------------------------
@router.get("/deployments")
def deployments_page(request: Request, caller: Viewer) -> Response:
    """Every deployment: strategy, live split, status."""
    deployments = caller.store.list_deployments()
    rows = [{"d": d, "split": split_svg([(f"v{r.version} {r.role}", r.weight) for r in d.routes],
                                        title=f"Traffic split of {d.name}")}
            for d in deployments]
    return render(request, "deployments.html", caller, title="Deployments", rows=rows)


@router.get("/deployments/{name}")
def deployment_page(request: Request, caller: Viewer, name: str) -> Response:
    """One deployment: live split, strategy parameters (canary steps), analyses, decisions."""
    store = caller.store
    d = store.get_deployment(name)
    steps = d.params.get("steps") if isinstance(d.params.get("steps"), list) else []
    decisions = store.list_decisions(target_kind="deployment", target=name, limit=100)
    events = store.list_events(target_kind="deployment", target=name, limit=50)
    return render(request, "deployment.html", caller, title=f"Deployment {name}", d=d,
                  split=split_svg([(f"v{r.version} {r.role}", r.weight) for r in d.routes],
                                  title=f"Traffic split of {name}"),
                  steps=steps, current_step=d.params.get("step"),
                  params=_evidence(d.params), slos=_evidence(d.slos),
                  decisions=[_decision_view(x) for x in decisions], events=events)


# -- alerts -------------------------------------------------------------------------------
@router.get("/alerts")
def alerts_page(request: Request, caller: Viewer, status: str = "active",
                model: str = "") -> Response:
    """Open (or resolved, or all) alerts, newest first."""
    active = {"active": True, "resolved": False}.get(status)
    alerts = caller.store.list_alerts(active=active, model=model or None, limit=500)
    return render(request, "alerts.html", caller, title="Alerts", alerts=alerts,
                  show=status, model=model)


def _diagnosis_file(request: Request, alert_id: int) -> dict[str, Any]:
    """The full diagnosis (curves, slices, timeline) ``mlpilot diagnose`` wrote in the home.

    Only the default location is read, never a path taken from the store.
    """
    from mlpilot.diagnose.alert import diagnosis_dir

    path = diagnosis_dir(api_state(request).context, alert_id) / "diagnosis.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _curve_plots(curves: Mapping[str, Any]) -> list[Markup]:
    plots = []
    for feature, curve in list(curves.items())[:6]:
        if not isinstance(curve, Mapping):
            continue
        try:
            if curve.get("kind") == "cdf":
                svg = cdf_chart(str(feature), curve["grid"], curve["reference"], curve["window"])
            else:
                svg = grouped_bar_chart(
                    [str(c) for c in curve["categories"]],
                    {"reference": curve["reference"], "window": curve["window"]},
                    title=f"{feature}: category shares, reference vs window")
        except (KeyError, TypeError, ValueError):
            continue
        plots.append(Markup(svg))  # both helpers escape every label
    return plots


@router.get("/alerts/{alert_id}")
def alert_page(request: Request, caller: Viewer, alert_id: int) -> Response:
    """One alert: evidence, and its diagnosis (ranked causes, worst slices, timeline)."""
    alert = caller.store.get_alert(alert_id)
    diagnosis = dict(alert.diagnosis)
    full = _diagnosis_file(request, alert_id) if diagnosis else {}
    causes = full.get("causes") or diagnosis.get("causes") or []
    causes = [c for c in causes if isinstance(c, Mapping)]
    slices = full.get("slices") or [c.get("evidence", {}) | {"subject": c.get("subject"),
                                                             "score": c.get("score")}
                                    for c in causes if c.get("kind") == "slice"]
    timeline = full.get("timeline") or [c.get("evidence", {}) for c in causes
                                        if c.get("kind") == "event"]
    timeline = sorted((t for t in timeline if isinstance(t, Mapping)),
                      key=lambda t: str(t.get("time", "")))
    return render(request, "alert.html", caller, title=f"Alert {alert_id}: {alert.title}",
                  alert=alert, diagnosis=diagnosis, causes=causes,
                  slices=[s for s in slices if isinstance(s, Mapping)][:25], timeline=timeline,
                  plots=_curve_plots(full.get("curves") or {}),
                  evidence=_evidence(alert.evidence))


@router.post("/alerts/{alert_id}/{action}")
def alert_action(request: Request, caller: Editor, form: Form, alert_id: int,
                 action: str) -> Response:
    """Acknowledge or resolve an alert (editor)."""
    note = form.get("note", "")[:1000]
    if action == "acknowledge":
        caller.store.acknowledge_alert(alert_id, note)
    elif action == "resolve":
        caller.store.resolve_alert(alert_id, note)
    else:
        raise InvalidArgument(f"Unknown alert action {action!r}. Use acknowledge or resolve.")
    return RedirectResponse(f"{UI_PREFIX}/alerts/{alert_id}", status_code=303)


# -- monitoring ---------------------------------------------------------------------------
def _ts(when: datetime) -> float:
    return when.timestamp()


def _series_chart(title: str, unit: str, lines: Sequence[tuple[str, Sequence[MetricPoint]]],
                  band: Any = None) -> dict[str, Any] | None:
    """A uPlot-ready dict: shared x, one series per line, optional lower/upper band."""
    xs = sorted({p.window_start for _, pts in lines for p in pts})
    if not xs:
        return None
    series, bands = [], []
    for i, (label, pts) in enumerate(lines):
        by_x = {p.window_start: p for p in pts}
        series.append({"label": label, "values": [by_x[x].value if x in by_x else None
                                                  for x in xs], "color": i})
        if band is not None:
            lo = [band(by_x[x], "lower") if x in by_x else None for x in xs]
            hi = [band(by_x[x], "upper") if x in by_x else None for x in xs]
            if any(v is not None for v in lo + hi):
                series.append({"label": f"{label} upper", "values": hi, "color": i,
                               "band": True})
                series.append({"label": f"{label} lower", "values": lo, "color": i,
                               "band": True})
                bands.append([len(series) - 1, len(series)])  # [upper, lower]; x is 0
    return {"title": title, "unit": unit, "x": [_ts(x) for x in xs], "series": series,
            "bands": bands}


def _ci(point: MetricPoint, side: str) -> float | None:
    value = point.details.get(side)
    return value if isinstance(value, int | float) else None


def _baseline(point: MetricPoint, side: str) -> float | None:
    base = point.details.get("baseline")
    value = base.get(side) if isinstance(base, Mapping) else None
    return value if isinstance(value, int | float) else None


def _group(points: Iterable[MetricPoint], prefix: str) -> dict[str, list[MetricPoint]]:
    out: dict[str, list[MetricPoint]] = {}
    for p in points:
        if p.name.startswith(prefix) and not p.feature:
            out.setdefault(p.name[len(prefix):], []).append(p)
    return out


def _heatmap(points: Sequence[MetricPoint], model: str) -> Markup | None:
    drift = [p for p in points if p.name.startswith("drift.") and p.feature]
    if not drift:
        return None
    windows = sorted({p.window_start for p in drift})
    features = sorted({p.feature for p in drift})
    cells = {}
    for p in drift:
        det = p.details
        cells[(p.feature, p.window_start)] = HeatCell(
            value=p.value, threshold=det.get("threshold") if isinstance(
                det.get("threshold"), int | float) else None,
            drifted=bool(det.get("drifted")),
            detail=(f"{p.name}: {fmt(p.value)} (threshold {fmt(det.get('threshold'))}, "
                    f"adjusted p {fmt(det.get('p_value_adjusted'))})"))
    return heatmap_svg(features, windows, cells, title=f"Drift per feature of {model}")


@router.get("/monitoring")
def monitoring_page(request: Request, caller: Viewer, model: str = "", period: str = "7d",
                    deployment: str = "") -> Response:
    """Drift heat map, performance (measured and estimated, with bands), latency and errors."""
    store = caller.store
    models = [m.name for m in store.list_models()]
    model = model or (models[0] if models else "")
    if period not in _PERIODS:
        raise InvalidArgument(f"period must be one of {sorted(_PERIODS)}. Got {period!r}.")
    charts: list[dict[str, Any]] = []
    heat = None
    latest_drift: list[MetricPoint] = []
    if model:
        points = store.list_metric_points(model, since=utcnow() - _PERIODS[period],
                                          deployment=deployment or None, limit=100_000)
        heat = _heatmap(points, model)
        measured, estimated = _group(points, "performance."), _group(points, "estimated.")
        for metric in sorted(set(measured) | set(estimated)):
            lines = [(f"measured {metric}", measured.get(metric, [])),
                     (f"estimated {metric}", estimated.get(metric, []))]
            chart = _series_chart(f"{metric}: measured vs estimated (CBPE)", "",
                                  [x for x in lines if x[1]], band=_ci)
            if chart:
                charts.append(chart)
        ops = _group(points, "ops.")
        for name, unit, title in (("latency_p99_ms", "ms", "p99 latency"),
                                  ("error_rate", "", "error rate"),
                                  ("throughput_rps", "req/s", "throughput")):
            chart = _series_chart(f"{title} with its seasonal baseline band", unit,
                                  [(title, ops.get(name, []))], band=_baseline)
            if chart:
                charts.append(chart)
        last = max((p.window_start for p in points if p.name.startswith("drift.")
                    and p.feature), default=None)
        latest_drift = sorted((p for p in points if p.window_start == last
                               and p.name.startswith("drift.") and p.feature),
                              key=lambda p: -(p.value or 0.0))
    return render(request, "monitoring.html", caller, title=f"Monitoring {model}".strip(),
                  models=models, model=model, period=period, periods=list(_PERIODS),
                  deployment=deployment, heat=heat, charts=charts, latest_drift=latest_drift)


# -- decisions and audit ------------------------------------------------------------------
@router.get("/decisions")
def decisions_page(request: Request, caller: Viewer, target: str = "",
                   action: str = "") -> Response:
    """Every decision (autopilot, rollout engines, people) with evidence and outcome."""
    decisions = caller.store.list_decisions(target=target or None, action=action or None,
                                            limit=200)
    return render(request, "decisions.html", caller, title="Decisions",
                  decisions=[_decision_view(d) for d in decisions], target=target,
                  action=action)


@router.get("/events")
def events_page(request: Request, caller: Viewer, actor: str = "", action: str = "",
                target_kind: str = "", target: str = "", limit: int = 200) -> Response:
    """The audit log, filterable by actor, action and target."""
    if not 1 <= limit <= 2000:
        raise InvalidArgument(f"limit must be in [1, 2000]. Got {limit}.")
    events = caller.store.list_events(actor=actor or None, action=action or None,
                                      target_kind=target_kind or None, target=target or None,
                                      limit=limit)
    return render(request, "events.html", caller, title="Audit log", events=events,
                  filters={"actor": actor, "action": action, "target_kind": target_kind,
                           "target": target}, limit=limit,
                  payloads={e.id: _evidence(e.payload) for e in events if e.payload})
