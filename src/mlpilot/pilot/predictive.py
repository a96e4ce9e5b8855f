"""Predictive rollback and early-signal risk for a running canary.

:func:`assess` forecasts each SLO metric of the canary (``latency_p99_ms``,
``error_rate``: above is bad; ``accuracy``: below is bad) from the monitor's metric
points for the canary version when there are enough of them, else from the inference
log summarised per ``bucket_seconds`` bucket, and asks
:func:`~mlpilot.pilot.forecast.should_roll_back` whether the SLO will be crossed within
the horizon at the policy's confidence. :func:`roll_back` then applies the rollback
exactly as the canary engine does (same routes, same ``params``, same decision target,
guarded by the deployment revision), with the forecast as the evidence.

:func:`early_signal_model` learns, from past rollouts in the decision log, how likely
a rollout is to fail given its canary analysis (:func:`learn_early_signals`); the
controller attaches that probability to each canary decision.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlpilot.core.entities import DecisionRecord, Deployment, Route
from mlpilot.core.errors import Conflict, InvalidArgument, NotFound
from mlpilot.core.jsonsafe import json_safe
from mlpilot.pilot.forecast import (
    EarlySignalModel,
    RollbackVerdict,
    forecast_metric,
    history_from_decisions,
    learn_early_signals,
    should_roll_back,
)

if TYPE_CHECKING:
    from mlpilot.pilot.policy import PredictiveSpec

#: SLO key -> (bad direction, the monitor's metric point name)
SLO_METRICS: dict[str, tuple[str, str]] = {
    "latency_p99_ms": ("above", "ops.latency_p99_ms"),
    "error_rate": ("above", "ops.error_rate"),
    "accuracy": ("below", "performance.accuracy"),
}
_SERIES_KEPT = 30  # points of each series kept in the evidence


@dataclass(frozen=True)
class Series:
    """One SLO metric of the canary over time."""

    metric: str
    slo: float
    direction: str
    source: str
    times: tuple[datetime, ...]
    values: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """Strict JSON: the last points only."""
        return json_safe({"metric": self.metric, "slo": self.slo, "direction": self.direction,
                          "source": self.source, "n": len(self.values),
                          "times": [t.isoformat() for t in self.times[-_SERIES_KEPT:]],
                          "values": list(self.values[-_SERIES_KEPT:])})


@dataclass(frozen=True)
class Assessment:
    """The verdict per SLO metric; ``worst`` is the one to act on (``None``: all fine)."""

    verdicts: dict[str, tuple[Series, RollbackVerdict]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def worst(self) -> tuple[Series, RollbackVerdict] | None:
        bad = [(s, v) for s, v in self.verdicts.values() if v.roll_back]
        return max(bad, key=lambda sv: sv[1].probability) if bad else None

    def to_dict(self) -> dict[str, Any]:
        """Strict JSON: each metric's forecast summary and why others were skipped."""
        return json_safe({
            "metrics": {m: {"source": s.source, "n": len(s.values), "slo": s.slo,
                            "last_value": v.evidence.get("last_value"),
                            "crossing_probability": v.probability, "roll_back": v.roll_back}
                        for m, (s, v) in self.verdicts.items()},
            "skipped": self.skipped})


def _slo_value(slos: Mapping[str, Any], key: str) -> float | None:
    value = slos.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
            value):
        return None
    return float(value)


def _from_points(store: Any, dep: Deployment, version: int, name: str,
                 since: datetime) -> tuple[list[datetime], list[float]]:
    points = store.list_metric_points(dep.model, name=name, version=version, since=since)
    points = [p for p in points if p.value is not None and p.deployment in ("", dep.name)]
    return [p.window_end for p in points], [float(p.value) for p in points]


def _log_buckets(log_dir: str | os.PathLike[str], dep: Deployment, version: int,
                 since: datetime, until: datetime, spec: PredictiveSpec,
                 ) -> dict[str, tuple[list[datetime], list[float]]]:
    """p99 latency and server-error rate of ``version`` per bucket of the inference log."""
    from mlpilot.serve.inference_log import read_frame

    out: dict[str, tuple[list[datetime], list[float]]] = {"latency_p99_ms": ([], []),
                                                          "error_rate": ([], [])}
    try:
        frame = read_frame(log_dir, since=since, until=until, model=dep.model)
    except (FileNotFoundError, NotFound):
        return out
    if frame.empty:
        return out
    frame = frame[(frame["deployment"] == dep.name) & (frame["version"] == version)]
    if frame.empty:
        return out
    times = pd.to_datetime(frame["time"], utc=True)
    origin = pd.Timestamp(since).tz_convert("UTC") if pd.Timestamp(since).tzinfo else (
        pd.Timestamp(since).tz_localize("UTC"))
    frame = frame.assign(_t=times, _b=np.floor(
        (times - origin).dt.total_seconds().to_numpy() / spec.bucket_seconds).astype(int))
    for _, group in frame.groupby("_b", sort=True):
        if len(group) < spec.min_requests:
            continue
        when = (origin + (group["_t"] - origin).mean()).to_pydatetime()
        status = group["status"].to_numpy()
        out["error_rate"][0].append(when)
        out["error_rate"][1].append(float((status >= 500).mean()))
        ok = group["latency_ms"].to_numpy(dtype=float)[status < 400]
        ok = ok[np.isfinite(ok)]
        if ok.size:
            out["latency_p99_ms"][0].append(when)
            out["latency_p99_ms"][1].append(float(np.percentile(ok, 99)))
    return out


