"""Loading monitoring windows from real inference logs, and the training reference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from mlpilot.core.errors import InvalidArgument, NotFound
from mlpilot.monitor.source import load_window, log_directories, reference_for
from mlpilot.sdk._context import Context
from mlpilot.sdk._registry import register
from mlpilot.serve.gateway.feedback import Feedback, feedback_dir, to_record
from mlpilot.serve.inference_log import InferenceLog, InferenceRecord, compact

T0 = datetime(2024, 5, 6, 10, tzinfo=UTC)


@pytest.fixture
def model(context: Context) -> str:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = (X["a"] > 0).astype(int)
    register(LogisticRegression().fit(X, y), "m", training_data=X.assign(label=y),
             alias="production", context=context)
    return "m"


def rec(rid: str, minute: int, features: dict, outputs: dict, **kw: object) -> InferenceRecord:
    return InferenceRecord(request_id=rid, time=T0 + timedelta(minutes=minute), deployment="d",
                           model="m", version=1, features=features, outputs=outputs, **kw)


def test_window_expands_batches_aligns_labels_and_reads_workers(
        context: Context, model: str, tmp_path: Path) -> None:
    root = tmp_path / "log"
    with InferenceLog(root) as log:
        log.submit(rec("one", 1, {"a": 0.5, "b": 1.0},
                       {"predict": [1], "predict_proba": [[0.2, 0.8]]}, latency_ms=5.0))
        log.submit(rec("batch", 2, {"a": [0.1, -0.2, 0.3], "b": [1.0, 2.0, 3.0]},
                       {"predict": [1, 0, 1], "predict_proba": [[0.4, 0.6], [0.7, 0.3],
                                                                [0.1, 0.9]]}))
        log.submit(rec("bad", 3, {"a": "x"}, {}, status=422, error="InvalidInput"))
        log.submit(rec("dark", 4, {"a": 1.0, "b": 1.0}, {"predict": [0]}, route="shadow"))
        log.submit(rec("late", 90, {"a": 1.0, "b": 1.0}, {"predict": [0]}))  # next window
    compact(root)  # the first records now live in Parquet partitions
    with InferenceLog(root / "worker-1") as log:
        log.submit(rec("w1", 5, {"a": -1.0, "b": 0.0},
                       {"predict": [0], "predict_proba": [[0.9, 0.1]]}, status=200))
    with InferenceLog(feedback_dir(root / "worker-1")) as log:  # label arrived elsewhere
        log.submit(to_record(Feedback("batch", 1, None, T0 + timedelta(minutes=30))))
        log.submit(to_record(Feedback("one", 0, None, T0 + timedelta(minutes=30))))
        log.submit(to_record(Feedback("one", 1, None, T0 + timedelta(minutes=40))))  # latest
    assert [p.name for p in log_directories(root)] == ["log", "worker-1"]

    w = load_window(context, "m", T0, T0 + timedelta(hours=1), log_dir=root)
    assert w.records == 4  # one + batch + bad (4xx) + w1; no shadow, no later window
    assert list(w.features.columns) == ["a", "b"] and len(w.features) == 5
    assert w.request_ids.tolist() == ["one", "batch", "batch", "batch", "w1"]
    assert w.predictions.tolist() == [1, 1, 0, 1, 0]
    assert w.features["b"].tolist() == [1.0, 1.0, 2.0, 3.0, 0.0]
    assert w.probabilities is not None and w.probabilities.shape == (5, 2)
    assert w.labels.tolist() == [1, 1, None, None, None]
    assert w.versions.tolist() == [1] * 5 and str(w.times.dt.tz) == "UTC"
    assert w.ops.requests == 4 and w.ops.client_errors == 1 and w.ops.latency_p50_ms is not None

    only = load_window(context, "m", T0, T0 + timedelta(hours=1), log_dir=root,
                       deployment="other")
    assert only.records == 0 and only.features.empty and only.probabilities is None


def test_bad_window_inputs(context: Context, model: str, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="nope"):
        load_window(context, "nope", T0, T0 + timedelta(hours=1), log_dir=tmp_path)
    with pytest.raises(InvalidArgument, match="must end after it starts"):
        load_window(context, "m", T0, T0, log_dir=tmp_path)
    with pytest.raises(InvalidArgument, match="'since' must be a datetime"):
        load_window(context, "m", "yesterday", T0, log_dir=tmp_path)  # type: ignore[arg-type]
    empty = load_window(context, "m", T0, T0 + timedelta(hours=1), log_dir=tmp_path / "none")
    assert empty.records == 0 and empty.ops.throughput_rps == 0


def test_reference_is_the_training_profile_without_the_target(context: Context,
                                                              model: str) -> None:
    ref = reference_for(context, "m")
    assert ref.version == 1 and ref.features == ["a", "b"]
    assert [c["name"] for c in ref.schema["columns"]] == ["a", "b"]
    assert ref.target == "label" and len(ref.labels) == 200 and list(ref.frame.columns) == \
        ["a", "b"]
    assert ref.task == "classification" and ref.classes == [0, 1]
    small = reference_for(context, "m", 1, max_rows=10)
    assert small.frame is None and small.profile is not None and small.notes
    with pytest.raises(NotFound):
        reference_for(context, "m", 7)


def test_window_columns_keep_their_types_and_missing_values(
        context: Context, model: str, tmp_path: Path) -> None:
    root = tmp_path / "log"
    with InferenceLog(root) as log:
        log.submit(rec("x", 1, {"a": 1, "c": "u"}, {"predict": [1]}))
        log.submit(rec("y", 2, {"a": None, "b": 2.5}, {"predict": [0]}))
        log.submit(rec("z", 3, {"a": [3, 4], "b": [None, 1.0]}, {"predict": [1, 1]}))
        log.submit(rec("e", 4, {}, {"predict": [1]}))  # no features: counted, no rows
    compact(root)
    with InferenceLog(root) as log:  # one more, still in a live segment
        log.submit(rec("w", 5, {"c": "v"}, {"predict": [0]}, latency_ms=7.0))
    w = load_window(context, "m", T0, T0 + timedelta(hours=1), log_dir=root)
    assert w.records == 5 and w.request_ids.tolist() == ["x", "y", "z", "z", "w"]
    assert list(w.features.columns) == ["a", "c", "b"]
    assert w.features["a"].fillna(-1).tolist() == [1, -1, 3, 4, -1]
    assert w.features["b"].isna().tolist() == [True, False, True, False, True]
    assert w.features["c"].fillna("").tolist() == ["u", "", "", "", "v"]
    assert w.predictions.tolist() == [1, 0, 1, 1, 0] and w.probabilities is None
    assert w.labels.isna().all() and w.ops.latency_p99_ms is not None
