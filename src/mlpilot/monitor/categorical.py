"""Categorical drift detectors: chi², PSI, Jensen–Shannon distance, new categories.

Each detector fits on a raw reference column (strings, categories, booleans, or
integer codes) or on that column's stored profile (its ``frequencies``), then scores
windows. Values are keyed with :func:`mlpilot.data.profile.category_key`, so a
profile's keys and a window's match. Both sides become count vectors over the
reference's categories plus one ``other`` slot, which holds the categories the window
has and the reference does not (and, for a profile truncated to its top values, the
reference's ``other_count``).

Missing values are dropped and counted (``details["dropped"]``). A reference without
values is refused (:class:`InvalidArgument`); a window without values gives
``drifted=False``, a NaN statistic and ``details["note"]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from scipy import stats

from mlpilot.core.errors import InvalidArgument
from mlpilot.data.profile import CATEGORICAL_KINDS, categorical_counts
from mlpilot.data.schema import logical_dtype
from mlpilot.monitor.detector import Detector, DetectorResult, finite, register
from mlpilot.monitor.numeric import _name, psi_value

__all__ = ["CategoricalReference", "ChiSquareTest", "JensenShannonDetector",
           "NewCategoriesDetector", "PSICategoricalDetector", "js_distance"]

_ACCEPTED = CATEGORICAL_KINDS | {"integer"}
_LISTED = 100  # categories listed by name in details, most frequent first
OTHER = "__other__"


def category_counts(series: Any, owner: str, role: str) -> tuple[dict[str, int], int]:
    """Counts of a categorical column, keyed like profile frequencies, and rows dropped.

    Raises:
        InvalidArgument: not a Series, or a float or datetime column.
    """
    if not isinstance(series, pd.Series):
        raise InvalidArgument(
            f"{owner} needs the {role} as a pandas Series (or, for the reference, a column "
            f"profile dict). Got {type(series).__name__}."
        )
    kind = logical_dtype(series)
    if kind not in _ACCEPTED:
        raise InvalidArgument(
            f"{owner} compares string, category, boolean or integer columns. Column "
            f"{series.name!r} is {kind}; use a numeric detector ('ks', 'wasserstein', 'psi')."
        )
    counts = categorical_counts(series)
    return counts, len(series) - sum(counts.values())


class CategoricalReference:
    """Fitted reference counts: categories, their counts, and the uncounted tail."""

    def __init__(self, counts: Mapping[str, int], other: int = 0) -> None:
        self.keys = list(counts)
        self.index = {key: i for i, key in enumerate(self.keys)}
        self.counts = np.fromiter(counts.values(), dtype=np.int64, count=len(self.keys))
        self.other = int(other)
        self.n = int(self.counts.sum()) + self.other

    @classmethod
    def fit(cls, reference: Any, owner: str) -> CategoricalReference:
        """From a Series or a column profile.

        Raises:
            InvalidArgument: wrong kind, or no values.
        """
        if isinstance(reference, Mapping):
            frequencies = reference.get("frequencies")
            if not isinstance(frequencies, Mapping):
                raise InvalidArgument(
                    f"{owner} needs the profile of a string, category or boolean column (with "
                    f"'frequencies'). Got a column profile with dtype {reference.get('dtype')!r}."
                )
            ref = cls({str(k): int(v) for k, v in frequencies.items()},
                      int(reference.get("other_count") or 0))
        else:
            counts, _ = category_counts(reference, owner, "reference")
            ref = cls(counts)
        if ref.n == 0:
            name = getattr(reference, "name", None)
            raise InvalidArgument(
                f"{owner} cannot fit on reference column {name!r}: it has no non-missing "
                "values. Fit on a reference with data, or leave this column out."
            )
        return ref

    def align(self, current: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
        """Reference and current count vectors (reference categories + ``other``), and
        the current categories the reference does not have."""
        cur = np.zeros(len(self.keys) + 1, dtype=np.int64)
        new: dict[str, int] = {}
        index = self.index
        for key, count in current.items():
            i = index.get(key)
            if i is None:
                new[key] = count
            else:
                cur[i] = count
        cur[-1] = sum(new.values())
        ref = np.append(self.counts, self.other)
        return ref, cur, new


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon distance (base 2, in [0, 1]) between two count or share vectors."""
    p = p / p.sum()
    q = q / q.sum()
    mid = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / mid), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log2(q / mid), 0.0).sum()
    return float(np.sqrt(max((kl_p + kl_q) / 2, 0.0)))


