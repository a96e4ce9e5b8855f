"""Does the candidate treat groups alike? Group metrics and disparities, with fairlearn.

For each configured sensitive feature (and, when two or more are configured,
their intersections, e.g. ``sex & age``), the check computes per-group
metrics (a fairlearn ``MetricFrame`` for classifiers) and measures the
disparities between groups:

classification (binary, or multiclass with ``pos_label``)
    per group: count, selection rate (share predicted ``pos_label``), accuracy,
    true- and false-positive rates. Disparities: demographic parity
    difference (max - min selection rate, bound ``max_dp_difference``, default
    0.1) and ratio (min / max, bound ``min_dp_ratio``, default 0.8: the
    "four-fifths rule"), equalized odds difference (the larger of the TPR and
    FPR differences, bound ``max_eo_difference``, default 0.1) and ratio (the
    smaller of the TPR and FPR ratios, bound ``min_eo_ratio``, off by default).
    Equalized odds needs labels, and only groups with both outcomes count.

regression
    per group: count, mean prediction, and with labels mean label and MAE
    (plain per-group averages).
    Disparity: the difference between the highest and lowest group mean
    prediction, divided by the range of the predictions on the holdout, so it
    is bounded in [0, 1] and unit-free (bound ``max_mean_difference``, default
    0.1: no group's average prediction sits more than a tenth of the
    prediction range apart from another's).

Classification metrics depend only on the counts of (group, truth, prediction)
cells, so the rows are collapsed into weighted cells before fairlearn sees
them: the same numbers, without fairlearn's per-row Python pass.

Groups with fewer than ``min_group_size`` rows (default 30) are reported but
left out of every disparity: their rates are too noisy to judge a model by.
Numeric sensitive features with many values (age) are cut into quantile bins.
"""

from __future__ import annotations

import functools
import itertools
import warnings
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.checks._base import Check, CheckResult, Severity, Verdict
from mlpilot.checks._stats import clean, slice_labels
from mlpilot.core.errors import InvalidArgument

_HOW_TO = ("add `sensitive_features: [sex]` to checks.yaml (or `sensitive_features` under "
           "`checks: fairness:`)")


