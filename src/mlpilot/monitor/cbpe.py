"""Label-free performance estimation for classifiers: confidence-based (CBPE).

Labels arrive late or never; a calibrated classifier's own scores still say how
often it should be right. :class:`CBPE`, in the spirit of NannyML's estimator:

1. **fit** on a labelled reference (scores + labels): learn a calibration map per
   class, one-vs-rest — isotonic regression (default; monotone, no shape assumed)
   or Platt scaling (a logistic fit on the score's logit; steadier on small
   references) — so that a calibrated score ``c`` means "right with probability
   ``c``". Multiclass rows are renormalised to sum to one.
2. **estimate** on an unlabelled window: with calibrated probabilities ``C`` and the
   model's predictions, the *expected* confusion matrix is
   ``E[cm][true j, predicted l] = sum over rows predicted l of C[:, j]``. Accuracy is
   its trace over ``n``; F1 (positive class, or macro) follows from it; ROC AUC is
   the area under the expected ROC curve: sweeping the threshold down the raw
   scores, expected TP grows by ``c`` and expected FP by ``1 - c`` (one-vs-rest
   macro for multiclass).

The sampling error of each metric is the standard deviation of the realised metric
over bootstrap resamples of the reference, rescaled to the window size by
``sqrt(n_reference / n)``. An estimate below ``reference - alert_sigmas * sampling
error`` is flagged ``degraded``.

The estimate holds under covariate shift (inputs move, ``P(y | x)`` does not), which
is what CBPE assumes; under concept drift the calibration is stale and the estimate
is wrong. Realised performance (:mod:`mlpilot.monitor.performance`) settles it once
labels arrive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
from scipy import stats
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from mlpilot.core.errors import InvalidArgument
from mlpilot.core.jsonsafe import json_safe
from mlpilot.monitor.performance import (
    _natural_order,
    _resample_counts,
    class_key,
    f1_from_confusion,
    nanmean,
    weighted_auc,
)

__all__ = ["CALIBRATIONS", "CBPE", "CBPE_METRICS", "CBPEEstimate", "EstimatedMetric"]

CALIBRATIONS = ("isotonic", "platt", "none")
CBPE_METRICS = ("accuracy", "roc_auc", "f1")
_EPS = 1e-6


@dataclass(frozen=True)
class EstimatedMetric:
    """One estimated metric on one window.

    Attributes:
        name: ``"accuracy"``, ``"roc_auc"`` or ``"f1"``.
        value: the estimate (``None`` when undefined, e.g. AUC with no expected negatives).
        sampling_error: standard error of the metric at this window size.
        lower: ``value - z * sampling_error`` (z from the confidence level).
        upper: ``value + z * sampling_error``.
        reference: the metric realised on the labelled reference.
        threshold: ``reference - alert_sigmas * sampling_error``.
        degraded: the estimate is below the threshold.
    """

    name: str
    value: float | None
    sampling_error: float | None
    lower: float | None
    upper: float | None
    reference: float | None
    threshold: float | None
    degraded: bool

    def to_dict(self) -> dict[str, Any]:
        return json_safe(self.__dict__)


@dataclass(frozen=True)
class CBPEEstimate:
    """CBPE's answer on one window.

    Attributes:
        metrics: name -> :class:`EstimatedMetric`.
        rows: rows in the window.
        details: classes, calibration, averaging, confidence; JSON-able.
    """

    metrics: Mapping[str, EstimatedMetric]
    rows: int
    details: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> EstimatedMetric:
        return self.metrics[name]

    @property
    def degraded(self) -> bool:
        """True when any estimated metric is flagged."""
        return any(m.degraded for m in self.metrics.values())

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON form."""
        return json_safe({"rows": self.rows, "degraded": self.degraded,
                          "metrics": {k: m.to_dict() for k, m in self.metrics.items()},
                          "details": dict(self.details)})


