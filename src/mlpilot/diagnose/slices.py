"""Worst slices: the segments of a window where errors, or predictions, moved most.

Segments come from categorical columns (the most frequent values, the rest pooled
as ``"(other)"``) and numeric columns cut into quantile bins of the reference (so a
bin means the same rows-to-be on both sides), alone and in pairs. Each segment is
tested against the rest of the window, and all tests together are corrected with
Benjamini–Hochberg, so hundreds of segments do not produce false findings.

Three metrics, by what the window has:

* ``"error_rate"`` (labelled classification rows): a misclassification indicator.
  One-sided two-proportion z-test, or Fisher's exact test when an expected count is
  below 5. ``excess = rate_slice − rate_rest``; ``impact = support × excess``;
  ``score = impact / total errors`` — the share of all the window's errors that are
  the slice's excess errors, in [0, 1].
* ``"abs_error"`` (labelled regression rows): absolute errors, one-sided Welch t-test;
  ``score = support × excess / Σ |error|``.
* ``"prediction_shift"`` (no labels): the model's output in the slice compared with
  the same slice of the reference (two-sided Welch t-test). ``shift = mean_window −
  mean_reference`` in the slice; ``excess = shift − overall shift`` (0 unless the
  slice moved more than the window as a whole: a uniform shift has no worst slice);
  ``score = min(1, support_share × |excess| / sd_reference)``.

A pair is kept only when it is worse than both of its single parents by
``pair_gain`` (relative), so a pair that merely restates its parent is not listed.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mlpilot.diagnose.causes import Cause
from mlpilot.monitor.drift import adjust_p_values

__all__ = ["METRICS", "find_slices", "segment_labels", "slice_causes"]

METRICS = ("error_rate", "abs_error", "prediction_shift")
OTHER = "(other)"
MISSING = "(missing)"


def segment_labels(window: pd.Series, reference: pd.Series | None = None, *, bins: int = 4,
                   max_categories: int = 12) -> tuple[np.ndarray, np.ndarray | None]:
    """Segment labels of each row of ``window`` (and of ``reference``), as strings.

    Numeric columns with more distinct values than ``bins`` are cut at quantiles of the
    reference (the window when there is none); others use their values, the most
    frequent ``max_categories`` kept and the rest pooled as ``"(other)"``.
    """
    base = reference if reference is not None else window
    numeric = (pd.api.types.is_numeric_dtype(base) and not pd.api.types.is_bool_dtype(base)
               and base.nunique(dropna=True) > bins)
    if numeric:
        finite = pd.to_numeric(base, errors="coerce").dropna()
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)))
        inner = edges[1:-1]
        names = _bin_names(edges)
        return _cut(window, inner, names), (None if reference is None else
                                            _cut(reference, inner, names))
    counts = base.astype(object).where(base.notna(), MISSING).astype(str).value_counts()
    keep = set(counts.index[:max_categories])

    def label(series: pd.Series) -> np.ndarray:
        text = series.astype(object).where(series.notna(), MISSING).astype(str)
        return np.where(text.isin(keep), text, OTHER).astype(object)

    return label(window), (None if reference is None else label(reference))


def find_slices(
    window: pd.DataFrame,
    values: np.ndarray | Sequence[float],
    *,
    metric: str = "error_rate",
    reference: pd.DataFrame | None = None,
    reference_values: np.ndarray | Sequence[float] | None = None,
    features: Sequence[str] | None = None,
    bins: int = 4,
    min_support: float = 0.02,
    min_count: int = 20,
    alpha: float = 0.05,
    pairs: bool = True,
    max_pair_features: int = 6,
    pair_gain: float = 0.1,
) -> list[dict[str, Any]]:
    """Significant worst slices, by impact (highest first).

    Args:
        window: the window's feature rows.
        values: one value per window row: an error indicator (``"error_rate"``), an
            absolute error (``"abs_error"``) or the model's output
            (``"prediction_shift"``); NaN rows (unlabelled) are left out.
        metric: one of :data:`METRICS`.
        reference: the reference rows (quantile bins; the baseline for
            ``"prediction_shift"``).
        reference_values: the model's output on ``reference`` (``"prediction_shift"``).
        features: the columns to segment on, most relevant first (default: all).
        bins: quantile bins for numeric columns.
        min_support: the least share of rows a slice needs.
        min_count: the least number of rows a slice needs.
        alpha: the level for Benjamini–Hochberg adjusted p-values.
        pairs: also try pairs of the first ``max_pair_features`` features.
        max_pair_features: how many features pairs are made of.
        pair_gain: how much worse (relative excess) than its parents a pair must be.

    Returns:
        Dicts with ``subject``, ``conditions``, ``metric``, ``support``,
        ``support_share``, ``slice_value``, ``rest_value`` (for ``prediction_shift``
        the same slice's reference value), ``excess``, ``impact``, ``p_value``,
        ``p_value_adjusted``, ``test`` and ``score``.

    Raises:
        ValueError: an unknown metric, or values not one per row.
    """
    if metric not in METRICS:
        raise ValueError(f"No slice metric named {metric!r}. Available: {list(METRICS)}.")
    vals = np.asarray(values, dtype=np.float64)
    if vals.shape != (len(window),):
        raise ValueError(f"find_slices needs one value per window row: got {vals.shape} "
                         f"for {len(window)} rows.")
    keep = np.isfinite(vals)
    frame, vals = window.loc[keep].reset_index(drop=True), vals[keep]
    ref_vals = None
    if metric == "prediction_shift":
        if reference is None or reference_values is None:
            raise ValueError("The 'prediction_shift' metric needs the reference rows and the "
                             "model's output on them.")
        ref_vals = np.asarray(reference_values, dtype=np.float64)
    n = len(frame)
    if n == 0:
        return []
    names = [c for c in (features or list(frame.columns)) if c in frame.columns]
    labels: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for c in names:
        ref_col = reference[c] if reference is not None and c in reference.columns else None
        labels[c] = segment_labels(frame[c], ref_col, bins=bins)
    floor = max(min_count, math.ceil(min_support * n))
    tester = _Tester(metric, vals, ref_vals)

    found: list[dict[str, Any]] = []
    excess_of: dict[tuple[tuple[str, str], ...], float] = {}
    for c in names:
        win, ref = labels[c]
        for value in pd.unique(win):
            cond = ((c, str(value)),)
            mask = win == value
            ref_mask = None if ref is None else ref == value
            result = tester.test(mask, ref_mask, floor)
            if result is not None:
                excess_of[cond] = result["excess"]
                found.append({**result, "conditions": cond})
    if pairs:
        for a, b in itertools.combinations(names[:max_pair_features], 2):
            (wa, ra), (wb, rb) = labels[a], labels[b]
            for va, vb in set(zip(wa.tolist(), wb.tolist(), strict=True)):
                parents = [excess_of.get(((a, str(va)),)), excess_of.get(((b, str(vb)),))]
                mask = (wa == va) & (wb == vb)
                ref_mask = None if ra is None or rb is None else (ra == va) & (rb == vb)
                result = tester.test(mask, ref_mask, floor)
                if result is None:
                    continue
                best_parent = max((abs(p) for p in parents if p is not None), default=0.0)
                if abs(result["excess"]) <= best_parent * (1 + pair_gain):
                    continue
                found.append({**result, "conditions": ((a, str(va)), (b, str(vb)))})
    if not found:
        return []
    adjusted = adjust_p_values([f["p_value"] for f in found], "bh")
    out = []
    for f, p_adj in zip(found, adjusted.tolist(), strict=True):
        worse = f["excess"] > 0 if metric != "prediction_shift" else f["excess"] != 0
        if p_adj >= alpha or not worse:
            continue
        conditions = dict(f.pop("conditions"))
        out.append({"subject": " & ".join(f"{k}={v}" for k, v in conditions.items()),
                    "conditions": conditions, "metric": metric, **f,
                    "p_value_adjusted": p_adj})
    out.sort(key=lambda s: (-s["score"], -s["support"], s["subject"]))
    return out


def slice_causes(slices: Sequence[Mapping[str, Any]], *, top_k: int = 5) -> list[Cause]:
    """The worst slices as causes."""
    causes = []
    for s in slices[:top_k]:
        share = s["support_share"]
        if s["metric"] == "error_rate":
            summary = (f"Errors concentrate in {s['subject']}: error rate "
                       f"{s['slice_value']:.1%} vs {s['rest_value']:.1%} elsewhere, on "
                       f"{s['support']} rows ({share:.0%} of the labelled window); its excess "
                       f"errors are {s['score']:.0%} of all errors.")
        elif s["metric"] == "abs_error":
            summary = (f"Errors are larger in {s['subject']}: mean |error| "
                       f"{s['slice_value']:.4g} vs {s['rest_value']:.4g} elsewhere, on "
                       f"{s['support']} rows ({share:.0%} of the labelled window).")
        else:
            summary = (f"Predictions moved most in {s['subject']}: mean output "
                       f"{s['rest_value']:.4g} in the reference → {s['slice_value']:.4g} in the "
                       f"window (overall shift {s['overall_shift']:+.3g}), on {s['support']} "
                       f"rows ({share:.0%} of the window).")
        causes.append(Cause(kind="slice", subject=s["subject"], score=float(s["score"]),
                            summary=summary, evidence=dict(s)))
    return causes


# -- internals ------------------------------------------------------------------------------


def _bin_names(edges: np.ndarray) -> list[str]:
    def fmt(x: float) -> str:
        return f"{x:.4g}"

    if len(edges) < 2:
        return [f"[{fmt(edges[0])}]"] if len(edges) else ["(all)"]
    names = [f"[{fmt(lo)}, {fmt(hi)})" for lo, hi in itertools.pairwise(edges)]
    names[0] = f"(-inf, {fmt(edges[1])})"
    names[-1] = f"[{fmt(edges[-2])}, inf)"
    return names


def _cut(series: pd.Series, inner: np.ndarray, names: list[str]) -> np.ndarray:
    x = pd.to_numeric(series, errors="coerce").to_numpy(np.float64)
    idx = np.searchsorted(inner, x, side="right")
    out = np.asarray(names, dtype=object)[np.clip(idx, 0, len(names) - 1)]
    out[~np.isfinite(x)] = MISSING
    return out


class _Tester:
    """One segment's test against the rest (or against the reference)."""

    def __init__(self, metric: str, values: np.ndarray, reference: np.ndarray | None) -> None:
        self.metric, self.values, self.reference = metric, values, reference
        self.n = len(values)
        self.total = float(values.sum())
        self.ref_sd = float(np.std(reference)) if reference is not None else 0.0
        self.overall = (float(values.mean() - reference.mean())
                        if reference is not None and len(reference) and len(values) else 0.0)

    def test(self, mask: np.ndarray, ref_mask: np.ndarray | None,
             floor: int) -> dict[str, Any] | None:
        k = int(mask.sum())
        if k < floor or (self.metric != "prediction_shift" and self.n - k < floor):
            return None
        inside = self.values[mask]
        base = {"support": k, "support_share": k / self.n}
        if self.metric == "prediction_shift":
            assert self.reference is not None and ref_mask is not None  # checked by caller
            ref = self.reference[ref_mask]
            if len(ref) < 2 or k < 2:
                return None
            shift = float(inside.mean() - ref.mean())
            # Beyond the window's overall shift: a uniform shift has no worst slice.
            excess = shift - self.overall if abs(shift) > abs(self.overall) else 0.0
            p = _welch(inside, ref, "two-sided")
            impact = base["support_share"] * abs(excess)
            score = min(1.0, impact / self.ref_sd) if self.ref_sd > 0 else 0.0
            return {**base, "slice_value": float(inside.mean()), "rest_value": float(ref.mean()),
                    "shift": shift, "overall_shift": self.overall, "excess": excess,
                    "impact": impact, "p_value": p, "test": "welch_t", "score": score}
        rest = self.values[~mask]
        excess = float(inside.mean() - rest.mean())
        impact = base["support_share"] * excess
        if self.metric == "error_rate":
            p, test = _two_proportions(int(inside.sum()), k, int(rest.sum()), len(rest))
        else:
            p, test = _welch(inside, rest, "greater"), "welch_t"
        score = min(1.0, max(0.0, k * excess / self.total)) if self.total > 0 else 0.0
        return {**base, "slice_value": float(inside.mean()), "rest_value": float(rest.mean()),
                "excess": excess, "impact": impact, "p_value": p, "test": test, "score": score}


def _welch(a: np.ndarray, b: np.ndarray, alternative: str) -> float:
    if a.std() == 0 and b.std() == 0:
        return 0.0 if a.mean() != b.mean() else 1.0
    p = float(stats.ttest_ind(a, b, equal_var=False, alternative=alternative).pvalue)
    return p if math.isfinite(p) else 1.0


def _two_proportions(k1: int, n1: int, k2: int, n2: int) -> tuple[float, str]:
    """One-sided p-value that the first rate exceeds the second, and the test used."""
    pooled = (k1 + k2) / (n1 + n2)
    expected = min(n1 * pooled, n1 * (1 - pooled), n2 * pooled, n2 * (1 - pooled))
    if expected < 5:
        table = [[k1, n1 - k1], [k2, n2 - k2]]
        return float(stats.fisher_exact(table, alternative="greater").pvalue), "fisher_exact"
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0, "two_proportion_z"
    z = (k1 / n1 - k2 / n2) / se
    return float(stats.norm.sf(z)), "two_proportion_z"
