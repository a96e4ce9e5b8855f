"""Parquet snapshots: deterministic bytes, faithful round trips, clear refusals."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import io
import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from mlpilot.core.errors import InvalidArgument
from mlpilot.data import dataset_digest, read_parquet_bytes, to_parquet_bytes

COLUMNS: dict[str, Callable[[], pd.Series]] = {
    "int64": lambda: pd.Series([1, -2, 3]),
    "uint8": lambda: pd.Series([1, 2, 255], dtype="uint8"),
    "float64-nan": lambda: pd.Series([1.5, np.nan, -np.inf]),
    "float32": lambda: pd.Series([1.5, 2.5, np.nan], dtype="float32"),
    "bool": lambda: pd.Series([True, False, True]),
    "Int64-nullable": lambda: pd.Series([1, None, 3], dtype="Int64"),
    "UInt16-nullable": lambda: pd.Series([1, None, 3], dtype="UInt16"),
    "Float64-nullable": lambda: pd.Series([1.5, None, 3.0], dtype="Float64"),
    "boolean-nullable": lambda: pd.Series([True, None, False], dtype="boolean"),
    "str-nulls": lambda: pd.Series(["a", None, "é"]),
    "object-str-nulls": lambda: pd.Series(["a", None, "c"], dtype=object),
    "string-python": lambda: pd.Series(["a", None, "c"], dtype="string[python]"),
    "object-decimal": lambda: pd.Series([decimal.Decimal("1.10"), None, None], dtype=object),
    "object-dates": lambda: pd.Series([dt.date(2024, 1, 2), None, dt.date(2024, 1, 3)]),
    "category-str": lambda: pd.Series(pd.Categorical(["b", None, "a"], categories=["b", "a", "z"])),
    "category-int": lambda: pd.Series(pd.Categorical([1, 2, 1], categories=[2, 1, 7])),
    "category-ordered": lambda: pd.Series(
        pd.Categorical(["lo", "hi", "lo"], categories=["lo", "hi"], ordered=True)
    ),
    "category-datetime": lambda: pd.Series(
        pd.Categorical(pd.to_datetime(["2024-01-01", "2024-01-02", None]).tz_localize("UTC"))
    ),
    "datetime-naive": lambda: pd.Series(pd.date_range("2024", periods=3, freq="h")),
    "datetime-ns-nat": lambda: pd.Series(
        pd.to_datetime(["2024-01-01", None, "2024-01-03"]).as_unit("ns")
    ),
    "datetime-tz": lambda: pd.Series(pd.date_range("2024-03-30", periods=3, tz="Europe/Paris")),
    "timedelta": lambda: pd.Series(pd.to_timedelta([1, None, 3], unit="s")),
}


def roundtrip(df: pd.DataFrame) -> pd.DataFrame:
    return read_parquet_bytes(to_parquet_bytes(df))


@pytest.mark.parametrize("name", list(COLUMNS))
def test_round_trip_preserves_values_and_dtype(name: str) -> None:
    df = pd.DataFrame({"before": [1, 2, 3], name: COLUMNS[name](), "after": ["x", "y", "z"]})
    back = roundtrip(df)
    assert list(back.columns) == list(df.columns)
    assert back[name].dtype == df[name].dtype
    if isinstance(df[name].dtype, pd.CategoricalDtype):
        assert list(back[name].cat.categories) == list(df[name].cat.categories)
    pd.testing.assert_frame_equal(back, df, check_exact=True)


def test_round_trip_of_all_kinds_together_is_byte_stable() -> None:
    df = pd.DataFrame({name: make() for name, make in COLUMNS.items()})
    data = to_parquet_bytes(df)
    back = read_parquet_bytes(data)
    pd.testing.assert_frame_equal(back, df, check_exact=True)
    assert to_parquet_bytes(back) == data  # re-snapshotting keeps the address


def test_object_strings_come_back_with_none() -> None:
    back = roundtrip(pd.DataFrame({"s": pd.Series(["a", None], dtype=object)}))
    assert back["s"].dtype == object
    assert back["s"].tolist() == ["a", None]


def test_bytes_are_deterministic() -> None:
    rng = np.random.default_rng(3)
    df = pd.DataFrame(
        {
            "x": rng.normal(size=1000),
            "c": pd.Categorical(rng.choice(["a", "b"], size=1000)),
            "s": rng.choice(["u", "v", None], size=1000),
        }
    )
    data = to_parquet_bytes(df)
    assert to_parquet_bytes(df) == data
    assert to_parquet_bytes(df.copy(deep=True)) == data
    # A frame assembled from pieces (chunked Arrow strings) gives the same bytes.
    pieces = pd.concat([df.iloc[:500], df.iloc[500:]], ignore_index=True)
    assert to_parquet_bytes(pieces) == data


def test_digest_is_the_sha256_of_the_bytes() -> None:
    data = to_parquet_bytes(pd.DataFrame({"a": [1, 2]}))
    digest = dataset_digest(data)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    assert digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert dataset_digest(bytearray(data)) == digest
    assert dataset_digest(to_parquet_bytes(pd.DataFrame({"a": [1, 3]}))) != digest


def test_row_number_index_is_dropped() -> None:
    df = pd.DataFrame({"a": [1, 2, 3, 4]})
    filtered = df[df["a"] > 2]  # index [2, 3]: row numbers, not data
    back = roundtrip(filtered)
    assert isinstance(back.index, pd.RangeIndex)
    assert to_parquet_bytes(filtered) == to_parquet_bytes(filtered.reset_index(drop=True))


@pytest.mark.parametrize(
    "index",
    [
        pd.Index([10, 20], name="id"),
        pd.Index(["x", "y"]),
        pd.date_range("2024", periods=2, tz="UTC"),
        pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["k", "n"]),
    ],
    ids=["named-int", "strings", "datetimes", "multi"],
)
def test_meaningful_index_is_kept(index: pd.Index) -> None:
    df = pd.DataFrame({"a": [1.0, 2.0]}, index=index)
    pd.testing.assert_frame_equal(roundtrip(df), df, check_freq=False)  # freq is not stored


def test_empty_frame_round_trips() -> None:
    df = pd.DataFrame({"a": pd.Series([], dtype="Int64"), "s": pd.Series([], dtype="str")})
    pd.testing.assert_frame_equal(roundtrip(df), df)


def test_duplicate_column_names_are_refused_by_name() -> None:
    df = pd.DataFrame([[1, 2, 3]], columns=["a", "b", "a"])
    with pytest.raises(InvalidArgument, match=r"unique.*\['a'\]"):
        to_parquet_bytes(df)


def test_non_string_column_names_are_refused_by_name() -> None:
    df = pd.DataFrame({"a": [1], 7: [2], ("t", "u"): [3]})
    with pytest.raises(InvalidArgument, match=r"non-string names \[7, \('t', 'u'\)\]"):
        to_parquet_bytes(df)


def test_unstorable_columns_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="cannot be stored as Parquet"):
        to_parquet_bytes(pd.DataFrame({"m": pd.Series([1, "a"], dtype=object)}))


def test_bad_inputs_to_read_and_digest() -> None:
    with pytest.raises(InvalidArgument, match="not a readable Parquet file"):
        read_parquet_bytes(b"not parquet at all")
    truncated = to_parquet_bytes(pd.DataFrame({"a": range(100)}))[:-20]
    with pytest.raises(InvalidArgument, match="not a readable Parquet file"):
        read_parquet_bytes(truncated)
    with pytest.raises(InvalidArgument, match="must be bytes. Got str"):
        read_parquet_bytes("a.parquet")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="taken over bytes. Got DataFrame"):
        dataset_digest(pd.DataFrame())  # type: ignore[arg-type]


def test_reads_parquet_written_elsewhere() -> None:
    buffer = io.BytesIO()
    df = pd.DataFrame({"a": [1, 2], "s": ["x", None]})
    df.to_parquet(buffer)
    pd.testing.assert_frame_equal(read_parquet_bytes(buffer.getvalue()), df)