class CBPE:
    """Confidence-based performance estimation of a classifier.

    Args:
        calibration: ``"isotonic"``, ``"platt"`` or ``"none"`` (the scores are
            trusted as calibrated).
        metrics: which of :data:`CBPE_METRICS` to estimate.
        classes: the model's classes in probability-column order (scikit-learn's
            ``classes_``); default: the reference labels sorted naturally.
        confidence: confidence level of the ``lower``/``upper`` band.
        alert_sigmas: how many sampling errors below the reference flags a drop.
        n_resamples: bootstrap resamples of the reference for the sampling error.
        seed: the bootstrap's seed.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> p = rng.uniform(size=2000)
        >>> y = rng.uniform(size=2000) < p  # calibrated scores
        >>> est = CBPE(calibration="none").fit(p, y).estimate(rng.uniform(0.4, 0.6, 500))
        >>> round(est["accuracy"].value, 2)
        0.55
    """

    def __init__(self, *, calibration: str = "isotonic",
                 metrics: Sequence[str] = CBPE_METRICS, classes: Sequence[Any] | None = None,
                 confidence: float = 0.95, alert_sigmas: float = 3.0, n_resamples: int = 200,
                 seed: int = 0) -> None:
        if calibration not in CALIBRATIONS:
            raise InvalidArgument(f"No calibration named {calibration!r}. Available: "
                                  f"{list(CALIBRATIONS)}.")
        unknown = [m for m in metrics if m not in CBPE_METRICS]
        if unknown or not metrics:
            raise InvalidArgument(f"CBPE estimates the metrics {list(CBPE_METRICS)}. Got "
                                  f"{list(metrics)!r}.")
        if not (isinstance(confidence, float) and 0 < confidence < 1):
            raise InvalidArgument(f"The 'confidence' parameter of CBPE must be a float in "
                                  f"(0, 1). Got {confidence!r} instead.")
        if isinstance(alert_sigmas, bool) or not isinstance(alert_sigmas, int | float) or (
                alert_sigmas <= 0):
            raise InvalidArgument(f"The 'alert_sigmas' parameter of CBPE must be > 0. Got "
                                  f"{alert_sigmas!r} instead.")
        if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 2:
            raise InvalidArgument(f"The 'n_resamples' parameter of CBPE must be an int >= 2. "
                                  f"Got {n_resamples!r} instead.")
        self.calibration = calibration
        self.metrics = tuple(metrics)
        self.classes = classes
        self.confidence = confidence
        self.alert_sigmas = float(alert_sigmas)
        self.n_resamples = n_resamples
        self.seed = seed

    # --- fitting -------------------------------------------------------------------

    def fit(self, reference_proba: Any, reference_labels: Sequence[Any],
            reference_pred: Sequence[Any] | None = None) -> Self:
        """Learn the calibration and the reference's realised metrics and their spread.

        Args:
            reference_proba: ``(n, k)`` scores in ``classes`` order, or ``(n,)``
                positive-class scores of a binary model.
            reference_labels: the true labels.
            reference_pred: the model's predicted labels (default: the argmax of
                the scores).

        Returns:
            ``self``.

        Raises:
            InvalidArgument: mismatched shapes, scores outside [0, 1], fewer than two
                classes in the labels, labels outside ``classes``.
        """
        labels = [class_key(v) for v in np.asarray(reference_labels, dtype=object).ravel()]
        keys = ([class_key(c) for c in self.classes] if self.classes is not None
                else _natural_order(labels))
        scores = self._scores(reference_proba, len(keys))
        if scores.shape[1] != len(keys):
            raise InvalidArgument(f"The reference scores have {scores.shape[1]} columns but "
                                  f"there are {len(keys)} classes {keys}; pass 'classes' in "
                                  "the model's column order.")
        n = scores.shape[0]
        if len(labels) != n:
            raise InvalidArgument(f"The reference has {n} score rows and {len(labels)} labels.")
        index = {k: i for i, k in enumerate(keys)}
        unknown = sorted(set(labels) - set(index))
        if unknown:
            raise InvalidArgument(f"Reference labels {unknown[:10]} are not among the classes "
                                  f"{keys}.")
        y = np.array([index[v] for v in labels], dtype=np.int64)
        if np.unique(y).size < 2:
            raise InvalidArgument("The CBPE reference needs labels of at least two classes. "
                                  f"Got only {keys[int(y[0])]!r}." if n else
                                  "The CBPE reference is empty.")
        self.classes_ = keys
        self.calibrators_ = self._fit_calibrators(scores, y)
        pred = self._predicted(scores, reference_pred)
        onehot = np.eye(len(keys))[y]
        self.reference_ = {m: float(v[0]) for m, v in
                           self._metric_values(onehot, pred, scores, np.ones((1, n))).items()}
        counts = _resample_counts(n, self.n_resamples, np.random.default_rng(self.seed))
        boot = self._metric_values(onehot, pred, scores, counts)
        self.reference_std_ = {m: float(np.nanstd(v, ddof=1)) for m, v in boot.items()}
        self.n_reference_ = n
        return self

    def _scores(self, proba: Any, k: int) -> np.ndarray:
        try:
            scores = np.asarray(proba, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidArgument("CBPE scores must be numbers, shape (n, classes).") from None
        if scores.ndim == 1 and k == 2:
            scores = np.column_stack([1 - scores, scores])
        if scores.ndim != 2 or scores.shape[0] == 0:
            raise InvalidArgument(f"CBPE scores must have shape (n, classes) with n >= 1. Got "
                                  f"{scores.shape}.")
        if not np.isfinite(scores).all() or scores.min() < 0 or scores.max() > 1:
            raise InvalidArgument("CBPE scores must be finite probabilities within [0, 1].")
        return scores

    def _fit_calibrators(self, scores: np.ndarray, y: np.ndarray) -> list[Any]:
        k = scores.shape[1]
        columns = [1] if k == 2 else range(k)  # binary: calibrate the positive score only
        out: list[Any] = []
        for j in columns:
            target = (y == j).astype(np.float64)
            if self.calibration == "isotonic":
                model: Any = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
                model.fit(scores[:, j], target)
            elif self.calibration == "platt":
                model = LogisticRegression(C=1e4).fit(_logit(scores[:, j])[:, None], target)
            else:
                model = None
            out.append(model)
        return out

    # --- estimating ----------------------------------------------------------------

    def calibrate(self, proba: Any) -> np.ndarray:
        """Calibrated class probabilities ``(n, k)`` of raw scores.

        Raises:
            InvalidArgument: called before :meth:`fit`, or scores of the wrong shape.
        """
        self._check_fitted()
        scores = self._scores(proba, len(self.classes_))
        k = len(self.classes_)
        if scores.shape[1] != k:
            raise InvalidArgument(f"CBPE was fitted on {k} classes; the scores have "
                                  f"{scores.shape[1]} columns.")
        if self.calibration == "none":
            cal = scores.copy()
        else:
            cols = [1] if k == 2 else range(k)
            cal = np.empty_like(scores)
            for j, model in zip(cols, self.calibrators_, strict=True):
                cal[:, j] = (model.predict(scores[:, j]) if self.calibration == "isotonic"
                             else model.predict_proba(_logit(scores[:, j])[:, None])[:, 1])
            if k == 2:
                cal[:, 0] = 1 - cal[:, 1]
        total = cal.sum(axis=1, keepdims=True)
        uniform = np.full_like(cal, 1 / k)
        return np.where(total > 0, cal / np.where(total > 0, total, 1), uniform)

    def estimate(self, proba: Any, y_pred: Sequence[Any] | None = None) -> CBPEEstimate:
        """Estimated performance of an unlabelled window.

        Args:
            proba: the window's raw scores, as for :meth:`fit`.
            y_pred: the model's predicted labels (default: the argmax of the scores).

        Returns:
            The :class:`CBPEEstimate`.

        Raises:
            InvalidArgument: called before :meth:`fit`, scores of the wrong shape or
                predictions outside the classes.
        """
        cal = self.calibrate(proba)
        scores = self._scores(proba, len(self.classes_))
        n = scores.shape[0]
        pred = self._predicted(scores, y_pred)
        values = self._metric_values(cal, pred, scores, np.ones((1, n)))
        z = float(stats.norm.ppf(0.5 + self.confidence / 2))
        out = {}
        for name in self.metrics:
            value = _num(values[name][0])
            se = _num(self.reference_std_[name] * np.sqrt(self.n_reference_ / n))
            ref = _num(self.reference_[name])
            threshold = ref - self.alert_sigmas * se if ref is not None and se is not None \
                else None
            out[name] = EstimatedMetric(
                name, value, se,
                value - z * se if value is not None and se is not None else None,
                value + z * se if value is not None and se is not None else None,
                ref, threshold,
                bool(value is not None and threshold is not None and value < threshold))
        k = len(self.classes_)
        details = {"classes": self.classes_, "calibration": self.calibration,
                   "average": "binary" if k == 2 else "macro",
                   "confidence": self.confidence, "alert_sigmas": self.alert_sigmas,
                   "n_reference": self.n_reference_}
        return CBPEEstimate(out, n, details)

    # --- internals -----------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "calibrators_"):
            raise InvalidArgument("This CBPE is not fitted yet. Call fit(reference_proba, "
                                  "reference_labels) first.")

    def _predicted(self, scores: np.ndarray, y_pred: Sequence[Any] | None) -> np.ndarray:
        if y_pred is None:
            return np.argmax(scores, axis=1)
        keys = [class_key(v) for v in np.asarray(y_pred, dtype=object).ravel()]
        if len(keys) != scores.shape[0]:
            raise InvalidArgument(f"There are {scores.shape[0]} score rows but {len(keys)} "
                                  "predictions.")
        index = {k: i for i, k in enumerate(self.classes_)}
        unknown = sorted(set(keys) - set(index))
        if unknown:
            raise InvalidArgument(f"Predictions {unknown[:10]} are not among the classes "
                                  f"{self.classes_}.")
        return np.array([index[v] for v in keys], dtype=np.int64)

    def _metric_values(self, probs: np.ndarray, pred: np.ndarray, scores: np.ndarray,
                       weights: np.ndarray) -> dict[str, np.ndarray]:
        """Metrics per weighting row; ``probs`` one-hot labels (realised) or calibrated."""
        k = probs.shape[1]
        positive = 1 if k == 2 else None
        total = weights.sum(axis=1)
        out: dict[str, np.ndarray] = {}
        if "accuracy" in self.metrics:
            out["accuracy"] = weights @ probs[np.arange(pred.size), pred] / total
        if "f1" in self.metrics:
            cm = np.zeros((weights.shape[0], k, k))
            for cls in range(k):
                mask = pred == cls
                if mask.any():
                    cm[:, :, cls] = weights[:, mask] @ probs[mask]  # (r, true j) predicted cls
            out["f1"] = f1_from_confusion(cm, positive)
        if "roc_auc" in self.metrics:
            if positive is not None:
                out["roc_auc"] = weighted_auc(scores[:, 1], probs[:, 1], weights)
            else:
                per = np.stack([weighted_auc(scores[:, j], probs[:, j], weights)
                                for j in range(k)])
                out["roc_auc"] = nanmean(per, axis=0)
        return out


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def _num(value: Any) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None
