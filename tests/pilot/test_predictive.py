"""Predictive rollback: a canary whose latency trends toward its SLO is rolled back before
it crosses; a flat one is not. Early signals of past rollouts weigh each canary step."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import mlpilot
from mlpilot.core.clock import utcnow
from mlpilot.pilot.controller import Controller
from mlpilot.pilot.policy import parse_policy
from mlpilot.sdk._context import Context
from mlpilot.serve.inference_log import InferenceLog, InferenceRecord

SLO = 200.0


class Clock:
    def __init__(self) -> None:
        self.now = utcnow() + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now


def pilot(**rollout: Any) -> Any:
    return parse_policy({"models": {"m": {
        "triggers": [{"type": "on_demand"}], "slos": {"latency_p99_ms": SLO},
        "rollout": {"strategy": "canary", "steps": [0.5, 1.0], "min_step_seconds": 3600,
                    "predictive": {"horizon": "30m", "confidence": 0.9, "bucket_seconds": 60,
                                   "min_points": 5}, **rollout}}}})


@pytest.fixture
def canary(context: Context) -> Context:
    """``m`` v1 in production; v2 a canary at 50 % on endpoint ``m``."""
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=100), "b": rng.normal(size=100)})
    y = (x["a"] > 0).astype(int)
    for _ in range(2):
        mlpilot.register(LogisticRegression().fit(x, y), "m", training_data=x, context=context)
    context.store.set_alias("m", "production", 1)
    mlpilot.deploy("m", 1, context=context)
    mlpilot.deploy("m", 2, strategy="canary", params={"steps": [0.5, 1.0]}, context=context)
    return context


def serve(log_dir: Path, start: datetime, minutes: int,
          latency: Any, *, per_minute: int = 30, seed: int = 0) -> None:
    """Both versions answer ``per_minute`` requests a minute; ``latency(version, minute)``."""
    rng = np.random.default_rng(seed)
    with InferenceLog(log_dir) as log:
        for minute in range(minutes):
            for i in range(per_minute):
                for version, route in ((1, "primary"), (2, "canary")):
                    log.submit(InferenceRecord.create(
                        "m", "m", version, request_id=f"{version}-{minute}-{i}",
                        time=start + timedelta(minutes=minute, seconds=2 * i),
                        outputs={"predict": [i % 2]}, route=route, status=200,
                        latency_ms=float(latency(version, minute) + rng.uniform(-3, 3))))
        log.flush()


def test_latency_trending_to_the_slo_is_rolled_back_before_it_crosses(
        canary: Context, tmp_path: Path) -> None:
    clock, log_dir = Clock(), tmp_path / "log"
    start = clock.now
    serve(log_dir, start, 12, lambda v, m: 50.0 if v == 1 else 60.0 + 8.0 * m)
    clock.now = start + timedelta(minutes=12)
    Controller(canary, pilot(), log_dir=log_dir, clock=clock).run_once()

    (rollback,) = canary.store.list_decisions(action="rollback")
    assert rollback.outcome == "applied" and rollback.target == "m"
    ev = rollback.evidence
    assert ev["predictive"] is True and ev["metric"] == "latency_p99_ms" and ev["slo"] == SLO
    assert ev["source"] == "inference_log" and ev["series"]["n"] >= 10
    assert ev["forecast"]["already_past"] is False  # not crossed yet: rolled back before
    assert max(ev["series"]["values"]) < SLO
    assert ev["forecast"]["crossing_probability"] >= 0.9
    assert ev["forecast"]["slope"] > 0
    crossing = datetime.fromisoformat(ev["forecast"]["crossing_time"])
    assert clock.now < crossing < clock.now + timedelta(minutes=30)
    assert "before it breaks its latency_p99_ms SLO" in rollback.reason
    dep = canary.store.get_deployment("m")
    assert dep.params["phase"] == "rolled_back"
    assert [(r.version, r.weight) for r in dep.routes] == [(1, 1.0), (2, 0.0)]
    assert canary.store.get_model("m").aliases["production"] == 1
    # the next pass finds a finished rollout: nothing more
    Controller(canary, pilot(), log_dir=log_dir, clock=clock).run_once()
    assert len(canary.store.list_decisions(action="rollback")) == 1


def test_a_flat_healthy_canary_is_not_rolled_back(canary: Context, tmp_path: Path) -> None:
    clock, log_dir = Clock(), tmp_path / "log"
    start = clock.now
    serve(log_dir, start, 12, lambda v, m: 50.0)
    clock.now = start + timedelta(minutes=12)
    Controller(canary, pilot(), log_dir=log_dir, clock=clock).run_once()
    assert canary.store.list_decisions(action="rollback") == []
    dep = canary.store.get_deployment("m")
    assert "phase" not in dep.params and [r.weight for r in dep.routes] == [0.5, 0.5]


def test_approval_gates_a_predictive_rollback(canary: Context, tmp_path: Path) -> None:
    clock, log_dir = Clock(), tmp_path / "log"
    start = clock.now
    serve(log_dir, start, 12, lambda v, m: 50.0 if v == 1 else 60.0 + 8.0 * m)
    clock.now = start + timedelta(minutes=12)
    policy = parse_policy({"models": {"m": {
        **pilot().get("m").model_dump(mode="json", exclude={"model"}),
        "approval": ["rollback"]}}})
    Controller(canary, policy, log_dir=log_dir, clock=clock).run_once()
    assert canary.store.list_decisions(action="rollback") == []
    (ask,) = canary.store.list_decisions(action="ask_human")
    assert ask.evidence["action"] == "rollback" and ask.evidence["canary"]["predictive"]
    mlpilot.pilot.approve_decision(canary.store, ask.id, "alice")
    Controller(canary, policy, log_dir=log_dir, clock=clock).run_once()
    assert canary.store.list_decisions(action="rollback")[0].outcome == "applied"


def past_rollouts(context: Context) -> None:
    """Six finished rollouts on other endpoints: slow canaries failed, others promoted."""
    for i, (ratio, failed) in enumerate([(1.9, True), (2.1, True), (1.7, True),
                                         (1.0, False), (0.95, False), (1.05, False)]):
        target = f"old-{i}"
        checks = [{"name": "latency", "statistic": ratio, "verdict": "pass"},
                  {"name": "error_rate", "statistic": 0.0, "verdict": "pass"}]
        context.store.record_decision("step", "deployment", target, reason="step",
                                      evidence={"analysis": {"checks": checks}},
                                      outcome="applied")
        context.store.record_decision("rollback" if failed else "promote", "deployment",
                                      target, reason="done", outcome="applied")


@pytest.mark.parametrize("threshold", [None, 1e-6])
def test_early_signals_weigh_each_canary_step(canary: Context, tmp_path: Path,
                                              threshold: float | None) -> None:
    past_rollouts(canary)
    clock, log_dir = Clock(), tmp_path / "log"
    start = clock.now
    serve(log_dir, start, 3, lambda v, m: 20.0 + 10 * (m % 2), per_minute=80)
    clock.now = start + timedelta(minutes=3)
    policy = pilot(min_step_seconds=60, predictive={"max_failure_probability": threshold})
    Controller(canary, policy, log_dir=log_dir, clock=clock).run_once()
    (decision,) = [d for d in canary.store.list_decisions(target_kind="deployment",
                                                          target="m")
                   if d.action in ("step", "hold")]
    signal = decision.evidence["early_signal"]
    assert 0 < signal["failure_probability"] < 0.5  # a healthy canary: like the good ones
    assert signal["model"]["n_train"] == 6 and signal["model"]["n_failed"] == 3
    if threshold is None:
        assert decision.action == "step" and decision.outcome == "applied"
    else:
        assert decision.action == "hold" and decision.evidence["held_by_early_signal"] == "step"
        assert "past rollouts with these early signals failed" in decision.reason
        assert [r.weight for r in canary.store.get_deployment("m").routes] == [0.5, 0.5]
