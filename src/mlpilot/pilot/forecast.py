"""Forecasts the autopilot acts on: a metric's trend, deployment risk, traffic.

* :func:`forecast_metric` — a robust linear trend (Theil–Sen) with a residual-based
  prediction interval, and the probability/time that the series crosses an SLO
  within the horizon. :func:`should_roll_back` turns it into a verdict: roll back
  *before* the SLO is crossed when the forecast is confident it will be.
* :func:`learn_early_signals` — a small logistic model, fitted on past
  deployments, of "this rollout will fail" from its early canary evidence
  (error-rate delta, latency ratio, prediction divergence, accuracy delta).
* :func:`forecast_traffic` / :func:`quietest_window` — requests per hour with
  daily or weekly seasonality (robust per-slot median and MAD, reusing
  :class:`~mlpilot.monitor.baseline.SeasonalBaseline`), and the quietest window to
  schedule a risky rollout into.

Assumptions, stated once: the metric forecast is linear over the horizon (good
for a few hours of a slow degradation; it does not model seasonality) and its
residuals are roughly normal around the trend; the traffic forecast assumes the
recent weeks repeat.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from scipy import stats

from mlpilot.core.errors import InvalidArgument
from mlpilot.core.jsonsafe import json_safe
from mlpilot.monitor.baseline import SeasonalBaseline

__all__ = ["EARLY_FEATURES", "EarlySignalModel", "MetricForecast", "RollbackVerdict",
           "TrafficForecast", "early_features", "forecast_metric", "forecast_traffic",
           "learn_early_signals", "quietest_window", "should_roll_back"]

MAD_SCALE = 1.4826
HOUR = timedelta(hours=1)


def _utc(value: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidArgument(f"Expected a datetime. Got {type(value).__name__}.")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- metric trend -----------------------------------------------------------------
@dataclass(frozen=True)
class MetricForecast:
    """A metric's trend forecast.

    Attributes:
        times: the forecast times (``horizon`` split into ``steps`` points after the
            last observation).
        mean: the trend's value at each time.
        lower, upper: the prediction interval at ``level``.
        level: the interval's coverage (e.g. 0.9).
        slope: change per second (per unit of ``times`` when they are numbers).
        intercept: value at the first observation.
        sigma: robust residual scale (1.4826 × MAD of the residuals).
        n: observations used.
        slo: the SLO the crossing fields refer to, or ``None``.
        direction: ``"above"`` (crossing means rising above the SLO, e.g. latency) or
            ``"below"`` (e.g. accuracy).
        crossing_probability: highest probability, over the horizon, that the metric
            is past the SLO (``None`` without an SLO).
        crossing_time: when the trend line crosses the SLO within the horizon, or
            ``None``.
        last_time, last_value: the last observation.
    """

    times: tuple[Any, ...]
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    level: float
    slope: float
    intercept: float
    sigma: float
    n: int
    slo: float | None
    direction: str
    crossing_probability: float | None
    crossing_time: Any | None
    last_time: Any
    last_value: float
    _t0: Any = field(repr=False, default=None)
    _tbar: float = field(repr=False, default=0.0)
    _sxx: float = field(repr=False, default=1.0)

    def _x(self, when: Any) -> float:
        if isinstance(when, datetime):
            return (_utc(when) - self._t0).total_seconds()
        return float(when) - float(self._t0)

    def _predictive(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = self.intercept + self.slope * x
        sd = self.sigma * np.sqrt(1.0 + 1.0 / self.n + (x - self._tbar) ** 2 / self._sxx)
        return mean, sd

    def probability_past(self, slo: float, direction: str | None = None) -> float:
        """Highest probability over the horizon that the metric is past ``slo``."""
        direction = direction or self.direction
        x = np.array([self._x(t) for t in self.times])
        mean, sd = self._predictive(x)
        z = (slo - mean) / np.maximum(sd, 1e-12)
        p = stats.norm.sf(z) if direction == "above" else stats.norm.cdf(z)
        return float(np.max(p)) if p.size else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Strict JSON (for decision evidence)."""
        def t(v: Any) -> Any:
            return v.isoformat() if isinstance(v, datetime) else v
        return json_safe({
            "method": "theil_sen", "n": self.n, "slope": self.slope, "sigma": self.sigma,
            "level": self.level, "slo": self.slo, "direction": self.direction,
            "crossing_probability": self.crossing_probability,
            "crossing_time": t(self.crossing_time), "last_time": t(self.last_time),
            "last_value": self.last_value, "horizon_end": t(self.times[-1]),
            "mean_at_horizon": float(self.mean[-1]), "upper_at_horizon": float(self.upper[-1]),
            "lower_at_horizon": float(self.lower[-1])})


