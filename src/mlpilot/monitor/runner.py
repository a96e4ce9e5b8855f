"""The monitor: a reconciler that turns the inference log into metric points and alerts.

:class:`Monitor` processes every *complete* window (epoch-aligned, ``window`` long)
since its cursor, reading each window once. Per window it stores
:class:`~mlpilot.core.entities.MetricPoint` s and raises de-duplicated alerts:

* ``drift.share`` and ``drift.<detector>`` per feature: :func:`drift_report` of the
  window against the training dataset's stored profile (BH-adjusted p-values and a
  minimum effect size). Optional (``MonitorConfig.domain_classifier``, slow):
  ``drift.domain_classifier`` on the raw snapshot.
* ``prediction_drift``: the window's outputs against the model's outputs on (a sample
  of) its training snapshot — probabilities when both sides have them, else
  predictions. Without a loadable snapshot or model, against the **first monitored
  window** (a sample of its predictions is kept in the cursor); ``details.reference``
  says which.
* ``quality.<check>`` per feature (``null_rate``, ``type_error``, ``out_of_range``,
  ``new_category``, ``missing_column``) and ``quality.flagged``.
* ``ops.requests``, ``ops.errors``, ``ops.error_rate``, ``ops.client_error_rate``,
  ``ops.throughput_rps``, ``ops.latency_p50_ms|p95_ms|p99_ms`` and, when the
  caller can say how many requests the gateway served (``served=``),
  ``ops.completeness`` = logged ÷ served. p99 latency, error rate and throughput are
  scored against a :class:`SeasonalBaseline` learned from the stored history of
  those points (anomalous points are not learned).
* ``performance.<metric>`` and ``labels.coverage`` from the feedback joined to the
  window. The store keeps a point per series and window once (``add_metric_points``
  skips existing ones), so realised performance is stored only when **final**: when
  label coverage reaches ``final_coverage``, or when the window leaves the
  ``label_lookback`` windows re-scored for late labels (with whatever labels it has).
  Until then the window stays in the cursor's pending list; a run that finds new
  feedback re-scores the pending windows, and provisional values still drive alerts.
* ``estimated.<metric>``: CBPE accuracy/ROC AUC/F1 when the window has probabilities
  and the training snapshot holds labels (``MonitorConfig.target`` or the one
  non-input column).

The cursor (``monitor:<model>:<deployment|*>:<version|*>:<seconds>s``) is claimed by
compare-and-set with a lease before any window is read and advanced after each one,
so two monitors never process the same window; a crashed monitor's claim expires.
The alert rules are :func:`alert_signals`; alerts go to ``store.raise_alert`` and,
when :mod:`mlpilot.monitor.alerting` exists, to its ``notify(alert, created)``.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import math
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlpilot.core.clock import as_utc, utcnow
from mlpilot.core.entities import Alert, MetricPoint
from mlpilot.core.errors import Conflict, InvalidArgument
from mlpilot.core.jsonsafe import json_safe
from mlpilot.monitor.baseline import BaselineScore, SeasonalBaseline
from mlpilot.monitor.drift import DriftReport, drift_report
from mlpilot.monitor.performance import (
    Performance,
    classification_performance,
    regression_performance,
)
from mlpilot.monitor.quality import QualityReport, check_quality
from mlpilot.monitor.source import (
    FEEDBACK_MARGIN,
    Reference,
    WindowData,
    _load_window,
    default_log_dir,
    read_labels,
    reference_for,
    resolve_version,
)

if TYPE_CHECKING:
    from mlpilot.monitor.cbpe import CBPE, CBPEEstimate
    from mlpilot.monitor.detector import DetectorResult
    from mlpilot.sdk._context import Context

__all__ = ["AlertSignal", "Monitor", "MonitorConfig", "MonitorResult", "WindowOutcome",
           "alert_signals", "parse_duration"]

logger = logging.getLogger("mlpilot.monitor")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CURSOR_VERSION = 1
SCORED_OPS = ("ops.latency_p99_ms", "ops.error_rate", "ops.throughput_rps")
DEFAULT_MIN_DEVIATION = {"ops.latency_p99_ms": 25.0, "ops.error_rate": 0.02,
                         "ops.throughput_rps": 0.0}
_FIRST_SAMPLE = 2_000  # predictions of the first window kept as the fallback reference
_TOP = 10  # signals kept in an alert's evidence


def parse_duration(text: str | float | int | timedelta) -> timedelta:
    """``"90s"``, ``"5m"``, ``"1h"``, ``"1d"``, ``"1h30m"`` or seconds -> a positive timedelta.

    Raises:
        InvalidArgument: an unreadable or non-positive duration.
    """
    if isinstance(text, timedelta):
        value = text
    elif isinstance(text, int | float) and not isinstance(text, bool):
        value = timedelta(seconds=float(text))
    else:
        import re

        raw = str(text).strip().lower()
        parts = re.fullmatch(r"((\d+(\.\d+)?)(d|h|m|s|ms))+", raw)
        if not parts:
            try:
                value = timedelta(seconds=float(raw))
            except ValueError:
                raise InvalidArgument(f"A duration looks like '90s', '5m', '1h' or '1d'. Got "
                                      f"{text!r}.") from None
        else:
            unit = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
            value = timedelta(seconds=sum(float(n) * unit[u] for n, _, u in
                                          re.findall(r"(\d+(\.\d+)?)(ms|d|h|m|s)", raw)))
    if value <= timedelta(0):
        raise InvalidArgument(f"A duration must be positive. Got {text!r}.")
    return value


@dataclass(frozen=True)
class MonitorConfig:
    """What the monitor computes and when it alerts.

    Attributes:
        max_backfill_windows: a first run starts at most this many windows back.
        max_windows_per_run: windows processed per run at most (catch-up continues next run).
        min_rows: rows a window needs for drift, quality and prediction drift.
        numeric_test: drift detector for numeric features.
        categorical_test: drift detector for categorical features.
        alpha: significance level (after the BH correction).
        min_effect: effect size below which a significant feature is not drifted.
        drift_share_critical: drifted share of features at which drift is critical.
        prediction_drift: compute prediction drift.
        quality: run the data-quality checks.
        domain_classifier: also run the (slow) multivariate domain classifier.
        label_lookback: windows re-scored when late feedback arrives.
        final_coverage: label coverage at which a window's performance is final.
        min_labelled: labelled rows a window needs before performance may alert.
        performance_tolerance: drop below the reference tolerated before alerting.
        n_resamples: bootstrap resamples for performance intervals.
        cbpe: estimate performance without labels (needs a labelled snapshot).
        baseline_seasonality: seasonality of the ops baselines.
        baseline_z: robust z-score at which an ops metric is anomalous.
        baseline_weeks: weeks of ops history learned.
        min_baseline_points: history an ops baseline needs before it may alert.
        ops_min_deviation: smallest absolute deviation that may alert, per ops metric.
        completeness_warning: logged ÷ served below this is a warning (critical at 0.9).
        reference_rows: the training snapshot is loaded up to this many rows.
        reference_sample: rows of the snapshot the model predicts for the reference.
        target: the label column of the training snapshot (default: auto).
        lease_seconds: how long a claim on the cursor lasts.
        seed: seed of every sample and bootstrap.
    """

    max_backfill_windows: int = 24
    max_windows_per_run: int = 168
    min_rows: int = 30
    numeric_test: str = "ks"
    categorical_test: str = "chi2"
    alpha: float = 0.05
    min_effect: float = 0.05
    drift_share_critical: float = 0.5
    prediction_drift: bool = True
    quality: bool = True
    domain_classifier: bool = False
    label_lookback: int = 24
    final_coverage: float = 0.95
    min_labelled: int = 30
    performance_tolerance: float = 0.0
    n_resamples: int = 200
    cbpe: bool = True
    baseline_seasonality: str = "hour_of_day"
    baseline_z: float = 4.0
    baseline_weeks: float = 4.0
    min_baseline_points: int = 12
    ops_min_deviation: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_MIN_DEVIATION))
    completeness_warning: float = 0.99
    reference_rows: int = 200_000
    reference_sample: int = 5_000
    target: str | None = None
    lease_seconds: float = 600.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("max_backfill_windows", "max_windows_per_run", "min_rows",
                     "label_lookback", "min_labelled", "min_baseline_points",
                     "reference_rows", "reference_sample"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgument(f"The '{name}' parameter of MonitorConfig must be an int "
                                      f">= 1. Got {value!r} instead.")
        for name in ("alpha", "final_coverage", "drift_share_critical",
                     "completeness_warning"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 < value <= 1:
                raise InvalidArgument(f"The '{name}' parameter of MonitorConfig must be in "
                                      f"(0, 1]. Got {value!r} instead.")
        for name, low in (("min_effect", 0.0), ("performance_tolerance", 0.0),
                          ("lease_seconds", 0.0), ("baseline_z", None),
                          ("baseline_weeks", None)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not \
                    math.isfinite(value) or (value < 0 if low is not None else value <= 0):
                rule = ">= 0" if low is not None else "> 0"
                raise InvalidArgument(f"The '{name}' parameter of MonitorConfig must be a "
                                      f"number {rule}. Got {value!r} instead.")


# --- results --------------------------------------------------------------------------------


@dataclass
class WindowOutcome:
    """Everything computed for one window (also what :func:`alert_signals` reads)."""

    since: datetime
    until: datetime
    records: int = 0
    rows: int = 0
    drift: DriftReport | None = None
    domain: DetectorResult | None = None
    prediction: DetectorResult | None = None
    prediction_reference: str | None = None
    quality: QualityReport | None = None
    ops: dict[str, float | None] = field(default_factory=dict)
    ops_scores: dict[str, BaselineScore] = field(default_factory=dict)
    performance: Performance | None = None
    performance_final: bool = False
    reference_metrics: dict[str, float] = field(default_factory=dict)
    estimate: CBPEEstimate | None = None
    importances: Mapping[str, float] = field(default_factory=dict)
    points: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A compact strict-JSON summary."""
        acc = self.performance["accuracy"] if self.performance is not None and \
            "accuracy" in self.performance.metrics else None
        est = self.estimate["accuracy"] if self.estimate is not None and \
            "accuracy" in self.estimate.metrics else None
        return json_safe({
            "since": self.since.isoformat(), "until": self.until.isoformat(),
            "records": self.records, "rows": self.rows,
            "drift_share": self.drift.share_drifted if self.drift else None,
            "drifted_features": list(self.drift.drifted_columns) if self.drift else [],
            "prediction_drift": None if self.prediction is None else {
                "statistic": self.prediction.statistic, "p_value": self.prediction.p_value,
                "drifted": self.prediction.drifted, "reference": self.prediction_reference},
            "quality_findings": [f"{f.column}:{f.check}" for f in self.quality.findings]
            if self.quality else [],
            "ops": dict(self.ops),
            "ops_verdicts": {k: s.verdict for k, s in self.ops_scores.items()},
            "accuracy": acc.value if acc else None,
            "label_coverage": self.performance.coverage if self.performance else None,
            "performance_final": self.performance_final,
            "estimated_accuracy": est.value if est else None,
            "points": self.points, "alerts": list(self.alerts), "notes": list(self.notes),
        })


