"""The autopilot policy: YAML and Python, field-naming errors, cron and triggers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlpilot.core.entities import Alert, MetricPoint
from mlpilot.core.errors import InvalidArgument
from mlpilot.pilot.cron import Cron
from mlpilot.pilot.policy import ModelPolicy, load_policy, parse_policy
from mlpilot.pilot.triggers import Observation, evaluate, schema_breaks

YAML = """
autopilot:
  models:
    credit-risk:
      triggers:
        - {type: drift, min_severity: critical}
        - {type: performance, metric: accuracy, below: 0.8}
        - {type: schedule, cron: "0 3 * * 1"}
        - {type: new_data, dataset: credit-train}
        - {type: on_demand}
        - {type: concept_shift}
      training: {pipeline: pipelines/credit.yaml}
      checks: {only: [model_sanity]}
      rollout: {strategy: canary, steps: [0.1, 0.5, 1.0]}
      slos: {latency_p99_ms: 200}
      budgets: {max_retrains_per_day: 2, max_compute_seconds_per_day: 3600}
      approval: [promote]
"""
NOW = datetime(2024, 5, 8, 12, 0, tzinfo=UTC)  # a Wednesday


def alert(id: int, kind: str, severity: str = "warning", **evidence: object) -> Alert:
    return Alert(id=id, key=f"m:*:{kind}", model="m", deployment="", kind=kind,
                 severity=severity, status="open", title=f"{kind} on m", summary="",
                 evidence=dict(evidence), occurrences=1, first_seen=NOW, last_seen=NOW)


def test_yaml_policy_loads(tmp_path: Path) -> None:
    path = tmp_path / "mlpilot.yaml"
    path.write_text(YAML)
    policy = load_policy(path).get("credit-risk")
    assert policy.model == "credit-risk" and policy.deployment == "credit-risk"
    assert [t.type for t in policy.triggers] == ["drift", "performance", "schedule",
                                                 "new_data", "on_demand", "concept_shift"]
    assert policy.rollout.steps == [0.1, 0.5, 1.0]
    assert policy.budgets.max_retrains_per_day == 2
    assert policy.needs_approval("promote") and not policy.needs_approval("retrain")


def test_python_policy_has_defaults() -> None:
    policy = ModelPolicy(model="m")
    assert [t.type for t in policy.triggers] == ["on_demand"]
    assert policy.rollout.strategy == "canary" and policy.approval == []


@pytest.mark.parametrize(("spec", "match"), [
    ({"triggers": [{"type": "schedule", "cron": "61 * * * *"}]},
     r"models\.m\.triggers\.0\.schedule\.cron: .*minute"),
    ({"triggers": [{"type": "sometimes"}]}, r"models\.m\.triggers\.0: .*sometimes"),
    ({"budgets": {"max_retrains_per_day": -1}}, r"models\.m\.budgets\.max_retrains_per_day"),
    ({"rollout": {"steps": [0.5, 0.2]}}, r"models\.m\.rollout\.steps"),
    ({"approval": ["delete"]}, r"models\.m\.approval\.0"),
    ({"retrian": True}, r"models\.m\.retrian: Extra inputs"),
])
def test_invalid_fields_are_named(spec: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        parse_policy({"models": {"m": spec}})


def test_missing_or_bad_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="No autopilot policy file"):
        load_policy(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("autopilot: [")
    with pytest.raises(InvalidArgument, match="not valid YAML"):
        load_policy(tmp_path / "bad.yaml")
    with pytest.raises(InvalidArgument, match="no policy for model 'x'"):
        parse_policy({}).get("x")


def test_cron_latest_match() -> None:
    assert Cron("0 3 * * 1").latest(NOW) == datetime(2024, 5, 6, 3, 0, tzinfo=UTC)
    assert Cron("*/15 * * * *").latest(NOW.replace(minute=44)) == NOW.replace(minute=30)
    assert Cron("0 0 1 1 *").latest(NOW) == datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="5 fields"):
        Cron("* * *")


def test_triggers_fire_with_deterministic_keys() -> None:
    policy = parse_policy({"models": {"m": {"triggers": [
        {"type": "drift", "min_severity": "critical"},
        {"type": "performance", "metric": "accuracy", "below": 0.8},
        {"type": "schedule", "cron": "0 3 * * 1"}, {"type": "concept_shift"}]}}}).get("m")
    point = MetricPoint("m", "performance.accuracy", NOW, NOW, 0.7, id=9)
    obs = Observation("m", NOW, alerts=[alert(1, "drift", "warning"), alert(2, "performance")],
                      points=[point], since=datetime(2024, 5, 1, tzinfo=UTC))
    keys = [f.key for f in evaluate(policy.triggers, obs)]
    assert keys == ["alert:2", f"metric:performance.accuracy:{NOW.isoformat()}",
                    "schedule:0 3 * * 1:2024-05-06T03:00:00+00:00"]
    assert keys == [f.key for f in evaluate(policy.triggers, obs)]  # same state, same keys
    late = Observation("m", NOW, since=NOW)  # started after the last cron match
    assert evaluate(policy.triggers, late) == []


def test_schema_breaks_from_quality_alerts_and_skipped_columns() -> None:
    quality = alert(3, "quality", "critical",
                    findings=[{"column": "age", "check": "missing_column"},
                              {"column": "x", "check": "null_rate"}])
    skipped = MetricPoint("m", "drift.share", NOW, NOW, 0.0, id=4,
                          details={"skipped": {"age": "missing from the current window",
                                               "ts": "datetime column"}})
    found = schema_breaks(Observation("m", NOW, alerts=[quality], points=[skipped]))
    assert [f.key for f in found] == ["schema:alert:3", "schema:columns:age"]
    assert found[0].evidence["findings"] == [{"column": "age", "check": "missing_column"}]
