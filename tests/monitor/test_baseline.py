"""Seasonal robust baselines for operations metrics, and the metrics per window."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from mlpilot.core.errors import InvalidArgument
from mlpilot.monitor.baseline import SeasonalBaseline, ops_metrics, ops_series
from mlpilot.serve.inference_log import InferenceRecord

T0 = datetime(2024, 4, 1, tzinfo=UTC)  # a Monday
HOURS = 4 * 7 * 24


def _latency_series(seed: int = 0) -> tuple[list[datetime], np.ndarray]:
    """Four weeks of hourly p99 latency (ms) with a daily cycle and noise."""
    rng = np.random.default_rng(seed)
    times = [T0 + timedelta(hours=i) for i in range(HOURS)]
    hours = np.arange(HOURS) % 24
    values = 100 + 40 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 5, HOURS)
    return times, values


def test_daily_seasonality_is_not_an_alert_but_a_spike_and_a_level_shift_are() -> None:
    times, values = _latency_series()
    split = 3 * 7 * 24
    base = SeasonalBaseline(seasonality="hour_of_day").fit(times[:split], values[:split])
    clean = base.score_many(times[split:], values[split:])
    assert not any(s.anomalous for s in clean)  # a week of ordinary daily peaks and troughs

    spike = values[split:].copy()
    spike[50] += 120
    scored = base.score_many(times[split:], spike)
    assert [i for i, s in enumerate(scored) if s.anomalous] == [50]
    assert scored[50].verdict == "high" and scored[50].value > scored[50].upper

    shifted = values[split:].copy()
    shifted[72:] += 40  # a new release made everything slower
    scored = base.score_many(times[split:], shifted)
    flagged = [i for i, s in enumerate(scored) if s.anomalous]
    assert not [i for i in flagged if i < 72]
    assert len(flagged) > 0.9 * (len(shifted) - 72)


def test_seasonality_matters() -> None:
    times, values = _latency_series()
    trough = T0 + timedelta(weeks=4, hours=18)  # sin minimum at hour 18: ~60 ms expected
    peak_value = 140.0  # ordinary at 6:00, anomalous at 18:00
    seasonal = SeasonalBaseline(seasonality="hour_of_day").fit(times, values)
    flat = SeasonalBaseline(seasonality="none").fit(times, values)
    assert seasonal.score(trough, peak_value).verdict == "high"
    assert not flat.score(trough, peak_value).anomalous
    assert seasonal.score(trough - timedelta(hours=12), peak_value).verdict == "normal"
    assert seasonal.score(trough, 60.0).slot == "hour_of_day=18"


def test_low_traffic_error_rate_needs_a_minimum_deviation() -> None:
    rng = np.random.default_rng(5)
    times = [T0 + timedelta(hours=i) for i in range(HOURS)]
    rates = rng.binomial(5, 0.05, HOURS) / 5  # ~5 requests an hour, 5% failing
    split = 3 * 7 * 24
    guarded = SeasonalBaseline(min_deviation=0.5).fit(times[:split], rates[:split])
    assert not any(s.anomalous for s in guarded.score_many(times[split:], rates[split:]))
    outage = guarded.score(times[-1] + timedelta(hours=1), 1.0)
    assert outage.verdict == "high" and np.isfinite(outage.z)
    naive = SeasonalBaseline().fit(times[:split], rates[:split])  # one failure too many alerts
    assert any(s.anomalous for s in naive.score_many(times[split:], rates[split:]))


def test_low_slot_history_falls_back_to_global_and_memory_is_bounded() -> None:
    base = SeasonalBaseline(seasonality="hour_of_week", min_slot_points=2, max_weeks=2)
    assert base.score(T0, 1.0).verdict == "unknown"
    times, values = _latency_series()
    base.fit(times[:48], values[:48])  # two days: one point per hour-of-week slot
    assert base.score(T0 + timedelta(hours=49), 100.0).slot == "global"
    for when, value in zip(times, values, strict=True):
        base.update(when, value)
    assert base.history_size <= 2 * 7 * 24 + 1
    assert base.score(times[-1] + timedelta(hours=1), 100.0).slot.startswith("hour_of_week=")
    assert base.score(times[-1], 100.0).history >= 2


def test_learning_skips_anomalies() -> None:
    times, values = _latency_series()
    base = SeasonalBaseline(seasonality="none").fit(times[:200], values[:200])
    before = base.history_size
    out = base.score_many([times[200], times[201]], [values[200], 10_000.0], learn=True)
    assert [s.anomalous for s in out] == [False, True]
    assert base.history_size == before + 1
    json.dumps(out[1].to_dict(), allow_nan=False)


def test_constant_history_keeps_z_finite() -> None:
    times = [T0 + timedelta(hours=i) for i in range(100)]
    base = SeasonalBaseline(seasonality="none", min_deviation=0.01).fit(times, [0.0] * 100)
    assert base.score(times[-1], 0.0).verdict == "normal"
    small = base.score(times[-1], 0.005)
    assert small.verdict == "normal" and np.isfinite(small.z)
    assert base.score(times[-1], 0.05).verdict == "high"


def test_bad_parameters() -> None:
    with pytest.raises(InvalidArgument, match="No seasonality named"):
        SeasonalBaseline(seasonality="monthly")
    with pytest.raises(InvalidArgument, match="'z_threshold' parameter"):
        SeasonalBaseline(z_threshold=0)
    with pytest.raises(InvalidArgument, match="'min_deviation' parameter"):
        SeasonalBaseline(min_deviation=-1)
    with pytest.raises(InvalidArgument, match="'min_slot_points' parameter"):
        SeasonalBaseline(min_slot_points=0)
    base = SeasonalBaseline()
    with pytest.raises(InvalidArgument, match="finite number"):
        base.update(T0, float("nan"))
    with pytest.raises(InvalidArgument, match="must be datetimes"):
        base.score("2024-01-01", 1.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="as many times as values"):
        base.fit([T0], [1.0, 2.0])


def _rec(i: int, seconds: float, status: int = 200, latency: float = 10.0,
         route: str = "production") -> InferenceRecord:
    return InferenceRecord(request_id=f"r{i}", time=T0 + timedelta(seconds=seconds),
                           deployment="d", model="m", version=1, latency_ms=latency,
                           status=status, route=route)


def test_ops_metrics_per_window() -> None:
    records = [_rec(i, i, latency=float(i + 1)) for i in range(100)]
    records += [_rec(100, 5, status=503, latency=9999.0), _rec(101, 6, status=400),
                _rec(102, 7, status=422), _rec(103, 8, route="feedback"),
                _rec(104, 4000)]  # outside the window
    m = ops_metrics(records, T0, T0 + timedelta(minutes=10))
    assert m.requests == 103 and m.errors == 1 and m.client_errors == 2
    assert m.error_rate == pytest.approx(1 / 103)
    assert m.throughput_rps == pytest.approx(103 / 600)
    assert m.latency_p50_ms == pytest.approx(np.percentile(np.arange(1, 101), 50))
    assert m.latency_p99_ms == pytest.approx(np.percentile(np.arange(1, 101), 99))
    json.dumps(m.to_dict(), allow_nan=False)
    empty = ops_metrics([], T0, T0 + timedelta(hours=1))
    assert empty.requests == 0 and empty.error_rate is None and empty.latency_p50_ms is None
    with pytest.raises(InvalidArgument, match="after its start"):
        ops_metrics([], T0, T0)


def test_ops_series_includes_empty_windows() -> None:
    records = [_rec(0, 10), _rec(1, 20, status=500), _rec(2, 3 * 3600 + 5)]
    frame = ops_series(records, "1h")
    assert list(frame["requests"]) == [2, 0, 0, 1]
    assert frame["error_rate"].iloc[0] == pytest.approx(0.5)
    assert frame.index[0] == T0
    with pytest.raises(InvalidArgument, match="freq"):
        ops_series(records, "often")
