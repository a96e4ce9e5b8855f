"""The canary policy walks the steps, promotes, rolls back and holds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from mlpilot.core.entities import Route
from mlpilot.core.errors import InvalidArgument
from mlpilot.delivery import (
    AnalysisResult,
    CanaryPolicy,
    CanaryState,
    CheckResult,
    WindowStats,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def result(verdict: str) -> AnalysisResult:
    check_verdict = {"inconclusive": "insufficient"}.get(verdict, verdict)
    check = CheckResult("error_rate", check_verdict, 0.1, 0.01, 0.005,
                        {"baseline": 500, "canary": 500}, "synthetic")
    return AnalysisResult(verdict, (check,))


def state(weight: float, verdict: str = "pass", elapsed: float = 600.0) -> CanaryState:
    return CanaryState(baseline_version=1, canary_version=2, weight=weight,
                       step_started_at=T0, now=T0 + timedelta(seconds=elapsed),
                       analysis=result(verdict))


def weights(routes: tuple[Route, ...]) -> dict[int, float]:
    return {r.version: r.weight for r in routes}


def test_walks_the_steps_then_promotes():
    policy = CanaryPolicy()
    weight, seen = 0.0, []
    for _ in range(10):
        d = policy.decide(state(weight))
        seen.append(d.action)
        if d.action == "promote":
            assert d.routes == (Route(2, 1.0, "primary"),)
            break
        assert d.action == "step"
        weight = weights(d.routes)[2]
        assert abs(sum(r.weight for r in d.routes) - 1) < 1e-9
        assert {r.role for r in d.routes} == {"primary", "canary"}
    assert seen == ["step", "step", "step", "step", "promote"]
    assert weight == 1.0


@pytest.mark.parametrize("weight", [0.05, 0.25, 0.5, 1.0])
def test_failure_at_any_step_rolls_back_even_when_early(weight):
    for elapsed in (10.0, 600.0):
        d = CanaryPolicy().decide(state(weight, "fail", elapsed))
        assert d.action == "rollback"
        assert d.routes == (Route(1, 1.0, "primary"),)
        assert d.evidence["analysis"]["checks"][0]["name"] == "error_rate"
        assert "error_rate" in d.reason


def test_holds_when_too_early_or_inconclusive():
    policy = CanaryPolicy(min_step_seconds=300)
    early = policy.decide(state(0.25, "pass", elapsed=100))
    assert early.action == "hold" and early.routes is None and "minimum" in early.reason
    unsure = policy.decide(state(0.25, "inconclusive"))
    assert unsure.action == "hold" and "inconclusive" in unsure.reason
    assert unsure.evidence["analysis"]["verdict"] == "inconclusive"


def test_inconclusive_too_long_rolls_back_when_configured():
    policy = CanaryPolicy(max_inconclusive_seconds=3600)
    assert policy.decide(state(0.5, "inconclusive", 1800)).action == "hold"
    assert policy.decide(state(0.5, "inconclusive", 7200)).action == "rollback"


def test_step_from_custom_steps_and_evidence_is_json():
    policy = CanaryPolicy(steps=(0.1, 1.0))
    d = policy.decide(state(0.1))
    assert d.action == "step" and weights(d.routes) == {1: 0.0, 2: 1.0}
    assert d.evidence["next_weight"] == 1.0
    json.dumps(d.to_dict(), allow_nan=False)


def test_runs_the_analysis_from_windows():
    rng = np.random.default_rng(0)

    def w(errors: int, mu: float) -> WindowStats:
        return WindowStats(2000, errors, rng.lognormal(mu, 0.3, 500), rng.integers(0, 2, 500))

    base = dict(baseline_version=1, canary_version=2, weight=0.05,
                step_started_at=T0, now=T0 + timedelta(minutes=10))
    assert CanaryPolicy().decide(CanaryState(**base, baseline=w(10, 3.0),
                                             canary=w(10, 3.0))).action == "step"
    assert CanaryPolicy().decide(CanaryState(**base, baseline=w(10, 3.0),
                                             canary=w(100, 3.0))).action == "rollback"
    with pytest.raises(InvalidArgument, match="'analysis' or both"):
        CanaryPolicy().decide(CanaryState(**base))


@pytest.mark.parametrize("steps", [(), (0.5, 0.25, 1.0), (0.1, 0.5), (0.0, 1.0), (0.5, 1.5)])
def test_invalid_steps_raise(steps):
    with pytest.raises(InvalidArgument, match="'steps' parameter"):
        CanaryPolicy(steps=steps)
