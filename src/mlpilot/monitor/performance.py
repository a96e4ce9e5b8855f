"""Realised model performance on a labelled window, with confidence intervals.

Point estimates come from scikit-learn's metrics. Intervals:

* **Wilson score intervals** for proportions: accuracy (over labelled rows), and for
  binary tasks precision (over predicted positives) and recall (over actual positives).
  Wilson keeps its coverage near the nominal level for small windows and rates near
  0 or 1, where the normal (Wald) interval does not.
* **Seeded percentile bootstrap** for everything else (F1, ROC AUC, log loss, Brier,
  MAE, RMSE, R², MAPE). Resamples are drawn once as a count matrix (resample x row)
  and every metric is a weighted sum over it, so the bootstrap is a few matrix
  operations rather than hundreds of metric calls.

:func:`window_performance` joins a window of the gateway's inference records with
feedback labels (see its docstring for the join rules) and calls
:func:`classification_performance` or :func:`regression_performance`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn import metrics as skm

from mlpilot.core.errors import InvalidArgument
from mlpilot.core.jsonsafe import json_safe

__all__ = ["TASKS", "MetricValue", "Performance", "class_key", "classification_performance",
           "join_labels", "regression_performance", "wilson_interval", "window_performance"]

TASKS = ("classification", "regression")
FEEDBACK_ROUTE = "feedback"
_CHUNK = 4_000_000  # bootstrap cells (resamples x rows) held at once
_PROBA_EPS = 1e-15  # log loss clips probabilities like older scikit-learn did


@dataclass(frozen=True)
class MetricValue:
    """One metric on one window.

    Attributes:
        name: ``"accuracy"``, ``"f1"``, ``"roc_auc"``, ``"mae"``, ...
        value: the point estimate; ``None`` when undefined on this window (one class only).
        lower: lower end of the confidence interval (``None`` without one).
        upper: upper end of the confidence interval.
        method: how the interval was made: ``"wilson"``, ``"bootstrap"`` or ``"none"``.
    """

    name: str
    value: float | None
    lower: float | None = None
    upper: float | None = None
    method: str = "none"

    def to_dict(self) -> dict[str, Any]:
        return json_safe({"name": self.name, "value": self.value, "lower": self.lower,
                          "upper": self.upper, "method": self.method})


@dataclass(frozen=True)
class Performance:
    """Performance of one window.

    Attributes:
        task: ``"classification"`` or ``"regression"``.
        metrics: name -> :class:`MetricValue`.
        rows: labelled rows the metrics were computed on.
        predicted: requests (or rows, for array input) that could have been labelled.
        labelled: of those, how many carry a label.
        coverage: ``labelled / predicted`` (``None`` when nothing was predicted).
        confidence: the intervals' confidence level.
        details: classes, averaging, bootstrap size and seed, skipped metrics and why,
            join counts; JSON-able.
    """

    task: str
    metrics: Mapping[str, MetricValue]
    rows: int
    predicted: int
    labelled: int
    coverage: float | None
    confidence: float
    details: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> MetricValue:
        return self.metrics[name]

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON form (NaN and infinities become ``None``)."""
        return json_safe({
            "task": self.task, "rows": self.rows, "predicted": self.predicted,
            "labelled": self.labelled, "coverage": self.coverage,
            "confidence": self.confidence,
            "metrics": {k: m.to_dict() for k, m in self.metrics.items()},
            "details": dict(self.details),
        })


# --- parameters ----------------------------------------------------------------------


def _check_confidence(confidence: float) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not (
            0.0 < confidence < 1.0):
        raise InvalidArgument(f"The 'confidence' parameter must be a float in (0, 1). "
                              f"Got {confidence!r} instead.")
    return float(confidence)


def _check_resamples(n_resamples: int) -> int:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int | np.integer) or (
            n_resamples < 0):
        raise InvalidArgument(f"The 'n_resamples' parameter must be an int >= 0 (0: no "
                              f"bootstrap intervals). Got {n_resamples!r} instead.")
    return int(n_resamples)


