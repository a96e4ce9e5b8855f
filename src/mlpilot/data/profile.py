"""Dataset profiles: the reference statistics drift detectors compare against.

A profile is a JSON-able dict (stable key order; every float finite or ``None``)::

    {"version": 1, "num_rows": int, "num_columns": int, "columns": {name: {...}}}

Every column has ``dtype`` (logical, see :mod:`mlpilot.data.schema`), ``count``
(non-missing values), ``null_count`` (None, NaN, NA, NaT) and ``null_rate``
(``null_count / num_rows``; 0.0 for an empty frame). Then, by kind:

* integer / float: ``nan_count`` and ``inf_count`` (floats only; ``nan_count`` equals
  ``null_count`` since NaN is missing), ``finite_count`` (the values the sketch is built
  from: non-missing and finite), ``distinct_count`` (exact, over finite values),
  ``min``, ``max``, ``mean``, ``std`` (population, ``ddof=0``), ``quantiles`` and
  ``histogram`` (see below). Integer columns report ``min``/``max`` as integers.
* string / category / boolean: ``distinct_count`` (exact), ``frequencies`` (the top
  ``max_categories`` values by count, keys as :func:`category_key` writes them, most
  frequent first, ties by key) and ``other_count`` (values outside the top).
* datetime: ``timezone`` (``None`` if naive), ``min``/``max`` as ISO 8601 strings, and
  the numeric sketch over epoch seconds (UTC instants for zoned columns).

``quantiles`` holds the exact values at ``quantiles`` evenly spaced probabilities
``numpy.linspace(0, 1, quantiles)`` of the finite values, interpolated like
``numpy.quantile(x, q, method="linear")``: a CDF sketch accurate to one grid step.
``histogram`` is ``{"edges": [bins + 1], "counts": [bins]}`` with equal-width edges over
``[min, max]`` (widened by 0.5 each side when ``min == max``, like ``numpy.histogram``);
bins are closed on the left, the last one on both sides. Columns without finite values
have ``None`` scalars and empty lists.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api import types as ptypes

from mlpilot.core.errors import InvalidArgument
from mlpilot.data.schema import check_column_names, logical_dtype

PROFILE_VERSION = 1
CATEGORICAL_KINDS = frozenset({"string", "category", "boolean"})
NUMERIC_KINDS = frozenset({"integer", "float", "datetime"})

_NAT = np.iinfo(np.int64).min
_PER_SECOND = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}  # pandas' datetime units
_PARALLEL_MIN_ROWS = 20_000  # below this a thread pool costs more than it saves
_EXACT_INT = 2**53  # beyond this an int64 no longer round-trips through float64


def compute_profile(
    df: pd.DataFrame,
    *,
    quantiles: int = 1001,
    bins: int = 64,
    max_categories: int = 1000,
    max_workers: int | None = None,
) -> dict[str, Any]:
    """Profile every column of a frame (see the module docstring for the shape).

    Columns of frames with 20,000 rows or more are profiled in parallel threads:
    sorting and counting release the GIL. Cost: one sort per numeric column.

    Args:
        df: the frame; column names must be unique strings.
        quantiles: number of evenly spaced probabilities in each quantile sketch (>= 2).
        bins: number of equal-width histogram bins (>= 1).
        max_categories: how many of the most frequent values to keep per categorical
            column (>= 0); the rest are summed into ``other_count``.
        max_workers: threads to use; ``None`` means one per CPU core.

    Returns:
        The JSON-able profile.

    Raises:
        InvalidArgument: for a bad parameter, a non-frame, non-string or duplicate
            column names, or a column of an unsupported type.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> frame = pd.DataFrame({"x": rng.normal(size=100), "c": ["a", "b"] * 50})
        >>> profile = compute_profile(frame, quantiles=5, bins=4)
        >>> profile["columns"]["c"]["frequencies"]
        {'a': 50, 'b': 50}
        >>> sum(profile["columns"]["x"]["histogram"]["counts"])
        100
    """
    _check_int("quantiles", quantiles, 2)
    _check_int("bins", bins, 1)
    _check_int("max_categories", max_categories, 0)
    if max_workers is not None:
        _check_int("max_workers", max_workers, 1)
    names = check_column_names(df)

    columns = [df[name] for name in names]  # taken here: threads only read their own

    def profile_one(series: pd.Series) -> dict[str, Any]:
        return _profile_column(series, quantiles, bins, max_categories)

    workers = min(max_workers or os.cpu_count() or 1, max(len(names), 1))
    if workers > 1 and len(df) >= _PARALLEL_MIN_ROWS:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlpilot-profile") as pool:
            results = list(pool.map(profile_one, columns))
    else:
        results = [profile_one(series) for series in columns]
    return {
        "version": PROFILE_VERSION,
        "num_rows": len(df),
        "num_columns": len(names),
        "columns": dict(zip(names, results, strict=True)),
    }


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidArgument(
            f"The {name!r} parameter of compute_profile must be an int >= {minimum}. "
            f"Got {value!r} instead."
        )


def _profile_column(
    series: pd.Series, quantiles: int, bins: int, max_categories: int
) -> dict[str, Any]:
    kind = logical_dtype(series)
    rows = len(series)
    null_count = int(series.isna().sum())
    out: dict[str, Any] = {
        "dtype": kind,
        "count": rows - null_count,
        "null_count": null_count,
        "null_rate": null_count / rows if rows else 0.0,
    }
    if kind in CATEGORICAL_KINDS:
        keys, counts, distinct, other = _category_counts(series, max_categories)
        out["distinct_count"] = distinct
        out["frequencies"] = dict(zip(keys, counts, strict=True))
        out["other_count"] = other
    elif kind == "datetime":
        ticks, unit, tz = _datetime_ticks(series)
        seconds = ticks / _PER_SECOND[unit]
        sketch = _numeric_sketch(seconds, quantiles, bins)
        sketch["distinct_count"] = _distinct(ticks)
        if ticks.size:
            sketch["min"] = _iso(int(ticks[0]), unit, tz)
            sketch["max"] = _iso(int(ticks[-1]), unit, tz)
        out["timezone"] = None if tz is None else str(tz)
        out.update(sketch)
    else:
        finite, nan_count, inf_count = _sorted_numeric(series, kind)
        if kind == "float":
            out["nan_count"] = nan_count
            out["inf_count"] = inf_count
        out.update(_numeric_sketch(finite, quantiles, bins))
    return out


# --- numeric values ------------------------------------------------------------------


def _sorted_numeric(series: pd.Series, kind: str) -> tuple[np.ndarray, int, int]:
    """Sorted finite values (native ints stay ints), NaN count and ±inf count."""
    if kind == "integer":
        return np.sort(_integer_values(series)), 0, 0
    if series.dtype == np.float64:
        values = series.to_numpy()  # a view: NaN already marks missing
    else:
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    ordered = np.sort(values)  # NaN sorts last; -inf first, +inf just before NaN
    end = int(np.searchsorted(ordered, np.nan, side="left"))
    low = int(np.searchsorted(ordered[:end], -np.inf, side="right"))
    high = int(np.searchsorted(ordered[:end], np.inf, side="left"))
    return ordered[low:high], ordered.size - end, low + end - high


def _integer_values(series: pd.Series) -> np.ndarray:
    dtype = series.dtype
    if isinstance(dtype, np.dtype):
        if ptypes.is_object_dtype(dtype):
            values = series.dropna().to_numpy()
            try:
                return values.astype(np.int64)
            except OverflowError:  # Python ints beyond int64
                return values.astype(np.float64)
        return series.to_numpy()
    # Nullable (Int64) and Arrow-backed integers: drop missing, keep the width.
    return series.dropna().to_numpy(dtype=getattr(dtype, "numpy_dtype", np.int64))


def _datetime_ticks(series: pd.Series) -> tuple[np.ndarray, str, Any]:
    """Sorted non-missing int64 ticks since the epoch (UTC), their unit and the zone."""
    if not (isinstance(series.dtype, pd.DatetimeTZDtype) or series.dtype.kind == "M"):
        try:
            series = pd.to_datetime(series)
        except (ValueError, TypeError):  # mixed time zones: compare as UTC instants
            try:
                series = pd.to_datetime(series, utc=True)
            except (ValueError, TypeError) as exc:
                raise InvalidArgument(
                    f"Column {series.name!r} holds dates that do not convert to timestamps "
                    f"({exc}). Convert it with pandas.to_datetime(...) first."
                ) from exc
    tz = getattr(series.dtype, "tz", None)
    if tz is not None:
        series = series.dt.tz_convert(None)
    values = series.to_numpy()
    unit = np.datetime_data(values.dtype)[0]
    ticks = values.view(np.int64)
    ticks = np.sort(ticks[ticks != _NAT])
    return ticks, unit, tz


def _iso(tick: int, unit: str, tz: Any) -> str:
    stamp = pd.Timestamp(tick, unit=unit)
    if tz is not None:
        stamp = stamp.tz_localize("UTC").tz_convert(tz)
    return stamp.isoformat()


def _distinct(ordered: np.ndarray) -> int:
    return int(np.count_nonzero(ordered[1:] != ordered[:-1])) + 1 if ordered.size else 0


def _numeric_sketch(ordered: np.ndarray, quantiles: int, bins: int) -> dict[str, Any]:
    """Summary, quantile sketch and histogram of sorted finite values."""
    if ordered.size == 0:
        return {
            "finite_count": 0,
            "distinct_count": 0,
            "min": None,
            "max": None,
            "mean": None,
            "std": None,
            "quantiles": [],
            "histogram": {"edges": [], "counts": []},
        }
    with np.errstate(over="ignore", invalid="ignore"):
        mean = np.mean(ordered, dtype=np.float64)
        std = np.std(ordered, dtype=np.float64)
    edges, counts = _histogram(ordered, bins)
    return {
        "finite_count": int(ordered.size),
        "distinct_count": _distinct(ordered),
        "min": ordered[0].item(),
        "max": ordered[-1].item(),
        "mean": _finite(mean),
        "std": _finite(std),
        "quantiles": _json_floats(_quantile_values(ordered, quantiles)),
        "histogram": {"edges": _json_floats(edges), "counts": counts.tolist()},
    }


def _quantile_values(ordered: np.ndarray, quantiles: int) -> np.ndarray:
    """``np.quantile(ordered, linspace(0, 1, quantiles), method="linear")`` by index.

    Mirrors NumPy's virtual-index and lerp arithmetic so the values are bit-identical,
    without NumPy's partition pass (the data is already sorted).
    """
    n = ordered.size
    virtual = (n - 1) * np.linspace(0.0, 1.0, quantiles)
    previous = np.floor(virtual)
    gamma = virtual - previous
    below = previous.astype(np.intp)
    above = np.minimum(below + 1, n - 1)
    below = np.minimum(below, n - 1)
    a = ordered[below].astype(np.float64)
    b = ordered[above].astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        diff = b - a
        out = a + diff * gamma
        np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5)
        bad = ~np.isfinite(out)
        if bad.any():  # b - a overflowed between huge values of opposite sign
            out[bad] = a[bad] * (1 - gamma[bad]) + b[bad] * gamma[bad]
    return out


def _histogram(ordered: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal-width edges over [min, max] and counts, by binary search on sorted data."""
    low, high = float(ordered[0]), float(ordered[-1])
    if low == high:
        low, high = low - 0.5, high + 0.5
    with np.errstate(over="ignore", invalid="ignore"):
        edges = np.linspace(low, high, bins + 1)
    if not np.isfinite(edges).all():  # the range overflows float64
        edges = np.linspace(low / 2, high / 2, bins + 1) * 2
    inner = edges[1:-1]
    n = ordered.size
    if ordered.dtype.kind in "iu" and max(abs(low), abs(high)) < _EXACT_INT:
        # For integers v < e  <=>  v < ceil(e); searching integer probes avoids
        # converting the whole column to float.
        probes = np.ceil(inner)
        positions = np.empty(inner.size, dtype=np.intp)
        none_below = probes <= ordered[0]
        all_below = probes > ordered[-1]
        middle = ~(none_below | all_below)
        positions[none_below] = 0
        positions[all_below] = n
        positions[middle] = np.searchsorted(
            ordered, probes[middle].astype(ordered.dtype), side="left"
        )
    else:
        positions = np.searchsorted(ordered.astype(np.float64, copy=False), inner, side="left")
    counts = np.diff(np.concatenate(([0], positions, [n])))
    return edges, counts.astype(np.int64)


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _json_floats(values: np.ndarray) -> list[float | None]:
    if np.isfinite(values).all():
        return values.tolist()
    return [_finite(v) for v in values]


