"""Discounted Thompson sampling on seeded Bernoulli streams."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlpilot.core.errors import InvalidArgument
from mlpilot.delivery import DiscountedThompsonBandit


def run(bandit: DiscountedThompsonBandit, rates: dict[int, float], steps: int,
        current: dict[int, float], seed: int, every: int = 100) -> tuple[dict, int]:
    """Serve ``steps`` requests by the current shares; decide every ``every``."""
    rng = np.random.default_rng(seed)
    arms = list(current)
    changes = 0
    for t in range(steps):
        arm = arms[int(rng.choice(len(arms), p=[current[a] for a in arms]))]
        bandit.update(arm, float(rng.random() < rates[arm]))
        if t % every == every - 1:
            d = bandit.decide(current, n_samples=500)
            if d.action == "step":
                changes += 1
                current = {r.version: r.weight for r in d.routes}
            else:
                assert d.action == "hold" and d.routes is None
    return current, changes


def test_converges_to_the_better_arm_then_adapts_when_they_swap():
    bandit = DiscountedThompsonBandit([1, 2], seed=7)
    current, _ = run(bandit, {1: 0.3, 2: 0.6}, 3000, {1: 0.5, 2: 0.5}, seed=1)
    assert current[2] >= 0.9
    current, _ = run(bandit, {1: 0.6, 2: 0.3}, 3000, current, seed=2)
    assert current[1] >= 0.9


def test_without_discounting_it_adapts_slowly():
    # the contrast that shows discounting is what makes it non-stationary
    bandit = DiscountedThompsonBandit([1, 2], seed=7, discount=1.0)
    current, _ = run(bandit, {1: 0.3, 2: 0.6}, 3000, {1: 0.5, 2: 0.5}, seed=1)
    current, _ = run(bandit, {1: 0.6, 2: 0.3}, 3000, current, seed=2)
    assert current[1] < 0.9


def test_equal_arms_rarely_change_traffic():
    bandit = DiscountedThompsonBandit([1, 2], seed=3)
    _, changes = run(bandit, {1: 0.3, 2: 0.3}, 20_000, {1: 0.5, 2: 0.5}, seed=4)
    assert changes <= 10  # of 200 decisions
    flappy = DiscountedThompsonBandit([1, 2], seed=3, hysteresis=0.0, switch_confidence=0.0)
    _, flaps = run(flappy, {1: 0.3, 2: 0.3}, 20_000, {1: 0.5, 2: 0.5}, seed=4)
    assert flaps > 100


def test_min_share_is_respected():
    bandit = DiscountedThompsonBandit([1, 2, 3], seed=0, min_share=0.1)
    for _ in range(500):
        bandit.update(1, 1.0).update(2, 0.0).update(3, 0.0)
    shares = bandit.shares(1000)
    assert min(shares.values()) >= 0.1 - 1e-12
    assert abs(sum(shares.values()) - 1) < 1e-9
    d = bandit.decide({1: 1 / 3, 2: 1 / 3, 3: 1 / 3})
    assert d.action == "step"
    assert min(r.weight for r in d.routes) >= 0.1 - 1e-6
    assert max(d.routes, key=lambda r: r.weight).version == 1


def test_drift_context_down_weights_an_arm():
    bandit = DiscountedThompsonBandit([1, 2], seed=0, drift_weight=0.5)
    for _ in range(200):
        bandit.update(1, 1.0 if _ % 2 else 0.0).update(2, 1.0 if _ % 2 else 0.0)
    assert bandit.shares(2000, drift={1: 0.8})[2] > 0.9


def test_state_round_trips_through_json_and_continues_the_same_stream():
    bandit = DiscountedThompsonBandit([4, 9], seed=11)
    for i in range(50):
        bandit.update(4 if i % 3 else 9, float(i % 2))
    data = json.loads(json.dumps(bandit.to_dict(), allow_nan=False))
    restored = DiscountedThompsonBandit.from_dict(data)
    assert restored.posterior() == bandit.posterior()
    assert restored.shares(500) == bandit.shares(500)
    d = bandit.decide({4: 0.5, 9: 0.5})
    json.dumps(d.to_dict(), allow_nan=False)


def test_seeded_shares_are_reproducible():
    a = DiscountedThompsonBandit([1, 2], seed=5).update(1, 1.0)
    b = DiscountedThompsonBandit([1, 2], seed=5).update(1, 1.0)
    assert a.shares(300) == b.shares(300)


@pytest.mark.parametrize("kwargs, match", [
    ({"arms": [1]}, "two distinct arms"),
    ({"arms": [1, 1]}, "two distinct arms"),
    ({"discount": 0.0}, "'discount'"),
    ({"min_share": 0.6}, "'min_share'"),
    ({"hysteresis": 1.0}, "'hysteresis'"),
    ({"prior": (0, 1)}, "'prior'"),
])
def test_invalid_parameters_raise(kwargs, match):
    kwargs = {"arms": [1, 2], **kwargs}
    with pytest.raises(InvalidArgument, match=match):
        DiscountedThompsonBandit(**kwargs)


def test_bad_updates_and_state_raise():
    bandit = DiscountedThompsonBandit([1, 2], seed=0)
    with pytest.raises(InvalidArgument, match="No bandit arm 3"):
        bandit.update(3, 1.0)
    with pytest.raises(InvalidArgument, match=r"in \[0, 1\]"):
        bandit.update(1, 2.0)
    with pytest.raises(InvalidArgument, match="malformed"):
        DiscountedThompsonBandit.from_dict({"arms": [1, 2]})
