"""The drift report: every column of a window against the reference, in one call.

:func:`drift_report` picks a detector per column by logical type (numeric: ``"ks"``
by default; categorical: ``"chi2"``), runs the columns in parallel threads on large
frames (sorting and searching release the GIL), then decides per column with two
guards that single tests lack:

* **Multiple testing.** With 25 columns tested at 5%, a clean window would flag one
  about 72% of the time. p-values are adjusted across columns, Benjamini–Hochberg
  by default (controls the expected share of false flags among the flagged), or
  Bonferroni (controls the chance of any false flag).
* **Minimum effect.** On a million rows a test finds a 0.01-standard-deviation shift
  significant; nobody should be paged for it. A column whose detector has a p-value
  is drifted only when its adjusted p-value is below ``alpha`` *and* its effect size
  is at least ``min_effect``: the normalised Wasserstein distance for numeric
  columns (0.05 ≈ a mean shift of 5% of a standard deviation), the Jensen–Shannon
  distance for categorical ones (0.05 ≈ one of two categories moving from 30% to
  about 35.6% of rows). Detectors without a p-value (``psi``, ``wasserstein``,
  ``jensen_shannon``, ...) keep their own threshold verdict.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.core.errors import InvalidArgument
from mlpilot.core.jsonsafe import json_safe
from mlpilot.data.profile import CATEGORICAL_KINDS, NUMERIC_KINDS
from mlpilot.data.schema import logical_dtype
from mlpilot.monitor import categorical as _categorical  # noqa: F401  (registers detectors)
from mlpilot.monitor import numeric as _numeric  # noqa: F401  (registers detectors)
from mlpilot.monitor.detector import DETECTORS, Detector, DetectorResult, finite

__all__ = ["ColumnDrift", "DriftReport", "adjust_p_values", "drift_report"]

DEFAULT_MIN_EFFECT = 0.05
CORRECTIONS = ("bh", "bonferroni", "none")
_PARALLEL_MIN_ROWS = 20_000  # below this a thread pool costs more than it saves


@dataclass(frozen=True)
class ColumnDrift:
    """One column's verdict in a :class:`DriftReport`.

    Attributes:
        column: the column name.
        dtype: its logical type in the reference.
        result: the detector's own answer (its ``drifted`` ignores the correction).
        p_value_adjusted: the p-value after the multiple-testing correction, or
            ``None`` when the detector has no p-value or the window was empty.
        drifted: the report's verdict for this column.
    """

    column: str
    dtype: str
    result: DetectorResult
    p_value_adjusted: float | None
    drifted: bool

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON form."""
        out = self.result.to_dict()
        out.update(json_safe({"column": self.column, "dtype": self.dtype,
                              "p_value_adjusted": self.p_value_adjusted,
                              "drifted": self.drifted,
                              "detector_drifted": self.result.drifted}))
        return out


