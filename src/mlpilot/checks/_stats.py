"""Statistics shared by the checks: metrics, a fast AUC and a vectorised paired bootstrap.

Every metric here is written against a matrix of **row weights** of shape
``(n, B)``: one row per holdout row, one column per evaluation. The holdout
itself is the single column of ones; a bootstrap resample is the column of
counts (how often each holdout row was drawn). A thousand resamples then cost a
few matrix products instead of a thousand Python-level metric calls, and the
bootstrap is *paired* for free: the same count matrix is applied to the
candidate and to the baseline, so both are scored on exactly the same rows.

    >>> import numpy as np
    >>> y = np.array([0, 0, 1, 1]); s = np.array([0.1, 0.4, 0.35, 0.8])
    >>> float(roc_auc(y, s))
    0.75
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from mlpilot.core.errors import InvalidArgument

CLASSIFICATION_METRICS: tuple[str, ...] = ("roc_auc", "accuracy", "f1", "log_loss", "brier")
REGRESSION_METRICS: tuple[str, ...] = ("rmse", "mae", "r2")
#: Whether a larger value of the metric means a better model.
HIGHER_IS_BETTER: dict[str, bool] = {
    "roc_auc": True, "accuracy": True, "f1": True, "log_loss": False, "brier": False,
    "rmse": False, "mae": False, "r2": True,
}
#: Metrics that need class probabilities rather than predicted labels.
PROBABILISTIC_METRICS = frozenset({"roc_auc", "log_loss", "brier"})

#: Resamples are scored in chunks of at most this many (row × resample) cells,
#: which bounds memory at a few hundred MB whatever the holdout size.
_MAX_CELLS = 4_000_000


def metrics_for(task: str) -> tuple[str, ...]:
    """The metric names available for ``task`` (``classification`` or ``regression``)."""
    return CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS


def clean(value: Any, digits: int = 6) -> float | None:
    """``value`` as a rounded float for evidence, or None when missing or not finite."""
    if value is None:
        return None
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def _as_weights(weights: np.ndarray | None, n: int) -> np.ndarray:
    if weights is None:
        return np.ones((n, 1))
    w = np.asarray(weights, dtype=float)
    if w.ndim == 1:
        w = w.reshape(-1, 1)
    if w.shape[0] != n:
        raise InvalidArgument(
            f"Row weights must have one row per holdout row ({n}). Got shape {w.shape}."
        )
    return w


# -- AUC ----------------------------------------------------------------------------------
def roc_auc(y_true: np.ndarray, scores: np.ndarray,
            weights: np.ndarray | None = None) -> np.ndarray:
    """Binary ROC AUC by ranks (Mann–Whitney), ties counted half, for many weightings at once.

    Equal to ``sklearn.metrics.roc_auc_score(y_true, scores, sample_weight=w)``
    for each weighting ``w``, without sorting more than once.

    Args:
        y_true: ``(n,)`` truthy for the positive class.
        scores: ``(n,)`` higher means more likely positive.
        weights: ``(n, B)`` non-negative row weights (bootstrap counts), or ``(n,)``;
            None for the plain, unweighted AUC.

    Returns:
        ``(B,)`` AUCs (a 0-d array without ``weights``); NaN where a weighting has
        no positive or no negative row.
    """
    return _RankAUC(np.asarray(y_true, dtype=bool), np.asarray(scores, dtype=float))(
        weights)


class _RankAUC:
    """A binary AUC precomputed for repeated weightings of the same rows.

    With the negatives sorted by score, each positive contributes the cumulative
    weight of the negatives scored below it (plus half of those tied with it):
    one cumulative sum and a few row gathers per weighting, no sort per resample.
    """

    def __init__(self, positive: np.ndarray, scores: np.ndarray) -> None:
        neg = np.flatnonzero(~positive)
        self.neg_idx = neg[np.argsort(scores[neg], kind="mergesort")]
        pos = np.flatnonzero(positive)
        self.pos_idx = pos[np.argsort(scores[pos], kind="mergesort")]
        s_neg, s_pos = scores[self.neg_idx], scores[self.pos_idx]
        self.below = np.searchsorted(s_neg, s_pos, side="left")
        self.not_above = np.searchsorted(s_neg, s_pos, side="right")
        self.ties = bool(np.any(self.below != self.not_above))
        self.n = positive.size

    def __call__(self, weights: np.ndarray | None) -> np.ndarray:
        w = _as_weights(weights, self.n)
        cum = np.zeros((self.neg_idx.size + 1, w.shape[1]))
        np.cumsum(np.take(w, self.neg_idx, axis=0), axis=0, out=cum[1:])
        w_pos = np.take(w, self.pos_idx, axis=0)
        below = np.take(cum, self.below, axis=0)
        if self.ties:
            below += np.take(cum, self.not_above, axis=0)
            below *= 0.5
        n_pos, n_neg = w_pos.sum(axis=0), cum[-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            auc = np.einsum("ij,ij->j", w_pos, below) / (n_pos * n_neg)
        auc[(n_pos == 0) | (n_neg == 0)] = np.nan
        return auc[0] if weights is None else auc


# -- scores: one model's outputs, ready to be weighted ------------------------------------
class Scores:
    """One model's outputs on ``n`` holdout rows, precomputed for weighted metrics.

    Every metric but the AUC is a function of weighted sums of per-row terms
    (correct, squared error, log loss, …). Subclasses lay those terms out as the
    rows of one matrix so that a chunk of resamples costs one matrix product.
    Instances are immutable after construction.
    """

    n: int
    metrics: tuple[str, ...]
    _terms: np.ndarray  # (m, n) per-row terms; row 0 is all ones (the total weight)

    def evaluate(self, metric: str, weights: np.ndarray | None = None) -> np.ndarray:
        """``metric`` under each column of ``weights`` (``(n, B)``; None for the holdout).

        Returns:
            ``(B,)`` values (``(1,)`` without weights); NaN where undefined.

        Raises:
            InvalidArgument: naming the metrics these scores support.
        """
        return self.evaluate_many([metric], weights)[0]

    def evaluate_many(self, metrics: Sequence[str],
                      weights: np.ndarray | None = None) -> np.ndarray:
        """Several metrics at once: ``(len(metrics), B)``, sharing one matrix product.

        Raises:
            InvalidArgument: naming the metrics these scores support.
        """
        unknown = [m for m in metrics if m not in self.metrics]
        if unknown:
            raise InvalidArgument(
                f"The metric {unknown[0]!r} cannot be computed for this model. "
                f"Available: {list(self.metrics)}."
            )
        w = _as_weights(weights, self.n)
        sums = self._terms @ w
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.array([getattr(self, f"_{m}")(sums, w) for m in metrics], dtype=float)

    def value(self, metric: str) -> float:
        """``metric`` on the holdout rows themselves."""
        return float(self.evaluate(metric)[0])

    def subset(self, mask: np.ndarray) -> Scores:
        """The same model's scores on the rows selected by ``mask``."""
        raise NotImplementedError


