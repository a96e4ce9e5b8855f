"""Categorical drift detectors: calibration, power, agreement with scipy and profiles."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from mlpilot.core.errors import InvalidArgument
from mlpilot.data.profile import compute_profile
from mlpilot.monitor import (
    ChiSquareTest,
    Detector,
    JensenShannonDetector,
    NewCategoriesDetector,
    PSICategoricalDetector,
    get_detector,
)
from mlpilot.monitor.categorical import js_distance

CATEGORICAL = [ChiSquareTest, PSICategoricalDetector, JensenShannonDetector,
               NewCategoriesDetector]
LABELS = np.array(["a", "b", "c", "d", "e"])
BASE = np.array([0.3, 0.25, 0.2, 0.15, 0.1])


def moved(share_a: float) -> np.ndarray:
    """``BASE`` with category "a" at ``share_a`` and the others scaled to fit."""
    return np.r_[share_a, BASE[1:] * (1 - share_a) / (1 - BASE[0])]


def alarm_rate(make: Callable[[], Detector], n: int, p_cur: np.ndarray, reps: int,
               seed: int = 11) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(reps):
        detector = make().fit(pd.Series(rng.choice(LABELS, n, p=BASE)))
        hits += detector.score(pd.Series(rng.choice(LABELS, n, p=p_cur))).drifted
    return hits / reps


def profile_of(series: pd.Series, **options: int) -> dict:
    return compute_profile(pd.DataFrame({"c": series}), **options)["columns"]["c"]


def test_chi2_false_alarm_rate_is_near_alpha() -> None:
    assert 0.02 <= alarm_rate(ChiSquareTest, 1000, BASE, reps=300) <= 0.08


@pytest.mark.parametrize("make", [PSICategoricalDetector, JensenShannonDetector,
                                  NewCategoriesDetector])
def test_threshold_detectors_never_alarm_without_drift(make: Callable[[], Detector]) -> None:
    assert alarm_rate(make, 1000, BASE, reps=150) <= 0.01


def test_chi2_detects_a_category_moving_from_30_to_40_percent() -> None:
    assert alarm_rate(ChiSquareTest, 1000, moved(0.4), reps=100) >= 0.95


def test_js_distance_scale() -> None:
    # 30% -> 40% moves JS by ~0.09: under the 0.1 default; 30% -> 45% is over it.
    assert js_distance(BASE, moved(0.4)) == pytest.approx(0.089, abs=0.002)
    assert alarm_rate(JensenShannonDetector, 5000, moved(0.45), reps=50) >= 0.95
    assert alarm_rate(lambda: JensenShannonDetector(threshold=0.05), 5000, moved(0.4),
                      reps=50) >= 0.95
    assert js_distance(np.array([1, 0]), np.array([0, 1])) == pytest.approx(1.0)
    assert js_distance(BASE, moved(0.4)) == pytest.approx(
        float(jensenshannon(BASE, moved(0.4), base=2)))


def test_psi_cat_detects_a_large_move() -> None:
    assert alarm_rate(PSICategoricalDetector, 2000, moved(0.6), reps=50) >= 0.95


def test_chi2_matches_scipy_contingency_without_pooling() -> None:
    rng = np.random.default_rng(0)
    ref = pd.Series(rng.choice(LABELS, 800, p=BASE))
    cur = pd.Series(rng.choice(LABELS, 1200, p=moved(0.35)))
    result = ChiSquareTest().fit(ref).score(cur)
    table = pd.crosstab(np.r_[np.zeros(800), np.ones(1200)], np.r_[ref, cur])
    expected = stats.chi2_contingency(table.to_numpy(), correction=False)
    assert result.details["pooled"] == [] and result.details["dof"] == 4
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.p_value == pytest.approx(expected.pvalue)
    assert result.effect_size == pytest.approx(js_distance(
        table.to_numpy()[0].astype(float), table.to_numpy()[1].astype(float)))


def test_chi2_pools_rare_categories() -> None:
    ref = pd.Series(["a"] * 500 + ["b"] * 480 + ["r1"] * 3 + ["r2"] * 2 + ["r3"] * 1)
    cur = pd.Series(["a"] * 500 + ["b"] * 490 + ["r1"] * 4 + ["new"] * 2)
    result = ChiSquareTest().fit(ref).score(cur)
    assert set(result.details["pooled"]) >= {"r1", "r2", "r3"}
    assert result.details["dof"] == 2  # a, b, and one pool
    assert not result.drifted


def test_new_categories_lists_new_and_vanished_with_counts() -> None:
    ref = pd.Series(["a"] * 900 + ["b"] * 90 + ["gone"] * 10)
    cur = pd.Series(["a"] * 900 + ["b"] * 85 + ["x"] * 10 + ["y"] * 5)
    result = NewCategoriesDetector().fit(ref).score(cur)
    assert result.details["new"] == {"x": 10, "y": 5} and result.details["new_rows"] == 15
    assert result.details["vanished"] == {"gone": 10}
    assert result.statistic == pytest.approx(0.015) and result.drifted
    at_one_percent = pd.Series(["a"] * 990 + ["x"] * 10)
    assert not NewCategoriesDetector().fit(ref).score(at_one_percent).drifted  # > 1%, not >=
    json.dumps(result.to_dict(), allow_nan=False)


@pytest.mark.parametrize("make", CATEGORICAL)
def test_profile_and_raw_references_agree_exactly(make: Callable[[], Detector]) -> None:
    rng = np.random.default_rng(3)
    ref = pd.Series(rng.choice(LABELS, 5000, p=BASE), dtype="category")
    cur = pd.Series(np.r_[rng.choice(LABELS, 4950, p=moved(0.35)), ["z"] * 50])
    raw = make().fit(ref).score(cur)
    sketch = make().fit(profile_of(ref)).score(cur)
    assert sketch.statistic == pytest.approx(raw.statistic)
    assert sketch.p_value == pytest.approx(raw.p_value)
    assert sketch.drifted == raw.drifted


def test_truncated_profile_pools_its_tail_into_other() -> None:
    ref = pd.Series([f"v{i}" for i in range(50)] * 20)
    profile = profile_of(ref, max_categories=10)
    result = NewCategoriesDetector().fit(profile).score(ref)
    assert result.details["reference_truncated"] is True
    chi2 = ChiSquareTest().fit(profile).score(ref)
    assert chi2.statistic == pytest.approx(0.0) and not chi2.drifted


def test_booleans_integers_and_missing_values() -> None:
    ref = pd.Series([True, False] * 500)
    cur = pd.Series([True] * 700 + [False] * 290 + [None] * 10, dtype="boolean")
    result = ChiSquareTest().fit(ref).score(cur)
    assert result.drifted and result.details["dropped"] == 10
    codes = ChiSquareTest().fit(pd.Series([1, 2, 3] * 100)).score(pd.Series([1, 2, 3] * 50))
    assert not codes.drifted


@pytest.mark.parametrize("make", CATEGORICAL)
def test_an_empty_window_is_not_drift_and_says_why(make: Callable[[], Detector]) -> None:
    detector = make().fit(pd.Series(["a", "b"]))
    for window in (pd.Series([], dtype="str"), pd.Series([None, None], dtype="str")):
        result = detector.score(window)
        assert result.drifted is False and np.isnan(result.statistic)
        assert "no non-missing values" in result.details["note"]
        json.dumps(result.to_dict(), allow_nan=False)


@pytest.mark.parametrize("make", CATEGORICAL)
def test_bad_inputs_are_refused_clearly(make: Callable[[], Detector]) -> None:
    name = make.__name__
    with pytest.raises(InvalidArgument, match="not fitted yet"):
        make().score(pd.Series(["a"]))
    with pytest.raises(InvalidArgument, match="numeric detector"):
        make().fit(pd.Series([0.5, 1.5]))
    with pytest.raises(InvalidArgument, match="no non-missing values"):
        make().fit(pd.Series([None, None], dtype="str"))
    with pytest.raises(InvalidArgument, match="'frequencies'"):
        make().fit(profile_of(pd.Series([1.5, 2.5])))
    with pytest.raises(InvalidArgument, match="pandas Series"):
        make().fit(["a", "b"])
    with pytest.raises(InvalidArgument, match=f"{name} compares string, category"):
        make().fit(pd.Series(["a"])).score(pd.Series(pd.to_datetime(["2024-01-01"])))


def test_bad_parameters_and_registry() -> None:
    with pytest.raises(InvalidArgument, match=r"ChiSquareTest must be a float in \(0, 1\)"):
        ChiSquareTest(threshold=2.0)
    with pytest.raises(InvalidArgument, match="min_expected"):
        ChiSquareTest(min_expected=0)
    with pytest.raises(InvalidArgument, match="epsilon"):
        PSICategoricalDetector(epsilon=2.0)
    with pytest.raises(InvalidArgument, match="NewCategoriesDetector must be a float"):
        NewCategoriesDetector(threshold=1.0)
    for name, cls in [("chi2", ChiSquareTest), ("psi_cat", PSICategoricalDetector),
                      ("jensen_shannon", JensenShannonDetector),
                      ("new_categories", NewCategoriesDetector)]:
        assert isinstance(get_detector(name), cls) and cls.kind == "categorical"