def forecast_metric(
    times: Sequence[datetime] | Sequence[float],
    values: Sequence[float],
    horizon: timedelta | float,
    *,
    slo: float | None = None,
    direction: str = "above",
    level: float = 0.9,
    steps: int = 24,
) -> MetricForecast:
    """Forecast a metric series with a robust linear trend and a prediction interval.

    The trend is Theil–Sen (median of pairwise slopes: a few outliers do not tilt
    it). The interval is ``mean ± z · σ · sqrt(1 + 1/n + (x − x̄)² / Sxx)`` with
    σ the residuals' scaled MAD — the OLS prediction-interval shape with a robust σ.

    Args:
        times: observation times (datetimes, or numbers in any unit).
        values: the metric at those times (non-finite values are dropped).
        horizon: how far ahead (a timedelta for datetimes, else in ``times``' unit).
        slo: the threshold; fills ``crossing_probability`` and ``crossing_time``.
        direction: ``"above"`` when values above the SLO are bad, ``"below"`` otherwise.
        level: the interval's coverage, in (0, 1).
        steps: forecast points over the horizon (>= 1).

    Raises:
        InvalidArgument: fewer than 3 finite points, mismatched lengths, bad parameters.
    """
    if direction not in ("above", "below"):
        raise InvalidArgument(f"direction must be 'above' or 'below'. Got {direction!r}.")
    if not 0 < level < 1:
        raise InvalidArgument(f"level must be in (0, 1). Got {level!r}.")
    if steps < 1:
        raise InvalidArgument(f"steps must be >= 1. Got {steps!r}.")
    times, values = list(times), list(values)
    if len(times) != len(values):
        raise InvalidArgument(f"forecast_metric needs as many times as values. Got "
                              f"{len(times)} and {len(values)}.")
    is_dt = bool(times) and isinstance(times[0], datetime)
    pairs = sorted(((_utc(t) if is_dt else float(t), float(v)) for t, v in zip(times, values,
                                                                               strict=True)
                    if v is not None and math.isfinite(float(v))), key=lambda p: p[0])
    if len(pairs) < 3:
        raise InvalidArgument(f"A forecast needs at least 3 finite points. Got {len(pairs)}.")
    t0 = pairs[0][0]
    if is_dt:
        x = np.array([(t - t0).total_seconds() for t, _ in pairs])
        span = horizon.total_seconds() if isinstance(horizon, timedelta) else float(horizon)
    else:
        x = np.array([t - t0 for t, _ in pairs], dtype=float)
        span = horizon.total_seconds() if isinstance(horizon, timedelta) else float(horizon)
    if not span > 0:
        raise InvalidArgument(f"horizon must be positive. Got {horizon!r}.")
    y = np.array([v for _, v in pairs])
    if np.ptp(x) == 0:
        slope, intercept = 0.0, float(np.median(y))
    else:
        res = stats.theilslopes(y, x)
        slope, intercept = float(res.slope), float(res.intercept)
    resid = y - (intercept + slope * x)
    sigma = MAD_SCALE * float(np.median(np.abs(resid - np.median(resid))))
    if sigma <= 0:
        sigma = max(float(np.std(resid)), 1e-9 * max(1.0, float(np.max(np.abs(y)))))
    tbar, sxx = float(x.mean()), float(((x - x.mean()) ** 2).sum()) or 1.0
    n = len(pairs)
    xf = x[-1] + span * np.arange(1, steps + 1) / steps
    mean = intercept + slope * xf
    sd = sigma * np.sqrt(1.0 + 1.0 / n + (xf - tbar) ** 2 / sxx)
    z = float(stats.norm.ppf(0.5 + level / 2))
    ftimes = tuple(t0 + timedelta(seconds=float(v)) for v in xf) if is_dt else tuple(
        float(t0 + v) for v in xf)
    crossing_p: float | None = None
    crossing_t: Any | None = None
    if slo is not None:
        zz = (slo - mean) / np.maximum(sd, 1e-12)
        p = stats.norm.sf(zz) if direction == "above" else stats.norm.cdf(zz)
        crossing_p = float(np.max(p))
        bad = slope > 0 if direction == "above" else slope < 0
        if bad:
            x_cross = (slo - intercept) / slope
            if x_cross <= x[-1] + span:
                x_cross = max(x_cross, float(x[-1]))
                crossing_t = (t0 + timedelta(seconds=float(x_cross))) if is_dt else float(
                    t0 + x_cross)
    return MetricForecast(
        times=ftimes, mean=mean, lower=mean - z * sd, upper=mean + z * sd, level=level,
        slope=slope, intercept=intercept, sigma=sigma, n=n, slo=slo, direction=direction,
        crossing_probability=crossing_p, crossing_time=crossing_t, last_time=pairs[-1][0],
        last_value=float(y[-1]), _t0=t0, _tbar=tbar, _sxx=sxx)