class ClassificationScores(Scores):
    """A classifier's labels (and probabilities, when it has them) against the truth.

    Args:
        y_true: ``(n,)`` true labels.
        y_pred: ``(n,)`` predicted labels.
        proba: ``(n, K)`` class probabilities in the order of ``classes``, or None.
        classes: the model's class labels (default: the sorted labels seen).
        pos_label: the positive class of a binary task (default: the second
            class, ``1`` for 0/1 labels, like scikit-learn).

    Metrics follow scikit-learn: binary ``f1`` and ``roc_auc`` of the positive
    class, macro averages (``f1``) and macro one-vs-rest (``roc_auc``) for
    multiclass, ``log_loss`` clipped at machine epsilon, binary ``brier`` on the
    positive class and multiclass ``brier`` summed over classes.
    """

    def __init__(self, y_true: Sequence[Any] | np.ndarray, y_pred: Sequence[Any] | np.ndarray,
                 proba: np.ndarray | None = None,
                 classes: Sequence[Any] | np.ndarray | None = None,
                 pos_label: Any = None) -> None:
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
        self.classes = (np.unique(np.concatenate([y_true, y_pred])) if classes is None
                        else np.asarray(classes))
        self.pos_label = pos_label
        self.n = n = len(y_true)
        self._y_true, self._y_pred = y_true, y_pred
        k = len(self.classes)
        lookup = {c: i for i, c in enumerate(self.classes.tolist())}
        y_code = np.array([lookup.get(v, -1) for v in y_true.tolist()], dtype=int)
        p_code = np.array([lookup.get(v, -1) for v in y_pred.tolist()], dtype=int)
        onehot_y = (y_code[:, None] == np.arange(k)).astype(float)
        onehot_p = (p_code[:, None] == np.arange(k)).astype(float)
        pos = 1 if pos_label is None else lookup.get(pos_label, 1)
        f1_cols = [pos] if k == 2 else list(range(k))
        self._k_f1 = len(f1_cols)
        terms = [np.ones(n), (y_true == y_pred).astype(float)]
        for j in f1_cols:  # true positives, false positives, false negatives
            terms += [onehot_y[:, j] * onehot_p[:, j], (1 - onehot_y[:, j]) * onehot_p[:, j],
                      onehot_y[:, j] * (1 - onehot_p[:, j])]
        metrics = ["accuracy", "f1"]
        if proba is not None:
            proba = np.asarray(proba, dtype=float)
            if proba.ndim == 1:
                proba = proba.reshape(-1, 1)
            if proba.shape[1] == 1 and k == 2:
                proba = np.column_stack([1 - proba[:, 0], proba[:, 0]])
            if proba.shape != (n, k):
                raise InvalidArgument(
                    f"Class probabilities must have one column per class ({k}: "
                    f"{self.classes.tolist()}). Got shape {proba.shape}."
                )
            eps = np.finfo(float).eps
            p_true = np.where(y_code >= 0, proba[np.arange(n), np.maximum(y_code, 0)], 0.0)
            terms.append(-np.log(np.clip(p_true, eps, 1 - eps)))
            if k == 2:
                terms.append((proba[:, pos] - onehot_y[:, pos]) ** 2)
            else:
                terms.append(((proba - onehot_y) ** 2).sum(axis=1))
            self._aucs = [_RankAUC(y_code == j, proba[:, j]) for j in f1_cols]
            metrics = list(CLASSIFICATION_METRICS)
        self._proba = proba
        self._terms = np.array(terms)
        self.metrics = tuple(metrics)

    def subset(self, mask: np.ndarray) -> ClassificationScores:
        return ClassificationScores(
            self._y_true[mask], self._y_pred[mask],
            None if self._proba is None else self._proba[mask], self.classes, self.pos_label)

    def _accuracy(self, sums: np.ndarray, w: np.ndarray) -> np.ndarray:
        return sums[1] / sums[0]

    def _f1(self, sums: np.ndarray, w: np.ndarray) -> np.ndarray:
        counts = sums[2:2 + 3 * self._k_f1].reshape(self._k_f1, 3, -1)
        tp, fp, fn = counts[:, 0], counts[:, 1], counts[:, 2]
        denom = 2 * tp + fp + fn
        f1 = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0)
        if self._k_f1 == 1:  # binary: the positive class only
            return f1[0]
        present = denom > 0  # macro average over labels in y_true ∪ y_pred, like sklearn
        return (f1 * present).sum(axis=0) / present.sum(axis=0)

    def _log_loss(self, sums: np.ndarray, w: np.ndarray) -> np.ndarray:
        return sums[2 + 3 * self._k_f1] / sums[0]

    def _brier(self, sums: np.ndarray, w: np.ndarray) -> np.ndarray:
        return sums[3 + 3 * self._k_f1] / sums[0]

    def _roc_auc(self, sums: np.ndarray, w: np.ndarray) -> np.ndarray:
        return np.mean([auc(w) for auc in self._aucs], axis=0)


