"""Signature inference and frame validation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlpilot.core.errors import InvalidArgument, SchemaMismatch
from mlpilot.formats import infer_signature, logical_dtype, validate_frame


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [31, 45, 52],
            "income": [1.5, np.nan, 3.0],
            "member": [True, False, True],
            "city": ["oslo", None, "lima"],
            "segment": pd.Categorical(["a", "b", "a"]),
            "joined": pd.to_datetime(["2020-01-01", "2021-06-01", "2022-03-04"]),
        }
    )


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        (pd.Series([1, 2], dtype="int64"), "integer"),
        (pd.Series([1, 2], dtype="uint8"), "integer"),
        (pd.Series([1, None], dtype="Int64"), "integer"),
        (pd.Series([1.0, 2.5]), "float"),
        (pd.Series([1.0, None], dtype="Float64"), "float"),
        (pd.Series([True, False]), "boolean"),
        (pd.Series([True, None], dtype="boolean"), "boolean"),
        (pd.Series([True, None], dtype=object), "boolean"),
        (pd.Series(["a", "b"]), "string"),
        (pd.Series(["a", None], dtype="string"), "string"),
        (pd.Series([1, "a"], dtype=object), "string"),
        (pd.Series([1, 2], dtype=object), "integer"),
        (pd.Series([None, None], dtype=object), "string"),
        (pd.Series(["x", "y"], dtype="category"), "category"),
        (pd.Series(pd.to_datetime(["2024-01-01"])), "datetime"),
        (pd.Series(pd.to_datetime(["2024-01-01"]).tz_localize("UTC")), "datetime"),
    ],
)
def test_logical_dtype(series: pd.Series, expected: str) -> None:
    assert logical_dtype(series) == expected


def test_infer_signature_inputs_and_outputs(frame: pd.DataFrame) -> None:
    signature = infer_signature(frame, np.array([0, 1, 1]), classes=np.array([0, 1]))
    assert signature["inputs"] == [
        {"name": "age", "dtype": "integer", "nullable": False},
        {"name": "income", "dtype": "float", "nullable": True},
        {"name": "member", "dtype": "boolean", "nullable": False},
        {"name": "city", "dtype": "string", "nullable": True},
        {"name": "segment", "dtype": "category", "nullable": False},
        {"name": "joined", "dtype": "datetime", "nullable": False},
    ]
    assert signature["outputs"] == {"dtype": "integer", "shape": [None], "classes": [0, 1]}
    assert json.loads(json.dumps(signature)) == signature  # JSON-able as is


def test_infer_signature_output_variants(frame: pd.DataFrame) -> None:
    proba = np.full((3, 2), 0.5)
    assert infer_signature(frame, proba)["outputs"] == {"dtype": "float", "shape": [None, 2]}
    labels = pd.Series(["no", "yes", "no"])
    assert infer_signature(frame, labels)["outputs"] == {"dtype": "string", "shape": [None]}
    assert infer_signature(frame)["outputs"] == {}
    assert infer_signature(frame, classes=["no", "yes"])["outputs"] == {"classes": ["no", "yes"]}


def test_infer_signature_rejects_bad_input() -> None:
    with pytest.raises(InvalidArgument, match="pandas DataFrame"):
        infer_signature(np.zeros((2, 2)))  # type: ignore[arg-type]
    duplicated = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(InvalidArgument, match=r"duplicates \['a'\]"):
        infer_signature(duplicated)


def test_validate_frame_accepts_matching_and_compatible_frames(frame: pd.DataFrame) -> None:
    signature = infer_signature(frame)
    validate_frame(signature, frame)
    validate_frame(signature, frame[list(reversed(frame.columns))])  # order does not matter
    compatible = frame.assign(
        income=[1, 2, 3],  # integers where float is declared
        age=[31.0, np.nan, 52.0],  # integers with a null arrive as floats
        city=pd.Categorical(["oslo", "lima", "lima"]),  # category where string is declared
        segment=["a", "b", "c"],  # strings where category is declared
        member=[None, None, None],  # all-null column
    )
    validate_frame(signature, compatible)


def test_validate_frame_reports_every_problem_at_once(frame: pd.DataFrame) -> None:
    signature = infer_signature(frame)
    bad = frame.drop(columns=["city", "joined"]).assign(
        age=["31", "45", "52"], income=["x", "y", "z"], extra=1, other=2
    )
    with pytest.raises(SchemaMismatch) as info:
        validate_frame(signature, bad)
    error = info.value
    message = str(error)
    assert "Missing columns: ['city', 'joined']" in message
    assert "Unexpected columns: ['extra', 'other']" in message
    assert "Column 'age' must be integer, got string." in message
    assert "Column 'income' must be float, got string." in message
    assert error.details == {
        "missing": ["city", "joined"],
        "extra": ["extra", "other"],
        "retyped": {
            "age": {"expected": "integer", "got": "string"},
            "income": {"expected": "float", "got": "string"},
        },
    }
    assert error.code == "schema_mismatch" and error.http_status == 422


def test_validate_frame_refuses_fractional_floats_for_integers(frame: pd.DataFrame) -> None:
    signature = infer_signature(frame)
    with pytest.raises(SchemaMismatch, match="Column 'age' must be integer, got float"):
        validate_frame(signature, frame.assign(age=[31.5, 45.0, 52.0]))


def test_validate_frame_rejects_malformed_signature(frame: pd.DataFrame) -> None:
    for signature in ({}, {"inputs": "age"}, {"inputs": [{"dtype": "integer"}]}, None):
        with pytest.raises(InvalidArgument, match="'inputs' list"):
            validate_frame(signature, frame)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="pandas DataFrame"):
        validate_frame(infer_signature(frame), {"age": [1]})  # type: ignore[arg-type]