@dataclass(frozen=True)
class RollbackVerdict:
    """Whether to roll back now, and why. Truthy when ``roll_back``."""

    roll_back: bool
    probability: float
    crossing_time: Any | None
    reason: str
    evidence: dict[str, Any]

    def __bool__(self) -> bool:
        return self.roll_back


def should_roll_back(forecast: MetricForecast, slo: float, confidence: float = 0.9, *,
                     direction: str | None = None) -> RollbackVerdict:
    """Roll back when the metric is past ``slo`` already, or will be with ``confidence``.

    Args:
        forecast: from :func:`forecast_metric`.
        slo: the threshold.
        confidence: the probability of crossing within the horizon that triggers a
            rollback, in (0, 1).
        direction: overrides ``forecast.direction``.

    Raises:
        InvalidArgument: ``confidence`` outside (0, 1).
    """
    if not 0 < confidence < 1:
        raise InvalidArgument(f"confidence must be in (0, 1). Got {confidence!r}.")
    direction = direction or forecast.direction
    past = forecast.last_value > slo if direction == "above" else forecast.last_value < slo
    p = forecast.probability_past(slo, direction)
    crossing = forecast.crossing_time if forecast.slo == slo else None
    evidence = {**forecast.to_dict(), "slo": slo, "confidence": confidence,
                "crossing_probability": p, "already_past": past}
    if past:
        return RollbackVerdict(True, 1.0, forecast.last_time,
                               f"the metric is past its SLO already ({forecast.last_value:.4g} "
                               f"vs {slo:.4g})", json_safe(evidence))
    end = forecast.times[-1]
    end_text = end.isoformat(timespec="minutes") if isinstance(end, datetime) else f"{end:.4g}"
    if p >= confidence:
        when = (f", the trend reaching it at {crossing.isoformat(timespec='minutes')}"
                if isinstance(crossing, datetime) else "")
        return RollbackVerdict(True, p, crossing,
                               f"forecast: P(past SLO {slo:.4g} by {end_text}) = {p:.2f} >= "
                               f"{confidence:.2f}{when}", json_safe(evidence))
    return RollbackVerdict(False, p, crossing,
                           f"forecast: P(past SLO {slo:.4g} by {end_text}) = {p:.2f} < "
                           f"{confidence:.2f}", json_safe(evidence))


