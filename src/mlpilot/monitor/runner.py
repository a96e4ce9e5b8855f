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
  window, stored as soon as a window has labels and **revised** (``upsert_metric_points``)
  as more arrive: ``details.provisional`` is true and ``details.coverage`` says how far
  labelling got until the window is **final** — label coverage reaches
  ``final_coverage``, or the window leaves the ``label_lookback`` windows re-scored for
  late labels (final with whatever labels it has). Until then it stays in the cursor's
  pending list; a run that finds new feedback re-scores the pending windows. A
  re-scored window raises its performance alert again only when its verdict changes or
  it turns final.
* ``estimated.<metric>``: CBPE accuracy/ROC AUC/F1 when the window has probabilities
  and the training snapshot holds labels (``MonitorConfig.target`` or the one
  non-input column).

The cursor (:mod:`mlpilot.monitor.cursor`) is claimed with a lease before any window
is read (created only if absent on a first run) and advanced after each one, so two
monitors never process the same window. The alert rules are
:func:`~mlpilot.monitor.alert_rules.alert_signals`; alerts go to ``store.raise_alert``
and, when :mod:`mlpilot.monitor.alerting` exists, to its ``notify(alert, created)``.
Configuration and result types live in :mod:`~mlpilot.monitor.monitor_config` and
:mod:`~mlpilot.monitor.results` and are re-exported here.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import math
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlpilot.core.clock import as_utc, utcnow
from mlpilot.core.entities import Alert, MetricPoint
from mlpilot.core.errors import Conflict, InvalidArgument
from mlpilot.monitor.alert_rules import AlertSignal, alert_signals
from mlpilot.monitor.baseline import SeasonalBaseline
from mlpilot.monitor.cursor import CURSOR_VERSION, CursorLease, floor_time, from_iso, to_iso
from mlpilot.monitor.drift import drift_report
from mlpilot.monitor.monitor_config import SCORED_OPS, MonitorConfig, parse_duration
from mlpilot.monitor.performance import classification_performance, regression_performance
from mlpilot.monitor.quality import check_quality
from mlpilot.monitor.results import MonitorResult, WindowOutcome
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
    from mlpilot.monitor.cbpe import CBPE
    from mlpilot.sdk._context import Context

# The config, result and alert-rule names are re-exported: callers import them from here.
__all__ = ["AlertSignal", "Monitor", "MonitorConfig", "MonitorResult", "WindowOutcome",
           "alert_signals", "parse_duration"]

logger = logging.getLogger("mlpilot.monitor")

