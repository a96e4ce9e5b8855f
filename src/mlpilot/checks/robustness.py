"""Robustness: edge-case inputs never crash the model, and harmless changes change nothing.

Inputs are synthesised from the candidate's **signature** (columns, logical types,
nullability) and the training dataset's **profile** (the holdout's own statistics
when there is no profile). Around a few base rows (the medians and most frequent
categories, plus two seeded holdout rows when there is a holdout) each case
changes one column:

* ``boundary``: the column's min, max and 0.01/0.99 quantiles (both booleans;
  the min and max of datetimes);
* ``out_of_range``: beyond min/max by ``margin`` times the observed range;
* ``huge``: ``±huge`` (1e12);
* ``missing``: ``None``/``NaN`` in one column; ``missing_all``: every column missing;
* ``unseen_category`` (``"__unseen__"``) and ``empty_string`` for text columns.

At most ``max_cases`` cases run (a seeded sample beyond it). A case **fails** when
the model raises (a crash), returns a missing or non-finite prediction, or a
probability outside ``[0, 1]``. An input the signature validation refuses with a
clear error (``SchemaMismatch``) is *rejected*, not failed: that is the 4xx the
gateway answers.

**The missing-value rule.** A missing-value case is *promised* when every column
it blanks is ``nullable`` in the signature (the training data had nulls there). A
failure on a promised case is a ``FAIL``; on an unpromised one a ``WARN``: the
model was never promised missing values there, and serving should refuse them up
front (a plain ``StandardScaler → LogisticRegression`` pipeline warns; one with an
imputer, or a gradient-boosting model, passes).

Metamorphic stability, on up to ``stability_rows`` holdout rows (rows drawn from
the profile without a holdout), against the batch's own outputs:

* ``repeat``: the same batch predicted again;
* ``noise``: float columns times ``1 + noise·N(0, 1)`` (integers are left alone:
  a perturbed integer is no longer one);
* ``permutation``: the batch in shuffled order, outputs put back in place;
* ``single``: the first 20 rows predicted one at a time.

Predictions run with one OpenMP/BLAS thread (``threadpoolctl``): every batch is
small, and waking thread pools for each costs more than it saves.

A row is *unstable* when its label flips or one of its probabilities moves by more
than ``max_proba_delta`` (regression: its prediction moves by more than
``max_proba_delta`` standard deviations of the batch's predictions). A test is
violated when more than ``max_flip_rate`` of its rows are unstable. The share,
rather than zero tolerance, is deliberate: a tree model legitimately jumps for the
rare row lying exactly on a split threshold, which a 1e-6 nudge crosses.

Failing inputs are saved under ``<output_dir>/robustness/`` as ``failures.json``
(each case with its kind, column, input row, error or output, and the signature)
and ``failures.parquet`` (the typed input rows plus ``__case_*`` columns);
:func:`read_failures` rebuilds the typed frame from the JSON for a reproduction.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.checks._base import Check, CheckResult, Severity, Verdict
from mlpilot.checks._stats import clean
from mlpilot.core.errors import InvalidArgument, SchemaMismatch
from mlpilot.core.jsonsafe import json_safe

UNSEEN = "__unseen__"
_SINGLE_ROWS = 20
_TEXT = frozenset({"string", "category"})
_NUMERIC = frozenset({"integer", "float"})
_PROBA_SLACK = 1e-6  # float32 models round a little past 0 and 1


class RobustnessCheck(Check):
    """Edge-case inputs from the signature and profile; metamorphic stability.

    Args:
        max_cases: the most edge cases run (a seeded sample beyond it).
        max_flip_rate: the largest share of rows a harmless change may make unstable
            (a flipped label, or an output moved by more than ``max_proba_delta``).
        max_proba_delta: the largest change of a probability a row may show and still
            be stable (regression: of a prediction, in standard deviations of the
            batch's predictions).
        noise: relative noise of the ``noise`` stability test.
        margin: how far beyond the observed range ``out_of_range`` goes, as a
            fraction of that range.
        huge: the magnitude of the ``huge`` cases.
        stability_rows: rows used by the stability tests.
        examples: failing cases listed in the evidence (all are saved to files).
        severity: ``"blocking"`` (default) or ``"advisory"``.

    Raises:
        InvalidArgument: for an out-of-range parameter.
    """

    name = "robustness"
    description = "Edge-case inputs never crash the model; harmless changes change nothing."

    def __init__(
        self,
        *,
        max_cases: int = 500,
        max_flip_rate: float = 0.01,
        max_proba_delta: float = 0.05,
        noise: float = 1e-6,
        margin: float = 0.5,
        huge: float = 1e12,
        stability_rows: int = 200,
        examples: int = 5,
        severity: Severity | str | None = None,
    ) -> None:
        super().__init__(severity=severity)
        self.max_cases = max_cases
        self.max_flip_rate = max_flip_rate
        self.max_proba_delta = max_proba_delta
        self.noise = noise
        self.margin = margin
        self.huge = huge
        self.stability_rows = stability_rows
        self.examples = examples
        for key, low in (("max_cases", 1), ("stability_rows", 1), ("examples", 0)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidArgument(f"The {key!r} parameter of check 'robustness' must be "
                                      f"an int >= {low}. Got {value!r} instead.")
        for key, low, high in (("max_flip_rate", 0.0, 1.0), ("max_proba_delta", 0.0, math.inf),
                               ("noise", 0.0, 1.0), ("margin", 0.0, math.inf),
                               ("huge", 1.0, math.inf)):
            value = getattr(self, key)
            if (isinstance(value, bool) or not isinstance(value, int | float)
                    or not low <= value <= high or math.isinf(value)):
                raise InvalidArgument(f"The {key!r} parameter of check 'robustness' must be a "
                                      f"finite number in [{low}, {high}]. Got {value!r} "
                                      "instead.")

    # -- the check -----------------------------------------------------------------------
    def _run(self, ctx: Any) -> CheckResult:
        # Every batch here is small (<= max_cases rows, often one): OpenMP/BLAS thread
        # pools cost more to wake than they save, several times more on a busy runner.
        with _one_thread():
            return self._check(ctx)

    def _check(self, ctx: Any) -> CheckResult:
        inputs = (ctx.candidate.signature or {}).get("inputs")
        if not inputs:
            return self.skip("The candidate has no signature: no typed inputs to synthesise.")
        specs = {s["name"]: s for s in inputs}
        holdout = ctx.features
        if holdout is not None and (len(holdout) == 0 or list(holdout.columns) != list(specs)):
            holdout = None
        profile = ((ctx.reference.profile or {}).get("columns", {})
                   if ctx.reference is not None else {})
        stats = {name: _stats(spec, profile.get(name), holdout) for name, spec in specs.items()}
        if any(s is None for s in stats.values()):
            lacking = [n for n, s in stats.items() if s is None]
            return self.skip(f"No reference profile or holdout describes the columns {lacking}.")
        rng = np.random.default_rng(ctx.seed)
        source = "profile" if profile else "holdout"

        bases = [{n: stats[n]["typical"] for n in specs}]
        if holdout is not None:  # two real rows too, complete ones (a case blanks one cell)
            complete = np.flatnonzero(holdout.notna().all(axis=1).to_numpy())
            for i in rng.choice(complete, size=min(2, len(complete)), replace=False):
                bases.append({n: json_safe(holdout[n].iloc[int(i)]) for n in specs})
        cases = self._cases(specs, stats, bases)
        generated = len(cases)
        if len(cases) > self.max_cases:
            keep = np.sort(rng.choice(len(cases), size=self.max_cases, replace=False))
            cases = [cases[i] for i in keep]
        for i, case in enumerate(cases):
            case["id"] = i
        dtypes = _dtypes(specs, holdout, stats)
        failures, rejected = self._edge_cases(ctx, cases, specs, dtypes)

        if holdout is not None:
            rows = holdout.iloc[np.sort(rng.choice(len(holdout), size=min(
                self.stability_rows, len(holdout)), replace=False))].reset_index(drop=True)
        else:
            rows = _frame(_draw_rows(specs, stats, self.stability_rows, rng), specs, dtypes)
        stability, unstable = self._stability(ctx, rows, specs, rng, start=len(cases))
        failures.extend(unstable)

        failing = [f for f in failures if f["level"] == "fail"]
        warning = [f for f in failures if f["level"] == "warn"]
        paths = _save(ctx, failures, specs, dtypes) if failures else {}
        verdict = Verdict.FAIL if failing else Verdict.WARN if warning else Verdict.PASS
        kinds = Counter(c["kind"] for c in cases)
        violated = [name for name, s in stability.items() if s.get("violated")]
        if failing:
            what = Counter(f"{f['kind']}:{f['reason']}" for f in failing)
            summary = (f"{len(failing)} failing cases ({_describe(what)})"
                       + (f"; unstable under {violated}" if violated else "")
                       + f". First: {_one_line(failing[0])}.")
        elif warning:
            columns = sorted({f["column"] for f in warning if f["column"]})
            every = any(f["kind"] == "missing_all" for f in warning)
            summary = (f"{len(warning)} failures on missing values in columns the signature "
                       f"marks non-nullable ({columns}{' and all-missing rows' if every else ''}"
                       "); serving must refuse them.")
        else:
            summary = (f"{len(cases)} edge cases and {len(stability)} stability tests on "
                       f"{len(rows)} rows passed"
                       + (f" ({rejected} inputs refused by the signature validation)."
                          if rejected else "."))
        evidence: dict[str, Any] = {
            "cases_generated": generated,
            "cases_run": len(cases),
            "cases_by_kind": dict(sorted(kinds.items())),
            "base_rows": len(bases),
            "statistics_from": source,
            "failures": len(failing),
            "warnings": len(warning),
            "rejected": rejected,
            "examples": [_example(f) for f in (failing + warning)[: self.examples]],
            "stability": stability,
            "stability_rows": len(rows),
            "max_flip_rate": self.max_flip_rate,
            "max_proba_delta": self.max_proba_delta,
            "noise": self.noise,
            "missing_value_rule": ("a failure on a missing value is a FAIL when every blanked "
                                   "column is nullable in the signature, else a WARN"),
            **paths,
        }
        return self.result(verdict, summary, **evidence)

    # -- edge cases ------------------------------------------------------------------------
    def _cases(self, specs: dict[str, dict[str, Any]], stats: dict[str, dict[str, Any]],
               bases: list[dict[str, Any]]) -> list[dict[str, Any]]:
        cases: list[dict[str, Any]] = []

        def add(base: dict[str, Any], kind: str, column: str | None, value: Any,
                missing: list[str] | None = None) -> None:
            row = {k: json_safe(v) for k, v in base.items()}
            if column is not None:
                row[column] = json_safe(value)
            cases.append({"kind": kind, "column": column, "value": json_safe(value), "row": row,
                          "missing": missing or []})

        for base in bases:
            for name, spec in specs.items():
                s, dtype = stats[name], spec.get("dtype")
                if dtype in _NUMERIC and s.get("min") is not None:
                    cast = _caster(dtype)
                    low, high = s["min"], s["max"]
                    span = (high - low) or abs(high) or 1.0
                    for value in (low, high, s["q01"], s["q99"]):
                        add(base, "boundary", name, cast(value))
                    add(base, "out_of_range", name, cast(low - self.margin * span))
                    add(base, "out_of_range", name, cast(high + self.margin * span))
                    add(base, "huge", name, cast(self.huge))
                    add(base, "huge", name, cast(-self.huge))
                elif dtype in _TEXT:
                    add(base, "unseen_category", name, UNSEEN)
                    add(base, "empty_string", name, "")
                elif dtype == "boolean":
                    add(base, "boundary", name, True)
                    add(base, "boundary", name, False)
                elif dtype == "datetime" and s.get("min") is not None:
                    add(base, "boundary", name, s["min"])
                    add(base, "boundary", name, s["max"])
                add(base, "missing", name, None, [name])
            add({n: None for n in specs}, "missing_all", None, None, list(specs))
        # one all-missing row is enough whatever the number of bases
        first_all = next(i for i, c in enumerate(cases) if c["kind"] == "missing_all")
        return [c for i, c in enumerate(cases) if c["kind"] != "missing_all" or i == first_all]

    def _edge_cases(self, ctx: Any, cases: list[dict[str, Any]], specs: dict[str, Any],
                    dtypes: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
        if not cases:
            return [], 0
        frame = _frame([c["row"] for c in cases], specs, dtypes)
        outcomes = _outcomes(ctx, frame, [c["kind"] for c in cases])
        failures, rejected = [], 0
        for case, outcome in zip(cases, outcomes, strict=True):
            if outcome["reason"] == "rejected":
                rejected += 1
                continue
            if outcome["reason"] is None:
                continue
            promised = all(specs[c].get("nullable", False) for c in case["missing"])
            level = "warn" if case["missing"] and not promised else "fail"
            failures.append({**case, **outcome, "level": level})
        return failures, rejected

    # -- stability -------------------------------------------------------------------------
    def _stability(self, ctx: Any, rows: pd.DataFrame, specs: dict[str, Any],
                   rng: np.random.Generator, start: int
                   ) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
        try:
            reference = _predict(ctx, rows)
        except Exception as exc:  # the batch itself crashes: edge cases name the culprits
            return {"reference": {"violated": True, "error": _error(exc)}}, [{
                "id": start, "kind": "stability", "column": None, "value": None,
                "row": _record(rows.iloc[0]), "missing": [], "reason": "crash",
                "error": _error(exc), "output": None, "level": "fail"}]
        n = len(rows)
        perturbed = rows.copy()
        for name, spec in specs.items():
            if spec.get("dtype") == "float" and pd.api.types.is_float_dtype(rows[name]):
                values = rows[name].to_numpy(np.float64)
                perturbed[name] = values * (1.0 + self.noise * rng.standard_normal(n))
        order = rng.permutation(n)
        single = min(_SINGLE_ROWS, n)
        tests = {
            "repeat": lambda: _predict(ctx, rows),
            "noise": lambda: _predict(ctx, perturbed),
            "permutation": lambda: _unpermute(_predict(ctx, rows.iloc[order]), order),
            "single": lambda: _one_by_one(ctx, rows.iloc[:single]),
        }
        scale = None
        if reference["proba"] is None:
            preds = np.asarray(reference["pred"])
            if preds.dtype.kind in "iuf" and ctx.task == "regression":
                spread = float(np.nanstd(preds.astype(np.float64)))
                scale = spread if math.isfinite(spread) and spread > 0 else 1.0
        results: dict[str, dict[str, Any]] = {}
        unstable: list[dict[str, Any]] = []
        for test, run in tests.items():
            inputs = perturbed if test == "noise" else rows
            try:
                got = run()
            except Exception as exc:
                results[test] = {"violated": True, "error": _error(exc)}
                unstable.append({"id": start + len(unstable), "kind": f"stability_{test}",
                                 "column": None, "value": None, "row": _record(inputs.iloc[0]),
                                 "missing": [], "reason": "crash", "error": _error(exc),
                                 "output": None, "level": "fail"})
                continue
            m = single if test == "single" else n
            stats, bad = _compare(reference, got, m, scale, self.max_proba_delta)
            violated = stats["unstable_rate"] > self.max_flip_rate
            results[test] = {"rows": m, **stats, "violated": violated}
            if violated:
                for i in bad[: max(self.examples, 1) * 4]:
                    unstable.append({
                        "id": start + len(unstable), "kind": f"stability_{test}",
                        "column": None, "value": None, "row": _record(inputs.iloc[i]),
                        "missing": [], "reason": "unstable", "error": None,
                        "output": {"reference": _output(reference, i), "got": _output(got, i)},
                        "level": "fail"})
        return results, unstable


# -- statistics and generation -------------------------------------------------------------


def _stats(spec: dict[str, Any], column: dict[str, Any] | None,
           holdout: pd.DataFrame | None) -> dict[str, Any] | None:
    """Typical value and range of one column, from its profile or else the holdout."""
    dtype, name = spec.get("dtype"), spec["name"]
    series = holdout[name] if holdout is not None and name in holdout.columns else None
    if dtype in _NUMERIC:
        sketch = (column or {}).get("quantiles") or []
        if len(sketch) >= 2 and all(v is not None for v in sketch):
            q = np.asarray(sketch, dtype=np.float64)
            probs = np.linspace(0.0, 1.0, len(q))
            at = {p: float(np.interp(p, probs, q)) for p in (0.01, 0.5, 0.99)}
            low, high = float(column["min"]), float(column["max"])  # type: ignore[index]
        elif series is not None:
            values = pd.to_numeric(series, errors="coerce").to_numpy(np.float64, na_value=np.nan)
            values = values[np.isfinite(values)]
            if values.size == 0:
                return {"typical": None, "min": None}
            at = dict(zip((0.01, 0.5, 0.99), np.quantile(values, [0.01, 0.5, 0.99]).tolist(),
                          strict=True))
            low, high = float(values.min()), float(values.max())
        else:
            return None if column is None else {"typical": None, "min": None}
        cast = _caster(dtype)
        return {"typical": cast(at[0.5]), "min": low, "max": high, "q01": at[0.01],
                "q99": at[0.99], "values": (q if len(sketch) >= 2 and all(
                    v is not None for v in sketch) else None)}
    if dtype in _TEXT or dtype == "boolean":
        freq = (column or {}).get("frequencies") or {}
        keys = list(freq)
        if not keys and series is not None:
            keys = [str(k) for k in series.dropna().astype(object).value_counts().index]
        if not keys:
            return None if column is None and series is None else {"typical": None, "keys": []}
        weights = (np.asarray([freq[k] for k in keys], dtype=np.float64) if freq else
                   np.ones(len(keys)))
        if dtype == "boolean":
            return {"typical": keys[0] == "True", "keys": [k == "True" for k in keys],
                    "weights": weights}
        return {"typical": keys[0], "keys": keys, "weights": weights}
    if dtype == "datetime":
        if series is not None and series.notna().any():
            stamps = pd.to_datetime(series)
            return {"typical": stamps.median(), "min": stamps.min(), "max": stamps.max()}
        if column and column.get("min") is not None:
            low, high = pd.Timestamp(column["min"]), pd.Timestamp(column["max"])
            return {"typical": low + (high - low) / 2, "min": low, "max": high}
        return None if column is None and series is None else {"typical": None, "min": None}
    return {"typical": None, "min": None}


def _caster(dtype: str | None) -> Any:
    if dtype == "integer":
        return lambda v: int(round(float(v)))
    return float


def _draw_rows(specs: dict[str, Any], stats: dict[str, Any], n: int,
               rng: np.random.Generator) -> list[dict[str, Any]]:
    """Rows drawn column by column from the reference marginals (no holdout)."""
    columns: dict[str, list[Any]] = {}
    for name, spec in specs.items():
        s, dtype = stats[name], spec.get("dtype")
        if dtype in _NUMERIC and s.get("values") is not None:
            q = s["values"]
            drawn = np.interp(rng.random(n), np.linspace(0.0, 1.0, len(q)), q)
            columns[name] = [_caster(dtype)(v) for v in drawn]
        elif s.get("keys"):
            p = s["weights"] / s["weights"].sum()
            columns[name] = [s["keys"][int(i)] for i in rng.choice(len(s["keys"]), n, p=p)]
        else:
            columns[name] = [s["typical"]] * n
    return [{name: columns[name][i] for name in specs} for i in range(n)]


def _dtypes(specs: dict[str, Any], holdout: pd.DataFrame | None,
            stats: dict[str, Any]) -> dict[str, Any]:
    """The categories of categorical columns (from the holdout, else the profile)."""
    out: dict[str, Any] = {}
    for name, spec in specs.items():
        if spec.get("dtype") != "category":
            continue
        if holdout is not None and isinstance(holdout[name].dtype, pd.CategoricalDtype):
            out[name] = list(holdout[name].cat.categories)
        else:
            out[name] = list(stats[name].get("keys") or [])
    return out


def _frame(rows: list[dict[str, Any]], specs: dict[str, Any],
           categories: dict[str, Any]) -> pd.DataFrame:
    """Rows typed by the signature: integers stay integers unless a value is missing."""
    data: dict[str, Any] = {}
    for name, spec in specs.items():
        values = [r.get(name) for r in rows]
        dtype = spec.get("dtype")
        missing = [v is None or (isinstance(v, float) and math.isnan(v)) for v in values]
        if dtype == "integer":
            data[name] = (np.asarray([np.nan if m else float(v) for v, m in
                                      zip(values, missing, strict=True)])
                          if any(missing) else np.asarray(values, dtype=np.int64))
        elif dtype == "float":
            data[name] = np.asarray([np.nan if m else float(v) for v, m in
                                     zip(values, missing, strict=True)], dtype=np.float64)
        elif dtype == "category":
            known = list(categories.get(name) or [])
            extra = [v for v in dict.fromkeys(values) if v is not None and v not in known]
            data[name] = pd.Categorical([None if m else v for v, m in
                                         zip(values, missing, strict=True)],
                                        categories=known + extra)
        elif dtype == "datetime":
            data[name] = pd.to_datetime(pd.Series(values, dtype=object))
        else:
            data[name] = pd.Series([None if m else v for v, m in
                                    zip(values, missing, strict=True)], dtype=object)
    return pd.DataFrame(data, columns=list(specs))


# -- predicting and judging -----------------------------------------------------------------


def _predict(ctx: Any, frame: pd.DataFrame) -> dict[str, Any]:
    pred = np.asarray(ctx.model.predict(frame))
    proba = None
    if ctx.task == "classification":
        raw = ctx.model.predict_proba(frame)
        proba = None if raw is None else np.asarray(raw, dtype=np.float64)
    return {"pred": pred, "proba": proba}


def _outcomes(ctx: Any, frame: pd.DataFrame, groups: list[str]) -> list[dict[str, Any]]:
    """Per row: ``reason`` None (fine), ``crash``, ``rejected``, ``non_finite`` or
    ``proba_out_of_range``, with the error or output.

    Rows are predicted in one batch per group (case kind); a group whose batch
    raises is replayed one row at a time to find the rows that crash.
    """
    out: list[dict[str, Any]] = [{}] * len(frame)
    labels = np.asarray(groups, dtype=object)
    for group in dict.fromkeys(groups):
        where = np.flatnonzero(labels == group)
        try:
            batch = _predict(ctx, frame.iloc[where])
        except Exception:  # find which rows crash, one at a time
            replayed = [_replay(ctx, frame.iloc[[i]]) for i in where]
        else:
            replayed = [_judge(batch, j) for j in range(len(where))]
        for i, outcome in zip(where, replayed, strict=True):
            out[i] = outcome
    return out


def _replay(ctx: Any, row: pd.DataFrame) -> dict[str, Any]:
    try:
        return _judge(_predict(ctx, row), 0)
    except SchemaMismatch as exc:
        return {"reason": "rejected", "error": _error(exc), "output": None}
    except Exception as exc:
        return {"reason": "crash", "error": _error(exc), "output": None}


def _judge(result: dict[str, Any], i: int) -> dict[str, Any]:
    pred, proba = result["pred"], result["proba"]
    output = _output(result, i)
    value = pred[i]
    if _missing(value) or (isinstance(value, np.ndarray) and not np.isfinite(
            value.astype(np.float64)).all()):
        return {"reason": "non_finite", "error": None, "output": output}
    if proba is not None:
        row = proba[i]
        if not np.isfinite(row).all():
            return {"reason": "non_finite", "error": None, "output": output}
        if (row < -_PROBA_SLACK).any() or (row > 1 + _PROBA_SLACK).any():
            return {"reason": "proba_out_of_range", "error": None, "output": output}
    return {"reason": None, "error": None, "output": output}


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return not math.isfinite(float(value))
    return False


def _compare(reference: dict[str, Any], got: dict[str, Any], m: int, scale: float | None,
             max_delta: float) -> tuple[dict[str, Any], list[int]]:
    """Flip share, largest output change and unstable share over the first ``m`` rows.

    A row is unstable when its label flips or an output moves by more than
    ``max_delta``; the returned indices are the unstable rows, worst first.
    """
    a, b = np.asarray(reference["pred"])[:m], np.asarray(got["pred"])[:m]
    flips = np.asarray([not _same_label(x, y) for x, y in zip(a, b, strict=True)])
    if reference["proba"] is not None and got["proba"] is not None:
        delta = np.abs(reference["proba"][:m] - got["proba"][:m]).reshape(m, -1).max(axis=1)
    elif scale is not None:
        delta = np.abs(a.astype(np.float64) - b.astype(np.float64)).reshape(m, -1).max(
            axis=1) / scale
        flips = np.zeros(m, dtype=bool)  # regression: no labels to flip
    else:
        delta = np.zeros(m)
    delta = np.where(np.isnan(delta), np.inf, delta)  # NaN on one side only is a change
    unstable = flips | (delta > max_delta)
    bad = np.flatnonzero(unstable)
    order = bad[np.argsort(-delta[bad], kind="stable")]
    return ({"flip_rate": clean(flips.mean()) if m else 0.0,
             "max_delta": clean(delta.max()) if m else 0.0,  # None: an output became NaN
             "changed_rows": int(np.count_nonzero(flips | (delta > 0))),
             "unstable_rows": int(len(bad)),
             "unstable_rate": float(unstable.mean()) if m else 0.0},
            [int(i) for i in order])


def _same_label(x: Any, y: Any) -> bool:
    if _missing(x) and _missing(y):
        return True
    try:
        return bool(np.all(x == y))
    except Exception:
        return str(x) == str(y)


def _one_by_one(ctx: Any, rows: pd.DataFrame) -> dict[str, Any]:
    """Each row predicted alone."""
    return _concat([_predict(ctx, rows.iloc[[i]]) for i in range(len(rows))])


def _one_thread() -> Any:
    """Limit OpenMP and BLAS to one thread (restored on exit)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn depends on it; other formats may not
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


def _unpermute(result: dict[str, Any], order: np.ndarray) -> dict[str, Any]:
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    proba = result["proba"]
    return {"pred": np.asarray(result["pred"])[inverse],
            "proba": None if proba is None else proba[inverse]}


def _concat(results: list[dict[str, Any]]) -> dict[str, Any]:
    pred = np.concatenate([np.asarray(r["pred"]) for r in results])
    probas = [r["proba"] for r in results]
    proba = None if any(p is None for p in probas) else np.concatenate(probas)
    return {"pred": pred, "proba": proba}


# -- evidence and files ---------------------------------------------------------------------


def _record(row: pd.Series) -> dict[str, Any]:
    return {str(k): json_safe(v) for k, v in row.items()}


def _output(result: dict[str, Any], i: int) -> dict[str, Any]:
    pred = np.asarray(result["pred"])[i]
    out: dict[str, Any] = {"prediction": json_safe(pred) if np.ndim(pred) == 0 else
                           [json_safe(v) for v in np.asarray(pred).tolist()]}
    if result["proba"] is not None:
        out["proba"] = [json_safe(v) for v in result["proba"][i].tolist()]
    return out


def _error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 500 else text[:497] + "..."


def _example(failure: dict[str, Any]) -> dict[str, Any]:
    return {k: failure[k] for k in ("id", "kind", "column", "value", "reason", "level",
                                    "error", "output", "row")}


def _one_line(failure: dict[str, Any]) -> str:
    where = f" in {failure['column']!r}" if failure["column"] else ""
    value = f" = {failure['value']!r}" if failure["column"] else ""
    detail = failure["error"] or json.dumps(failure["output"])
    return f"{failure['kind']}{where}{value} -> {failure['reason']} ({detail[:160]})"


def _describe(counts: Counter[str]) -> str:
    return ", ".join(f"{n} {k}" for k, n in counts.most_common())


def _save(ctx: Any, failures: list[dict[str, Any]], specs: dict[str, Any],
          categories: dict[str, Any]) -> dict[str, Any]:
    """Write failures.json and failures.parquet; returns their paths for the evidence."""
    if ctx.output_dir is None:
        return {"failures_path": None}
    folder = Path(ctx.output_dir) / "robustness"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    document = {
        "model": ctx.candidate.ref,
        "seed": ctx.seed,
        "inputs": list(specs.values()),
        "categories": {k: [json_safe(v) for v in vals] for k, vals in categories.items()},
        "cases": [_example(f) | {"missing": f["missing"]} for f in failures],
    }
    json_path = folder / "failures.json"
    json_path.write_text(json.dumps(document, indent=2, allow_nan=False))
    paths: dict[str, Any] = {"failures_path": str(json_path)}
    try:
        frame = _frame([f["row"] for f in failures], specs, categories)
        for key in ("id", "kind", "column", "reason", "error"):
            frame[f"__case_{key}"] = pd.Series([f[key] for f in failures], dtype=object)
        parquet_path = folder / "failures.parquet"
        frame.to_parquet(parquet_path, index=False)
        paths["failures_parquet"] = str(parquet_path)
    except Exception as exc:  # the JSON copy is the reproducible one; Parquet is a convenience
        paths["failures_parquet"] = None
        paths["failures_parquet_error"] = _error(exc)
    return paths


def read_failures(path: str | Path) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """Load a ``failures.json`` written by the robustness check, for a reproduction.

    Args:
        path: the file (``evidence["failures_path"]``).

    Returns:
        The cases (kind, column, value, reason, error, output, row) and their input
        rows as one frame typed by the saved signature, row ``i`` for case ``i``:
        ``model.predict(frame.iloc[[i]])`` replays case ``i``.

    Raises:
        InvalidArgument: if the file is missing or not a robustness failure file.
    """
    file = Path(path)
    try:
        document = json.loads(file.read_text())
        specs = {s["name"]: s for s in document["inputs"]}
        cases = document["cases"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidArgument(
            f"{str(file)!r} is not a robustness failures file ({type(exc).__name__}: {exc}). "
            "Pass the evidence's 'failures_path'."
        ) from None
    frame = _frame([c["row"] for c in cases], specs, document.get("categories") or {})
    return cases, frame