class _CategoricalDetector(Detector):
    """Shared fitting, input checks, details and empty-window handling."""

    kind: ClassVar[str] = "categorical"

    def __init__(self, *, threshold: float) -> None:
        self.threshold = threshold
        self._threshold = finite(threshold, f"'threshold' parameter of {type(self).__name__}")
        if self._threshold <= 0:
            raise InvalidArgument(
                f"The 'threshold' parameter of {type(self).__name__} must be > 0. "
                f"Got {threshold!r} instead."
            )
        self.reference_: CategoricalReference | None = None

    def fit(self, reference: Any) -> Self:
        self.reference_ = CategoricalReference.fit(reference, type(self).__name__)
        return self

    def _prepare(
        self, current: Any
    ) -> tuple[np.ndarray, np.ndarray, dict[str, int], dict[str, Any]]:
        ref = self.reference_
        if ref is None:
            raise InvalidArgument(
                f"{type(self).__name__} is not fitted yet: call fit(reference) before score()."
            )
        counts, dropped = category_counts(current, type(self).__name__, "current window")
        r, c, new = ref.align(counts)
        details: dict[str, Any] = {
            "n_reference": ref.n, "n_current": int(c.sum()), "dropped": int(dropped),
            "reference_truncated": ref.other > 0,
        }
        return r, c, new, details

    def _empty(self, feature: str | None, details: dict[str, Any]) -> DetectorResult:
        details["note"] = "the window has no non-missing values: nothing to compare"
        return DetectorResult(self.name, feature, float("nan"), self._threshold, False,
                              None, None, details)

    def _shares(self, r: np.ndarray, c: np.ndarray, details: dict[str, Any]) -> None:
        """Reference and current shares of the most common categories, for plots."""
        ref = self.reference_
        assert ref is not None
        keys = [*ref.keys, OTHER]
        order = np.argsort(-(r + c), kind="stable")[:_LISTED]
        details["reference_shares"] = {keys[i]: float(r[i] / r.sum()) for i in order}
        details["current_shares"] = {keys[i]: float(c[i] / c.sum()) for i in order}


@register
class ChiSquareTest(_CategoricalDetector):
    """Chi² test of homogeneity (reference vs window); drifted when ``p_value < threshold``.

    A 2×K contingency table of counts, without continuity correction. Categories
    whose expected count is below ``min_expected`` in either row are pooled, smallest
    first, until the pool's expected count reaches it (Cochran's rule); the pooled
    names are in ``details["pooled"]``. The effect size is the Jensen–Shannon distance.

    Args:
        threshold: the significance level, in (0, 1).
        min_expected: the smallest expected count a category may keep alone (> 0).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> test = ChiSquareTest().fit(pd.Series(rng.choice(["a", "b"], 5000, p=[.3, .7])))
        >>> test.score(pd.Series(rng.choice(["a", "b"], 5000, p=[.4, .6]))).drifted
        True
    """

    name: ClassVar[str] = "chi2"
    p_value_test: ClassVar[bool] = True

    def __init__(self, *, threshold: float = 0.05, min_expected: float = 5.0) -> None:
        super().__init__(threshold=threshold)
        if self._threshold >= 1:
            raise InvalidArgument(
                f"The 'threshold' parameter of ChiSquareTest must be a float in (0, 1). "
                f"Got {threshold!r} instead."
            )
        self.min_expected = min_expected
        if finite(min_expected, "'min_expected' parameter of ChiSquareTest") <= 0:
            raise InvalidArgument(
                f"The 'min_expected' parameter of ChiSquareTest must be > 0. "
                f"Got {min_expected!r} instead."
            )

    def score(self, current: Any) -> DetectorResult:
        r, c, _, details = self._prepare(current)
        feature = _name(current)
        if c.sum() == 0:
            return self._empty(feature, details)
        table, pooled = _pool(r, c, float(self.min_expected))
        ref = self.reference_
        assert ref is not None
        keys = [*ref.keys, OTHER]
        details["pooled"] = [keys[i] for i in pooled[:_LISTED]]
        details["pooled_count"] = len(pooled)
        dof = table.shape[1] - 1
        details["dof"] = dof
        if dof < 1:
            stat, p = 0.0, 1.0
        else:
            totals = table.sum()
            expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / totals
            stat = float(np.sum((table - expected) ** 2 / expected))
            p = float(stats.chi2.sf(stat, dof))
        self._shares(r, c, details)
        return DetectorResult(self.name, feature, stat, self._threshold, p < self._threshold, p,
                              js_distance(r, c), details)


