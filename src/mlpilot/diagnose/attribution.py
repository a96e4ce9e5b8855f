"""Feature importance and attribution shift: which inputs the model leans on, and how that moved.

* :func:`stored_importances` reads the SHAP importances the explainability check
  stored in a version's check report (``evidence["importances"]``, normalised).
* :func:`compute_importances` computes them when none is stored: mean |SHAP| on a
  seeded sample (``TreeExplainer``/``LinearExplainer`` through the pipeline's
  preprocessing, else ``KernelExplainer`` on the whole model), falling back to a
  label-free permutation importance (mean |change of the model's output| when one
  column is shuffled) if SHAP cannot explain the model.
* :func:`attribution_shift` explains a seeded sample of the reference and one of the
  window with the same explainer and compares, per input column, the mean |SHAP|
  and the mean signed SHAP. Its causes are scored by
  ``score = min(1, |Δ mean|SHAP|| / Σ_f mean|SHAP_f|_reference)``: the change as a
  share of the reference's total attribution mass.

SHAP values are per input column: transformed columns (one-hot indicators) are summed
back to the column they came from. Units: the model's output (probability of the
positive class for the model-agnostic path, the margin for trees and linear models).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mlpilot.diagnose.causes import Cause

__all__ = ["attribution_causes", "attribution_shift", "compute_importances", "explain_rows",
           "input_columns", "stored_importances"]

_KERNEL_BACKGROUND = 20  # k-means centres summarising the background for KernelExplainer


def stored_importances(check_report: Mapping[str, Any] | None) -> dict[str, float] | None:
    """The normalised SHAP importances the explainability check stored, or ``None``."""
    for entry in (check_report or {}).get("results", []) or []:
        if isinstance(entry, Mapping) and entry.get("check") == "explainability":
            values = (entry.get("evidence") or {}).get("importances")
            if isinstance(values, Mapping) and values:
                return _normalise({str(k): float(v or 0.0) for k, v in values.items()})
    return None


def input_columns(model: Any, frame: pd.DataFrame) -> list[str]:
    """The columns the model consumes: its signature, ``feature_names_in_``, else all."""
    version = getattr(model, "version", None)
    signature = getattr(version, "signature", None)
    if signature and signature.get("inputs"):
        names = [str(c["name"]) for c in signature["inputs"]]
    else:
        fitted = getattr(getattr(model, "raw", model), "feature_names_in_", None)
        names = [str(c) for c in fitted] if fitted is not None else [str(c) for c in frame]
    return [c for c in names if c in frame.columns]


def sample_rows(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """At most ``n`` rows of ``frame``, drawn without replacement with ``seed``."""
    if len(frame) <= n:
        return frame.reset_index(drop=True)
    picked = np.sort(np.random.default_rng(seed).choice(len(frame), size=n, replace=False))
    return frame.iloc[picked].reset_index(drop=True)


def explain_rows(model: Any, rows: pd.DataFrame, background: pd.DataFrame, *,
                 seed: int = 0) -> tuple[np.ndarray, str]:
    """Per-row SHAP values per input column (``len(rows) × columns``) and the method.

    Tries tree, then linear SHAP through the preprocessing, then the model-agnostic
    kernel explainer on the model's positive-class probability (or prediction).

    Raises:
        Exception: whatever SHAP raised when no explainer could handle the model.
    """
    columns = list(rows.columns)
    raw = getattr(model, "raw", model)
    for kind in ("tree", "linear"):
        try:
            return _structural(raw, kind, rows, background), f"shap-{kind}"
        except Exception:  # not that kind of model, or unmappable preprocessing
            continue
    import shap

    from mlpilot.checks.explainability import _Codec, _one_thread

    codec = _Codec(rows, background)
    x, bg = codec.encode(rows), codec.encode(background)
    f = _output_function(model, codec)
    with _one_thread():
        summary = shap.kmeans(bg, _KERNEL_BACKGROUND) if len(bg) > _KERNEL_BACKGROUND else bg
        explainer = shap.KernelExplainer(f, summary, seed=seed)
        values = explainer.shap_values(x, nsamples=10 * len(columns) + 100, silent=True)
    return _per_input(values, columns, columns), "shap-kernel"


def compute_importances(model: Any, frame: pd.DataFrame, *, sample_size: int = 200,
                        seed: int = 0) -> tuple[dict[str, float], str]:
    """Normalised mean |SHAP| per input column on a seeded sample, and the method used.

    Falls back to a label-free permutation importance when SHAP fails.
    """
    data = frame[input_columns(model, frame)]
    rows = sample_rows(data, sample_size, seed)
    background = sample_rows(data, min(sample_size, 100), seed + 1)
    try:
        values, method = explain_rows(model, rows, background, seed=seed)
        means = np.abs(values).mean(axis=0)
        return _normalise(dict(zip(rows.columns, means.tolist(), strict=True))), method
    except Exception:
        return _normalise(permutation_importances(model, rows, seed=seed)), "permutation"


def permutation_importances(model: Any, rows: pd.DataFrame, *, seed: int = 0) -> dict[str, float]:
    """Mean |change of the model's output| when each column alone is shuffled (no labels)."""
    rng = np.random.default_rng(seed)
    base = _outputs(model, rows)
    out: dict[str, float] = {}
    for column in rows.columns:
        shuffled = rows.copy()
        shuffled[column] = rows[column].to_numpy()[rng.permutation(len(rows))]
        out[str(column)] = float(np.mean(np.abs(_outputs(model, shuffled) - base)))
    return out


