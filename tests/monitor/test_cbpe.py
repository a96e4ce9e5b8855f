"""CBPE: label-free estimates track realised performance under covariate shift."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mlpilot.core.errors import InvalidArgument
from mlpilot.monitor.cbpe import CBPE
from mlpilot.monitor.performance import classification_performance

W = np.array([[2.0, -1.0], [-1.0, 1.5], [0.5, 0.5]])  # 3-class logits per feature


def _binary(rng: np.random.Generator, n: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """P(y | x) is fixed (a logistic); only the spread of x shifts."""
    x = rng.normal(size=(n, 2)) * scale
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(2 * x[:, 0] - x[:, 1])))).astype(int)
    return x, y


def _multiclass(rng: np.random.Generator, n: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, 2)) * scale
    logits = x @ W.T
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    y = (rng.uniform(size=(n, 1)) > np.cumsum(p, axis=1)).sum(axis=1)
    return x, y


@pytest.fixture(scope="module")
def binary_setup() -> tuple[LogisticRegression, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    model = LogisticRegression().fit(*_binary(rng, 4000, 2.0))
    x_ref, y_ref = _binary(rng, 5000, 2.0)
    return model, model.predict_proba(x_ref), y_ref


@pytest.mark.parametrize("calibration", ["isotonic", "platt"])
def test_binary_estimates_track_realised_under_covariate_shift(binary_setup, calibration) -> None:
    model, p_ref, y_ref = binary_setup
    cbpe = CBPE(calibration=calibration).fit(p_ref, y_ref)
    rng = np.random.default_rng(1)
    realised_acc = []
    for scale in (2.0, 1.0, 0.5):  # x moves toward the boundary: accuracy falls
        x, y = _binary(rng, 4000, scale)
        proba = model.predict_proba(x)
        est = cbpe.estimate(proba)
        real = classification_performance(y, model.predict(x), proba, n_resamples=0)
        for name in ("accuracy", "roc_auc", "f1"):
            assert est[name].value == pytest.approx(real[name].value, abs=0.03), (scale, name)
        realised_acc.append(real["accuracy"].value)
        assert est["accuracy"].lower < est["accuracy"].value < est["accuracy"].upper
        assert est.degraded == (scale < 2.0)
    assert realised_acc[0] - realised_acc[-1] > 0.15  # the shift did cut accuracy


def test_multiclass_estimate_tracks_a_drop() -> None:
    rng = np.random.default_rng(2)
    model = LogisticRegression().fit(*_multiclass(rng, 6000, 2.0))
    x_ref, y_ref = _multiclass(rng, 6000, 2.0)
    cbpe = CBPE().fit(model.predict_proba(x_ref), y_ref)
    estimates, realised = [], []
    for scale in (2.0, 0.6):
        x, y = _multiclass(rng, 4000, scale)
        proba = model.predict_proba(x)
        est = cbpe.estimate(proba, model.predict(x))
        real = classification_performance(y, model.predict(x), proba, n_resamples=0)
        assert est["accuracy"].value == pytest.approx(real["accuracy"].value, abs=0.03)
        assert est["roc_auc"].value == pytest.approx(real["roc_auc"].value, abs=0.03)
        assert est["f1"].value == pytest.approx(real["f1"].value, abs=0.04)
        estimates.append(est["accuracy"].value)
        realised.append(real["accuracy"].value)
    assert estimates[0] - estimates[1] > 0.1 and realised[0] - realised[1] > 0.1
    assert est.details["average"] == "macro" and est.details["classes"] == ["0", "1", "2"]


def test_sampling_error_shrinks_with_window_size(binary_setup) -> None:
    model, p_ref, y_ref = binary_setup
    cbpe = CBPE(calibration="none", metrics=["accuracy"]).fit(p_ref, y_ref)
    small = cbpe.estimate(p_ref[:100])["accuracy"].sampling_error
    large = cbpe.estimate(p_ref[:2500])["accuracy"].sampling_error
    assert small == pytest.approx(large * 5, rel=1e-9)
    # at the reference size it is the binomial standard error of the reference accuracy
    acc = cbpe.reference_["accuracy"]
    full = cbpe.estimate(p_ref)["accuracy"].sampling_error
    assert full == pytest.approx(np.sqrt(acc * (1 - acc) / len(y_ref)), rel=0.2)
    out = cbpe.estimate(p_ref).to_dict()
    json.dumps(out, allow_nan=False)
    assert set(out["metrics"]) == {"accuracy"}


def test_one_dimensional_binary_scores_and_string_labels() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(size=3000)
    y = np.where(rng.uniform(size=3000) < p, "yes", "no")
    cbpe = CBPE(calibration="none", classes=["no", "yes"]).fit(p, y)
    est = cbpe.estimate(np.full(500, 0.9))
    assert est["accuracy"].value == pytest.approx(0.9)


def test_bad_inputs() -> None:
    with pytest.raises(InvalidArgument, match="No calibration named"):
        CBPE(calibration="beta")
    with pytest.raises(InvalidArgument, match="CBPE estimates the metrics"):
        CBPE(metrics=["mae"])
    with pytest.raises(InvalidArgument, match="not fitted"):
        CBPE().estimate([[0.5, 0.5]])
    with pytest.raises(InvalidArgument, match="at least two classes"):
        CBPE(classes=[0, 1]).fit([[0.2, 0.8], [0.3, 0.7]], [1, 1])
    with pytest.raises(InvalidArgument, match="within \\[0, 1\\]"):
        CBPE().fit([[0.2, 1.8], [0.3, 0.7]], [0, 1])
    cbpe = CBPE().fit([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.1, 0.9]], [0, 1, 0, 1])
    with pytest.raises(InvalidArgument, match="fitted on 2 classes"):
        cbpe.estimate([[0.2, 0.3, 0.5]])
    with pytest.raises(InvalidArgument, match="not among the classes"):
        cbpe.estimate([[0.2, 0.8]], ["cat"])