@dataclass
class MonitorResult:
    """What one :meth:`Monitor.run_once` did.

    Attributes:
        model, deployment: what was monitored.
        windows: the processed windows, oldest first.
        rescored: window starts re-scored for late labels.
        points_written: metric points newly stored.
        alerts_opened: alerts newly opened.
        alerts_updated: signals folded into an open alert.
        cursor: the cursor's ``until`` after the run.
        skipped: why nothing was processed (``"busy"``: another monitor holds the claim).
        notes: reference notes and anything skipped.
    """

    model: str
    deployment: str | None
    windows: list[WindowOutcome] = field(default_factory=list)
    rescored: list[datetime] = field(default_factory=list)
    points_written: int = 0
    alerts_opened: int = 0
    alerts_updated: int = 0
    cursor: datetime | None = None
    skipped: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def windows_processed(self) -> int:
        return len(self.windows)

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON form."""
        return json_safe({
            "model": self.model, "deployment": self.deployment,
            "windows_processed": self.windows_processed,
            "points_written": self.points_written, "alerts_opened": self.alerts_opened,
            "alerts_updated": self.alerts_updated,
            "rescored": [t.isoformat() for t in self.rescored],
            "cursor": self.cursor.isoformat() if self.cursor else None,
            "skipped": self.skipped, "notes": list(self.notes),
            "windows": [w.to_dict() for w in self.windows],
        })


# --- alert rules ---------------------------------------------------------------------------


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


_NOTIFY: Any = None


def _notify(alert: Alert, created: bool, context: Context) -> None:
    """Hand the alert to ``mlpilot.monitor.alerting.notify`` when that module exists.

    It gets the monitor's settings (webhook URLs) and store (its notification state);
    it never raises by contract, and a failure here is logged, never propagated.
    """
    global _NOTIFY
    if _NOTIFY is None:
        try:
            module = importlib.import_module("mlpilot.monitor.alerting")
            _NOTIFY = getattr(module, "notify", False) or False
        except ImportError:
            _NOTIFY = False
    if _NOTIFY:
        try:
            _NOTIFY(alert, created, settings=context.settings, store=context.store)
        except Exception:  # a webhook outage must not stop monitoring
            logger.exception("Alert notification failed for %s", alert.key)


# --- the monitor ------------------------------------------------------------------------


def _floor(when: datetime, step: timedelta) -> datetime:
    return _EPOCH + ((as_utc(when) - _EPOCH) // step) * step


def _iso(when: datetime) -> str:
    return as_utc(when).isoformat()


def _parse(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text))


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


class Monitor:
    """Turns one model's inference log into metric points and alerts, window by window.

    Args:
        context: the stores.
        model: the model monitored.
        deployment: only this deployment's traffic (default: all of the model's).
        window: the window length (a timedelta or ``"1h"``-style text).
        version: only this version's traffic, compared with its own training data
            (default: all traffic, compared with the production version's).
        log_dir: the inference log (default: ``$MLPILOT_HOME/inference-log``).
        config: thresholds and options.
        served: optional ``(since, until) -> requests the gateway served`` (from its
            counters), for ``ops.completeness``; without it completeness is omitted.

    Raises:
        InvalidArgument: a non-positive window or bad names.
        NotFound: an unknown model or version.
    """

    def __init__(self, context: Context, model: str, *, deployment: str | None = None,
                 window: timedelta | str = timedelta(hours=1), version: int | None = None,
                 log_dir: str | os.PathLike[str] | None = None,
                 config: MonitorConfig | None = None,
                 served: Callable[[datetime, datetime], int | None] | None = None) -> None:
        self.window = parse_duration(window)
        if not isinstance(model, str) or not model:
            raise InvalidArgument(f"The model must be a non-empty name. Got {model!r}.")
        context.store.get_model(model)  # NotFound early, naming the model
        self.context, self.model, self.deployment, self.version = (context, model, deployment,
                                                                   version)
        self.log_dir = Path(log_dir) if log_dir is not None else default_log_dir(context)
        self.config = config or MonitorConfig()
        self.served = served
        self.key = (f"monitor:{model}:{deployment or '*'}:{version or '*'}:"
                    f"{int(self.window.total_seconds())}s")
        self._owner = uuid.uuid4().hex
        self._reference: Reference | None = None
        self._ref_outputs: tuple[Any, np.ndarray | None] | None = None
        self._cbpe: CBPE | None | bool = None
        self._domain: Any = None
        self._version_metrics: dict[str, float] | None = None
        self._held: dict[str, Any] = {}

    # -- reference ------------------------------------------------------------------------
    @property
    def reference(self) -> Reference:
        """The training reference (loaded once per monitor)."""
        if self._reference is None:
            self._reference = reference_for(self.context, self.model, self.version,
                                            max_rows=self.config.reference_rows,
                                            target=self.config.target)
        return self._reference

    def _sample(self, ref: Reference) -> tuple[pd.DataFrame, pd.Series | None] | None:
        if ref.frame is None or ref.frame.empty:
            return None
        n = len(ref.frame)
        if n <= self.config.reference_sample:
            return ref.frame, ref.labels
        rng = np.random.default_rng(self.config.seed)
        pick = np.sort(rng.choice(n, self.config.reference_sample, replace=False))
        labels = ref.labels.iloc[pick].reset_index(drop=True) if ref.labels is not None \
            else None
        return ref.frame.iloc[pick].reset_index(drop=True), labels

    def _reference_outputs(self) -> tuple[Any, np.ndarray | None] | None:
        """The model's predictions (and probabilities) on a sample of its training data."""
        if self._ref_outputs is None:
            ref = self.reference
            sample = self._sample(ref)
            self._ref_outputs = (None, None)
            if sample is not None:
                from mlpilot.sdk._registry import load

                try:
                    loaded = load(f"{self.model}/{ref.version}", context=self.context)
                    preds = np.asarray(loaded.predict(sample[0]))
                    proba = loaded.predict_proba(sample[0])
                    self._ref_outputs = (preds, None if proba is None else np.asarray(proba))
                except Exception as exc:  # unloadable/untrusted model: first-window fallback
                    logger.info("Reference predictions unavailable for %s: %s", self.model, exc)
        return None if self._ref_outputs[0] is None else self._ref_outputs

    def _cbpe_model(self) -> CBPE | None:
        if self._cbpe is None:
            self._cbpe = False
            ref = self.reference
            outputs = self._reference_outputs()
            sample = self._sample(ref)
            if (self.config.cbpe and outputs is not None and outputs[1] is not None
                    and sample is not None and sample[1] is not None
                    and ref.task == "classification"):
                from mlpilot.monitor.cbpe import CBPE

                try:
                    self._cbpe = CBPE(classes=ref.classes, seed=self.config.seed).fit(
                        outputs[1], sample[1].tolist(), outputs[0].tolist())
                except InvalidArgument as exc:
                    logger.info("CBPE unavailable for %s: %s", self.model, exc)
        return self._cbpe or None

    # -- the run --------------------------------------------------------------------------
    def run_once(self, now: datetime | None = None) -> MonitorResult:
        """Process every complete window since the cursor, then re-score late labels.

        Args:
            now: the time to act as of (default: the current time).

        Returns:
            The :class:`MonitorResult`; ``skipped="busy"`` when another monitor holds
            the cursor's claim.
        """
        now = as_utc(now) if now is not None else utcnow()
        store = self.context.store
        result = MonitorResult(self.model, self.deployment)
        cursor = store.get_monitor_cursor(self.key)
        claim = (cursor or {}).get("claim")
        if claim and claim.get("owner") != self._owner and _parse(claim["expires"]) > utcnow():
            result.skipped = "busy"
            result.cursor = _parse(cursor["until"]) if cursor and cursor.get("until") else None
            return result
        end = _floor(now, self.window)
        state: dict[str, Any] = dict(cursor or {"version": CURSOR_VERSION,
                                                "window_s": self.window.total_seconds(),
                                                "until": None, "pending": []})
        if state.get("until"):
            start = _parse(state["until"])
        else:
            start = end - self.config.max_backfill_windows * self.window
        stop = min(end, start + self.config.max_windows_per_run * self.window)
        claimed = {**state, "claim": {"owner": self._owner, "until": _iso(stop),
                                      "expires": _iso(utcnow() + timedelta(
                                          seconds=self.config.lease_seconds))}}
        try:
            store.set_monitor_cursor(self.key, claimed, expected=cursor)
        except Conflict:
            result.skipped = "busy"
            return result
        self._held = json_safe(claimed)
        try:
            self._run(result, state, start, stop)
        finally:
            final = {k: v for k, v in self._held.items() if k != "claim"}
            try:
                store.set_monitor_cursor(self.key, final, expected=self._held)
            except Conflict:
                logger.warning("Monitor cursor %s moved while this monitor held it.", self.key)
        result.cursor = _parse(final["until"]) if final.get("until") else None
        result.notes.extend(self.reference.notes)
        return result

    def _advance(self, **changes: Any) -> dict[str, Any]:
        """Move the held cursor (compare-and-set: Conflict if someone took it over)."""
        new = json_safe({**self._held, **changes})
        self.context.store.set_monitor_cursor(self.key, new, expected=self._held)
        self._held = new
        return new

    def _run(self, result: MonitorResult, state: dict[str, Any], start: datetime,
             stop: datetime) -> None:
        pending: list[list[Any]] = [list(p) for p in state.get("pending") or []]
        t = start
        windows = []
        while t + self.window <= stop:
            windows.append((t, t + self.window))
            t += self.window
        earliest = min([start] + [_parse(p[0]) for p in pending])
        labels: dict[str, Any] = {}
        digest = state.get("labels_digest")
        if windows or pending:  # nothing to label otherwise: skip reading the feedback
            labels = read_labels(self.log_dir, since=earliest - FEEDBACK_MARGIN)
            digest = hashlib.sha256(repr(sorted((k, repr(v)) for k, v in labels.items()))
                                    .encode()).hexdigest()[:16]
        history = self._ops_history(start) if windows else {}
        seen = bool(state.get("seen_traffic"))
        for since, until in windows:
            data = _load_window(self.context, self.model, since, until,
                                deployment=self.deployment, version=self.version,
                                log_dir=self.log_dir, labels=labels, check_model=False)
            if not seen and data.records == 0:
                self._advance(until=_iso(until))
                continue
            seen = True
            changes: dict[str, Any] = {"until": _iso(until), "seen_traffic": True}
            if "first_predictions" not in self._held and data.rows:
                rng = np.random.default_rng(self.config.seed)
                preds = data.predictions.tolist()
                if len(preds) > _FIRST_SAMPLE:
                    preds = [preds[i] for i in sorted(rng.choice(len(preds), _FIRST_SAMPLE,
                                                                 replace=False))]
                changes["first_predictions"] = [_jsonable(p) for p in preds]
                changes["first_window"] = _iso(since)
            aged = since < stop - self.config.label_lookback * self.window
            outcome = self._process(data, history, self._held, aged=aged)
            if data.rows and not outcome.performance_final:
                pending.append([_iso(since), outcome.performance.labelled
                                if outcome.performance else 0])
            self._alert(outcome, result)
            result.windows.append(outcome)
            result.points_written += outcome.points
            changes["pending"] = pending
            self._advance(**changes)
        # late labels: re-score the pending windows this run did not just process
        processed = {_iso(w.since) for w in result.windows}
        changed = digest != state.get("labels_digest")
        keep = []
        for since_text, labelled in pending:
            since = _parse(since_text)
            aged = since < stop - self.config.label_lookback * self.window
            if since_text in processed or not (changed or aged):
                keep.append([since_text, labelled])
                continue
            outcome = self._rescore(since, labels, aged)
            if outcome is None:
                continue  # aged out without labels
            result.rescored.append(since)
            result.points_written += outcome.points
            self._alert(outcome, result, performance_only=True)
            if not outcome.performance_final:
                keep.append([since_text, outcome.performance.labelled
                             if outcome.performance else 0])
        self._advance(pending=keep, labels_digest=digest)

    # -- one window --------------------------------------------------------------------
    def _point(self, name: str, data: WindowData | WindowOutcome, value: float | None,
               feature: str = "", details: Mapping[str, Any] | None = None) -> MetricPoint:
        v = None if value is None else float(value)
        return MetricPoint(model=self.model, name=name, window_start=data.since,
                           window_end=data.until, value=v if v is None or math.isfinite(v)
                           else None, deployment=self.deployment or "",
                           version=self.version or 0, feature=feature,
                           details=dict(details or {}))

    def _process(self, data: WindowData, history: dict[str, SeasonalBaseline],
                 cursor: Mapping[str, Any], aged: bool) -> WindowOutcome:
        ref = self.reference
        cfg = self.config
        w = WindowOutcome(data.since, data.until, data.records, data.rows,
                          importances=ref.importances)
        points: list[MetricPoint] = []
        enough = data.rows >= cfg.min_rows
        # feature drift
        if enough and ref.profile and ref.profile.get("columns"):
            cols = [c for c in ref.features if c in data.features.columns]
            try:
                w.drift = drift_report(ref.profile, data.features[cols],
                                       numeric=cfg.numeric_test,
                                       categorical=cfg.categorical_test, alpha=cfg.alpha,
                                       min_effect=cfg.min_effect)
            except InvalidArgument as exc:
                w.notes.append(f"drift skipped: {exc}")
            if w.drift is not None:
                points.append(self._point("drift.share", data, w.drift.share_drifted, details={
                    "drifted_columns": w.drift.drifted_columns,
                    "dataset_drifted": w.drift.dataset_drifted,
                    "n_reference": w.drift.n_reference, "n_current": w.drift.n_current,
                    "skipped": dict(w.drift.skipped), "reference_version": ref.version}))
                for name, col in w.drift.columns.items():
                    points.append(self._point(f"drift.{col.result.detector}", data,
                                              col.result.statistic, name, col.to_dict()))
        elif not enough:
            w.notes.append(f"{data.rows} rows < min_rows={cfg.min_rows}: drift, quality and "
                           "prediction drift skipped")
        if enough and cfg.domain_classifier and ref.frame is not None:
            self._domain_drift(w, data, points)
        # prediction drift
        if enough and cfg.prediction_drift:
            self._prediction_drift(w, data, cursor, points)
        # data quality
        if enough and cfg.quality and ref.profile and ref.profile.get("columns"):
            try:
                w.quality = check_quality(data.features, ref.profile, ref.schema)
            except InvalidArgument as exc:
                w.notes.append(f"quality skipped: {exc}")
            if w.quality is not None:
                for col in w.quality.columns.values():
                    for check, f in col.checks.items():
                        points.append(self._point(f"quality.{check}", data, f.share,
                                                  col.column, f.to_dict()))
                points.append(self._point("quality.flagged", data, len(w.quality.findings),
                                          details={"findings": [f"{f.column}:{f.check}"
                                                                for f in w.quality.findings]}))
        # operations
        self._ops(w, data, history, points)
        # performance (labels) and its label-free estimate
        self._performance(w, data, aged)
        points.extend(self._performance_points(w, data))
        self._estimate(w, data, points)
        w.points = self.context.store.add_metric_points(points)
        return w

    def _domain_drift(self, w: WindowOutcome, data: WindowData,
                      points: list[MetricPoint]) -> None:
        from mlpilot.monitor.multivariate import DomainClassifier

        ref = self.reference
        cols = [c for c in ref.frame.columns if c in data.features.columns]  # type: ignore[union-attr]
        try:
            if self._domain is None:
                self._domain = DomainClassifier(random_state=self.config.seed).fit(
                    ref.frame[cols])  # type: ignore[index]
            w.domain = self._domain.score(data.features[cols])
        except (InvalidArgument, TypeError) as exc:
            w.notes.append(f"domain classifier skipped: {exc}")
            return
        points.append(self._point("drift.domain_classifier", data, w.domain.statistic,
                                  details=w.domain.to_dict()))

    def _prediction_drift(self, w: WindowOutcome, data: WindowData, cursor: Mapping[str, Any],
                          points: list[MetricPoint]) -> None:
        from mlpilot.monitor.outputs import prediction_drift

        outputs = self._reference_outputs()
        current: Any = data.predictions.dropna()
        reference: Any = None
        if outputs is not None:
            preds, proba = outputs
            w.prediction_reference = f"training snapshot of v{self.reference.version}"
            reference = preds
            if proba is not None and data.probabilities is not None and \
                    proba.shape[1] == data.probabilities.shape[1]:
                reference, current = proba, data.probabilities
        elif cursor.get("first_predictions"):
            reference = pd.Series(cursor["first_predictions"]).infer_objects()
            w.prediction_reference = f"first monitored window ({cursor.get('first_window')})"
        if reference is None or len(current) == 0:
            return
        try:
            w.prediction = prediction_drift(reference, current, alpha=self.config.alpha)
        except InvalidArgument as exc:
            w.notes.append(f"prediction drift skipped: {exc}")
            return
        points.append(self._point("prediction_drift", data, w.prediction.statistic, details={
            **w.prediction.to_dict(), "reference": w.prediction_reference}))

    def _ops_history(self, start: datetime) -> dict[str, SeasonalBaseline]:
        cfg = self.config
        out = {}
        for name in SCORED_OPS:
            base = SeasonalBaseline(seasonality=cfg.baseline_seasonality,
                                    z_threshold=cfg.baseline_z, max_weeks=cfg.baseline_weeks,
                                    min_deviation=float(cfg.ops_min_deviation.get(name, 0.0)))
            stored = self.context.store.list_metric_points(
                self.model, name=name, deployment=self.deployment or "",
                version=self.version or 0, since=start - timedelta(weeks=cfg.baseline_weeks),
                until=start, limit=100_000)
            for p in stored:
                verdict = (p.details.get("baseline") or {}).get("verdict")
                if p.value is not None and verdict not in ("high", "low"):
                    base.update(p.window_start, p.value)
            out[name] = base
        return out

    def _ops(self, w: WindowOutcome, data: WindowData, history: dict[str, SeasonalBaseline],
             points: list[MetricPoint]) -> None:
        o = data.ops
        values: dict[str, float | None] = {
            "ops.requests": o.requests, "ops.errors": o.errors, "ops.error_rate": o.error_rate,
            "ops.client_error_rate": o.client_error_rate, "ops.throughput_rps": o.throughput_rps,
            "ops.latency_p50_ms": o.latency_p50_ms, "ops.latency_p95_ms": o.latency_p95_ms,
            "ops.latency_p99_ms": o.latency_p99_ms}
        if self.served is not None:
            served = self.served(data.since, data.until)
            if served:
                values["ops.completeness"] = min(1.0, o.requests / served)
        w.ops = values
        for name, value in values.items():
            details: dict[str, Any] = {}
            base = history.get(name)
            if base is not None and value is not None and math.isfinite(value):
                score = base.score(data.since, value)
                if base.history_size < self.config.min_baseline_points:
                    score = replace(score, verdict="unknown")
                w.ops_scores[name] = score
                details["baseline"] = score.to_dict()
                if not score.anomalous:
                    base.update(data.since, value)
            points.append(self._point(name, data, value, details=details))

    def _performance(self, w: WindowOutcome, data: WindowData, aged: bool) -> None:
        """Realised performance; final at ``final_coverage`` or once ``aged`` out."""
        ref = self.reference
        mask = data.labels.notna().to_numpy()
        requests = int(data.request_ids.nunique())
        if not mask.any() or not requests:
            return
        y = data.labels[mask].tolist()
        p = data.predictions[mask].tolist()
        task = ref.task or ("regression" if pd.api.types.is_float_dtype(data.predictions.dtype)
                            else "classification")
        try:
            if task == "regression":
                w.performance = regression_performance(
                    y, p, n_resamples=self.config.n_resamples, seed=self.config.seed,
                    predicted=requests)
            else:
                proba = None
                if data.probabilities is not None and (
                        ref.classes is None or data.probabilities.shape[1] == len(ref.classes)):
                    proba = data.probabilities[mask]
                w.performance = classification_performance(
                    y, p, proba, classes=ref.classes, n_resamples=self.config.n_resamples,
                    seed=self.config.seed, predicted=requests)
        except InvalidArgument as exc:
            w.notes.append(f"performance skipped: {exc}")
            return
        labelled_requests = int(data.request_ids[mask].nunique())
        coverage = labelled_requests / requests
        w.performance = replace(w.performance, labelled=labelled_requests, coverage=coverage)
        w.performance_final = coverage >= self.config.final_coverage or aged
        w.reference_metrics = self._reference_metrics(task)

    def _reference_metrics(self, task: str) -> dict[str, float]:
        if task != "classification":
            return {}
        cbpe = self._cbpe_model()
        if cbpe is not None and cbpe.reference_.get("accuracy") is not None:
            return {"accuracy": float(cbpe.reference_["accuracy"])}
        if self._version_metrics is None:
            self._version_metrics = dict(resolve_version(
                self.context, self.model, self.reference.version).metrics)
        value = self._version_metrics.get("accuracy")
        return {"accuracy": float(value)} if isinstance(value, int | float) else {}

    def _performance_points(self, w: WindowOutcome, data: WindowData | WindowOutcome
                            ) -> list[MetricPoint]:
        perf = w.performance
        if perf is None or not w.performance_final:
            return []
        common = {"rows": perf.rows, "labelled": perf.labelled, "predicted": perf.predicted,
                  "coverage": perf.coverage, "confidence": perf.confidence}
        out = [self._point(f"performance.{name}", data, m.value,
                           details={**m.to_dict(), **common})
               for name, m in perf.metrics.items()]
        out.append(self._point("labels.coverage", data, perf.coverage, details=common))
        return out

    def _estimate(self, w: WindowOutcome, data: WindowData, points: list[MetricPoint]) -> None:
        if data.probabilities is None or not data.rows:
            return
        cbpe = self._cbpe_model()
        if cbpe is None:
            return
        try:
            w.estimate = cbpe.estimate(data.probabilities, data.predictions.tolist())
        except InvalidArgument as exc:
            w.notes.append(f"CBPE skipped: {exc}")
            return
        for name, m in w.estimate.metrics.items():
            points.append(self._point(f"estimated.{name}", data, m.value, details=m.to_dict()))

    def _rescore(self, since: datetime, labels: Mapping[str, Any], aged: bool
                 ) -> WindowOutcome | None:
        data = _load_window(self.context, self.model, since, since + self.window,
                            deployment=self.deployment, version=self.version,
                            log_dir=self.log_dir, labels=labels, check_model=False)
        w = WindowOutcome(data.since, data.until, data.records, data.rows)
        self._performance(w, data, aged)
        if w.performance is None:
            return None if aged else w
        w.points = self.context.store.add_metric_points(self._performance_points(w, data))
        return w

    def _alert(self, w: WindowOutcome, result: MonitorResult, *,
               performance_only: bool = False) -> None:
        for s in alert_signals(self.model, self.deployment, w, self.config):
            if performance_only and s.kind != "performance":
                continue
            alert, created = self.context.store.raise_alert(
                s.key, model=self.model, kind=s.kind, severity=s.severity, title=s.title,
                summary=s.summary, evidence=s.evidence, deployment=self.deployment or "",
                time=w.until)
            if created:
                result.alerts_opened += 1
            else:
                result.alerts_updated += 1
            w.alerts.append({"key": s.key, "severity": s.severity, "created": created,
                             "id": alert.id})
            _notify(alert, created, self.context)