_FIRST_SAMPLE = 2_000  # predictions of the first window kept as the fallback reference


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
        self._lease = CursorLease(context.store, self.key, owner=uuid.uuid4().hex,
                                  lease_seconds=self.config.lease_seconds)
        self._reference: Reference | None = None
        self._ref_outputs: tuple[Any, np.ndarray | None] | None = None
        self._cbpe: CBPE | None | bool = None
        self._domain: Any = None
        self._version_metrics: dict[str, float] | None = None

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
        result = MonitorResult(self.model, self.deployment)
        cursor = self._lease.read()
        if self._lease.busy(cursor):
            result.skipped = "busy"
            result.cursor = from_iso(cursor["until"]) if cursor and cursor.get("until") \
                else None
            return result
        end = floor_time(now, self.window)
        state: dict[str, Any] = dict(cursor or {"version": CURSOR_VERSION,
                                                "window_s": self.window.total_seconds(),
                                                "until": None, "pending": []})
        if state.get("until"):
            start = from_iso(state["until"])
        else:
            start = end - self.config.max_backfill_windows * self.window
        stop = min(end, start + self.config.max_windows_per_run * self.window)
        if not self._lease.claim(cursor, state, stop):
            result.skipped = "busy"
            return result
        try:
            self._run(result, state, start, stop)
        finally:
            try:
                final = self._lease.release()
            except Conflict:
                final = self._lease.held
                logger.warning("Monitor cursor %s moved while this monitor held it.", self.key)
        result.cursor = from_iso(final["until"]) if final.get("until") else None
        result.notes.extend(self.reference.notes)
        return result

    def _run(self, result: MonitorResult, state: dict[str, Any], start: datetime,
             stop: datetime) -> None:
        pending: list[list[Any]] = [list(p) for p in state.get("pending") or []]
        t = start
        windows = []
        while t + self.window <= stop:
            windows.append((t, t + self.window))
            t += self.window
        earliest = min([start] + [from_iso(p[0]) for p in pending])
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
                self._lease.advance(until=to_iso(until))
                continue
            seen = True
            changes: dict[str, Any] = {"until": to_iso(until), "seen_traffic": True}
            if "first_predictions" not in self._lease.held and data.rows:
                rng = np.random.default_rng(self.config.seed)
                preds = data.predictions.tolist()
                if len(preds) > _FIRST_SAMPLE:
                    preds = [preds[i] for i in sorted(rng.choice(len(preds), _FIRST_SAMPLE,
                                                                 replace=False))]
                changes["first_predictions"] = [_jsonable(p) for p in preds]
                changes["first_window"] = to_iso(since)
            aged = since < stop - self.config.label_lookback * self.window
            outcome = self._process(data, history, self._lease.held, aged=aged)
            signals = alert_signals(self.model, self.deployment, outcome, self.config)
            self._alert(outcome, result, signals)
            if data.rows and not outcome.performance_final:
                pending.append([to_iso(since), outcome.performance.labelled
                                if outcome.performance else 0, _performance_severity(signals)])
            result.windows.append(outcome)
            result.points_written += outcome.points
            changes["pending"] = pending
            self._lease.advance(**changes)
        # late labels: re-score the pending windows this run did not just process
        processed = {to_iso(w.since) for w in result.windows}
        changed = digest != state.get("labels_digest")
        keep = []
        for entry in pending:
            since_text, raised = entry[0], entry[2] if len(entry) > 2 else ""
            since = from_iso(since_text)
            aged = since < stop - self.config.label_lookback * self.window
            if since_text in processed or not (changed or aged):
                keep.append(entry)
                continue
            outcome = self._rescore(since, labels, aged)
            if outcome is None:
                continue  # aged out without labels
            result.rescored.append(since)
            result.points_written += outcome.points
            signals = [s for s in alert_signals(self.model, self.deployment, outcome,
                                                self.config) if s.kind == "performance"]
            severity = _performance_severity(signals)
            # a window re-raises only when its verdict changes or turns final: labels
            # trickling in do not count one incident's window again and again
            if severity != raised or outcome.performance_final:
                self._alert(outcome, result, signals)
            if not outcome.performance_final:
                keep.append([since_text, outcome.performance.labelled
                             if outcome.performance else 0, severity])
        self._lease.advance(pending=keep, labels_digest=digest)

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
        self._estimate(w, data, points)
        store = self.context.store
        w.points = store.add_metric_points(points) + \
            store.upsert_metric_points(self._performance_points(w, data))
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
        """``performance.<metric>`` and ``labels.coverage``; provisional until final."""
        perf = w.performance
        if perf is None:
            return []
        common = {"rows": perf.rows, "labelled": perf.labelled, "predicted": perf.predicted,
                  "coverage": perf.coverage, "confidence": perf.confidence,
                  "provisional": not w.performance_final}
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
        w.points = self.context.store.upsert_metric_points(self._performance_points(w, data))
        return w

    def _alert(self, w: WindowOutcome, result: MonitorResult,
               signals: list[AlertSignal]) -> None:
        """Raise ``signals`` (the store folds each into its incident's open alert)."""
        for s in signals:
            alert, created = self.context.store.raise_alert(
                s.key, model=self.model, kind=s.kind, severity=s.severity, title=s.title,
                summary=s.summary, deployment=self.deployment or "", time=w.until,
                # a version-filtered monitor says so: the diagnosis reads the same slice
                evidence={**s.evidence, "version": self.version} if self.version
                else s.evidence)
            if created:
                result.alerts_opened += 1
            else:
                result.alerts_updated += 1
            w.alerts.append({"key": s.key, "severity": s.severity, "created": created,
                             "id": alert.id})
            _notify(alert, created, self.context)


def _performance_severity(signals: list[AlertSignal]) -> str:
    """The severity of the first performance signal ("" when none): what a window raised."""
    return next((s.severity for s in signals if s.kind == "performance"), "")
