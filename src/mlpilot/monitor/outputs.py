"""Prediction drift and label drift: has what the model says, or what the world answers, moved?

Both compare one output column between a reference (typically the validation set or
a stable production period) and a window, with the registered univariate detectors:

* class predictions and class labels (strings, booleans, categories, or integers
  with at most ``max_classes`` distinct reference values): ``categorical_test``
  (default ``"chi2"``, effect size Jensen–Shannon distance);
* regression outputs, regression labels and single scores: ``numeric_test``
  (default ``"ks"``, effect size the normalised Wasserstein distance);
* class-probability matrices (a 2-D array or a frame, one column per class): the
  numeric test per class column (only the positive class for two columns); the
  verdict uses the smallest Bonferroni-adjusted p-value, the per-class results are in
  ``details["classes"]``.

:class:`OutputDrift` is a :class:`Detector` but is not registered: it watches the
model's outputs, not a feature column, so the drift report's column loop must not
pick it up. Results carry ``detector="prediction_drift"`` or ``"label_drift"`` and
``feature="prediction"`` or ``"label"``; ``details["test"]`` names the test used.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from mlpilot.core.errors import InvalidArgument
from mlpilot.monitor.detector import DETECTORS, Detector, DetectorResult, get_detector

__all__ = ["OutputDrift", "label_drift", "prediction_drift"]

_TARGETS = ("prediction", "label")
_TYPES = ("auto", "class", "numeric", "probability")


def _as_series(values: Any, what: str) -> pd.Series:
    if isinstance(values, pd.Series):
        return values.reset_index(drop=True)
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InvalidArgument(f"The {what} must be one-dimensional. Got shape {arr.shape}.")
    return pd.Series(arr)


def _as_matrix(values: Any, what: str) -> pd.DataFrame:
    frame = values if isinstance(values, pd.DataFrame) else pd.DataFrame(np.asarray(values))
    if frame.ndim != 2 or frame.shape[1] < 2:
        raise InvalidArgument(
            f"The {what} must be a class-probability matrix with one column per class. "
            f"Got shape {frame.shape}.")
    return frame.reset_index(drop=True)


class OutputDrift(Detector):
    """Compares a model's outputs (or the labels) in a window with a reference.

    Args:
        target: ``"prediction"`` or ``"label"`` (names the result).
        output_type: ``"auto"``, ``"class"``, ``"numeric"`` or ``"probability"``;
            ``"auto"`` decides on the reference (see the module docstring).
        alpha: significance level handed to the tests.
        max_classes: integer outputs with at most this many distinct reference values
            are classes under ``"auto"``.
        numeric_test: registered numeric detector for scores and regression outputs.
        categorical_test: registered categorical detector for classes.
    """

    kind: ClassVar[str] = "output"

    def __init__(self, target: str = "prediction", output_type: str = "auto",
                 alpha: float = 0.05, max_classes: int = 20, numeric_test: str = "ks",
                 categorical_test: str = "chi2") -> None:
        if target not in _TARGETS:
            raise InvalidArgument(
                f"The 'target' parameter of OutputDrift must be one of {list(_TARGETS)}. "
                f"Got {target!r}.")
        if output_type not in _TYPES:
            raise InvalidArgument(
                f"The 'output_type' parameter of OutputDrift must be one of {list(_TYPES)}. "
                f"Got {output_type!r}.")
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
            raise InvalidArgument(
                f"The 'alpha' parameter of OutputDrift must be a float in (0, 1). Got {alpha!r}.")
        self.target, self.output_type, self.alpha = target, output_type, float(alpha)
        self.max_classes = int(max_classes)
        self.numeric_test, self.categorical_test = numeric_test, categorical_test
        self._make(numeric_test)  # fail on unknown names now, not at score time
        self._make(categorical_test)

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{self.target}_drift"

    def _make(self, test: str) -> Detector:
        params: dict[str, Any] = {}
        if getattr(DETECTORS.get(test), "p_value_test", False):
            params["threshold"] = self.alpha  # the test's own verdict at our level
        detector = get_detector(test, **params)
        if not isinstance(detector, Detector):
            raise InvalidArgument(f"OutputDrift needs a window detector; {test!r} is streaming.")
        return detector

    def _resolve(self, reference: Any) -> str:
        if self.output_type != "auto":
            return self.output_type
        if isinstance(reference, pd.DataFrame) or (
                not isinstance(reference, pd.Series) and np.ndim(reference) == 2
                and np.shape(reference)[1] > 1):
            return "probability"
        series = _as_series(reference, f"reference {self.target}")
        dtype = series.dtype
        if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
            return "class"
        if pd.api.types.is_integer_dtype(dtype) and series.nunique() <= self.max_classes:
            return "class"
        return "numeric"

    def _column(self, values: Any, what: str) -> pd.Series:
        series = _as_series(values, what)
        if self.type_ == "class":
            dtype = series.dtype
            if not (pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_integer_dtype(dtype)
                    or isinstance(dtype, pd.CategoricalDtype)):
                series = series.astype(object).where(series.notna(), None).map(
                    lambda v: v if v is None else str(v))
        elif pd.api.types.is_bool_dtype(series.dtype):
            series = series.astype(float)
        return series.rename(self.target)

    def fit(self, reference: Any) -> Self:
        self.type_ = self._resolve(reference)
        what = f"reference {self.target}"
        if self.type_ == "probability":
            matrix = _as_matrix(reference, what)
            cols = list(matrix.columns)[1:] if matrix.shape[1] == 2 else list(matrix.columns)
            self.classes_ = cols
            self.detectors_ = {
                c: self._make(self.numeric_test).fit(matrix[c].astype(float).rename(self.target))
                for c in cols}
        else:
            test = self.categorical_test if self.type_ == "class" else self.numeric_test
            self.detectors_ = {None: self._make(test).fit(self._column(reference, what))}
        return self

    def score(self, current: Any) -> DetectorResult:
        if not hasattr(self, "detectors_"):
            raise InvalidArgument("OutputDrift must be fitted before it scores a window.")
        what = f"window {self.target}"
        if self.type_ != "probability":
            result = self.detectors_[None].score(self._column(current, what))
            details = {**result.details, "test": result.detector, "output_type": self.type_}
            return dataclasses.replace(result, detector=self.name, feature=self.target,
                                       details=details)
        matrix = _as_matrix(current, what)
        missing = [c for c in self.classes_ if c not in matrix.columns]
        if missing:
            raise InvalidArgument(
                f"The window {self.target} lacks the class columns {missing}; it has "
                f"{list(matrix.columns)}.")
        results = {c: d.score(matrix[c].astype(float).rename(self.target))
                   for c, d in self.detectors_.items()}
        k = len(results)
        adjusted = {c: min(1.0, r.p_value * k) if r.p_value is not None else None
                    for c, r in results.items()}
        worst = min(results, key=lambda c: (adjusted[c] is None, adjusted[c] or 0.0,
                                            -results[c].statistic))
        top = results[worst]
        p = adjusted[worst]
        drifted = p < self.alpha if p is not None else any(r.drifted for r in results.values())
        details = {"test": top.detector, "output_type": "probability", "worst_class": worst,
                   "correction": "bonferroni",
                   "classes": {str(c): {"statistic": r.statistic, "p_value": r.p_value,
                                        "effect_size": r.effect_size, "drifted": r.drifted}
                               for c, r in results.items()}}
        effects = [r.effect_size for r in results.values() if r.effect_size is not None]
        return DetectorResult(
            detector=self.name, feature=self.target, statistic=top.statistic,
            threshold=self.alpha if p is not None else top.threshold, drifted=bool(drifted),
            p_value=p, effect_size=max(effects) if effects else None, details=details)


def prediction_drift(reference: Any, current: Any, **params: Any) -> DetectorResult:
    """Drift of the model's predictions between a reference and a window (:class:`OutputDrift`)."""
    return OutputDrift(target="prediction", **params).fit(reference).score(current)


def label_drift(reference: Any, current: Any, **params: Any) -> DetectorResult:
    """Drift of the ground-truth labels between a reference and a window."""
    return OutputDrift(target="label", **params).fit(reference).score(current)
