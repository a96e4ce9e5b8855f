"""The diagnosis engine on DataFrames: drift × importance, attribution shift, slices, timeline.

:func:`diagnose_frames` needs nothing but frames (and, optionally, the model, the
window's predictions and labels, and audit events), so it runs in a notebook or a
test as well as behind ``mlpilot diagnose``.

Drifted features are scored by

    ``score = (1 − exp(−effect / 0.2)) × importance / max importance``

where ``effect`` is the drift report's effect size (normalised Wasserstein distance
for numeric columns, Jensen–Shannon distance for categorical ones; 0.2 → 0.63,
0.5 → 0.92) and ``importance`` the model's normalised mean |SHAP| for the column
(every column weighs 1 when no importance is known). Only columns the drift report
calls drifted (BH-adjusted p-value below ``alpha`` and effect above its floor) are
causes. See :mod:`~mlpilot.diagnose.attribution`, :mod:`~mlpilot.diagnose.slices`
and :mod:`~mlpilot.diagnose.timeline` for the other scores.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.core.clock import utcnow
from mlpilot.core.entities import Event
from mlpilot.core.errors import InvalidArgument
from mlpilot.diagnose.attribution import (
    _outputs,
    attribution_causes,
    attribution_shift,
    compute_importances,
    input_columns,
    sample_rows,
)
from mlpilot.diagnose.causes import Cause, Diagnosis, rank_causes
from mlpilot.diagnose.slices import find_slices, slice_causes
from mlpilot.diagnose.timeline import timeline, timeline_causes
from mlpilot.monitor.drift import DriftReport, drift_report

__all__ = ["DiagnoseOptions", "diagnose_frames", "distribution_curves", "drift_causes"]

EFFECT_SCALE = 0.2
"""The effect size at which a drift's strength reaches 1 − 1/e (≈ 0.63)."""


@dataclass(frozen=True)
class DiagnoseOptions:
    """Settings of a diagnosis (defaults suit windows of hundreds to millions of rows).

    Attributes:
        sample_size: rows explained with SHAP on each side (seeded sample).
        seed: the seed of every sample.
        top_k: causes kept per kind, and features plotted in the report.
        alpha: the significance level (drift, attribution and slice tests; BH-adjusted).
        bins: quantile bins of numeric columns for slices.
        min_support: the least share of rows a slice needs.
        min_count: the least rows a slice needs.
        max_slice_rows: window rows searched for slices (a seeded sample beyond it).
        lookback: how far before the alert events are considered.
        half_life: the event gap at which an event's score halves.
        attribution: whether to compute the attribution shift (SHAP on two samples).
    """

    sample_size: int = 200
    seed: int = 0
    top_k: int = 5
    alpha: float = 0.05
    bins: int = 4
    min_support: float = 0.02
    min_count: int = 20
    max_slice_rows: int = 50_000
    lookback: timedelta = field(default=timedelta(hours=24))
    half_life: timedelta = field(default=timedelta(hours=6))
    attribution: bool = True


def drift_causes(report: DriftReport, importances: Mapping[str, float] | None, *,
                 top_k: int = 5) -> list[Cause]:
    """Drifted columns weighted by the model's importance for them (module docstring)."""
    weights = dict(importances or {})
    top = max(weights.values(), default=0.0)
    causes = []
    for name, col in report.columns.items():
        if not col.drifted:
            continue
        effect = col.result.effect_size
        if effect is None or not math.isfinite(effect):
            effect = float(col.result.statistic) if math.isfinite(col.result.statistic) else 0.0
        strength = 1.0 - math.exp(-max(effect, 0.0) / EFFECT_SCALE)
        weight = (weights.get(name, 0.0) / top) if top > 0 else 1.0
        score = strength * weight
        share = weights.get(name)
        importance_text = (f"importance {share:.1%} of the model's total" if share is not None
                           else "importance unknown")
        causes.append(Cause(
            kind="drift", subject=name, score=score,
            summary=(f"{name!r} drifted ({col.result.detector} effect {effect:.3g}, adjusted "
                     f"p={_p(col.p_value_adjusted)}) and the model relies on it "
                     f"({importance_text})."),
            evidence={"effect_size": effect, "strength": strength, "importance": share,
                      "importance_weight": weight, "detector": col.result.detector,
                      "statistic": col.result.statistic, "p_value": col.result.p_value,
                      "p_value_adjusted": col.p_value_adjusted, "dtype": col.dtype},
        ))
    causes.sort(key=lambda c: (-c.score, c.subject))
    return causes[:top_k]


