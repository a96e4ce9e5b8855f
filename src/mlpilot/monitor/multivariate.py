"""Multivariate drift: does the window, taken as a whole, look like the reference?

Univariate tests look at one column at a time and miss a change in how columns
relate (a correlation that flips while every marginal stays the same). Two
detectors look at the joint distribution:

* :class:`DomainClassifier` (``"domain_classifier"``) trains a classifier to tell
  reference rows from window rows; its cross-validated AUC is the statistic, and the
  columns it relies on are the root-cause evidence.
* :class:`PCAReconstruction` (``"pca_reconstruction"``) learns the reference's
  principal subspace; rows that leave it reconstruct badly.

Encoding (:class:`FrameEncoder`): numeric and boolean columns are used as floats
(±inf counts as missing); datetimes as nanoseconds since the epoch (exclude ids and
timestamps with ``columns=``: time always drifts); anything else is categorical.
Categories are learned from the reference: the ``max_categories`` most frequent keep
their own code, other reference categories share an ``"other"`` code and categories
never seen in the reference an ``"unseen"`` code, so new categories are evidence, not
errors. The tree model takes missing values natively; the dense form (PCA, logistic
regression) imputes the reference mean and adds a missing-indicator per numeric
column, plus a ``"missing"`` level per categorical column.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
from scipy import stats

from mlpilot.core.errors import InvalidArgument
from mlpilot.monitor.detector import Detector, DetectorResult, register

__all__ = ["DomainClassifier", "FrameEncoder", "PCAReconstruction"]

_MIN_ROWS = 10


def _frame(data: Any, what: str) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise InvalidArgument(
            f"The {what} of a multivariate detector must be a pandas DataFrame. "
            f"Got {type(data).__name__}.")
    if len(data) < _MIN_ROWS:
        raise InvalidArgument(
            f"The {what} must have at least {_MIN_ROWS} rows. Got {len(data)}.")
    return data


def _alpha(owner: str, alpha: float) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise InvalidArgument(
            f"The 'alpha' parameter of {owner} must be a float in (0, 1). Got {alpha!r}.")
    return float(alpha)


def _int(owner: str, name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidArgument(
            f"The '{name}' parameter of {owner} must be an integer >= {minimum}. Got {value!r}.")
    return int(value)


class FrameEncoder:
    """Turns frames into numbers the same way for the reference and every window.

    Args:
        columns: the columns to use; ``None`` uses every column of the reference.
        max_categories: categories per column that keep their own code.
    """

    def __init__(self, columns: Sequence[str] | None = None, max_categories: int = 20) -> None:
        self.columns = None if columns is None else list(columns)
        self.max_categories = _int("FrameEncoder", "max_categories", max_categories, 1)

    def fit(self, frame: pd.DataFrame) -> Self:
        """Learn column kinds, categories, means and scales from the reference."""
        columns = list(frame.columns) if self.columns is None else self.columns
        missing = [c for c in columns if c not in frame.columns]
        if missing or not columns:
            raise InvalidArgument(
                f"The reference must have the columns {missing or 'to monitor'}. "
                f"Got {list(frame.columns)}.")
        self.columns_ = [str(c) for c in columns]
        self._source = list(columns)
        self.numeric_: list[str] = []
        self.categories_: dict[str, list[Any]] = {}
        self.known_: dict[str, set[Any]] = {}
        for name, col in zip(self.columns_, self._source, strict=True):
            series = frame[col]
            if self._is_numeric(series):
                self.numeric_.append(name)
            else:
                counts = series.dropna().astype(str).value_counts(sort=True)
                self.categories_[name] = list(counts.index[: self.max_categories])
                self.known_[name] = set(counts.index)
        raw, _ = self.ordinal(frame)
        num = raw[:, : len(self.numeric_)]
        with np.errstate(all="ignore"):
            mean = np.nanmean(num, axis=0) if len(num) else np.zeros(0)
            std = np.nanstd(num, axis=0) if len(num) else np.zeros(0)
        self.mean_ = np.where(np.isfinite(mean), mean, 0.0)
        self.scale_ = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        dense = self._dense_raw(frame)
        self.center_ = dense.mean(axis=0)
        self.center_[: len(self.numeric_)] = 0.0  # numerics are already standardised
        return self

    @staticmethod
    def _is_numeric(series: pd.Series) -> bool:
        return (pd.api.types.is_numeric_dtype(series.dtype)
                or pd.api.types.is_datetime64_any_dtype(series.dtype))

    def _numeric(self, series: pd.Series) -> np.ndarray:
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            values = series.to_numpy(dtype="datetime64[ns]").astype("int64").astype(float)
            values[series.isna().to_numpy()] = np.nan
        else:
            values = np.array(pd.to_numeric(series, errors="coerce").to_numpy(
                dtype=float, na_value=np.nan))
        values[~np.isfinite(values)] = np.nan
        return values

    def _columns(self, frame: pd.DataFrame) -> list[Any]:
        if not hasattr(self, "columns_"):
            raise InvalidArgument("The encoder must be fitted before it encodes a window.")
        missing = [c for c in self._source if c not in frame.columns]
        if missing:
            raise InvalidArgument(
                f"The window lacks the reference columns {missing}; it has "
                f"{list(frame.columns)}. Score windows with the reference's columns.")
        return self._source

    def ordinal(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Numeric columns first, then categorical codes (NaN for missing).

        Returns the matrix and a boolean mask of its categorical columns. Codes are
        ``0..K-1`` for the kept categories, ``K`` for other reference categories and
        ``K+1`` for unseen ones (tree models take at most 255 codes, so K <= 253).
        """
        source = dict(zip(self.columns_, self._columns(frame), strict=True))
        parts = [self._numeric(frame[source[name]]) for name in self.numeric_]
        for name, cats in self.categories_.items():
            kept = cats[:253]
            series = frame[source[name]]
            text = series.astype(str)
            codes = pd.Series(np.full(len(series), float(len(kept) + 1)), index=series.index)
            codes[text.isin(self.known_[name]).to_numpy()] = float(len(kept))
            lookup = {c: float(i) for i, c in enumerate(kept)}
            mapped = text.map(lookup)
            codes[mapped.notna().to_numpy()] = mapped[mapped.notna()].to_numpy()
            codes[series.isna().to_numpy()] = np.nan
            parts.append(codes.to_numpy(dtype=float))
        matrix = np.column_stack(parts) if parts else np.empty((len(frame), 0))
        return matrix, self.categorical_mask()

    def categorical_mask(self) -> np.ndarray:
        """Which columns of :meth:`ordinal`'s matrix hold category codes."""
        return np.r_[np.zeros(len(self.numeric_), dtype=bool),
                     np.ones(len(self.categories_), dtype=bool)]

    def _dense_raw(self, frame: pd.DataFrame) -> np.ndarray:
        raw, _ = self.ordinal(frame)
        n_num = len(self.numeric_)
        num = raw[:, :n_num]
        isnan = np.isnan(num)
        std = np.where(isnan, 0.0, (np.where(isnan, 0.0, num) - self.mean_) / self.scale_)
        blocks = [std, isnan.astype(float)]
        for j, cats in enumerate(self.categories_.values()):
            codes = raw[:, n_num + j]
            k = len(cats[:253])
            onehot = np.zeros((len(raw), k + 3))  # kept..., other, unseen, missing
            idx = np.where(np.isnan(codes), k + 2, np.nan_to_num(codes)).astype(int)
            onehot[np.arange(len(raw)), idx] = 1.0
            blocks.append(onehot)
        return np.hstack(blocks)

    def dense(self, frame: pd.DataFrame) -> np.ndarray:
        """Standardised numerics, missing indicators and centred one-hot categories."""
        return self._dense_raw(frame) - self.center_

    def groups(self, dense: bool) -> dict[str, list[int]]:
        """Encoded column indices of each source column (for importances)."""
        n_num = len(self.numeric_)
        out: dict[str, list[int]] = {}
        if not dense:
            for i, name in enumerate(self.numeric_ + list(self.categories_)):
                out[name] = [i]
            return out
        for i, name in enumerate(self.numeric_):
            out[name] = [i, n_num + i]
        pos = 2 * n_num
        for name, cats in self.categories_.items():
            width = len(cats[:253]) + 3
            out[name] = list(range(pos, pos + width))
            pos += width
        return out