def _pool(r: np.ndarray, c: np.ndarray, min_expected: float) -> tuple[np.ndarray, list[int]]:
    """The 2×K table after pooling categories with small expected counts."""
    totals = r + c
    keep = totals > 0
    n = totals.sum()
    # expected count of category j in row i is row_i * total_j / n: the smaller row binds
    bound = min_expected * n / min(r.sum(), c.sum())
    order = np.flatnonzero(keep)[np.argsort(totals[keep], kind="stable")]
    small = order[totals[order] < bound]
    pooled: list[int] = small.tolist()
    if pooled:
        pool_total = int(totals[small].sum())
        rest = order[len(small):]
        for j in rest:  # grow the pool until it meets the rule itself
            if pool_total >= bound:
                break
            pooled.append(int(j))
            pool_total += int(totals[j])
    alone = np.setdiff1d(np.flatnonzero(keep), pooled)
    columns = [np.array([r[alone], c[alone]])]
    if pooled:
        columns.append(np.array([[r[pooled].sum()], [c[pooled].sum()]]))
    return np.concatenate(columns, axis=1).astype(np.float64), pooled


@register
class PSICategoricalDetector(_CategoricalDetector):
    """Population stability index over category shares; drifted when ``>= threshold``.

    Shares below ``epsilon`` (new or vanished categories) are raised to it.

    Args:
        threshold: the PSI that counts as drift (> 0; 0.2 by convention).
        epsilon: the floor for shares (> 0).
    """

    name: ClassVar[str] = "psi_cat"

    def __init__(self, *, threshold: float = 0.2, epsilon: float = 1e-4) -> None:
        super().__init__(threshold=threshold)
        self.epsilon = epsilon
        if not 0 < finite(epsilon, "'epsilon' parameter of PSICategoricalDetector") < 1:
            raise InvalidArgument(
                "The 'epsilon' parameter of PSICategoricalDetector must be in (0, 1). "
                f"Got {epsilon!r}."
            )

    def score(self, current: Any) -> DetectorResult:
        r, c, _, details = self._prepare(current)
        feature = _name(current)
        if c.sum() == 0:
            return self._empty(feature, details)
        psi = psi_value(r / r.sum(), c / c.sum(), float(self.epsilon))
        self._shares(r, c, details)
        return DetectorResult(self.name, feature, psi, self._threshold, psi >= self._threshold,
                              None, psi, details)


@register
class JensenShannonDetector(_CategoricalDetector):
    """Jensen–Shannon distance (base 2, in [0, 1]); drifted when ``>= threshold``.

    The default 0.1 is Evidently's. For scale: one category of two moving from 30% to
    40% of rows gives 0.089; from 30% to 45%, 0.13.

    Args:
        threshold: the distance that counts as drift, in (0, 1].
    """

    name: ClassVar[str] = "jensen_shannon"

    def __init__(self, *, threshold: float = 0.1) -> None:
        super().__init__(threshold=threshold)

    def score(self, current: Any) -> DetectorResult:
        r, c, _, details = self._prepare(current)
        feature = _name(current)
        if c.sum() == 0:
            return self._empty(feature, details)
        js = js_distance(r, c)
        self._shares(r, c, details)
        return DetectorResult(self.name, feature, js, self._threshold, js >= self._threshold,
                              None, js, details)


@register
class NewCategoriesDetector(_CategoricalDetector):
    """Share of window rows in categories the reference never had; drifted when ``> threshold``.

    ``details`` lists the new categories with their window counts and the vanished
    ones (in the reference, absent from the window) with their reference counts, the
    100 most frequent of each. Against a profile truncated to its top values
    (``reference_truncated``), a "new" category may be one of the reference's rare ones.

    Args:
        threshold: the share of rows, in (0, 1); default 1%.
    """

    name: ClassVar[str] = "new_categories"

    def __init__(self, *, threshold: float = 0.01) -> None:
        super().__init__(threshold=threshold)
        if self._threshold >= 1:
            raise InvalidArgument(
                "The 'threshold' parameter of NewCategoriesDetector must be a float in (0, 1). "
                f"Got {threshold!r} instead."
            )

    def score(self, current: Any) -> DetectorResult:
        r, c, new, details = self._prepare(current)
        feature = _name(current)
        if c.sum() == 0:
            return self._empty(feature, details)
        ref = self.reference_
        assert ref is not None
        share = float(c[-1] / c.sum())
        top_new = sorted(new.items(), key=lambda kv: (-kv[1], kv[0]))[:_LISTED]
        gone = np.flatnonzero((c[:-1] == 0) & (r[:-1] > 0))
        gone = gone[np.argsort(-r[gone], kind="stable")]
        details.update({
            "new": dict(top_new), "new_count": len(new), "new_rows": int(c[-1]),
            "vanished": {ref.keys[i]: int(r[i]) for i in gone[:_LISTED]},
            "vanished_count": int(gone.size),
        })
        return DetectorResult(self.name, feature, share, self._threshold,
                              share > self._threshold, None, share, details)
