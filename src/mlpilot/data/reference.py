"""Reading a profile back: the reference side of the drift tests.

KS and Wasserstein compare a current sample with :func:`reference_cdf`; PSI bins
with :func:`psi_bins` and :func:`bin_proportions`; :func:`sketch_values` puts current
data in the sketch's units. Categorical columns compare
:func:`~mlpilot.data.profile.categorical_counts` with the profile's frequencies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.core.errors import InvalidArgument
from mlpilot.data.profile import (
    _PER_SECOND,
    NUMERIC_KINDS,
    _datetime_ticks,
    _sorted_numeric,
)
from mlpilot.data.schema import logical_dtype


def _sketch_of(column_profile: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(column_profile, Mapping) or column_profile.get("dtype") not in NUMERIC_KINDS:
        got = column_profile.get("dtype") if isinstance(column_profile, Mapping) else column_profile
        raise InvalidArgument(
            "A quantile sketch needs the profile of an integer, float or datetime column. "
            f"Got a column profile with dtype {got!r}; use its 'frequencies' instead."
        )
    values = column_profile.get("quantiles") or []
    if len(values) < 2 or any(v is None for v in values):
        raise InvalidArgument(
            "The column profile has no usable quantile sketch: the reference column had "
            f"{column_profile.get('finite_count', 0)} finite values. Profile a reference "
            "with finite values, or skip this column."
        )
    return np.asarray(values, dtype=np.float64), np.linspace(0.0, 1.0, len(values))


def reference_cdf(column_profile: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The reference quantile function as ``(values, probs)`` arrays.

    ``values[i]`` is the ``probs[i]`` quantile of the reference's finite values (datetime
    columns: epoch seconds). Interpolating ``probs`` over ``values`` gives the reference
    CDF for a KS test; integrating ``|Q_ref - Q_cur|`` over ``probs`` gives Wasserstein-1.

    Args:
        column_profile: one entry of ``profile["columns"]`` of a numeric/datetime column.

    Returns:
        ``(values, probs)``, both float64 of length ``quantiles``.

    Raises:
        InvalidArgument: for a categorical column or one without finite values.
    """
    return _sketch_of(column_profile)


def psi_bins(column_profile: Mapping[str, Any], n: int = 10) -> np.ndarray:
    """Quantile-based bin edges for PSI, from the reference sketch.

    The inner edges are the reference ``k/n`` quantiles (``k = 1..n-1``), deduplicated
    and strictly above the reference minimum (so no bin is empty by construction); the
    outer edges are ``-inf`` and ``+inf`` so current values outside the reference range
    still land in a bin. Bin ``i`` is ``[edges[i], edges[i+1])``:
    ``np.searchsorted(edges, x, side="right") - 1`` bins a sample, and
    :func:`bin_proportions` gives the reference share of each bin.

    Args:
        column_profile: a numeric/datetime column profile.
        n: the number of bins wanted (>= 1); ties in the data can leave fewer.

    Returns:
        Strictly increasing float64 edges, ``-inf`` first and ``+inf`` last.

    Raises:
        InvalidArgument: for a bad ``n``, a categorical column, or no finite values.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise InvalidArgument(f"The 'n' parameter of psi_bins must be an int >= 1. Got {n!r}.")
    values, _ = _sketch_of(column_profile)
    # Interpolate in index space, snapping to stored points so that a k/n on the
    # sketch grid returns the stored (exact) quantile.
    position = np.arange(1, n) / n * (values.size - 1)
    nearest = np.rint(position)
    position = np.where(np.abs(position - nearest) < 1e-9, nearest, position)
    below = np.floor(position).astype(np.intp)
    above = np.minimum(below + 1, values.size - 1)
    cuts = values[below] + (values[above] - values[below]) * (position - below)
    cuts = np.unique(cuts)
    cuts = cuts[cuts > values[0]]
    return np.concatenate(([-np.inf], cuts, [np.inf]))


def bin_proportions(column_profile: Mapping[str, Any], edges: np.ndarray) -> np.ndarray:
    """The reference share of each bin ``[edges[i], edges[i+1])``, from the sketch.

    Estimates ``P(X < e)`` at each edge by interpolating the quantile sketch, so shares
    are accurate to about one sketch step, ``1 / (quantiles - 1)``. For equal-width
    bins the profile's ``histogram`` gives exact counts instead.

    Args:
        column_profile: a numeric/datetime column profile.
        edges: increasing bin edges, e.g. from :func:`psi_bins`.

    Returns:
        float64 shares, one per bin, summing to the share of finite values between the
        outer edges (1.0 when they are infinite).

    Raises:
        InvalidArgument: for edges that are not increasing, a categorical column, or
            no finite values.
    """
    values, probs = _sketch_of(column_profile)
    edges = np.asarray(edges, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2 or np.isnan(edges).any() or (np.diff(edges) < 0).any():
        raise InvalidArgument(
            "Bin edges must be a 1-D increasing array of at least 2 numbers. "
            f"Got {edges.tolist()[:10]!r}; use psi_bins() to build them."
        )
    k = np.searchsorted(values, edges, side="left")  # sketch points strictly below each edge
    inside = (k > 0) & (k < values.size)
    below = np.where(k >= values.size, 1.0, 0.0)
    lo, hi = k[inside] - 1, k[inside]
    span = values[hi] - values[lo]
    below[inside] = probs[lo] + (probs[hi] - probs[lo]) * (edges[inside] - values[lo]) / span
    return np.diff(below)


def sketch_values(series: pd.Series) -> np.ndarray:
    """A column's finite values in the units of its profile's sketch, sorted.

    Use it on current data before comparing with :func:`reference_cdf`: datetimes
    become epoch seconds (UTC), nullable and Arrow-backed numbers become float64, and
    missing or infinite values are dropped.

    Args:
        series: an integer, float or datetime column.

    Returns:
        Sorted float64 values.

    Raises:
        InvalidArgument: for a categorical or unsupported column.
    """
    kind = logical_dtype(series)
    if kind == "datetime":
        ticks, unit, _ = _datetime_ticks(series)
        return ticks / _PER_SECOND[unit]
    if kind not in NUMERIC_KINDS:
        raise InvalidArgument(
            f"Column {series.name!r} must be integer, float or datetime to sketch. "
            f"Got {kind}; use categorical_counts() for it."
        )
    return _sorted_numeric(series, kind)[0].astype(np.float64)
