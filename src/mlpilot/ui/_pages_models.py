"""Models, one model, one version (checks, lineage, card), two versions side by side."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from markupsafe import Markup

from mlpilot.core.entities import Lineage, ModelVersion
from mlpilot.core.errors import InvalidArgument, NotFound
from mlpilot.reports.html import badge, evidence_html, groups_section, importance_chart
from mlpilot.reports.html import metrics_section as check_metrics
from mlpilot.ui._app import UI_PREFIX, UiRoute, render
from mlpilot.ui._auth import Editor, Form, Viewer
from mlpilot.ui._charts import Node, lineage_svg

router = APIRouter(route_class=UiRoute)


def seg(value: object) -> str:
    """``value`` as one URL path segment."""
    return quote(str(value), safe="")


def version_url(model: str, version: int) -> str:
    """The UI page of ``model/version``."""
    return f"{UI_PREFIX}/models/{seg(model)}/versions/{version}"


@router.get("/")
@router.get("/models")
def models_page(request: Request, caller: Viewer, q: str = "") -> Response:
    """Every model: production version, health (open alerts), last deployment; search."""
    store = caller.store
    models = store.list_models(search=q.strip() or None)
    alerts: dict[str, Counter[str]] = {}
    for a in store.list_alerts(active=True, limit=10_000):
        alerts.setdefault(a.model, Counter())[a.severity] += 1
    last_deploy: dict[str, Any] = {}
    for d in store.list_deployments():
        if d.model not in last_deploy or d.updated_at > last_deploy[d.model].updated_at:
            last_deploy[d.model] = d
    rows = [{"model": m, "alerts": alerts.get(m.name, Counter()),
             "deployment": last_deploy.get(m.name)} for m in models]
    return render(request, "models.html", caller, title="Models", rows=rows, q=q)


@router.get("/models/{name}")
def model_page(request: Request, caller: Viewer, name: str) -> Response:
    """One model: its versions, aliases, deployments and open alerts."""
    store = caller.store
    model = store.get_model(name)
    versions = sorted(store.list_versions(name), key=lambda v: -v.version)
    metric_keys = sorted({k for v in versions for k in v.metrics})[:6]
    return render(request, "model.html", caller, title=f"Model {name}", model=model,
                  versions=versions, metric_keys=metric_keys,
                  deployments=store.list_deployments(model=name),
                  alerts=store.list_alerts(model=name, active=True, limit=50))


def _lineage_graph(lin: Lineage) -> Markup:
    mv = lin.version
    names = {("dataset", d.id): d.name for d in lin.datasets}
    if lin.run is not None:
        names[("run", lin.run.id)] = lin.run.name or lin.run.id[:8]
    for d in lin.deployments:
        names[("deployment", d.name)] = d.name
    keys: dict[tuple[str, str], None] = {("version", mv.ref): None}
    pairs = []
    for e in lin.edges:
        a, b = (e.source_kind, e.source_id), (e.target_kind, e.target_id)
        keys.update({a: None, b: None})
        pairs.append((a, b))
    for d in lin.deployments:
        b = ("deployment", d.name)
        if b not in keys:
            keys[b] = None
            pairs.append((("version", mv.ref), b))
    nodes = []
    for kind, ident in keys:
        href: str | None = None
        label = names.get((kind, ident), ident[:12] if kind in ("dataset", "run") else ident)
        if kind == "version" and "/" in ident:
            model, _, number = ident.rpartition("/")
            href = version_url(model, int(number)) if number.isdigit() else None
        elif kind == "deployment":
            href = f"{UI_PREFIX}/deployments/{seg(ident)}"
        elif kind == "run":
            href = "#run"
        elif kind == "dataset":
            href = f"#dataset-{ident}"
        nodes.append(Node((kind, ident), label, href, focus=(kind, ident) == ("version", mv.ref)))
    return lineage_svg(nodes, pairs, title=f"Lineage of {mv.ref}")


def _check_rows(report: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """One row per check result, with its rendered (escaped) evidence and charts."""
    rows = []
    for r in (report or {}).get("results", []):
        evidence = r.get("evidence") or {}
        charts = ""
        if r.get("check") == "explainability":
            charts = importance_chart(evidence, title="SHAP importance")
        elif r.get("check") == "fairness":
            charts = groups_section(evidence)
        elif r.get("check") == "performance":
            charts = check_metrics(evidence)
        try:
            verdict = badge(str(r.get("verdict", "skip")))
        except ValueError:
            verdict = str(r.get("verdict"))
        rows.append({"check": r.get("check", "?"), "verdict": str(r.get("verdict", "")),
                     "badge": Markup(verdict) if verdict.startswith("<span") else verdict,
                     "severity": r.get("severity", ""), "summary": r.get("summary", ""),
                     "charts": Markup(charts), "evidence": Markup(evidence_html(evidence))})
    return rows


def _profile_rows(profile: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for column, stats in (profile.get("columns") or {}).items():
        if not isinstance(stats, Mapping):
            continue
        top = ""
        for key in ("frequencies", "categories", "top", "top_values"):
            value = stats.get(key)
            if isinstance(value, Mapping) and value:
                items = sorted(value.items(), key=lambda kv: -(kv[1] or 0)
                               if isinstance(kv[1], int | float) else 0)[:3]
                top = ", ".join(f"{k} ({v:.0%})" if isinstance(v, float) and v <= 1 else
                                f"{k} ({v})" for k, v in items)
                break
        rows.append({"column": column, "dtype": stats.get("dtype", ""),
                     "null_rate": stats.get("null_rate"), "distinct": stats.get("distinct_count"),
                     "min": stats.get("min"), "mean": stats.get("mean"), "max": stats.get("max"),
                     "top": top})
    return rows


def _signature(signature: Mapping[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    """Inputs and outputs as rows (outputs may be one mapping: dtype, shape, classes)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for part in ("inputs", "outputs"):
        value = (signature or {}).get(part)
        items = value if isinstance(value, list) else [value] if value else []
        rows = []
        for item in items:
            if isinstance(item, Mapping):
                extra = {k: v for k, v in item.items() if k not in ("name", "dtype", "nullable")}
                rows.append({"name": item.get("name", ""), "dtype": item.get("dtype", ""),
                             "nullable": item.get("nullable", ""),
                             "extra": ", ".join(f"{k}={v}" for k, v in extra.items())})
            else:
                rows.append({"name": str(item), "dtype": "", "nullable": "", "extra": ""})
        if rows:
            out[part] = rows
    return out


