"""Data validation: does the holdout look like the data the model was trained on?

Two levels, as in TFX's data validation:

* **schema** (FAIL): a column missing, unexpected or retyped against the training
  dataset's schema (the label column is left out on both sides). A model cannot
  score such data, so the candidate stops here.
* **values** (WARN): numbers outside the reference ``[min, max]``, categories the
  reference never saw, new missing values. These are worth a look but do not stop
  the pipeline on their own: drift and performance checks judge their effect.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mlpilot.checks._base import Check, CheckResult, Verdict
from mlpilot.core.errors import InvalidArgument
from mlpilot.data.profile import CATEGORICAL_KINDS, NUMERIC_KINDS, categorical_counts
from mlpilot.data.reference import sketch_values
from mlpilot.data.schema import SchemaDiff, compare_schema, logical_dtype

_MAX_LISTED = 20  # unseen categories listed per column in the evidence


def _fraction(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InvalidArgument(
            f"The {name!r} parameter of DataValidationCheck must be a number in [0, 1]. "
            f"Got {value!r}."
        )
    return float(value)


def _num(value: Any) -> float | None:
    """A JSON-safe float (None for NaN/Inf/None)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


class DataValidationCheck(Check):
    """The holdout (and any extra data) against the training dataset's schema and profile.

    Args:
        extra_data: more frames or ``.parquet``/``.csv`` paths to validate the same way
            (e.g. a sample of serving traffic); reported under their path or
            ``extra_data[i]``.
        ignore_columns: columns left out of every comparison (ids, timestamps).
        range_margin: how far beyond the reference range a number may go before it
            counts as out of range, as a fraction of the reference span ``max - min``.
        max_out_of_range_share: the share of a column's values allowed out of range
            before a warning.
        max_unseen_share: the share of a column's values allowed to be categories the
            reference never saw before a warning (0: any unseen category warns).
        max_null_increase: how much a column's null rate may rise over the
            reference's before a warning, if the rise is also significant (one-sided
            binomial test at ``alpha``); a column that had no nulls warns on any.
        alpha: significance level of that test (small holdouts fluctuate).
        severity: ``"blocking"`` (default) or ``"advisory"``.

    Raises:
        InvalidArgument: for a fraction outside ``[0, 1]`` or a negative margin.
    """

    name = "data_validation"
    description = "Holdout columns, types, ranges and categories match the training data."

    def __init__(
        self,
        *,
        extra_data: Sequence[pd.DataFrame | str | Path] = (),
        ignore_columns: Sequence[str] = (),
        range_margin: float = 0.0,
        max_out_of_range_share: float = 0.01,
        max_unseen_share: float = 0.0,
        max_null_increase: float = 0.02,
        alpha: float = 0.01,
        severity: str | None = None,
    ) -> None:
        super().__init__(severity=severity)
        if isinstance(range_margin, bool) or not isinstance(range_margin, int | float) or not (
            range_margin >= 0
        ):
            raise InvalidArgument(
                "The 'range_margin' parameter of DataValidationCheck must be a number >= 0. "
                f"Got {range_margin!r}."
            )
        for param, value in (("max_out_of_range_share", max_out_of_range_share),
                             ("max_unseen_share", max_unseen_share),
                             ("max_null_increase", max_null_increase), ("alpha", alpha)):
            _fraction(param, value)
        self.extra_data = extra_data
        self.ignore_columns = ignore_columns
        self.range_margin = range_margin
        self.max_out_of_range_share = max_out_of_range_share
        self.max_unseen_share = max_unseen_share
        self.max_null_increase = max_null_increase
        self.alpha = alpha

    # -- the check ----------------------------------------------------------------------
    def _run(self, ctx: Any) -> CheckResult:
        if ctx.reference is None:
            return self.skip("No reference dataset: the candidate was registered without "
                             "training data, so there is nothing to validate against.")
        frames = self._frames(ctx)
        if not frames:
            return self.skip("No holdout data to validate (pass data= or log a "
                             "'validation' dataset in the training run).")
        ignored = {*self.ignore_columns, *([ctx.target] if ctx.target else [])}
        expected = {"columns": [c for c in ctx.reference.schema.get("columns", [])
                                if c.get("name") not in ignored]}
        profile = (ctx.reference.profile or {}).get("columns", {})

        datasets: dict[str, Any] = {}
        breaks: list[str] = []
        warnings: list[str] = []
        for label, frame in frames.items():
            frame = frame.drop(columns=[c for c in frame.columns if c in ignored])
            diff = compare_schema(expected, frame)
            values, notes = self._values(frame, profile, diff)
            datasets[label] = {"rows": len(frame), "schema": _schema_evidence(diff), **values}
            if diff.is_break:
                breaks.append(f"{label}: {_describe_break(diff)}")
            warnings += [f"{label}: {note}" for note in notes]

        evidence = {
            "reference_dataset": ctx.reference.id,
            "thresholds": {"range_margin": self.range_margin,
                           "max_out_of_range_share": self.max_out_of_range_share,
                           "max_unseen_share": self.max_unseen_share,
                           "max_null_increase": self.max_null_increase,
                           "alpha": self.alpha},
            "datasets": datasets,
            "warnings": warnings,
        }
        if breaks:
            more = f" (and {len(warnings)} value warnings)" if warnings else ""
            return self.result(Verdict.FAIL, "Schema break — " + " | ".join(breaks) + more,
                               **evidence)
        if warnings:
            return self.result(Verdict.WARN, "Values differ from the training data: "
                               + "; ".join(warnings), **evidence)
        rows = ", ".join(f"{k} ({v['rows']} rows)" for k, v in datasets.items())
        return self.result(Verdict.PASS, "Same schema, ranges and categories as the training "
                           f"data: {rows}.", **evidence)

    def _frames(self, ctx: Any) -> dict[str, pd.DataFrame]:
        from mlpilot.sdk._datasets import _as_frame

        frames: dict[str, pd.DataFrame] = {}
        if ctx.data is not None:
            frames["holdout"] = ctx.data
        for i, item in enumerate(self.extra_data):
            label = str(item) if isinstance(item, str | Path) else f"extra_data[{i}]"
            frames[label] = _as_frame(item)
        return frames

    # -- value checks -------------------------------------------------------------------
    def _values(self, frame: pd.DataFrame, profile: Mapping[str, Any],
                diff: SchemaDiff) -> tuple[dict[str, Any], list[str]]:
        """Per-column value evidence, and one warning line per offending column."""
        ranges: dict[str, Any] = {}
        domains: dict[str, Any] = {}
        nulls: dict[str, Any] = {}
        notes: list[str] = []
        rows = len(frame)
        for name in frame.columns:
            ref = profile.get(name)
            if not isinstance(ref, Mapping) or name in diff.retyped or rows == 0:
                continue
            series = frame[name]
            found = self._nulls(series, ref)
            if found is not None:
                nulls[name] = found
                notes.append(f"{name!r} null rate {found['reference_null_rate']:.1%} -> "
                             f"{found['null_rate']:.1%}")
            if series.isna().all():
                continue
            kind = logical_dtype(series)
            if ref.get("dtype") in NUMERIC_KINDS and kind in NUMERIC_KINDS:
                found = self._range(series, kind, ref)
                if found is not None:
                    ranges[name] = found
                    if found["out_of_range_share"] > self.max_out_of_range_share:
                        notes.append(f"{name!r} {found['out_of_range_share']:.1%} out of "
                                     f"range [{found['reference_min']}, "
                                     f"{found['reference_max']}]")
            elif ref.get("dtype") in CATEGORICAL_KINDS and kind in CATEGORICAL_KINDS:
                found = self._domain(series, ref)
                if found is not None:
                    domains[name] = found
                    if found["unseen_count"] and found["unseen_share"] > self.max_unseen_share:
                        listed = list(found["unseen"])[:5]
                        notes.append(f"{name!r} unseen categories {listed}")
        return {
            "out_of_range": {k: v for k, v in ranges.items() if v["out_of_range_count"]},
            "unseen_categories": {k: v for k, v in domains.items() if v["unseen_count"]},
            "nulls": nulls,
        }, notes

    def _nulls(self, series: pd.Series, ref: Mapping[str, Any]) -> dict[str, Any] | None:
        missing = int(series.isna().sum())
        rate, ref_rate = missing / len(series), float(ref.get("null_rate") or 0.0)
        if ref_rate == 0:
            p_value = 0.0 if missing else 1.0
        elif rate - ref_rate > self.max_null_increase:
            p_value = float(stats.binomtest(missing, len(series), ref_rate,
                                            alternative="greater").pvalue)
        else:
            return None
        if not missing or p_value >= self.alpha:
            return None
        return {"reference_null_rate": round(ref_rate, 6), "null_rate": round(rate, 6),
                "p_value": p_value}

    def _range(self, series: pd.Series, kind: str,
               ref: Mapping[str, Any]) -> dict[str, Any] | None:
        sketch = ref.get("quantiles") or []
        if len(sketch) < 2 or sketch[0] is None or sketch[-1] is None:
            return None
        lo, hi = float(sketch[0]), float(sketch[-1])
        margin = self.range_margin * (hi - lo)
        values = sketch_values(series)
        infinite = 0
        if kind == "float":
            infinite = int(np.isinf(series.to_numpy(dtype=np.float64, na_value=np.nan)).sum())
        outside = int(np.count_nonzero((values < lo - margin) | (values > hi + margin)))
        outside += infinite
        total = values.size + infinite
        return {
            "reference_min": ref.get("min"),
            "reference_max": ref.get("max"),
            "min": _shown(values[0], kind) if values.size else None,
            "max": _shown(values[-1], kind) if values.size else None,
            "out_of_range_count": outside,
            "out_of_range_share": round(outside / total, 6) if total else 0.0,
        }

    def _domain(self, series: pd.Series, ref: Mapping[str, Any]) -> dict[str, Any] | None:
        if ref.get("other_count"):  # the profile kept only the top values: domain unknown
            return None
        known = set((ref.get("frequencies") or {}).keys())
        counts = categorical_counts(series)
        unseen = {k: int(n) for k, n in counts.items() if k not in known}
        total = sum(counts.values())
        unseen_count = sum(unseen.values())
        return {
            "unseen": dict(list(unseen.items())[:_MAX_LISTED]),
            "unseen_values": len(unseen),
            "unseen_count": unseen_count,
            "unseen_share": round(unseen_count / total, 6) if total else 0.0,
        }


def _shown(value: float, kind: str) -> Any:
    """A sketch value as the profile shows it: ISO 8601 text for datetimes (UTC)."""
    if kind == "datetime":
        return pd.Timestamp(value, unit="s", tz="UTC").isoformat()
    return _num(value)


def _schema_evidence(diff: SchemaDiff) -> dict[str, Any]:
    return {
        "missing": list(diff.missing),
        "extra": list(diff.extra),
        "retyped": {k: {"expected": want, "got": got} for k, (want, got) in diff.retyped.items()},
        "newly_nullable": list(diff.newly_nullable),
    }


def _describe_break(diff: SchemaDiff) -> str:
    parts = [f"missing column {c!r}" for c in diff.missing]
    parts += [f"unexpected column {c!r}" for c in diff.extra]
    parts += [f"column {c!r} retyped ({want} -> {got})" for c, (want, got) in diff.retyped.items()]
    return "; ".join(parts)
