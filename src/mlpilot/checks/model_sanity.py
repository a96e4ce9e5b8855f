"""Model sanity: the candidate's outputs are well formed, deterministic and reproducible.

What fails:

* predictions that are NaN/Inf, of another type or shape than the signature
  declares, or outside its classes; not one per row;
* probabilities outside ``[0, 1]`` or rows not summing to 1;
* two predictions of the same rows that differ (a non-deterministic model);
* a **golden set** that no longer reproduces: the first check of a version stores
  a few input rows and their outputs as artifacts (its digest goes in the
  evidence, hence in the version's ``check_report``); later checks reload it and
  compare, which catches a changed environment (library upgrade, other hardware);
* ``ConvergenceWarning`` in the training run's ``warnings.json`` (or a warning,
  per ``on_convergence_warning``).

Without a holdout, inputs are synthesised from the training dataset's profile.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.checks._base import Check, CheckResult, Verdict
from mlpilot.core.errors import InvalidArgument, MlpilotError
from mlpilot.core.jsonsafe import json_safe
from mlpilot.data.profile import CATEGORICAL_KINDS
from mlpilot.data.schema import logical_dtype
from mlpilot.data.snapshot import read_parquet_bytes, to_parquet_bytes

GOLDEN_VERSION = 1
WARNINGS_ARTIFACT = "warnings.json"
_EXAMPLES = 5
_ON_CONVERGENCE = ("fail", "warn", "ignore")
#: (declared, got) output dtypes that agree.
_COMPATIBLE = {("float", "integer"), ("string", "category"), ("category", "string")}


def synthesize_inputs(ctx: Any, rows: int, seed: int) -> pd.DataFrame | None:
    """Input rows drawn from the training dataset's profile, for checks without a holdout.

    Row 0 holds the medians and most frequent categories; the others draw each
    column independently from its reference marginal (quantile sketch or category
    frequencies), seeded. Columns are the model's signature inputs, else the
    reference's columns minus the label.

    Args:
        ctx: the :class:`~mlpilot.checks.CheckContext`.
        rows: how many rows (>= 1).
        seed: seeds the draw.

    Returns:
        The frame, or None when there is no reference profile or it lacks a column.
    """
    if ctx.reference is None:
        return None
    profile = (ctx.reference.profile or {}).get("columns", {})
    inputs = (ctx.candidate.signature or {}).get("inputs") or [
        c for c in ctx.reference.schema.get("columns", []) if c.get("name") != ctx.target]
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for spec in inputs:
        name, dtype = spec["name"], spec.get("dtype")
        column = profile.get(name)
        if not isinstance(column, dict):
            return None
        values = _draw(column, dtype or column.get("dtype"), rows, rng)
        if values is None:
            return None
        data[name] = values
    return pd.DataFrame(data)


def _draw(column: dict[str, Any], dtype: str, rows: int,
          rng: np.random.Generator) -> Any:
    if column.get("dtype") in CATEGORICAL_KINDS:
        freq = column.get("frequencies") or {}
        if not freq:
            return None
        keys = list(freq)
        weights = np.asarray(list(freq.values()), dtype=np.float64)
        picked = [keys[0], *rng.choice(keys, size=rows - 1, p=weights / weights.sum())]
        if dtype == "boolean":
            return np.asarray([k == "True" for k in picked])
        if dtype == "category":
            return pd.Categorical(picked, categories=keys)
        return np.asarray(picked, dtype=object)
    sketch = column.get("quantiles") or []
    if len(sketch) < 2 or any(v is None for v in sketch):
        return None
    probs = np.linspace(0.0, 1.0, len(sketch))
    values = np.interp(np.concatenate(([0.5], rng.random(rows - 1))), probs, sketch)
    if dtype == "integer":
        return np.rint(values).astype(np.int64)
    if dtype == "datetime":
        stamps = pd.to_datetime(values, unit="s", utc=True)
        tz = column.get("timezone")
        return stamps.tz_convert(tz) if tz else stamps.tz_localize(None)
    return values.astype(np.float64)


def _same(a: np.ndarray, b: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    """Element-wise agreement (per row for 2-D outputs); NaN equals NaN."""
    if a.shape != b.shape:
        return np.zeros(max(len(a), len(b)), dtype=bool)
    if a.dtype.kind in "iufb" and b.dtype.kind in "iufb":
        close = np.isclose(a.astype(np.float64), b.astype(np.float64), rtol=rtol, atol=atol,
                           equal_nan=True)
    else:
        close = a.astype(str) == b.astype(str)
    return close.reshape(len(a), -1).all(axis=1) if close.ndim > 1 else close


class ModelSanityCheck(Check):
    """Well-formed, deterministic, reproducible outputs and a converged training run.

    Args:
        golden_rows: rows kept in the golden set on a version's first check.
        rtol: relative tolerance for float outputs (determinism and golden set).
        atol: absolute tolerance for float outputs.
        proba_tolerance: how far a probability may stray outside ``[0, 1]`` and a
            row's sum from 1 (float32 models round).
        on_convergence_warning: ``"fail"``, ``"warn"`` or ``"ignore"`` when the
            training run recorded a ``ConvergenceWarning``.
        synthetic_rows: rows synthesised from the reference profile when there is
            no holdout.
        max_rows: cap on holdout rows predicted (a seeded sample beyond it).
        severity: ``"blocking"`` (default) or ``"advisory"``.

    Raises:
        InvalidArgument: for a bad count, tolerance or ``on_convergence_warning``.
    """

    name = "model_sanity"
    description = "Predictions well formed, deterministic, reproducible; training converged."

    def __init__(
        self,
        *,
        golden_rows: int = 20,
        rtol: float = 1e-6,
        atol: float = 1e-8,
        proba_tolerance: float = 1e-4,
        on_convergence_warning: str = "fail",
        synthetic_rows: int = 100,
        max_rows: int = 10_000,
        severity: str | None = None,
    ) -> None:
        super().__init__(severity=severity)
        for param, count in (("golden_rows", golden_rows), ("synthetic_rows", synthetic_rows),
                             ("max_rows", max_rows)):
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise InvalidArgument(
                    f"The {param!r} parameter of ModelSanityCheck must be an int >= 1. "
                    f"Got {count!r}."
                )
        for param, tol in (("rtol", rtol), ("atol", atol), ("proba_tolerance", proba_tolerance)):
            if isinstance(tol, bool) or not isinstance(tol, int | float) or not 0 <= tol < 1:
                raise InvalidArgument(
                    f"The {param!r} parameter of ModelSanityCheck must be a number in [0, 1). "
                    f"Got {tol!r}."
                )
        if on_convergence_warning not in _ON_CONVERGENCE:
            raise InvalidArgument(
                "The 'on_convergence_warning' parameter of ModelSanityCheck must be one of "
                f"{list(_ON_CONVERGENCE)}. Got {on_convergence_warning!r}."
            )
        self.golden_rows = golden_rows
        self.rtol = rtol
        self.atol = atol
        self.proba_tolerance = proba_tolerance
        self.on_convergence_warning = on_convergence_warning
        self.synthetic_rows = synthetic_rows
        self.max_rows = max_rows

    def _run(self, ctx: Any) -> CheckResult:
        X, source = self._inputs(ctx)
        if X is None:
            return self.skip("No holdout and no reference profile to synthesise inputs from.")
        fails: list[str] = []
        warns: list[str] = []
        evidence: dict[str, Any] = {"inputs": {"source": source, "rows": len(X)}}

        try:
            pred = self._predict(ctx, X, source)
            proba = self._proba(ctx, X, source)
        except Exception as exc:  # a model that crashes on valid inputs is not sane
            fails.append(f"the model raised {type(exc).__name__} on {source} rows: "
                         f"{_message(exc)}")
            evidence["error"] = f"{type(exc).__name__}: {_message(exc)}"
            pred = proba = None
        if pred is not None:
            evidence["outputs"], problems = self._outputs(ctx, pred, len(X))
            fails += problems
            evidence["probabilities"], problems = self._probabilities(ctx, proba, len(X))
            fails += problems
            evidence["determinism"], problems = self._determinism(ctx, X, pred, proba)
            fails += problems
            evidence["golden"], problems = self._golden(ctx, X, ok=not fails)
            fails += problems

        evidence["convergence"] = self._convergence(ctx)
        found = evidence["convergence"].get("count", 0)
        if found and self.on_convergence_warning != "ignore":
            note = (f"training did not converge ({found} ConvergenceWarning: "
                    f"{evidence['convergence']['warnings'][0]['message'][:120]})")
            (fails if self.on_convergence_warning == "fail" else warns).append(note)

        if fails:
            return self.result(Verdict.FAIL, "; ".join(fails + warns) + ".", **evidence)
        if warns:
            return self.result(Verdict.WARN, "; ".join(warns) + ".", **evidence)
        return self.result(Verdict.PASS, f"{len(X)} {source} rows: finite, well-formed, "
                           "deterministic outputs; golden set "
                           f"{evidence['golden']['status']}.", **evidence)

    # -- inputs and predictions ---------------------------------------------------------
    def _inputs(self, ctx: Any) -> tuple[pd.DataFrame | None, str]:
        features = ctx.features
        if features is not None and len(features):
            if len(features) > self.max_rows:
                return features.sample(self.max_rows, random_state=ctx.seed), "holdout"
            return features, "holdout"
        return synthesize_inputs(ctx, self.synthetic_rows, ctx.seed), "synthetic"

    def _predict(self, ctx: Any, X: pd.DataFrame, source: str) -> np.ndarray:
        if source == "holdout" and X is ctx.features:  # share the context's cache
            return np.asarray(ctx.predictions)
        return np.asarray(ctx.model.predict(X))

    def _proba(self, ctx: Any, X: pd.DataFrame, source: str) -> np.ndarray | None:
        if ctx.task != "classification":
            return None
        if source == "holdout" and X is ctx.features:
            return ctx.probabilities  # type: ignore[no-any-return]
        proba = ctx.model.predict_proba(X)
        return None if proba is None else np.asarray(proba)

    # -- outputs ------------------------------------------------------------------------
    def _outputs(self, ctx: Any, pred: np.ndarray,
                 rows: int) -> tuple[dict[str, Any], list[str]]:
        declared = (ctx.candidate.signature or {}).get("outputs") or {}
        problems: list[str] = []
        if pred.ndim == 0 or pred.shape[0] != rows:
            problems.append(f"{rows} rows gave predictions of shape {list(pred.shape)}")
        want_shape = declared.get("shape")
        if want_shape and list(pred.shape[1:]) != list(want_shape[1:]):
            problems.append(f"predictions have shape {['n', *pred.shape[1:]]}, the signature "
                            f"declares {['n', *want_shape[1:]]}")
        flat = pred.reshape(-1)
        if flat.dtype.kind in "fc":
            bad = ~np.isfinite(flat)
        else:
            bad = np.asarray(pd.isna(flat), dtype=bool)
        if bad.any():
            problems.append(f"{int(bad.sum())} of {flat.size} predictions are NaN/Inf/missing")
        try:
            got = logical_dtype(pd.Series(flat[~bad]))
        except InvalidArgument:
            got = str(flat.dtype)
        want = declared.get("dtype")
        if want and bad.sum() < flat.size and got != want and (want, got) not in _COMPATIBLE:
            problems.append(f"predictions are {got}, the signature declares {want}")
        unknown: list[Any] = []
        classes = declared.get("classes")
        if classes is not None:
            kept = pd.Series(flat[~bad])
            unknown = sorted({json_safe(v) for v in kept[~kept.isin(classes)].unique()},
                             key=str)[:_EXAMPLES]
            if unknown:
                problems.append(f"predictions outside the declared classes {classes}: {unknown}")
        evidence = {"rows": rows, "shape": list(pred.shape), "dtype": got,
                    "non_finite": int(bad.sum()), "unknown_classes": unknown,
                    "declared": json_safe(declared), "ok": not problems}
        return evidence, problems

    def _probabilities(self, ctx: Any, proba: np.ndarray | None,
                       rows: int) -> tuple[dict[str, Any] | None, list[str]]:
        if proba is None:
            return None, []
        problems: list[str] = []
        classes = ((ctx.candidate.signature or {}).get("outputs") or {}).get("classes")
        tol = self.proba_tolerance
        if proba.ndim != 2 or proba.shape[0] != rows:
            problems.append(f"probabilities have shape {list(proba.shape)} for {rows} rows")
            return {"shape": list(proba.shape), "ok": False}, problems
        if classes is not None and proba.shape[1] != len(classes):
            problems.append(f"{proba.shape[1]} probability columns for {len(classes)} classes")
        values = proba.astype(np.float64)
        finite = np.isfinite(values)
        outside = int(np.count_nonzero(finite & ((values < -tol) | (values > 1 + tol))))
        sums = values.sum(axis=1)
        off = np.abs(sums - 1.0)
        bad_rows = int(np.count_nonzero(~np.isfinite(sums) | (off > tol)))
        if not finite.all():
            problems.append(f"{int((~finite).sum())} probabilities are NaN/Inf")
        if outside:
            problems.append(f"{outside} probabilities outside [0, 1]")
        if bad_rows:
            problems.append(f"{bad_rows} rows of probabilities do not sum to 1")
        evidence = {"shape": list(proba.shape), "non_finite": int((~finite).sum()),
                    "outside_unit_interval": outside, "rows_not_summing_to_1": bad_rows,
                    "max_sum_error": json_safe(float(np.nanmax(off)) if off.size else 0.0),
                    "tolerance": tol, "ok": not problems}
        return evidence, problems

    def _determinism(self, ctx: Any, X: pd.DataFrame, pred: np.ndarray,
                     proba: np.ndarray | None) -> tuple[dict[str, Any], list[str]]:
        again = np.asarray(ctx.model.predict(X))
        differ = ~_same(pred, again, self.rtol, self.atol)
        if proba is not None:
            proba_again = ctx.model.predict_proba(X)
            if proba_again is not None:
                differ |= ~_same(proba, np.asarray(proba_again), self.rtol, self.atol)
        count = int(differ.sum())
        evidence = {"rows": len(X), "differing_rows": count, "deterministic": count == 0}
        if count:
            rows = np.flatnonzero(differ)[:_EXAMPLES]
            evidence["examples"] = [
                {"row": int(i), "first": json_safe(pred[i]) if i < len(pred) else None,
                 "second": json_safe(again[i]) if i < len(again) else None} for i in rows]
            return evidence, [f"non-deterministic: {count} of {len(X)} rows changed when "
                              "predicted twice"]
        return evidence, []

    # -- golden set ---------------------------------------------------------------------
    def _golden(self, ctx: Any, X: pd.DataFrame, *, ok: bool) -> tuple[dict[str, Any],
                                                                       list[str]]:
        digest = _previous_golden(ctx.candidate.check_report, self.name)
        if digest is not None:
            return self._verify(ctx, digest)
        if not ok:
            return {"status": "not created", "reason": "the outputs failed other checks"}, []
        rng = np.random.default_rng(ctx.seed)
        take = np.sort(rng.choice(len(X), min(self.golden_rows, len(X)), replace=False))
        rows = X.iloc[take]
        artifacts = ctx.context.artifacts
        inputs = artifacts.put_bytes(to_parquet_bytes(rows.reset_index(drop=True)))
        pred, proba = self._outputs_of(ctx, rows)
        manifest = {"version": GOLDEN_VERSION, "model": ctx.candidate.ref,
                    "inputs": inputs.digest, "rows": len(rows), "predictions": json_safe(pred),
                    "probabilities": None if proba is None else json_safe(proba)}
        ref = artifacts.put_bytes(json.dumps(manifest, allow_nan=False).encode())
        return {"status": "created", "digest": ref.digest, "inputs": inputs.digest,
                "rows": len(rows)}, []

    def _outputs_of(self, ctx: Any, rows: pd.DataFrame) -> tuple[np.ndarray, Any]:
        pred = np.asarray(ctx.model.predict(rows))
        proba = ctx.model.predict_proba(rows) if ctx.task == "classification" else None
        return pred, None if proba is None else np.asarray(proba)

    def _verify(self, ctx: Any, digest: str) -> tuple[dict[str, Any], list[str]]:
        artifacts = ctx.context.artifacts
        evidence: dict[str, Any] = {"digest": digest}
        try:
            manifest = json.loads(artifacts.get_bytes(digest, name="golden set"))
            rows = read_parquet_bytes(artifacts.get_bytes(manifest["inputs"],
                                                          name="golden set inputs"))
            want = np.asarray(manifest["predictions"])
            want_proba = manifest.get("probabilities")
        except (MlpilotError, KeyError, TypeError, ValueError) as exc:
            evidence.update(status="unreadable", error=f"{type(exc).__name__}: {_message(exc)}")
            return evidence, [f"the golden set {digest[:19]}… cannot be read: {_message(exc)}"]
        evidence.update(inputs=manifest["inputs"], rows=len(rows))
        pred, proba = self._outputs_of(ctx, rows)
        differ = ~_same(pred, want, self.rtol, self.atol)
        if want_proba is not None and proba is not None:
            differ |= ~_same(proba, np.asarray(want_proba, dtype=np.float64), self.rtol,
                             self.atol)
        count = int(differ.sum())
        if not count:
            evidence["status"] = "verified"
            return evidence, []
        evidence.update(status="mismatch", mismatched_rows=count, examples=[
            {"row": int(i), "expected": json_safe(want[i]) if i < len(want) else None,
             "got": json_safe(pred[i]) if i < len(pred) else None}
            for i in np.flatnonzero(differ)[:_EXAMPLES]])
        return evidence, [f"golden set not reproduced: {count} of {len(rows)} rows give other "
                          "outputs than when first checked (environment or artifact change?)"]

    # -- convergence --------------------------------------------------------------------
    def _convergence(self, ctx: Any) -> dict[str, Any]:
        run = ctx.run
        if run is None:
            return {"skipped": "the version has no training run"}
        artifact = next((a for a in run.artifacts if a.name == WARNINGS_ARTIFACT), None)
        if artifact is None:
            return {"count": 0, "warnings": [], "other_warnings": {}}
        try:
            recorded = json.loads(ctx.context.artifacts.get_bytes(artifact.digest,
                                                                  name=WARNINGS_ARTIFACT))
        except (MlpilotError, ValueError) as exc:
            return {"skipped": f"{WARNINGS_ARTIFACT} unreadable: {_message(exc)}"}
        entries = [w for w in recorded if isinstance(w, dict)]
        found = [w for w in entries if str(w.get("category", "")).endswith("ConvergenceWarning")]
        other: dict[str, int] = {}
        for w in entries:
            if w not in found:
                key = str(w.get("category"))
                other[key] = other.get(key, 0) + 1
        return {"count": len(found), "warnings": [
            {"message": str(w.get("message", "")), "filename": str(w.get("filename", "")),
             "lineno": w.get("lineno") if isinstance(w.get("lineno"), int) else None}
            for w in found[:10]], "other_warnings": other}


def _previous_golden(report: dict[str, Any] | None, name: str) -> str | None:
    """The golden-set digest recorded by an earlier run of this check on the version."""
    for result in (report or {}).get("results", []):
        if isinstance(result, dict) and result.get("check") == name:
            golden = (result.get("evidence") or {}).get("golden") or {}
            digest = golden.get("digest") if isinstance(golden, dict) else None
            return digest if isinstance(digest, str) else None
    return None


def _message(exc: BaseException) -> str:
    return exc.message if isinstance(exc, MlpilotError) else str(exc)
