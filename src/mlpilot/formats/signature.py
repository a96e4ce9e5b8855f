"""Model signatures: the logical input columns and output a model expects.

A signature is a plain JSON-able dict::

    {"inputs": [{"name": "age", "dtype": "integer", "nullable": False}, ...],
     "outputs": {"dtype": "integer", "shape": [None], "classes": [0, 1]}}

Logical dtypes are one of ``integer``, ``float``, ``boolean``, ``string``,
``category`` and ``datetime``.

Example:
    >>> import pandas as pd
    >>> sig = infer_signature(pd.DataFrame({"age": [31, 45], "city": ["Oslo", None]}))
    >>> sig["inputs"][1]
    {'name': 'city', 'dtype': 'string', 'nullable': True}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.core.errors import InvalidArgument, SchemaMismatch
from mlpilot.data.schema import LOGICAL_DTYPES, logical_dtype

__all__ = ["LOGICAL_DTYPES", "infer_signature", "logical_dtype", "validate_frame"]

#: declared dtype -> actual dtypes accepted for it
_COMPATIBLE = {
    "float": {"float", "integer"},
    "integer": {"integer"},
    "boolean": {"boolean"},
    "string": {"string", "category"},
    "category": {"category", "string"},
    "datetime": {"datetime"},
}


def _check_frame(X: object) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame):
        raise InvalidArgument(
            f"A signature is inferred from a pandas DataFrame. Got {type(X).__name__}; wrap "
            "it with pandas.DataFrame(...).",
            field="X",
        )
    names = [str(c) for c in X.columns]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise InvalidArgument(
            f"Column names must be unique. Got duplicates {duplicated}; rename them.",
            field="X",
        )
    return X


def _jsonable(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def infer_signature(
    X: pd.DataFrame,
    predictions: Any = None,
    *,
    classes: Sequence[Any] | np.ndarray | None = None,
) -> dict[str, Any]:
    """Describe the columns of ``X`` and, optionally, the model's output.

    Args:
        X: a sample of the model input (usually the training frame).
        predictions: the model's output on ``X`` (1-D labels/values or 2-D scores).
        classes: class labels of a classifier, stored under ``outputs.classes``.

    Returns:
        A JSON-able signature dict (see the module docstring).

    Raises:
        InvalidArgument: if ``X`` is not a DataFrame or has duplicate column names.
    """
    frame = _check_frame(X)
    inputs = [
        {
            "name": str(column),
            "dtype": logical_dtype(frame[column]),
            "nullable": bool(frame[column].isna().any()),
        }
        for column in frame.columns
    ]
    outputs: dict[str, Any] = {}
    if predictions is not None:
        if isinstance(predictions, pd.Series | pd.DataFrame):
            values = predictions.to_numpy()
        else:
            values = np.asarray(predictions)
        outputs["dtype"] = logical_dtype(pd.Series(values.reshape(-1)))
        outputs["shape"] = [None, *(int(d) for d in values.shape[1:])]
    if classes is not None:
        outputs["classes"] = [_jsonable(c) for c in np.asarray(classes).tolist()]
    return {"inputs": inputs, "outputs": outputs}


def _whole_numbers(series: pd.Series) -> bool:
    values = series.dropna().to_numpy(dtype=np.float64)
    return bool(np.all(np.isfinite(values) & (values == np.round(values))))


def _compatible(declared: str, series: pd.Series) -> tuple[bool, str]:
    actual = logical_dtype(series)
    if actual in _COMPATIBLE.get(declared, {declared}):
        return True, actual
    if series.isna().all():  # an all-null column carries no type of its own
        return True, actual
    # Integers with nulls arrive as floats (JSON, pandas): accept whole numbers.
    if declared == "integer" and actual == "float" and _whole_numbers(series):
        return True, actual
    return False, actual


def validate_frame(signature: dict[str, Any], X: pd.DataFrame) -> None:
    """Check ``X`` against a signature's inputs, reporting every problem at once.

    Integer data is accepted where float is declared, string and category are
    interchangeable, whole-number floats (integers with nulls) are accepted
    where integer is declared, and all-null columns match any dtype.

    Raises:
        InvalidArgument: if ``signature`` has no valid ``inputs`` list or ``X`` is
            not a DataFrame.
        SchemaMismatch: naming every missing, extra and retyped column, with
            ``details={"missing": [...], "extra": [...], "retyped": {...}}``.
    """
    inputs = signature.get("inputs") if isinstance(signature, dict) else None
    if not isinstance(inputs, list) or not all(
        isinstance(i, dict) and isinstance(i.get("name"), str) for i in inputs
    ):
        raise InvalidArgument(
            "A signature must be a dict with an 'inputs' list of {'name', 'dtype'} entries, "
            "as infer_signature returns. Got something else.",
            field="signature",
        )
    frame = _check_frame(X)
    by_name = {str(c): c for c in frame.columns}
    declared = {i["name"]: i.get("dtype") for i in inputs}
    missing = [name for name in declared if name not in by_name]
    extra = [name for name in by_name if name not in declared]
    retyped: dict[str, dict[str, str]] = {}
    problems: list[str] = []
    for name, dtype in declared.items():
        if name not in by_name or dtype not in LOGICAL_DTYPES:
            continue
        ok, actual = _compatible(dtype, frame[by_name[name]])
        if not ok:
            retyped[name] = {"expected": dtype, "got": actual}
            problems.append(f"Column {name!r} must be {dtype}, got {actual}.")
    if missing:
        problems.insert(0, f"Missing columns: {missing}.")
    if extra:
        problems.insert(1 if missing else 0, f"Unexpected columns: {extra}.")
    if problems:
        raise SchemaMismatch(
            "The input does not match the model signature. "
            + " ".join(problems)
            + f" Send exactly the columns {list(declared)} with their declared types.",
            missing=missing,
            extra=extra,
            retyped=retyped,
        )
