"""Deployment windows: a non-urgent candidate waits for the quietest forecast hour of a
daily traffic cycle (resumably); an urgent one deploys at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import mlpilot
from mlpilot.core.clock import utcnow
from mlpilot.core.entities import ModelVersion
from mlpilot.pilot.actions import decision_tags
from mlpilot.pilot.controller import Controller
from mlpilot.pilot.policy import ModelPolicy, WindowSpec, parse_policy
from mlpilot.pilot.scheduling import is_urgent, plan_window
from mlpilot.sdk._context import Context
from mlpilot.serve.inference_log import InferenceLog, InferenceRecord

QUIET_IN = 5  # hours from now to the quiet hour of the synthetic cycle


class Clock:
    def __init__(self) -> None:
        self.now = utcnow() + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now


def daily_traffic(now: datetime, days: int = 3) -> list[datetime]:
    """Requests of the past ``days``: 40 an hour, 4 in the hour QUIET_IN hours after now's."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    quiet = (hour.hour + QUIET_IN) % 24
    out = []
    for h in range(days * 24, 0, -1):
        start = hour - timedelta(hours=h)
        n = 4 if start.hour == quiet else 40
        out += [start + timedelta(seconds=3600 * i / n) for i in range(n)]
    return out


def test_urgency() -> None:
    assert is_urgent([{"trigger": "on_demand"}])
    assert is_urgent([{"trigger": "drift", "evidence": {"severity": "critical"}}])
    assert not is_urgent([{"trigger": "drift", "evidence": {"severity": "warning"}}])
    assert not is_urgent([{"trigger": "schedule"}, {"trigger": "new_data"}])
    assert not is_urgent([{"trigger": "performance", "evidence": {"metric": "accuracy"}}])


def test_plan_picks_the_quiet_hour_or_now() -> None:
    now = datetime(2024, 5, 8, 10, 20, tzinfo=UTC)
    spec = WindowSpec(duration=timedelta(minutes=30), deadline=timedelta(hours=24))
    plan = plan_window(daily_traffic(now), now, spec)
    assert plan.wait and plan.start == datetime(2024, 5, 8, 15, tzinfo=UTC)
    assert plan.evidence["expected_requests_in_window"] == pytest.approx(2.0)
    assert plan.evidence["expected_requests_if_now"] == pytest.approx(20.0)
    # a deadline before the quiet hour: the best start within it
    early = plan_window(daily_traffic(now), now, WindowSpec(deadline=timedelta(hours=2)))
    assert early.start <= now + timedelta(hours=2)
    # no history to forecast from: at once, and the evidence says why
    bare = plan_window([], now, spec)
    assert not bare.wait and "deploying now" in bare.evidence["note"]


def test_window_policy_validation() -> None:
    policy = parse_policy({"models": {"m": {"rollout": {"window": {
        "duration": "45m", "deadline": "12h", "seasonality": "weekly"}}}}})
    window = policy.get("m").rollout.window
    assert window is not None and window.duration == timedelta(minutes=45)
    with pytest.raises(mlpilot.MlpilotError, match=r"rollout.window.deadline"):
        parse_policy({"models": {"m": {"rollout": {"window": {"deadline": "soon"}}}}})


def frame(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    return x, (x["a"] > 0).astype(int).to_numpy()


class Trainer:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, context: Context, model: str, policy: ModelPolicy, *, reason: str,
                 parent_version: int | None) -> ModelVersion:
        self.calls += 1
        x, y = frame(self.calls)
        return mlpilot.register(LogisticRegression().fit(x, y), model, training_data=x,
                                tags=decision_tags(), parent_version=parent_version,
                                context=context)


@pytest.fixture
def live(context: Context, tmp_path: Path) -> tuple[Context, Clock, Path]:
    """``m`` v1 live on endpoint ``m``, with three days of daily-cycle traffic logged."""
    x, y = frame()
    mlpilot.register(LogisticRegression().fit(x, y), "m", training_data=x, context=context)
    context.store.set_alias("m", "production", 1)
    mlpilot.deploy("m", 1, context=context)
    clock, log_dir = Clock(), tmp_path / "log"
    with InferenceLog(log_dir) as log:
        for i, t in enumerate(daily_traffic(clock.now)):
            log.submit(InferenceRecord.create("m", "m", 1, request_id=f"r{i}", time=t,
                                              outputs={"predict": [0]}, latency_ms=10.0))
        log.flush()
    return context, clock, log_dir