def attribution_shift(model: Any, reference: pd.DataFrame, window: pd.DataFrame, *,
                      sample_size: int = 200, seed: int = 0) -> dict[str, Any]:
    """SHAP on a seeded reference sample and a window sample, compared per input column.

    Returns:
        ``method``, ``rows_reference``, ``rows_window``, ``total_reference`` (the sum of
        the reference's mean |SHAP|) and ``features``: per column ``reference_mean_abs``,
        ``window_mean_abs``, ``delta_mean_abs``, ``reference_mean``, ``window_mean``,
        ``delta_mean`` and ``p_value`` (Welch's t-test on per-row |SHAP|).

    Raises:
        Exception: whatever SHAP raised when no explainer could handle the model.
    """
    columns = [c for c in input_columns(model, reference) if c in window.columns]
    ref = sample_rows(reference[columns], sample_size, seed)
    win = sample_rows(window[columns], sample_size, seed + 1)
    background = sample_rows(reference[columns], min(sample_size, 100), seed + 2)
    ref_values, method = explain_rows(model, ref, background, seed=seed)
    win_values, _ = explain_rows(model, win, background, seed=seed)
    ref_abs, win_abs = np.abs(ref_values), np.abs(win_values)
    total = float(ref_abs.mean(axis=0).sum())
    features: dict[str, dict[str, Any]] = {}
    for j, column in enumerate(columns):
        a, b = ref_abs[:, j], win_abs[:, j]
        p = None
        if len(a) > 1 and len(b) > 1 and (a.std() > 0 or b.std() > 0):
            p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
        features[column] = {
            "reference_mean_abs": float(a.mean()), "window_mean_abs": float(b.mean()),
            "delta_mean_abs": float(b.mean() - a.mean()),
            "reference_mean": float(ref_values[:, j].mean()),
            "window_mean": float(win_values[:, j].mean()),
            "delta_mean": float(win_values[:, j].mean() - ref_values[:, j].mean()),
            "p_value": p,
        }
    return {"method": method, "rows_reference": len(ref), "rows_window": len(win),
            "total_reference": total, "features": features}


def attribution_causes(shift: Mapping[str, Any], *, top_k: int = 5, alpha: float = 0.05,
                       min_score: float = 0.02) -> list[Cause]:
    """The columns whose attributions moved most, as causes (significant ones only)."""
    total = float(shift.get("total_reference") or 0.0)
    features = shift.get("features") or {}
    if total <= 0 or not features:
        return []
    names = list(features)
    from mlpilot.monitor.drift import adjust_p_values

    raw_p = [features[n]["p_value"] if features[n]["p_value"] is not None else 1.0
             for n in names]
    adjusted = dict(zip(names, adjust_p_values(raw_p, "bh").tolist(), strict=True))
    causes = []
    for name in names:
        f = features[name]
        score = min(1.0, abs(f["delta_mean_abs"]) / total)
        if score < min_score or adjusted[name] >= alpha:
            continue
        direction = "grew" if f["delta_mean_abs"] > 0 else "shrank"
        causes.append(Cause(
            kind="attribution", subject=name, score=score,
            summary=(f"The model's reliance on {name!r} {direction}: mean |SHAP| "
                     f"{f['reference_mean_abs']:.3g} → {f['window_mean_abs']:.3g} "
                     f"({score:.0%} of the reference's total attribution)."),
            evidence={**f, "p_value_adjusted": adjusted[name], "method": shift.get("method"),
                      "total_reference": total},
        ))
    causes.sort(key=lambda c: -c.score)
    return causes[:top_k]


