"""Explainability: global SHAP importances per input column, and what they reveal.

The check explains the candidate on a seeded sample of the holdout (``max_rows``
rows) and reports, per **input column**, the mean absolute SHAP value, raw and
normalised to sum 1. For a scikit-learn ``Pipeline`` the SHAP values of the
transformed columns (one-hot indicators, scaled numbers) are summed back to the
input column they came from, so ``purpose_car`` and ``purpose_home`` count as
``purpose``.

Explainers, by ``method``:

* ``"tree"``: the pipeline's preprocessing transforms the rows, SHAP's
  ``TreeExplainer`` (path-dependent, exact, no background) explains the final tree
  ensemble on the transformed matrix. Units: the model's raw output (log-odds
  for gradient boosting, probability for forests).
* ``"linear"``: the same with ``LinearExplainer`` (interventional, the background's
  mean as reference) for estimators with ``coef_``. Units: the margin.
* ``"permutation"`` / ``"kernel"``: model-agnostic, on the whole model's
  ``predict_proba`` (or ``predict``) over the raw input frame, with ``background``
  rows as the masker. Units: probability (or prediction). Budget: the permutation
  explainer evaluates two antithetic permutations per row; the kernel explainer
  summarises the background with k-means (at most 20 centres) and draws
  ``10·M + 100`` coalitions per row (``M`` input columns). They run with one
  OpenMP/BLAS thread: hundreds of mid-sized calls gain less from thread pools than
  waking them costs.
* ``"lime"``: LIME's tabular explainer (optional: ``pip install lime``), mean
  absolute local weight per column.
* ``"auto"`` (default): tree, else linear, else kernel (the permutation explainer
  compiles SHAP's numba masking code on first use, many seconds per process). Tree
  and linear need
  a preprocessing chain whose outputs can be traced back to input columns
  (column transformers, one-hot encoders, scalers, imputers without indicators).

Flags:

* a sensitive feature (the context's ``sensitive_features`` plus the
  ``sensitive_features`` parameter) among the ``top_k`` features → ``WARN``, or
  ``FAIL`` when the check is blocking;
* a top-``k`` feature that is a strong **proxy** of a sensitive attribute present
  in the holdout: a depth-3 decision tree predicting the attribute from that
  feature alone reaches a 3-fold cross-validated ROC AUC ≥ ``proxy_auc`` → ``WARN``;
* the ranking moved against the baseline's importances stored in its check report:
  Spearman correlation over the common features < ``min_rank_correlation``, or the
  baseline's most important feature is no longer in the top ``k`` → ``WARN``.

A feature counts as "top" only if its normalised importance reaches
``min_importance`` as well, so a model with four inputs does not flag a sensitive
feature it barely uses.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.checks._base import Check, CheckResult, Severity, Verdict
from mlpilot.checks._stats import clean
from mlpilot.core.errors import InvalidArgument

METHODS = ("auto", "tree", "linear", "permutation", "kernel", "lime")
_PROXY_ROWS = 5000  # rows used to fit the proxy trees (a seeded sample beyond it)
_PROXY_MAX_CATEGORIES = 30


class _Unmappable(Exception):
    """The preprocessing mixes input columns: transformed outputs have no single owner."""


class ExplainabilityCheck(Check):
    """SHAP importances per input column; flags sensitive features, proxies, ranking shifts.

    Args:
        method: ``"auto"``, ``"tree"``, ``"linear"``, ``"permutation"``, ``"kernel"``
            or ``"lime"`` (see the module docstring).
        max_rows: holdout rows explained (a seeded sample beyond it).
        background: background rows for the model-agnostic explainers and the
            linear reference (a seeded sample of the holdout).
        top_k: how many of the most important features the flags look at.
        min_importance: the normalised importance a feature needs to count as "top".
        sensitive_features: extra sensitive attributes, added to the context's.
        proxy_auc: cross-validated AUC from which a feature is a proxy of an attribute.
        min_rank_correlation: the lowest acceptable Spearman correlation with the
            baseline's importance ranking.
        severity: ``"advisory"`` (default) or ``"blocking"``.

    Raises:
        InvalidArgument: for an unknown method or an out-of-range number.
    """

    name = "explainability"
    description = "Global SHAP importances; sensitive features, proxies and ranking shifts."
    default_severity = Severity.ADVISORY

    def __init__(
        self,
        *,
        method: str = "auto",
        max_rows: int = 200,
        background: int = 100,
        top_k: int = 5,
        min_importance: float = 0.01,
        sensitive_features: Sequence[str] = (),
        proxy_auc: float = 0.8,
        min_rank_correlation: float = 0.5,
        severity: Severity | str | None = None,
    ) -> None:
        super().__init__(severity=severity)
        self.method = method
        self.max_rows = max_rows
        self.background = background
        self.top_k = top_k
        self.min_importance = min_importance
        self.sensitive_features = sensitive_features
        self.proxy_auc = proxy_auc
        self.min_rank_correlation = min_rank_correlation
        if method not in METHODS:
            raise InvalidArgument(
                f"The 'method' parameter of check 'explainability' must be one of "
                f"{list(METHODS)}. Got {method!r} instead."
            )
        for key in ("max_rows", "background", "top_k"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgument(
                    f"The {key!r} parameter of check 'explainability' must be an int >= 1. "
                    f"Got {value!r} instead."
                )
        for key, low, high in (("min_importance", 0.0, 1.0), ("proxy_auc", 0.5, 1.0),
                               ("min_rank_correlation", -1.0, 1.0)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | float) or not (
                    low <= value <= high):
                raise InvalidArgument(
                    f"The {key!r} parameter of check 'explainability' must be a number in "
                    f"[{low}, {high}]. Got {value!r} instead."
                )
        if isinstance(sensitive_features, str) or not all(
                isinstance(s, str) for s in sensitive_features):
            raise InvalidArgument(
                "The 'sensitive_features' parameter of check 'explainability' must be a "
                f"list of column names. Got {sensitive_features!r} instead."
            )

    # -- the check -----------------------------------------------------------------------
    def _run(self, ctx: Any) -> CheckResult:
        frame = ctx.features
        if frame is None or len(frame) == 0:
            reference = ctx.reference_data
            if reference is None:
                return self.skip("No holdout and no training snapshot to explain the model on.")
            frame = reference[[c for c in ctx.input_columns if c in reference.columns]]
        if frame.shape[1] == 0:
            return self.skip("The model has no input columns to explain.")
        absent = [c for c in ctx.input_columns if c not in frame.columns]
        if absent:
            return self.skip(f"The data to explain on lacks the model inputs {absent}.")
        rng = np.random.default_rng(ctx.seed)
        rows = _sample(frame, self.max_rows, rng)
        background = _sample(frame, self.background, rng)

        raw, method, explainer = self._explain(ctx, rows, background)
        if raw is None:
            return self.skip(method)
        importances_raw = {c: float(v) for c, v in raw.items()}
        total = sum(importances_raw.values())
        ordered = sorted(importances_raw, key=lambda c: (-importances_raw[c], c))
        normalised = {c: (importances_raw[c] / total if total > 0 else 0.0) for c in ordered}
        top = [c for c in ordered[: self.top_k] if normalised[c] >= self.min_importance]

        flags: list[str] = []
        verdict = Verdict.PASS
        sensitive = list(dict.fromkeys([*ctx.sensitive_features, *self.sensitive_features]))
        sensitive_top = [c for c in top if c in sensitive]
        if sensitive_top:
            shares = ", ".join(f"{c!r} (rank {ordered.index(c) + 1}, "
                               f"{normalised[c]:.1%})" for c in sensitive_top)
            flags.append(f"sensitive feature in the top {self.top_k}: {shares}")
            verdict = Verdict.FAIL if self.severity is Severity.BLOCKING else Verdict.WARN

        data = ctx.data if ctx.data is not None else ctx.reference_data
        proxies = _proxy_scores([c for c in top if c not in sensitive], sensitive, data,
                                ctx.seed)
        strong = [p for p in proxies if p["auc"] is not None and p["auc"] >= self.proxy_auc]
        for p in strong:
            flags.append(f"{p['feature']!r} is a proxy of sensitive attribute "
                         f"{p['attribute']!r} (AUC {p['auc']:.2f} >= {self.proxy_auc})")
        shift = self._rank_shift(ctx, normalised, ordered)
        if shift.get("shifted"):
            flags.append(shift["reason"])
        if flags and verdict is Verdict.PASS:
            verdict = Verdict.WARN

        head = ", ".join(f"{c} {normalised[c]:.0%}" for c in ordered[:3])
        summary = (f"{'; '.join(flags)}." if flags else
                   f"Top features ({method}, {len(rows)} rows): {head}.")
        chart = [{"feature": c, "importance": clean(normalised[c]),
                  "raw": clean(importances_raw[c], 8)} for c in ordered]
        evidence: dict[str, Any] = {
            "importances": {c: clean(normalised[c]) for c in ordered},
            "importances_raw": {c: clean(importances_raw[c], 8) for c in ordered},
            "method": method,
            "explainer": explainer,
            "rows_explained": len(rows),
            "background_rows": len(background) if method != "tree" else 0,
            "top_k": self.top_k,
            "top_features": top,
            "chart": chart,
            "sensitive_features": sensitive,
            "sensitive_in_top_k": sensitive_top,
            "proxies": proxies,
            "proxy_auc": self.proxy_auc,
            "strong_proxies": strong,
            "rank_shift": shift,
            "flags": flags,
        }
        path = _save_chart(ctx, chart, method)
        if path is not None:
            evidence["chart_path"] = path
        return self.result(verdict, summary, **evidence)

    def _explain(self, ctx: Any, rows: pd.DataFrame,
                 background: pd.DataFrame) -> tuple[dict[str, float] | None, str, str]:
        """Mean |SHAP| per input column, the method used and the explainer's description."""
        raw = ctx.model.raw
        method = self.method
        if method == "lime":
            try:
                import lime.lime_tabular  # noqa: F401
            except ImportError:
                return None, ("LIME is not installed: pip install lime (or use method "
                              "'permutation' or 'kernel')."), ""
            return _lime(ctx, rows, background), "lime", "lime.LimeTabularExplainer"
        if method in ("auto", "tree", "linear"):
            tried: list[str] = []
            kinds = ("tree", "linear") if method == "auto" else (method,)
            for kind in kinds:
                try:
                    return _structural(raw, kind, rows, background), kind, _describe(kind, raw)
                except Exception as exc:  # not that kind of model, or unmappable preprocessing
                    tried.append(f"{kind}: {type(exc).__name__}: {exc}")
            if method != "auto":
                raise InvalidArgument(
                    f"The explainability check cannot use method={method!r} on "
                    f"{type(raw).__name__} ({tried[0]}). Use method 'auto', 'permutation' or "
                    "'kernel'."
                )
            method = "kernel"
            fallback = f"shap.KernelExplainer (auto fallback; {'; '.join(tried)})"
            return _agnostic(ctx, method, rows, background), method, fallback[:400]
        return (_agnostic(ctx, method, rows, background), method,
                f"shap.{method.capitalize()}Explainer")

    def _rank_shift(self, ctx: Any, normalised: dict[str, float],
                    ordered: list[str]) -> dict[str, Any]:
        base = _baseline_importances(ctx.baseline)
        if base is None:
            reason = ("no baseline" if ctx.baseline is None else
                      f"baseline {ctx.baseline.ref} has no stored explainability importances")
            return {"compared": False, "reason": reason}
        base_order = sorted(base, key=lambda c: (-base[c], c))
        common = [c for c in base_order if c in normalised]
        rho = None
        if len(common) >= 3:
            from scipy.stats import spearmanr

            rho = clean(spearmanr([base[c] for c in common],
                                  [normalised[c] for c in common]).statistic)
        top_now = ordered[: self.top_k]
        dropped = [c for c in base_order[:1] if base[c] > 0 and c not in top_now]
        reasons = []
        if rho is not None and rho < self.min_rank_correlation:
            reasons.append(f"Spearman {rho:.2f} < {self.min_rank_correlation} over "
                           f"{len(common)} common features")
        if dropped:
            reasons.append(f"baseline's top feature {dropped[0]!r} dropped out of the top "
                           f"{self.top_k}")
        shifted = bool(reasons)
        return {
            "compared": True,
            "baseline": ctx.baseline.ref,
            "spearman": rho,
            "min_rank_correlation": self.min_rank_correlation,
            "common_features": len(common),
            "dropped_top_features": dropped,
            "baseline_ranking": base_order,
            "candidate_ranking": ordered,
            "shifted": shifted,
            "reason": (f"importance ranking shifted vs baseline {ctx.baseline.ref} ("
                       + "; ".join(reasons) + f"): baseline {base_order[:self.top_k]}, "
                       f"candidate {ordered[:self.top_k]}") if shifted else "",
        }