# --- early signals -----------------------------------------------------------------
#: features of a rollout's first canary window, neutral at 0
EARLY_FEATURES = ("error_rate_delta", "latency_ratio_excess", "prediction_divergence",
                  "accuracy_drop")


def early_features(evidence: Mapping[str, Any]) -> dict[str, float]:
    """The :data:`EARLY_FEATURES` of one canary decision's evidence (missing → 0).

    Reads ``evidence["analysis"]["checks"]`` as written by the canary engine
    (:meth:`mlpilot.delivery.analysis.AnalysisResult.to_dict`), or a flat mapping
    holding the feature names themselves.
    """
    out = dict.fromkeys(EARLY_FEATURES, 0.0)
    if any(k in evidence for k in EARLY_FEATURES):
        for k in EARLY_FEATURES:
            v = evidence.get(k)
            out[k] = float(v) if isinstance(v, int | float) and math.isfinite(v) else 0.0
        return out
    checks = (evidence.get("analysis") or {}).get("checks") or []
    by_name = {c.get("name"): c.get("statistic") for c in checks if isinstance(c, Mapping)}

    def num(name: str) -> float | None:
        v = by_name.get(name)
        return float(v) if isinstance(v, int | float) and math.isfinite(v) else None

    if (v := num("error_rate")) is not None:
        out["error_rate_delta"] = v
    if (v := num("latency")) is not None:
        out["latency_ratio_excess"] = v - 1.0
    if (v := num("prediction_divergence")) is not None:
        out["prediction_divergence"] = v
    if (v := num("accuracy")) is not None:
        out["accuracy_drop"] = v  # the accuracy check's statistic is the drop (base − canary)
    return out


@dataclass
class EarlySignalModel:
    """P(a rollout fails) from its early features: standardised logistic regression.

    Attributes:
        coefficients: per standardised feature (positive: raises the failure risk).
        n_train, n_failed: deployments learnt from, and how many failed.
        note: how far to trust it.
    """

    coefficients: dict[str, float]
    n_train: int
    n_failed: int
    note: str
    _mean: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    _scale: np.ndarray = field(repr=False, default_factory=lambda: np.ones(0))
    _intercept: float = field(repr=False, default=0.0)

    def predict_proba(self, features: Mapping[str, Any]) -> float:
        """Probability of failure of a rollout with these features (or canary evidence)."""
        f = early_features(features)
        x = (np.array([f[k] for k in EARLY_FEATURES]) - self._mean) / self._scale
        w = np.array([self.coefficients[k] for k in EARLY_FEATURES])
        return float(1.0 / (1.0 + math.exp(-(self._intercept + float(x @ w)))))

    def to_dict(self) -> dict[str, Any]:
        """Strict JSON."""
        return json_safe({"coefficients": self.coefficients, "n_train": self.n_train,
                          "n_failed": self.n_failed, "note": self.note})