def distribution_curves(reference: pd.DataFrame | Mapping[str, Any], window: pd.DataFrame,
                        report: DriftReport, features: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Plot data per feature: CDF curves for numeric columns, shares for categorical ones."""
    from mlpilot.monitor.numeric import CDFDetector

    out: dict[str, dict[str, Any]] = {}
    ref_cols = (reference if isinstance(reference, pd.DataFrame)
                else dict(reference.get("columns") or {}))
    for name in features:
        col = report.columns.get(name)
        if col is None or name not in ref_cols or name not in window.columns:
            continue
        if col.dtype in ("integer", "float", "datetime"):
            try:
                result = CDFDetector().fit(ref_cols[name]).score(window[name])
            except InvalidArgument:
                continue
            details = result.details
            if "grid" in details:
                out[name] = {"kind": "cdf", "grid": list(details["grid"]),
                             "reference": list(details["reference_cdf"]),
                             "window": list(details["current_cdf"]),
                             "ks_distance": result.statistic}
        else:
            details = col.result.details
            ref_shares = details.get("reference_shares")
            cur_shares = details.get("current_shares")
            if ref_shares is None and isinstance(reference, pd.DataFrame):
                ref_shares = _shares(reference[name])
                cur_shares = _shares(window[name])
            if ref_shares is not None and cur_shares is not None:
                keys = list(dict.fromkeys([*ref_shares, *cur_shares]))[:15]
                out[name] = {"kind": "shares", "categories": keys,
                             "reference": [float(ref_shares.get(k, 0.0)) for k in keys],
                             "window": [float(cur_shares.get(k, 0.0)) for k in keys]}
    return out


def diagnose_frames(
    reference: pd.DataFrame | Mapping[str, Any],
    window: pd.DataFrame,
    *,
    model: Any | None = None,
    predictions: Sequence[Any] | np.ndarray | None = None,
    labels: Sequence[Any] | np.ndarray | None = None,
    importances: Mapping[str, float] | None = None,
    importance_method: str | None = None,
    events: Iterable[Event] = (),
    alert_time: datetime | None = None,
    model_name: str = "",
    deployment: str = "",
    schema_of: Callable[[Event], dict[str, Any] | None] | None = None,
    alert_id: int | None = None,
    window_info: Mapping[str, Any] | None = None,
    options: DiagnoseOptions | None = None,
) -> Diagnosis:
    """Rank the likely causes of a window's trouble.

    Args:
        reference: the reference rows, or a stored dataset profile (then no attribution
            shift and no label-free slices: they need rows).
        window: the window's feature rows.
        model: anything with ``predict`` (and ``predict_proba``): a loaded version or an
            estimator. Without it, no importances are computed, no attributions.
        predictions: the window's logged predictions (default: the model's).
        labels: the window's ground truth, NaN/None where none arrived.
        importances: per-feature importance (e.g. from the check report); computed with
            SHAP on the reference when missing and a model is given.
        importance_method: where ``importances`` came from (default ``"given"``).
        events: audit events to correlate (see :mod:`~mlpilot.diagnose.timeline`).
        alert_time: when the alert opened (required for the timeline).
        model_name: the model's name (event relevance).
        deployment: the deployment's name (event relevance).
        schema_of: input-schema change of a ``version.create`` event.
        alert_id: the diagnosed alert, recorded in the diagnosis.
        window_info: extra facts about the window (start, end) for the report.
        options: the settings.

    Returns:
        The :class:`Diagnosis` (no files written).

    Raises:
        InvalidArgument: a window that is not a frame, or shares no column with the reference.
    """
    opts = options or DiagnoseOptions()
    if not isinstance(window, pd.DataFrame):
        raise InvalidArgument(
            f"The window must be a pandas DataFrame. Got {type(window).__name__}.")
    ref_frame = reference if isinstance(reference, pd.DataFrame) else None
    ref_names = (list(ref_frame.columns) if ref_frame is not None
                 else list((reference.get("columns") or {}) if isinstance(reference, Mapping)
                           else []))
    columns = input_columns(model, window) if model is not None else list(window.columns)
    columns = [c for c in columns if c in ref_names]
    if not columns:
        raise InvalidArgument(
            f"The window shares no feature column with the reference. Window: "
            f"{sorted(map(str, window.columns))}; reference: {sorted(map(str, ref_names))}.")
    notes: list[str] = []
    report = drift_report(reference, window, columns=columns, alpha=opts.alpha)
    notes += [f"drift: {c} skipped ({why})" for c, why in report.skipped.items()]

    method = importance_method or ("given" if importances else "none")
    if not importances and model is not None:
        base = ref_frame if ref_frame is not None else window
        try:
            importances, method = compute_importances(model, base[columns],
                                                      sample_size=opts.sample_size,
                                                      seed=opts.seed)
        except Exception as exc:  # a model SHAP and permutation both fail on
            notes.append(f"importance: not computed ({type(exc).__name__}: {exc})")
    if not importances:
        notes.append("importance: unknown; drifted features weigh equally")
    weights = {str(k): float(v) for k, v in (importances or {}).items()}

    causes: list[Cause] = drift_causes(report, weights, top_k=opts.top_k)

    shift: dict[str, Any] = {}
    if model is not None and ref_frame is not None and opts.attribution:
        try:
            shift = attribution_shift(model, ref_frame, window, sample_size=opts.sample_size,
                                      seed=opts.seed)
            causes += attribution_causes(shift, top_k=opts.top_k, alpha=opts.alpha)
        except Exception as exc:  # SHAP could not explain this model
            notes.append(f"attribution shift: skipped ({type(exc).__name__}: {exc})")
    elif opts.attribution:
        notes.append("attribution shift: skipped (needs the model and reference rows)")

    slices, slice_note, labelled = _slices(ref_frame, window, model, predictions, labels,
                                           columns, weights, report, opts)
    if slice_note:
        notes.append(slice_note)
    causes += slice_causes(slices, top_k=opts.top_k)

    events_found: list[dict[str, Any]] = []
    if alert_time is not None:
        events_found = timeline(events, alert_time, model=model_name, deployment=deployment,
                                lookback=opts.lookback, half_life=opts.half_life,
                                schema_of=schema_of)
        causes += timeline_causes(events_found, top_k=opts.top_k)

    ranked = rank_causes(causes)
    plotted = [c.subject for c in ranked if c.kind == "drift"][: opts.top_k]
    curves = distribution_curves(reference, window, report, plotted)
    info = {"rows": len(window), "labelled_rows": labelled,
            "reference_rows": report.n_reference,
            "reference_from": "frame" if ref_frame is not None else "profile",
            **dict(window_info or {})}
    drift_rows = [{"column": name, "dtype": col.dtype, "detector": col.result.detector,
                   "effect_size": col.result.effect_size, "statistic": col.result.statistic,
                   "p_value_adjusted": col.p_value_adjusted, "drifted": col.drifted,
                   "importance": weights.get(name)}
                  for name, col in report.columns.items()]
    return Diagnosis(causes=ranked, alert_id=alert_id, model=model_name, window=info,
                     drift=drift_rows, importances=weights, importance_method=method,
                     attribution=shift, slices=slices, timeline=events_found, curves=curves,
                     notes=notes, created_at=utcnow())


# -- internals ------------------------------------------------------------------------------


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2g}"


def _shares(series: pd.Series) -> dict[str, float]:
    text = series.astype(object).where(series.notna(), "(missing)").astype(str)
    return {str(k): float(v) for k, v in text.value_counts(normalize=True).items()}


def _slices(ref_frame: pd.DataFrame | None, window: pd.DataFrame, model: Any,
            predictions: Any, labels: Any, columns: list[str], weights: Mapping[str, float],
            report: DriftReport, opts: DiagnoseOptions
            ) -> tuple[list[dict[str, Any]], str, int]:
    """Slices by error (labelled rows) or by prediction shift; a note when skipped."""
    # Most suspicious columns first: the pair search only pairs the first few.
    def rank(c: str) -> tuple[float, float, str]:
        col = report.columns.get(c)
        effect = col.result.effect_size if col is not None else None
        return (-weights.get(c, 0.0), -(effect or 0.0) if effect is not None and
                math.isfinite(effect) else 0.0, c)

    features = sorted(columns, key=rank)
    frame = window[columns].reset_index(drop=True)
    n_labelled = 0
    kwargs = {"features": features, "bins": opts.bins, "min_support": opts.min_support,
              "min_count": opts.min_count, "alpha": opts.alpha}
    if labels is not None:
        y = pd.Series(np.asarray(labels, dtype=object)).reset_index(drop=True)
        if predictions is None and model is not None:
            predictions = model.predict(window)
        if predictions is not None and len(y) == len(frame):
            pred = pd.Series(np.asarray(predictions, dtype=object)).reset_index(drop=True)
            values, metric = _errors(pred, y)
            n_labelled = int(np.isfinite(values).sum())
            if n_labelled >= 2 * opts.min_count:
                frame, values = _cap(frame, values, opts)
                return find_slices(frame, values, metric=metric, reference=ref_frame,
                                   **kwargs), "", n_labelled
    if model is None or ref_frame is None:
        return [], ("slices: skipped (needs labels, or the model and reference rows)"
                    ), n_labelled
    frame, _ = _cap(frame, np.zeros(len(frame)), opts)
    ref = sample_rows(ref_frame[columns], opts.max_slice_rows, opts.seed + 3)
    try:
        cur_out, ref_out = _outputs(model, frame), _outputs(model, ref)
    except Exception as exc:  # the model refuses the logged rows
        return [], f"slices: skipped (model outputs failed: {type(exc).__name__}: {exc})", 0
    note = "slices: no labels in the window; searched by prediction shift"
    return find_slices(frame, cur_out, metric="prediction_shift", reference=ref,
                       reference_values=ref_out, **kwargs), note, n_labelled


def _cap(frame: pd.DataFrame, values: np.ndarray,
         opts: DiagnoseOptions) -> tuple[pd.DataFrame, np.ndarray]:
    if len(frame) <= opts.max_slice_rows:
        return frame, values
    rng = np.random.default_rng(opts.seed + 4)
    picked = np.sort(rng.choice(len(frame), size=opts.max_slice_rows, replace=False))
    return frame.iloc[picked].reset_index(drop=True), values[picked]


def _errors(pred: pd.Series, y: pd.Series) -> tuple[np.ndarray, str]:
    """Per-row errors (NaN where unlabelled) and the slice metric they suit."""
    missing = y.isna().to_numpy()
    y_num = pd.to_numeric(y, errors="coerce")
    p_num = pd.to_numeric(pred, errors="coerce")
    numeric = bool(p_num.notna().all() and y_num[~missing].notna().all())
    values = np.full(len(y), np.nan)
    if numeric:
        p_arr, y_arr = p_num.to_numpy(np.float64), y_num.to_numpy(np.float64)
        regression = (not np.allclose(p_arr, np.round(p_arr)) and
                      len(np.unique(p_arr)) > 20)
        if regression:
            values[~missing] = np.abs(p_arr - y_arr)[~missing]
            return values, "abs_error"
        values[~missing] = (p_arr != y_arr)[~missing].astype(np.float64)
        return values, "error_rate"
    values[~missing] = (pred.astype(str) != y.astype(str)).to_numpy()[~missing].astype(
        np.float64)
    return values, "error_rate"
