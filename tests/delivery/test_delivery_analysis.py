"""Canary analysis on seeded synthetic windows."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlpilot.core.errors import InvalidArgument
from mlpilot.delivery import AnalysisConfig, CanaryAnalysis, WindowStats


def window(seed: int, *, n: int = 3000, error_rate: float = 0.01, latency_mu: float = 3.0,
           p_positive: float = 0.3, accuracy: float | None = None, scores: bool = False,
           score_shift: float = 0.0, extra: dict | None = None) -> WindowStats:
    rng = np.random.default_rng(seed)
    errors = int(rng.binomial(n, error_rate))
    latencies = rng.lognormal(latency_mu, 0.3, n)
    if scores:
        predictions = rng.beta(2 + score_shift, 5, n)
    else:
        predictions = (rng.random(n) < p_positive).astype(int)
    correct = labelled = None
    if accuracy is not None:
        labelled = n // 2
        correct = int(rng.binomial(labelled, accuracy))
    return WindowStats(n, errors, latencies, predictions, correct, labelled, extra or {})


def test_equal_canary_passes():
    result = CanaryAnalysis()(window(1, accuracy=0.9), window(2, accuracy=0.9))
    assert result.verdict == "pass", result.to_dict()
    assert result.failed == []
    assert {c.name for c in result.checks} >= {
        "error_rate", "latency", "latency_p99", "prediction_divergence", "accuracy"}


def test_worse_canary_fails_naming_each_offending_metric():
    base = window(1, accuracy=0.9)
    bad = window(2, error_rate=0.05, latency_mu=3.4, p_positive=0.6, accuracy=0.8)
    result = CanaryAnalysis()(base, bad)
    assert result.verdict == "fail"
    assert set(result.failed) == {"error_rate", "latency", "latency_p99",
                                  "prediction_divergence", "accuracy"}
    er = result.check("error_rate")
    assert er.p_value < 0.05 and er.statistic > 0.005 and er.n == {"baseline": 3000,
                                                                   "canary": 3000}
    assert "error_rate" in result.summary()


@pytest.mark.parametrize("kwargs, failed", [
    ({"error_rate": 0.05}, ["error_rate"]),
    ({"latency_mu": 3.3}, ["latency", "latency_p99"]),
    ({"p_positive": 0.6}, ["prediction_divergence"]),
])
def test_single_regression_fails_only_its_metric(kwargs, failed):
    assert CanaryAnalysis()(window(1), window(2, **kwargs)).failed == failed


def test_significant_but_negligible_difference_passes():
    # 1.0 % vs 1.3 % errors on 200k requests is significant but under the tolerance
    cfg = AnalysisConfig()
    base = window(1, n=200_000, error_rate=0.010)
    canary = window(2, n=200_000, error_rate=0.013)
    check = CanaryAnalysis(cfg).error_rate(base, canary)
    assert check.p_value < 0.05 and check.verdict == "pass"


def test_better_canary_is_not_a_failure():
    # one-sided tests: a canary that is faster and fails less must pass
    result = CanaryAnalysis()(window(1, error_rate=0.03, latency_mu=3.2),
                              window(2, error_rate=0.005, latency_mu=3.0))
    assert result.verdict == "pass"


def test_tiny_samples_are_inconclusive_never_pass_or_fail():
    base = window(1, n=30, accuracy=0.9)
    bad = window(2, n=30, error_rate=0.5, latency_mu=5.0, p_positive=0.9, accuracy=0.2)
    result = CanaryAnalysis()(base, bad)
    assert result.verdict == "inconclusive"
    assert all(c.verdict == "insufficient" for c in result.checks), result.to_dict()
    assert "insufficient data" in result.check("latency").explanation


def test_numeric_scores_use_psi_and_ks():
    ok = CanaryAnalysis()(window(1, scores=True), window(2, scores=True))
    assert ok.check("prediction_divergence").details["divergence"] == "psi"
    assert ok.check("prediction_divergence").verdict == "pass"
    shifted = CanaryAnalysis()(window(1, scores=True), window(2, scores=True, score_shift=3))
    check = shifted.check("prediction_divergence")
    assert check.verdict == "fail" and check.statistic > 0.2 and check.p_value < 0.05


def test_external_signals_are_compared_to_bounds():
    cfg = AnalysisConfig(signal_bounds={"calibration_error": (None, 0.1)})
    base = window(1, extra={"estimated_performance": 0.90})
    good = window(2, extra={"estimated_performance": 0.90, "drift_share": 0.1,
                            "calibration_error": 0.05})
    bad = window(2, extra={"estimated_performance": 0.80, "drift_share": 0.5,
                           "calibration_error": 0.3})
    assert CanaryAnalysis(cfg)(base, good).verdict == "pass"
    failed = CanaryAnalysis(cfg)(base, bad).failed
    assert set(failed) == {"estimated_performance", "drift_share", "calibration_error"}


def test_no_feedback_skips_accuracy():
    result = CanaryAnalysis()(window(1), window(2))
    assert result.check("accuracy").verdict == "skipped"
    assert result.verdict == "pass"


def test_evidence_is_strict_json():
    result = CanaryAnalysis()(window(1, n=30), window(2))
    json.dumps(result.to_dict(), allow_nan=False)


def test_invalid_config_and_windows_raise():
    with pytest.raises(InvalidArgument, match="'alpha' parameter"):
        AnalysisConfig(alpha=1.5)
    with pytest.raises(InvalidArgument, match="errors <= requests"):
        WindowStats(10, 11)
    with pytest.raises(InvalidArgument, match="correct/labelled"):
        WindowStats(10, 1, correct=5)