def policy() -> Any:
    return parse_policy({"models": {"m": {
        "triggers": [{"type": "drift"}],
        "checks": {"only": ["model_sanity"], "baseline": "none"},
        "rollout": {"strategy": "canary", "steps": [0.5, 1.0],
                    "window": {"duration": "30m", "deadline": "24h"}}}}})


def drift(ctx: Context, severity: str) -> None:
    ctx.store.raise_alert(f"m:*:drift:{severity}", model="m", kind="drift", severity=severity,
                          title="Data drift on m", evidence={"share_drifted": 0.5})


def test_a_non_urgent_candidate_waits_for_the_quiet_hour(
        live: tuple[Context, Clock, Path]) -> None:
    ctx, clock, log_dir = live
    trainer = Trainer()
    drift(ctx, "warning")
    Controller(ctx, policy(), trainer=trainer, log_dir=log_dir, clock=clock).run_once()
    (hold,) = ctx.store.list_decisions(action="hold", target_kind="model")
    quiet = clock.now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=QUIET_IN)
    assert hold.outcome == "pending" and hold.evidence["hold"] == "window"
    assert datetime.fromisoformat(hold.evidence["scheduled_for"]) == quiet
    assert hold.evidence["window"]["expected_requests_in_window"] < \
        hold.evidence["window"]["expected_requests_if_now"]
    assert ctx.store.list_decisions(action="deploy") == []
    assert ctx.store.get_deployment("m").strategy == "single"

    clock.now = quiet - timedelta(minutes=5)  # a restarted autopilot, still too early
    Controller(ctx, policy(), trainer=trainer, log_dir=log_dir, clock=clock).run_once()
    assert ctx.store.list_decisions(action="deploy") == [] and trainer.calls == 1

    clock.now = quiet + timedelta(minutes=1)
    Controller(ctx, policy(), trainer=trainer, log_dir=log_dir, clock=clock).run_once()
    (deploy,) = ctx.store.list_decisions(action="deploy")
    assert deploy.outcome == "applied" and deploy.evidence["window_hold"] == hold.id
    (hold,) = ctx.store.list_decisions(action="hold", target_kind="model")
    assert hold.outcome == "applied" and hold.outcome_detail["deploy"] == deploy.id
    dep = ctx.store.get_deployment("m")
    assert dep.strategy == "canary" and [r.version for r in dep.routes] == [1, 2]
    assert trainer.calls == 1


def test_an_urgent_candidate_deploys_at_once(live: tuple[Context, Clock, Path]) -> None:
    ctx, clock, log_dir = live
    drift(ctx, "critical")
    Controller(ctx, policy(), trainer=Trainer(), log_dir=log_dir, clock=clock).run_once()
    assert [d.action for d in ctx.store.list_decisions(action="hold")] == []
    (deploy,) = ctx.store.list_decisions(action="deploy")
    assert deploy.outcome == "applied" and "window" not in deploy.evidence
    assert ctx.store.get_deployment("m").strategy == "canary"


def test_an_urgent_alert_supersedes_a_waiting_candidate(
        live: tuple[Context, Clock, Path]) -> None:
    ctx, clock, log_dir = live
    trainer = Trainer()
    drift(ctx, "warning")
    Controller(ctx, policy(), trainer=trainer, log_dir=log_dir, clock=clock).run_once()
    drift(ctx, "critical")
    Controller(ctx, policy(), trainer=trainer, log_dir=log_dir, clock=clock).run_once()
    (hold,) = ctx.store.list_decisions(action="hold", target_kind="model")
    assert hold.outcome == "superseded"
    (deploy,) = ctx.store.list_decisions(action="deploy")
    assert deploy.evidence["version"] == 3 and trainer.calls == 2
