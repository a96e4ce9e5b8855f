"""The A/B reporter and blue-green switches, applied to a real store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mlpilot
from mlpilot.core.errors import InvalidArgument
from mlpilot.delivery import ABController, BlueGreenController
from mlpilot.sdk._context import Context

Serve = Callable[..., list[str]]


def routes(ctx: Context, name: str = "m") -> list[tuple[int, float]]:
    return [(r.version, round(r.weight, 6)) for r in ctx.store.get_deployment(name).routes]


def test_ab_reports_significance_and_never_moves_traffic(two: Context, tmp_path: Path,
                                                          clock: Any, serve: Serve) -> None:
    log_dir, rng = tmp_path / "log", np.random.default_rng(0)
    mlpilot.deploy("m", 2, strategy="ab", name="m-live", context=two)
    engine = ABController(two.store, log_dir, clock=clock)
    first = engine.tick("m-live")
    assert first is not None and first.action == "hold"
    assert first.evidence["test"]["verdict"] == "insufficient"
    assert "not enough labelled requests" in first.reason
    for version, rate in ((1, 0.6), (2, 0.8)):
        serve(log_dir, version, clock.now, [int(rng.random() < rate) for _ in range(400)], "x")
    clock.advance(60)
    record = engine.tick("m-live")
    assert record is not None and record.action == "hold" and record.outcome == "applied"
    test = record.evidence["test"]
    assert test["verdict"] == "b_better" and record.evidence["significant"]
    assert (test["n_a"], test["n_b"]) == (400, 400) and test["p_value"] < 0.05
    assert "v2 is significantly more accurate" in record.reason
    assert routes(two, "m-live") == [(1, 0.5), (2, 0.5)]  # traffic never moves
    assert engine.tick("m-live") is None and "same counts" in engine.last_note
    assert [d.action for d in two.store.list_decisions(target="m-live")] == ["hold", "hold"]


def test_ab_with_equal_versions_is_not_significant(two: Context, tmp_path: Path,
                                                   clock: Any, serve: Serve) -> None:
    log_dir = tmp_path / "log"
    mlpilot.deploy("m", 2, strategy="ab", name="m-live", context=two,
                   params={"min_samples": 50})
    engine = ABController(two.store, log_dir, clock=clock)
    for version in (1, 2):
        serve(log_dir, version, clock.now, [1, 0] * 60, "x")
    clock.advance(60)
    record = engine.tick("m-live")
    assert record is not None and record.evidence["test"]["verdict"] == "no_difference"
    assert not record.evidence["significant"] and "no significant" in record.reason


def test_blue_green_deploy_switch_back_and_switch(two: Context) -> None:
    dep = mlpilot.deploy("m", 2, strategy="blue-green", context=two)
    assert routes(two) == [(2, 1.0), (1, 0.0)]  # the standby stays loaded
    assert {k: dep.params[k] for k in ("active", "standby", "previous")} == \
        {"active": 2, "standby": 1, "previous": 1}

    back = mlpilot.switch_back("m", reason="p99 latency up", context=two)
    assert routes(two) == [(1, 1.0), (2, 0.0)]
    assert (back.params["active"], back.params["standby"], back.params["previous"]) == \
        (1, 2, None)
    decision = two.store.list_decisions(target="m", limit=1)[0]
    assert (decision.action, decision.outcome) == ("switch_back", "applied")
    assert decision.reason == "switch traffic back from v2 to v1: p99 latency up"
    assert decision.evidence["next"] == {"active": 1, "standby": 2, "previous": None}
    event = two.store.list_events(action="deployment.put")[0]
    assert event.reason == decision.reason
    assert two.store.list_events(action="decision.switch_back")

    with pytest.raises(InvalidArgument, match="no switch to undo.*rollout switch m"):
        mlpilot.switch_back("m", context=two)
    assert routes(two) == [(1, 1.0), (2, 0.0)]  # nothing changed

    again = mlpilot.switch("m", context=two)
    assert routes(two) == [(2, 1.0), (1, 0.0)]
    assert (again.params["active"], again.params["previous"]) == (2, 1)
    assert [d.action for d in two.store.list_decisions(target="m")] == ["switch",
                                                                         "switch_back"]
    assert two.store.list_events(action="decision.switch")[0].reason == \
        "switch traffic from v1 to v2"


def test_switch_needs_a_blue_green_deployment_with_a_standby(two: Context) -> None:
    mlpilot.deploy("m", 2, strategy="canary", context=two)
    with pytest.raises(InvalidArgument, match="switch-back need a blue-green deployment"):
        BlueGreenController(two.store).switch("m")
    mlpilot.deploy("m", 1, strategy="blue-green", context=two)  # production is v1: alone
    with pytest.raises(InvalidArgument, match="no standby version"):
        mlpilot.switch("m", context=two)
    assert two.store.list_decisions(action="switch") == []