def learn_early_signals(history: Iterable[Mapping[str, Any]], *,
                        c: float = 1.0) -> EarlySignalModel:
    """Fit P(failure) on past deployments' early canary evidence.

    Args:
        history: one mapping per past deployment: ``{"failed": bool, ...}`` with either
            the :data:`EARLY_FEATURES` or ``"evidence"`` (the first canary decision's
            evidence). :func:`mlpilot.pilot.forecast.history_from_decisions` builds it
            from the decision log.
        c: inverse L2 regularisation strength (small histories want strong shrinkage).

    Raises:
        InvalidArgument: an empty history.
    """
    from sklearn.linear_model import LogisticRegression

    rows = list(history)
    if not rows:
        raise InvalidArgument("learn_early_signals needs at least one past deployment.")
    x = np.array([[early_features(r.get("evidence", r))[k] for k in EARLY_FEATURES]
                  for r in rows])
    y = np.array([bool(r.get("failed")) for r in rows], dtype=int)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale <= 0] = 1.0
    n_failed = int(y.sum())
    if n_failed in (0, len(y)):
        rate = (n_failed + 0.5) / (len(y) + 1.0)  # Jeffreys-like: never 0 or 1
        return EarlySignalModel(
            dict.fromkeys(EARLY_FEATURES, 0.0), len(y), n_failed,
            f"only {'failed' if n_failed else 'good'} deployments seen: the base rate "
            f"{rate:.2f} for all", mean, scale, math.log(rate / (1 - rate)))
    model = LogisticRegression(C=c, class_weight="balanced").fit((x - mean) / scale, y)
    coef = dict(zip(EARLY_FEATURES, (float(v) for v in model.coef_[0]), strict=True))
    note = (f"learnt from {len(y)} deployments ({n_failed} failed)"
            + ("; few failures — treat as a hint" if min(n_failed, len(y) - n_failed) < 10
               else ""))
    return EarlySignalModel(coef, len(y), n_failed, note, mean, scale,
                            float(model.intercept_[0]))


def history_from_decisions(decisions: Iterable[Any]) -> list[dict[str, Any]]:
    """Past rollouts from the decision log: early evidence + whether they failed.

    Per deployment target, decisions are walked oldest first; a rollout runs from
    the first decision after the previous ``promote``/``rollback`` to the next one.
    Its early evidence is its first decision carrying a canary analysis; it failed
    when it ended in ``rollback``. Unfinished rollouts are left out.
    """
    out: list[dict[str, Any]] = []
    early: dict[str, Mapping[str, Any]] = {}
    for d in sorted(decisions, key=lambda d: (d.time, d.id)):
        ev = d.evidence or {}
        if d.target not in early and (ev.get("analysis") or {}).get("checks"):
            early[d.target] = ev
        if d.action in ("promote", "rollback") and d.outcome in ("applied", "pending"):
            first = early.pop(d.target, None)
            if first is not None:
                out.append({"target": d.target, "time": d.time, "evidence": first,
                            "failed": d.action == "rollback"})
    return out


# --- traffic ---------------------------------------------------------------------
@dataclass(frozen=True)
class TrafficForecast:
    """Expected requests per hour ahead, with a band.

    Attributes:
        hours: the forecast hours' starts (UTC).
        expected: the seasonal median of requests in each hour.
        lower, upper: ``expected ∓ z · scale`` (scaled MAD of the slot), clipped at 0.
        seasonality: ``"daily"`` or ``"weekly"``.
        history_hours: hours of history the forecast learnt from.
    """

    hours: tuple[datetime, ...]
    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    seasonality: str
    history_hours: int

    def to_dict(self) -> dict[str, Any]:
        """Strict JSON."""
        return json_safe({"seasonality": self.seasonality, "history_hours": self.history_hours,
                          "hours": [h.isoformat() for h in self.hours],
                          "expected": self.expected.tolist(), "lower": self.lower.tolist(),
                          "upper": self.upper.tolist()})


def hourly_counts(request_times: Iterable[datetime]) -> tuple[list[datetime], np.ndarray]:
    """Requests per UTC hour, every hour from the first to the last (zeros included)."""
    import pandas as pd

    ts = pd.to_datetime(pd.Series(list(request_times)), utc=True)
    if ts.empty:
        return [], np.zeros(0)
    counts = ts.dt.floor("h").value_counts().sort_index()
    idx = pd.date_range(counts.index[0], counts.index[-1], freq="h")
    counts = counts.reindex(idx, fill_value=0)
    return [t.to_pydatetime() for t in idx], counts.to_numpy(dtype=float)