# -- sampling and outputs ------------------------------------------------------------------


def _sample(frame: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(frame) <= n:
        return frame.reset_index(drop=True)
    picked = np.sort(rng.choice(len(frame), size=n, replace=False))
    return frame.iloc[picked].reset_index(drop=True)


def _baseline_importances(baseline: Any) -> dict[str, float] | None:
    report = getattr(baseline, "check_report", None) or {}
    for entry in report.get("results", []):
        if entry.get("check") == "explainability":
            values = (entry.get("evidence") or {}).get("importances")
            if isinstance(values, dict) and values:
                return {str(k): float(v or 0.0) for k, v in values.items()}
    return None


def _save_chart(ctx: Any, chart: list[dict[str, Any]], method: str) -> str | None:
    if ctx.output_dir is None:
        return None
    try:
        folder = ctx.output_dir / "explainability"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = folder / "importances.json"
        path.write_text(json.dumps({"method": method, "importances": chart}, indent=2))
    except OSError:  # a read-only report folder must not hide the importances
        return None
    return str(path)


def _describe(kind: str, raw: Any) -> str:
    final = raw.steps[-1][1] if hasattr(raw, "steps") else raw
    explainer = "TreeExplainer" if kind == "tree" else "LinearExplainer"
    return f"shap.{explainer} on {type(final).__name__}"


# -- tree and linear SHAP through the preprocessing ----------------------------------------


def _structural(raw: Any, kind: str, rows: pd.DataFrame,
                background: pd.DataFrame) -> dict[str, float]:
    """SHAP of the final estimator on transformed rows, summed back to input columns."""
    import shap
    from sklearn.pipeline import Pipeline

    columns = list(rows.columns)
    if isinstance(raw, Pipeline) and len(raw.steps) > 1:
        pre, estimator = raw[:-1], raw.steps[-1][1]
        owners = _owners(pre, columns)
        matrix, bg = _dense(pre.transform(rows)), _dense(pre.transform(background))
    else:
        estimator = raw.steps[-1][1] if isinstance(raw, Pipeline) else raw
        numeric = all(pd.api.types.is_numeric_dtype(rows[c]) and not
                      pd.api.types.is_bool_dtype(rows[c]) for c in columns)
        if not numeric:
            raise _Unmappable("a bare estimator on non-numeric columns")
        owners = columns
        matrix, bg = rows.to_numpy(np.float64), background.to_numpy(np.float64)
    if matrix.shape[1] != len(owners):
        raise _Unmappable(f"{matrix.shape[1]} transformed columns for {len(owners)} owners")
    if kind == "tree":
        explainer = shap.TreeExplainer(estimator)
        values = explainer.shap_values(matrix, check_additivity=True)
    else:
        if not hasattr(estimator, "coef_"):
            raise _Unmappable(f"{type(estimator).__name__} is not a linear model")
        explainer = shap.LinearExplainer(estimator, shap.maskers.Independent(bg, len(bg)))
        values = explainer.shap_values(matrix)
    return _aggregate(values, owners, columns)


def _aggregate(values: Any, owners: Sequence[str], columns: Sequence[str]) -> dict[str, float]:
    """Mean |SHAP| per input column: signed sums over owned columns, then |.| per row."""
    if isinstance(values, list):  # older SHAP: one matrix per class
        values = np.stack(values, axis=-1)
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 2:
        values = values[:, :, None]
    index = {c: i for i, c in enumerate(columns)}
    onehot = np.zeros((len(owners), len(columns)))
    for j, owner in enumerate(owners):
        onehot[j, index[owner]] = 1.0
    per_input = np.einsum("npk,pc->nck", values, onehot)  # (rows, inputs, outputs)
    means = np.abs(per_input).mean(axis=(0, 2))
    means = np.where(np.isfinite(means), means, 0.0)
    return dict(zip(columns, means.tolist(), strict=True))


def _dense(matrix: Any) -> np.ndarray:
    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    return np.asarray(matrix, dtype=np.float64)


def _owners(step: Any, inputs: Sequence[str]) -> list[str]:
    """For each output column of a fitted transformer, the input column it comes from.

    Raises:
        _Unmappable: when an output depends on several inputs or cannot be traced.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    if isinstance(step, str):
        if step == "passthrough":
            return list(inputs)
        raise _Unmappable(f"transformer {step!r}")
    if step is None:
        return list(inputs)
    if isinstance(step, Pipeline):
        owners = list(inputs)
        for _, sub in step.steps:
            owners = _owners(sub, owners)
        return owners
    if isinstance(step, ColumnTransformer):
        names_in = list(getattr(step, "feature_names_in_", []))
        out: list[str | None] = [None] * sum(
            s.stop - s.start for s in step.output_indices_.values())
        for name, trans, cols in step.transformers_:
            sl = step.output_indices_.get(name, slice(0, 0))
            if sl.stop - sl.start == 0 or (isinstance(trans, str) and trans == "drop"):
                continue
            positions = _positions(cols, names_in, len(inputs))
            sub = _owners(trans, [inputs[p] for p in positions])
            if len(sub) != sl.stop - sl.start:
                raise _Unmappable(f"transformer {name!r} has an unexpected width")
            out[sl] = sub
        if any(o is None for o in out):
            raise _Unmappable("uncovered output columns")
        return [str(o) for o in out]
    if len(set(inputs)) == 1:
        width = getattr(step, "n_features_out_", None)
        if width is None:
            width = len(step.get_feature_names_out())
        return [inputs[0]] * int(width)
    if isinstance(step, OneHotEncoder) and hasattr(step, "_n_features_outs"):
        counts = list(step._n_features_outs)
        if len(counts) == len(inputs):
            return [o for o, n in zip(inputs, counts, strict=True) for _ in range(int(n))]
    fitted_names = getattr(step, "feature_names_in_", None)
    names = ([str(n) for n in fitted_names] if fitted_names is not None
             else [f"x{i}" for i in range(len(inputs))])
    if len(names) != len(inputs):
        raise _Unmappable(f"{type(step).__name__} saw {len(names)} columns")
    try:
        produced = [str(n) for n in step.get_feature_names_out(names)]
    except Exception as exc:
        raise _Unmappable(f"{type(step).__name__} has no usable feature names") from exc
    position = {n: i for i, n in enumerate(names)}
    by_length = sorted(names, key=len, reverse=True)
    owners = []
    for produced_name in produced:
        if produced_name in position:
            owners.append(inputs[position[produced_name]])
            continue
        match = next((n for n in by_length if produced_name.startswith(n + "_")), None)
        if match is None:
            raise _Unmappable(f"{type(step).__name__} output {produced_name!r} has no owner")
        owners.append(inputs[position[match]])
    return owners


def _positions(cols: Any, names_in: list[str], width: int) -> list[int]:
    """A ColumnTransformer column selection as positions in its input."""
    if callable(cols):
        raise _Unmappable("callable column selector")
    if isinstance(cols, slice):
        if isinstance(cols.start, str) or isinstance(cols.stop, str):
            start = names_in.index(cols.start) if cols.start is not None else 0
            stop = names_in.index(cols.stop) + 1 if cols.stop is not None else width
            return list(range(start, stop))
        return list(range(width))[cols]
    items = [cols] if isinstance(cols, str | int | np.integer) else list(cols)
    if items and all(isinstance(i, bool | np.bool_) for i in items):
        return [i for i, keep in enumerate(items) if keep]
    out = []
    for item in items:
        if isinstance(item, str):
            if item not in names_in:
                raise _Unmappable(f"unknown column {item!r}")
            out.append(names_in.index(item))
        else:
            out.append(int(item))
    return out


# -- model-agnostic explainers -------------------------------------------------------------


class _Codec:
    """Mixed-type frames to float matrices and back (SHAP's maskers need numbers)."""

    def __init__(self, *frames: pd.DataFrame) -> None:
        first = frames[0]
        self.columns = list(first.columns)
        self.dtypes = first.dtypes
        self.categories: dict[str, list[Any]] = {}
        for c in self.columns:
            if not _is_number(first[c]):
                values = pd.concat([f[c] for f in frames]).astype(object).dropna()
                self.categories[c] = list(dict.fromkeys(values.tolist()))

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(frame), len(self.columns)))
        for j, c in enumerate(self.columns):
            if c in self.categories:
                codes = pd.Categorical(frame[c].astype(object), categories=self.categories[c])
                out[:, j] = codes.codes
            else:
                out[:, j] = pd.to_numeric(frame[c], errors="coerce").to_numpy(np.float64,
                                                                               na_value=np.nan)
        return out

    def decode(self, matrix: np.ndarray) -> pd.DataFrame:
        data: dict[str, Any] = {}
        for j, c in enumerate(self.columns):
            col = matrix[:, j]
            dtype = self.dtypes[c]
            if c in self.categories:
                codes = np.nan_to_num(col, nan=-1).round().astype(np.int64)
                codes[(codes < -1) | (codes >= len(self.categories[c]))] = -1
                values = pd.Categorical.from_codes(codes, categories=self.categories[c])
                data[c] = values if isinstance(dtype, pd.CategoricalDtype) else np.asarray(
                    values.astype(object))
            elif pd.api.types.is_bool_dtype(dtype):
                data[c] = col >= 0.5
            elif pd.api.types.is_integer_dtype(dtype) and not np.isnan(col).any():
                data[c] = col.round().astype(np.int64)
            else:
                data[c] = col
        return pd.DataFrame(data, columns=self.columns)

    @property
    def categorical_positions(self) -> list[int]:
        return [j for j, c in enumerate(self.columns) if c in self.categories]