def _auc(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """AUC of ``scores`` for ``labels == 1`` and its variance under the null (ties corrected).

    Under the null the held-out scores are exchangeable between the two groups, so
    ``U`` is Mann–Whitney distributed: var U = n0 n1 / 12 · (n + 1 - Σ(t³ - t) / (n (n - 1))).
    """
    n1 = int(labels.sum())
    n0 = labels.size - n1
    n = labels.size
    ranks = stats.rankdata(scores)
    u = ranks[labels == 1].sum() - n1 * (n1 + 1) / 2
    _, counts = np.unique(scores, return_counts=True)
    ties = float((counts.astype(float) ** 3 - counts).sum())
    var_u = n0 * n1 / 12.0 * ((n + 1) - ties / (n * (n - 1)))
    return float(u / (n0 * n1)), float(var_u / (n0 * n1) ** 2)


@register
class DomainClassifier(Detector):
    """Drift as separability: can a classifier tell window rows from reference rows?

    Each side is subsampled to at most ``max_rows`` (seeded). A stratified
    ``n_splits``-fold cross-validation fits one model per fold and scores its
    held-out rows; the statistic is the mean held-out AUC (0.5: indistinguishable).

    Calibration (``null``):

    * ``"analytic"`` (default): each fold's model never saw its held-out rows, so
      under the null their scores are exchangeable between the two domains and the
      fold's AUC has the Mann–Whitney null (mean 0.5, tie-corrected variance). Fold
      AUCs are correlated (about 1 / (K - 1): fold i's model learnt from fold j and vice
      versa), so se = sqrt(2 · mean fold variance / n_splits), not the independent
      sqrt(var / K) (which measured 9% false alarms at alpha 0.05). One-sided z-test;
      costs nothing beyond the fit; measured false-alarm rates are at or below
      ``alpha`` (see the tests).
    * ``"permutation"``: the whole cross-validation is repeated ``n_permutations``
      times with shuffled domain labels; threshold = the (1 - alpha) quantile of those
      AUCs, p-value = (1 + #null >= AUC) / (1 + n_permutations). Exact whatever the
      model does, but ``n_permutations + 1`` times the cost; use with ``model="logistic"``
      or small frames, and at least ``1/alpha - 1`` permutations.

    ``drifted`` when the AUC exceeds ``threshold`` = max(critical AUC, 0.5 + min_effect);
    ``effect_size`` = AUC - 0.5 (twice it is the Gini). When drifted (or with
    ``explain="always"``), ``details["top_features"]`` ranks the columns by held-out
    permutation importance (the AUC lost when the column is shuffled).

    ``model="hgb"`` (histogram gradient boosting, categorical-aware) catches changes in
    interactions and correlations; ``"logistic"`` is faster but sees only shifts of
    the (one-hot, standardised) means.

    Args:
        alpha: significance level.
        model: ``"hgb"`` or ``"logistic"``.
        null: ``"analytic"`` or ``"permutation"``.
        n_permutations: permutations for ``null="permutation"``.
        n_splits: cross-validation folds.
        max_rows: rows kept per side.
        min_effect: smallest AUC - 0.5 that counts as drift (guards huge windows).
        columns: the columns to use (default: all of the reference's).
        max_categories: categories per column that keep their own code.
        max_iter: boosting iterations of the ``"hgb"`` model.
        explain: ``"auto"`` (importances when drifted), ``"always"`` or ``"never"``.
        n_top: how many columns ``top_features`` lists.
        random_state: seed for subsampling, folds, models and permutations.
    """

    name = "domain_classifier"
    kind = "multivariate"

    def __init__(self, alpha: float = 0.05, model: str = "hgb", null: str = "analytic",
                 n_permutations: int = 19, n_splits: int = 5, max_rows: int = 20_000,
                 min_effect: float = 0.0, columns: Sequence[str] | None = None,
                 max_categories: int = 253, max_iter: int = 100, explain: str = "auto",
                 n_top: int = 10, random_state: int = 0) -> None:
        owner = "DomainClassifier"
        self.alpha = _alpha(owner, alpha)
        for pname, value, options in (("model", model, ("hgb", "logistic")),
                                      ("null", null, ("analytic", "permutation")),
                                      ("explain", explain, ("auto", "always", "never"))):
            if value not in options:
                raise InvalidArgument(
                    f"The '{pname}' parameter of {owner} must be one of {list(options)}. "
                    f"Got {value!r}.")
        self.model, self.null, self.explain = model, null, explain
        self.n_permutations = _int(owner, "n_permutations", n_permutations, 1)
        self.n_splits = _int(owner, "n_splits", n_splits, 2)
        self.max_rows = _int(owner, "max_rows", max_rows, _MIN_ROWS)
        if not 0 <= min_effect < 0.5:
            raise InvalidArgument(
                f"The 'min_effect' parameter of {owner} must be in [0, 0.5). Got {min_effect}.")
        self.min_effect = float(min_effect)
        self.columns = columns
        self.max_categories = _int(owner, "max_categories", max_categories, 1)
        self.max_iter = _int(owner, "max_iter", max_iter, 1)
        self.n_top = _int(owner, "n_top", n_top, 1)
        self.random_state = int(random_state)

    def fit(self, reference: Any) -> Self:
        frame = _frame(reference, "reference")
        if len(frame) > self.max_rows:
            frame = frame.sample(n=self.max_rows, random_state=self.random_state)
        self.encoder_ = FrameEncoder(self.columns, self.max_categories).fit(frame)
        self.reference_ = self._encode(frame)
        return self

    def _encode(self, frame: pd.DataFrame) -> np.ndarray:
        if self.model == "hgb":
            return self.encoder_.ordinal(frame)[0]
        return self.encoder_.dense(frame)

    def _estimator(self, seed: int) -> Any:
        if self.model == "hgb":
            from sklearn.ensemble import HistGradientBoostingClassifier

            mask = self.encoder_.categorical_mask()
            return HistGradientBoostingClassifier(
                max_iter=self.max_iter, learning_rate=0.1, max_leaf_nodes=15,
                min_samples_leaf=20, early_stopping=False, random_state=seed,
                categorical_features=mask if mask.any() else None)
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=1.0, max_iter=500)

    def _cross_validate(self, x: np.ndarray, y: np.ndarray, seed: int,
                        keep: bool = False) -> tuple[list[float], list[float], list[Any]]:
        from sklearn.model_selection import StratifiedKFold

        folds = StratifiedKFold(self.n_splits, shuffle=True, random_state=seed)
        aucs, variances, kept = [], [], []
        for train, test in folds.split(x, y):
            est = self._estimator(seed).fit(x[train], y[train])
            auc, var = _auc(est.predict_proba(x[test])[:, 1], y[test])
            aucs.append(auc)
            variances.append(var)
            if keep:
                kept.append((est, test, auc))
        return aucs, variances, kept

    def score(self, current: Any) -> DetectorResult:
        if not hasattr(self, "reference_"):
            raise InvalidArgument("DomainClassifier must be fitted before it scores a window.")
        frame = _frame(current, "window")
        rng = np.random.default_rng(self.random_state)
        if len(frame) > self.max_rows:
            frame = frame.iloc[np.sort(rng.choice(len(frame), self.max_rows, replace=False))]
        cur = self._encode(frame)
        ref = self.reference_
        if min(len(ref), len(cur)) < self.n_splits:
            raise InvalidArgument(
                f"Both sides need at least n_splits={self.n_splits} rows. "
                f"Got {len(ref)} and {len(cur)}.")
        x = np.vstack([ref, cur])
        y = np.r_[np.zeros(len(ref), dtype=int), np.ones(len(cur), dtype=int)]
        aucs, variances, kept = self._cross_validate(x, y, self.random_state, keep=True)
        auc = float(np.mean(aucs))
        details: dict[str, Any] = {
            "model": self.model, "null": self.null, "fold_auc": aucs,
            "n_reference": len(ref), "n_current": len(cur), "gini": 2 * auc - 1}
        if self.null == "analytic":
            # Fold AUCs are not independent: fold i's AUC and fold j's share the
            # agreement between folds i and j (each trained on the other), which makes
            # their null correlation about 1 / (K - 1); the variance of their mean is then
            # about 2 / K times a fold's, twice the independent value.
            se = math.sqrt(2.0 * float(np.mean(variances)) / len(aucs))
            p_value = float(stats.norm.sf((auc - 0.5) / se)) if se > 0 else float(auc <= 0.5)
            critical = 0.5 + float(stats.norm.isf(self.alpha)) * se
            details["null_se"] = se
        else:
            null = []
            for b in range(self.n_permutations):
                perm = np.random.default_rng([self.random_state, b]).permutation(y)
                null.append(float(np.mean(self._cross_validate(x, perm, self.random_state)[0])))
            arr = np.sort(np.asarray(null))
            p_value = float((1 + (arr >= auc).sum()) / (1 + arr.size))
            # the smallest AUC whose permutation p-value is <= alpha
            rank = math.ceil((1 - self.alpha) * (arr.size + 1)) - 1
            critical = float(arr[rank]) if rank < arr.size else 1.0
            details["null_auc"] = arr.tolist()
        threshold = max(critical, 0.5 + self.min_effect)
        drifted = auc > threshold
        if self.explain == "always" or (self.explain == "auto" and drifted):
            details["top_features"] = self._importances(x, y, kept, rng)
        return DetectorResult(
            detector=self.name, feature=None, statistic=auc, threshold=threshold,
            drifted=bool(drifted), p_value=p_value, effect_size=auc - 0.5, details=details)

    def _importances(self, x: np.ndarray, y: np.ndarray, kept: list[Any],
                     rng: np.random.Generator) -> list[dict[str, Any]]:
        """Held-out permutation importance of each source column, averaged over folds."""
        groups = self.encoder_.groups(dense=self.model != "hgb")
        total = dict.fromkeys(groups, 0.0)
        for est, test, auc in kept:
            xt = x[test]
            for name, cols in groups.items():
                shuffled = xt.copy()
                shuffled[:, cols] = xt[rng.permutation(len(xt))][:, cols]
                total[name] += auc - _auc(est.predict_proba(shuffled)[:, 1], y[test])[0]
        ranked = sorted(total.items(), key=lambda kv: -kv[1])[: self.n_top]
        return [{"feature": name, "importance": value / len(kept)} for name, value in ranked]


