"""Prediction and label drift through the registered univariate tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlpilot.core.errors import InvalidArgument
from mlpilot.monitor import OutputDrift, label_drift, prediction_drift


def _classes(rng: np.random.Generator, n: int, p: float) -> pd.Series:
    return pd.Series(rng.choice(["approve", "reject"], size=n, p=[p, 1 - p]))


def test_class_predictions_use_chi2() -> None:
    rng = np.random.default_rng(0)
    ref = _classes(rng, 2000, 0.7)
    same = prediction_drift(ref, _classes(rng, 1000, 0.7))
    assert same.feature == "prediction" and same.detector == "prediction_drift"
    assert same.details["test"] == "chi2" and same.details["output_type"] == "class"
    assert not same.drifted
    moved = prediction_drift(ref, _classes(rng, 1000, 0.5))
    assert moved.drifted and moved.p_value < 1e-6 and moved.effect_size > 0


def test_regression_outputs_and_scores_use_ks() -> None:
    rng = np.random.default_rng(1)
    ref = rng.normal(size=1500)
    assert not prediction_drift(ref, rng.normal(size=800)).drifted
    result = prediction_drift(ref, rng.normal(0.4, 1, size=800))
    assert result.drifted and result.details["test"] == "ks"
    assert result.details["output_type"] == "numeric"


def test_labels_integer_classes_and_regression() -> None:
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, size=1500)
    result = label_drift(labels, rng.choice(3, size=600, p=[0.6, 0.2, 0.2]))
    assert result.feature == "label" and result.details["output_type"] == "class"
    assert result.drifted
    assert not label_drift(labels, rng.integers(0, 3, size=600)).drifted
    assert label_drift(rng.exponential(size=500), rng.exponential(2, size=500)).drifted


def test_probability_matrix_per_class_with_bonferroni() -> None:
    rng = np.random.default_rng(3)
    ref = rng.dirichlet([2, 2, 2], size=1500)
    det = OutputDrift(output_type="auto").fit(ref)
    assert det.type_ == "probability"
    same = det.score(rng.dirichlet([2, 2, 2], size=800))
    assert not same.drifted and set(same.details["classes"]) == {"0", "1", "2"}
    moved = det.score(rng.dirichlet([4, 2, 2], size=800))
    assert moved.drifted and moved.details["worst_class"] == 0
    binary = OutputDrift().fit(np.c_[1 - (p := rng.random(500)), p])
    assert list(binary.detectors_) == [1]


def test_false_alarm_rate_of_prediction_drift() -> None:
    alarms = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        alarms += prediction_drift(rng.normal(size=300), rng.normal(size=300)).drifted
        alarms += prediction_drift(_classes(rng, 300, 0.3), _classes(rng, 300, 0.3)).drifted
    assert alarms / 200 <= 0.09


def test_other_registered_tests_by_name() -> None:
    rng = np.random.default_rng(4)
    result = prediction_drift(_classes(rng, 500, 0.5), _classes(rng, 500, 0.1),
                              categorical_test="jensen_shannon")
    assert result.details["test"] == "jensen_shannon" and result.drifted


def test_invalid() -> None:
    with pytest.raises(InvalidArgument, match="'target'"):
        OutputDrift(target="feature")
    with pytest.raises(InvalidArgument, match="No detector named"):
        OutputDrift(numeric_test="kss")
    with pytest.raises(InvalidArgument, match="fitted"):
        OutputDrift().score([1.0, 2.0])
    det = OutputDrift(output_type="probability").fit(np.random.default_rng(0).random((50, 3)))
    with pytest.raises(InvalidArgument, match="class columns"):
        det.score(np.random.default_rng(1).random((50, 2)))
