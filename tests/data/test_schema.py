"""Logical dtypes, schema inference and schema diffs."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlpilot.core.errors import InvalidArgument, SchemaMismatch
from mlpilot.data import LOGICAL_DTYPES, SchemaDiff, compare_schema, infer_schema, logical_dtype

DTYPE_TABLE: list[tuple[str, Callable[[], pd.Series], str]] = [
    ("int64", lambda: pd.Series([1, 2, 3]), "integer"),
    ("int8", lambda: pd.Series([1, 2], dtype="int8"), "integer"),
    ("uint32", lambda: pd.Series([1, 2], dtype="uint32"), "integer"),
    ("Int64-nullable", lambda: pd.Series([1, None], dtype="Int64"), "integer"),
    ("arrow-int", lambda: pd.Series([1, None], dtype=pd.ArrowDtype(pa.int32())), "integer"),
    ("object-ints", lambda: pd.Series([1, 2], dtype=object), "integer"),
    ("float64", lambda: pd.Series([1.5, np.nan]), "float"),
    ("float32", lambda: pd.Series([1.5], dtype="float32"), "float"),
    ("Float64-nullable", lambda: pd.Series([1.5, None], dtype="Float64"), "float"),
    ("object-floats", lambda: pd.Series([1.5, None], dtype=object), "float"),
    ("bool", lambda: pd.Series([True, False]), "boolean"),
    ("boolean-nullable", lambda: pd.Series([True, None], dtype="boolean"), "boolean"),
    ("arrow-bool", lambda: pd.Series([True], dtype=pd.ArrowDtype(pa.bool_())), "boolean"),
    ("object-bools", lambda: pd.Series([True, None], dtype=object), "boolean"),
    ("str-default", lambda: pd.Series(["a", None]), "string"),
    ("object-strings", lambda: pd.Series(["a", None], dtype=object), "string"),
    ("string-python", lambda: pd.Series(["a", None], dtype="string[python]"), "string"),
    ("string-pyarrow", lambda: pd.Series(["a", None], dtype="string[pyarrow]"), "string"),
    ("object-all-none", lambda: pd.Series([None, None], dtype=object), "string"),
    ("object-mixed", lambda: pd.Series([1, "a"], dtype=object), "string"),
    ("category-str", lambda: pd.Series(["a", "b"], dtype="category"), "category"),
    ("category-int", lambda: pd.Series(pd.Categorical([1, 2])), "category"),
    ("datetime-naive", lambda: pd.Series(pd.date_range("2024", periods=2)), "datetime"),
    (
        "datetime-tz",
        lambda: pd.Series(pd.date_range("2024", periods=2, tz="Europe/Paris")),
        "datetime",
    ),
    (
        "datetime-ns-nat",
        lambda: pd.Series(pd.to_datetime(["2024-01-01", None]).as_unit("ns")),
        "datetime",
    ),
    ("object-dates", lambda: pd.Series([dt.date(2024, 1, 1)], dtype=object), "datetime"),
]


@pytest.mark.parametrize(
    ("make", "expected"), [(m, e) for _, m, e in DTYPE_TABLE], ids=[n for n, _, _ in DTYPE_TABLE]
)
def test_logical_dtype_table(make: Callable[[], pd.Series], expected: str) -> None:
    assert logical_dtype(make()) == expected
    assert expected in LOGICAL_DTYPES


@pytest.mark.parametrize(
    "series",
    [
        pd.Series(pd.to_timedelta([1, 2], unit="s"), name="wait"),
        pd.Series([1 + 2j], name="wait"),
    ],
    ids=["timedelta", "complex"],
)
def test_logical_dtype_refuses_unsupported_kinds(series: pd.Series) -> None:
    with pytest.raises(InvalidArgument, match="Column 'wait' must have one of the types"):
        logical_dtype(series)


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [30, 40, 50],
            "income": [1.0, np.nan, 3.0],
            "city": ["a", "b", None],
            "member": [True, False, True],
            "seen": pd.date_range("2024", periods=3, tz="UTC"),
        }
    )


def test_infer_schema_shape_order_and_nullability() -> None:
    schema = infer_schema(frame())
    assert schema == {
        "columns": [
            {"name": "age", "dtype": "integer", "nullable": False},
            {"name": "income", "dtype": "float", "nullable": True},
            {"name": "city", "dtype": "string", "nullable": True},
            {"name": "member", "dtype": "boolean", "nullable": False},
            {"name": "seen", "dtype": "datetime", "nullable": False},
        ]
    }
    assert json.loads(json.dumps(schema)) == schema


def test_infer_schema_refuses_non_string_column_names() -> None:
    with pytest.raises(InvalidArgument, match=r"must be strings.*\[0, 1\]"):
        infer_schema(pd.DataFrame([[1, 2]]))


def test_infer_schema_refuses_duplicate_column_names() -> None:
    df = pd.DataFrame([[1, 2, 3]], columns=["a", "b", "a"])
    with pytest.raises(InvalidArgument, match=r"unique.*\['a'\]"):
        infer_schema(df)


def test_infer_schema_refuses_non_frames() -> None:
    with pytest.raises(InvalidArgument, match="Expected a pandas DataFrame. Got dict"):
        infer_schema({"a": [1]})


def test_same_data_is_no_break() -> None:
    diff = compare_schema(infer_schema(frame()), frame())
    assert diff == SchemaDiff()
    assert not diff.is_break
    assert diff.describe() == "Schema matches."
    diff.raise_if_break()  # no exception


def test_missing_extra_and_retyped_columns_break() -> None:
    expected = infer_schema(frame())
    got = frame().drop(columns=["city"]).assign(extra=1, age=["x", "y", "z"])
    diff = compare_schema(expected, got)
    assert diff.missing == ("city",)
    assert diff.extra == ("extra",)
    assert dict(diff.retyped) == {"age": ("integer", "string")}
    assert diff.is_break
    text = diff.describe()
    assert "Missing column 'city'" in text
    assert "Unexpected column 'extra'" in text
    assert "Column 'age' changed type: expected integer, got string" in text
    with pytest.raises(SchemaMismatch, match="Missing column 'city'") as info:
        diff.raise_if_break()
    assert info.value.details["missing"] == ["city"]


def test_integers_where_floats_are_expected_are_not_a_break() -> None:
    diff = compare_schema(infer_schema(frame()), frame().assign(income=[1, 2, 3]))
    assert not diff.is_break
    assert diff.retyped == {}


def test_floats_where_integers_are_expected_break() -> None:
    diff = compare_schema(infer_schema(frame()), frame().assign(age=[1.5, 2.5, 3.5]))
    assert dict(diff.retyped) == {"age": ("integer", "float")}


def test_string_and_category_are_compatible() -> None:
    got = frame().assign(city=pd.Categorical(["a", "b", None]))
    assert not compare_schema(infer_schema(frame()), got).is_break


def test_new_nulls_are_reported_but_not_a_break() -> None:
    got = frame().assign(age=pd.array([1, None, 3], dtype="Int64"))
    diff = compare_schema(infer_schema(frame()), got)
    assert diff.newly_nullable == ("age",)
    assert not diff.is_break
    assert "Column 'age' now has missing values" in diff.describe()


def test_an_all_null_column_is_not_retyped() -> None:
    got = frame().assign(age=[None, None, None])
    diff = compare_schema(infer_schema(frame()), got)
    assert diff.retyped == {}
    assert diff.newly_nullable == ("age",)


def test_compare_with_a_schema_dict() -> None:
    expected = {"columns": [{"name": "a", "dtype": "integer", "nullable": False}]}
    got = {"columns": [{"name": "a", "dtype": "boolean", "nullable": False}]}
    assert dict(compare_schema(expected, got).retyped) == {"a": ("integer", "boolean")}


@pytest.mark.parametrize(
    "bad",
    [
        None,
        {"cols": []},
        {"columns": [{"name": "a", "dtype": "int"}]},
        {"columns": [{"name": 1, "dtype": "integer"}]},
        {"columns": [{"name": "a", "dtype": "float"}, {"name": "a", "dtype": "float"}]},
    ],
)
def test_malformed_schemas_are_refused(bad: object) -> None:
    with pytest.raises(InvalidArgument, match="expected schema"):
        compare_schema(bad, frame())  # type: ignore[arg-type]
