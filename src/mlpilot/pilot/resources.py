"""Resource advice: profile a version, size its serving, predict a new version's profile.

* :func:`profile_version` measures latency (p50/p99 per call) for each batch size ×
  concurrency, in-process with threads, and the peak memory a batch allocates
  (``tracemalloc``; numpy reports its buffers to it) plus the process RSS.
* :func:`recommend` turns a profile into replicas, a micro-batch size
  (``batch_max_rows``) and an autoscaling target (ongoing requests per replica).
* :func:`predict_profile` estimates a not-yet-profiled version's latency from its
  characteristics (trees, depth, features, artifact size) by a ridge regression of
  log-latency on previously profiled versions.

Sizing model (stated so the advice can be checked): a replica has
``cpu_per_replica`` cores, each running one batch at a time with the service time
measured at concurrency 1; a replica is loaded to at most ``target_utilization``
(ρ); the p99 estimate is ``batch fill wait + service p99 + queueing wait`` with the
queueing wait ``service mean · ρ / (1 − ρ)`` (M/D/1-like, doubled for the tail).
"""

from __future__ import annotations

import math
import os
import pickle
import threading
import time
import tracemalloc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.core.errors import InvalidArgument
from mlpilot.core.jsonsafe import json_safe

__all__ = ["Advice", "Profile", "ProfileCell", "characteristics", "predict_profile",
           "profile_version", "recommend"]

CHARACTERISTICS = ("n_estimators", "max_depth", "n_features", "artifact_size")


@dataclass(frozen=True)
class ProfileCell:
    """Latency of calls with ``batch_size`` rows from ``concurrency`` threads at once."""

    batch_size: int
    concurrency: int
    calls: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    rows_per_s: float


@dataclass(frozen=True)
class Profile:
    """A version's measured (or predicted) performance.

    Attributes:
        cells: one per batch size × concurrency.
        peak_memory_bytes: per batch size, the peak Python/numpy allocation of one call.
        rss_bytes: the process's resident memory after profiling (``None`` if unknown).
        model_bytes: the pickled model's size (``None`` if it does not pickle).
        characteristics: see :func:`characteristics`.
        predicted: True when estimated by :func:`predict_profile`, not measured.
        note: how it was obtained and how far to trust it.
    """

    cells: tuple[ProfileCell, ...]
    peak_memory_bytes: dict[int, int] = field(default_factory=dict)
    rss_bytes: int | None = None
    model_bytes: int | None = None
    characteristics: dict[str, float] = field(default_factory=dict)
    predicted: bool = False
    note: str = ""

    def cell(self, batch_size: int, concurrency: int = 1) -> ProfileCell:
        """The cell for ``batch_size`` at the concurrency nearest ``concurrency``.

        Raises:
            KeyError: the batch size was not profiled.
        """
        same = [c for c in self.cells if c.batch_size == batch_size]
        if not same:
            raise KeyError(f"Batch size {batch_size} was not profiled. Available: "
                           f"{self.batch_sizes}.")
        return min(same, key=lambda c: (abs(c.concurrency - concurrency), c.concurrency))

    @property
    def batch_sizes(self) -> list[int]:
        """The profiled batch sizes, ascending."""
        return sorted({c.batch_size for c in self.cells})

    def to_dict(self) -> dict[str, Any]:
        """Strict JSON."""
        return json_safe({**asdict(self), "peak_memory_bytes": {
            str(k): v for k, v in self.peak_memory_bytes.items()}})


def _rss() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _unwrap(model: Any) -> Any:
    """The estimator inside a RegisteredModel / LoadedModel / Pipeline, if reachable."""
    for attr in ("model", "raw"):
        inner = getattr(model, attr, None)
        inner = inner() if callable(inner) and attr == "raw" else inner
        if inner is not None and inner is not model and hasattr(inner, "predict"):
            return _unwrap(inner)
    steps = getattr(model, "steps", None)
    return _unwrap(steps[-1][1]) if steps else model


