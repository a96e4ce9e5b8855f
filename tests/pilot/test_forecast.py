"""Forecasts: metric trend and SLO crossing, early-signal model, traffic and windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from mlpilot.core.entities import DecisionRecord
from mlpilot.core.errors import InvalidArgument
from mlpilot.pilot.forecast import (
    forecast_metric,
    forecast_traffic,
    history_from_decisions,
    learn_early_signals,
    quietest_window,
    should_roll_back,
)

T0 = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday
SLO = 200.0


def _degrading(n: int = 120, seed: int = 0) -> tuple[list[datetime], np.ndarray]:
    """Latency p99 per minute: 100 ms, rising 1 ms/min from minute 30, noise sd 5."""
    rng = np.random.default_rng(seed)
    minutes = np.arange(n)
    values = 100 + np.maximum(minutes - 30, 0) * 1.0 + rng.normal(0, 5, n)
    return [T0 + timedelta(minutes=int(m)) for m in minutes], values


def test_degrading_series_is_rolled_back_before_it_crosses_the_slo() -> None:
    times, values = _degrading(200)
    crossed = next(i for i, v in enumerate(values) if v > SLO)
    fired = None
    for end in range(10, crossed):
        window = slice(max(0, end - 30), end)  # the last 30 minutes
        fc = forecast_metric(times[window], values[window], timedelta(minutes=20), slo=SLO)
        if should_roll_back(fc, SLO, confidence=0.9):
            fired = end
            break
    assert fired is not None, "the forecast never saw the crossing coming"
    assert fired < crossed - 5  # well before reality crosses
    verdict = should_roll_back(fc, SLO, 0.9)
    assert verdict.probability >= 0.9 and "forecast" in verdict.reason
    assert fc.crossing_time is not None and fc.crossing_time > times[fired - 1]
    assert verdict.evidence["method"] == "theil_sen"


def test_flat_noisy_series_is_not_rolled_back() -> None:
    rng = np.random.default_rng(1)
    times = [T0 + timedelta(minutes=m) for m in range(120)]
    values = 150 + rng.normal(0, 10, 120)
    values[[10, 50, 90]] = 400  # a few spikes must not tilt a robust trend
    for end in range(30, 120, 5):
        fc = forecast_metric(times[end - 30:end], values[end - 30:end], timedelta(minutes=20),
                             slo=SLO)
        if values[end - 1] < SLO:
            assert not should_roll_back(fc, SLO, 0.9), (end, fc.crossing_probability)


def test_already_past_the_slo_rolls_back_and_numeric_times_work() -> None:
    fc = forecast_metric([0, 1, 2, 3], [0.9, 0.85, 0.8, 0.7], 5, slo=0.75, direction="below")
    verdict = should_roll_back(fc, 0.75, 0.9)
    assert verdict and verdict.probability == 1.0 and "already" in verdict.reason
    assert fc.slope < 0 and fc.crossing_time == 3.0


def test_forecast_rejects_bad_input() -> None:
    with pytest.raises(InvalidArgument, match="at least 3"):
        forecast_metric([0, 1], [1.0, 2.0], 1)
    with pytest.raises(InvalidArgument, match="direction"):
        forecast_metric([0, 1, 2], [1.0, 2.0, 3.0], 1, direction="up")
    fc = forecast_metric([0, 1, 2], [1.0, 2.0, 3.0], 1)
    with pytest.raises(InvalidArgument, match="confidence"):
        should_roll_back(fc, 5.0, 1.5)


def _history(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        failed = rng.random() < 0.3
        rows.append({"failed": bool(failed),
                     "error_rate_delta": rng.normal(0.02 if failed else 0.0, 0.01),
                     "latency_ratio_excess": rng.normal(0.4 if failed else 0.0, 0.15),
                     "prediction_divergence": rng.normal(0.1, 0.05),  # uninformative
                     "accuracy_drop": rng.normal(0.0, 0.01)})
    return rows


def test_early_signal_model_ranks_failing_deployments_above_good_ones() -> None:
    from sklearn.metrics import roc_auc_score

    model = learn_early_signals(_history(60, seed=2))
    test = _history(80, seed=3)
    scores = [model.predict_proba(r) for r in test]
    assert roc_auc_score([r["failed"] for r in test], scores) > 0.9
    assert model.coefficients["error_rate_delta"] > 0
    assert model.coefficients["latency_ratio_excess"] > 0
    assert model.n_train == 60 and "learnt from 60" in model.note


def test_early_signal_model_with_one_class_returns_the_base_rate() -> None:
    model = learn_early_signals([{"failed": False, "error_rate_delta": 0.0}] * 4)
    assert 0 < model.predict_proba({"error_rate_delta": 1.0}) < 0.2
    assert "only good" in model.note


def test_history_from_decisions_reads_canary_evidence() -> None:
    def dec(i: int, action: str, target: str, stats: dict | None = None) -> DecisionRecord:
        checks = [{"name": k, "statistic": v} for k, v in (stats or {}).items()]
        ev = {"analysis": {"verdict": "pass", "checks": checks}} if stats else {}
        return DecisionRecord(i, T0 + timedelta(minutes=i), "pilot", action, "deployment",
                              target, "", ev, "applied")

    decisions = [dec(1, "hold", "a", {"error_rate": 0.05, "latency": 1.5}),
                 dec(2, "step", "a", {"error_rate": 0.0}),
                 dec(3, "rollback", "a"),
                 dec(4, "hold", "b", {"latency": 1.0, "accuracy": -0.01}),
                 dec(5, "promote", "b"),
                 dec(6, "hold", "c", {"latency": 1.0})]  # unfinished
    hist = history_from_decisions(reversed(decisions))
    assert [(h["target"], h["failed"]) for h in hist] == [("a", True), ("b", False)]
    model = learn_early_signals(hist)
    assert model.predict_proba(hist[0]["evidence"]) > model.predict_proba(hist[1]["evidence"])


def _daily_traffic(days: int = 14, seed: int = 4) -> list[datetime]:
    """Poisson arrivals with a daily cycle: peak at 15:00 UTC, trough at 03:00."""
    rng = np.random.default_rng(seed)
    times = []
    for h in range(days * 24):
        rate = 100 + 80 * np.cos(2 * np.pi * ((h % 24) - 15) / 24)
        n = rng.poisson(rate)
        start = T0 + timedelta(hours=h)
        times.extend(start + timedelta(seconds=float(s)) for s in np.sort(rng.random(n) * 3600))
    return times


def test_traffic_forecast_and_quietest_window_falls_at_the_trough() -> None:
    times = _daily_traffic()
    fc = forecast_traffic(times, horizon=timedelta(days=2))
    assert len(fc.hours) == 48 and fc.hours[0] == T0 + timedelta(days=14)
    peak = fc.expected[[h.hour == 15 for h in fc.hours]].mean()
    trough = fc.expected[[h.hour == 3 for h in fc.hours]].mean()
    assert trough < 40 < 160 < peak
    assert np.all(fc.lower <= fc.expected) and np.all(fc.expected <= fc.upper)
    start = quietest_window(fc, timedelta(hours=1), not_before=fc.hours[0] + timedelta(hours=5))
    assert start.hour in (2, 3, 4) and start.date() == (T0 + timedelta(days=15)).date()
    two = quietest_window(fc, timedelta(hours=2), not_before=T0 + timedelta(days=14, hours=8),
                          deadline=T0 + timedelta(days=15, hours=20))
    assert two.hour in (2, 3) and two.date() == (T0 + timedelta(days=15)).date()
    # urgent: no waiting
    now = fc.hours[0] + timedelta(hours=10)
    assert quietest_window(fc, timedelta(hours=1), not_before=now, urgent=True) == now
    with pytest.raises(InvalidArgument, match="No .* window fits"):
        quietest_window(fc, timedelta(hours=3), not_before=fc.hours[-1])


def test_weekly_seasonality_and_too_little_history() -> None:
    times = _daily_traffic(days=15)
    fc = forecast_traffic(times, horizon=timedelta(hours=24), seasonality="weekly")
    assert fc.seasonality == "weekly" and len(fc.expected) == 24
    with pytest.raises(InvalidArgument, match="24 full hours"):
        forecast_traffic(times[:500])
    with pytest.raises(InvalidArgument, match="seasonality"):
        forecast_traffic(times, seasonality="monthly")