def _is_number(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))


def _model_function(ctx: Any, codec: _Codec,
                    sample: np.ndarray) -> tuple[Callable[[np.ndarray], np.ndarray], bool]:
    """``f(matrix) -> outputs`` on the whole model, and whether outputs are probabilities."""
    model = ctx.model
    probabilities = (ctx.task == "classification"
                     and model.predict_proba(codec.decode(sample[:1])) is not None)

    def f(matrix: np.ndarray) -> np.ndarray:
        frame = codec.decode(np.asarray(matrix, dtype=np.float64))
        out = model.predict_proba(frame) if probabilities else model.predict(frame)
        return np.asarray(out, dtype=np.float64)

    return f, probabilities


def _agnostic(ctx: Any, method: str, rows: pd.DataFrame,
              background: pd.DataFrame) -> dict[str, float]:
    import shap

    codec = _Codec(rows, background)
    x, bg = codec.encode(rows), codec.encode(background)
    f, _ = _model_function(ctx, codec, x)
    m = x.shape[1]
    with _one_thread():
        if method == "permutation":
            masker = shap.maskers.Independent(bg, max_samples=len(bg))
            explainer = shap.PermutationExplainer(f, masker, seed=ctx.seed)
            values = explainer(x, max_evals=2 * (2 * m + 1), silent=True).values
        else:
            summary = shap.kmeans(bg, min(20, len(bg))) if len(bg) > 20 else bg
            explainer = shap.KernelExplainer(f, summary, seed=ctx.seed)
            values = explainer.shap_values(x, nsamples=10 * m + 100, silent=True)
    return _aggregate(values, codec.columns, codec.columns)


