"""Numeric drift detectors: calibration, power, agreement with scipy and profiles, bad input."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlpilot.core.errors import InvalidArgument
from mlpilot.data.profile import compute_profile
from mlpilot.monitor import (
    CDFDetector,
    Detector,
    KSTest,
    PSIDetector,
    WassersteinDetector,
    get_detector,
)

NUMERIC = [KSTest, WassersteinDetector, PSIDetector, CDFDetector]


def alarm_rate(make: Callable[[], Detector], n: int, m: int, shift: float, reps: int,
               seed: int = 7) -> float:
    """Share of ``reps`` seeded normal windows (mean ``shift``) that the detector flags."""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(reps):
        detector = make().fit(pd.Series(rng.normal(size=n)))
        hits += detector.score(pd.Series(rng.normal(shift, size=m))).drifted
    return hits / reps


def profile_of(values: pd.Series | np.ndarray) -> dict:
    return compute_profile(pd.DataFrame({"x": values}))["columns"]["x"]


# --- calibration and power -------------------------------------------------------------


def test_ks_false_alarm_rate_is_near_alpha() -> None:
    assert 0.02 <= alarm_rate(KSTest, 1000, 1000, 0.0, reps=400) <= 0.08


def test_ks_against_a_profile_keeps_its_level() -> None:
    rng = np.random.default_rng(3)
    hits = 0
    for _ in range(150):
        detector = KSTest().fit(profile_of(rng.normal(size=3000)))
        hits += detector.score(pd.Series(rng.normal(size=1000))).drifted
    assert 0.01 <= hits / 150 <= 0.10


def test_ks_detects_a_fifth_of_a_standard_deviation_at_5000() -> None:
    assert alarm_rate(KSTest, 5000, 5000, 0.2, reps=60) >= 0.95


@pytest.mark.parametrize(("make", "n", "bound"), [
    (WassersteinDetector, 2000, 0.02),  # noise W1 is ~0.03 sd at n = m = 2000
    (PSIDetector, 1000, 0.01),  # no-drift PSI is ~ 9 * 2/1000 = 0.018 against 0.2
    (CDFDetector, 1000, 0.01),  # no-drift D is ~0.04 against 0.1
])
def test_threshold_detectors_rarely_alarm_without_drift(
    make: Callable[[], Detector], n: int, bound: float
) -> None:
    assert alarm_rate(make, n, n, 0.0, reps=150) <= bound


@pytest.mark.parametrize(("make", "n", "shift"), [
    (WassersteinDetector, 2000, 0.2),  # normalised W1 = 0.2 against 0.1
    (PSIDetector, 2000, 0.6),  # PSI ~ shift² = 0.36 against 0.2
    (CDFDetector, 5000, 0.3),  # D ~ 0.12 against 0.1
])
def test_threshold_detectors_detect_a_known_shift(
    make: Callable[[], Detector], n: int, shift: float
) -> None:
    assert alarm_rate(make, n, n, shift, reps=50) >= 0.95


# --- exact values ------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "m"), [(300, 500), (4000, 4000), (20_000, 12_000)])
def test_ks_matches_scipy(n: int, m: int) -> None:
    rng = np.random.default_rng(n)
    ref, cur = rng.normal(size=n), rng.normal(0.05, 1.1, size=m)
    result = KSTest().fit(pd.Series(ref)).score(pd.Series(cur))
    expected = stats.ks_2samp(ref, cur)
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)


def test_ks_and_wasserstein_match_scipy_with_ties() -> None:
    rng = np.random.default_rng(0)
    ref, cur = rng.integers(0, 5, 2000), rng.integers(0, 6, 3000)
    ks = KSTest().fit(pd.Series(ref)).score(pd.Series(cur))
    assert ks.statistic == pytest.approx(stats.ks_2samp(ref, cur).statistic, abs=1e-12)
    w = WassersteinDetector().fit(pd.Series(ref)).score(pd.Series(cur))
    assert w.details["wasserstein"] == pytest.approx(
        stats.wasserstein_distance(ref, cur), rel=1e-3)
    assert w.statistic == pytest.approx(w.details["wasserstein"] / w.details["scale"])


def test_wasserstein_is_normalised_by_a_robust_scale() -> None:
    rng = np.random.default_rng(1)
    ref = rng.normal(10, 4, size=20_000)
    result = WassersteinDetector().fit(pd.Series(ref)).score(pd.Series(ref + 2.0))
    assert result.details["scale_kind"] == "iqr"
    assert result.statistic == pytest.approx(0.5, rel=0.03)  # 2 / sd of 4
    assert result.drifted and result.effect_size == result.statistic


@pytest.mark.parametrize("make", NUMERIC)
def test_profile_and_raw_references_agree(make: Callable[[], Detector]) -> None:
    rng = np.random.default_rng(5)
    ref = pd.Series(rng.lognormal(size=50_000), name="x")
    cur = pd.Series(rng.lognormal(0.1, size=20_000), name="x")
    raw = make().fit(ref).score(cur)
    sketch = make().fit(profile_of(ref)).score(cur)
    assert sketch.details["reference_from"] == "profile"
    # W1 against a sketch interpolates the extreme 0.1% cells: a few % off on heavy tails
    tolerance = 0.06 if make is WassersteinDetector else 0.02
    assert sketch.statistic == pytest.approx(raw.statistic, rel=tolerance, abs=2e-3)
    assert sketch.effect_size == pytest.approx(raw.effect_size, rel=0.06)
    assert sketch.drifted == raw.drifted
    if raw.p_value is not None:
        assert np.log10(sketch.p_value) == pytest.approx(np.log10(raw.p_value), rel=0.1)


def test_psi_bins_are_reference_deciles() -> None:
    ref = pd.Series(np.arange(1000, dtype=float))
    detector = PSIDetector().fit(ref)
    assert np.allclose(detector.reference_shares_, 0.1)
    result = detector.score(pd.Series(np.r_[np.arange(500.0), np.full(500, 2000.0)]))
    shares = result.details["current_shares"]
    assert shares[-1] == pytest.approx(0.5) and sum(shares) == pytest.approx(1.0)
    assert result.drifted and result.effect_size == result.statistic


def test_cdf_keeps_both_curves_on_a_common_grid() -> None:
    rng = np.random.default_rng(2)
    result = CDFDetector().fit(pd.Series(rng.normal(size=5000))).score(
        pd.Series(rng.normal(1.0, size=5000)))
    grid = result.details["grid"]
    ref_cdf, cur_cdf = result.details["reference_cdf"], result.details["current_cdf"]
    assert 50 <= len(grid) <= 100 and len(ref_cdf) == len(cur_cdf) == len(grid)
    assert np.all(np.diff(grid) > 0) and np.all(np.diff(ref_cdf) >= 0)
    assert max(np.abs(np.subtract(ref_cdf, cur_cdf))) <= result.statistic + 1e-12
    assert result.drifted and result.statistic == pytest.approx(0.38, abs=0.03)
    json.dumps(result.to_dict(), allow_nan=False)


# --- awkward data --------------------------------------------------------------------------


def test_missing_and_infinite_values_are_dropped_and_counted() -> None:
    rng = np.random.default_rng(4)
    cur = rng.normal(size=1000)
    cur[:30] = np.nan
    cur[30:35] = np.inf
    result = KSTest().fit(pd.Series(rng.normal(size=1000))).score(pd.Series(cur))
    assert result.details["dropped"] == 35 and result.details["n_current"] == 965
    assert not np.isnan(result.statistic)
    nullable = pd.Series(pd.array([1, None, 3, 4], dtype="Int64"))
    assert KSTest().fit(nullable).score(nullable).details["dropped"] == 1


@pytest.mark.parametrize("make", NUMERIC)
def test_an_empty_window_is_not_drift_and_says_why(make: Callable[[], Detector]) -> None:
    detector = make().fit(pd.Series([1.0, 2.0, 3.0]))
    for window in (pd.Series([], dtype=float), pd.Series([np.nan, np.nan])):
        result = detector.score(window)
        assert result.drifted is False and np.isnan(result.statistic)
        assert "no finite values" in result.details["note"]
        assert json.loads(json.dumps(result.to_dict(), allow_nan=False))["statistic"] is None


@pytest.mark.parametrize("make", NUMERIC)
def test_constant_columns(make: Callable[[], Detector]) -> None:
    detector = make().fit(pd.Series(np.full(500, 3.0)))
    assert not detector.score(pd.Series(np.full(200, 3.0))).drifted
    assert detector.score(pd.Series(np.r_[np.full(100, 3.0), np.full(100, 4.0)])).drifted
    profiled = make().fit(profile_of(np.full(500, 3.0)))
    assert profiled.score(pd.Series(np.full(200, 5.0))).drifted


def test_datetime_columns_compare_in_seconds() -> None:
    ref = pd.Series(pd.date_range("2024-01-01", periods=1000, freq="h"))
    result = KSTest().fit(ref).score(ref + pd.Timedelta(days=20))
    assert result.drifted and result.statistic == pytest.approx(480 / 1000)


@pytest.mark.parametrize("make", NUMERIC)
def test_bad_inputs_are_refused_clearly(make: Callable[[], Detector]) -> None:
    name = make.__name__
    with pytest.raises(InvalidArgument, match="not fitted yet"):
        make().score(pd.Series([1.0]))
    with pytest.raises(InvalidArgument, match="categorical detector"):
        make().fit(pd.Series(["a", "b"]))
    with pytest.raises(InvalidArgument, match="no finite values"):
        make().fit(pd.Series([np.nan, np.inf]))
    with pytest.raises(InvalidArgument, match="no finite values"):
        make().fit(pd.Series([], dtype=float))
    with pytest.raises(InvalidArgument, match="pandas Series"):
        make().fit([1.0, 2.0])
    with pytest.raises(InvalidArgument, match="quantile sketch"):
        make().fit({"dtype": "string", "frequencies": {"a": 1}})
    detector = make().fit(pd.Series([1.0, 2.0]))
    with pytest.raises(InvalidArgument, match=f"{name} compares integer, float or datetime"):
        detector.score(pd.Series([True, False]))
    with pytest.raises(InvalidArgument, match="threshold"):
        make(threshold=-1.0)  # type: ignore[call-arg]


def test_bad_parameters() -> None:
    with pytest.raises(InvalidArgument, match=r"KSTest must be a float in \(0, 1\)\. Got 1.5"):
        KSTest(threshold=1.5)
    with pytest.raises(InvalidArgument, match="'bins' parameter of PSIDetector"):
        PSIDetector(bins=1)
    with pytest.raises(InvalidArgument, match="epsilon"):
        PSIDetector(epsilon=0.0)
    with pytest.raises(InvalidArgument, match="finite number"):
        WassersteinDetector(threshold=float("nan"))


def test_detectors_are_registered_by_name() -> None:
    assert isinstance(get_detector("ks", threshold=0.01), KSTest)
    for name, cls in [("wasserstein", WassersteinDetector), ("psi", PSIDetector),
                      ("cdf", CDFDetector)]:
        assert isinstance(get_detector(name), cls) and cls.kind == "numeric"
    with pytest.raises(InvalidArgument, match=r"No detector named 'kss'\. Available: \[.*'ks'"):
        get_detector("kss")


def test_one_fitted_detector_scores_many_windows_from_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(9)
    detector = KSTest().fit(pd.Series(rng.normal(size=20_000)))
    windows = [pd.Series(rng.normal(shift, size=5000)) for shift in (0, 0.5) * 4]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(detector.score, windows))
    assert [r.drifted for r in results] == [detector.score(w).drifted for w in windows]
    assert [r.drifted for r in results][:2] == [False, True]