@router.get("/models/{name}/versions/{version}")
def version_page(request: Request, caller: Viewer, name: str, version: int) -> Response:
    """One version: metrics, signature, lineage, profile, checks, fairness, SHAP, card."""
    store = caller.store
    mv = store.get_version(name, version)
    lin = store.lineage(name, version)
    report = mv.check_report or {}
    others = [v.version for v in store.list_versions(name) if v.version != version]
    return render(
        request, "version.html", caller, title=f"{mv.ref}", mv=mv, lineage=lin,
        graph=_lineage_graph(lin), signature=_signature(mv.signature),
        checks=_check_rows(report), blessed=report.get("blessed"),
        datasets=[(d, _profile_rows(d.profile)) for d in lin.datasets], others=others,
        aliases=("production", "candidate", "canary", "shadow"))


@router.post("/models/{name}/versions/{version}/alias")
def set_alias(request: Request, caller: Editor, form: Form, name: str,
              version: int) -> Response:
    """Point an alias at this version (editor): what promoting by hand means."""
    alias = form.get("alias", "").strip()
    if not alias:
        raise InvalidArgument("Choose an alias to set.")
    caller.store.set_alias(name, alias, version, reason=form.get("reason", "")[:500]
                           or "set in the UI")
    return RedirectResponse(version_url(name, version) + "?done=alias", status_code=303)


def _pair(store: Any, name: str, a: int, b: int) -> tuple[ModelVersion, ModelVersion]:
    if a == b:
        raise InvalidArgument("Pick two different versions to compare.")
    return store.get_version(name, a), store.get_version(name, b)


@router.get("/models/{name}/compare")
def compare_page(request: Request, caller: Viewer, name: str, a: int, b: int) -> Response:
    """Two versions side by side: metrics with deltas, check verdicts, signature, params."""
    store = caller.store
    va, vb = _pair(store, name, a, b)
    metrics = []
    for key in sorted(set(va.metrics) | set(vb.metrics)):
        x, y = va.metrics.get(key), vb.metrics.get(key)
        delta = y - x if isinstance(x, int | float) and isinstance(y, int | float) else None
        metrics.append((key, x, y, delta))
    checks_a = {r["check"]: r for r in (va.check_report or {}).get("results", [])}
    checks_b = {r["check"]: r for r in (vb.check_report or {}).get("results", [])}
    checks = [(c, checks_a.get(c, {}).get("verdict", "—"), checks_b.get(c, {}).get("verdict", "—"))
              for c in list(dict.fromkeys([*checks_a, *checks_b]))]

    def columns(v: ModelVersion) -> dict[str, str]:
        return {str(c.get("name")): str(c.get("dtype"))
                for c in (v.signature or {}).get("inputs", []) if isinstance(c, Mapping)}

    cols_a, cols_b = columns(va), columns(vb)
    signature = [(c, cols_a.get(c, "—"), cols_b.get(c, "—"))
                 for c in list(dict.fromkeys([*cols_a, *cols_b]))]
    params_a = store.get_run(va.run_id).params if va.run_id else {}
    params_b = store.get_run(vb.run_id).params if vb.run_id else {}
    params = [(k, params_a.get(k, "—"), params_b.get(k, "—"))
              for k in sorted(set(params_a) | set(params_b))]
    return render(request, "compare.html", caller, title=f"{name}: v{a} vs v{b}", a=va, b=vb,
                  metrics=metrics, checks=checks, signature=signature, params=params,
                  versions=[v.version for v in store.list_versions(name)])


def not_found(what: str) -> NotFound:
    """A NotFound for a page (used by the router's 404 for unknown things)."""
    return NotFound(f"No {what}.")
