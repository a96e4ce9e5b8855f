"""Numeric drift detectors: Kolmogorov–Smirnov, normalised Wasserstein, PSI, CDF curves.

Each detector fits on a raw reference column (a :class:`pandas.Series` of integers,
floats or datetimes) or on that column's stored profile (a dict from
:func:`mlpilot.data.compute_profile`), then scores windows. The current window is
sorted once; the reference is searched with ``numpy.searchsorted``. Datetimes are
compared in epoch seconds.

Rules shared by all of them:

* Missing and infinite values are dropped and counted (``details["dropped"]``).
* A reference without finite values is refused (:class:`InvalidArgument`). A window
  without finite values is not an error, since a quiet hour is normal in production:
  the result has ``drifted=False``, a NaN statistic and ``details["note"]``.
* The effect size of ``ks``, ``wasserstein`` and ``cdf`` is the Wasserstein-1 distance
  divided by the reference scale (``IQR / 1.349``, a standard deviation for normal
  data that ignores outliers; the standard deviation when the IQR is 0; 1.0 for a
  constant reference, so the shift is then in the column's own units).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from scipy import stats

from mlpilot.core.errors import InvalidArgument
from mlpilot.data.profile import NUMERIC_KINDS
from mlpilot.data.reference import bin_proportions, psi_bins, reference_cdf, sketch_values
from mlpilot.data.schema import logical_dtype
from mlpilot.monitor.detector import Detector, DetectorResult, finite, register

__all__ = ["CDFDetector", "KSTest", "NumericReference", "PSIDetector", "WassersteinDetector",
           "numeric_values"]

_IQR_TO_SD = 1.3489795003921634  # IQR of a standard normal
_EXACT_MAX_N = 10_000  # scipy's ks_2samp uses its exact p-value up to this size
_W1_SKETCH_GRID = 10_000  # probabilities for W1 against a quantile sketch
_CURVE_POINTS = 50  # quantiles taken from each side for the plotted CDF grid


def numeric_values(series: Any, owner: str, role: str) -> tuple[np.ndarray, int]:
    """Sorted finite float64 values of a numeric column and how many were dropped.

    Raises:
        InvalidArgument: not a Series, or not an integer, float or datetime column.
    """
    if not isinstance(series, pd.Series):
        raise InvalidArgument(
            f"{owner} needs the {role} as a pandas Series (or, for the reference, a column "
            f"profile dict). Got {type(series).__name__}."
        )
    kind = logical_dtype(series)
    if kind not in NUMERIC_KINDS:
        raise InvalidArgument(
            f"{owner} compares integer, float or datetime columns. Column {series.name!r} "
            f"is {kind}; use a categorical detector ('chi2', 'psi_cat', 'jensen_shannon')."
        )
    values = sketch_values(series)
    return values, len(series) - values.size


class NumericReference:
    """A fitted numeric reference: its CDF, quantile function and scale.

    Built from sorted sample values (exact) or from a profile's quantile sketch (the
    CDF interpolated between sketch points, accurate to one sketch step).
    """

    def __init__(self, values: np.ndarray, probs: np.ndarray | None, n: int,
                 std: float | None = None) -> None:
        self.values = values  # sorted sample, or the sketch's quantile values
        self.probs = probs  # None for a sample
        self.n = n  # sample size (the reference's finite values)
        if probs is not None:
            width = np.diff(values)
            rise = np.diff(probs)
            slopes = np.divide(rise, width, out=np.zeros_like(rise), where=width > 0)
            self._slopes = np.append(slopes, 0.0)
        iqr = float(self.quantile(np.array([0.75]))[0] - self.quantile(np.array([0.25]))[0])
        if std is None:
            std = float(np.std(values)) if probs is None else 0.0
        if iqr > 0:
            self.scale, self.scale_kind = iqr / _IQR_TO_SD, "iqr"
        elif std and std > 0:
            self.scale, self.scale_kind = float(std), "std"
        else:
            self.scale, self.scale_kind = 1.0, "unit"

    @classmethod
    def fit(cls, reference: Any, owner: str) -> NumericReference:
        """From a Series or a column profile.

        Raises:
            InvalidArgument: wrong kind, or no finite values.
        """
        if isinstance(reference, Mapping):
            values, probs = reference_cdf(reference)  # raises on bad or empty profiles
            n = int(reference.get("finite_count") or reference.get("count") or 0)
            if n < 1:
                raise InvalidArgument(
                    f"{owner}: the column profile has no 'finite_count'; profile the "
                    "reference with mlpilot.data.compute_profile."
                )
            std = reference.get("std")
            return cls(values, probs, n, None if std is None else float(std))
        values, _ = numeric_values(reference, owner, "reference")
        if values.size == 0:
            raise InvalidArgument(
                f"{owner} cannot fit on reference column {reference.name!r}: it has no finite "
                "values. Fit on a reference with data, or leave this column out."
            )
        return cls(values, None, int(values.size))

    def cdf(self, x: np.ndarray, side: str = "right") -> np.ndarray:
        """``P(X <= x)`` (``side="right"``) or ``P(X < x)`` (``side="left"``)."""
        return self._cdf_from(np.searchsorted(self.values, x, side=side), x)  # type: ignore[call-overload]

    def _cdf_from(self, k: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The CDF at ``x`` given ``k``, the sketch or sample points at or below it."""
        if self.probs is None:
            return k / self.n
        # values[k-1] <= x < values[k]: interpolate on that segment (never zero-width);
        # below the sketch the line goes negative (clipped to 0), above it the slope is 0.
        lo = np.maximum(k - 1, 0)
        out = self._slopes[lo] * (x - self.values[lo])
        out += self.probs[lo]
        return np.maximum(out, 0.0, out=out)

    def quantile(self, p: np.ndarray) -> np.ndarray:
        """The quantile function at probabilities ``p`` (linear interpolation)."""
        if self.probs is None:
            position = p * (self.values.size - 1)
            below = np.floor(position).astype(np.intp)
            above = np.minimum(below + 1, self.values.size - 1)
            gamma = position - below
            return self.values[below] + (self.values[above] - self.values[below]) * gamma
        return np.interp(p, self.probs, self.values)

    def ks_distance(self, current: np.ndarray) -> float:
        """Exact ``sup |F_ref - F_cur|`` against sorted current values.

        Both CDFs are steps (or, for a sketch, piecewise linear) between current
        values, so the gap is largest just at or just before one of them.
        """
        m = current.size
        k = np.searchsorted(self.values, current, side="right")
        cur_ties = m > 1 and bool(np.any(current[1:] == current[:-1]))
        if self.probs is None and not cur_ties:
            ref_ties = (k > 0) & (self.values[np.maximum(k - 1, 0)] == current)
            if not ref_ties.any():
                # In counts: gap_i = k_i·m - i·n just before c_i, gap_i - n at c_i.
                gap = k * m
                gap -= np.arange(m) * self.n
                return max(int(gap.max()), self.n - int(gap.min())) / (self.n * m)
        right = self._cdf_from(k, current)
        left = _left_cdf(self, current, right)
        if cur_ties:
            cur_right = np.searchsorted(current, current, side="right") / m
            cur_left = np.searchsorted(current, current, side="left") / m
        else:
            cur_right = np.arange(1, m + 1) / m
            cur_left = np.arange(0, m) / m
        return float(max(np.max(np.abs(right - cur_right)), np.max(np.abs(left - cur_left))))

    def wasserstein(self, current: np.ndarray) -> float:
        """Wasserstein-1 distance, ``∫ |Q_ref(p) - Q_cur(p)| dp``, by the midpoint rule.

        Exact for two samples of equal size; otherwise on ``max(n, m)`` cells (a sketch:
        at least 10,000), each quantile function evaluated at the cell's midpoint.
        Against a sketch the extreme cells (below its 0.1% and above its 99.9% points
        for 1001 quantiles) are linear guesses: a few % of W1 on heavy-tailed data.
        """
        m = current.size
        cells = max(self.n, m) if self.probs is None else max(m, _W1_SKETCH_GRID)

        def at_midpoints(sorted_values: np.ndarray) -> np.ndarray:
            size = sorted_values.size
            if size == cells:
                return sorted_values
            # cell j's midpoint (j + 0.5) / cells falls in sample step floor(. * size)
            step = ((2 * np.arange(cells) + 1) * size) // (2 * cells)
            return sorted_values[step]

        cur_q = at_midpoints(current)
        if self.probs is None:
            ref_q = at_midpoints(self.values)
        else:
            ref_q = np.interp((np.arange(cells) + 0.5) / cells, self.probs, self.values)
        return float(np.mean(np.abs(ref_q - cur_q)))

    def describe(self) -> dict[str, Any]:
        """What the details say about the reference."""
        return {"n_reference": self.n, "reference_from": "sample" if self.probs is None
                else "profile", "scale": self.scale, "scale_kind": self.scale_kind}