def wilson_interval(successes: int, n: int, confidence: float = 0.95
                    ) -> tuple[float | None, float | None]:
    """Wilson score interval of a binomial proportion.

    Args:
        successes: number of successes (0 <= successes <= n).
        n: number of trials; ``0`` gives ``(None, None)``.
        confidence: the interval's confidence level in (0, 1).

    Returns:
        ``(lower, upper)``.

    Raises:
        InvalidArgument: counts out of range or a bad confidence.

    Example:
        >>> lo, hi = wilson_interval(8, 10)
        >>> round(lo, 3), round(hi, 3)
        (0.49, 0.943)
    """
    confidence = _check_confidence(confidence)
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise InvalidArgument(f"Wilson interval needs 0 <= successes <= n. Got successes="
                              f"{successes}, n={n}.")
    if n == 0:
        return None, None
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


# --- vectorised bootstrap -----------------------------------------------------------


def _resample_counts(n: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_resamples, n)`` matrix: how often each row is drawn in each resample."""
    draws = rng.integers(0, n, size=(n_resamples, n))
    offsets = (np.arange(n_resamples) * n)[:, None]
    counts = np.bincount((draws + offsets).ravel(), minlength=n_resamples * n)
    return counts.reshape(n_resamples, n).astype(np.float64)


class _Bootstrap:
    """Seeded resamples of ``n`` rows, drawn once (in memory-bounded chunks) and reused.

    Every metric of one window sees the same resamples; when the count matrices would
    not fit in the cache budget they are redrawn from the same seed on each use.
    """

    def __init__(self, n: int, n_resamples: int, seed: int, confidence: float) -> None:
        self.n, self.n_resamples, self.seed, self.confidence = n, n_resamples, seed, confidence
        self._cache: list[np.ndarray] | None = None

    def _chunks(self) -> Iterable[np.ndarray]:
        if self._cache is not None:
            yield from self._cache
            return
        rng = np.random.default_rng(self.seed)
        step = max(1, _CHUNK // max(self.n, 1))
        keep = self.n * self.n_resamples <= 2 * _CHUNK
        cache = []
        for start in range(0, self.n_resamples, step):
            counts = _resample_counts(self.n, min(step, self.n_resamples - start), rng)
            if keep:
                cache.append(counts)
            yield counts
        if keep:
            self._cache = cache

    def values(self, statistic: Any) -> np.ndarray:
        """``statistic(counts)`` over every resample."""
        out = [np.asarray(statistic(c), dtype=np.float64) for c in self._chunks()]
        return np.concatenate(out) if out else np.empty(0)

    def metric(self, name: str, value: float | None, statistic: Any) -> MetricValue:
        """The metric with its percentile interval (none without resamples)."""
        if value is None or not self.n_resamples:
            return MetricValue(name, value)
        lo, hi = _percentile(self.values(statistic), self.confidence)
        return MetricValue(name, value, lo, hi, "bootstrap")


def _percentile(values: np.ndarray, confidence: float) -> tuple[float | None, float | None]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None, None
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(values, [alpha, 1 - alpha])
    return float(lo), float(hi)


def weighted_auc(scores: np.ndarray, positive: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC of ``scores`` for every row of ``weights`` (ties count one half).

    Args:
        scores: ``(n,)`` scores, higher meaning more positive.
        positive: ``(n,)`` booleans, or ``(n,)`` probabilities of being positive
            (an expected AUC, as CBPE uses).
        weights: ``(r, n)`` non-negative row weights (bootstrap counts).

    Returns:
        ``(r,)`` AUCs; NaN where a weighting has no positive or no negative mass.
    """
    order = np.argsort(scores, kind="stable")
    s = scores[order]
    pos = np.asarray(positive, dtype=np.float64)[order]
    w = weights[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    wp = np.add.reduceat(w * pos, starts, axis=1)  # positive mass per tied group
    wn = np.add.reduceat(w * (1 - pos), starts, axis=1)
    below = np.cumsum(wn, axis=1) - wn  # negative mass strictly below each group
    num = np.sum(wp * (below + 0.5 * wn), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / (wp.sum(axis=1) * wn.sum(axis=1))


def confusion_counts(codes: np.ndarray, k: int, weights: np.ndarray) -> np.ndarray:
    """``(r, k, k)`` weighted confusion matrices; ``codes = true * k + predicted``."""
    order = np.argsort(codes, kind="stable")
    c = codes[order]
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    sums = np.add.reduceat(weights[:, order], starts, axis=1)
    out = np.zeros((weights.shape[0], k * k))
    out[:, c[starts]] = sums
    return out.reshape(-1, k, k)


def f1_from_confusion(cm: np.ndarray, positive: int | None) -> np.ndarray:
    """F1 from ``(r, k, k)`` confusion matrices: of class ``positive``, or macro (``None``).

    Classes with no true and no predicted rows are left out of the macro average
    (their F1 is undefined); a class predicted or present but never right scores 0.
    """
    tp = np.diagonal(cm, axis1=1, axis2=2)
    fp = cm.sum(axis=1) - tp
    fn = cm.sum(axis=2) - tp
    denom = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), np.nan)
    if positive is not None:
        return np.nan_to_num(f1[:, positive], nan=0.0)
    return nanmean(np.where(denom > 0, f1, np.nan), axis=1)