def _one_thread() -> Any:
    """Limit OpenMP and BLAS to one thread (restored on exit).

    The model-agnostic explainers call the model hundreds of times on a few thousand
    rows; waking thread pools that often costs more than it saves, and many times
    more on a busy CI runner (measured: 15 s single-threaded against 48-210 s).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn depends on it; other formats may not
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


def _lime(ctx: Any, rows: pd.DataFrame, background: pd.DataFrame) -> dict[str, float]:
    from lime.lime_tabular import LimeTabularExplainer

    codec = _Codec(rows, background)
    x, bg = codec.encode(rows), codec.encode(background)
    f, probabilities = _model_function(ctx, codec, x)
    cat_pos = codec.categorical_positions
    explainer = LimeTabularExplainer(
        np.nan_to_num(bg, nan=-1.0), feature_names=codec.columns,
        categorical_features=cat_pos,
        mode="classification" if probabilities else "regression",
        discretize_continuous=True, random_state=ctx.seed)
    totals = np.zeros(len(codec.columns))
    with _one_thread():
        for row in np.nan_to_num(x, nan=-1.0):
            exp = explainer.explain_instance(row, f, num_features=len(codec.columns),
                                             num_samples=max(100, 10 * len(bg)))
            weights = exp.as_map()
            label = max(weights) if probabilities else next(iter(weights))
            for j, w in weights[label]:
                totals[j] += abs(w)
    means = totals / max(len(x), 1)
    return dict(zip(codec.columns, means.tolist(), strict=True))


# -- proxies of sensitive attributes ----------------------------------------------------------


def _proxy_scores(features: list[str], sensitive: list[str], data: pd.DataFrame | None,
                  seed: int) -> list[dict[str, Any]]:
    """Cross-validated AUC of a depth-3 tree predicting each attribute from each feature."""
    if data is None or not features or not sensitive:
        return []
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.tree import DecisionTreeClassifier

    if len(data) > _PROXY_ROWS:
        data = data.sample(_PROXY_ROWS, random_state=seed)
    out = []
    for attribute in sensitive:
        if attribute not in data.columns:
            continue
        target = _attribute_labels(data[attribute])
        present = target.notna().to_numpy()
        y = target.to_numpy()[present].astype(str)
        classes, counts = np.unique(y, return_counts=True)
        if len(classes) < 2 or counts.min() < 3:
            continue
        for feature in features:
            if feature not in data.columns:
                continue
            x = _proxy_matrix(data[feature])[present]
            tree = DecisionTreeClassifier(max_depth=3, min_samples_leaf=20, random_state=seed)
            cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
            proba = cross_val_predict(tree, x, y, cv=cv, method="predict_proba")
            out.append({"feature": feature, "attribute": attribute,
                        "auc": clean(_auc(y, classes, proba), 4)})
    return out


def _attribute_labels(series: pd.Series) -> pd.Series:
    """Sensitive attribute as class labels; many-valued numbers split at the median."""
    if _is_number(series) and not pd.api.types.is_bool_dtype(series) and series.nunique() > 10:
        above = np.where(series > series.median(), "above_median", "at_or_below_median")
        labels = pd.Series(above, index=series.index, dtype=object)
    else:
        labels = series.astype(object)
    return labels.where(series.notna(), None)


def _proxy_matrix(series: pd.Series) -> np.ndarray:
    if _is_number(series):
        values = pd.to_numeric(series, errors="coerce").astype(np.float64)
        return values.fillna(values.median() if values.notna().any() else 0.0).to_numpy()[:, None]
    text = series.astype(object).where(series.notna(), "__missing__").astype(str)
    top = text.value_counts().index[:_PROXY_MAX_CATEGORIES]
    return np.column_stack([(text == v).to_numpy(np.float64) for v in top])


def _auc(y: np.ndarray, classes: np.ndarray, proba: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if len(classes) == 2:
        return float(roc_auc_score(y == classes[1], proba[:, 1]))
    return float(roc_auc_score(y, proba, multi_class="ovr", labels=classes))
