"""Realised performance with confidence intervals, and the window/feedback join."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from mlpilot.core.errors import InvalidArgument
from mlpilot.monitor.performance import (
    class_key,
    classification_performance,
    join_labels,
    regression_performance,
    wilson_interval,
    window_performance,
)
from mlpilot.serve.gateway.feedback import Feedback
from mlpilot.serve.inference_log import InferenceRecord

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def _record(rid: str, predict: list, proba: list | None = None, status: int = 200,
            route: str = "production") -> InferenceRecord:
    outputs: dict = {"predict": predict} if status < 400 else {}
    if proba is not None:
        outputs["predict_proba"] = proba
    return InferenceRecord(request_id=rid, time=T0, deployment="d", model="m", version=1,
                           features={"x": [1.0] * len(predict)}, outputs=outputs,
                           status=status, route=route)


def test_wilson_interval_known_values_and_edges() -> None:
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 0) == (None, None)
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and 0 < hi < 0.2
    with pytest.raises(InvalidArgument, match="successes <= n"):
        wilson_interval(5, 3)
    with pytest.raises(InvalidArgument, match="'confidence' parameter"):
        wilson_interval(1, 3, confidence=1.5)


def test_accuracy_interval_covers_the_true_rate_about_95_percent() -> None:
    rng = np.random.default_rng(7)
    true_rate, n, covered = 0.8, 150, 0
    for _ in range(200):
        y = rng.integers(0, 2, n)
        right = rng.uniform(size=n) < true_rate
        pred = np.where(right, y, 1 - y)
        acc = classification_performance(y, pred, n_resamples=0)["accuracy"]
        covered += acc.lower <= true_rate <= acc.upper
    assert 0.91 <= covered / 200 <= 0.99


def test_bootstrap_f1_interval_covers_most_of_the_time() -> None:
    rng = np.random.default_rng(11)
    covered = 0
    # the population F1 of this process, from a very large sample
    big_y = rng.integers(0, 2, 400_000)
    big_p = np.where(rng.uniform(size=big_y.size) < 0.75, big_y, 1 - big_y)
    true_f1 = skm.f1_score(big_y, big_p)
    for seed in range(60):
        y = rng.integers(0, 2, 300)
        pred = np.where(rng.uniform(size=300) < 0.75, y, 1 - y)
        f1 = classification_performance(y, pred, n_resamples=300, seed=seed)["f1"]
        covered += f1.lower <= true_f1 <= f1.upper
    assert covered / 60 >= 0.85


def test_binary_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    score = np.clip(0.3 * y + 0.7 * rng.uniform(size=500), 0, 1)
    pred = (score > 0.5).astype(int)
    perf = classification_performance(y, pred, np.column_stack([1 - score, score]))
    assert perf["accuracy"].value == pytest.approx(skm.accuracy_score(y, pred))
    assert perf["precision"].value == pytest.approx(skm.precision_score(y, pred))
    assert perf["recall"].value == pytest.approx(skm.recall_score(y, pred))
    assert perf["f1"].value == pytest.approx(skm.f1_score(y, pred))
    assert perf["roc_auc"].value == pytest.approx(skm.roc_auc_score(y, score))
    assert perf["brier"].value == pytest.approx(skm.brier_score_loss(y, score))
    assert perf["log_loss"].value == pytest.approx(skm.log_loss(y, score), rel=1e-6)
    for m in perf.metrics.values():
        assert m.lower <= m.value <= m.upper, m
    assert perf.details["average"] == "binary" and perf.details["positive_class"] == "1"
    json.dumps(perf.to_dict(), allow_nan=False)


def test_multiclass_macro_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 600)
    proba = rng.dirichlet([1, 1, 1], 600)
    proba[np.arange(600), y] += 0.6
    proba /= proba.sum(axis=1, keepdims=True)
    pred = proba.argmax(axis=1)
    perf = classification_performance(y, pred, proba)
    assert perf["f1"].value == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert perf["precision"].value == pytest.approx(skm.precision_score(y, pred,
                                                                        average="macro"))
    assert perf["roc_auc"].value == pytest.approx(
        skm.roc_auc_score(y, proba, multi_class="ovr", average="macro"))
    assert perf.details["average"] == "macro"
    assert perf["f1"].lower < perf["f1"].value < perf["f1"].upper


def test_bootstrap_is_seeded() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 200)
    pred = rng.integers(0, 2, 200)
    a = classification_performance(y, pred, seed=3)["f1"]
    b = classification_performance(y, pred, seed=3)["f1"]
    c = classification_performance(y, pred, seed=4)["f1"]
    assert a == b and (a.lower, a.upper) != (c.lower, c.upper)


def test_one_class_window_has_no_auc() -> None:
    perf = classification_performance([1, 1, 1], [1, 0, 1], [[0.2, 0.8], [0.6, 0.4], [0.1, 0.9]],
                                      classes=[0, 1])
    assert perf["roc_auc"].value is None
    assert "roc_auc" in perf.details["skipped"]
    assert perf.to_dict()["metrics"]["roc_auc"]["value"] is None


def test_classification_bad_inputs() -> None:
    with pytest.raises(InvalidArgument, match="at least one labelled row"):
        classification_performance([], [])
    with pytest.raises(InvalidArgument, match="same length"):
        classification_performance([1, 0], [1])
    with pytest.raises(InvalidArgument, match="not among the classes"):
        classification_performance([1, 2], [1, 2], classes=[0, 1])
    with pytest.raises(InvalidArgument, match=r"shape \(2, classes\)"):
        classification_performance([1, 0], [1, 0], [[0.1, 0.9]])
    with pytest.raises(InvalidArgument, match="within \\[0, 1\\]"):
        classification_performance([1, 0], [1, 0], [[0.1, 1.9], [0.5, 0.5]])
    with pytest.raises(InvalidArgument, match="n_resamples"):
        classification_performance([1, 0], [1, 0], n_resamples=-1)


def test_regression_metrics_and_mape_guard() -> None:
    rng = np.random.default_rng(4)
    y = rng.normal(10, 2, 400)
    y[:20] = 0.0  # undefined percentage errors
    pred = y + rng.normal(0, 1, 400)
    perf = regression_performance(y, pred)
    assert perf["mae"].value == pytest.approx(skm.mean_absolute_error(y, pred))
    assert perf["rmse"].value == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)))
    assert perf["r2"].value == pytest.approx(skm.r2_score(y, pred))
    assert perf["mape"].value == pytest.approx(
        skm.mean_absolute_percentage_error(y[20:], pred[20:]))
    assert perf.details["mape_excluded"] == 20
    for m in perf.metrics.values():
        assert m.method == "bootstrap" and m.lower <= m.value <= m.upper
    zero = regression_performance([0.0, 0.0], [1.0, 2.0])
    assert zero["mape"].value is None and zero["r2"].value is None
    with pytest.raises(InvalidArgument, match="must be numbers"):
        regression_performance(["a", "b"], [1.0, 2.0])
    with pytest.raises(InvalidArgument, match="finite"):
        regression_performance([1.0, float("nan")], [1.0, 2.0])


def test_class_keys_meet_across_types() -> None:
    assert {class_key(v) for v in (1, 1.0, "1", True, np.int64(1))} == {"1"}
    perf = classification_performance(["1", "0", "1"], [1, 0, 0])
    assert perf["accuracy"].value == pytest.approx(2 / 3)


def test_window_join_rules() -> None:
    records = [
        _record("a", [1], [[0.2, 0.8]]),
        _record("b", [0, 1, 1], [[0.9, 0.1], [0.3, 0.7], [0.4, 0.6]]),  # batch, scalar label
        _record("c", [0, 0], [[0.6, 0.4], [0.7, 0.3]]),  # batch, list label
        _record("d", [1], [[0.1, 0.9]]),  # no label yet
        _record("e", [1], status=503),  # failed: never counts
        _record("a", [0], [[0.9, 0.1]], route="shadow"),  # repeated id: ignored
        _record("f", [1, 0], [[0.2, 0.8], [0.8, 0.2]]),  # list label of the wrong length
    ]
    feedback = {"a": Feedback("a", 1, None, T0), "b": 0, "c": [0, 1], "e": 1, "f": [1]}
    frame, counts = join_labels(records, feedback)
    assert counts == {"predicted": 5, "labelled": 3, "rows": 4, "duplicates": 1,
                      "mismatched": 1}
    assert frame["label"].tolist() == [1, 0, 0, 1]
    perf = window_performance(records, feedback, n_resamples=50)
    assert perf is not None
    assert perf.rows == 4 and perf.predicted == 5 and perf.labelled == 3
    assert perf.coverage == pytest.approx(0.6)
    assert perf["accuracy"].value == pytest.approx(0.75)  # a, b right; c: one of two
    assert "roc_auc" in perf.metrics
    json.dumps(perf.to_dict(), allow_nan=False)


def test_window_performance_from_frame_and_regression() -> None:
    frame = pd.DataFrame({"request_id": ["r1", "r2", "r3"], "prediction": [1.0, 2.0, 3.0]})
    perf = window_performance(frame, {"r1": 1.5, "r2": "oops", "r3": 2.5}, task="regression",
                              n_resamples=20)
    assert perf is not None and perf.rows == 2 and perf.details["invalid_labels"] == 1
    assert perf["mae"].value == pytest.approx(0.5)
    assert window_performance(frame, {}, task="regression") is None
    with pytest.raises(InvalidArgument, match="No task named"):
        window_performance(frame, {}, task="ranking")
    with pytest.raises(InvalidArgument, match="'request_id' and 'prediction'"):
        window_performance(pd.DataFrame({"x": [1]}), {})
    with pytest.raises(InvalidArgument, match="mapping of request id"):
        window_performance(frame, [("r1", 1)])  # type: ignore[arg-type]