@register
class PCAReconstruction(Detector):
    """Drift as structure loss: window rows leave the reference's principal subspace.

    The reference is standardised (:meth:`FrameEncoder.dense`) and a PCA keeps the
    components explaining ``variance`` of it. A row's error is its squared distance to
    its reconstruction. The statistic is the window's mean error divided by the
    reference's, so 1 means "as well explained as the reference".

    Calibration: the reference's errors are cross-fitted (``n_splits`` folds, each
    row's error from a PCA that did not see it), so they are honest out-of-sample
    errors. The null distribution of the ratio at the window's size ``n`` is
    bootstrapped from them: ``n_bootstrap`` windows of ``n`` errors (seeded) divided by
    a draw of the reference mean's own sampling error (normal, CLT) — without the
    latter, equal-sized windows measured 10% false alarms at alpha 0.05. Once
    ``n · n_bootstrap`` exceeds 2e7 a normal approximation replaces the bootstrap.
    ``threshold`` = its (1 - alpha) quantile (at least ``1 + min_effect``), p-value =
    the bootstrap tail share; ``effect_size`` = ratio - 1, the relative increase.
    ``details["top_features"]`` ranks columns by their excess error share.

    PCA sees changes of correlation (and of scale along well-explained directions);
    with many independent columns it keeps nearly all of them and loses power.

    Args:
        alpha: significance level.
        variance: share of the reference's variance to keep, in (0, 1).
        n_splits: folds for the cross-fitted reference errors.
        n_bootstrap: bootstrap windows for the null.
        max_rows: reference rows kept (subsampled, seeded).
        min_effect: smallest relative increase that counts as drift.
        columns: the columns to use (default: all of the reference's).
        max_categories: categories per column that keep their own one-hot column.
        n_top: how many columns ``top_features`` lists.
        random_state: seed.
    """

    name = "pca_reconstruction"
    kind = "multivariate"

    def __init__(self, alpha: float = 0.05, variance: float = 0.9, n_splits: int = 5,
                 n_bootstrap: int = 2000, max_rows: int = 20_000, min_effect: float = 0.0,
                 columns: Sequence[str] | None = None, max_categories: int = 20,
                 n_top: int = 10, random_state: int = 0) -> None:
        owner = "PCAReconstruction"
        self.alpha = _alpha(owner, alpha)
        if not 0 < variance < 1:
            raise InvalidArgument(
                f"The 'variance' parameter of {owner} must be in (0, 1). Got {variance!r}.")
        self.variance = float(variance)
        self.n_splits = _int(owner, "n_splits", n_splits, 2)
        self.n_bootstrap = _int(owner, "n_bootstrap", n_bootstrap, 100)
        self.max_rows = _int(owner, "max_rows", max_rows, _MIN_ROWS)
        if min_effect < 0:
            raise InvalidArgument(
                f"The 'min_effect' parameter of {owner} must be >= 0. Got {min_effect}.")
        self.min_effect = float(min_effect)
        self.columns = columns
        self.max_categories = _int(owner, "max_categories", max_categories, 1)
        self.n_top = _int(owner, "n_top", n_top, 1)
        self.random_state = int(random_state)

    def fit(self, reference: Any) -> Self:
        from sklearn.decomposition import PCA
        from sklearn.model_selection import KFold

        frame = _frame(reference, "reference")
        if len(frame) > self.max_rows:
            frame = frame.sample(n=self.max_rows, random_state=self.random_state)
        self.encoder_ = FrameEncoder(self.columns, self.max_categories).fit(frame)
        z = self.encoder_.dense(frame)
        full = PCA(n_components=self.variance, svd_solver="full").fit(z)
        k = int(full.n_components_)
        if k >= z.shape[1]:
            raise InvalidArgument(
                f"PCAReconstruction keeps all {k} dimensions at variance={self.variance}: "
                "nothing is left to reconstruct. Lower 'variance' or give more columns.")
        self.pca_ = full
        errors = np.empty_like(z)
        folds = KFold(self.n_splits, shuffle=True, random_state=self.random_state)
        for train, test in folds.split(z):
            part = PCA(n_components=k, svd_solver="full").fit(z[train])
            errors[test] = (z[test] - part.inverse_transform(part.transform(z[test]))) ** 2
        self.errors_ = errors.sum(axis=1)
        self.mean_error_ = max(float(self.errors_.mean()), 1e-12)
        self.feature_error_ = self._by_feature(errors)
        return self

    def _by_feature(self, squared: np.ndarray) -> dict[str, float]:
        per_column = squared.mean(axis=0)
        return {name: float(per_column[cols].sum())
                for name, cols in self.encoder_.groups(dense=True).items()}

    def score(self, current: Any) -> DetectorResult:
        if not hasattr(self, "pca_"):
            raise InvalidArgument("PCAReconstruction must be fitted before it scores a window.")
        frame = _frame(current, "window")
        z = self.encoder_.dense(frame)
        squared = (z - self.pca_.inverse_transform(self.pca_.transform(z))) ** 2
        ratio = float(squared.sum(axis=1).mean()) / self.mean_error_
        n = len(z)
        ref = self.errors_ / self.mean_error_
        if n * self.n_bootstrap <= 20_000_000:
            rng = np.random.default_rng([self.random_state, n])
            window = ref[rng.integers(0, ref.size, size=(self.n_bootstrap, n))].mean(axis=1)
            # the reference's own mean is an estimate too (CLT: it averages many rows)
            own = 1.0 + rng.normal(0.0, float(ref.std()) / math.sqrt(ref.size), self.n_bootstrap)
            boot = np.sort(window / np.maximum(own, 1e-12))
            p_value = float((1 + (boot >= ratio).sum()) / (1 + boot.size))
            rank = math.ceil((1 - self.alpha) * (boot.size + 1)) - 1
            critical, method = float(boot[min(rank, boot.size - 1)]), "bootstrap"
        else:
            se = float(ref.std()) * math.sqrt(1.0 / n + 1.0 / ref.size)
            p_value = float(stats.norm.sf((ratio - 1.0) / se)) if se > 0 else float(ratio <= 1)
            critical, method = 1.0 + float(stats.norm.isf(self.alpha)) * se, "normal"
        threshold = max(critical, 1.0 + self.min_effect)
        window = self._by_feature(squared)
        excess = {name: (window[name] - self.feature_error_[name]) / self.mean_error_
                  for name in window}
        ranked = sorted(excess.items(), key=lambda kv: -kv[1])[: self.n_top]
        details = {"n_components": int(self.pca_.n_components_), "n_current": n,
                   "n_reference": int(ref.size), "null": method,
                   "reference_mean_error": self.mean_error_,
                   "top_features": [{"feature": k, "excess_error": v} for k, v in ranked]}
        return DetectorResult(
            detector=self.name, feature=None, statistic=ratio, threshold=threshold,
            drifted=bool(ratio > threshold), p_value=p_value, effect_size=ratio - 1.0,
            details=details)