def assess(store: Any, log_dir: str | os.PathLike[str], dep: Deployment, version: int,
           slos: Mapping[str, Any], spec: PredictiveSpec, *, now: datetime,
           since: datetime) -> Assessment:
    """Forecast every SLO metric of canary ``version`` over ``spec.horizon``.

    Args:
        store: the metadata store (metric points).
        log_dir: the inference log.
        dep: the canary deployment.
        version: the canary version.
        slos: the policy's SLOs (``latency_p99_ms``, ``error_rate``, ``accuracy``).
        spec: the policy's ``rollout.predictive`` block.
        now: the current time; since: where the series starts (the rollout's start).
    """
    assessment = Assessment()
    wanted = {k: v for k in SLO_METRICS if (v := _slo_value(slos, k)) is not None}
    if not wanted:
        return assessment
    logged: dict[str, tuple[list[datetime], list[float]]] | None = None
    for metric, slo in wanted.items():
        direction, point_name = SLO_METRICS[metric]
        times, values = _from_points(store, dep, version, point_name, since)
        source = "metric_points"
        if len(values) < spec.min_points and metric in ("latency_p99_ms", "error_rate"):
            if logged is None:
                logged = _log_buckets(log_dir, dep, version, since, now, spec)
            times, values = logged[metric]
            source = "inference_log"
        if len(values) < spec.min_points:
            assessment.skipped[metric] = (f"{len(values)} points of {spec.min_points} needed "
                                          "to forecast")
            continue
        try:
            fc = forecast_metric(times, values, spec.horizon, slo=slo, direction=direction,
                                 level=spec.confidence)
            verdict = should_roll_back(fc, slo, spec.confidence, direction=direction)
        except InvalidArgument as exc:
            assessment.skipped[metric] = exc.message
            continue
        assessment.verdicts[metric] = (Series(metric, slo, direction, source, tuple(times),
                                              tuple(values)), verdict)
    return assessment


def baseline_of(dep: Deployment) -> tuple[int, Route] | None:
    """The baseline version and the canary route (as the canary engine reads them)."""
    canary = next((r for r in dep.routes if r.role == "canary"), None)
    if canary is None:
        return None
    baseline = dep.params.get("baseline")
    if baseline is None:
        baseline = next((r.version for r in dep.routes
                         if r.role == "primary" and r.version != canary.version), None)
    return (int(baseline), canary) if baseline is not None else None


def roll_back(store: Any, dep: Deployment, baseline: int, canary: int, *, reason: str,
              evidence: dict[str, Any], now: datetime) -> DecisionRecord:
    """Roll the canary back as :class:`~mlpilot.delivery.engine.CanaryController` does.

    The decision is recorded on the deployment (pending) before the write and its outcome
    set after: ``applied``, ``superseded`` (the deployment changed since it was read) or
    ``failed``. The canary stays loaded at weight 0.
    """
    from mlpilot.delivery.engine import ROLLED_BACK, TARGET_KIND

    record = store.record_decision("rollback", TARGET_KIND, dep.name, reason=reason,
                                   evidence=json_safe({**evidence,
                                                       "deployment_revision": dep.revision,
                                                       "now": now.isoformat()}))
    routes = [Route(baseline, 1.0), Route(canary, 0.0, "canary")]
    try:
        new = store.put_deployment(
            dep.name, model=dep.model, strategy=dep.strategy, routes=routes,
            params={**dep.params, "baseline": baseline, "phase": ROLLED_BACK,
                    "rolled_back_at": now.isoformat(), "rolled_back_by": "forecast"},
            slos=dep.slos, status="active", expected_revision=dep.revision, reason=reason)
        outcome, detail = "applied", {"revision": new.revision,
                                      "routes": [[baseline, 1.0], [canary, 0.0]]}
    except Conflict as exc:
        outcome, detail = "superseded", {"error": str(exc), "expected_revision": dep.revision}
    except (NotFound, InvalidArgument) as exc:
        outcome, detail = "failed", {"error": str(exc)}
    result: DecisionRecord = store.set_decision_outcome(record.id, outcome, detail)
    return result


def early_signal_model(decisions: Sequence[DecisionRecord]) -> EarlySignalModel | None:
    """P(rollout fails | early canary evidence), learnt from finished rollouts (or None)."""
    rows = history_from_decisions(decisions)
    if not rows:
        return None
    return learn_early_signals(rows)


def rollout_since(now: datetime, lookback: timedelta, started: datetime | None) -> datetime:
    """Where the canary's series starts: ``lookback`` ago, never before the rollout."""
    since = now - lookback
    return max(since, started) if started is not None else since