# --- categorical values --------------------------------------------------------------


def category_key(value: Any) -> str:
    """The frequency-table key of a categorical value: ``str(value)``.

    Use it (or :func:`categorical_counts`) on current data so its keys match the
    reference profile's: ``True`` is ``"True"``, the category ``1`` is ``"1"``.
    """
    return value if isinstance(value, str) else str(value)


def categorical_counts(series: pd.Series) -> dict[str, int]:
    """Count every non-missing value of a column, keyed like profile frequencies.

    Args:
        series: a column of any type; values are keyed by :func:`category_key`.

    Returns:
        ``{key: count}``, most frequent first, ties ordered by key.
    """
    keys, counts, _, _ = _category_counts(series)
    return dict(zip(keys, counts, strict=True))


class _Counts(NamedTuple):
    """Top values of a column, most frequent first, and what the top leaves out."""

    keys: list[str]
    counts: list[int]
    distinct: int
    other: int


def _category_counts(series: pd.Series, top: int | None = None) -> _Counts:
    """The ``top`` most frequent values (all if ``None``), with distinct and other counts."""
    values = _arrow_strings(series)
    if values is not None:  # strings: count and rank in Arrow, no Python objects
        counted = pc.value_counts(values)  # counts null too: drop it from the result
        present = pc.is_valid(counted.field("values"))
        return _rank(
            counted.field("values").filter(present), counted.field("counts").filter(present), top
        )
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        counts = np.bincount(codes[codes >= 0], minlength=len(series.cat.categories))
        labels: Any = series.cat.categories
    else:
        try:
            counted_pd = series.value_counts(dropna=True, sort=False)
        except TypeError:  # unhashable values (lists, dicts): count their text
            counted_pd = series.map(str, na_action="ignore").value_counts(dropna=True, sort=False)
        counts, labels = counted_pd.to_numpy(dtype=np.int64), counted_pd.index
    seen = counts > 0
    counts = counts[seen]
    text = _arrow_strings(pd.Series(labels, copy=False))
    if text is not None:  # string labels are unique and their own keys
        return _rank(text.filter(pa.array(seen)), pa.array(counts, pa.int64()), top)
    keys = np.array([category_key(v) for v in labels], dtype=object)[seen]
    if keys.size and not pd.Index(keys).is_unique:  # e.g. 1 and "1" in one object column
        merged = pd.Series(counts).groupby(keys, sort=False).sum()
        keys, counts = merged.index.to_numpy(dtype=object), merged.to_numpy(dtype=np.int64)
    return _rank(pa.array(keys, pa.large_string()), pa.array(counts, pa.int64()), top)


