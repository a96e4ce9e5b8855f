"""Budgets: limits a model must fit in to be served — size, load time, latency.

These measure the *candidate* against the operator's limits (as SageMaker's
inference recommender or a serving SLO would), on this machine: artifact size,
load time (``mlpilot.load``, median of ``load_repeats``), single-row latency
p50/p99 over ``latency_calls`` calls after a warm-up, and the latency of one
``batch_rows`` batch (median of 3). Any limit set to ``None`` is measured but not
enforced.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.checks._base import Check, CheckResult, Verdict
from mlpilot.checks.model_sanity import synthesize_inputs
from mlpilot.core.errors import InvalidArgument, MlpilotError

_WARMUP = 3
_BATCH_REPEATS = 3
_MB = 1_000_000


def _timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _measure(value: float, limit: float | None, unit: str, **extra: Any) -> dict[str, Any]:
    return {"value": round(value, 6), "limit": limit, "unit": unit,
            "passed": limit is None or value <= limit, **extra}


class BudgetCheck(Check):
    """Artifact size, load time and prediction latency within configured limits.

    Args:
        max_artifact_mb: largest artifact allowed, in MB (10^6 bytes).
        max_load_s: longest median load time allowed, in seconds.
        max_latency_p99_ms: single-row p99 latency limit, in milliseconds.
        max_latency_p50_ms: single-row median latency limit (``None``: not enforced).
        max_batch_s: limit on predicting one batch of ``batch_rows`` rows, in seconds.
        load_repeats: loads timed (the median counts).
        latency_calls: single-row calls timed.
        batch_rows: rows in the timed batch (holdout rows resampled as needed).
        severity: ``"blocking"`` (default) or ``"advisory"``.

    Raises:
        InvalidArgument: for a non-positive limit or count.
    """

    name = "budgets"
    description = "Artifact size, load time and latency within the serving budget."

    def __init__(
        self,
        *,
        max_artifact_mb: float | None = 500.0,
        max_load_s: float | None = 10.0,
        max_latency_p99_ms: float | None = 50.0,
        max_latency_p50_ms: float | None = None,
        max_batch_s: float | None = 2.0,
        load_repeats: int = 3,
        latency_calls: int = 50,
        batch_rows: int = 1000,
        severity: str | None = None,
    ) -> None:
        super().__init__(severity=severity)
        for param, limit in (("max_artifact_mb", max_artifact_mb), ("max_load_s", max_load_s),
                             ("max_latency_p99_ms", max_latency_p99_ms),
                             ("max_latency_p50_ms", max_latency_p50_ms),
                             ("max_batch_s", max_batch_s)):
            if limit is not None and (isinstance(limit, bool) or not isinstance(
                    limit, int | float) or not limit > 0):
                raise InvalidArgument(
                    f"The {param!r} parameter of BudgetCheck must be a number > 0 or None "
                    f"(not enforced). Got {limit!r}."
                )
        for param, count in (("load_repeats", load_repeats), ("latency_calls", latency_calls),
                             ("batch_rows", batch_rows)):
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise InvalidArgument(
                    f"The {param!r} parameter of BudgetCheck must be an int >= 1. Got {count!r}."
                )
        self.max_artifact_mb = max_artifact_mb
        self.max_load_s = max_load_s
        self.max_latency_p99_ms = max_latency_p99_ms
        self.max_latency_p50_ms = max_latency_p50_ms
        self.max_batch_s = max_batch_s
        self.load_repeats = load_repeats
        self.latency_calls = latency_calls
        self.batch_rows = batch_rows

    def _run(self, ctx: Any) -> CheckResult:
        from mlpilot.sdk._registry import load

        size = ctx.candidate.artifact_size
        evidence: dict[str, Any] = {
            "artifact_size": _measure(size / _MB, self.max_artifact_mb, "MB", bytes=size),
        }
        try:
            loads = [_timed(lambda: load(ctx.candidate.ref, trust=ctx.config.get("trust"),
                                         context=ctx.context))
                     for _ in range(self.load_repeats)]
        except MlpilotError as exc:
            return self.result(Verdict.FAIL, f"{ctx.candidate.ref} cannot be loaded: "
                               f"{exc.message}", error=exc.message, **evidence)
        evidence["load_time"] = _measure(float(np.median(loads)), self.max_load_s, "s",
                                         samples=[round(s, 6) for s in loads])

        X, source = self._inputs(ctx)
        if X is None:
            evidence["latency"] = {"skipped": "no holdout and no reference profile to build "
                                   "input rows from"}
        else:
            evidence["inputs"] = {"source": source, "rows": len(X)}
            try:
                evidence.update(self._latency(ctx, X))
            except Exception as exc:  # a model that cannot predict blows every budget
                message = exc.message if isinstance(exc, MlpilotError) else str(exc)
                return self.result(Verdict.FAIL, f"{ctx.candidate.ref} failed to predict: "
                                   f"{type(exc).__name__}: {message}",
                                   error=f"{type(exc).__name__}: {message}", **evidence)

        over = [f"{key} {m['value']:g} {m['unit']} > {m['limit']:g} {m['unit']}"
                for key, m in evidence.items() if isinstance(m, dict) and m.get("passed") is False]
        if over:
            return self.result(Verdict.FAIL, "Over budget: " + "; ".join(over) + ".", **evidence)
        shown = [f"{key} {m['value']:.3g} {m['unit']}" for key, m in evidence.items()
                 if isinstance(m, dict) and "value" in m]
        return self.result(Verdict.PASS, "Within budget: " + ", ".join(shown) + ".", **evidence)

    def _inputs(self, ctx: Any) -> tuple[pd.DataFrame | None, str]:
        features = ctx.features
        if features is not None and len(features):
            return features, "holdout"
        return synthesize_inputs(ctx, 100, ctx.seed), "synthetic"

    def _latency(self, ctx: Any, X: pd.DataFrame) -> dict[str, Any]:
        predict = ctx.model.predict
        singles = [X.iloc[[i % len(X)]] for i in range(self.latency_calls)]
        for row in singles[:_WARMUP]:
            predict(row)
        times_ms = np.asarray([_timed(lambda row=row: predict(row)) for row in singles]) * 1e3
        rng = np.random.default_rng(ctx.seed)
        batch = X.iloc[rng.integers(0, len(X), self.batch_rows)] if len(X) < self.batch_rows \
            else X.iloc[:self.batch_rows]
        batches = [_timed(lambda: predict(batch)) for _ in range(_BATCH_REPEATS)]
        return {
            "latency_p50": _measure(float(np.percentile(times_ms, 50)), self.max_latency_p50_ms,
                                    "ms", calls=self.latency_calls),
            "latency_p99": _measure(float(np.percentile(times_ms, 99)), self.max_latency_p99_ms,
                                    "ms", calls=self.latency_calls),
            "batch_latency": _measure(float(np.median(batches)), self.max_batch_s, "s",
                                      rows=self.batch_rows),
        }
