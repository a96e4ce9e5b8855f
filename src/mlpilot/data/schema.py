"""Dataset schemas: the logical type of each column, and how two schemas differ.

A schema is a small JSON-able dict, ``{"columns": [{"name", "dtype", "nullable"}, ...]}``,
where ``dtype`` is one of :data:`LOGICAL_DTYPES`. Logical types hide storage details
(``int8`` or nullable ``Int64``, ``object`` or ``str`` strings, time zones) so that the
same data typed by two libraries compares equal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pandas.api import types as ptypes

from mlpilot.core.errors import InvalidArgument, SchemaMismatch

LOGICAL_DTYPES: tuple[str, ...] = ("integer", "float", "boolean", "string", "category", "datetime")

# pandas.api.types.infer_dtype results for object columns, mapped to logical types.
_OBJECT_INFERRED: dict[str, str] = {
    "string": "string",
    "empty": "string",
    "bytes": "string",
    "mixed": "string",
    "mixed-integer": "string",
    "boolean": "boolean",
    "integer": "integer",
    "floating": "float",
    "mixed-integer-float": "float",
    "decimal": "float",
    "datetime": "datetime",
    "datetime64": "datetime",
    "date": "datetime",
}

# Got-vs-expected pairs that are not a break: the got data converts losslessly enough.
_COMPATIBLE: frozenset[tuple[str, str]] = frozenset(
    {
        ("float", "integer"),  # integers where floats are expected
        ("string", "category"),  # the same labels, stored as a categorical
        ("category", "string"),
    }
)


def check_column_names(df: pd.DataFrame) -> list[str]:
    """Return the frame's column names, refusing names mlpilot cannot key on.

    Args:
        df: the frame to check.

    Returns:
        The column names, in frame order.

    Raises:
        InvalidArgument: if ``df`` is not a DataFrame, or a column name is not a
            string, or a name occurs more than once (the message lists them).
    """
    if not isinstance(df, pd.DataFrame):
        raise InvalidArgument(
            f"Expected a pandas DataFrame. Got {type(df).__name__} instead; "
            "wrap the data with pandas.DataFrame(...) first."
        )
    names = list(df.columns)
    bad = [name for name in names if not isinstance(name, str)]
    if bad:
        raise InvalidArgument(
            f"Column names must be strings. Got non-string names {bad[:10]!r}; "
            "rename them, e.g. df.columns = df.columns.map(str).",
            columns=[repr(name) for name in bad[:10]],
        )
    duplicated = sorted(name for name, n in Counter(names).items() if n > 1)
    if duplicated:
        raise InvalidArgument(
            f"Column names must be unique. Got duplicates {duplicated[:10]!r}; "
            "rename or drop the repeated columns.",
            columns=duplicated[:10],
        )
    return names


def logical_dtype(series: pd.Series) -> str:
    """Map a column to its logical type, one of :data:`LOGICAL_DTYPES`.

    Storage variants collapse: numpy, nullable (``Int64``, ``Float64``, ``boolean``)
    and Arrow-backed dtypes map by kind; ``str``/``string`` dtypes map to "string";
    ``datetime64`` with or without a time zone maps to "datetime". ``object`` columns
    are typed by their values (strings, bytes and mixed values are "string").

    Args:
        series: the column.

    Returns:
        The logical type name.

    Raises:
        InvalidArgument: for kinds mlpilot does not profile (timedelta, period,
            interval, complex); the message names the column and a conversion.
    """
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if ptypes.is_object_dtype(dtype):
        inferred = ptypes.infer_dtype(series, skipna=True)
        kind = _OBJECT_INFERRED.get(inferred)
        if kind is None:
            raise _unsupported(series, f"object holding {inferred} values")
        return kind
    if ptypes.is_bool_dtype(dtype):
        return "boolean"
    if ptypes.is_integer_dtype(dtype):
        return "integer"
    if ptypes.is_float_dtype(dtype):
        return "float"
    if ptypes.is_datetime64_any_dtype(dtype):
        return "datetime"
    if ptypes.is_string_dtype(dtype):
        return "string"
    raise _unsupported(series, str(dtype))


def _unsupported(series: pd.Series, what: str) -> InvalidArgument:
    return InvalidArgument(
        f"Column {series.name!r} must have one of the types {list(LOGICAL_DTYPES)}. "
        f"Got {what}; convert it first (e.g. timedeltas with .dt.total_seconds(), "
        "other values with .astype(str)).",
        column=str(series.name),
    )


def infer_schema(df: pd.DataFrame) -> dict[str, Any]:
    """Infer the JSON-able schema of a frame.

    ``nullable`` is true when the column holds at least one missing value (None,
    NaN, NA or NaT).

    Args:
        df: the frame.

    Returns:
        ``{"columns": [{"name": str, "dtype": str, "nullable": bool}, ...]}`` in
        frame order.

    Raises:
        InvalidArgument: for non-string or duplicate column names, or a column of
            an unsupported type.
    """
    names = check_column_names(df)
    columns = []
    for position, name in enumerate(names):
        series = df.iloc[:, position]
        columns.append(
            {
                "name": name,
                "dtype": logical_dtype(series),
                "nullable": bool(series.isna().any()),
            }
        )
    return {"columns": columns}


@dataclass(frozen=True)
class SchemaDiff:
    """How data differs from an expected schema.

    Attributes:
        missing: expected columns the data lacks, in expected order.
        extra: data columns the schema does not list, in data order.
        retyped: ``{column: (expected dtype, got dtype)}`` for incompatible types.
        newly_nullable: columns expected without nulls that now have some.
    """

    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    retyped: Mapping[str, tuple[str, str]] = field(default_factory=dict, hash=False)
    newly_nullable: tuple[str, ...] = ()

    @property
    def is_break(self) -> bool:
        """True when a column is missing, extra or retyped (new nulls alone are not)."""
        return bool(self.missing or self.extra or self.retyped)

    def describe(self) -> str:
        """Human-readable lines naming each offending column, or "Schema matches."."""
        lines = [f"Missing column {name!r}." for name in self.missing]
        lines += [f"Unexpected column {name!r}." for name in self.extra]
        lines += [
            f"Column {name!r} changed type: expected {want}, got {got}."
            for name, (want, got) in self.retyped.items()
        ]
        lines += [
            f"Column {name!r} now has missing values; the reference had none."
            for name in self.newly_nullable
        ]
        return "\n".join(lines) if lines else "Schema matches."

    def raise_if_break(self) -> None:
        """Raise :class:`SchemaMismatch` describing the break, if there is one.

        Raises:
            SchemaMismatch: when :attr:`is_break` is true.
        """
        if self.is_break:
            raise SchemaMismatch(
                "The data does not match the expected schema:\n"
                f"{self.describe()}\n"
                "Fix the input columns, or register the data under a new schema.",
                missing=list(self.missing),
                extra=list(self.extra),
                retyped={name: list(pair) for name, pair in self.retyped.items()},
            )


def compare_schema(expected: Mapping[str, Any], df_or_schema: Any) -> SchemaDiff:
    """Compare data (a frame or a schema dict) with an expected schema.

    Compatible type changes are not breaks: integer data where float is expected,
    and string data where category is expected (or the reverse). When a frame is
    given, a column that is entirely missing values is compatible with any type
    (it shows up in ``newly_nullable`` instead). Column order is not compared.

    Args:
        expected: a schema as returned by :func:`infer_schema`.
        df_or_schema: the data to check: a DataFrame or a schema dict.

    Returns:
        The difference; ``diff.is_break`` tells whether it matters.

    Raises:
        InvalidArgument: if either schema is malformed, or the frame has
            non-string or duplicate column names.
    """
    want = _columns_of(expected, "expected")
    untyped: set[str] = set()
    if isinstance(df_or_schema, pd.DataFrame):
        got = _columns_of(infer_schema(df_or_schema), "data")
        untyped = {name for name in got if df_or_schema[name].isna().all()}
    else:
        got = _columns_of(df_or_schema, "data")
    retyped: dict[str, tuple[str, str]] = {}
    for name, (want_dtype, _) in want.items():
        if name not in got or name in untyped:
            continue
        got_dtype = got[name][0]
        if got_dtype != want_dtype and (want_dtype, got_dtype) not in _COMPATIBLE:
            retyped[name] = (want_dtype, got_dtype)
    return SchemaDiff(
        missing=tuple(name for name in want if name not in got),
        extra=tuple(name for name in got if name not in want),
        retyped=retyped,
        newly_nullable=tuple(
            name
            for name, (_, nullable) in want.items()
            if name in got and got[name][1] and not nullable
        ),
    )


def _columns_of(schema: Any, role: str) -> dict[str, tuple[str, bool]]:
    """Validate a schema dict and index it as ``{name: (dtype, nullable)}``."""
    columns = schema.get("columns") if isinstance(schema, Mapping) else None
    if not isinstance(columns, list):
        raise InvalidArgument(
            f"The {role} schema must be a dict with a 'columns' list, as infer_schema() "
            f"returns. Got {type(schema).__name__} instead."
        )
    out: dict[str, tuple[str, bool]] = {}
    for entry in columns:
        ok = (
            isinstance(entry, Mapping)
            and isinstance(entry.get("name"), str)
            and entry.get("dtype") in LOGICAL_DTYPES
            and isinstance(entry.get("nullable", False), bool)
        )
        if not ok:
            raise InvalidArgument(
                f"Each column of the {role} schema must be {{'name': str, 'dtype': one of "
                f"{list(LOGICAL_DTYPES)}, 'nullable': bool}}. Got {entry!r}."
            )
        if entry["name"] in out:
            raise InvalidArgument(
                f"Column names in the {role} schema must be unique. Got {entry['name']!r} twice."
            )
        out[entry["name"]] = (entry["dtype"], bool(entry.get("nullable", False)))
    return out