class RegressionScores(Scores):
    """A regressor's predictions against the truth (``rmse``, ``mae``, ``r2``)."""

    metrics = REGRESSION_METRICS

    def __init__(self, y_true: Sequence[float] | np.ndarray,
                 y_pred: Sequence[float] | np.ndarray) -> None:
        self._y_true = np.asarray(y_true, dtype=float)
        self._y_pred = np.asarray(y_pred, dtype=float).reshape(len(self._y_true), -1)[:, 0]
        self.n = len(self._y_true)
        err = self._y_pred - self._y_true
        # centring first keeps the sum of squares accurate for labels far from zero
        yc = self._y_true - (self._y_true.mean() if self.n else 0.0)
        self._terms = np.array([np.ones(self.n), err ** 2, np.abs(err), yc, yc ** 2])

    def subset(self, mask: np.ndarray) -> RegressionScores:
        return RegressionScores(self._y_true[mask], self._y_pred[mask])

    def _rmse(self, sums: np.ndarray, w: np.ndarray) -> np.ndarray:
        return np.sqrt(sums[1] / sums[0])

    def _mae(self, sums: np.ndarray, w: np.ndarray) -> np.ndarray:
        return sums[2] / sums[0]

    def _r2(self, sums: np.ndarray, w: np.ndarray) -> np.ndarray:
        total, sse, sy, syy = sums[0], sums[1], sums[3], sums[4]
        sst = syy - sy ** 2 / total
        # a constant truth: sklearn's convention (1 for a perfect fit, else 0)
        return np.where(sst > 1e-12 * np.maximum(syy, 1.0), 1 - sse / sst,
                        np.where(sse == 0, 1.0, 0.0))


