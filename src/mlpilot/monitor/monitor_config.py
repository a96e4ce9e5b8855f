"""What the monitor computes and when it alerts: :class:`MonitorConfig`, and durations.

:func:`parse_duration` reads the ``"90s"``/``"5m"``/``"1h30m"`` text the CLI and the
:class:`~mlpilot.monitor.runner.Monitor` accept for window lengths.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from mlpilot.core.errors import InvalidArgument

__all__ = ["DEFAULT_MIN_DEVIATION", "SCORED_OPS", "MonitorConfig", "parse_duration"]

SCORED_OPS = ("ops.latency_p99_ms", "ops.error_rate", "ops.throughput_rps")
DEFAULT_MIN_DEVIATION = {"ops.latency_p99_ms": 25.0, "ops.error_rate": 0.02,
                         "ops.throughput_rps": 0.0}


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
