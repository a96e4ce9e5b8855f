"""The alert rules: which alerts one window's results call for (pure; no I/O).

:func:`alert_signals` turns a :class:`~mlpilot.monitor.results.WindowOutcome` into
:class:`AlertSignal` s whose keys group by incident (``model:deployment:kind``), so the
store folds every window of one incident into one alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlpilot.monitor.monitor_config import MonitorConfig
from mlpilot.monitor.results import WindowOutcome

__all__ = ["AlertSignal", "alert_signals"]

_TOP = 10  # signals kept in an alert's evidence


@dataclass(frozen=True)
class AlertSignal:
    """One alert to raise: its de-duplication key, kind, severity, words and evidence."""

    key: str
    kind: str
    severity: str
    title: str
    summary: str
    evidence: dict[str, Any]


def _window_ev(w: WindowOutcome) -> dict[str, Any]:
    return {"window_start": w.since.isoformat(), "window_end": w.until.isoformat(),
            "rows": w.rows, "records": w.records}


def alert_signals(model: str, deployment: str | None, w: WindowOutcome,
                  config: MonitorConfig) -> list[AlertSignal]:
    """The alerts one window's results call for. Keys group by incident, not window/feature.

    Rules (``<m>:<d>`` is ``model:deployment``, ``*`` for every deployment):

    * ``<m>:<d>:drift`` — drifted share >= ``drift_share_critical``: critical; any drifted
      feature, prediction drift or domain-classifier drift: warning. Evidence: the drifted
      features by effect size (statistic, p-values, effect, SHAP importance).
    * ``<m>:<d>:quality`` — a missing column or type errors: critical; other flagged
      checks (nulls, range, new categories): warning.
    * ``<m>:<d>:performance`` — realised metric's upper CI bound below the reference minus
      ``performance_tolerance`` with >= ``min_labelled`` rows: critical; a CBPE estimate
      flagged degraded: warning.
    * ``<m>:<d>:latency`` / ``:errors`` / ``:traffic`` — an ops metric outside its seasonal
      baseline band (with >= ``min_baseline_points`` history): warning; p99 latency at 3x
      the expected value or an error rate >= 10%: critical.
    * ``<m>:<d>:completeness`` — logged ÷ served below ``completeness_warning``: warning;
      below 0.9: critical.
    """
    base = f"{model}:{deployment or '*'}"
    out: list[AlertSignal] = []
    ev = _window_ev(w)
    # drift
    drifted: list[dict[str, Any]] = []
    if w.drift is not None:
        for name in w.drift.drifted_columns:
            col = w.drift.columns[name]
            drifted.append({"feature": name, "detector": col.result.detector,
                            "statistic": col.result.statistic, "p_value": col.result.p_value,
                            "p_value_adjusted": col.p_value_adjusted,
                            "effect_size": col.result.effect_size,
                            "importance": w.importances.get(name)})
        drifted.sort(key=lambda d: -(d["effect_size"] or 0.0))
    pred = w.prediction if w.prediction is not None and w.prediction.drifted else None
    domain = w.domain if w.domain is not None and w.domain.drifted else None
    if drifted or pred or domain:
        share = w.drift.share_drifted if w.drift else 0.0
        critical = share >= config.drift_share_critical
        what = (f"{len(drifted)} of {len(w.drift.columns)} features drifted "
                f"({', '.join(d['feature'] for d in drifted[:5])})" if drifted and w.drift
                else "no single feature drifted")
        if pred:
            what += "; predictions drifted"
        out.append(AlertSignal(
            f"{base}:drift", "drift", "critical" if critical else "warning",
            f"Data drift on {model}" + (f" ({deployment})" if deployment else ""),
            f"{what} in the window {w.since:%Y-%m-%d %H:%M}–{w.until:%H:%M} UTC.",
            {**ev, "share_drifted": share, "features": drifted[:_TOP],
             "prediction_drift": None if pred is None else {
                 "statistic": pred.statistic, "p_value": pred.p_value,
                 "effect_size": pred.effect_size, "reference": w.prediction_reference},
             "domain_classifier": None if domain is None else {
                 "statistic": domain.statistic, "p_value": domain.p_value}}))
    # quality
    if w.quality is not None and w.quality.findings:
        findings = [f.to_dict() for f in w.quality.findings]
        critical = any(f.check in ("missing_column", "type_error") for f in w.quality.findings)
        cols = sorted({f.column for f in w.quality.findings})
        out.append(AlertSignal(
            f"{base}:quality", "quality", "critical" if critical else "warning",
            f"Data quality issues on {model}",
            f"{len(findings)} failed checks on {', '.join(cols[:5])}.",
            {**ev, "findings": findings[:_TOP]}))
    # performance
    perf = w.performance
    if perf is not None and perf.rows >= config.min_labelled:
        for name, ref in w.reference_metrics.items():
            m = perf.metrics.get(name)
            if m is None or m.value is None:
                continue
            upper = m.upper if m.upper is not None else m.value
            if upper < ref - config.performance_tolerance:
                out.append(AlertSignal(
                    f"{base}:performance", "performance", "critical",
                    f"{name} dropped on {model}",
                    f"{name} {m.value:.3f} (CI up to {upper:.3f}) is below the reference "
                    f"{ref:.3f} on {perf.rows} labelled rows.",
                    {**ev, "metric": name, "value": m.value, "lower": m.lower, "upper": upper,
                     "reference": ref, "labelled_rows": perf.rows,
                     "coverage": perf.coverage, "final": w.performance_final}))
                break
    if w.estimate is not None and w.estimate.degraded:
        bad = [m.to_dict() for m in w.estimate.metrics.values() if m.degraded]
        out.append(AlertSignal(
            f"{base}:performance", "performance", "warning",
            f"Estimated performance drop on {model}",
            f"CBPE estimates {', '.join(b['name'] for b in bad)} below the reference "
            "(no labels needed).", {**ev, "estimated": bad}))
    # operations
    for name, score in w.ops_scores.items():
        if not score.anomalous or score.history < config.min_baseline_points:
            continue
        kind = {"ops.latency_p99_ms": "latency", "ops.error_rate": "errors",
                "ops.throughput_rps": "traffic"}[name]
        expected = score.expected or 0.0
        critical = (kind == "latency" and score.verdict == "high" and expected > 0
                    and score.value >= 3 * expected) or (
            kind == "errors" and score.value >= 0.10)
        out.append(AlertSignal(
            f"{base}:{kind}", kind, "critical" if critical else "warning",
            f"{name[4:]} {score.verdict} on {model}",
            f"{name[4:]} = {score.value:.4g} against an expected {expected:.4g} "
            f"(normal band {score.lower:.4g}–{score.upper:.4g}, z = {score.z:.1f}).",
            {**ev, "metric": name, **score.to_dict()}))
    completeness = w.ops.get("ops.completeness")
    if completeness is not None and completeness < config.completeness_warning:
        out.append(AlertSignal(
            f"{base}:completeness", "completeness",
            "critical" if completeness < 0.9 else "warning",
            f"Inference log incomplete for {model}",
            f"Only {completeness:.1%} of the requests served were logged.",
            {**ev, "completeness": completeness, "logged": w.records}))
    return out
