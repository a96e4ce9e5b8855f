"""Data quality of a window of served inputs, against the reference profile.

:func:`features_frame` turns inference records into a frame of raw feature values
(one row per predicted row, values kept as sent: a ``"12"`` stays a string, so
type errors stay visible). :func:`check_quality` compares it with a reference
profile (:func:`mlpilot.data.profile.compute_profile`) and, optionally, a schema
(:func:`mlpilot.data.schema.infer_schema`). Checks, per column:

* ``missing_column`` / ``extra_column``: expected columns absent from every row, and
  columns the reference does not know.
* ``null_rate``: missing values (None, NaN, or the column absent from a request) vs
  the reference null rate. Flagged when the share exceeds the reference rate by
  more than ``tolerance`` and a one-sided binomial test gives ``p < alpha``; with a
  schema that declares the column non-nullable, any null is flagged.
* ``type_error``: non-null values that are not of the declared logical type
  (integer: whole numbers, not booleans; float: numbers; boolean: booleans;
  string: text; category: any scalar; datetime: timestamps or ISO text). Any is flagged.
* ``out_of_range`` (integer, float, datetime): values outside the reference range.
  ``range_method="quantile"`` (default) uses the reference's 0.1% and 99.9%
  quantiles, so 0.2% of clean data is expected outside; ``"minmax"`` uses the
  reference min and max (expected ~0%). Flagged like nulls: share above the expected
  share plus ``tolerance``, and a binomial ``p < alpha``.
* ``new_category`` (string, category, boolean): values the reference never had.
  Flagged when any appear, if the profile's frequency table is complete; when the
  profile kept only its top values (``other_count > 0``), only beyond ``tolerance``.

A column's verdict is ``"missing"``, ``"extra"``, ``"degraded"`` (a flagged check)
or ``"ok"``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mlpilot.core.errors import InvalidArgument
from mlpilot.core.jsonsafe import json_safe
from mlpilot.data.profile import CATEGORICAL_KINDS, NUMERIC_KINDS, category_key
from mlpilot.data.schema import LOGICAL_DTYPES

__all__ = ["CHECKS", "RANGE_METHODS", "ColumnQuality", "QualityFinding", "QualityReport",
           "check_quality", "features_frame"]

CHECKS = ("missing_column", "extra_column", "null_rate", "type_error", "out_of_range",
          "new_category")
RANGE_METHODS = {"quantile": (0.001, 0.999), "minmax": (0.0, 1.0)}
FEEDBACK_ROUTE = "feedback"
_MAX_EXAMPLES = 10


@dataclass(frozen=True)
class QualityFinding:
    """One check on one column.

    Attributes:
        column: the column.
        check: one of :data:`CHECKS`.
        count: offending values (rows, for a missing column).
        share: ``count`` over the rows checked.
        expected: the share the reference leads one to expect (reference null rate,
            0.002 outside the 0.1/99.9% quantiles, ...).
        flagged: the check failed (see the module rules).
        p_value: one-sided binomial p-value of the excess, where the check has one.
        details: examples of offending values, bounds, below/above counts; JSON-able.
    """

    column: str
    check: str
    count: int
    share: float
    expected: float
    flagged: bool
    p_value: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return json_safe({"column": self.column, "check": self.check, "count": self.count,
                          "share": self.share, "expected": self.expected,
                          "flagged": self.flagged, "p_value": self.p_value,
                          "details": dict(self.details)})


@dataclass(frozen=True)
class ColumnQuality:
    """All checks of one column and its verdict (``ok``, ``degraded``, ``missing``, ``extra``)."""

    column: str
    dtype: str | None
    verdict: str
    checks: Mapping[str, QualityFinding]

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "dtype": self.dtype, "verdict": self.verdict,
                "checks": {k: f.to_dict() for k, f in self.checks.items()}}


@dataclass(frozen=True)
class QualityReport:
    """Data quality of one window.

    Attributes:
        rows: rows in the window.
        columns: column -> :class:`ColumnQuality` (expected columns, then extra ones).
        findings: the flagged checks only, column by column.
        params: the thresholds used.
    """

    rows: int
    columns: Mapping[str, ColumnQuality]
    findings: tuple[QualityFinding, ...]
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when nothing is flagged."""
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON form."""
        return json_safe({"rows": self.rows, "ok": self.ok,
                          "columns": {k: c.to_dict() for k, c in self.columns.items()},
                          "findings": [f.to_dict() for f in self.findings],
                          "params": dict(self.params)})


# --- building the window --------------------------------------------------------------


def _is_batch(features: Mapping[str, Any]) -> int | None:
    """The row count when every value is a list of one common length, else ``None``."""
    lengths = {len(v) if isinstance(v, list | tuple | np.ndarray) else -1
               for v in features.values()}
    if len(lengths) == 1:
        (n,) = lengths
        return n if n >= 0 else None
    return None


def features_frame(records: Iterable[Any], *, include_failed: bool = True) -> pd.DataFrame:
    """The raw feature values of a window, one row per predicted row.

    A record's ``features`` is either one row, ``{column: value}`` (the gateway's
    ``record`` form), or a batch, ``{column: [values...]}`` (``records``/``columns``
    and Open Inference Protocol forms): a record is a batch when **every** value is a
    list and all have the same length; otherwise it is one row and a list value is
    kept as is (and later reads as a type error for a scalar column). A column absent
    from a request reads as missing (None) in its rows. Feedback records and records
    without features are skipped.

    Args:
        records: :class:`~mlpilot.serve.inference_log.InferenceRecord` objects.
        include_failed: also take requests answered with an error (a 4xx's rejected
            inputs are data-quality evidence too).

    Returns:
        An ``object``-dtype frame indexed by request id (repeated for batch rows).

    Raises:
        InvalidArgument: a record whose ``features`` is not a mapping with string keys.
    """
    columns: dict[str, list[Any]] = {}
    index: list[str] = []
    for r in records:
        if r.route == FEEDBACK_ROUTE or (not include_failed and r.status >= 400):
            continue
        features = r.features
        if not features:
            continue
        if not isinstance(features, Mapping) or not all(isinstance(k, str) for k in features):
            raise InvalidArgument(f"Record {r.request_id!r}: features must be a mapping of "
                                  f"column name to value(s). Got {type(features).__name__}.")
        n = _is_batch(features)
        rows = n if n is not None else 1
        before = len(index)
        for name, value in features.items():
            col = columns.setdefault(name, [None] * before)
            values = list(value) if n is not None else [value]
            col.extend(v.item() if isinstance(v, np.generic) else v for v in values)
        index.extend([r.request_id] * rows)
        for col in columns.values():  # columns this request lacks
            col.extend([None] * (len(index) - len(col)))
    frame = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in columns.items()})
    frame.index = pd.Index(index, dtype=object, name="request_id")
    return frame


# --- checks -----------------------------------------------------------------------------


def _nulls(values: pd.Series) -> np.ndarray:
    return np.array([v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT
                     or v is pd.NA for v in values], dtype=bool) if values.dtype == object \
        else values.isna().to_numpy()


def _type_ok(value: Any, dtype: str) -> bool:
    if isinstance(value, np.generic):
        value = value.item()
    if dtype == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if dtype == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if dtype == "boolean":
        return isinstance(value, bool)
    if dtype == "string":
        return isinstance(value, str)
    if dtype == "category":
        return not isinstance(value, list | tuple | dict | set | bytes)
    if isinstance(value, datetime | date | pd.Timestamp | np.datetime64):
        return True
    if isinstance(value, str):
        try:
            pd.Timestamp(value)
        except (ValueError, TypeError):
            return False
        return True
    return False


def _numbers(values: list[Any], dtype: str) -> np.ndarray:
    if dtype != "datetime":
        return np.asarray([float(v) for v in values], dtype=np.float64)
    stamps = pd.to_datetime(pd.Series(values, dtype=object), utc=True, errors="coerce",
                            format="mixed")
    ticks = stamps.to_numpy(dtype="datetime64[ns]").view(np.int64)
    return ticks / 1e9


def _excess(count: int, n: int, expected: float) -> float:
    """One-sided binomial p-value of seeing ``count`` or more at rate ``expected``."""
    if n == 0 or count == 0:
        return 1.0
    return float(stats.binom.sf(count - 1, n, min(max(expected, 1e-9), 1.0)))


def _examples(values: Iterable[Any]) -> list[list[Any]]:
    counted = Counter(category_key(v) if not isinstance(v, str) else v for v in values)
    return [[k, c] for k, c in counted.most_common(_MAX_EXAMPLES)]


def check_quality(window: pd.DataFrame, profile: Mapping[str, Any],
                  schema: Mapping[str, Any] | None = None, *, range_method: str = "quantile",
                  tolerance: float = 0.01, alpha: float = 0.001) -> QualityReport:
    """Check a window of features against the reference profile (and schema).

    Args:
        window: the window, e.g. from :func:`features_frame` (any dtypes).
        profile: the reference profile (``compute_profile``).
        schema: the expected schema (``infer_schema``); when given, it decides the
            expected columns, their types and nullability; else the profile does.
        range_method: ``"quantile"`` (0.1% / 99.9% reference quantiles) or ``"minmax"``.
        tolerance: the share above the expected share a rate check tolerates, in [0, 1).
        alpha: significance level of the rate checks' binomial tests, in (0, 1).

    Returns:
        The :class:`QualityReport`.

    Raises:
        InvalidArgument: a non-frame window, a malformed profile or schema, bad parameters.
    """
    if not isinstance(window, pd.DataFrame):
        raise InvalidArgument(f"The window must be a pandas DataFrame (see features_frame). "
                              f"Got {type(window).__name__}.")
    if range_method not in RANGE_METHODS:
        raise InvalidArgument(f"No range method named {range_method!r}. Available: "
                              f"{sorted(RANGE_METHODS)}.")
    if not (isinstance(tolerance, int | float) and 0 <= tolerance < 1):
        raise InvalidArgument(f"The 'tolerance' parameter must be in [0, 1). Got {tolerance!r}.")
    if not (isinstance(alpha, float) and 0 < alpha < 1):
        raise InvalidArgument(f"The 'alpha' parameter must be a float in (0, 1). Got {alpha!r}.")
    columns = profile.get("columns") if isinstance(profile, Mapping) else None
    if not isinstance(columns, Mapping):
        raise InvalidArgument("The profile must be a dict with a 'columns' mapping, as "
                              f"compute_profile() returns. Got {type(profile).__name__}.")
    expected = _expected(columns, schema)
    n = len(window)
    report: dict[str, ColumnQuality] = {}
    for name, (dtype, nullable) in expected.items():
        col_profile = columns.get(name) or {}
        if name not in window.columns:
            miss = QualityFinding(name, "missing_column", n, 1.0, 0.0, True)
            report[name] = ColumnQuality(name, dtype, "missing", {"missing_column": miss})
            continue
        checks = _check_column(name, window[name], dtype, nullable, col_profile,
                               RANGE_METHODS[range_method], tolerance, alpha)
        verdict = "degraded" if any(f.flagged for f in checks.values()) else "ok"
        report[name] = ColumnQuality(name, dtype, verdict, checks)
    for name in window.columns:
        if name not in expected:
            extra = QualityFinding(str(name), "extra_column", n, 1.0, 0.0, True)
            report[str(name)] = ColumnQuality(str(name), None, "extra", {"extra_column": extra})
    findings = tuple(f for c in report.values() for f in c.checks.values() if f.flagged)
    params = {"range_method": range_method, "tolerance": tolerance, "alpha": alpha,
              "schema": schema is not None}
    return QualityReport(n, report, findings, params)


def _expected(columns: Mapping[str, Any], schema: Mapping[str, Any] | None
              ) -> dict[str, tuple[str, bool | None]]:
    out: dict[str, tuple[str, bool | None]] = {}
    if schema is not None:
        entries = schema.get("columns") if isinstance(schema, Mapping) else None
        if not isinstance(entries, list):
            raise InvalidArgument("The schema must be a dict with a 'columns' list, as "
                                  f"infer_schema() returns. Got {type(schema).__name__}.")
        for e in entries:
            if not isinstance(e, Mapping) or e.get("dtype") not in LOGICAL_DTYPES or not \
                    isinstance(e.get("name"), str):
                raise InvalidArgument(f"Each schema column must be {{'name': str, 'dtype': one "
                                      f"of {list(LOGICAL_DTYPES)}, 'nullable': bool}}. Got "
                                      f"{e!r}.")
            out[e["name"]] = (e["dtype"], bool(e.get("nullable", True)))
        return out
    for name, col in columns.items():
        dtype = col.get("dtype") if isinstance(col, Mapping) else None
        if dtype not in LOGICAL_DTYPES:
            raise InvalidArgument(f"Profile column {name!r} has no valid 'dtype' (one of "
                                  f"{list(LOGICAL_DTYPES)}). Got {dtype!r}.")
        out[name] = (dtype, None)
    return out


def _check_column(name: str, series: pd.Series, dtype: str, nullable: bool | None,
                  col_profile: Mapping[str, Any], bounds: tuple[float, float],
                  tolerance: float, alpha: float) -> dict[str, QualityFinding]:
    n = len(series)
    null = _nulls(series)
    nulls = int(null.sum())
    ref_rate = float(col_profile.get("null_rate") or 0.0)
    p = _excess(nulls, n, ref_rate)
    flagged = (nullable is False and nulls > 0) or (
        n > 0 and nulls / n > ref_rate + tolerance and p < alpha)
    checks = {"null_rate": QualityFinding(name, "null_rate", nulls, nulls / n if n else 0.0,
                                          ref_rate, flagged, p)}
    present = series.to_numpy(dtype=object)[~null]
    ok = np.array([_type_ok(v, dtype) for v in present], dtype=bool)
    bad = present[~ok]
    checks["type_error"] = QualityFinding(
        name, "type_error", int(bad.size), bad.size / present.size if present.size else 0.0,
        0.0, bool(bad.size), None, {"examples": _examples(bad)} if bad.size else {})
    good = present[ok].tolist()
    if dtype in NUMERIC_KINDS:
        checks["out_of_range"] = _range(name, good, dtype, col_profile, bounds, tolerance, alpha)
    elif dtype in CATEGORICAL_KINDS:
        checks["new_category"] = _categories(name, good, col_profile, tolerance)
    return checks


def _range(name: str, values: list[Any], dtype: str, col_profile: Mapping[str, Any],
           bounds: tuple[float, float], tolerance: float, alpha: float) -> QualityFinding:
    sketch = col_profile.get("quantiles") or []
    if len(sketch) < 2 or any(v is None for v in sketch) or not values:
        return QualityFinding(name, "out_of_range", 0, 0.0, 0.0, False, None,
                              {"skipped": "no reference sketch" if values else "no values"})
    ref = np.asarray(sketch, dtype=np.float64)
    probs = np.linspace(0.0, 1.0, ref.size)
    lo, hi = (float(np.interp(q, probs, ref)) for q in bounds)
    x = _numbers(values, dtype)
    x = x[~np.isnan(x)]
    below, above = int(np.sum(x < lo)), int(np.sum(x > hi))
    count, m = below + above, x.size
    expected = bounds[0] + (1.0 - bounds[1])
    share = count / m if m else 0.0
    p = _excess(count, m, expected)
    flagged = m > 0 and share > expected + tolerance and p < alpha
    return QualityFinding(name, "out_of_range", count, share, expected, bool(flagged), p,
                          {"lower": lo, "upper": hi, "below": below, "above": above})


def _categories(name: str, values: list[Any], col_profile: Mapping[str, Any],
                tolerance: float) -> QualityFinding:
    known = set((col_profile.get("frequencies") or {}).keys())
    truncated = int(col_profile.get("other_count") or 0) > 0
    new = [v for v in values if category_key(v) not in known]
    share = len(new) / len(values) if values else 0.0
    flagged = bool(new) and (not truncated or share > tolerance)
    details: dict[str, Any] = {"reference_truncated": truncated}
    if new:
        details["examples"] = _examples(new)
    return QualityFinding(name, "new_category", len(new), share, 0.0, flagged, None, details)