def _left_cdf(ref: NumericReference, x: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``P(X < x)``, reusing ``P(X <= x)`` where no reference atom sits at ``x``."""
    if ref.probs is None:
        k = np.rint(right * ref.n).astype(np.intp)
        tie = (k > 0) & (ref.values[np.maximum(k - 1, 0)] == x)
    else:
        k = np.searchsorted(ref.values, x, side="right")
        tie = (k > 1) & (ref.values[np.maximum(k - 1, 0)] == x) & (
            ref.values[np.maximum(k - 2, 0)] == x)
    if not tie.any():
        return right
    left = right.copy()
    left[tie] = ref.cdf(x[tie], "left")
    return left


class _NumericDetector(Detector):
    """Shared fitting, input checks and empty-window handling."""

    kind: ClassVar[str] = "numeric"

    def __init__(self, *, threshold: float) -> None:
        self.threshold = threshold
        self._threshold = finite(threshold, f"'threshold' parameter of {type(self).__name__}")
        if self._threshold <= 0:
            raise InvalidArgument(
                f"The 'threshold' parameter of {type(self).__name__} must be > 0. "
                f"Got {threshold!r} instead."
            )
        self.reference_: NumericReference | None = None

    def fit(self, reference: Any) -> Self:
        self.reference_ = NumericReference.fit(reference, type(self).__name__)
        return self

    def _prepare(self, current: Any) -> tuple[NumericReference, np.ndarray, dict[str, Any]]:
        ref = self.reference_
        if ref is None:
            raise InvalidArgument(
                f"{type(self).__name__} is not fitted yet: call fit(reference) before score()."
            )
        values, dropped = numeric_values(current, type(self).__name__, "current window")
        details = ref.describe()
        details.update({"n_current": int(values.size), "dropped": int(dropped)})
        return ref, values, details

    def _empty(self, feature: str | None, details: dict[str, Any]) -> DetectorResult:
        details["note"] = "the window has no finite values: nothing to compare"
        return DetectorResult(self.name, feature, float("nan"), self._threshold, False,
                              None, None, details)

    @staticmethod
    def _effect(ref: NumericReference, values: np.ndarray, details: dict[str, Any]) -> float:
        w1 = ref.wasserstein(values)
        details["wasserstein"] = w1
        return w1 / ref.scale


@register
class KSTest(_NumericDetector):
    """Two-sample Kolmogorov–Smirnov test; drifted when ``p_value < threshold``.

    ``statistic`` is ``D = sup |F_ref - F_cur|``. The p-value follows scipy's
    ``ks_2samp(method="auto")``: exact when both samples are raw and at most 10,000
    values, else Smirnov's asymptotic distribution at ``n·m/(n+m)``; against a profile
    ``n`` is the reference's finite row count. The effect size is the normalised
    Wasserstein distance (see the module docstring).

    Args:
        threshold: the significance level, in (0, 1).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> ks = KSTest().fit(pd.Series(rng.normal(size=2000)))
        >>> ks.score(pd.Series(rng.normal(0.5, size=2000))).drifted
        True
    """

    name: ClassVar[str] = "ks"
    p_value_test: ClassVar[bool] = True

    def __init__(self, *, threshold: float = 0.05) -> None:
        super().__init__(threshold=threshold)
        if self._threshold >= 1:
            raise InvalidArgument(
                f"The 'threshold' parameter of KSTest must be a float in (0, 1). "
                f"Got {threshold!r} instead."
            )

    def score(self, current: Any) -> DetectorResult:
        ref, values, details = self._prepare(current)
        feature = _name(current)
        if values.size == 0:
            return self._empty(feature, details)
        d = ref.ks_distance(values)
        n, m = ref.n, values.size
        if ref.probs is None and max(n, m) <= _EXACT_MAX_N:
            p = float(stats.ks_2samp(ref.values, values, method="auto").pvalue)
            details["method"] = "exact"
        else:
            big, small = max(n, m), min(n, m)
            p = float(stats.kstwo.sf(d, np.round(big * small / (big + small))))
            details["method"] = "asymp"
        p = min(max(p, 0.0), 1.0)
        effect = self._effect(ref, values, details)
        return DetectorResult(self.name, feature, d, self._threshold, p < self._threshold,
                              p, effect, details)


@register
class WassersteinDetector(_NumericDetector):
    """Wasserstein-1 distance divided by the reference scale; drifted when ``>= threshold``.

    The default 0.1 (Evidently's) flags a shift of about a tenth of a standard deviation.

    Args:
        threshold: the normalised distance that counts as drift (> 0).
    """

    name: ClassVar[str] = "wasserstein"

    def __init__(self, *, threshold: float = 0.1) -> None:
        super().__init__(threshold=threshold)

    def score(self, current: Any) -> DetectorResult:
        ref, values, details = self._prepare(current)
        feature = _name(current)
        if values.size == 0:
            return self._empty(feature, details)
        effect = self._effect(ref, values, details)
        return DetectorResult(self.name, feature, effect, self._threshold,
                              effect >= self._threshold, None, effect, details)


@register
class PSIDetector(_NumericDetector):
    """Population stability index on reference quantile bins; drifted when ``>= threshold``.

    Bins: the reference ``k/bins`` quantiles, deduplicated, open-ended outside (see
    :func:`mlpilot.data.reference.psi_bins`); a constant reference gets three bins
    (below, at, above its value). ``PSI = Σ (c - r) ln(c / r)`` over bin shares, with
    shares below ``epsilon`` raised to ``epsilon`` so empty bins stay finite. The
    usual reading: < 0.1 stable, 0.1–0.2 moderate, >= 0.2 (the default) significant.
    PSI is noisy on small windows: its no-drift mean is about
    ``(bins - 1)(1/n + 1/m)``.

    Args:
        bins: the number of quantile bins wanted (>= 2).
        threshold: the PSI that counts as drift (> 0).
        epsilon: the floor for bin shares (> 0).
    """

    name: ClassVar[str] = "psi"

    def __init__(self, *, bins: int = 10, threshold: float = 0.2, epsilon: float = 1e-4) -> None:
        super().__init__(threshold=threshold)
        if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 2:
            raise InvalidArgument(
                f"The 'bins' parameter of PSIDetector must be an int >= 2. Got {bins!r} instead."
            )
        self.bins = bins
        self.epsilon = epsilon
        if not 0 < finite(epsilon, "'epsilon' parameter of PSIDetector") < 1:
            raise InvalidArgument(
                f"The 'epsilon' parameter of PSIDetector must be in (0, 1). Got {epsilon!r}."
            )
        self.edges_: np.ndarray | None = None
        self.reference_shares_: np.ndarray | None = None

    def fit(self, reference: Any) -> Self:
        super().fit(reference)
        ref = self.reference_
        assert ref is not None  # set by super().fit
        if isinstance(reference, Mapping):
            edges = psi_bins(reference, self.bins)
        else:
            cuts = np.unique(ref.quantile(np.arange(1, self.bins) / self.bins))
            edges = np.concatenate(([-np.inf], cuts[cuts > ref.values[0]], [np.inf]))
        if edges.size < 3:  # constant reference: below / at / above its value
            low = ref.values[0]
            edges = np.array([-np.inf, low, np.nextafter(low, np.inf), np.inf])
        if ref.probs is None:
            shares = np.diff(np.searchsorted(ref.values, edges, side="left")) / ref.n
        else:
            shares = bin_proportions(reference, edges)
        self.edges_ = edges
        self.reference_shares_ = shares
        return self

    def score(self, current: Any) -> DetectorResult:
        ref, values, details = self._prepare(current)
        feature = _name(current)
        if values.size == 0:
            return self._empty(feature, details)
        edges, ref_shares = self.edges_, self.reference_shares_
        assert edges is not None and ref_shares is not None  # set with reference_
        counts = np.diff(np.searchsorted(values, edges, side="left"))
        cur_shares = counts / values.size
        psi = psi_value(ref_shares, cur_shares, self.epsilon)
        details.update({"edges": edges.tolist(), "reference_shares": ref_shares.tolist(),
                        "current_shares": cur_shares.tolist()})
        return DetectorResult(self.name, feature, psi, self._threshold, psi >= self._threshold,
                              None, psi, details)


def psi_value(ref_shares: np.ndarray, cur_shares: np.ndarray, epsilon: float) -> float:
    """``Σ (c - r) ln(c / r)`` with shares floored at ``epsilon``."""
    r = np.maximum(ref_shares, epsilon)
    c = np.maximum(cur_shares, epsilon)
    return float(np.sum((c - r) * np.log(c / r)))


@register
class CDFDetector(_NumericDetector):
    """Compares the two CDFs; keeps both curves for plotting.

    ``statistic`` is the largest gap between the CDFs (the KS distance ``D``), judged
    against a fixed ``threshold`` rather than a p-value, so it suits windows too large
    for tests (the default 0.1: somewhere the share of rows below a value moved by 10
    points). ``details`` holds ``grid``, ``reference_cdf`` and ``current_cdf``: both
    CDFs on up to 100 common points (50 quantiles of each side). The effect size is
    the normalised Wasserstein distance.

    Args:
        threshold: the CDF gap that counts as drift, in (0, 1].
    """

    name: ClassVar[str] = "cdf"

    def __init__(self, *, threshold: float = 0.1) -> None:
        super().__init__(threshold=threshold)

    def score(self, current: Any) -> DetectorResult:
        ref, values, details = self._prepare(current)
        feature = _name(current)
        if values.size == 0:
            return self._empty(feature, details)
        d = ref.ks_distance(values)
        probs = np.linspace(0.0, 1.0, _CURVE_POINTS)
        cur_q = values[np.rint(probs * (values.size - 1)).astype(np.intp)]
        grid = np.unique(np.concatenate((ref.quantile(probs), cur_q)))
        details.update({
            "grid": grid.tolist(),
            "reference_cdf": ref.cdf(grid).tolist(),
            "current_cdf": (np.searchsorted(values, grid, side="right") / values.size).tolist(),
        })
        effect = self._effect(ref, values, details)
        return DetectorResult(self.name, feature, d, self._threshold, d >= self._threshold,
                              None, effect, details)


def _name(series: Any) -> str | None:
    name = getattr(series, "name", None)
    return None if name is None else str(name)
