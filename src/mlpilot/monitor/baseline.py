"""Learned baselines for operations metrics, and the metrics themselves per window.

:class:`SeasonalBaseline` learns what a series (latency p99, error rate, throughput
per window) usually looks like at each *season slot* — hour of day, day of week,
or hour of week — as the slot's **median** and **scaled MAD**
(``1.4826 * MAD``, the normal-consistent robust standard deviation). A value is
scored by its robust z-score ``(value - median) / scale`` and called anomalous
(``"high"`` or ``"low"``) when ``|z| >= z_threshold`` **and** the absolute deviation
reaches ``min_deviation`` — so a series with almost no spread (error rate 0 every
hour) does not alert on one failed request.

Slots with fewer than ``min_slot_points`` values fall back to the global median and
MAD of the whole history. When more than half the values are equal the MAD is 0;
the scale then falls back to ``1.2533 * mean absolute deviation`` (the
normal-consistent mean deviation), and to ``floor`` at worst, so z stays finite.

History is bounded: :meth:`SeasonalBaseline.update` keeps the last ``max_weeks``
weeks (by the series' own clock) and at most ``max_points_per_slot`` values per slot.

:func:`ops_metrics` and :func:`ops_series` compute the per-window series from inference
records, with the rules of :mod:`mlpilot.delivery.windows`: errors are server errors
(status >= 500); 4xx are counted apart (``client_errors``); latencies come from
successful requests only.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Self

import numpy as np
import pandas as pd

from mlpilot.core.errors import InvalidArgument
from mlpilot.core.jsonsafe import json_safe
from mlpilot.monitor.detector import finite

__all__ = ["SEASONALITIES", "BaselineScore", "OpsMetrics", "SeasonalBaseline", "ops_metrics",
           "ops_series"]

SEASONALITIES = ("none", "hour_of_day", "day_of_week", "hour_of_week")
MAD_SCALE = 1.4826  # MAD -> standard deviation for normal data
MEAN_AD_SCALE = 1.2533  # mean absolute deviation -> standard deviation (sqrt(pi / 2))
FEEDBACK_ROUTE = "feedback"


@dataclass(frozen=True)
class BaselineScore:
    """A value compared with its learned baseline.

    Attributes:
        time: the value's time (UTC).
        value: the observed value.
        expected: the baseline median for the slot.
        scale: the robust standard deviation used.
        z: robust z-score ``(value - expected) / scale``.
        lower: bottom of the normal band.
        upper: top of the normal band.
        verdict: ``"normal"``, ``"high"`` or ``"low"``; ``"unknown"`` without history.
        slot: the season slot used (``"hour_of_day=13"``), or ``"global"`` on fallback.
        history: how many history values the baseline came from.
    """

    time: datetime
    value: float
    expected: float | None
    scale: float | None
    z: float | None
    lower: float | None
    upper: float | None
    verdict: str
    slot: str
    history: int

    @property
    def anomalous(self) -> bool:
        """True for ``"high"`` and ``"low"``."""
        return self.verdict in ("high", "low")

    def to_dict(self) -> dict[str, Any]:
        return json_safe(self.__dict__ | {"anomalous": self.anomalous})


def _utc(when: Any) -> datetime:
    if isinstance(when, pd.Timestamp):
        when = when.to_pydatetime()
    if not isinstance(when, datetime):
        raise InvalidArgument(f"Baseline times must be datetimes. Got {type(when).__name__}.")
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


class SeasonalBaseline:
    """Seasonal robust baseline of one metric series.

    Args:
        seasonality: one of :data:`SEASONALITIES`.
        z_threshold: ``|z|`` at or above which a value is anomalous (> 0).
        min_deviation: smallest absolute deviation from the median that may alert
            (>= 0), in the metric's units (e.g. 0.02 for an error rate, 50 for ms).
        min_slot_points: values a slot needs before it is used instead of the global
            baseline (>= 1).
        max_weeks: weeks of history kept (> 0).
        max_points_per_slot: values kept per slot at most (>= 1).
        floor: smallest scale used (> 0), so z stays finite on a constant series.

    Example:
        >>> base = SeasonalBaseline(seasonality="none")
        >>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
        >>> _ = base.fit([t0 + timedelta(hours=i) for i in range(48)], [10.0, 12.0] * 24)
        >>> base.score(t0 + timedelta(hours=48), 30.0).verdict
        'high'
    """

    def __init__(self, *, seasonality: str = "hour_of_day", z_threshold: float = 4.0,
                 min_deviation: float = 0.0, min_slot_points: int = 5, max_weeks: float = 4.0,
                 max_points_per_slot: int = 10_000, floor: float = 1e-9) -> None:
        if seasonality not in SEASONALITIES:
            raise InvalidArgument(f"No seasonality named {seasonality!r}. Available: "
                                  f"{list(SEASONALITIES)}.")
        for name, value, low in (("z_threshold", z_threshold, 0.0), ("max_weeks", max_weeks, 0.0),
                                 ("floor", floor, 0.0)):
            if finite(value, f"'{name}' parameter") <= low:
                raise InvalidArgument(f"The '{name}' parameter of SeasonalBaseline must be "
                                      f"> {low}. Got {value!r} instead.")
        if finite(min_deviation, "'min_deviation' parameter") < 0:
            raise InvalidArgument(f"The 'min_deviation' parameter of SeasonalBaseline must be "
                                  f">= 0. Got {min_deviation!r} instead.")
        for name, value in (("min_slot_points", min_slot_points),
                            ("max_points_per_slot", max_points_per_slot)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgument(f"The '{name}' parameter of SeasonalBaseline must be an "
                                      f"int >= 1. Got {value!r} instead.")
        self.seasonality = seasonality
        self.z_threshold = float(z_threshold)
        self.min_deviation = float(min_deviation)
        self.min_slot_points = min_slot_points
        self.max_weeks = float(max_weeks)
        self.max_points_per_slot = max_points_per_slot
        self.floor = float(floor)
        self._reset()

    def _reset(self) -> None:
        self._slots: dict[int, deque[tuple[datetime, float]]] = {}
        self._latest: datetime | None = None
        self._stats: dict[int | None, tuple[float, float, int]] = {}

    # --- history ---------------------------------------------------------------------

    def slot_of(self, when: datetime) -> int:
        """The season slot of a time (0 for ``"none"``)."""
        when = _utc(when)
        if self.seasonality == "hour_of_day":
            return when.hour
        if self.seasonality == "day_of_week":
            return when.weekday()
        if self.seasonality == "hour_of_week":
            return when.weekday() * 24 + when.hour
        return 0

    def _slot_name(self, slot: int | None) -> str:
        return "global" if slot is None or self.seasonality == "none" else (
            f"{self.seasonality}={slot}")

    def fit(self, times: Iterable[datetime], values: Iterable[float]) -> Self:
        """Forget any history and learn from ``(times, values)``; returns ``self``.

        Raises:
            InvalidArgument: lengths differ, a time is not a datetime, a value not finite.
        """
        times, values = list(times), list(values)
        if len(times) != len(values):
            raise InvalidArgument(f"fit needs as many times as values. Got {len(times)} times "
                                  f"and {len(values)} values.")
        self._reset()
        for when, value in sorted(zip(times, values, strict=True), key=lambda p: _utc(p[0])):
            self.update(when, value)
        return self

    def update(self, when: datetime, value: float) -> Self:
        """Fold one point into the history (dropping what is older than ``max_weeks``).

        Raises:
            InvalidArgument: ``when`` not a datetime, ``value`` not finite.
        """
        when, value = _utc(when), finite(value, "baseline value")
        slot = self.slot_of(when)
        points = self._slots.setdefault(slot, deque(maxlen=self.max_points_per_slot))
        points.append((when, value))
        if self._latest is None or when > self._latest:
            self._latest = when
            horizon = when - timedelta(weeks=self.max_weeks)
            for dq in self._slots.values():
                while dq and dq[0][0] < horizon:
                    dq.popleft()
        self._stats.clear()
        return self

    @property
    def history_size(self) -> int:
        """Values held, all slots together."""
        return sum(len(dq) for dq in self._slots.values())

    def _robust(self, slot: int | None) -> tuple[float, float, int]:
        cached = self._stats.get(slot)
        if cached is not None:
            return cached
        if slot is None:
            values = np.fromiter((v for dq in self._slots.values() for _, v in dq), float)
        else:
            values = np.fromiter((v for _, v in self._slots.get(slot, ())), float)
        if values.size == 0:
            out = (math.nan, math.nan, 0)
        else:
            median = float(np.median(values))
            dev = np.abs(values - median)
            scale = MAD_SCALE * float(np.median(dev))
            if scale <= 0:
                scale = MEAN_AD_SCALE * float(np.mean(dev))
            out = (median, max(scale, self.floor), int(values.size))
        self._stats[slot] = out
        return out

    def expected(self, when: datetime) -> tuple[float | None, float | None, str, int]:
        """``(median, scale, slot name, history size)`` the baseline expects at ``when``."""
        slot: int | None = self.slot_of(when)
        median, scale, count = self._robust(slot)
        if count < self.min_slot_points:
            slot = None
            median, scale, count = self._robust(None)
        if count == 0:
            return None, None, "global", 0
        return median, scale, self._slot_name(slot), count

    def score(self, when: datetime, value: float) -> BaselineScore:
        """Compare a value with the baseline of its slot (history is not changed).

        Raises:
            InvalidArgument: ``when`` not a datetime, ``value`` not finite.
        """
        when, value = _utc(when), finite(value, "baseline value")
        median, scale, slot, count = self.expected(when)
        if median is None or scale is None:
            return BaselineScore(when, value, None, None, None, None, None, "unknown", slot, 0)
        z = (value - median) / scale
        half = max(self.z_threshold * scale, self.min_deviation)
        verdict = "normal"
        if abs(z) >= self.z_threshold and abs(value - median) >= self.min_deviation:
            verdict = "high" if z > 0 else "low"
        return BaselineScore(when, value, median, scale, z, median - half, median + half,
                             verdict, slot, count)

    def score_many(self, times: Iterable[datetime], values: Iterable[float],
                   *, learn: bool = False) -> list[BaselineScore]:
        """Score points in time order; with ``learn`` each normal point is folded in after.

        Anomalous points are never learned, so a long incident does not become normal.
        """
        out = []
        for when, value in sorted(zip(times, values, strict=True), key=lambda p: _utc(p[0])):
            result = self.score(when, value)
            out.append(result)
            if learn and not result.anomalous:
                self.update(when, value)
        return out


# --- operations metrics per window ---------------------------------------------------------


@dataclass(frozen=True)
class OpsMetrics:
    """Operations metrics of one window of served requests.

    Attributes:
        start: window start (inclusive).
        end: window end (exclusive).
        requests: requests answered (feedback records excluded).
        errors: server errors (status >= 500).
        client_errors: client errors (400 <= status < 500).
        error_rate: ``errors / requests`` (``None`` without requests).
        client_error_rate: ``client_errors / requests``.
        throughput_rps: ``requests / window seconds``.
        latency_p50_ms: median latency of successful requests (``None`` without any).
        latency_p95_ms: 95th percentile.
        latency_p99_ms: 99th percentile.
    """

    start: datetime
    end: datetime
    requests: int
    errors: int
    client_errors: int
    error_rate: float | None
    client_error_rate: float | None
    throughput_rps: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None

    def to_dict(self) -> dict[str, Any]:
        return json_safe(self.__dict__)


def ops_metrics(records: Iterable[Any], start: datetime, end: datetime) -> OpsMetrics:
    """Operations metrics of the records in ``[start, end)``.

    Args:
        records: :class:`~mlpilot.serve.inference_log.InferenceRecord` objects; those
            outside the window and feedback records are skipped.
        start: window start, inclusive.
        end: window end, exclusive (after ``start``).

    Raises:
        InvalidArgument: ``end`` not after ``start``.
    """
    start, end = _utc(start), _utc(end)
    seconds = (end - start).total_seconds()
    if seconds <= 0:
        raise InvalidArgument(f"The window end must be after its start. Got {start} .. {end}.")
    requests = errors = client = 0
    latencies: list[float] = []
    for r in records:
        if r.route == FEEDBACK_ROUTE or not start <= r.time < end:
            continue
        requests += 1
        if r.status >= 500:
            errors += 1
        elif r.status >= 400:
            client += 1
        else:
            latencies.append(float(r.latency_ms))
    p50, p95, p99 = (np.percentile(latencies, [50, 95, 99]).tolist() if latencies
                     else (None, None, None))
    return OpsMetrics(start, end, requests, errors, client,
                      errors / requests if requests else None,
                      client / requests if requests else None, requests / seconds, p50, p95, p99)


def ops_series(records: Iterable[Any], freq: str = "1h", *, start: datetime | None = None,
               end: datetime | None = None) -> pd.DataFrame:
    """Operations metrics per fixed window, one row per window (empty windows included).

    Args:
        records: inference records.
        freq: the window length as a pandas frequency (``"5min"``, ``"1h"``).
        start: first window start (default: the first record's time, floored to ``freq``).
        end: end of the last window (default: just after the last record).

    Returns:
        A frame indexed by window start (UTC) with the :class:`OpsMetrics` fields.

    Raises:
        InvalidArgument: an unknown frequency.
    """
    try:
        step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    except (ValueError, TypeError):
        raise InvalidArgument(f"freq must be a fixed pandas frequency like '5min' or '1h'. "
                              f"Got {freq!r}.") from None
    if step <= pd.Timedelta(0):
        raise InvalidArgument(f"freq must be a positive duration. Got {freq!r}.")
    served = sorted((r for r in records if r.route != FEEDBACK_ROUTE), key=lambda r: r.time)
    if not served and (start is None or end is None):
        return pd.DataFrame(columns=[f for f in OpsMetrics.__dataclass_fields__ if f != "start"])
    first = pd.Timestamp(_utc(start)) if start is not None else pd.Timestamp(
        served[0].time).floor(step)
    buckets: dict[int, list[Any]] = {}
    for r in served:
        buckets.setdefault(int((pd.Timestamp(r.time) - first) // step), []).append(r)
    if end is not None:
        count = max(0, math.ceil((pd.Timestamp(_utc(end)) - first) / step))
    else:
        count = max(buckets) + 1
    rows = []
    for i in range(count):
        t = first + i * step
        rows.append(ops_metrics(buckets.get(i, ()), t.to_pydatetime(),
                                (t + step).to_pydatetime()).__dict__)
    if not rows:
        return pd.DataFrame(columns=[f for f in OpsMetrics.__dataclass_fields__ if f != "start"])
    return pd.DataFrame(rows).set_index("start")