def nanmean(values: np.ndarray, axis: int) -> np.ndarray:
    """``np.nanmean`` that returns NaN for all-NaN slices without warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=axis)


# --- labels and classes ----------------------------------------------------------------


def class_key(value: Any) -> str:
    """The comparable key of a class label: ``1``, ``1.0``, ``"1"`` and ``True`` all give ``"1"``.

    Labels come back from JSON, predictions from numpy; keying both by text makes
    them meet. Booleans key as ``"1"``/``"0"`` so a model trained on 0/1 and feedback
    sent as ``true``/``false`` agree.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _natural_order(keys: Iterable[str]) -> list[str]:
    keys = sorted(set(keys))
    try:
        return sorted(keys, key=float)
    except ValueError:
        return keys


def _as_1d(values: Any, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=object)
    if array.ndim != 1:
        raise InvalidArgument(f"The {what} must be one-dimensional. Got shape {array.shape}.")
    return array


# --- classification ------------------------------------------------------------------


def classification_performance(
    y_true: Sequence[Any], y_pred: Sequence[Any], proba: Any = None, *,
    classes: Sequence[Any] | None = None, pos_label: Any = None, confidence: float = 0.95,
    n_resamples: int = 500, seed: int = 0, predicted: int | None = None,
) -> Performance:
    """Classification metrics with confidence intervals.

    Binary tasks (two classes) report precision, recall and F1 of the positive class;
    multiclass tasks report their macro averages. With ``proba`` the ROC AUC
    (one-vs-rest macro for multiclass), log loss and Brier score (mean squared
    distance to the one-hot label, summed over classes for multiclass) are added.

    Args:
        y_true: the labels.
        y_pred: the predicted labels, same length.
        proba: optional ``(n, k)`` class probabilities, columns in ``classes`` order
            (or ``(n,)`` positive-class scores for a binary task).
        classes: the model's classes in ``predict_proba`` column order (scikit-learn's
            ``classes_``). Default: the labels and predictions seen, sorted naturally
            (numbers numerically) — scikit-learn's order when every class occurs.
        pos_label: the positive class of a binary task (default: the second class).
        confidence: confidence level of the intervals.
        n_resamples: bootstrap resamples (0 disables bootstrap intervals).
        seed: the bootstrap's seed.
        predicted: rows that could have been labelled, for the coverage (default: n).

    Returns:
        The window's :class:`Performance`.

    Raises:
        InvalidArgument: empty or mismatched inputs, bad parameters, probabilities
            of the wrong shape or outside [0, 1], unknown ``pos_label``.
    """
    confidence = _check_confidence(confidence)
    n_resamples = _check_resamples(n_resamples)
    t = np.array([class_key(v) for v in _as_1d(y_true, "labels")], dtype=object)
    p = np.array([class_key(v) for v in _as_1d(y_pred, "predictions")], dtype=object)
    n = t.size
    if n == 0:
        raise InvalidArgument("Classification performance needs at least one labelled row. "
                              "Got none.")
    if p.size != n:
        raise InvalidArgument(f"The labels and predictions must have the same length. Got "
                              f"{n} labels and {p.size} predictions.")
    notes: dict[str, str] = {}
    keys = ([class_key(c) for c in classes] if classes is not None
            else _natural_order(np.concatenate([t, p])))
    if len(set(keys)) != len(keys):
        raise InvalidArgument(f"The classes must be distinct. Got {list(classes or keys)}.")
    unknown = sorted((set(t) | set(p)) - set(keys))
    if unknown:
        raise InvalidArgument(f"Labels or predictions {unknown[:10]} are not among the "
                              f"classes {keys}. Pass every class the model has.")
    index = {k: i for i, k in enumerate(keys)}
    ti = np.array([index[v] for v in t], dtype=np.int64)
    pi = np.array([index[v] for v in p], dtype=np.int64)
    k = len(keys)
    binary = k <= 2
    positive: int | None = None
    if binary:
        pos_key = class_key(pos_label) if pos_label is not None else keys[-1]
        if pos_key not in index:
            raise InvalidArgument(f"pos_label {pos_label!r} is not one of the classes {keys}.")
        positive = index[pos_key]
    elif pos_label is not None:
        raise InvalidArgument(f"pos_label applies to binary tasks only; these labels have "
                              f"{k} classes {keys}.")

    correct = int(np.sum(ti == pi))
    out: dict[str, MetricValue] = {}
    lo, hi = wilson_interval(correct, n, confidence)
    out["accuracy"] = MetricValue("accuracy", float(skm.accuracy_score(ti, pi)), lo, hi, "wilson")
    codes = ti * k + pi
    boot = _Bootstrap(n, n_resamples, seed, confidence)
    if binary:
        assert positive is not None
        tp = int(np.sum((ti == positive) & (pi == positive)))
        npred, ntrue = int(np.sum(pi == positive)), int(np.sum(ti == positive))
        for name, denom in (("precision", npred), ("recall", ntrue)):
            value = tp / denom if denom else None  # a proportion: tp over its denominator
            lo, hi = wilson_interval(tp, denom, confidence)
            out[name] = MetricValue(name, value, lo, hi, "wilson" if denom else "none")
        f1_point = float(skm.f1_score(ti, pi, labels=[positive], average="micro",
                                      zero_division=0))
    else:
        for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score)):
            value = float(fn(ti, pi, average="macro", labels=np.unique(np.r_[ti, pi]),
                             zero_division=0))
            out[name] = boot.metric(name, value, lambda w, nm=name: _macro_pr(codes, k, w, nm))
        f1_point = float(skm.f1_score(ti, pi, average="macro", labels=np.unique(np.r_[ti, pi]),
                                      zero_division=0))
    out["f1"] = boot.metric("f1", f1_point,
                            lambda w: f1_from_confusion(confusion_counts(codes, k, w), positive))
    if proba is not None:
        _probability_metrics(out, notes, proba, ti, k, positive, boot)
    details = {"classes": keys, "average": "binary" if binary else "macro",
               "positive_class": keys[positive] if positive is not None else None,
               "n_resamples": n_resamples, "seed": seed, "correct": correct}
    if notes:
        details["skipped"] = notes
    predicted = n if predicted is None else int(predicted)
    return Performance("classification", out, n, predicted, n,
                       n / predicted if predicted else None, confidence, details)


