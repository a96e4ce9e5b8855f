"""Profiles: exact against NumPy on small seeded data, robust on odd columns."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlpilot.core.errors import InvalidArgument
from mlpilot.data import (
    bin_proportions,
    categorical_counts,
    compute_profile,
    psi_bins,
    reference_cdf,
    sketch_values,
)


def column(series: pd.Series, **kwargs: Any) -> dict[str, Any]:
    """Profile one column, checking the whole profile is strict JSON."""
    profile = compute_profile(pd.DataFrame({"x": series}), **kwargs)
    json.dumps(profile, allow_nan=False)
    return profile["columns"]["x"]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


@pytest.mark.parametrize("size", [1, 2, 7, 1000])
@pytest.mark.parametrize("quantiles", [2, 11, 1001])
def test_quantiles_equal_numpy_linear(rng: np.random.Generator, size: int, quantiles: int) -> None:
    values = rng.lognormal(size=size)
    got = column(pd.Series(values), quantiles=quantiles)["quantiles"]
    want = np.quantile(values, np.linspace(0, 1, quantiles), method="linear")
    assert len(got) == quantiles
    np.testing.assert_array_equal(got, want)  # bit-identical, not merely close


def test_integer_quantiles_equal_numpy(rng: np.random.Generator) -> None:
    values = rng.integers(-50, 50, size=501)
    got = column(pd.Series(values), quantiles=101)["quantiles"]
    np.testing.assert_array_equal(got, np.quantile(values, np.linspace(0, 1, 101)))


@pytest.mark.parametrize("bins", [1, 5, 64])
def test_float_summary_and_histogram_match_numpy(rng: np.random.Generator, bins: int) -> None:
    values = rng.normal(3, 2, size=999)
    col = column(pd.Series(values), bins=bins)
    counts, edges = np.histogram(values, bins=bins)
    np.testing.assert_array_equal(col["histogram"]["counts"], counts)
    np.testing.assert_array_equal(col["histogram"]["edges"], edges)
    assert sum(col["histogram"]["counts"]) == col["finite_count"] == 999
    assert col["min"] == values.min() and col["max"] == values.max()
    assert col["mean"] == pytest.approx(values.mean(), rel=1e-12)
    assert col["std"] == pytest.approx(values.std(), rel=1e-12)
    assert col["distinct_count"] == len(np.unique(values))
    assert col["dtype"] == "float"


def test_integer_histogram_matches_numpy_and_min_max_stay_ints(rng: np.random.Generator) -> None:
    values = rng.integers(0, 37, size=2000).astype("int16")
    col = column(pd.Series(values), bins=10)
    counts, edges = np.histogram(values, bins=10)
    np.testing.assert_array_equal(col["histogram"]["counts"], counts)
    np.testing.assert_array_equal(col["histogram"]["edges"], edges)
    assert isinstance(col["min"], int) and col["min"] == values.min()
    assert isinstance(col["max"], int) and col["max"] == values.max()
    assert col["distinct_count"] == len(np.unique(values))
    assert "nan_count" not in col


def test_nan_and_inf_are_counted_apart_and_left_out_of_the_sketch() -> None:
    values = [1.0, np.nan, np.inf, -np.inf, 2.0, np.nan, 3.0]
    col = column(pd.Series(values), quantiles=3, bins=2)
    assert (col["count"], col["null_count"], col["nan_count"], col["inf_count"]) == (5, 2, 2, 2)
    assert col["null_rate"] == pytest.approx(2 / 7)
    assert col["finite_count"] == 3
    assert col["quantiles"] == [1.0, 2.0, 3.0]
    assert sum(col["histogram"]["counts"]) == 3


def test_nullable_integers() -> None:
    col = column(pd.Series([5, None, 1, 5], dtype="Int64"), quantiles=3)
    assert (col["dtype"], col["count"], col["null_count"]) == ("integer", 3, 1)
    assert (col["min"], col["max"], col["distinct_count"]) == (1, 5, 2)
    assert col["quantiles"] == [1.0, 5.0, 5.0]


def test_frequencies_match_value_counts_with_ties_ordered_by_key(
    rng: np.random.Generator,
) -> None:
    values = pd.Series(rng.choice(list("abcdefg"), size=500).tolist() + ["y", "z", "x"] + [None])
    col = column(values)
    assert col["frequencies"] == values.value_counts().to_dict()
    assert list(col["frequencies"])[-3:] == ["x", "y", "z"]  # tied at 1: by key
    assert col["distinct_count"] == 10
    assert (col["count"], col["null_count"], col["other_count"]) == (503, 1, 0)


def test_top_categories_and_other_count() -> None:
    values = pd.Series(["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"] * 2)
    col = column(values, max_categories=2)
    assert col["frequencies"] == {"a": 5, "b": 4}
    assert col["other_count"] == 5
    assert col["distinct_count"] == 4
    assert column(values, max_categories=0)["frequencies"] == {}


@pytest.mark.parametrize("dtype", ["str", "object", "category", "string[python]"])
def test_top_values_match_a_full_sort(rng: np.random.Generator, dtype: str) -> None:
    values = pd.Series(rng.choice([f"k{i}" for i in range(300)], size=3000)).astype(dtype)
    expected = sorted(values.value_counts().items(), key=lambda kv: (-kv[1], kv[0]))
    col = column(values, max_categories=50)
    assert list(col["frequencies"].items()) == expected[:50]
    assert col["other_count"] == sum(n for _, n in expected[50:])
    assert col["distinct_count"] == len(expected)
    assert list(categorical_counts(values).items()) == expected


@pytest.mark.parametrize("dtype", ["str", "category", "string[pyarrow]", "boolean"])
def test_all_missing_categorical_columns(dtype: str) -> None:
    col = column(pd.Series([None, None], dtype=dtype))
    assert (col["count"], col["null_count"], col["distinct_count"]) == (0, 2, 0)
    assert (col["frequencies"], col["other_count"]) == ({}, 0)


def test_category_columns_ignore_unobserved_categories() -> None:
    values = pd.Series(pd.Categorical(["lo", "hi", "lo", None], categories=["lo", "hi", "mid"]))
    col = column(values)
    assert col["dtype"] == "category"
    assert col["frequencies"] == {"lo": 2, "hi": 1}
    assert col["distinct_count"] == 2


@pytest.mark.parametrize("dtype", ["bool", "boolean"])
def test_booleans_are_categories_keyed_by_str(dtype: str) -> None:
    values = pd.Series([True, True, False], dtype=dtype)
    col = column(values)
    assert col["dtype"] == "boolean"
    assert col["frequencies"] == {"True": 2, "False": 1}
    assert categorical_counts(values) == col["frequencies"]


def test_object_values_with_the_same_text_are_merged() -> None:
    col = column(pd.Series([1, "1", "a", [1]], dtype=object))
    assert col["frequencies"] == {"1": 2, "[1]": 1, "a": 1}


def test_datetime_with_time_zone(rng: np.random.Generator) -> None:
    stamps = (
        pd.Series(pd.to_datetime(rng.integers(1_600_000_000, 1_700_000_000, size=300), unit="s"))
        .dt.tz_localize("UTC")
        .dt.tz_convert("America/New_York")
    )
    stamps[5] = pd.NaT
    col = column(stamps, quantiles=11)
    epoch = np.sort(stamps.dropna().map(pd.Timestamp.timestamp).to_numpy(dtype=float))
    assert col["dtype"] == "datetime"
    assert col["timezone"] == "America/New_York"
    assert (col["count"], col["null_count"]) == (299, 1)
    assert col["min"] == stamps.min().isoformat() and col["min"].endswith(("-04:00", "-05:00"))
    assert col["max"] == stamps.max().isoformat()
    np.testing.assert_array_equal(col["quantiles"], np.quantile(epoch, np.linspace(0, 1, 11)))
    np.testing.assert_array_equal(sketch_values(stamps), epoch)
    assert col["distinct_count"] == len(np.unique(epoch))


def test_naive_datetime_iso_has_no_offset() -> None:
    stamps = [pd.Timestamp("2024-03-01 12:00"), pd.Timestamp("2024-03-02")]
    col = column(pd.Series(stamps))
    assert (col["min"], col["max"], col["timezone"]) == (
        "2024-03-01T12:00:00",
        "2024-03-02T00:00:00",
        None,
    )


EDGE_COLUMNS = {
    "all-nan": pd.Series([np.nan, np.nan]),
    "all-inf": pd.Series([np.inf, -np.inf]),
    "all-none-object": pd.Series([None, None], dtype=object),
    "all-na-int": pd.Series([None, None], dtype="Int64"),
    "all-nat": pd.Series(pd.to_datetime([None, None])),
    "single-value": pd.Series([4.0] * 5),
    "single-int": pd.Series([7]),
    "huge-range": pd.Series([-1e308, 1e308, 0.0]),
    "int64-extremes": pd.Series([np.iinfo(np.int64).min, np.iinfo(np.int64).max]),
    "int8-max": pd.Series([127, 127], dtype="int8"),
}


@pytest.mark.parametrize("name", list(EDGE_COLUMNS))
def test_odd_columns_profile_to_strict_json(name: str) -> None:
    col = column(EDGE_COLUMNS[name], bins=8, quantiles=5)
    if "histogram" in col and col["finite_count"]:
        assert sum(col["histogram"]["counts"]) == col["finite_count"]
        assert len(col["histogram"]["edges"]) == 9
        assert all(v is not None for v in col["quantiles"])


def test_columns_without_finite_values_have_empty_sketches() -> None:
    col = column(pd.Series([np.nan, np.inf]))
    assert (col["min"], col["mean"], col["quantiles"]) == (None, None, [])
    assert col["histogram"] == {"edges": [], "counts": []}
    with pytest.raises(InvalidArgument, match="no usable quantile sketch"):
        reference_cdf(col)


def test_single_value_histogram_follows_numpy() -> None:
    col = column(pd.Series([4.0] * 5), bins=4)
    counts, edges = np.histogram(np.full(5, 4.0), bins=4)
    np.testing.assert_array_equal(col["histogram"]["edges"], edges)
    np.testing.assert_array_equal(col["histogram"]["counts"], counts)
    assert (col["std"], col["distinct_count"]) == (0.0, 1)


def test_empty_frames() -> None:
    profile = compute_profile(pd.DataFrame({"a": pd.Series([], dtype=float), "b": []}))
    json.dumps(profile, allow_nan=False)
    assert (profile["num_rows"], profile["num_columns"]) == (0, 2)
    assert profile["columns"]["a"]["null_rate"] == 0.0
    assert compute_profile(pd.DataFrame()) == {
        "version": 1,
        "num_rows": 0,
        "num_columns": 0,
        "columns": {},
    }


def test_profile_is_deterministic_and_thread_count_free(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mlpilot.data.profile._PARALLEL_MIN_ROWS", 0)  # threads on small data
    df = pd.DataFrame(
        {
            "f": rng.normal(size=300),
            "i": rng.integers(0, 9, size=300),
            "s": rng.choice(["u", "v", "w"], size=300),
            "d": pd.date_range("2024", periods=300, freq="min"),
        }
    )
    first = json.dumps(compute_profile(df))
    assert json.dumps(compute_profile(df)) == first
    assert json.dumps(compute_profile(df, max_workers=1)) == first
    assert json.dumps(compute_profile(df, max_workers=3)) == first
    assert list(json.loads(first)) == ["version", "num_rows", "num_columns", "columns"]
    assert list(json.loads(first)["columns"]) == ["f", "i", "s", "d"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"quantiles": 1}, "'quantiles' parameter of compute_profile must be an int >= 2"),
        ({"bins": 0}, "'bins' parameter .* >= 1. Got 0"),
        ({"max_categories": -1}, "'max_categories' parameter .* >= 0"),
        ({"quantiles": True}, "'quantiles' parameter"),
        ({"max_workers": 0}, "'max_workers' parameter"),
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        compute_profile(pd.DataFrame({"a": [1]}), **kwargs)


def test_bad_frames_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="must be strings"):
        compute_profile(pd.DataFrame({1: [1.0]}))
    with pytest.raises(InvalidArgument, match="Column 'd' must have one of the types"):
        compute_profile(pd.DataFrame({"d": pd.to_timedelta([1], unit="s")}))


def test_reference_cdf(rng: np.random.Generator) -> None:
    values = rng.normal(size=400)
    sketch, probs = reference_cdf(column(pd.Series(values), quantiles=21))
    np.testing.assert_array_equal(probs, np.linspace(0, 1, 21))
    np.testing.assert_array_equal(sketch, np.quantile(values, probs))
    with pytest.raises(InvalidArgument, match="Got a column profile with dtype 'string'"):
        reference_cdf(column(pd.Series(["a"])))


def test_psi_bins_and_proportions_on_continuous_data(rng: np.random.Generator) -> None:
    values = rng.normal(size=5000)
    col = column(pd.Series(values))
    edges = psi_bins(col, n=10)
    assert edges[0] == -np.inf and edges[-1] == np.inf and len(edges) == 11
    sketch, _ = reference_cdf(col)
    np.testing.assert_array_equal(edges[1:-1], sketch[100:1000:100])  # stored points
    np.testing.assert_allclose(edges[1:-1], np.quantile(values, np.arange(1, 10) / 10))
    shares = bin_proportions(col, edges)
    np.testing.assert_allclose(shares, 0.1, atol=1e-3)
    assert shares.sum() == pytest.approx(1.0)


def test_psi_bins_deduplicate_ties(rng: np.random.Generator) -> None:
    values = np.concatenate([np.zeros(600), rng.integers(1, 4, size=400)]).astype(float)
    col = column(pd.Series(values))
    edges = psi_bins(col, n=10)
    assert np.all(np.diff(edges) > 0)
    assert edges[1] > values.min()  # no reference-empty first bin
    shares = bin_proportions(col, edges)
    bins = np.searchsorted(edges, values, side="right") - 1
    exact = np.bincount(bins, minlength=len(edges) - 1) / len(values)
    np.testing.assert_allclose(shares, exact, atol=2 / 1000)
    with pytest.raises(InvalidArgument, match="'n' parameter of psi_bins"):
        psi_bins(col, n=0)
    with pytest.raises(InvalidArgument, match="increasing"):
        bin_proportions(col, [2.0, 1.0])


def test_categorical_counts_match_profile_keys() -> None:
    values = pd.Series(pd.Categorical([1, 2, 2, None]))
    assert categorical_counts(values) == column(values)["frequencies"] == {"2": 2, "1": 1}
    with pytest.raises(InvalidArgument, match="use categorical_counts"):
        sketch_values(values)