def characteristics(model: Any, *, artifact_size: int | None = None) -> dict[str, float]:
    """Size features of a fitted model: trees, their max depth, input features, bytes.

    Linear models count as 1 estimator of depth 1. ``artifact_size`` defaults to the
    pickled size.
    """
    est = _unwrap(model)
    trees = getattr(est, "estimators_", None)
    n_est = len(trees) if trees is not None and hasattr(trees, "__len__") else 1
    depth = 1
    flat = np.ravel(np.asarray(trees, dtype=object)) if trees is not None else []
    depths = [getattr(getattr(t, "tree_", None), "max_depth", None) for t in flat]
    if any(d is not None for d in depths):
        depth = max(d for d in depths if d is not None)
    elif getattr(est, "tree_", None) is not None:
        depth = est.tree_.max_depth
    n_features = getattr(est, "n_features_in_", None) or getattr(model, "n_features_in_", 0)
    if artifact_size is None:
        try:
            artifact_size = len(pickle.dumps(est))
        except Exception:  # noqa: BLE001 - any unpicklable model: size unknown
            artifact_size = 0
    return {"n_estimators": float(n_est), "max_depth": float(depth),
            "n_features": float(n_features or 0), "artifact_size": float(artifact_size)}


def _batch(frame: pd.DataFrame, size: int) -> pd.DataFrame:
    reps = math.ceil(size / len(frame))
    return pd.concat([frame] * reps, ignore_index=True).iloc[:size]