def _macro_pr(codes: np.ndarray, k: int, w: np.ndarray, name: str) -> np.ndarray:
    cm = confusion_counts(codes, k, w)
    tp = np.diagonal(cm, axis1=1, axis2=2)
    denom = cm.sum(axis=1) if name == "precision" else cm.sum(axis=2)
    present = (cm.sum(axis=1) + cm.sum(axis=2)) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(denom > 0, tp / np.where(denom > 0, denom, 1), 0.0)
    return nanmean(np.where(present, ratio, np.nan), axis=1)


def _probability_metrics(out: dict[str, MetricValue], notes: dict[str, str], proba: Any,
                         ti: np.ndarray, k: int, positive: int | None,
                         boot: _Bootstrap) -> None:
    try:
        probs = np.asarray(proba, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidArgument("The probabilities must be numbers, shape (n, classes).") from None
    n = ti.size
    if probs.ndim == 1 and k <= 2:
        probs = np.column_stack([1 - probs, probs]) if positive == 1 else np.column_stack(
            [probs, 1 - probs])
    if probs.ndim != 2 or probs.shape[0] != n:
        raise InvalidArgument(f"The probabilities must have shape ({n}, classes). Got "
                              f"{probs.shape}.")
    if not np.isfinite(probs).all() or probs.min() < 0 or probs.max() > 1:
        raise InvalidArgument("The probabilities must be finite and within [0, 1].")
    if probs.shape[1] != k:
        notes["probabilities"] = (f"{probs.shape[1]} probability columns for {k} classes; "
                                  "pass the model's classes to use them")
        return
    onehot = np.eye(k)[ti]
    clipped = np.clip(probs, _PROBA_EPS, 1 - _PROBA_EPS)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    row_loss = -np.log(clipped[np.arange(n), ti])
    ll = float(skm.log_loss(ti, clipped, labels=np.arange(k)))
    out["log_loss"] = boot.metric("log_loss", ll, lambda w: w @ row_loss / n)
    if positive is not None:
        row_brier = (probs[:, positive] - (ti == positive)) ** 2
        brier = float(skm.brier_score_loss(ti == positive, probs[:, positive]))
    else:
        row_brier = np.sum((probs - onehot) ** 2, axis=1)
        brier = float(np.mean(row_brier))
    out["brier"] = boot.metric("brier", brier, lambda w: w @ row_brier / n)
    present = np.unique(ti)
    if present.size < 2:
        notes["roc_auc"] = "the window's labels hold one class only"
        out["roc_auc"] = MetricValue("roc_auc", None)
        return
    if positive is not None:
        scores, pos = probs[:, positive], ti == positive
        auc = float(skm.roc_auc_score(pos, scores))
        out["roc_auc"] = boot.metric("roc_auc", auc, lambda w: weighted_auc(scores, pos, w))
        return
    # one-vs-rest macro over the classes present (scikit-learn needs all of them)
    aucs = [float(skm.roc_auc_score(ti == c, probs[:, c])) for c in present]
    auc = float(np.mean(aucs))

    def macro_auc(w: np.ndarray) -> np.ndarray:
        per = np.stack([weighted_auc(probs[:, c], ti == c, w) for c in present])
        return nanmean(per, axis=0)

    if present.size < k:
        notes["roc_auc"] = f"macro over the {present.size} classes present of {k}"
    out["roc_auc"] = boot.metric("roc_auc", auc, macro_auc)


# --- regression ----------------------------------------------------------------------


def regression_performance(
    y_true: Sequence[Any], y_pred: Sequence[Any], *, confidence: float = 0.95,
    n_resamples: int = 500, seed: int = 0, predicted: int | None = None,
    mape_epsilon: float = 1e-12,
) -> Performance:
    """MAE, RMSE, R² and MAPE with bootstrap confidence intervals.

    MAPE leaves out rows whose label is (near) zero, ``|y| <= mape_epsilon``, where a
    percentage error is undefined (scikit-learn's version divides by epsilon there and
    explodes); ``details["mape_excluded"]`` counts them, and MAPE is ``None`` when no
    row remains. R² is ``None`` for constant labels.

    Args:
        y_true: the numeric labels.
        y_pred: the numeric predictions, same length.
        confidence: confidence level of the intervals.
        n_resamples: bootstrap resamples (0 disables intervals).
        seed: the bootstrap's seed.
        predicted: rows that could have been labelled, for the coverage (default: n).
        mape_epsilon: labels with ``|y| <= mape_epsilon`` are left out of MAPE.

    Returns:
        The window's :class:`Performance`.

    Raises:
        InvalidArgument: empty, mismatched, non-numeric or non-finite inputs; bad parameters.
    """
    confidence = _check_confidence(confidence)
    n_resamples = _check_resamples(n_resamples)
    t, p = _numeric(y_true, "labels"), _numeric(y_pred, "predictions")
    n = t.size
    if n == 0:
        raise InvalidArgument("Regression performance needs at least one labelled row. Got none.")
    if p.size != n:
        raise InvalidArgument(f"The labels and predictions must have the same length. Got "
                              f"{n} labels and {p.size} predictions.")
    err = p - t
    out: dict[str, MetricValue] = {}
    boot = _Bootstrap(n, n_resamples, seed, confidence)
    out["mae"] = boot.metric("mae", float(skm.mean_absolute_error(t, p)),
                             lambda w: w @ np.abs(err) / n)
    out["rmse"] = boot.metric("rmse", float(skm.root_mean_squared_error(t, p)),
                              lambda w: np.sqrt(w @ err**2 / n))
    if n >= 2 and np.ptp(t) > 0:
        def r2(w: np.ndarray) -> np.ndarray:
            mean = w @ t / n
            sst = w @ t**2 - n * mean**2
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(sst > 0, 1 - (w @ err**2) / np.where(sst > 0, sst, 1), np.nan)

        out["r2"] = boot.metric("r2", float(skm.r2_score(t, p)), r2)
    else:
        out["r2"] = MetricValue("r2", None)
    keep = np.abs(t) > mape_epsilon
    if keep.any():
        ape = np.where(keep, np.abs(err) / np.where(keep, np.abs(t), 1), 0.0)
        mape = float(skm.mean_absolute_percentage_error(t[keep], p[keep]))

        def mape_of(w: np.ndarray) -> np.ndarray:
            kept = w @ keep
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(kept > 0, (w @ ape) / np.where(kept > 0, kept, 1), np.nan)

        out["mape"] = boot.metric("mape", mape, mape_of)
    else:
        out["mape"] = MetricValue("mape", None)
    predicted = n if predicted is None else int(predicted)
    details = {"n_resamples": n_resamples, "seed": seed, "mape_excluded": int(np.sum(~keep))}
    return Performance("regression", out, n, predicted, n, n / predicted if predicted else None,
                       confidence, details)


def _numeric(values: Any, what: str) -> np.ndarray:
    array = _as_1d(values, what)
    try:
        out = np.array([_number(v) for v in array], dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidArgument(f"The {what} of a regression must be numbers. Got "
                              f"{array[:5].tolist()!r}...") from None
    if not np.isfinite(out).all():
        raise InvalidArgument(f"The {what} of a regression must be finite numbers. "
                              "Got NaN or infinity.")
    return out


def _number(value: Any) -> float:
    if isinstance(value, str | bytes):
        raise TypeError(value)
    return float(value)


# --- joining a window with feedback --------------------------------------------------------


def _outputs_rows(outputs: Mapping[str, Any]) -> tuple[list[Any], list[Any] | None]:
    """Predictions (first output per row) and probability rows of one logged answer."""
    if not outputs:
        return [], None
    value = outputs["predict"] if "predict" in outputs else next(iter(outputs.values()))
    value = value.tolist() if isinstance(value, np.ndarray) else value
    rows = list(value) if isinstance(value, list | tuple) else [value]
    rows = [r[0] if isinstance(r, list | tuple) and r else r for r in rows]
    proba = outputs.get("predict_proba")
    proba = proba.tolist() if isinstance(proba, np.ndarray) else proba
    if not isinstance(proba, list | tuple) or len(proba) != len(rows):
        proba = None
    return rows, (list(proba) if proba is not None else None)


def _label_of(value: Any) -> Any:
    return getattr(value, "label", value)  # a Feedback object or a bare label


def join_labels(records: Any, feedback: Mapping[str, Any]) -> tuple[pd.DataFrame, dict[str, int]]:
    """Rows of a window that carry a label, and the join's counts.

    Args:
        records: :class:`~mlpilot.serve.inference_log.InferenceRecord` objects, or a
            DataFrame with ``request_id`` and ``prediction`` columns (one row per
            prediction; an optional ``proba`` column of probability lists).
        feedback: request id -> label, or -> :class:`~mlpilot.serve.gateway.feedback.Feedback`
            (as :func:`~mlpilot.serve.gateway.feedback.read_feedback` returns).

    Returns:
        ``(frame, counts)``: the frame has ``request_id``, ``prediction``, ``proba``
        (``None`` where absent) and ``label``; counts are ``predicted`` (requests),
        ``labelled`` (requests with a label), ``rows`` (labelled rows),
        ``duplicates`` (repeated request ids, ignored) and ``mismatched`` (list
        labels whose length differs from the request's rows, ignored).

    Join rules: feedback, failed (status >= 400) and empty records are skipped; a
    request id seen twice counts once (its first record). A scalar label — the only
    kind the gateway's feedback endpoint accepts — labels the request's **first row**
    (a batch request gets one label, as in :mod:`mlpilot.delivery.windows`). A list
    label (callers that build the mapping themselves, e.g. from a labelled batch
    file) labels **every row**, positionally, and must have one entry per row.

    Raises:
        InvalidArgument: a frame without the needed columns, or records of the wrong type.
    """
    if not isinstance(feedback, Mapping):
        raise InvalidArgument(f"The feedback must be a mapping of request id -> label. Got "
                              f"{type(feedback).__name__}.")
    requests: dict[str, tuple[list[Any], list[Any] | None]] = {}
    duplicates = 0
    for rid, rows, proba in _requests(records):
        if rid in requests:
            duplicates += 1
            continue
        requests[rid] = (rows, proba)
    out: dict[str, list[Any]] = {"request_id": [], "prediction": [], "proba": [], "label": []}
    labelled = mismatched = 0
    for rid, (rows, proba) in requests.items():
        if rid not in feedback or not rows:
            continue
        label = _label_of(feedback[rid])
        if isinstance(label, np.ndarray):
            label = label.tolist()
        if isinstance(label, list | tuple):
            if len(label) != len(rows):
                mismatched += 1
                continue
            labels, take = list(label), len(rows)
        else:
            labels, take = [label], 1
        if any(v is None for v in labels):
            mismatched += 1
            continue
        labelled += 1
        for i in range(take):
            out["request_id"].append(rid)
            out["prediction"].append(rows[i])
            out["proba"].append(proba[i] if proba is not None else None)
            out["label"].append(labels[i])
    counts = {"predicted": len(requests), "labelled": labelled, "rows": len(out["label"]),
              "duplicates": duplicates, "mismatched": mismatched}
    return pd.DataFrame(out), counts


def _requests(records: Any) -> Iterable[tuple[str, list[Any], list[Any] | None]]:
    if isinstance(records, pd.DataFrame):
        missing = {"request_id", "prediction"} - set(records.columns)
        if missing:
            raise InvalidArgument(f"The window frame needs the columns 'request_id' and "
                                  f"'prediction' (and optionally 'proba'). Missing "
                                  f"{sorted(missing)}.")
        has_proba = "proba" in records.columns
        for rid, group in records.groupby("request_id", sort=False):
            proba = group["proba"].tolist() if has_proba else None
            if proba is not None and all(p is None for p in proba):
                proba = None
            yield str(rid), group["prediction"].tolist(), proba
        return
    from mlpilot.serve.inference_log import InferenceRecord

    for r in records:
        if not isinstance(r, InferenceRecord):
            raise InvalidArgument(f"Expected InferenceRecord objects or a DataFrame. Got "
                                  f"{type(r).__name__}.")
        if r.route == FEEDBACK_ROUTE or r.status >= 400:
            continue
        rows, proba = _outputs_rows(r.outputs)
        if rows:
            yield r.request_id, rows, proba


def window_performance(
    records: Any, feedback: Mapping[str, Any], *, task: str = "classification",
    classes: Sequence[Any] | None = None, pos_label: Any = None, confidence: float = 0.95,
    n_resamples: int = 500, seed: int = 0,
) -> Performance | None:
    """Performance of one window of served requests, from the labels that arrived.

    Joins ``records`` with ``feedback`` (rules in :func:`join_labels`) and computes
    :func:`classification_performance` (using ``predict_proba`` where every labelled
    row has it) or :func:`regression_performance`. Labels that do not fit the task
    (a text label in a regression) are dropped and counted in ``details["invalid_labels"]``.

    Args:
        records: the window's inference records (one model version's), or a frame
            with ``request_id``/``prediction``/``proba`` columns.
        feedback: request id -> label or ``Feedback``.
        task: ``"classification"`` or ``"regression"``.
        classes: the model's classes in probability-column order (classification).
        pos_label: positive class of a binary task.
        confidence: confidence level of the intervals.
        n_resamples: bootstrap resamples.
        seed: the bootstrap's seed.

    Returns:
        The :class:`Performance`, with ``predicted``/``labelled``/``coverage`` counted in
        requests; ``None`` when no request of the window is labelled yet.

    Raises:
        InvalidArgument: unknown ``task``, or inputs as in :func:`join_labels`.
    """
    if task not in TASKS:
        raise InvalidArgument(f"No task named {task!r}. Available: {list(TASKS)}.")
    frame, counts = join_labels(records, feedback)
    invalid = 0
    if task == "regression" and len(frame):
        ok = np.array([_is_number(v) for v in frame["label"]]) & np.array(
            [_is_number(v) for v in frame["prediction"]])
        invalid = int(np.sum(~ok))
        frame = frame[ok]
    if frame.empty:
        return None
    if task == "classification":
        proba = frame["proba"].tolist()
        use = proba if all(p is not None for p in proba) else None
        result = classification_performance(
            frame["label"].tolist(), frame["prediction"].tolist(), use, classes=classes,
            pos_label=pos_label, confidence=confidence, n_resamples=n_resamples, seed=seed)
    else:
        result = regression_performance(frame["label"].tolist(), frame["prediction"].tolist(),
                                        confidence=confidence, n_resamples=n_resamples,
                                        seed=seed)
    details = dict(result.details) | {"join": counts, "invalid_labels": invalid}
    predicted, labelled = counts["predicted"], counts["labelled"]
    return Performance(result.task, result.metrics, result.rows, predicted, labelled,
                       labelled / predicted if predicted else None, result.confidence, details)


def _is_number(value: Any) -> bool:
    if isinstance(value, str | bytes) or value is None:
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
