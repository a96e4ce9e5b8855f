"""Is the candidate at least as good as the baseline? A TFX-style "blessing" by paired bootstrap.

Both models are scored on the same holdout. The primary metric decides: the
candidate is blessed unless it is *significantly* worse than the baseline by
more than ``margin``, i.e. unless the whole confidence interval of
``candidate - baseline`` (signed so that positive is better) lies below
``-margin``. The interval comes from a paired bootstrap: each resample of the
holdout rows scores both models on exactly the same rows. Absolute thresholds
and per-slice comparisons complete the picture.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.checks._base import Check, CheckResult, Severity, Verdict
from mlpilot.checks._stats import (
    HIGHER_IS_BETTER,
    ClassificationScores,
    MetricComparison,
    RegressionScores,
    Scores,
    clean,
    compare,
    metrics_for,
    slice_labels,
)
from mlpilot.core.errors import InvalidArgument

#: The primary metric when none is configured.
DEFAULT_METRIC = {"classification": "roc_auc", "regression": "rmse"}
#: At most this many slices per column are compared (the largest ones).
MAX_SLICES_PER_COLUMN = 50


def _classes_of(registered: Any, version: Any) -> list[Any] | None:
    classes = getattr(getattr(registered, "model", None), "classes_", None)
    if classes is None:
        classes = ((version.signature or {}).get("outputs") or {}).get("classes")
    return None if classes is None else list(np.asarray(classes).tolist())


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4f}"


class PerformanceCheck(Check):
    """The candidate must not be significantly worse than the baseline on the holdout.

    Args:
        metric: the primary metric that decides the verdict; default ``roc_auc``
            (classification; macro one-vs-rest for multiclass) or ``rmse``
            (regression). Also reported: ``accuracy``, ``f1``, ``log_loss``,
            ``brier`` / ``mae``, ``r2``.
        margin: how much worse (absolute, in the metric's units) the candidate
            may be before a *significant* drop fails it. Default 0.01.
        n_bootstrap: paired bootstrap resamples (at least 100). Default 1000.
        confidence: level of the percentile interval. Default 0.95.
        thresholds: absolute requirements on the candidate, e.g.
            ``{"roc_auc": 0.7, "log_loss": 0.5}``: a minimum for metrics where
            higher is better, a maximum for losses (``log_loss``, ``brier``,
            ``rmse``, ``mae``).
        slices: holdout columns to compare per slice: categorical columns per
            value, numeric ones per quantile bin. A slice where the candidate is
            worse by more than ``margin`` gives a warning.
        slice_bins: quantile bins for numeric slice columns. Default 4.
        min_slice_size: slices with fewer rows are reported, never flagged. Default 30.
        severity: ``blocking`` (default) or ``advisory``.

    Verdicts: ``fail`` when the candidate is significantly worse or misses a
    threshold; ``warn`` when it is worse but not significantly, or worse on a
    slice; ``pass`` otherwise. Without a baseline, only the thresholds decide.
    ``skip`` without a holdout or its labels.
    """

    name = "performance"
    description = ("Candidate vs baseline on the same holdout: paired-bootstrap interval of "
                   "the difference, absolute thresholds, per-slice metrics.")
    default_severity = Severity.BLOCKING

    def __init__(
        self,
        *,
        metric: str | None = None,
        margin: float = 0.01,
        n_bootstrap: int = 1000,
        confidence: float = 0.95,
        thresholds: dict[str, float] | None = None,
        slices: list[str] | None = None,
        slice_bins: int = 4,
        min_slice_size: int = 30,
        severity: Severity | str | None = None,
    ) -> None:
        super().__init__(severity=severity)
        self.metric = metric
        self.margin = margin
        self.n_bootstrap = n_bootstrap
        self.confidence = confidence
        self.thresholds = thresholds
        self.slices = slices
        self.slice_bins = slice_bins
        self.min_slice_size = min_slice_size

    # -- parameters ---------------------------------------------------------------------
    def _validate(self, task: str) -> None:
        valid = list(metrics_for(task))
        if self.metric is not None and self.metric not in valid:
            raise InvalidArgument(
                f"The 'metric' parameter of the performance check must be one of {valid} for "
                f"{task}. Got {self.metric!r}."
            )
        for name, value, ok, rule in (
            ("margin", self.margin, lambda v: v >= 0, "a number >= 0"),
            ("confidence", self.confidence, lambda v: 0 < v < 1, "a number in (0, 1)"),
        ):
            if not isinstance(value, Real) or isinstance(value, bool) or not ok(value):
                raise InvalidArgument(
                    f"The {name!r} parameter of the performance check must be {rule}. "
                    f"Got {value!r}."
                )
        for name, value, low in (("n_bootstrap", self.n_bootstrap, 100),
                                 ("slice_bins", self.slice_bins, 2),
                                 ("min_slice_size", self.min_slice_size, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise InvalidArgument(
                    f"The {name!r} parameter of the performance check must be an integer "
                    f">= {low}. Got {value!r}."
                )
        thresholds = self.thresholds or {}
        if not isinstance(thresholds, dict):
            raise InvalidArgument(
                "The 'thresholds' parameter of the performance check must be a mapping of "
                f"metric to bound, e.g. {{'roc_auc': 0.7}}. Got {thresholds!r}."
            )
        for name, bound in thresholds.items():
            if name not in valid:
                raise InvalidArgument(
                    f"No {task} metric named {name!r} in the performance thresholds. "
                    f"Available: {valid}."
                )
            if not isinstance(bound, Real) or isinstance(bound, bool):
                raise InvalidArgument(
                    f"The threshold for {name!r} must be a number. Got {bound!r}."
                )
        if self.slices is not None and (
                isinstance(self.slices, str) or not all(isinstance(c, str) for c in self.slices)):
            raise InvalidArgument(
                "The 'slices' parameter of the performance check must be a list of column "
                f"names. Got {self.slices!r}."
            )

    # -- scoring ------------------------------------------------------------------------
    @staticmethod
    def _scores(task: str, y: np.ndarray, pred: np.ndarray | None, proba: np.ndarray | None,
                classes: list[Any] | None, mask: np.ndarray) -> Scores:
        if pred is None:
            raise InvalidArgument("The model returned no predictions on the holdout.")
        if task == "regression":
            return RegressionScores(y[mask].astype(float), np.asarray(pred)[mask])
        return ClassificationScores(y[mask], np.asarray(pred)[mask],
                                    None if proba is None else np.asarray(proba)[mask], classes)

    def _run(self, ctx: Any) -> CheckResult:
        task = ctx.task
        self._validate(task)
        if ctx.data is None:
            return self.skip("No holdout data: pass the holdout (--data) or log a dataset with "
                             "role 'validation' on the run that produced the candidate.")
        if ctx.labels is None:
            return self.skip("The holdout has no label column: set `target:` in checks.yaml "
                             "or pass --target.")
        missing = [c for c in self.slices or [] if c not in ctx.data.columns]
        if missing:
            raise InvalidArgument(
                f"The slice column {missing[0]!r} is not in the holdout. "
                f"Columns: {list(ctx.data.columns)}."
            )
        y = ctx.labels
        mask = np.asarray(pd.notna(y))
        if not mask.any():
            return self.skip(f"Every label in the holdout column {ctx.target!r} is missing.")
        cand = self._scores(task, y, ctx.predictions, ctx.probabilities,
                            _classes_of(ctx.model, ctx.candidate), mask)
        base = None
        if ctx.baseline is not None and ctx.baseline_model is not None:
            base = self._scores(task, y, ctx.baseline_predictions, ctx.baseline_probabilities,
                                _classes_of(ctx.baseline_model, ctx.baseline), mask)
        notes: list[str] = []
        available = [m for m in metrics_for(task)
                     if m in cand.metrics and (base is None or m in base.metrics)]
        primary = self.metric or DEFAULT_METRIC[task]
        if primary not in available:
            if self.metric is not None:
                raise InvalidArgument(
                    f"The performance metric {primary!r} needs class probabilities, which "
                    f"{'the candidate or the baseline' if base else 'the candidate'} does not "
                    f"give. Choose one of {available}."
                )
            notes.append(f"{primary} needs class probabilities, which a model does not give; "
                         "the primary metric is accuracy instead.")
            primary = "accuracy"
        for name in self.thresholds or {}:
            if name not in cand.metrics:
                raise InvalidArgument(
                    f"The threshold on {name!r} needs class probabilities, which the "
                    f"candidate does not give. Choose among {list(cand.metrics)}."
                )
        comparisons = compare(cand, base, available, n_bootstrap=self.n_bootstrap,
                              confidence=self.confidence, seed=ctx.seed)
        thresholds = self._thresholds(cand)
        slices = self._slices(ctx, cand, base, primary, mask)
        return self._verdict(ctx, task, primary, comparisons, thresholds, slices, notes,
                             n_rows=int(mask.sum()), n_unlabelled=int((~mask).sum()))

    def _thresholds(self, cand: Scores) -> list[dict[str, Any]]:
        rows = []
        for name, bound in (self.thresholds or {}).items():
            value = cand.value(name)
            higher = HIGHER_IS_BETTER[name]
            passed = math.isfinite(value) and (value >= bound if higher else value <= bound)
            rows.append({"metric": name, "bound": float(bound), "kind": "min" if higher else "max",
                         "value": clean(value), "passed": bool(passed)})
        return rows

    def _slices(self, ctx: Any, cand: Scores, base: Scores | None, primary: str,
                mask: np.ndarray) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        sign = 1.0 if HIGHER_IS_BETTER[primary] else -1.0
        for column in self.slices or []:
            labels = slice_labels(ctx.data[column].reset_index(drop=True)[mask],
                                  bins=self.slice_bins)
            counts = labels.value_counts(sort=False)
            counts = counts[counts > 0]
            keep = set(counts.sort_values(ascending=False, kind="stable")
                       .index[:MAX_SLICES_PER_COLUMN])
            codes = labels.to_numpy(dtype=object)
            for name in [c for c in counts.index if c in keep]:
                rows_in = codes == name
                n = int(rows_in.sum())
                c = cand.subset(rows_in).value(primary)
                b = base.subset(rows_in).value(primary) if base is not None else math.nan
                improvement = (c - b) * sign if base is not None else math.nan
                too_small = n < self.min_slice_size
                rows.append({
                    "column": column, "slice": name, "n": n, "candidate": clean(c),
                    "baseline": clean(b), "improvement": clean(improvement),
                    "too_small": too_small,
                    "flagged": bool(not too_small and math.isfinite(improvement)
                                    and improvement < -self.margin),
                })
        return rows

    # -- the verdict --------------------------------------------------------------------
    def _verdict(self, ctx: Any, task: str, primary: str,
                 comparisons: dict[str, MetricComparison], thresholds: list[dict[str, Any]],
                 slices: list[dict[str, Any]], notes: list[str], *, n_rows: int,
                 n_unlabelled: int) -> CheckResult:
        main = comparisons[primary]
        level = f"{round(self.confidence * 100, 2):g}%"
        ci = f"{level} CI [{_fmt(main.ci_low)}, {_fmt(main.ci_high)}]"
        has_base = main.baseline is not None
        worse = has_base and main.improvement is not None and main.improvement < 0
        significant = has_base and math.isfinite(main.ci_high) and main.ci_high < -self.margin
        fails: list[str] = []
        warns: list[str] = []
        if significant:
            fails.append(
                f"{primary} {_fmt(main.candidate)} vs baseline {_fmt(main.baseline)}: the "
                f"candidate is significantly worse (difference {main.improvement:+.4f}, {ci} "
                f"of candidate - baseline, entirely below -margin {self.margin})"
            )
        elif worse and main.improvement is not None:
            warns.append(
                f"{primary} {_fmt(main.candidate)} vs baseline {_fmt(main.baseline)}: worse by "
                f"{-main.improvement:.4f} but not significantly beyond the margin "
                f"{self.margin} ({ci})"
            )
        for row in thresholds:
            if not row["passed"]:
                word = "below the minimum" if row["kind"] == "min" else "above the maximum"
                fails.append(f"{row['metric']} {_fmt(row['value'])} is {word} {row['bound']}")
        flagged = [r for r in slices if r["flagged"]]
        if flagged:
            shown = ", ".join(f"{r['column']}={r['slice']} ({_fmt(r['candidate'])} vs "
                              f"{_fmt(r['baseline'])})" for r in flagged[:3])
            more = f" and {len(flagged) - 3} more" if len(flagged) > 3 else ""
            warns.append(f"worse than the baseline by more than {self.margin} {primary} on "
                         f"{shown}{more}")
        if not math.isfinite(main.candidate):
            warns.append(f"{primary} is undefined on this holdout (a single class?)")
        if not has_base:
            notes.append("No baseline version was found; the candidate was evaluated alone "
                         "against the thresholds.")
        if fails:
            verdict, summary = Verdict.FAIL, "; ".join(fails)
        elif warns:
            verdict, summary = Verdict.WARN, "; ".join(warns)
        elif has_base:
            verdict = Verdict.PASS
            summary = (f"{primary} {_fmt(main.candidate)} vs baseline {_fmt(main.baseline)} "
                       f"(difference {main.improvement:+.4f}, {ci}): not worse beyond the "
                       f"margin {self.margin}")
        else:
            verdict = Verdict.PASS
            summary = (f"{primary} {_fmt(main.candidate)} ({ci})" +
                       ("; thresholds met" if thresholds else "; no thresholds configured"))
        if not has_base:
            summary = f"No baseline found; candidate evaluated alone: {summary}"
        evidence: dict[str, Any] = {
            "task": task,
            "candidate": ctx.candidate.ref,
            "baseline": ctx.baseline.ref if has_base else None,
            "primary_metric": primary,
            "higher_is_better": HIGHER_IS_BETTER[primary],
            "n_rows": n_rows,
            "n_unlabelled": n_unlabelled,
            "margin": self.margin,
            "confidence": self.confidence,
            "n_bootstrap": self.n_bootstrap,
            "seed": ctx.seed,
            "decision": {
                "metric": primary, "candidate": clean(main.candidate),
                "baseline": clean(main.baseline), "improvement": clean(main.improvement),
                "ci": [clean(main.ci_low), clean(main.ci_high)],
                "ci_of": "improvement" if has_base else "candidate",
                "worse": bool(worse), "significantly_worse": bool(significant),
            },
            "metrics": {name: c.to_dict() for name, c in comparisons.items()},
            "thresholds": thresholds,
            "slices": slices,
            "flagged_slices": [f"{r['column']}={r['slice']}" for r in flagged],
            "reasons": fails + warns,
            "notes": notes,
        }
        return self.result(verdict, summary, **evidence)
