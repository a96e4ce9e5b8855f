"""The monitor end to end: a registered model, real inference logs, the real store."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from mlpilot.core.errors import InvalidArgument, NotFound
from mlpilot.monitor.runner import (
    Monitor,
    MonitorConfig,
    WindowOutcome,
    alert_signals,
    parse_duration,
)
from mlpilot.sdk._context import Context
from mlpilot.sdk._registry import register
from mlpilot.serve.gateway.feedback import Feedback, feedback_dir, to_record
from mlpilot.serve.inference_log import InferenceLog, InferenceRecord

T0 = datetime(2024, 3, 4, tzinfo=UTC)
HOUR = timedelta(hours=1)
CONFIG = MonitorConfig(min_baseline_points=3, n_resamples=50)


def make_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x1": rng.normal(0, 1, n), "x2": rng.normal(0, 1, n),
                         "x3": rng.normal(5, 2, n), "city": rng.choice(["oslo", "rome"], n)})


def truth(frame: pd.DataFrame, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed + 1000).normal(0, 0.5, len(frame))
    return (frame["x1"] + 0.5 * frame["x2"] + noise > 0).astype(int).to_numpy()


def fit(frame: pd.DataFrame, y: np.ndarray) -> Any:
    ct = make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["city"]),
                                 ("passthrough", ["x1", "x2", "x3"]))
    return make_pipeline(ct, LogisticRegression()).fit(frame, y)


def traffic(model: Any, log_dir: Path, hours: Iterable[int], *, name: str = "churn",
            rows: int = 120, shift: dict[int, float] | None = None,
            latency: dict[int, float] | None = None) -> dict[str, int]:
    """Hourly single-row requests; returns request id -> true label."""
    labels: dict[str, int] = {}
    with InferenceLog(log_dir) as log:
        for h in hours:
            frame = make_frame(rows, seed=100 + h)
            y = truth(frame, 100 + h)
            frame["x1"] += (shift or {}).get(h, 0.0)
            preds, proba = model.predict(frame), model.predict_proba(frame)
            lat = np.random.default_rng(h).normal((latency or {}).get(h, 10.0), 1.0, rows)
            for i, row in enumerate(frame.to_dict("records")):
                rid = f"{name}-{h}-{i}"
                log.submit(InferenceRecord(
                    request_id=rid, time=T0 + h * HOUR + timedelta(seconds=i * 3600 / rows),
                    deployment="live", model=name, version=1, features=row,
                    outputs={"predict": [int(preds[i])], "predict_proba": [proba[i].tolist()]},
                    latency_ms=float(lat[i]), route="primary"))
                labels[rid] = int(y[i])
    return labels


def send_feedback(log_dir: Path, labels: dict[str, int], when: datetime) -> None:
    with InferenceLog(feedback_dir(log_dir)) as log:
        for rid, label in labels.items():
            log.submit(to_record(Feedback(rid, label, None, when)))


@pytest.fixture
def setup(context: Context, tmp_path: Path) -> tuple[Any, Path]:
    frame = make_frame(1500, seed=0)
    y = truth(frame, 0)
    model = fit(frame, y)
    register(model, "churn", training_data=frame.assign(y=y), alias="production",
             context=context)
    return model, tmp_path / "log"


def _alerts(context: Context, kind: str) -> list[Any]:
    return [a for a in context.store.list_alerts(model="churn") if a.kind == kind]


def test_monitor_end_to_end(context: Context, setup: tuple[Any, Path]) -> None:
    model, log_dir = setup
    labels = traffic(model, log_dir, range(6), shift={3: 1.5, 4: 1.5, 5: 1.5})
    mon = Monitor(context, "churn", deployment="live", window="1h", log_dir=log_dir,
                  config=CONFIG)
    first = mon.run_once(now=T0 + 6 * HOUR + timedelta(minutes=5))
    assert first.windows_processed == 6 and first.points_written > 0
    store = context.store
    share = store.list_metric_points("churn", name="drift.share", deployment="live")
    assert [p.window_start for p in share] == [T0 + h * HOUR for h in range(6)]
    assert all(p.value > 0 for p in share[3:]) and share[0].value == 0
    x1 = store.list_metric_points("churn", name="drift.ks", feature="x1")
    assert len(x1) == 6 and x1[4].details["drifted"] and not x1[0].details["drifted"]
    assert len(store.list_metric_points("churn", name="prediction_drift")) == 6
    assert len(store.list_metric_points("churn", name="quality.null_rate", feature="x2")) == 6
    assert len(store.list_metric_points("churn", name="ops.latency_p99_ms")) == 6
    est = store.list_metric_points("churn", name="estimated.accuracy")
    assert len(est) == 6 and 0.5 < est[0].value <= 1
    assert store.list_metric_points("churn", name="performance.*") == []  # no labels yet

    drift = _alerts(context, "drift")
    assert len(drift) == 1, [a.key for a in drift]
    alert = drift[0]
    assert alert.key == "churn:live:drift" and alert.occurrences >= 3
    assert alert.evidence["features"][0]["feature"] == "x1"
    assert first.alerts_opened >= 1

    again = mon.run_once(now=T0 + 6 * HOUR + timedelta(minutes=30))
    assert again.windows_processed == 0 and again.points_written == 0
    assert again.alerts_opened == again.alerts_updated == 0
    assert store.get_alert(alert.id).occurrences == alert.occurrences

    labels |= traffic(model, log_dir, [6], shift={6: 3.0})
    later = mon.run_once(now=T0 + 7 * HOUR)
    assert later.windows_processed == 1
    updated = store.get_alert(alert.id)
    assert updated.occurrences == alert.occurrences + 1 and len(_alerts(context, "drift")) == 1
    assert updated.evidence["window_start"] == (T0 + 6 * HOUR).isoformat()
    assert updated.evidence["features"][0]["effect_size"] > \
        alert.evidence["features"][0]["effect_size"]

    send_feedback(log_dir, labels, T0 + 7 * HOUR + timedelta(minutes=1))
    late = mon.run_once(now=T0 + 7 * HOUR + timedelta(minutes=2))
    assert late.windows_processed == 0 and len(late.rescored) == 7
    acc = store.list_metric_points("churn", name="performance.accuracy")
    assert len(acc) == 7 and all(0.75 < p.value <= 1 for p in acc[:3])
    assert acc[6].value < acc[0].value  # labels did not follow the shifted inputs
    assert _alerts(context, "performance")[0].severity == "critical"
    assert acc[0].details["coverage"] == 1.0 and acc[0].details["lower"] < acc[0].value
    assert mon.run_once(now=T0 + 7 * HOUR + timedelta(minutes=3)).rescored == []

    traffic(model, log_dir, [7], latency={7: 500.0})
    spike = mon.run_once(now=T0 + 8 * HOUR)
    ops = _alerts(context, "latency")
    assert len(ops) == 1 and ops[0].key == "churn:live:latency"
    assert ops[0].severity == "critical" and ops[0].evidence["verdict"] == "high"
    assert spike.to_dict()["windows"][0]["ops_verdicts"]["ops.latency_p99_ms"] == "high"


def test_first_window_reference_without_training_data(context: Context,
                                                      tmp_path: Path) -> None:
    frame = make_frame(300, seed=1)
    model = fit(frame, truth(frame, 1))
    register(model, "bare", input_example=frame.head(50), context=context)
    log_dir = tmp_path / "log"
    traffic(model, log_dir, range(3), name="bare", shift={2: 3.0})
    result = Monitor(context, "bare", log_dir=log_dir, config=CONFIG).run_once(
        now=T0 + 3 * HOUR)
    assert result.windows_processed == 3
    assert context.store.list_metric_points("bare", name="drift.*") == []
    pred = context.store.list_metric_points("bare", name="prediction_drift")
    assert [p.window_start for p in pred] == [T0 + HOUR, T0 + 2 * HOUR]
    assert pred[-1].details["reference"].startswith("first monitored window")
    assert pred[-1].details["drifted"] and any("no training dataset" in n for n in result.notes)


def test_busy_cursor_is_not_processed_twice(context: Context,
                                            setup: tuple[Any, Path]) -> None:
    model, log_dir = setup
    traffic(model, log_dir, range(2), rows=40)
    a = Monitor(context, "churn", log_dir=log_dir, config=CONFIG)
    b = Monitor(context, "churn", log_dir=log_dir, config=CONFIG)
    key = a.key
    context.store.set_monitor_cursor(key, {"until": None, "pending": [], "claim": {
        "owner": "someone-else", "until": (T0 + HOUR).isoformat(),
        "expires": (datetime.now(UTC) + HOUR).isoformat()}})
    assert a.run_once(now=T0 + 2 * HOUR).skipped == "busy"
    context.store.set_monitor_cursor(key, {"until": None, "pending": []})
    assert a.run_once(now=T0 + 2 * HOUR).windows_processed == 2
    assert b.run_once(now=T0 + 2 * HOUR).windows_processed == 0
    assert "claim" not in context.store.get_monitor_cursor(key)


def test_bad_inputs_are_clear(context: Context, setup: tuple[Any, Path]) -> None:
    with pytest.raises(NotFound, match="nope"):
        Monitor(context, "nope")
    with pytest.raises(InvalidArgument, match="positive"):
        Monitor(context, "churn", window="0s")
    with pytest.raises(InvalidArgument, match="duration"):
        parse_duration("an hour")
    with pytest.raises(InvalidArgument, match="'min_rows' parameter"):
        MonitorConfig(min_rows=0)
    assert parse_duration("1h30m") == timedelta(minutes=90)


def test_alert_rules_group_per_incident() -> None:
    w = WindowOutcome(T0, T0 + HOUR, records=10, rows=10)
    assert alert_signals("m", None, w, MonitorConfig()) == []


def test_performance_is_provisional_until_labels_are_final(context: Context,
                                                           setup: tuple[Any, Path]) -> None:
    model, log_dir = setup
    labels = traffic(model, log_dir, range(2))
    wrong = {rid: 1 - y for rid, y in labels.items()}  # the model is now always wrong
    batches = [dict(list(wrong.items())[i::10]) for i in range(10)]
    mon = Monitor(context, "churn", deployment="live", window="1h", log_dir=log_dir,
                  config=CONFIG)
    assert mon.run_once(now=T0 + 2 * HOUR).windows_processed == 2
    store = context.store

    def accuracy() -> list[Any]:
        return store.list_metric_points("churn", name="performance.accuracy")

    send_feedback(log_dir, {k: v for b in batches[:4] for k, v in b.items()},
                  T0 + 2 * HOUR + timedelta(minutes=1))
    first = mon.run_once(now=T0 + 2 * HOUR + timedelta(minutes=2))
    assert len(first.rescored) == 2 and first.points_written > 0
    acc = accuracy()
    assert [p.window_start for p in acc] == [T0, T0 + HOUR]
    assert all(p.details["provisional"] and p.details["coverage"] == 0.4 for p in acc)
    (alert,) = _alerts(context, "performance")
    assert alert.severity == "critical" and alert.occurrences == 2
    assert alert.evidence["final"] is False

    send_feedback(log_dir, {k: v for b in batches[4:7] for k, v in b.items()},
                  T0 + 2 * HOUR + timedelta(minutes=3))
    more = mon.run_once(now=T0 + 2 * HOUR + timedelta(minutes=4))
    assert len(more.rescored) == 2
    acc = accuracy()
    assert len(acc) == 2 and all(p.details["coverage"] == 0.7 and p.details["provisional"]
                                 for p in acc)
    assert store.get_alert(alert.id).occurrences == 2  # same verdict: not counted again

    send_feedback(log_dir, {k: v for b in batches[7:] for k, v in b.items()},
                  T0 + 2 * HOUR + timedelta(minutes=5))
    final = mon.run_once(now=T0 + 2 * HOUR + timedelta(minutes=6))
    assert len(final.rescored) == 2
    acc = accuracy()
    assert len(acc) == 2 and all(p.details["coverage"] == 1.0 and not p.details["provisional"]
                                 and p.value < 0.5 for p in acc)
    coverage = store.list_metric_points("churn", name="labels.coverage")
    assert [p.value for p in coverage] == [1.0, 1.0]
    done = store.get_alert(alert.id)
    assert done.occurrences == 4 and done.evidence["final"] is True
    assert mon.run_once(now=T0 + 2 * HOUR + timedelta(minutes=7)).rescored == []
    assert store.get_monitor_cursor(mon.key)["pending"] == []


def test_first_runs_race_for_the_cursor(context: Context, setup: tuple[Any, Path],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    model, log_dir = setup
    traffic(model, log_dir, range(1), rows=40)
    a = Monitor(context, "churn", log_dir=log_dir, config=CONFIG)
    b = Monitor(context, "churn", log_dir=log_dir, config=CONFIG)
    real_read = a._lease.read

    def read_then_lose() -> Any:
        cursor = real_read()  # None: a first run ...
        b.run_once(now=T0 + HOUR)  # ... but another monitor creates the cursor meanwhile
        return cursor

    monkeypatch.setattr(a._lease, "read", read_then_lose)
    assert a.run_once(now=T0 + HOUR).skipped == "busy"
    assert context.store.get_monitor_cursor(a.key)["until"] == (T0 + HOUR).isoformat()


def test_a_version_filtered_monitor_names_its_version_in_alerts(
        context: Context, setup: tuple[Any, Path]) -> None:
    model, log_dir = setup
    traffic(model, log_dir, range(4), shift={2: 1.5, 3: 1.5})
    Monitor(context, "churn", deployment="live", window="1h", log_dir=log_dir, version=1,
            config=CONFIG).run_once(now=T0 + 4 * HOUR + timedelta(minutes=5))
    (alert,) = _alerts(context, "drift")
    assert alert.evidence["version"] == 1  # the diagnosis reads the same version's traffic
