"""The bandit engine: rewards from the inference log + feedback move traffic in the store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mlpilot
from mlpilot.core.clock import utcnow
from mlpilot.delivery import BanditController, DiscountedThompsonBandit, new_feedback
from mlpilot.sdk._context import Context

Serve = Callable[..., list[str]]

FLOOR = 0.05


def deploy(ctx: Context, **params: object) -> None:
    mlpilot.deploy("m", 2, strategy="bandit", name="m-live", params={"seed": 11, **params},
                   context=ctx)


def weights(ctx: Context) -> dict[int, float]:
    return {r.version: r.weight for r in ctx.store.get_deployment("m-live").routes}


def traffic_round(ctx: Context, serve: Serve, log_dir: Path, clock: Any,
                  rates: dict[int, float], rng: np.random.Generator, prefix: str,
                  n: int = 200) -> int:
    """Serve ``n`` requests split by the current weights; labels right with ``rates``."""
    served = 0
    for version, weight in weights(ctx).items():
        k = round(n * weight)
        labels = [int(rng.random() < rates[version]) for _ in range(k)]
        serve(log_dir, version, clock.now, labels, prefix)
        served += k
    clock.advance(60)
    return served


def test_traffic_moves_to_the_better_version_and_rewards_count_once(
        two: Context, tmp_path: Path, clock: Any, serve: Serve,
        send_feedback: Callable[..., None]) -> None:
    log_dir, rng = tmp_path / "log", np.random.default_rng(0)
    deploy(two)
    engine = BanditController(two.store, log_dir, clock=clock, n_samples=500)
    first = engine.tick("m-live")
    assert first is not None and first.action == "hold" and "new bandit" in first.reason
    assert weights(two) == {1: 0.5, 2: 0.5}
    labels = 0
    for t in range(8):
        labels += traffic_round(two, serve, log_dir, clock, {1: 0.5, 2: 0.9}, rng, f"t{t}")
        record = engine.tick("m-live")
        assert record is not None and record.outcome == "applied", record
        assert record.action in ("hold", "step")
        assert {"rewards", "posterior", "gate", "target", "current"} <= set(record.evidence)
        assert min(weights(two).values()) >= FLOOR - 1e-9
    assert weights(two)[2] >= 0.9
    decisions = two.store.list_decisions(target="m-live")
    steps = [d for d in decisions if d.action == "step"]
    assert steps and all(d.evidence["gate"] == "passed" for d in steps)
    assert "v2 most likely best" in steps[-1].reason
    counted = sum(r["count"] for d in decisions for r in d.evidence.get("rewards", {}).values())
    state = DiscountedThompsonBandit.from_dict(
        two.store.get_deployment("m-live").params["bandit"])
    assert counted == labels == state.n_updates_  # every label consumed exactly once

    # labels sent again, and a tick with nothing new: nothing is counted twice
    send_feedback(log_dir, {"t7-v2-0": 0, "t7-v2-1": 0}, clock.now)
    clock.advance(60)
    revision = two.store.get_deployment("m-live").revision
    again = engine.tick("m-live")
    assert again is not None and again.action == "hold"
    assert again.evidence["gate"] == "no_new_rewards"
    assert engine.tick("m-live") is None and "not recorded again" in engine.last_note
    dep = two.store.get_deployment("m-live")
    assert dep.revision == revision
    assert DiscountedThompsonBandit.from_dict(dep.params["bandit"]).n_updates_ == labels


def test_equal_versions_do_not_flap(two: Context, tmp_path: Path, clock: Any,
                                    serve: Serve) -> None:
    log_dir, rng = tmp_path / "log", np.random.default_rng(1)
    deploy(two)
    engine = BanditController(two.store, log_dir, clock=clock, n_samples=500)
    engine.tick("m-live")
    for t in range(30):
        traffic_round(two, serve, log_dir, clock, {1: 0.7, 2: 0.7}, rng, f"t{t}", n=100)
        record = engine.tick("m-live")
        assert record is not None and record.outcome == "applied"
        assert min(weights(two).values()) >= FLOOR - 1e-9
    actions = [d.action for d in two.store.list_decisions(target="m-live")]
    assert len(actions) == 31 and actions.count("step") <= 1
    gates = {d.evidence["gate"] for d in two.store.list_decisions(action="hold")}
    assert gates & {"hysteresis", "switch_penalty"}


def test_drift_context_moves_traffic_away_from_the_drifting_version(
        two: Context, tmp_path: Path, clock: Any, serve: Serve) -> None:
    log_dir, rng = tmp_path / "log", np.random.default_rng(2)
    deploy(two, drift_weight=1.0)
    engine = BanditController(two.store, log_dir, clock=clock, n_samples=500)
    engine.tick("m-live")
    traffic_round(two, serve, log_dir, clock, {1: 0.8, 2: 0.8}, rng, "a", n=400)
    engine.tick("m-live")
    record = engine.tick("m-live", drift={2: 0.9})  # no new rewards, but new drift
    assert record is not None and record.action == "step", engine.last_decision
    assert record.evidence["drift"] == {"2": 0.9}
    assert weights(two)[1] >= 0.9 and weights(two)[2] >= FLOOR - 1e-9
    assert two.store.get_deployment("m-live").params["last_drift"] == {"2": 0.9}


def test_numeric_business_reward_from_the_label(two: Context, tmp_path: Path, clock: Any,
                                                serve: Serve) -> None:
    log_dir = tmp_path / "log"
    deploy(two, reward="label")
    engine = BanditController(two.store, log_dir, clock=clock, n_samples=500)
    engine.tick("m-live")
    serve(log_dir, 1, clock.now, [0.2] * 50 + ["big"], "a")
    serve(log_dir, 2, clock.now, [0.8] * 50 + [3.0], "a")
    clock.advance(60)
    record = engine.tick("m-live")
    assert record is not None and record.evidence["reward_mode"] == "label"
    rewards = record.evidence["rewards"]
    assert rewards["1"]["count"] == rewards["2"]["count"] == 50
    assert rewards["1"]["mean"] == pytest.approx(0.2)
    assert rewards["2"]["mean"] == pytest.approx(0.8)
    assert record.evidence["invalid_rewards"] == 2


def test_feedback_still_settling_waits_for_the_next_tick(two: Context, tmp_path: Path,
                                                          clock: Any, serve: Serve) -> None:
    log_dir = tmp_path / "log"
    deploy(two)
    engine = BanditController(two.store, log_dir, clock=clock, n_samples=500)
    engine.tick("m-live")
    serve(log_dir, 1, clock.now, [1] * 10, "a")  # feedback arrives at now + 20 s
    clock.advance(22)  # younger than the 5 s settle time
    record = engine.tick("m-live")
    assert record is not None and record.evidence["gate"] == "no_new_rewards"
    clock.advance(10)
    record = engine.tick("m-live")
    assert record is not None and record.evidence["rewards"]["1"]["count"] == 10


def test_new_feedback_counts_a_request_where_its_label_first_arrived(
        tmp_path: Path, send_feedback: Callable[..., None]) -> None:
    t0 = utcnow()
    send_feedback(tmp_path, {"a": 1, "b": 0}, t0)
    send_feedback(tmp_path, {"a": 0, "c": 1}, t0 + timedelta(seconds=10))
    first = new_feedback(tmp_path, t0, t0 + timedelta(seconds=5))
    later = new_feedback(tmp_path, t0 + timedelta(seconds=5), t0 + timedelta(seconds=15))
    assert {k: v.label for k, v in first.items()} == {"a": 1, "b": 0}
    assert {k: v.label for k, v in later.items()} == {"c": 1}  # "a" was consumed already
    assert new_feedback(tmp_path / "none", t0, t0 + timedelta(seconds=5)) == {}


def test_not_a_bandit_is_skipped(two: Context, tmp_path: Path) -> None:
    mlpilot.deploy("m", 2, strategy="canary", name="m-live", context=two)
    engine = BanditController(two.store, tmp_path)
    assert engine.tick("m-live") is None and not engine.active
    assert "not an active bandit" in engine.last_note


def test_a_lost_race_consumes_nothing(two: Context, tmp_path: Path, clock: Any, serve: Serve,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    log_dir = tmp_path / "log"
    deploy(two)
    engine = BanditController(two.store, log_dir, clock=clock, n_samples=500)
    engine.tick("m-live")
    serve(log_dir, 1, clock.now, [1] * 20, "a")
    clock.advance(60)
    read = two.store.get_deployment

    def read_then_someone_writes(name: str):  # type: ignore[no-untyped-def]
        dep = read(name)
        monkeypatch.setattr(two.store, "get_deployment", read)
        two.store.put_deployment(name, model=dep.model, strategy=dep.strategy,
                                 routes=dep.routes, params=dep.params, reason="a human")
        return dep

    monkeypatch.setattr(two.store, "get_deployment", read_then_someone_writes)
    lost = engine.tick("m-live")
    assert lost is not None and lost.outcome == "superseded"
    retried = engine.tick("m-live")  # the rewards were not consumed: counted now, once
    assert retried is not None and retried.outcome == "applied"
    assert retried.evidence["rewards"]["1"]["count"] == 20
    state = two.store.get_deployment("m-live").params["bandit"]
    assert DiscountedThompsonBandit.from_dict(state).n_updates_ == 20
