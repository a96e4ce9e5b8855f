"""The controller, scenario by scenario: drift → retrain → check → canary → promote, a bad
candidate rolled back, a schema break sent to a human, budgets, approvals, and crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import mlpilot
from mlpilot.core.clock import utcnow
from mlpilot.core.entities import ModelVersion
from mlpilot.pilot.actions import approve_decision, decision_tags, request_retrain
from mlpilot.pilot.controller import Controller
from mlpilot.pilot.policy import ModelPolicy, parse_policy
from mlpilot.sdk._context import Context
from mlpilot.serve.inference_log import InferenceLog, InferenceRecord

N = 200


class Crash(BaseException):
    """Stands for the process dying: the controller does not catch it."""


class Clock:
    def __init__(self) -> None:
        self.now = utcnow() + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def frame(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    return x, (x["a"] + 0.1 * rng.normal(size=200) > 0).astype(int).to_numpy()


class Trainer:
    """Fits a small model and registers it tagged with the decision; may crash once."""

    def __init__(self, crash: str | None = None) -> None:
        self.calls = 0
        self.crash = crash  # "before" or "after" registering, the first time only

    def __call__(self, context: Context, model: str, policy: ModelPolicy, *, reason: str,
                 parent_version: int | None) -> ModelVersion:
        self.calls += 1
        if self.crash == "before" and self.calls == 1:
            raise Crash
        x, y = frame(self.calls)
        version = mlpilot.register(LogisticRegression().fit(x, y), model, training_data=x,
                                   tags=decision_tags(), parent_version=parent_version,
                                   description=reason, context=context)
        if self.crash == "after" and self.calls == 1:
            raise Crash
        return version


def slow_trainer(context: Context, model: str, policy: ModelPolicy, *, reason: str,
                 parent_version: int | None) -> ModelVersion:
    """For the subprocess test: registers, says so, then hangs until killed."""
    x, y = frame(7)
    version = mlpilot.register(LogisticRegression().fit(x, y), model, training_data=x,
                               tags=decision_tags(), context=context)
    Path(os.environ["PILOT_MARKER"]).write_text(str(version.version))
    time.sleep(120)
    return version


def pilot(**spec: Any) -> Any:
    base: dict[str, Any] = {"triggers": [{"type": "drift"}, {"type": "on_demand"}],
                            "checks": {"only": ["model_sanity"], "baseline": "none"},
                            "rollout": {"strategy": "canary", "steps": [0.5, 1.0],
                                        "min_step_seconds": 60}}
    return parse_policy({"models": {"m": {**base, **spec}}})


@pytest.fixture
def live(context: Context) -> Context:
    """Model ``m`` v1 in production, served by endpoint ``m``."""
    x, y = frame()
    mlpilot.register(LogisticRegression().fit(x, y), "m", training_data=x, context=context)
    context.store.set_alias("m", "production", 1)
    mlpilot.deploy("m", 1, context=context)
    return context


def drift(ctx: Context, key: str = "m:*:drift") -> int:
    alert, _ = ctx.store.raise_alert(key, model="m", kind="drift", severity="critical",
                                     title="Data drift on m", evidence={"share_drifted": 0.6})
    return alert.id


def write(log_dir: Path, version: int, start: datetime, *, error_rate: float = 0.0,
          route: str = "primary") -> None:
    with InferenceLog(log_dir) as log:
        for i in range(N):
            failed = i < round(N * error_rate)
            log.submit(InferenceRecord.create(
                "m", "m", version, request_id=f"v{version}-{start.timestamp()}-{i}",
                time=start + timedelta(seconds=10 * i / N),
                outputs={} if failed else {"predict": [i % 2]}, latency_ms=20.0 + i % 10,
                status=503 if failed else 200, route=route))
        log.flush()


def actions(ctx: Context) -> list[tuple[str, str]]:
    return [(d.action, d.outcome) for d in reversed(ctx.store.list_decisions(limit=1000))]


def test_drift_retrains_checks_canaries_and_promotes(live: Context, tmp_path: Path) -> None:
    clock, log_dir, trainer = Clock(), tmp_path / "log", Trainer()
    controller = Controller(live, pilot(), trainer=trainer, log_dir=log_dir, clock=clock)
    alert_id = drift(live)
    controller.run_once()
    retrain = live.store.list_decisions(action="retrain")[0]
    assert retrain.outcome == "applied" and retrain.actor == "autopilot"
    assert retrain.evidence["trigger_keys"] == [f"alert:{alert_id}"]
    assert retrain.evidence["firings"][0]["evidence"]["alert"] == alert_id
    check = live.store.list_decisions(action="check")[0]
    assert (check.outcome, check.outcome_detail["blessed"]) == ("applied", True)
    dep = live.store.get_deployment("m")
    assert dep.strategy == "canary" and [(r.version, r.weight) for r in dep.routes] == [
        (1, 0.5), (2, 0.5)]
    controller.run_once()  # the same alert again: no second retrain; the canary starts
    assert trainer.calls == 1
    for route in ("primary", "canary"):
        write(log_dir, 1 if route == "primary" else 2, clock.now, route=route)
    clock.advance(120)
    controller.run_once()  # → step to 100 %
    write(log_dir, 2, clock.now, route="canary")
    clock.advance(120)
    controller.run_once()  # → promote
    assert live.store.get_model("m").aliases["production"] == 2
    assert live.store.get_deployment("m").params["phase"] == "promoted"
    assert trainer.calls == 1
    got = [a for a in actions(live) if a[0] != "hold"]
    assert got == [("retrain", "applied"), ("check", "applied"), ("deploy", "applied"),
                   ("step", "applied"), ("promote", "applied")]


def test_bad_candidate_is_rolled_back(live: Context, tmp_path: Path) -> None:
    clock, log_dir = Clock(), tmp_path / "log"
    controller = Controller(live, pilot(), trainer=Trainer(), log_dir=log_dir, clock=clock)
    drift(live)
    controller.run_once()
    controller.run_once()
    write(log_dir, 1, clock.now)
    write(log_dir, 2, clock.now, route="canary", error_rate=0.5)
    clock.advance(120)
    controller.run_once()
    rollback = live.store.list_decisions(action="rollback")[0]
    assert rollback.outcome == "applied" and rollback.evidence["analysis"]["verdict"] == "fail"
    assert live.store.get_model("m").aliases["production"] == 1
    assert live.store.get_deployment("m").params["phase"] == "rolled_back"


def test_schema_break_asks_a_human_and_never_retrains(live: Context, tmp_path: Path) -> None:
    trainer = Trainer()
    controller = Controller(live, pilot(), trainer=trainer, log_dir=tmp_path / "log")
    quality, _ = live.store.raise_alert(
        "m:*:quality", model="m", kind="quality", severity="critical", title="Quality on m",
        evidence={"findings": [{"column": "b", "check": "missing_column", "count": 10}]})
    drift(live)
    controller.run_once()
    controller.run_once()
    assert trainer.calls == 0
    ask = live.store.list_decisions(action="ask_human")[0]
    assert ask.outcome == "pending" and ask.evidence["firing"]["evidence"]["alert"] == quality.id
    assert ask.evidence["firing"]["evidence"]["findings"][0]["column"] == "b"
    holds = live.store.list_decisions(action="hold")
    assert len(holds) == 1 and holds[0].evidence["hold"] == "schema"  # recorded once
    with pytest.raises(mlpilot.MlpilotError, match="nothing to approve"):
        approve_decision(live.store, ask.id, "alice")
    live.store.resolve_alert(quality.id, "column restored")
    controller.run_once()  # the break is gone: the drift alert now retrains
    assert trainer.calls == 1


def test_budget_exhausted_holds_with_evidence(live: Context, tmp_path: Path) -> None:
    trainer = Trainer()
    policy = pilot(budgets={"max_retrains_per_day": 1}, rollout={"strategy": "single"})
    controller = Controller(live, policy, trainer=trainer, log_dir=tmp_path / "log")
    first = drift(live)
    controller.run_once()
    assert trainer.calls == 1 and live.store.get_model("m").aliases["production"] == 2
    live.store.resolve_alert(first)
    drift(live)  # a new incident
    controller.run_once()
    controller.run_once()
    assert trainer.calls == 1
    holds = live.store.list_decisions(action="hold")
    assert len(holds) == 1 and holds[0].evidence["budget"]["retrains_24h"] == 1
    assert "retrain budget spent" in holds[0].reason


def test_approval_and_on_demand(live: Context, tmp_path: Path) -> None:
    trainer = Trainer()
    controller = Controller(live, pilot(approval=["retrain"]), trainer=trainer,
                            log_dir=tmp_path / "log")
    request = request_retrain(live.store, "m", "new features")
    controller.run_once()
    controller.run_once()
    assert trainer.calls == 0
    ask = live.store.list_decisions(action="ask_human")[0]
    assert ask.evidence["action"] == "retrain" and ask.evidence["trigger_keys"] == [
        f"request:{request.id}"]
    approve_decision(live.store, ask.id, "alice")
    controller.run_once()
    controller.run_once()
    assert trainer.calls == 1
    retrain = live.store.list_decisions(action="retrain")[0]
    assert retrain.evidence["approval"] == ask.id and "alice" in retrain.reason


def test_missing_trainer_fails_clearly(live: Context, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlpilot.train", None)
    controller = Controller(live, pilot(), log_dir=tmp_path / "log")
    drift(live)
    controller.run_once()
    controller.run_once()
    (retrain,) = live.store.list_decisions(action="retrain")
    assert retrain.outcome == "failed"
    assert "mlpilot.train.run_training is not available" in retrain.outcome_detail["error"]


@pytest.mark.parametrize("when", ["before", "after"])
def test_crash_mid_retrain_resumes_without_repeating(live: Context, tmp_path: Path,
                                                     when: str) -> None:
    trainer = Trainer(crash=when)
    drift(live)
    with pytest.raises(Crash):
        Controller(live, pilot(), trainer=trainer, log_dir=tmp_path / "log").run_once()
    (pending,) = live.store.list_decisions(action="retrain")
    assert pending.outcome == "pending"
    Controller(live, pilot(), trainer=trainer, log_dir=tmp_path / "log").run_once()
    assert trainer.calls == (1 if when == "after" else 2)
    (retrain,) = live.store.list_decisions(action="retrain")
    assert retrain.id == pending.id and retrain.outcome == "applied"
    assert retrain.outcome_detail.get("resumed", False) is (when == "after")
    assert [v.version for v in live.store.list_versions("m")] in ([1, 2], [2, 1])
    assert live.store.list_decisions(action="deploy")[0].outcome == "applied"


def test_killed_cli_resumes(live: Context, tmp_path: Path) -> None:
    (tmp_path / "mlpilot.yaml").write_text(
        "autopilot:\n  models:\n    m:\n      triggers: [{type: drift}]\n"
        "      checks: {only: [model_sanity], baseline: none}\n"
        "      rollout: {strategy: single}\n")
    marker = tmp_path / "trained"
    settings = live.settings
    env = {**os.environ, "MLPILOT_HOME": str(settings.home),
           "MLPILOT_STORE_URL": settings.store_url,
           "MLPILOT_ARTIFACT_URL": settings.artifact_url, "PILOT_MARKER": str(marker),
           "PYTHONPATH": str(Path(__file__).parent)}
    drift(live)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlpilot.cli.main", "autopilot", "--once", "--policy",
         str(tmp_path / "mlpilot.yaml"), "--trainer", "test_controller:slow_trainer"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    (pending,) = live.store.list_decisions(action="retrain")
    assert pending.outcome == "pending"
    trainer = Trainer()
    policy = pilot(rollout={"strategy": "single"})
    Controller(live, policy, trainer=trainer, log_dir=tmp_path / "log").run_once()
    assert trainer.calls == 0
    (retrain,) = live.store.list_decisions(action="retrain")
    assert retrain.outcome == "applied" and retrain.outcome_detail["resumed"] is True
    assert live.store.get_model("m").aliases["production"] == int(marker.read_text())