# -- internals ------------------------------------------------------------------------------


def _normalise(values: Mapping[str, float]) -> dict[str, float]:
    clean = {k: (float(v) if np.isfinite(v) and v > 0 else 0.0) for k, v in values.items()}
    total = sum(clean.values())
    return {k: (v / total if total > 0 else 0.0) for k, v in clean.items()}


def _structural(raw: Any, kind: str, rows: pd.DataFrame, background: pd.DataFrame) -> np.ndarray:
    """Tree or linear SHAP of the final estimator, summed back to the input columns."""
    import shap
    from sklearn.pipeline import Pipeline

    from mlpilot.checks.explainability import _dense, _owners

    columns = list(rows.columns)
    if isinstance(raw, Pipeline) and len(raw.steps) > 1:
        pre, estimator = raw[:-1], raw.steps[-1][1]
        owners = _owners(pre, columns)
        matrix, bg = _dense(pre.transform(rows)), _dense(pre.transform(background))
    else:
        estimator = raw.steps[-1][1] if isinstance(raw, Pipeline) else raw
        if not all(pd.api.types.is_numeric_dtype(rows[c]) for c in columns):
            raise TypeError("a bare estimator on non-numeric columns")
        owners = columns
        matrix = rows.to_numpy(np.float64)
        bg = background.to_numpy(np.float64)
    if matrix.shape[1] != len(owners):
        raise TypeError(f"{matrix.shape[1]} transformed columns for {len(owners)} owners")
    if kind == "tree":
        values = shap.TreeExplainer(estimator).shap_values(matrix, check_additivity=False)
    else:
        if not hasattr(estimator, "coef_"):
            raise TypeError(f"{type(estimator).__name__} is not a linear model")
        masker = shap.maskers.Independent(bg, max_samples=len(bg))
        values = shap.LinearExplainer(estimator, masker).shap_values(matrix)
    return _per_input(values, owners, columns)


def _per_input(values: Any, owners: Sequence[str], columns: Sequence[str]) -> np.ndarray:
    """Per-row signed SHAP per input column (binary: the positive class)."""
    if isinstance(values, list):  # older SHAP: one matrix per class
        values = np.stack(values, axis=-1)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 3:
        # Binary: the positive class; multi-class: |SHAP| summed over classes.
        values = values[:, :, -1] if values.shape[2] <= 2 else np.abs(values).sum(axis=2)
    index = {c: i for i, c in enumerate(columns)}
    onehot = np.zeros((len(owners), len(columns)))
    for j, owner in enumerate(owners):
        onehot[j, index[owner]] = 1.0
    out = values @ onehot
    return np.where(np.isfinite(out), out, 0.0)


def _outputs(model: Any, frame: pd.DataFrame) -> np.ndarray:
    """The model's scalar output per row: positive-class probability, else the prediction."""
    proba = None
    if hasattr(model, "predict_proba"):
        try:
            proba = model.predict_proba(frame)
        except Exception:  # regressors, or models without probabilities
            proba = None
    if proba is not None:
        proba = np.asarray(proba, dtype=np.float64)
        return proba[:, -1] if proba.ndim == 2 else proba
    out = np.asarray(model.predict(frame))
    if out.dtype.kind in "fiub":
        return out.astype(np.float64).reshape(len(frame), -1)[:, -1]
    classes = getattr(getattr(model, "raw", model), "classes_", None)
    positive = classes[-1] if classes is not None and len(classes) else sorted(set(out))[-1]
    return (out == positive).astype(np.float64)


def _output_function(model: Any, codec: Any) -> Any:
    def f(matrix: np.ndarray) -> np.ndarray:
        return _outputs(model, codec.decode(np.asarray(matrix, dtype=np.float64)))

    return f
