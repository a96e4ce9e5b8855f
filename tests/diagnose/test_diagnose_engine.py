"""The engine on DataFrames: drift × importance, slices, timeline, report."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from mlpilot.core.entities import Event
from mlpilot.diagnose import (
    DiagnoseOptions,
    diagnose_frames,
    find_slices,
    stored_importances,
    timeline,
    write_diagnosis,
)

Ref = tuple[pd.DataFrame, np.ndarray]
Make = Callable[..., Ref]
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_drifted_important_feature_is_the_top_cause(reference: Ref, model: Pipeline,
                                                    make_frame: Make) -> None:
    window, _ = make_frame(1500, seed=2, income_shift=8.0)
    d = diagnose_frames(reference[0], window, model=model)
    assert d.top is not None and d.top.kind == "drift" and d.top.subject == "income"
    assert d.importance_method == "shap-tree"
    assert max(d.importances, key=d.importances.get) == "income"
    assert d.top.evidence["importance"] == pytest.approx(d.importances["income"])
    assert {"income"} <= set(d.curves) and d.curves["income"]["kind"] == "cdf"


def test_ignored_drifted_feature_ranks_below_important_one(reference: Ref, model: Pipeline,
                                                           make_frame: Make) -> None:
    # noise moves by a full standard deviation, income by less; the model ignores noise
    window, _ = make_frame(1500, seed=3, income_shift=4.0, noise_shift=1.0)
    d = diagnose_frames(reference[0], window, model=model)
    drift = {c.subject: c for c in d.of_kind("drift")}
    assert {"income", "noise"} <= set(drift)
    assert drift["noise"].evidence["effect_size"] > drift["income"].evidence["effect_size"]
    assert drift["income"].score > drift["noise"].score
    ranks = [c.subject for c in d.causes]
    assert ranks.index("income") < ranks.index("noise")


def test_importances_from_the_check_report_are_used(reference: Ref, make_frame: Make) -> None:
    report = {"results": [{"check": "explainability",
                           "evidence": {"importances": {"income": 0.1, "noise": 0.9}}}]}
    weights = stored_importances(report)
    assert weights == pytest.approx({"income": 0.1, "noise": 0.9})
    window, _ = make_frame(1500, seed=4, income_shift=8.0, noise_shift=1.0)
    d = diagnose_frames(reference[0], window, importances=weights,
                        importance_method="check_report",
                        options=DiagnoseOptions(attribution=False))
    assert d.importance_method == "check_report"
    assert d.top is not None and d.top.subject == "noise"  # as the stored weights say


def test_errors_concentrated_in_north_give_the_worst_slice(reference: Ref, model: Pipeline,
                                                           make_frame: Make) -> None:
    window, y = make_frame(2000, seed=5)
    pred = model.predict(window)
    rng = np.random.default_rng(6)
    labels = y.astype(float)
    north = (window["region"] == "north").to_numpy()
    wrong = north & (rng.random(len(window)) < 0.5)
    labels[wrong] = 1 - pred[wrong]
    labels[rng.random(len(window)) < 0.1] = np.nan  # feedback that never arrived
    d = diagnose_frames(reference[0], window, model=model, predictions=pred, labels=labels)
    worst = d.of_kind("slice")[0]
    assert worst.subject == "region=north"
    labelled_north = int((north & ~np.isnan(labels)).sum())
    assert worst.evidence["support"] == labelled_north
    assert worst.evidence["metric"] == "error_rate"
    assert worst.evidence["slice_value"] > 2 * worst.evidence["rest_value"]
    assert worst.evidence["p_value_adjusted"] < 0.05
    assert d.window["labelled_rows"] == int((~np.isnan(labels)).sum())


def test_no_slice_without_a_real_effect(make_frame: Make) -> None:
    window, _ = make_frame(2000, seed=7)
    errors = (np.random.default_rng(8).random(len(window)) < 0.2).astype(float)
    assert find_slices(window, errors) == []


def _event(i: int, action: str, target_kind: str, target: str, time: datetime,
           **payload: object) -> Event:
    return Event(id=i, time=time, actor="tester", action=action, target_kind=target_kind,
                 target=target, reason="", payload=dict(payload))


def test_alias_move_before_the_alert_is_in_the_timeline(reference: Ref, make_frame: Make) -> None:
    alert_time = T0
    events = [
        _event(1, "alias.set", "model", "credit", alert_time - timedelta(hours=1),
               alias="production", **{"from": 1, "to": 2}),
        _event(2, "alias.set", "model", "other", alert_time - timedelta(minutes=5),
               alias="production"),
        _event(3, "dataset.register", "dataset", "d1", alert_time - timedelta(hours=20),
               name="credit-training"),
        _event(4, "deployment.put", "deployment", "credit-live",
               alert_time - timedelta(days=3)),  # outside the lookback
        _event(5, "run.create", "run", "r1", alert_time - timedelta(minutes=1)),
    ]
    window, _ = make_frame(500, seed=9)
    d = diagnose_frames(reference[0], window, events=events, alert_time=alert_time,
                        model_name="credit", options=DiagnoseOptions(attribution=False))
    event_causes = d.of_kind("event")
    assert [c.subject for c in event_causes] == ["alias.set credit", "dataset.register d1"]
    alias = event_causes[0]
    assert alias.evidence["gap_seconds"] == pytest.approx(3600)
    assert alias.score == pytest.approx(0.5 ** (1 / 6))
    assert "1 to 2" in alias.summary and "60 min" in alias.summary


def test_schema_change_raises_a_new_versions_relevance() -> None:
    events = [_event(1, "version.create", "version", "credit/3", T0 - timedelta(hours=2))]
    plain = timeline(events, T0, model="credit")
    changed = timeline(events, T0, model="credit",
                       schema_of=lambda e: {"added": ["zip"], "removed": [], "retyped": {}})
    assert changed[0]["score"] > plain[0]["score"]
    assert changed[0]["schema_change"]["added"] == ["zip"]


def test_report_has_an_svg_per_top_drifted_feature(reference: Ref, model: Pipeline,
                                                   tmp_path: Path, make_frame: Make) -> None:
    window, _ = make_frame(1500, seed=10, income_shift=8.0, noise_shift=1.0)
    window["region"] = np.where(np.arange(len(window)) % 2 == 0, "north", window["region"])
    d = diagnose_frames(reference[0], window, model=model)
    top = [c.subject for c in d.of_kind("drift")]
    assert {"income", "noise", "region"} <= set(top)
    paths = write_diagnosis(d, tmp_path / "out")
    html = paths["diagnosis.html"].read_text()
    for feature in top:
        block = re.search(rf'<div class="plot" data-feature="{feature}">(.*?)</div>', html)
        assert block is not None and block.group(1).startswith("<svg")
    assert 'class="reference"' in html and 'class="window"' in html  # CDF overlay
    data = json.loads(paths["diagnosis.json"].read_text())
    assert data["causes"][0]["subject"] == d.causes[0].subject
    json.dumps(data, allow_nan=False)


def test_user_strings_are_escaped_in_the_report(reference: Ref, tmp_path: Path,
                                                make_frame: Make) -> None:
    ref = reference[0].rename(columns={"noise": "<b>x</b>"})
    window, _ = make_frame(1000, seed=11, noise_shift=2.0)
    window = window.rename(columns={"noise": "<b>x</b>"})
    d = diagnose_frames(ref, window, options=DiagnoseOptions(attribution=False))
    html = write_diagnosis(d, tmp_path)["diagnosis.html"].read_text()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
