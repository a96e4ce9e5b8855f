"""Deployment windows: when a non-urgent candidate should start its rollout.

A candidate retrained because of a schedule, new data or a non-critical alert can wait
for the quiet hours: :func:`plan_window` forecasts the endpoint's requests per hour
from the inference log (:func:`~mlpilot.pilot.forecast.forecast_traffic`) and picks the
quietest ``duration`` window starting before the ``deadline``
(:func:`~mlpilot.pilot.forecast.quietest_window`). Urgent candidates
(:func:`is_urgent`: an on-demand request, or a drift/performance/concept-shift alert of
severity ``critical``) deploy at once. Without enough traffic history to forecast
(24 full hours) the candidate deploys at once too, and the evidence says why.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlpilot.core.clock import as_utc
from mlpilot.core.errors import InvalidArgument
from mlpilot.core.jsonsafe import json_safe
from mlpilot.pilot.forecast import forecast_traffic, quietest_window

if TYPE_CHECKING:
    from mlpilot.pilot.policy import WindowSpec

#: alert-driven triggers whose ``critical`` firings cannot wait for a window
ALERT_TRIGGERS = ("drift", "performance", "concept_shift")
HOUR = timedelta(hours=1)


def is_urgent(firings: Iterable[Mapping[str, Any]]) -> bool:
    """Whether a retrain's firings (``Firing.to_dict()``) call for an immediate deploy."""
    for f in firings:
        if f.get("trigger") == "on_demand":
            return True
        if f.get("trigger") in ALERT_TRIGGERS and (f.get("evidence") or {}).get(
                "severity") == "critical":
            return True
    return False


@dataclass(frozen=True)
class WindowPlan:
    """When to deploy: ``start`` (``<= now`` means at once) and the evidence."""

    start: datetime
    now: datetime
    evidence: dict[str, Any]

    @property
    def wait(self) -> bool:
        return self.start > self.now


def request_times(log_dir: str | os.PathLike[str], model: str, deployment: str,
                  since: datetime, until: datetime) -> list[datetime]:
    """When ``deployment``'s requests arrived in ``[since, until)``."""
    from mlpilot.serve.inference_log import read_frame

    try:
        frame = read_frame(log_dir, since=since, until=until, model=model)
    except FileNotFoundError:
        return []
    if frame.empty:
        return []
    return list(frame.loc[frame["deployment"] == deployment, "time"])


def plan_window(times: Iterable[datetime], now: datetime, spec: WindowSpec) -> WindowPlan:
    """The quietest ``spec.duration`` window starting between now and ``now + deadline``.

    The hour in progress is a candidate: when it is the quietest, the plan starts now.
    """
    now = as_utc(now)
    hour = now.replace(minute=0, second=0, microsecond=0)
    deadline = now + spec.deadline
    base = {"duration_seconds": spec.duration.total_seconds(),
            "deadline": deadline.isoformat(), "seasonality": spec.seasonality}
    try:
        forecast = forecast_traffic(times, horizon=spec.deadline + spec.duration + HOUR,
                                    seasonality=spec.seasonality, start=hour)
        start = quietest_window(forecast, spec.duration, not_before=hour, deadline=deadline)
    except InvalidArgument as exc:
        return WindowPlan(now, now, json_safe({**base, "forecast": None,
                                               "note": f"deploying now: {exc.message}"}))

    def load(at: datetime) -> float:
        i = forecast.hours.index(at)
        hours = spec.duration / HOUR
        whole = int(hours)
        total = float(forecast.expected[i:i + whole].sum())
        if hours > whole and i + whole < len(forecast.hours):
            total += (hours - whole) * float(forecast.expected[i + whole])
        return total

    evidence = {**base, "history_hours": forecast.history_hours,
                "expected_requests_in_window": load(start),
                "expected_requests_if_now": load(hour),
                "peak_hourly_requests": float(forecast.expected.max()),
                "scheduled_for": max(start, now).isoformat()}
    return WindowPlan(max(start, now), now, json_safe(evidence))
