"""The drift report: multiple-testing control, minimum effect, profiles, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlpilot.core.errors import InvalidArgument
from mlpilot.data.profile import compute_profile
from mlpilot.monitor import DriftReport, adjust_p_values, drift_report

LABELS = np.array(["a", "b", "c", "d"])


def noise_frame(rng: np.random.Generator, rows: int, numeric: int = 20,
                categorical: int = 5) -> pd.DataFrame:
    columns: dict[str, object] = {f"x{i}": rng.normal(size=rows) for i in range(numeric)}
    for i in range(categorical):
        columns[f"c{i}"] = rng.choice(LABELS, rows, p=[0.4, 0.3, 0.2, 0.1])
    return pd.DataFrame(columns)


def test_pure_noise_flags_nothing_in_95_percent_of_reports() -> None:
    rng = np.random.default_rng(2024)
    clean = clean_uncorrected = 0
    reps = 150
    for _ in range(reps):
        ref, cur = noise_frame(rng, 400), noise_frame(rng, 400)
        clean += not drift_report(ref, cur).drifted_columns
        clean_uncorrected += not drift_report(ref, cur, correction="none",
                                              min_effect=0).drifted_columns
    assert clean / reps >= 0.95
    # the control matters: 25 raw tests at 5% flag something in most clean windows
    assert clean_uncorrected / reps <= 0.6


def test_huge_windows_ignore_negligible_shifts_but_not_real_ones() -> None:
    rng = np.random.default_rng(1)
    n = 1_000_000
    ref = pd.DataFrame({"tiny": rng.normal(size=n), "real": rng.normal(size=n)})
    cur = pd.DataFrame({"tiny": rng.normal(0.01, size=n), "real": rng.normal(0.3, size=n)})
    report = drift_report(ref, cur)
    tiny = report.columns["tiny"]
    assert tiny.p_value_adjusted is not None and tiny.p_value_adjusted < 0.05  # significant,
    assert tiny.result.effect_size < 0.02 and not tiny.drifted  # but negligible
    assert report.drifted_columns == ["real"]
    assert report.columns["real"].result.effect_size == pytest.approx(0.3, abs=0.01)
    from_profile = drift_report(compute_profile(ref), cur)
    assert from_profile.drifted_columns == ["real"]
    assert from_profile.columns["tiny"].result.statistic == pytest.approx(
        tiny.result.statistic, abs=2e-3)


def test_profile_and_frame_references_give_the_same_report() -> None:
    rng = np.random.default_rng(5)
    ref = noise_frame(rng, 5000, numeric=4, categorical=2)
    cur = noise_frame(rng, 5000, numeric=4, categorical=2)
    cur["x0"] += 0.3
    cur["c0"] = rng.choice(LABELS, 5000, p=[0.2, 0.3, 0.3, 0.2])
    ref["when"] = pd.date_range("2024-01-01", periods=5000, freq="min")
    cur["when"] = pd.date_range("2024-02-01", periods=5000, freq="min")
    by_frame = drift_report(ref, cur)
    by_profile = drift_report(compute_profile(ref), cur)
    assert by_frame.drifted_columns == by_profile.drifted_columns == ["x0", "c0"]
    assert by_frame.skipped == by_profile.skipped
    assert list(by_frame.skipped) == ["when"] and "datetime" in by_frame.skipped["when"]
    for name, column in by_frame.columns.items():
        other = by_profile.columns[name].result
        assert other.statistic == pytest.approx(column.result.statistic, rel=0.02, abs=3e-3)
    assert by_profile.parameters["reference_from"] == "profile"
    assert by_profile.n_reference == 5000 and by_profile.n_current == 5000


def test_shares_and_dataset_verdict() -> None:
    rng = np.random.default_rng(3)
    ref = noise_frame(rng, 3000, numeric=5, categorical=0)
    cur = noise_frame(rng, 3000, numeric=5, categorical=0)
    for name in ("x0", "x1", "x2"):
        cur[name] *= 2.0
    report = drift_report(ref, cur)
    assert report.drifted_columns == ["x0", "x1", "x2"]
    assert report.share_drifted == pytest.approx(0.6) and report.dataset_drifted
    assert not drift_report(ref, cur, drift_share=0.7).dataset_drifted
    payload = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert payload["drifted_columns"] == ["x0", "x1", "x2"]
    assert payload["columns"]["x0"]["p_value_adjusted"] == pytest.approx(0.0, abs=1e-12)
    assert set(payload["columns"]["x3"]) >= {"statistic", "p_value", "effect_size",
                                              "drifted", "detector_drifted", "details"}


def test_category_share_30_to_40_is_flagged_by_the_report() -> None:
    rng = np.random.default_rng(8)
    ref = pd.DataFrame({"c": rng.choice(["a", "b"], 5000, p=[0.3, 0.7])})
    cur = pd.DataFrame({"c": rng.choice(["a", "b"], 5000, p=[0.4, 0.6])})
    column = drift_report(ref, cur).columns["c"]
    assert column.drifted and column.result.effect_size == pytest.approx(0.089, abs=0.01)


def test_threshold_detectors_keep_their_own_verdict() -> None:
    rng = np.random.default_rng(4)
    ref = noise_frame(rng, 3000, numeric=2, categorical=1)
    cur = noise_frame(rng, 3000, numeric=2, categorical=1)
    cur["x0"] += 1.0
    report = drift_report(ref, cur, numeric="psi", categorical="jensen_shannon")
    assert report.drifted_columns == ["x0"]
    assert all(c.p_value_adjusted is None for c in report.columns.values())
    assert report.columns["c0"].result.detector == "jensen_shannon"


def test_threads_and_one_thread_agree() -> None:
    rng = np.random.default_rng(6)
    ref = noise_frame(rng, 30_000, numeric=3, categorical=2)
    cur = noise_frame(rng, 30_000, numeric=3, categorical=2)
    cur["x1"] += 0.2
    threaded, serial = drift_report(ref, cur), drift_report(ref, cur, max_workers=1)
    assert threaded.to_dict() == serial.to_dict()


def test_adjusted_p_values() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    assert adjust_p_values(p, "bonferroni").tolist() == pytest.approx([0.04, 0.16, 0.12, 0.02])
    assert adjust_p_values(p, "bh").tolist() == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert adjust_p_values([0.9, 0.8], "bh").tolist() == pytest.approx([0.9, 0.9])
    assert adjust_p_values(p, "none").tolist() == p
    assert adjust_p_values([], "bh").size == 0
    with pytest.raises(InvalidArgument, match=r"Available: \['bh', 'bonferroni', 'none'\]"):
        adjust_p_values(p, "holm")


def test_bonferroni_is_stricter_than_bh() -> None:
    rng = np.random.default_rng(12)
    ref = noise_frame(rng, 2000, numeric=10, categorical=0)
    cur = noise_frame(rng, 2000, numeric=10, categorical=0)
    for i in range(5):
        cur[f"x{i}"] += 0.12
    bh = drift_report(ref, cur, min_effect=0)
    bonferroni = drift_report(ref, cur, min_effect=0, correction="bonferroni")
    assert set(bonferroni.drifted_columns) <= set(bh.drifted_columns)
    for name in bh.columns:
        assert bonferroni.columns[name].p_value_adjusted >= bh.columns[name].p_value_adjusted


def test_awkward_columns_are_skipped_with_a_reason() -> None:
    ref = pd.DataFrame({"x": [1.0, 2.0, 3.0] * 10, "gone": [1] * 30, "empty": [np.nan] * 30,
                        "flip": ["a", "b", "c"] * 10})
    cur = pd.DataFrame({"x": [1.0, 2.0, 3.0] * 5, "extra": [1] * 15,
                        "empty": [1.0] * 15, "flip": [1.0] * 15})
    report = drift_report(ref, cur)
    assert list(report.columns) == ["x"]
    assert report.skipped["gone"] == "missing from the current window"
    assert report.skipped["extra"] == "not in the reference"
    assert "no finite values" in report.skipped["empty"]
    assert report.skipped["flip"] == "dtype changed from string to float"


def test_an_empty_window_reports_no_drift() -> None:
    ref = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]})
    report = drift_report(ref, ref.iloc[:0])
    assert not report.dataset_drifted and report.drifted_columns == []
    assert all("note" in c.result.details for c in report.columns.values())
    json.dumps(report.to_dict(), allow_nan=False)


def test_bad_arguments() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "c": ["a", "b"]})
    with pytest.raises(InvalidArgument, match=r"'alpha' parameter of drift_report .* Got 1.5"):
        drift_report(frame, frame, alpha=1.5)
    with pytest.raises(InvalidArgument, match=r"No numeric detector named 'chi2'.*'ks'"):
        drift_report(frame, frame, numeric="chi2")
    with pytest.raises(InvalidArgument, match=r"No categorical detector named 'kss'.*'chi2'"):
        drift_report(frame, frame, categorical="kss")
    with pytest.raises(InvalidArgument, match="correction named 'holm'"):
        drift_report(frame, frame, correction="holm")
    with pytest.raises(InvalidArgument, match="min_effect"):
        drift_report(frame, frame, min_effect=-0.1)
    with pytest.raises(InvalidArgument, match="drift_share"):
        drift_report(frame, frame, drift_share=0)
    with pytest.raises(InvalidArgument, match="threshold"):
        drift_report(frame, frame, numeric_params={"threshold": 2.0})
    with pytest.raises(InvalidArgument, match="DataFrame or a dataset profile"):
        drift_report([1, 2], frame)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="current window must be a pandas DataFrame"):
        drift_report(frame, frame["x"])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match=r"Columns \['y'\] are missing"):
        drift_report(frame, frame, columns=["x", "y"])
    assert isinstance(drift_report(frame, frame, columns=["x"]), DriftReport)