@dataclass(frozen=True)
class DriftReport:
    """The drift of one window against a reference, column by column.

    Attributes:
        columns: per tested column, in reference order.
        drifted_columns: names of the drifted columns.
        share_drifted: drifted ÷ tested columns (0.0 when none was tested).
        dataset_drifted: ``share_drifted >= drift_share`` (Evidently's rule).
        skipped: columns not tested, with the reason.
        n_reference: reference rows (a profile's ``num_rows``).
        n_current: window rows.
        parameters: the settings the verdicts came from.
    """

    columns: Mapping[str, ColumnDrift]
    drifted_columns: list[str]
    share_drifted: float
    dataset_drifted: bool
    skipped: Mapping[str, str] = field(default_factory=dict)
    n_reference: int = 0
    n_current: int = 0
    parameters: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON form (no NaN or infinities)."""
        return json_safe({
            "dataset_drifted": self.dataset_drifted,
            "share_drifted": self.share_drifted,
            "drifted_columns": list(self.drifted_columns),
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "parameters": dict(self.parameters),
            "columns": {name: col.to_dict() for name, col in self.columns.items()},
            "skipped": dict(self.skipped),
        })


def adjust_p_values(p_values: Sequence[float], method: str = "bh") -> np.ndarray:
    """Multiple-testing adjusted p-values, capped at 1.

    Args:
        p_values: raw p-values in [0, 1].
        method: ``"bh"`` (Benjamini–Hochberg step-up), ``"bonferroni"`` or ``"none"``.

    Raises:
        InvalidArgument: for an unknown method.
    """
    p = np.asarray(p_values, dtype=np.float64)
    if method not in CORRECTIONS:
        raise InvalidArgument(
            f"No multiple-testing correction named {method!r}. Available: {list(CORRECTIONS)}."
        )
    if p.size == 0 or method == "none":
        return p.copy()
    if method == "bonferroni":
        return np.minimum(p * p.size, 1.0)
    order = np.argsort(p)
    scaled = p[order] * p.size / np.arange(1, p.size + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty_like(p)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def drift_report(
    reference: pd.DataFrame | Mapping[str, Any],
    current: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    numeric: str = "ks",
    categorical: str = "chi2",
    alpha: float = 0.05,
    min_effect: float | None = DEFAULT_MIN_EFFECT,
    correction: str = "bh",
    drift_share: float = 0.5,
    numeric_params: Mapping[str, Any] | None = None,
    categorical_params: Mapping[str, Any] | None = None,
    max_workers: int | None = None,
) -> DriftReport:
    """Compare a window with a reference frame or a stored dataset profile.

    Args:
        reference: the reference frame, or its profile from
            :func:`mlpilot.data.compute_profile` (no need to reload the data).
        current: the window.
        columns: the columns to test; default every reference column the window has,
            except datetimes (timestamps always move; name them here to test them).
        numeric: the detector for integer, float (and named datetime) columns.
        categorical: the detector for string, category and boolean columns.
        alpha: the significance level for adjusted p-values, in (0, 1).
        min_effect: the effect size below which a significant column is not drifted
            (>= 0; ``None`` or 0 turns the guard off). See the module docstring.
        correction: ``"bh"``, ``"bonferroni"`` or ``"none"``.
        drift_share: the share of drifted columns at which the dataset counts as
            drifted, in (0, 1].
        numeric_params: keyword arguments for the numeric detector.
        categorical_params: keyword arguments for the categorical detector.
        max_workers: threads for large frames; ``None`` means one per CPU core.

    Returns:
        The :class:`DriftReport`.

    Raises:
        InvalidArgument: bad parameters, unknown detectors, a non-frame window, or a
            named column missing from either side.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> ref = pd.DataFrame({"x": rng.normal(size=5000), "c": rng.choice(["a", "b"], 5000)})
        >>> cur = pd.DataFrame({"x": rng.normal(0.5, size=5000),
        ...                     "c": rng.choice(["a", "b"], 5000)})
        >>> drift_report(ref, cur).drifted_columns
        ['x']
    """
    alpha = _in_unit("alpha", alpha, closed=False)
    drift_share = _in_unit("drift_share", drift_share, closed=True)
    effect_floor = 0.0 if min_effect is None else finite(min_effect, "'min_effect' parameter")
    if effect_floor < 0:
        raise InvalidArgument(f"The 'min_effect' parameter must be >= 0. Got {min_effect!r}.")
    if correction not in CORRECTIONS:
        raise InvalidArgument(
            f"No multiple-testing correction named {correction!r}. "
            f"Available: {list(CORRECTIONS)}."
        )
    makers = {
        "numeric": _detector_maker(numeric, "numeric", numeric_params, alpha),
        "categorical": _detector_maker(categorical, "categorical", categorical_params, alpha),
    }
    if not isinstance(current, pd.DataFrame):
        raise InvalidArgument(
            f"The current window must be a pandas DataFrame. Got {type(current).__name__}."
        )
    ref_columns, n_reference = _reference_columns(reference)
    plan, skipped = _plan(ref_columns, current, columns)

    def run(item: tuple[str, str, Any, pd.Series]) -> DetectorResult | str:
        name, family, ref_col, cur_col = item
        try:
            return makers[family]().fit(ref_col).score(cur_col)
        except InvalidArgument as exc:
            return str(exc)

    tasks = [(name, _family(kind), ref_columns[name], current[name])
             for name, kind in plan]
    workers = min(max_workers or os.cpu_count() or 1, max(len(tasks), 1))
    if workers > 1 and max(len(current), n_reference) >= _PARALLEL_MIN_ROWS:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlpilot-drift") as pool:
            outcomes = list(pool.map(run, tasks))
    else:
        outcomes = [run(task) for task in tasks]

    results: dict[str, tuple[str, DetectorResult]] = {}
    for (name, kind), outcome in zip(plan, outcomes, strict=True):
        if isinstance(outcome, str):
            skipped[name] = outcome
        else:
            results[name] = (kind, outcome)
    tested = [name for name, (_, r) in results.items()
              if r.p_value is not None and math.isfinite(r.p_value)]
    adjusted = dict(zip(tested, adjust_p_values(
        [results[name][1].p_value for name in tested], correction).tolist(), strict=True))

    out: dict[str, ColumnDrift] = {}
    for name, (kind, result) in results.items():
        p_adj = adjusted.get(name)
        if p_adj is None:
            drifted = bool(result.drifted)
        else:
            effect = result.effect_size
            big_enough = effect is None or not math.isfinite(effect) or effect >= effect_floor
            drifted = p_adj < alpha and big_enough
        out[name] = ColumnDrift(name, kind, result, p_adj, drifted)
    drifted_columns = [name for name, col in out.items() if col.drifted]
    share = len(drifted_columns) / len(out) if out else 0.0
    return DriftReport(
        columns=out,
        drifted_columns=drifted_columns,
        share_drifted=share,
        dataset_drifted=bool(out) and share >= drift_share,
        skipped=skipped,
        n_reference=n_reference,
        n_current=len(current),
        parameters={
            "numeric": numeric, "categorical": categorical, "alpha": alpha,
            "min_effect": effect_floor, "correction": correction, "drift_share": drift_share,
            "reference_from": "profile" if isinstance(reference, Mapping) else "frame",
        },
    )


def _in_unit(name: str, value: Any, *, closed: bool) -> float:
    number = finite(value, f"'{name}' parameter of drift_report")
    if not (0 < number <= 1 if closed else 0 < number < 1):
        interval = "(0, 1]" if closed else "(0, 1)"
        raise InvalidArgument(
            f"The '{name}' parameter of drift_report must be a float in {interval}. "
            f"Got {value!r} instead."
        )
    return number


def _detector_maker(name: str, kind: str, params: Mapping[str, Any] | None, alpha: float) -> Any:
    cls = DETECTORS.get(name) if isinstance(name, str) else None
    if cls is None or getattr(cls, "kind", None) != kind:
        valid = sorted(n for n, c in DETECTORS.items() if getattr(c, "kind", None) == kind)
        raise InvalidArgument(f"No {kind} detector named {name!r}. Available: {valid}.")
    kwargs = dict(params or {})
    if getattr(cls, "p_value_test", False):
        kwargs.setdefault("threshold", alpha)  # the detector's own verdict at the same level
    cls(**kwargs)  # fail on bad parameters now, not per column

    def make() -> Detector:
        return cls(**kwargs)  # type: ignore[return-value]

    return make


def _reference_columns(reference: Any) -> tuple[dict[str, Any], int]:
    """Reference columns (Series or column profiles) by name, and the row count."""
    if isinstance(reference, pd.DataFrame):
        return {str(name): reference[name] for name in reference.columns}, len(reference)
    if isinstance(reference, Mapping) and isinstance(reference.get("columns"), Mapping):
        return dict(reference["columns"]), int(reference.get("num_rows") or 0)
    raise InvalidArgument(
        "The reference must be a pandas DataFrame or a dataset profile (a dict with "
        f"'columns', from mlpilot.data.compute_profile). Got {type(reference).__name__}."
    )


def _plan(
    ref_columns: Mapping[str, Any], current: pd.DataFrame, columns: Sequence[str] | None
) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """``(column, reference dtype)`` pairs to test, and the skipped columns with reasons."""
    skipped: dict[str, str] = {}
    names = [str(c) for c in current.columns]
    if columns is not None:
        if isinstance(columns, str):
            columns = [columns]
        missing = [c for c in columns if c not in ref_columns or c not in names]
        if missing:
            raise InvalidArgument(
                f"Columns {missing} are missing from the reference or the window. "
                f"Reference: {sorted(ref_columns)}; window: {sorted(names)}."
            )
        wanted = list(columns)
    else:
        wanted = []
        for name in ref_columns:
            if name in names:
                wanted.append(name)
            else:
                skipped[name] = "missing from the current window"
        for name in names:
            if name not in ref_columns:
                skipped[name] = "not in the reference"
    plan: list[tuple[str, str]] = []
    for name in wanted:
        ref = ref_columns[name]
        try:
            ref_kind = ref.get("dtype") if isinstance(ref, Mapping) else logical_dtype(ref)
            cur_kind = logical_dtype(current[name])
        except InvalidArgument as exc:
            skipped[name] = str(exc)
            continue
        if ref_kind == "datetime" and columns is None:
            skipped[name] = "datetime column (timestamps always move; name it in columns=)"
        elif ref_kind not in NUMERIC_KINDS | CATEGORICAL_KINDS:
            skipped[name] = f"unsupported reference dtype {ref_kind!r}"
        elif _family(ref_kind) != _family(cur_kind):
            skipped[name] = f"dtype changed from {ref_kind} to {cur_kind}"
        else:
            plan.append((name, ref_kind))
    return plan, skipped


def _family(kind: str) -> str:
    return "numeric" if kind in NUMERIC_KINDS else "categorical"