def _arrow_strings(series: pd.Series) -> pa.Array | pa.ChunkedArray | None:
    """The column as an Arrow string array, when all its values are strings."""
    dtype = series.dtype
    if isinstance(dtype, pd.StringDtype) or (
        isinstance(dtype, pd.ArrowDtype)
        and (
            pa.types.is_string(dtype.pyarrow_dtype) or pa.types.is_large_string(dtype.pyarrow_dtype)
        )
    ):
        return pa.array(series)
    if ptypes.is_object_dtype(dtype) and ptypes.infer_dtype(series, skipna=True) == "string":
        return pa.array(series, from_pandas=True, type=pa.large_string())
    return None


def _rank(keys: pa.Array, counts: pa.Array, top: int | None) -> _Counts:
    """Order by count descending then key ascending; keep the first ``top``."""
    table = pa.table({"n": counts, "k": keys})
    sort_keys = [("n", "descending"), ("k", "ascending")]
    if top is not None and top < len(table):
        # Keys are unique, so the order is total and the selection deterministic.
        picked = table.take(pc.select_k_unstable(table, k=top, sort_keys=sort_keys))
    else:
        picked = table
    picked = picked.take(pc.sort_indices(picked, sort_keys=sort_keys))
    kept = picked.column("n").to_pylist()
    total = pc.sum(table.column("n")).as_py() or 0
    return _Counts(picked.column("k").to_pylist(), kept, len(table), total - sum(kept))
