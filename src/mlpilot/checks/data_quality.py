"""Data quality: outliers, duplicates, constant columns and label leakage in the holdout.

* **outliers**: an IsolationForest (seeded; datetime columns left out, since time only
  moves forward) is fitted on half of a reference sample and its outlier threshold
  set on the other half, at the ``contamination`` quantile of the scores, so the
  reference's own outlier share is measured out of sample.
  The holdout's share under the same threshold is compared with it by a one-sided
  Fisher exact test: more outliers than the reference, by both ``max_outlier_ratio``
  and ``min_outlier_margin``, with ``p < alpha``, fails.
* **leakage**: a depth-2 decision tree on one feature alone, cross-validated on the
  holdout; a feature reaching ``leak_threshold`` (ROC AUC, or R² for regression)
  predicts the label almost perfectly — usually the label in disguise — and fails.
* **duplicates and constants** warn.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mlpilot.checks._base import Check, CheckResult, Severity, Verdict
from mlpilot.core.errors import InvalidArgument
from mlpilot.core.jsonsafe import json_safe
from mlpilot.data.schema import logical_dtype

_MIN_REFERENCE_ROWS = 50  # below this an outlier threshold is noise
_EXAMPLES = 5


def _encode(frame: pd.DataFrame, reference: pd.DataFrame) -> np.ndarray:
    """Numbers for a tree model: numeric as is, categories by reference frequency rank.

    Missing numbers take the reference median; unseen or missing categories get a
    rank past the last known one, so they stand out rather than blend in.
    """
    columns = []
    for name in reference.columns:
        ref, cur = reference[name], frame[name]
        kind = logical_dtype(ref)
        if kind in ("integer", "float", "boolean", "datetime"):
            ref_num, cur_num = _numeric(ref, kind), _numeric(cur, kind)
            fill = float(np.nanmedian(ref_num)) if np.isfinite(ref_num).any() else 0.0
            cur_num = np.where(np.isfinite(cur_num), cur_num, fill)
            columns.append(cur_num)
        else:
            ranks = {k: i for i, k in enumerate(ref.astype(str).value_counts().index)}
            codes = cur.astype(str).map(ranks).where(cur.notna())
            columns.append(codes.fillna(len(ranks)).to_numpy(dtype=np.float64))
    return np.column_stack(columns) if columns else np.empty((len(frame), 0))


def _numeric(series: pd.Series, kind: str) -> np.ndarray:
    if kind == "datetime":
        stamps = pd.to_datetime(series, utc=True)
        seconds = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        return seconds.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


class DataQualityCheck(Check):
    """Outliers against the reference, duplicated rows and columns, constants, and leaks.

    Args:
        contamination: the share of reference rows called outliers; it sets the
            IsolationForest threshold (a quantile of held-out reference scores).
        max_outlier_ratio: the holdout outlier share may be at most this multiple of
            the reference's before failing.
        min_outlier_margin: ...and must exceed it by at least this much (absolute).
        alpha: significance level of the one-sided Fisher exact test.
        max_reference_rows: cap on the reference sample (seeded draw).
        n_estimators: trees in the IsolationForest.
        leak_threshold: cross-validated ROC AUC (classification) or R² (regression)
            of a depth-2 tree on a single feature at or above which it is a leak.
        leak_max_rows: cap on the holdout rows used for the leakage test.
        max_duplicate_share: duplicated holdout rows allowed before a warning.
        severity: ``"advisory"`` (default) or ``"blocking"``.

    Raises:
        InvalidArgument: for out-of-range parameters.
    """

    name = "data_quality"
    description = "Holdout outliers, duplicates, constant columns and label leakage."
    default_severity = Severity.ADVISORY

    def __init__(
        self,
        *,
        contamination: float = 0.02,
        max_outlier_ratio: float = 2.0,
        min_outlier_margin: float = 0.02,
        alpha: float = 0.01,
        max_reference_rows: int = 20_000,
        n_estimators: int = 100,
        leak_threshold: float = 0.98,
        leak_max_rows: int = 5_000,
        max_duplicate_share: float = 0.05,
        severity: str | None = None,
    ) -> None:
        super().__init__(severity=severity)
        for param, value, lo, hi in (
            ("contamination", contamination, 0.0, 0.5),
            ("min_outlier_margin", min_outlier_margin, 0.0, 1.0),
            ("alpha", alpha, 0.0, 1.0),
            ("leak_threshold", leak_threshold, 0.0, 1.0),
            ("max_duplicate_share", max_duplicate_share, 0.0, 1.0),
            ("max_outlier_ratio", max_outlier_ratio, 1.0, math.inf),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or not (
                lo <= value <= hi
            ) or (param == "contamination" and value == 0):
                raise InvalidArgument(
                    f"The {param!r} parameter of DataQualityCheck must be a number in "
                    f"{'(' if param == 'contamination' else '['}{lo}, {hi}]. Got {value!r}."
                )
        for param, count in (("max_reference_rows", max_reference_rows),
                             ("n_estimators", n_estimators), ("leak_max_rows", leak_max_rows)):
            if isinstance(count, bool) or not isinstance(count, int) or count < 10:
                raise InvalidArgument(
                    f"The {param!r} parameter of DataQualityCheck must be an int >= 10. "
                    f"Got {count!r}."
                )
        self.contamination = contamination
        self.max_outlier_ratio = max_outlier_ratio
        self.min_outlier_margin = min_outlier_margin
        self.alpha = alpha
        self.max_reference_rows = max_reference_rows
        self.n_estimators = n_estimators
        self.leak_threshold = leak_threshold
        self.leak_max_rows = leak_max_rows
        self.max_duplicate_share = max_duplicate_share

    def _run(self, ctx: Any) -> CheckResult:
        features = ctx.features
        if features is None or len(features) == 0:
            return self.skip("No holdout data to assess (pass data= or log a 'validation' "
                             "dataset in the training run).")
        evidence: dict[str, Any] = {"rows": len(features), "columns": len(features.columns)}
        fails: list[str] = []
        warns: list[str] = []

        evidence["outliers"] = self._outliers(ctx, features)
        if evidence["outliers"].get("flagged"):
            o = evidence["outliers"]
            fails.append(f"{o['holdout_share']:.1%} of holdout rows are outliers vs "
                         f"{o['reference_share']:.1%} of the reference (p={o['p_value']:.2g})")

        evidence["leakage"] = self._leakage(ctx, features)
        if evidence["leakage"].get("leaky"):
            metric = evidence["leakage"]["metric"]
            fails += [f"leaky column {c!r} predicts the label alone ({metric} "
                      f"{evidence['leakage']['scores'][c]:.3f})"
                      for c in evidence["leakage"]["leaky"]]

        frame = ctx.data if ctx.data is not None else features
        dup = int(frame.duplicated().sum())
        evidence["duplicate_rows"] = {"count": dup, "share": round(dup / len(frame), 6),
                                      "limit": self.max_duplicate_share}
        if dup / len(frame) > self.max_duplicate_share:
            warns.append(f"{dup / len(frame):.1%} of holdout rows are duplicates")
        evidence["duplicate_columns"] = _duplicate_columns(features)
        warns += [f"column {b!r} duplicates {a!r}" for a, b in evidence["duplicate_columns"]]
        evidence["constant_columns"] = [c for c in features.columns
                                        if features[c].nunique(dropna=False) <= 1]
        warns += [f"column {c!r} is constant" for c in evidence["constant_columns"]]

        if fails:
            return self.result(Verdict.FAIL, "; ".join(fails + warns) + ".", **evidence)
        if warns:
            return self.result(Verdict.WARN, "; ".join(warns) + ".", **evidence)
        return self.result(Verdict.PASS, f"{len(features)} holdout rows: no excess outliers, "
                           "duplicates, constant or leaky columns.", **evidence)

    # -- outliers -----------------------------------------------------------------------
    def _outliers(self, ctx: Any, features: pd.DataFrame) -> dict[str, Any]:
        from sklearn.ensemble import IsolationForest

        reference = ctx.reference_data
        if reference is None:
            return {"skipped": "no reference dataset"}
        shared = [c for c in features.columns if c in reference.columns]
        # Timestamps only move forward: every newer row would look like an outlier.
        columns = [c for c in shared if logical_dtype(reference[c]) != "datetime"]
        if not columns:
            return {"skipped": "the reference shares no non-datetime column with the holdout"}
        reference = reference[columns]
        if len(reference) > self.max_reference_rows:
            reference = reference.sample(self.max_reference_rows, random_state=ctx.seed)
        if len(reference) < _MIN_REFERENCE_ROWS:
            return {"skipped": f"the reference has fewer than {_MIN_REFERENCE_ROWS} rows"}
        rng = np.random.default_rng(ctx.seed)
        order = rng.permutation(len(reference))
        half = len(reference) // 2
        fit_part = reference.iloc[order[:half]]
        calibration = reference.iloc[order[half:]]

        forest = IsolationForest(n_estimators=self.n_estimators, random_state=ctx.seed,
                                 n_jobs=1)
        forest.fit(_encode(fit_part, fit_part))
        ref_scores = forest.score_samples(_encode(calibration, fit_part))
        threshold = float(np.quantile(ref_scores, self.contamination))
        scores = forest.score_samples(_encode(features[columns], fit_part))

        ref_out = int(np.count_nonzero(ref_scores < threshold))
        out = int(np.count_nonzero(scores < threshold))
        ref_share, share = ref_out / len(ref_scores), out / len(scores)
        table = [[out, len(scores) - out], [ref_out, len(ref_scores) - ref_out]]
        p_value = float(stats.fisher_exact(table, alternative="greater").pvalue)
        ratio = share / ref_share if ref_share else (math.inf if share else 1.0)
        flagged = (ratio >= self.max_outlier_ratio
                   and share - ref_share >= self.min_outlier_margin and p_value < self.alpha)
        worst = np.argsort(scores, kind="stable")[:min(_EXAMPLES, out)]
        examples = [
            {"row": int(features.index[i]) if isinstance(features.index[i], int | np.integer)
             else str(features.index[i]), "score": round(float(scores[i]), 6),
             "values": {c: json_safe(features[c].iloc[i]) for c in columns}}
            for i in worst
        ]
        return {
            "flagged": bool(flagged), "holdout_share": round(share, 6),
            "reference_share": round(ref_share, 6),
            "ratio": round(ratio, 4) if math.isfinite(ratio) else None,
            "p_value": json_safe(p_value), "threshold": round(threshold, 6),
            "holdout_outliers": out, "reference_rows": len(ref_scores),
            "limits": {"contamination": self.contamination,
                       "max_outlier_ratio": self.max_outlier_ratio,
                       "min_outlier_margin": self.min_outlier_margin, "alpha": self.alpha},
            "examples": examples,
        }

    # -- leakage ------------------------------------------------------------------------
    def _leakage(self, ctx: Any, features: pd.DataFrame) -> dict[str, Any]:
        from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
        from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

        labels = ctx.labels
        if labels is None:
            return {"skipped": "no label column in the holdout"}
        mask = ~pd.isna(labels)
        frame, y = features[mask], labels[mask]
        if len(frame) > self.leak_max_rows:
            keep = np.random.default_rng(ctx.seed).choice(len(frame), self.leak_max_rows,
                                                          replace=False)
            frame, y = frame.iloc[np.sort(keep)], y[np.sort(keep)]
        classify = ctx.task == "classification"
        if classify:
            _, counts = np.unique(y.astype(str), return_counts=True)
            if len(counts) < 2 or counts.min() < 3:
                return {"skipped": "fewer than 3 holdout rows in some class"}
            folds: Any = StratifiedKFold(3, shuffle=True, random_state=ctx.seed)
            scoring, metric = ("roc_auc" if len(counts) == 2 else "roc_auc_ovr"), "roc_auc"
            model: Any = DecisionTreeClassifier(max_depth=2, random_state=ctx.seed)
        else:
            if len(frame) < 10:
                return {"skipped": "fewer than 10 labelled holdout rows"}
            folds, scoring, metric = KFold(3, shuffle=True, random_state=ctx.seed), "r2", "r2"
            model = DecisionTreeRegressor(max_depth=2, random_state=ctx.seed)
        scores: dict[str, float] = {}
        for name in frame.columns:
            x = _encode(frame[[name]], frame[[name]])
            score = float(np.mean(cross_val_score(model, x, y, cv=folds, scoring=scoring)))
            scores[name] = round(score, 6) if math.isfinite(score) else 0.0
        leaky = [c for c, s in scores.items() if s >= self.leak_threshold]
        return {"metric": metric, "threshold": self.leak_threshold, "rows": len(frame),
                "scores": scores, "leaky": leaky}


def _duplicate_columns(features: pd.DataFrame) -> list[list[str]]:
    """Pairs ``[first, duplicate]`` of columns holding identical values."""
    seen: dict[int, list[str]] = {}
    pairs: list[list[str]] = []
    for name in features.columns:
        key = int(pd.util.hash_pandas_object(features[name].astype(str), index=False).sum())
        for other in seen.get(key, []):
            if features[name].astype(str).equals(features[other].astype(str)):
                pairs.append([other, name])
                break
        else:
            seen.setdefault(key, []).append(name)
    return pairs
