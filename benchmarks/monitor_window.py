"""Micro-benchmark: loading one monitoring window (``load_window``), column-wise vs record-wise.

The data: ``--requests`` logged requests (100,000 by default) in one hour of one model,
written through :class:`~mlpilot.serve.inference_log.InferenceLog` into a temporary log:
8 features (6 numeric, 2 categorical), 10% batch requests of 4 rows, outputs
``predict`` + ``predict_proba``, 1% server and 1% client errors, 2% shadow traffic, and
feedback for a fifth of the requests. Two layouts are timed: live segments, and the same
log compacted into Parquet partitions.

* ``columnar`` — the current :func:`mlpilot.monitor.source._load_window` (the log read
  column-wise by ``read_frame``, JSON decoded in bulk by orjson, batches expanded per
  column, operations metrics from the columns);
* ``records`` — the previous implementation, re-implemented below from git history:
  ``read_records`` yields one :class:`InferenceRecord` at a time, then
  ``features_frame``, a per-record loop and ``ops_metrics``.

Both read the feedback themselves. The two results are checked equal before timing.
The best of ``--repeat`` runs is reported.

Run::

    .venv/bin/python benchmarks/monitor_window.py [--requests 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.monitor.baseline import ops_metrics
from mlpilot.monitor.quality import _is_batch, features_frame
from mlpilot.monitor.source import (
    EXCLUDED_ROUTES,
    FEEDBACK_MARGIN,
    WindowData,
    _clean_label,
    _label_rows,
    _load_window,
    _rows_of,
    log_directories,
    read_labels,
)
from mlpilot.serve.gateway.feedback import Feedback, feedback_dir, to_record
from mlpilot.serve.inference_log import InferenceLog, InferenceRecord, compact, read_records

T0 = datetime(2024, 6, 3, 10, tzinfo=UTC)
MODEL = "bench"


def write_log(root: Path, n: int, seed: int = 0) -> None:
    """``n`` requests in ``[T0, T0 + 1h)`` and feedback for a fifth of them."""
    rng = np.random.default_rng(seed)
    cities = np.array(["oslo", "rome", "lima", "pune", "kobe"])
    labels: dict[str, int] = {}
    with InferenceLog(root, capacity=n + 1) as log:
        for i in range(n):
            rid = f"r{i}"
            rows = 4 if i % 10 == 0 else 1
            x = rng.normal(size=(rows, 6))
            feats: dict[str, Any] = {f"x{j}": x[:, j].tolist() for j in range(6)}
            feats["city"] = rng.choice(cities, rows).tolist()
            feats["tier"] = rng.integers(0, 3, rows).tolist()
            if rows == 1:
                feats = {k: v[0] for k, v in feats.items()}
            p = rng.uniform(size=rows)
            status = 500 if i % 100 == 7 else 422 if i % 100 == 8 else 200
            outputs = {"predict": (p > 0.5).astype(int).tolist(),
                       "predict_proba": np.column_stack([1 - p, p]).tolist()} \
                if status == 200 else {}
            log.submit(InferenceRecord(
                request_id=rid, time=T0 + timedelta(seconds=i * 3600 / n), deployment="live",
                model=MODEL, version=1, features=feats, outputs=outputs,
                latency_ms=float(rng.gamma(2.0, 5.0)), status=status,
                route="shadow" if i % 50 == 3 else "production"))
            if i % 5 == 0:
                labels[rid] = int(rng.integers(0, 2))
    with InferenceLog(feedback_dir(root), capacity=len(labels) + 1) as log:
        for rid, label in labels.items():
            log.submit(to_record(Feedback(rid, label, None, T0 + timedelta(minutes=70))))


def load_window_records(root: Path, since: datetime, until: datetime) -> WindowData:
    """The record-by-record loader this change replaced (its body, from git history)."""
    served = [r for d in log_directories(root)
              if (d / "segments").is_dir() or (d / "parquet").is_dir()
              for r in read_records(d, since=since, until=until, model=MODEL)
              if r.route not in EXCLUDED_ROUTES and r.model == MODEL]
    served.sort(key=lambda r: (r.time_us, r.request_id))
    labels = read_labels(root, since=since - FEEDBACK_MARGIN) if served else {}
    ok = [r for r in served if r.status < 400 and r.features]
    frame = features_frame(ok, include_failed=False).reset_index(drop=True).infer_objects()
    preds: list[Any] = []
    probas: list[Any] = []
    ids: list[str] = []
    vers: list[Any] = []
    times: list[datetime] = []
    ys: list[Any] = []
    for r in ok:
        n = _is_batch(r.features)
        n = 1 if n is None else n
        rows, proba = _rows_of(r.outputs, n)
        preds.extend(rows)
        probas.extend(proba if proba is not None else [None] * n)
        ids.extend([r.request_id] * n)
        vers.extend([r.version] * n)
        times.extend([r.time] * n)
        label = _clean_label(labels.get(r.request_id)) if r.request_id in labels else None
        ys.extend(_label_rows(label, n) if label is not None else [None] * n)
    probabilities = None
    if probas and all(p is not None for p in probas) and len({len(p) for p in probas}) == 1:
        probabilities = np.asarray(probas, dtype=np.float64)
    predictions = pd.Series(preds, dtype=object, name="prediction")
    if len(predictions):
        predictions = predictions.infer_objects()
    return WindowData(
        model=MODEL, deployment=None, since=since, until=until, records=len(served),
        features=frame, predictions=predictions, probabilities=probabilities,
        labels=pd.Series(ys, dtype=object, name="label"),
        request_ids=pd.Series(ids, dtype=object, name="request_id"),
        versions=pd.Series(vers, dtype="Int64", name="version"),
        times=pd.Series(pd.to_datetime(times, utc=True), name="time"),
        ops=ops_metrics(served, since, until))


def load_window_columnar(root: Path, since: datetime, until: datetime) -> WindowData:
    # The context is only needed to check the model and find the default log directory.
    return _load_window(None, MODEL, since, until, log_dir=root,  # type: ignore[arg-type]
                        check_model=False)


def check_equal(a: WindowData, b: WindowData) -> None:
    pd.testing.assert_frame_equal(a.features, b.features)
    for name in ("predictions", "labels", "request_ids", "versions", "times"):
        pd.testing.assert_series_equal(getattr(a, name), getattr(b, name), check_index=False)
    assert a.records == b.records and a.ops == b.ops
    assert a.probabilities is not None and b.probabilities is not None
    np.testing.assert_array_equal(a.probabilities, b.probabilities)


def best_of(fn: Any, root: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(root, T0, T0 + timedelta(hours=1))
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "log"
        write_log(root, args.requests)
        for layout in ("segments", "parquet"):
            if layout == "parquet":
                compact(root)
            new = load_window_columnar(root, T0, T0 + timedelta(hours=1))
            check_equal(new, load_window_records(root, T0, T0 + timedelta(hours=1)))
            old_s = best_of(load_window_records, root, args.repeat)
            new_s = best_of(load_window_columnar, root, args.repeat)
            print(f"{layout:8s} {args.requests} requests ({new.rows} rows): "
                  f"records {old_s:.3f} s, columnar {new_s:.3f} s, "
                  f"speed-up {old_s / new_s:.1f}x")


if __name__ == "__main__":
    main()