# -- the bootstrap ------------------------------------------------------------------------
def bootstrap_weights(n: int, n_bootstrap: int, *, seed: int = 0,
                      max_cells: int = _MAX_CELLS) -> Iterator[np.ndarray]:
    """Yield chunks of bootstrap count matrices, ``(n, chunk)``, ``n_bootstrap`` columns in all.

    Column ``b`` holds how many times each of the ``n`` rows was drawn in
    resample ``b`` (``n`` row indices drawn with replacement). The indices come
    from one generator seeded with ``seed``, so a seed fixes the resamples.
    """
    if n <= 0 or n_bootstrap <= 0:
        return
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_bootstrap, max_cells // n))
    done = 0
    while done < n_bootstrap:
        c = min(chunk, n_bootstrap - done)
        idx = rng.integers(0, n, size=(c, n))
        counts = np.empty((n, c))
        for b in range(c):  # one resample at a time keeps the scatter inside the cache
            counts[:, b] = np.bincount(idx[b], minlength=n)
        yield counts
        done += c


def bootstrap(statistic: Callable[[np.ndarray], np.ndarray], n: int, *,
              n_bootstrap: int = 1000, seed: int = 0) -> np.ndarray:
    """``statistic(weights)`` on ``n_bootstrap`` resamples of ``n`` rows.

    Args:
        statistic: maps an ``(n, B)`` weight matrix to ``(B,)`` or ``(B, k)`` values.

    Returns:
        ``(n_bootstrap,)`` or ``(n_bootstrap, k)`` values, in resample order.
    """
    # The products here are skinny (a few terms x n rows x a chunk of resamples): a
    # threaded BLAS only adds overhead, and collapses on a busy machine. One thread.
    with threadpool_limits(limits=1, user_api="blas"):
        parts = [np.asarray(statistic(w), dtype=float) for w in
                 bootstrap_weights(n, n_bootstrap, seed=seed)]
    return np.concatenate(parts) if parts else np.empty(0)


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central ``confidence`` percentile interval of ``samples`` (NaNs ignored).

    Returns:
        ``(low, high)``; NaNs when no sample is finite.
    """
    finite = np.asarray(samples, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return math.nan, math.nan
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class MetricComparison:
    """A metric for the candidate and (optionally) the baseline, with a bootstrap CI.

    ``improvement`` is ``candidate - baseline`` signed so that positive means the
    candidate is better (``baseline - candidate`` for losses); ``ci`` is the
    interval of the improvement when there is a baseline, else of the
    candidate's own value.
    """

    metric: str
    candidate: float
    baseline: float | None
    improvement: float | None
    ci_low: float
    ci_high: float
    confidence: float
    n_valid: int

    def to_dict(self) -> dict[str, Any]:
        return {"candidate": clean(self.candidate), "baseline": clean(self.baseline),
                "difference": (None if self.baseline is None else
                               clean(self.candidate - self.baseline)),
                "improvement": clean(self.improvement),
                "ci": [clean(self.ci_low), clean(self.ci_high)],
                "ci_of": "improvement" if self.baseline is not None else "candidate",
                "higher_is_better": HIGHER_IS_BETTER[self.metric],
                "n_valid_resamples": self.n_valid}


def compare(candidate: Scores, baseline: Scores | None, metrics: Sequence[str], *,
            n_bootstrap: int = 1000, confidence: float = 0.95,
            seed: int = 0) -> dict[str, MetricComparison]:
    """Paired bootstrap of ``metrics`` for ``candidate`` against ``baseline``.

    Both models are scored on the same resamples (the same count matrix), so the
    interval of the difference reflects only how the models differ, not which
    rows happened to be drawn. Without a baseline, the interval is that of the
    candidate's own value.
    """
    metrics = list(metrics)
    signs = np.array([1.0 if HIGHER_IS_BETTER[m] else -1.0 for m in metrics])

    def statistic(w: np.ndarray) -> np.ndarray:
        cand = candidate.evaluate_many(metrics, w).T
        if baseline is None:
            return cand
        return (cand - baseline.evaluate_many(metrics, w).T) * signs

    samples = bootstrap(statistic, candidate.n, n_bootstrap=n_bootstrap, seed=seed)
    samples = samples.reshape(-1, len(metrics))
    out: dict[str, MetricComparison] = {}
    for j, m in enumerate(metrics):
        cand = candidate.value(m)
        base = None if baseline is None else baseline.value(m)
        improvement = None if base is None else (cand - base) * signs[j]
        low, high = percentile_interval(samples[:, j], confidence)
        out[m] = MetricComparison(m, cand, base, improvement, low, high, confidence,
                                  int(np.isfinite(samples[:, j]).sum()))
    return out


# -- grouping rows into slices ------------------------------------------------------------
MISSING_LABEL = "(missing)"


def slice_labels(values: pd.Series | Sequence[Any], bins: int = 4,
                 max_distinct: int = 10) -> pd.Series:
    """One label per row naming its slice of ``values``, as an ordered categorical.

    Categorical, boolean and text columns slice by value; numeric columns with
    at most ``max_distinct`` distinct values too; other numeric columns slice
    into ``bins`` quantile bins labelled like ``(35, 48]``. Missing values form
    their own slice, ``"(missing)"``, last. Categories come in their natural
    order (bins ascending, values sorted), not alphabetically.
    """
    s = pd.Series(values).reset_index(drop=True)
    missing = s.isna().to_numpy()
    numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
    order: list[str] = []
    if numeric and s.nunique(dropna=True) > max_distinct:
        x = s.to_numpy(dtype=float)
        edges = np.unique(np.nanquantile(x, np.linspace(0, 1, bins + 1)))
        code = np.clip(np.searchsorted(edges, x, side="left") - 1, 0, edges.size - 2)
        order = [f"{'[' if i == 0 else '('}{edges[i]:.4g}, {edges[i + 1]:.4g}]"
                 for i in range(edges.size - 1)]
        labels = np.array(order, dtype=object)[code]
    else:
        if isinstance(s.dtype, pd.CategoricalDtype):
            seen = list(s.cat.categories)
        else:
            seen = list(s.dropna().unique())
            try:
                seen = sorted(seen)
            except TypeError:  # mixed types: keep the order of appearance
                pass
        order = [str(v) for v in seen]
        labels = s.astype(object).map(str).to_numpy(dtype=object)
    labels[missing] = MISSING_LABEL
    if missing.any():
        order.append(MISSING_LABEL)
    return pd.Series(pd.Categorical(labels, categories=list(dict.fromkeys(order))))