def profile_version(
    model: Any,
    sample_frame: pd.DataFrame,
    *,
    batch_sizes: Sequence[int] = (1, 8, 32, 128),
    concurrency: Sequence[int] = (1, 4, 8),
    duration_s: float = 0.5,
    min_calls: int = 5,
    predict: Callable[[pd.DataFrame], Any] | None = None,
    artifact_size: int | None = None,
) -> Profile:
    """Measure latency per batch size × concurrency, and memory per batch size.

    Each cell runs ``concurrency`` threads calling ``predict`` on a batch of
    ``batch_size`` rows (the sample's rows repeated) for ``duration_s`` seconds and
    at least ``min_calls`` calls per thread, after one warm-up call.

    Args:
        model: anything with ``predict(frame)`` (a fitted estimator, ``mlpilot.load``'s
            result).
        sample_frame: representative input rows (at least one).
        batch_sizes, concurrency: the grid (positive integers).
        duration_s: seconds per cell.
        min_calls: calls per thread at least.
        predict: the call to time (default ``model.predict``), e.g. the gateway's path.
        artifact_size: the stored artifact's size, for :func:`characteristics`.

    Raises:
        InvalidArgument: an empty sample, a non-positive grid value or duration.
    """
    if not isinstance(sample_frame, pd.DataFrame) or sample_frame.empty:
        raise InvalidArgument("profile_version needs a non-empty pandas DataFrame sample.")
    for name, grid in (("batch_sizes", batch_sizes), ("concurrency", concurrency)):
        if not grid or any(not isinstance(v, int) or v < 1 for v in grid):
            raise InvalidArgument(f"{name} must be positive integers. Got {list(grid)!r}.")
    if not duration_s > 0:
        raise InvalidArgument(f"duration_s must be positive. Got {duration_s!r}.")
    call = predict or model.predict
    cells: list[ProfileCell] = []
    memory: dict[int, int] = {}
    for b in sorted(set(batch_sizes)):
        batch = _batch(sample_frame, b)
        call(batch)  # warm-up (lazy init, caches)
        tracemalloc.start()
        try:
            call(batch)
            memory[b] = int(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        for c in sorted(set(concurrency)):
            cells.append(_measure(call, batch, b, c, duration_s, min_calls))
    try:
        model_bytes: int | None = len(pickle.dumps(_unwrap(model)))
    except Exception:  # noqa: BLE001 - unpicklable: unknown
        model_bytes = None
    return Profile(tuple(cells), memory, _rss(), model_bytes,
                   characteristics(model, artifact_size=artifact_size),
                   note=f"measured in-process, {duration_s:g} s per cell, {os.cpu_count()} CPUs")


def _measure(call: Callable[[pd.DataFrame], Any], batch: pd.DataFrame, b: int, c: int,
             duration_s: float, min_calls: int) -> ProfileCell:
    latencies: list[list[float]] = [[] for _ in range(c)]
    start_gate = threading.Barrier(c)
    deadline: list[float] = [0.0]

    def worker(i: int) -> None:
        start_gate.wait()
        if i == 0:
            deadline[0] = time.perf_counter() + duration_s
        while True:
            t = time.perf_counter()
            call(batch)
            latencies[i].append((time.perf_counter() - t) * 1000.0)
            if len(latencies[i]) >= min_calls and time.perf_counter() >= (deadline[0] or t):
                break

    began = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(c)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    lat = np.concatenate([np.asarray(v) for v in latencies])
    return ProfileCell(b, c, int(lat.size), float(np.percentile(lat, 50)),
                       float(np.percentile(lat, 99)), float(lat.mean()),
                       float(lat.size * b / max(elapsed, 1e-9)))


@dataclass(frozen=True)
class Advice:
    """Serving advice for one version at a request rate and a p99 SLO.

    Attributes:
        feasible: whether any option meets the SLO.
        replicas: replicas to run at ``request_rate``.
        batch_max_rows: the gateway's micro-batch size.
        batch_wait_ms: the longest a request waits for its batch to fill.
        target_ongoing_requests: the autoscaler's target per replica (Ray Serve's
            ``target_ongoing_requests``).
        min_replicas, max_replicas: autoscaling bounds (max: room for 2× the rate).
        estimated_p99_ms: the model's p99 estimate at that setting.
        utilization: the load per replica at ``request_rate`` (ρ).
        reasoning: the steps, in words.
    """

    feasible: bool
    replicas: int
    batch_max_rows: int
    batch_wait_ms: float
    target_ongoing_requests: int
    min_replicas: int
    max_replicas: int
    estimated_p99_ms: float
    utilization: float
    request_rate: float
    p99_slo_ms: float
    cpu_per_replica: int
    reasoning: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Strict JSON."""
        return json_safe(asdict(self))


def _option(profile: Profile, b: int, rate: float, slo: float, cpu: int, rho_max: float,
            max_replicas: int) -> tuple[int, float, float, float, float] | None:
    cell = profile.cell(b, 1)
    mean_s = max(cell.mean_ms, 1e-6) / 1000.0
    capacity = cpu * b / mean_s  # rows/s per replica
    replicas = max(1, math.ceil(rate / (capacity * rho_max)))
    while replicas <= max_replicas:
        rho = rate / (replicas * capacity)
        per_replica = rate / replicas
        fill_ms = min((b - 1) / per_replica * 1000.0, slo) if b > 1 else 0.0
        queue_ms = 2.0 * cell.mean_ms * rho / max(1.0 - rho, 1e-6)
        p99 = fill_ms + cell.p99_ms + queue_ms
        if p99 <= slo:
            return replicas, rho, fill_ms, p99, capacity
        replicas += 1
    return None


def recommend(profile: Profile, *, request_rate: float, p99_slo_ms: float,
              cpu_per_replica: int = 1, target_utilization: float = 0.7,
              max_replicas: int = 1000) -> Advice:
    """Replicas, micro-batch size and autoscaling target that meet a p99 SLO.

    Every profiled batch size is tried; for each, the fewest replicas keeping ρ ≤
    ``target_utilization`` and the p99 estimate ≤ the SLO. The option with the
    fewest replicas wins (then the lowest p99).

    Raises:
        InvalidArgument: a non-positive rate, SLO or CPU count, or ρ outside (0, 1).
    """
    for name, value in (("request_rate", request_rate), ("p99_slo_ms", p99_slo_ms),
                        ("cpu_per_replica", cpu_per_replica)):
        if not (isinstance(value, int | float) and value > 0 and math.isfinite(value)):
            raise InvalidArgument(f"{name} must be a positive number. Got {value!r}.")
    if not 0 < target_utilization < 1:
        raise InvalidArgument(f"target_utilization must be in (0, 1). Got "
                              f"{target_utilization!r}.")
    options = []
    for b in profile.batch_sizes:
        opt = _option(profile, b, request_rate, p99_slo_ms, cpu_per_replica,
                      target_utilization, max_replicas)
        if opt is not None:
            options.append((opt[0], opt[3], b, opt))
    single = profile.cell(profile.batch_sizes[0], 1)
    lines = [f"service time at batch {single.batch_size}: p50 {single.p50_ms:.2f} ms, "
             f"p99 {single.p99_ms:.2f} ms ({'predicted' if profile.predicted else 'measured'})"]
    if not options:
        lines.append(f"no batch size meets p99 {p99_slo_ms:g} ms even with {max_replicas} "
                     "replicas: the model is too slow for this SLO; make it faster or relax "
                     "the SLO")
        return Advice(False, max_replicas, profile.batch_sizes[0], 0.0, 1, 1, max_replicas,
                      single.p99_ms, 1.0, float(request_rate), float(p99_slo_ms),
                      cpu_per_replica, tuple(lines))
    replicas, p99, b, (_, rho, fill_ms, _, capacity) = min(options)
    cell = profile.cell(b, 1)
    in_flight = (request_rate / replicas) * (cell.mean_ms + fill_ms) / 1000.0
    target = max(1, math.ceil(in_flight / max(rho, 1e-6) * target_utilization))
    lines += [
        f"batch {b}: {cell.mean_ms:.2f} ms per batch → {capacity:,.0f} rows/s per replica "
        f"({cpu_per_replica} CPU)",
        f"{request_rate:g} req/s at ρ ≤ {target_utilization:g} → {replicas} replica(s), "
        f"ρ = {rho:.2f}",
        f"p99 ≈ fill {fill_ms:.1f} + service {cell.p99_ms:.1f} + queue "
        f"{p99 - fill_ms - cell.p99_ms:.1f} = {p99:.1f} ms ≤ {p99_slo_ms:g} ms",
        f"autoscale on {target} ongoing request(s) per replica (Little's law at ρ = "
        f"{target_utilization:g})",
    ]
    if profile.predicted:
        lines.append(f"profile predicted, not measured: {profile.note}")
    return Advice(True, replicas, b, round(fill_ms, 3), target, 1,
                  max(replicas, math.ceil(2 * request_rate / (capacity * target_utilization))),
                  round(p99, 3), round(rho, 4), float(request_rate), float(p99_slo_ms),
                  cpu_per_replica, tuple(lines))


def _features(ch: Mapping[str, Any]) -> np.ndarray:
    return np.array([math.log1p(float(ch.get(k, 0) or 0)) for k in CHARACTERISTICS])


def predict_profile(characteristics: Mapping[str, Any],
                    history: Sequence[Profile]) -> Profile:
    """Estimate a profile (concurrency 1) for a model from profiled ones.

    For each batch size profiled in every history entry, log(p50) and log(p99) are
    regressed (ridge) on ``log1p`` of :data:`CHARACTERISTICS`. With fewer than 3
    profiles the nearest one (in that feature space) is returned, scaled by the
    ratio of estimators, and the note says so.

    Raises:
        InvalidArgument: an empty history or no batch size common to all of it.
    """
    from sklearn.linear_model import Ridge

    history = [p for p in history if p.cells]
    if not history:
        raise InvalidArgument("predict_profile needs at least one profiled version.")
    common = sorted(set.intersection(*(set(p.batch_sizes) for p in history)))
    if not common:
        raise InvalidArgument("The profiled versions share no batch size.")
    target = _features(characteristics)
    x = np.array([_features(p.characteristics) for p in history])
    cells = []
    if len(history) < 3:
        nearest = history[int(np.argmin(((x - target) ** 2).sum(axis=1)))]
        ratio = (float(characteristics.get("n_estimators", 1) or 1)
                 / max(nearest.characteristics.get("n_estimators", 1) or 1, 1.0))
        for b in common:
            c = nearest.cell(b, 1)
            cells.append(ProfileCell(b, 1, 0, c.p50_ms * ratio, c.p99_ms * ratio,
                                     c.mean_ms * ratio, c.rows_per_s / ratio))
        note = (f"low confidence: only {len(history)} profiled version(s); scaled the nearest "
                "one by its number of estimators — profile the version to be sure")
    else:
        mu, sd = x.mean(axis=0), x.std(axis=0)
        sd[sd <= 0] = 1.0
        xs, ts = (x - mu) / sd, ((target - mu) / sd)[None, :]
        errors = []
        for b in common:
            preds = {}
            for what in ("p50_ms", "p99_ms", "mean_ms"):
                y = np.log([max(getattr(p.cell(b, 1), what), 1e-6) for p in history])
                reg = Ridge(alpha=1.0).fit(xs, y)
                preds[what] = float(math.exp(reg.predict(ts)[0]))
                if what == "p50_ms":
                    errors.append(float(np.sqrt(np.mean((reg.predict(xs) - y) ** 2))))
            cells.append(ProfileCell(b, 1, 0, preds["p50_ms"], preds["p99_ms"],
                                     preds["mean_ms"], b / max(preds["mean_ms"], 1e-6) * 1000))
        err = math.expm1(max(errors))
        level = "low" if len(history) < 2 * len(CHARACTERISTICS) else (
            "medium" if err > 0.3 else "high")
        note = (f"{level} confidence: ridge on {len(history)} profiled versions, in-sample "
                f"error ~{err:.0%}")
    return Profile(tuple(cells), {}, None, None, {k: float(characteristics.get(k, 0) or 0)
                                                  for k in CHARACTERISTICS},
                   predicted=True, note=note)
