"""Smoke test of the drift gauntlet: the quick run produces every metric, not the targets."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

gauntlet = pytest.importorskip("benchmarks.gauntlet.run")
STRATEGIES = ("never", "scheduled", "threshold", "autopilot", "oracle")
METRICS = ("accuracy", "extra_errors_vs_oracle", "retrains", "mttr_events", "bad_requests")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("gauntlet") / "report.json"
    gauntlet.main(["--quick", "--no-evidently", "--json", str(out)])
    return json.loads(out.read_text())


def test_every_scenario_has_every_strategy_metric(report: dict) -> None:
    expected = {"covariate_sudden", "gradual", "recurring", "concept", "label_shift",
                "dq_unit", "dq_null", "control", "bad_deploy"}
    assert expected <= set(report["scenarios"])
    for name in report["scenarios"]:
        rows = report["strategies"][name]
        assert set(rows) == set(STRATEGIES), name
        for strategy, row in rows.items():
            for metric in METRICS:
                assert metric in row, (name, strategy, metric)
            assert 0.0 <= row["accuracy"] <= 1.0
            assert row["retrains"] >= 0
        assert rows["oracle"]["extra_errors_vs_oracle"] == 0
        assert rows["never"]["retrains"] == 0


def test_detectors_report_delays_and_control_false_alarms(report: dict) -> None:
    detectors = report["detectors"]
    control = detectors["control"]
    assert "oracle CUSUM" in control and "mlpilot CUSUM" in control
    for row in control.values():
        assert math.isfinite(row["false_alarms_per_100k"]) and row["events"] > 0
    for name, meta in report["scenarios"].items():
        if not meta["change_points"]:
            continue
        rows = detectors[name]
        assert {"oracle CUSUM", "mlpilot drift_report", "mlpilot CUSUM",
                "mlpilot autopilot (first trigger)"} <= set(rows)
        for row in rows.values():
            assert "delay" in row and "alarms_before_change" in row
            assert row["delay"] is None or row["delay"] >= 0


def test_bad_deploy_and_summary(report: dict) -> None:
    bad = report["strategies"]["bad_deploy"]
    assert bad["oracle"]["bad_requests"] == 0
    assert bad["never"]["bad_requests"] > 0
    assert 0 <= bad["autopilot"]["bad_share_while_live"] <= 1
    summary = report["summary"]
    assert set(summary["extra_errors_total"]) == set(STRATEGIES)
    assert "median_delay_over_oracle" in summary