def forecast_traffic(request_times: Iterable[datetime], *, horizon: timedelta = timedelta(
        days=1), seasonality: str = "daily", start: datetime | None = None,
        level: float = 0.8) -> TrafficForecast:
    """Forecast requests per hour from past request times.

    Each hour-of-day (``"daily"``) or hour-of-week (``"weekly"``) slot's forecast is
    the robust median of that slot's past hourly counts; the band is ± z · scaled MAD.
    The first and last hours of the history are partial and left out.

    Args:
        request_times: when past requests arrived (e.g. the inference log's ``time``).
        horizon: how far ahead to forecast (whole hours).
        seasonality: ``"daily"`` or ``"weekly"`` (needs a week of history per slot to
            be better than daily).
        start: the first forecast hour (default: the hour after the last request).
        level: the band's coverage, in (0, 1).

    Raises:
        InvalidArgument: unknown seasonality, fewer than 24 hours of history.
    """
    slots = {"daily": "hour_of_day", "weekly": "hour_of_week"}
    if seasonality not in slots:
        raise InvalidArgument(f"No seasonality named {seasonality!r}. Available: "
                              f"{list(slots)}.")
    hours, counts = hourly_counts(request_times)
    hours, counts = hours[1:-1], counts[1:-1]
    if len(hours) < 24:
        raise InvalidArgument(f"A traffic forecast needs at least 24 full hours of requests. "
                              f"Got {len(hours)}.")
    base = SeasonalBaseline(seasonality=slots[seasonality], min_slot_points=1,
                            max_weeks=max(4.0, len(hours) / 168 + 1))
    base.fit(hours, counts)
    first = _utc(start).replace(minute=0, second=0, microsecond=0) if start else (
        hours[-1] + 2 * HOUR)  # hours[-1] + 1h was the partial last hour
    n = max(1, math.ceil(horizon / HOUR))
    future = tuple(first + i * HOUR for i in range(n))
    z = float(stats.norm.ppf(0.5 + level / 2))
    med, scale = np.zeros(n), np.zeros(n)
    for i, h in enumerate(future):
        m, s, _, _ = base.expected(h)
        med[i], scale[i] = m or 0.0, s or 0.0
    return TrafficForecast(future, med, np.maximum(med - z * scale, 0.0), med + z * scale,
                           seasonality, len(hours))


def quietest_window(forecast: TrafficForecast, duration: timedelta, *,
                    not_before: datetime | None = None, deadline: datetime | None = None,
                    urgent: bool = False) -> datetime:
    """The start of the window of ``duration`` with the fewest expected requests.

    Candidate starts are the forecast's hour starts at or after ``not_before`` and at
    or before ``deadline`` (the latest acceptable start) whose whole window lies in
    the forecast; a partial last hour counts in proportion. Ties go to the earliest.

    Args:
        forecast: from :func:`forecast_traffic`.
        duration: how long the rollout takes.
        not_before: the earliest start (default: the forecast's first hour).
        deadline: the latest start (default: as late as the forecast allows).
        urgent: start at ``not_before`` (or the first hour) without waiting.

    Raises:
        InvalidArgument: no window fits between ``not_before`` and ``deadline``.
    """
    if duration <= timedelta(0):
        raise InvalidArgument(f"duration must be positive. Got {duration!r}.")
    first = forecast.hours[0] if forecast.hours else None
    lo = _utc(not_before) if not_before is not None else first
    if urgent and lo is not None:
        return lo
    span = duration / HOUR
    whole, frac = int(math.floor(span)), span - math.floor(span)
    best: tuple[float, datetime] | None = None
    for i, h in enumerate(forecast.hours):
        if (lo is not None and h < lo) or (deadline is not None and h > _utc(deadline)):
            continue
        if i + whole + (1 if frac > 0 else 0) > len(forecast.hours):
            break
        load = float(forecast.expected[i:i + whole].sum())
        if frac > 0:
            load += frac * float(forecast.expected[i + whole])
        if best is None or load < best[0] - 1e-9:
            best = (load, h)
    if best is None:
        raise InvalidArgument(f"No {duration} window fits the forecast between {not_before} "
                              f"and {deadline}; forecast further ahead or widen the range.")
    return best[1]