def _jsonable(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _furthest_from_others(rows: list[dict[str, Any]], metric: str) -> dict[str, Any]:
    """The group whose ``metric`` differs most from the pooled value of all other groups."""
    total = sum(g["count"] for g in rows)
    mass = sum(g[metric] * g["count"] for g in rows)

    def distance(g: dict[str, Any]) -> float:
        others = total - g["count"]
        return abs(g[metric] - (mass - g[metric] * g["count"]) / others) if others else 0.0

    return max(rows, key=distance)


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


class FairnessCheck(Check):
    """Disparities between groups of sensitive features must stay within bounds.

    Args:
        sensitive_features: holdout columns to group by; default: the
            configuration's top-level ``sensitive_features``.
        intersections: also group by every combination of two or more
            sensitive features (when at least two are configured). Default True.
        max_dp_difference: largest allowed demographic parity difference. Default 0.1.
        min_dp_ratio: smallest allowed demographic parity ratio. Default 0.8.
        max_eo_difference: largest allowed equalized odds difference. Default 0.1.
        min_eo_ratio: smallest allowed equalized odds ratio. Default None (reported only).
        max_mean_difference: regression: largest allowed range-normalised
            difference of group mean predictions. Default 0.1.
        min_group_size: groups with fewer rows are reported, not judged. Default 30.
        pos_label: the favourable-or-not class whose selection rate is compared;
            default: the model's second class (``1`` for 0/1 labels). Required
            for multiclass models.
        bins: quantile bins for numeric sensitive features. Default 4.
        severity: ``blocking`` (default) or ``advisory``.

    Any bound set to None is reported but not enforced.
    """

    name = "fairness"
    description = ("Per-group metrics and demographic-parity / equalized-odds disparities "
                   "across sensitive features and their intersections (fairlearn).")
    default_severity = Severity.BLOCKING

    def __init__(
        self,
        *,
        sensitive_features: list[str] | None = None,
        intersections: bool = True,
        max_dp_difference: float | None = 0.1,
        min_dp_ratio: float | None = 0.8,
        max_eo_difference: float | None = 0.1,
        min_eo_ratio: float | None = None,
        max_mean_difference: float | None = 0.1,
        min_group_size: int = 30,
        pos_label: Any = None,
        bins: int = 4,
        severity: Severity | str | None = None,
    ) -> None:
        super().__init__(severity=severity)
        self.sensitive_features = sensitive_features
        self.intersections = intersections
        self.max_dp_difference = max_dp_difference
        self.min_dp_ratio = min_dp_ratio
        self.max_eo_difference = max_eo_difference
        self.min_eo_ratio = min_eo_ratio
        self.max_mean_difference = max_mean_difference
        self.min_group_size = min_group_size
        self.pos_label = pos_label
        self.bins = bins

    def _validate(self) -> None:
        for name in ("max_dp_difference", "max_eo_difference", "max_mean_difference",
                     "min_dp_ratio", "min_eo_ratio"):
            value = getattr(self, name)
            if value is None:
                continue
            if not _is_number(value) or not 0 <= value <= 1:
                raise InvalidArgument(
                    f"The {name!r} parameter of the fairness check must be a number in "
                    f"[0, 1] or null. Got {value!r}."
                )
        for name, low in (("min_group_size", 1), ("bins", 2)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise InvalidArgument(
                    f"The {name!r} parameter of the fairness check must be an integer "
                    f">= {low}. Got {value!r}."
                )

    def _features(self, ctx: Any) -> list[str]:
        chosen = self.sensitive_features
        if chosen is None:
            chosen = list(ctx.sensitive_features)
        if isinstance(chosen, str):
            chosen = [chosen]
        if not all(isinstance(c, str) for c in chosen):
            raise InvalidArgument(
                "The 'sensitive_features' of the fairness check must be a list of column "
                f"names. Got {chosen!r}."
            )
        return list(dict.fromkeys(chosen))

    # -- the run ------------------------------------------------------------------------
    def _run(self, ctx: Any) -> CheckResult:
        self._validate()
        features = self._features(ctx)
        if not features:
            return self.skip(f"No sensitive features configured: {_HOW_TO}.")
        if ctx.data is None:
            return self.skip("No holdout data to measure group disparities on: pass the "
                             "holdout (--data) or log a validation dataset on the run.")
        missing = [f for f in features if f not in ctx.data.columns]
        if missing:
            return self.skip(f"The holdout lacks the sensitive features {missing}. "
                             f"Columns: {list(ctx.data.columns)}.")
        data = ctx.data.reset_index(drop=True)
        y_pred = np.asarray(ctx.predictions)
        y_true = ctx.labels
        keep = np.ones(len(data), dtype=bool) if y_true is None else np.asarray(pd.notna(y_true))
        data, y_pred = data[keep].reset_index(drop=True), y_pred[keep]
        y_true = None if y_true is None else np.asarray(y_true)[keep]
        if len(data) == 0:
            return self.skip("The holdout has no labelled rows.")

        groupings: list[tuple[str, ...]] = [(f,) for f in features]
        if self.intersections and len(features) >= 2:
            groupings += [combo for size in range(2, len(features) + 1)
                          for combo in itertools.combinations(features, size)]
        labels = {f: slice_labels(data[f], bins=self.bins) for f in features}

        setup = (self._regression_setup(y_true, y_pred) if ctx.task == "regression"
                 else self._classification_setup(ctx, y_true, y_pred))
        if isinstance(setup, CheckResult):
            return setup
        outcome = setup

        groups: list[dict[str, Any]] = []
        disparities: list[dict[str, Any]] = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # undefined rates in tiny groups: reported as null
            for grouping in groupings:
                frame = pd.DataFrame({f: labels[f].astype(str) for f in grouping})
                order = {f: list(labels[f].cat.categories) for f in grouping}
                rows, found = self._assess(grouping, frame, order, outcome)
                groups += rows
                disparities += found
        return self._verdict(ctx, features, groupings, outcome, groups, disparities)

    # -- per task set-up ----------------------------------------------------------------
    def _classification_setup(self, ctx: Any, y_true: np.ndarray | None,
                              y_pred: np.ndarray) -> dict[str, Any] | CheckResult:
        classes = getattr(ctx.model.model, "classes_", None)
        if classes is None:
            seen = y_pred if y_true is None else np.concatenate([y_true, y_pred])
            classes = np.unique(seen)
        classes = list(np.asarray(classes).tolist())
        pos_label = self.pos_label
        if pos_label is None:
            if len(classes) > 2:
                return self.skip(
                    f"The model has {len(classes)} classes {classes}: set the fairness "
                    "check's `pos_label` to the class whose rates to compare."
                )
            pos_label = classes[-1]
        elif pos_label not in classes:
            raise InvalidArgument(
                f"The fairness check's pos_label {pos_label!r} is not a class of the model. "
                f"Classes: {classes}."
            )
        return {
            "task": "classification", "pos_label": _jsonable(pos_label),
            "y_pred": (y_pred == pos_label).astype(int),
            "y_true": None if y_true is None else (y_true == pos_label).astype(int),
        }

    @staticmethod
    def _regression_setup(y_true: np.ndarray | None, y_pred: np.ndarray) -> dict[str, Any]:
        pred = np.asarray(y_pred, dtype=float).reshape(len(y_pred), -1)[:, 0]
        span = float(np.nanmax(pred) - np.nanmin(pred)) if pred.size else 0.0
        return {"task": "regression", "y_pred": pred, "span": span,
                "y_true": None if y_true is None else np.asarray(y_true, dtype=float)}

    # -- one grouping -------------------------------------------------------------------
    def _assess(self, grouping: tuple[str, ...], frame: pd.DataFrame,
                order: dict[str, list[str]], outcome: dict[str, Any],
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        name = " & ".join(grouping)
        joined = frame[grouping[0]]
        for f in grouping[1:]:
            joined = joined + " & " + frame[f]
        group_of = joined.to_numpy(dtype=object)
        firsts = frame.assign(_group=group_of).drop_duplicates("_group")
        values = {row["_group"]: {f: row[f] for f in grouping}
                  for row in firsts.to_dict("records")}
        cells = None
        if outcome["task"] == "regression":
            table = self._regression_table(group_of, outcome)
        else:
            cells = self._cells(group_of, outcome)
            table = self._classification_table(cells, outcome["y_true"] is not None)
        rows = []
        for group, metrics in table.iterrows():
            row: dict[str, Any] = {"feature": name, "group": str(group),
                                   "values": values[group], "count": int(metrics["count"])}
            row.update({m: clean(v) for m, v in metrics.items() if m != "count"})
            if "positives" in metrics:  # a rate over an empty class is undefined, not 0
                row["positives"] = int(metrics["positives"])
                row["negatives"] = int(metrics["negatives"])
                if row["positives"] == 0:
                    row["true_positive_rate"] = None
                if row["negatives"] == 0:
                    row["false_positive_rate"] = None
            row["eligible"] = row["count"] >= self.min_group_size
            rows.append(row)
        # natural order (bins ascending, categories as declared), not sorted strings
        rows.sort(key=lambda r: tuple(order[f].index(v) if v in order[f] else len(order[f])
                                      for f, v in r["values"].items()))
        eligible = [r for r in rows if r["eligible"]]
        if cells is None:
            return rows, self._regression_disparities(name, eligible, outcome)
        return rows, self._classification_disparities(name, cells, eligible)

    @staticmethod
    def _cells(group_of: np.ndarray, outcome: dict[str, Any]) -> pd.DataFrame:
        """Rows collapsed to (group, truth, prediction) cells weighted by their count.

        Every classification metric here depends on those counts only, so
        fairlearn computes exactly the same numbers from a few weighted cells as
        from the full holdout, and does not walk every row in Python.
        """
        y_pred, y_true = outcome["y_pred"], outcome["y_true"]
        rows = pd.DataFrame({"group": group_of, "t": y_pred if y_true is None else y_true,
                             "p": y_pred})
        return rows.groupby(["group", "t", "p"], sort=True).size().rename("w").reset_index()

    @staticmethod
    def _classification_table(cells: pd.DataFrame, labelled: bool) -> pd.DataFrame:
        from fairlearn.metrics import (
            MetricFrame,
            false_positive_rate,
            selection_rate,
            true_positive_rate,
        )
        from sklearn.metrics import accuracy_score

        def weighted_count(y_true: Any, y_pred: Any, sample_weight: Any) -> float:
            return float(np.sum(sample_weight))

        fns: dict[str, Any] = {"count": weighted_count, "selection_rate": selection_rate}
        if labelled:
            fns.update({"accuracy": accuracy_score,
                        "true_positive_rate": functools.partial(true_positive_rate, pos_label=1),
                        "false_positive_rate": functools.partial(false_positive_rate,
                                                                 pos_label=1)})
        weights = cells["w"].to_numpy(dtype=float)
        mf = MetricFrame(metrics=fns, y_true=cells["t"].to_numpy(),
                         y_pred=cells["p"].to_numpy(),
                         sensitive_features=cells["group"].rename("group"),
                         sample_params={m: {"sample_weight": weights} for m in fns})
        table = mf.by_group
        if labelled:
            positive = cells["w"].where(cells["t"] == 1, 0).groupby(cells["group"]).sum()
            table["positives"] = positive.reindex(table.index).to_numpy()
            table["negatives"] = table["count"] - table["positives"]
        return table

    @staticmethod
    def _regression_table(group_of: np.ndarray, outcome: dict[str, Any]) -> pd.DataFrame:
        # plain averages per group: fairlearn's MetricFrame would add nothing but a
        # Python-level pass over every row
        columns = {"count": np.ones(len(group_of)), "mean_prediction": outcome["y_pred"]}
        if outcome["y_true"] is not None:
            columns["mean_label"] = outcome["y_true"]
            columns["mae"] = np.abs(outcome["y_pred"] - outcome["y_true"])
        table = pd.DataFrame(columns).groupby(group_of, sort=True).mean()
        table["count"] = pd.Series(group_of).value_counts().reindex(table.index).to_numpy()
        return table

    @staticmethod
    def _extremes(rows: list[dict[str, Any]], metric: str) -> dict[str, Any] | None:
        valued = [r for r in rows if r.get(metric) is not None]
        if len(valued) < 2:
            return None
        high = max(valued, key=lambda r: r[metric])
        low = min(valued, key=lambda r: r[metric])
        return {"metric": metric, "highest": {"group": high["group"], "value": high[metric]},
                "lowest": {"group": low["group"], "value": low[metric]}}

    def _disparity(self, feature: str, kind: str, value: float | None, bound: float | None,
                   bound_kind: str, groups: dict[str, Any] | None,
                   **extra: Any) -> dict[str, Any]:
        value = clean(value)
        if value is None or bound is None:
            passed = None
        else:
            passed = value <= bound if bound_kind == "max" else value >= bound
        return {"feature": feature, "disparity": kind, "value": value, "bound": bound,
                "bound_kind": bound_kind, "passed": passed, "groups": groups, **extra}

    def _classification_disparities(self, name: str, cells: pd.DataFrame,
                                    eligible: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from fairlearn.metrics import (
            demographic_parity_difference,
            demographic_parity_ratio,
            equalized_odds_difference,
            equalized_odds_ratio,
        )

        def weighted(rows: list[dict[str, Any]]) -> dict[str, Any]:
            part = cells[cells["group"].isin([r["group"] for r in rows])]
            return {"y_true": part["t"].to_numpy(), "y_pred": part["p"].to_numpy(),
                    "sensitive_features": part["group"].to_numpy(),
                    "sample_weight": part["w"].to_numpy(dtype=float)}

        labelled = bool(eligible) and "positives" in eligible[0]
        found = []
        dp_diff = dp_ratio = None
        if len(eligible) >= 2:
            args = weighted(eligible)
            dp_diff = demographic_parity_difference(**args)
            dp_ratio = demographic_parity_ratio(**args)
        extremes = self._extremes(eligible, "selection_rate")
        found.append(self._disparity(name, "demographic_parity_difference", dp_diff,
                                     self.max_dp_difference, "max", extremes))
        found.append(self._disparity(name, "demographic_parity_ratio", dp_ratio,
                                     self.min_dp_ratio, "min", extremes))
        if not labelled:
            return found
        eo_rows = [r for r in eligible if r["positives"] > 0 and r["negatives"] > 0]
        eo_diff = eo_ratio = extremes = None
        if len(eo_rows) >= 2:
            args = weighted(eo_rows)
            eo_diff = equalized_odds_difference(**args)
            eo_ratio = equalized_odds_ratio(**args)
            tpr = self._extremes(eo_rows, "true_positive_rate")
            fpr = self._extremes(eo_rows, "false_positive_rate")
            spread = {k: (v["highest"]["value"] - v["lowest"]["value"]) if v else -1.0
                      for k, v in (("tpr", tpr), ("fpr", fpr))}
            extremes = tpr if spread["tpr"] >= spread["fpr"] else fpr
        found.append(self._disparity(name, "equalized_odds_difference", eo_diff,
                                     self.max_eo_difference, "max", extremes))
        found.append(self._disparity(name, "equalized_odds_ratio", eo_ratio,
                                     self.min_eo_ratio, "min", extremes))
        return found

    def _regression_disparities(self, name: str, eligible: list[dict[str, Any]],
                                outcome: dict[str, Any]) -> list[dict[str, Any]]:
        extremes = self._extremes(eligible, "mean_prediction")
        raw = normalised = None
        if extremes is not None:
            raw = extremes["highest"]["value"] - extremes["lowest"]["value"]
            normalised = raw / outcome["span"] if outcome["span"] > 0 else 0.0
        return [self._disparity(name, "mean_prediction_difference", normalised,
                                self.max_mean_difference, "max", extremes,
                                raw_difference=clean(raw),
                                prediction_range=clean(outcome["span"]))]

    # -- the verdict --------------------------------------------------------------------
    @staticmethod
    def _excess(d: dict[str, Any]) -> float:
        """How far a disparity is past its bound (negative: within it)."""
        if d["bound_kind"] == "max":
            return d["value"] - d["bound"]
        return d["bound"] - d["value"]

    @staticmethod
    def _worst_group(groups: list[dict[str, Any]], worst: dict[str, Any] | None,
                     ) -> dict[str, Any] | None:
        """The worst-served group of the grouping with the worst disparity.

        With labels that is the group with the lowest accuracy (classification)
        or the highest MAE (regression): "worst-group accuracy", which does not
        depend on whether the positive class is the favourable one. Without
        labels it is the group whose rate is furthest from the other groups' pooled rate.
        """
        if worst is None or not worst["groups"]:
            return None
        rows = [g for g in groups if g["feature"] == worst["feature"] and g["eligible"]]
        if any(g.get("accuracy") is not None for g in rows):
            metric = "accuracy"
            group = min((g for g in rows if g.get(metric) is not None), key=lambda g: g[metric])
        elif any(g.get("mae") is not None for g in rows):
            metric = "mae"
            group = max((g for g in rows if g.get(metric) is not None), key=lambda g: g[metric])
        else:
            metric = worst["groups"]["metric"]
            group = _furthest_from_others([g for g in rows if g.get(metric) is not None], metric)
        return {"feature": worst["feature"], "group": group["group"], "values": group["values"],
                "metric": metric, "value": group[metric], "count": group["count"],
                "disparity": worst["disparity"], "disparity_value": worst["value"],
                "bound": worst["bound"], "passed": worst["passed"]}

    def _verdict(self, ctx: Any, features: list[str], groupings: list[tuple[str, ...]],
                 outcome: dict[str, Any], groups: list[dict[str, Any]],
                 disparities: list[dict[str, Any]]) -> CheckResult:
        failed = [d for d in disparities if d["passed"] is False]
        # single features first (easiest to read), then by how far past the bound
        failed.sort(key=lambda d: (d["feature"].count(" & "), -self._excess(d)))
        assessed = [d for d in disparities if d["value"] is not None]
        bounded = [d for d in assessed if d["bound"] is not None]
        worst = failed[0] if failed else max(bounded, key=self._excess, default=None)
        worst_group = self._worst_group(groups, worst)
        small = sorted({f"{g['feature']}={g['group']}" for g in groups if not g["eligible"]})
        if failed:
            parts = []
            for d in failed[:3]:
                word = "exceeds the maximum" if d["bound_kind"] == "max" else \
                    "is below the minimum"
                g = d["groups"]
                detail = (f" ({g['metric']}: {g['highest']['group']} {g['highest']['value']:.3f}"
                          f" vs {g['lowest']['group']} {g['lowest']['value']:.3f})") if g else ""
                parts.append(f"{d['disparity'].replace('_', ' ')} on {d['feature']} "
                             f"{d['value']:.3f} {word} {d['bound']}{detail}")
            more = f"; {len(failed) - 3} more" if len(failed) > 3 else ""
            summary = "; ".join(parts) + more
            if worst_group is not None:
                summary += (f"; worst-served group {worst_group['feature']}="
                            f"{worst_group['group']} ({worst_group['metric']} "
                            f"{worst_group['value']:.3f})")
            verdict = Verdict.FAIL
        elif not assessed:
            verdict = Verdict.WARN
            summary = (f"Could not assess fairness on {features}: fewer than two groups with "
                       f"at least {self.min_group_size} rows (min_group_size)")
        else:
            verdict = Verdict.PASS
            enforced = [d for d in assessed if d["passed"] is not None]
            largest = max((d for d in assessed if d["bound_kind"] == "max"),
                          key=lambda d: d["value"])
            summary = (f"{len(enforced)} disparities within bounds across "
                       f"{len(groupings)} groupings of {features}; largest "
                       f"{largest['disparity'].replace('_', ' ')} {largest['value']:.3f} on "
                       f"{largest['feature']}")
        bounds = {"max_dp_difference": self.max_dp_difference, "min_dp_ratio": self.min_dp_ratio,
                  "max_eo_difference": self.max_eo_difference, "min_eo_ratio": self.min_eo_ratio}
        if outcome["task"] == "regression":
            bounds = {"max_mean_difference": self.max_mean_difference}
        return self.result(
            verdict, summary,
            task=outcome["task"],
            sensitive_features=features,
            groupings=[" & ".join(g) for g in groupings],
            positive_label=outcome.get("pos_label"),
            labelled=outcome["y_true"] is not None,
            min_group_size=self.min_group_size,
            bounds=bounds,
            groups=groups,
            disparities=disparities,
            failed=[f"{d['disparity']} on {d['feature']}" for d in failed],
            worst_group=worst_group,
            excluded_small_groups=small,
        )
