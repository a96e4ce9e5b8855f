"""Sticky A/B splits, the A/B test result, blue-green switches and Decision."""

from __future__ import annotations

import doctest
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mlpilot.core.entities import Route
from mlpilot.core.errors import InvalidArgument
from mlpilot.delivery import BlueGreen, Decision, StickySplit, ab_test, bucket


def test_same_key_same_arm_and_proportions_follow_the_split():
    split = StickySplit({1: 0.7, 2: 0.3}, salt="exp-1")
    keys = [f"user-{i}" for i in range(10_000)]
    first = [split.assign(k) for k in keys]
    assert first == [split.assign(k) for k in keys]
    share_1 = first.count(1) / len(first)
    assert abs(share_1 - 0.7) < 0.02  # 4.4 standard errors
    # another instance (same config) agrees: no per-process state
    assert first == [StickySplit({1: 0.7, 2: 0.3}, salt="exp-1").assign(k) for k in keys]


def test_assignment_is_stable_across_processes():
    code = ("from mlpilot.delivery import bucket; "
            "print([bucket(f'k{i}', 's') for i in range(20)])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONHASHSEED": "123"}).stdout
    assert json.loads(out) == [bucket(f"k{i}", "s") for i in range(20)]


def test_salt_reshuffles_keys():
    a = StickySplit({1: 0.5, 2: 0.5}, salt="a")
    b = StickySplit({1: 0.5, 2: 0.5}, salt="b")
    same = sum(a.assign(f"u{i}") == b.assign(f"u{i}") for i in range(2000)) / 2000
    assert 0.4 < same < 0.6


def test_split_routes_and_validation():
    assert StickySplit({3: 0.25, 4: 0.75}).routes() == (Route(3, 0.25), Route(4, 0.75))
    with pytest.raises(InvalidArgument, match="sum to 1"):
        StickySplit({1: 0.5, 2: 0.4})


def test_ab_test_detects_a_real_difference_with_a_ci():
    rng = np.random.default_rng(0)
    a, b = rng.binomial(5000, 0.10), rng.binomial(5000, 0.13)
    res = ab_test(a, 5000, b, 5000)
    assert res.verdict == "b_better" and res.significant and res.p_value < 0.01
    assert res.ci_low > 0 and res.ci_low < 0.03 < res.ci_high
    json.dumps(res.to_dict(), allow_nan=False)


def test_ab_test_null_difference_is_mostly_not_significant():
    rng = np.random.default_rng(1)
    verdicts = [ab_test(rng.binomial(2000, 0.2), 2000, rng.binomial(2000, 0.2), 2000).verdict
                for _ in range(200)]
    false_positive = sum(v != "no_difference" for v in verdicts) / len(verdicts)
    assert false_positive < 0.1  # alpha = 0.05


def test_ab_test_small_samples_are_insufficient_and_json_safe():
    res = ab_test(3, 10, 9, 10)
    assert res.verdict == "insufficient" and not res.significant
    assert res.to_dict()["p_value"] is None
    json.dumps(res.to_dict(), allow_nan=False)
    with pytest.raises(InvalidArgument, match="successes <= trials"):
        ab_test(11, 10, 1, 10)


def test_blue_green_switch_and_switch_back():
    bg = BlueGreen(active=1, standby=2)
    d = bg.switch()
    assert d.action == "switch"
    assert d.routes == (Route(2, 1.0), Route(1, 0.0))
    assert d.evidence["previous"] == {"active": 1, "standby": 2, "previous": None}
    after = bg.switched()
    assert after == BlueGreen(active=2, standby=1, previous=1)
    back = after.switch_back()
    assert back.action == "switch_back"
    assert back.routes == (Route(1, 1.0), Route(2, 0.0))
    assert back.evidence["previous"]["active"] == 2
    assert BlueGreen.from_dict(json.loads(json.dumps(after.to_dict()))) == after
    with pytest.raises(InvalidArgument, match="no previous switch"):
        bg.switch_back()
    with pytest.raises(InvalidArgument, match="two different versions"):
        BlueGreen(1, 1)


def test_decision_validates_and_makes_evidence_strict_json():
    d = Decision("hold", "waiting", {"p": float("nan"), "x": np.float64(1.5)})
    assert d.evidence == {"p": None, "x": 1.5}
    json.dumps(d.to_dict(), allow_nan=False)
    with pytest.raises(InvalidArgument, match="No delivery action named 'jump'"):
        Decision("jump", "")
    with pytest.raises(InvalidArgument, match="sum to 1"):
        Decision("step", "", routes=(Route(1, 0.5),))


@pytest.mark.parametrize("module", ["ab", "analysis", "blue_green"])
def test_docstring_examples(module):
    import importlib

    mod = importlib.import_module(f"mlpilot.delivery.{module}")
    assert doctest.testmod(mod).failed == 0
