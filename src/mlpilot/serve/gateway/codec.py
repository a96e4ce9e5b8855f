"""Request bodies in, model frames and JSON answers out.

Parsing is strict and bounded: the content type must be JSON (nothing else is
ever deserialised), nesting depth is measured on the raw bytes before any
Python object is built, and NaN/Infinity literals, overflowing numbers and
unpaired surrogates are refused (orjson is strict RFC 8259).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import orjson
import pandas as pd

from mlpilot.core.errors import SchemaMismatch
from mlpilot.formats import validate_frame
from mlpilot.serve.gateway.errors import (
    InputSchemaMismatch,
    InvalidInput,
    InvalidJSON,
    JSONTooDeep,
    NullNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
)

Columns = dict[str, list[Any]]

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_SCALARS = (type(None), bool, int, float, str)
_QUOTE_KIND = 1
_BYTE_KIND = np.zeros(256, dtype=np.int8)  # byte -> 1 quote, 2 opens, 3 closes, 0 other
_BYTE_KIND[list(b'"')] = _QUOTE_KIND
_BYTE_KIND[list(b"[{")] = 2
_BYTE_KIND[list(b"]}")] = 3
_STEP = np.array([0, 0, 1, -1], dtype=np.int64)  # kind -> depth change
_INT64 = 2**63

#: signature dtype -> Open Inference Protocol datatype
OIP_DATATYPES = {"integer": "INT64", "float": "FP64", "boolean": "BOOL", "string": "BYTES",
                 "category": "BYTES", "datetime": "BYTES"}
_OIP_INT = {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
_OIP_FLOAT = {"FP16", "FP32", "FP64"}
_OIP_ALL = _OIP_INT | _OIP_FLOAT | {"BOOL", "BYTES"}


def check_content_type(header: str | None) -> None:
    """Accept JSON (or no declared type); refuse everything else with 415."""
    if not header:
        return
    media = header.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return
    raise UnsupportedMediaType(
        f"The gateway accepts JSON only. Got Content-Type {media!r}; send the body as "
        "JSON with 'Content-Type: application/json'. Pickled or binary payloads are "
        "never deserialised.", content_type=media)


def json_depth(body: bytes) -> int:
    """Deepest ``[``/``{`` nesting in ``body``, ignoring brackets inside strings."""
    if b"\\" in body:  # escaped quotes: strip whole strings first (slower, exact)
        body = _STRING.sub(b"", body)
    kinds = _BYTE_KIND[np.frombuffer(body, dtype=np.uint8)]
    where = np.flatnonzero(kinds)  # only quotes and brackets matter
    kinds = kinds[where]
    # without escapes every quote toggles "inside a string"
    outside = (np.cumsum(kinds == _QUOTE_KIND) & 1) == 0
    steps = np.where(outside, _STEP[kinds], 0)
    return int(np.cumsum(steps).max()) if len(steps) else 0


def parse_json(body: bytes, max_depth: int) -> Any:
    """Parse ``body`` as strict JSON (RFC 8259) no deeper than ``max_depth``.

    Raises:
        JSONTooDeep: nested deeper than ``max_depth`` (checked before parsing).
        InvalidJSON: not UTF-8, not JSON, NaN/Infinity, numbers that overflow a
            double, or unpaired surrogates.
    """
    if not body.strip():
        raise InvalidJSON("The request body is empty. Send a JSON object.")
    depth = json_depth(body)
    if depth > max_depth:
        raise JSONTooDeep(f"The JSON body nests {depth} levels deep; the limit is "
                          f"{max_depth}. Flatten the payload.", depth=depth, limit=max_depth)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidJSON(
            f"The request body is not valid JSON: {exc.msg} (at character {exc.pos}). Send "
            "strict JSON (RFC 8259) in UTF-8: no NaN or Infinity, no trailing commas.",
            position=exc.pos) from None


def dumps(body: Any) -> bytes:
    """``body`` as JSON bytes; numpy arrays and scalars welcome, NaN and infinities null."""
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY, default=_to_list)


def _to_list(value: Any) -> Any:
    if hasattr(value, "tolist"):  # object-dtype arrays, pandas values
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _object(payload: Any, what: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise InvalidInput(f"The {what} body must be a JSON object. Got "
                           f"{type(payload).__name__}.")
    return payload


def columns_from_v1(payload: Any) -> tuple[Columns, dict[str, Any] | None]:
    """Columns of a ``{"records"}``, ``{"columns"}`` or ``{"record"}`` body.

    Returns:
        The columns and, for a single ``record``, the record itself (for the log).
    """
    body = _object(payload, "predict")
    forms = [k for k in ("records", "columns", "record") if k in body]
    unknown = sorted(set(body) - {"records", "columns", "record"})
    if len(forms) != 1 or unknown:
        raise InvalidInput(
            "The predict body must have exactly one of 'records' (a list of objects), "
            "'columns' (an object of column lists) or 'record' (one object). Got keys "
            f"{sorted(body)}.", keys=sorted(body))
    form = forms[0]
    value = body[form]
    if form == "record":
        record = _object(value, "'record'")
        return {k: [v] for k, v in record.items()}, record
    if form == "columns":
        cols = _object(value, "'columns'")
        bad = [k for k, v in cols.items() if not isinstance(v, list)]
        if bad:
            raise InvalidInput(f"Each entry of 'columns' must be a list of values. Not a "
                               f"list: {bad[:10]}.", columns=bad[:10])
        lengths = {k: len(v) for k, v in cols.items()}
        if len(set(lengths.values())) > 1:
            raise InvalidInput(f"All columns must have the same length. Got {lengths}.",
                               lengths=lengths)
        return dict(cols), None
    if not isinstance(value, list):
        raise InvalidInput(f"'records' must be a list of objects. Got {type(value).__name__}.")
    if not value:
        raise InvalidInput("The request carries no rows: 'records' is empty. Send at least one.")
    keys: dict[str, None] = {}
    for i, record in enumerate(value):
        if not isinstance(record, dict):
            raise InvalidInput(f"'records[{i}]' must be an object. Got "
                               f"{type(record).__name__}.", row=i)
        for k in record:
            keys.setdefault(k)
    return {k: [r.get(k) for r in value] for k in keys}, None


def _oip_values(tensor: dict[str, Any], i: int) -> tuple[str, list[Any]]:
    name, datatype, shape, data = (tensor.get(k) for k in ("name", "datatype", "shape", "data"))
    where = f"inputs[{i}]" + (f" ({name!r})" if isinstance(name, str) else "")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"{where} needs a non-empty string 'name'.", input=i)
    if datatype not in _OIP_ALL:
        raise InvalidInput(f"{where} has datatype {datatype!r}; use one of "
                           f"{sorted(_OIP_ALL)}.", input=name)
    if (not isinstance(shape, list) or len(shape) not in (1, 2)
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                       for d in shape) or (len(shape) == 2 and shape[1] != 1)):
        raise InvalidInput(f"{where} must have shape [n] or [n, 1] (one tensor per "
                           f"feature). Got {shape!r}.", input=name, shape=shape)
    if not isinstance(data, list):
        raise InvalidInput(f"{where} needs 'data' as a list.", input=name)
    if data and all(isinstance(v, list) for v in data):
        if not all(len(v) == 1 for v in data):
            raise InvalidInput(f"{where} has nested rows with more than one value; send "
                               "one tensor per feature.", input=name)
        data = [v[0] for v in data]
    if len(data) != shape[0]:
        raise InvalidInput(f"{where} declares shape {shape} but carries {len(data)} "
                           "values.", input=name, shape=shape, values=len(data))
    if datatype == "BOOL":
        ok = all(v is None or isinstance(v, bool) for v in data)
    elif datatype in _OIP_INT:
        ok = all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in data)
    elif datatype in _OIP_FLOAT:
        ok = all(v is None or (isinstance(v, int | float) and not isinstance(v, bool))
                 for v in data)
    else:
        ok = all(v is None or isinstance(v, str) for v in data)
    if not ok:
        raise InvalidInput(f"{where} is declared {datatype} but holds other values.",
                           input=name, datatype=datatype)
    return name, data


def columns_from_oip(payload: Any) -> tuple[Columns, list[str] | None]:
    """Columns of an OIP infer body, and the requested output names (None: all)."""
    body = _object(payload, "infer")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput("The infer body needs 'inputs': a non-empty list of tensors, one "
                           "per feature, each {'name', 'shape': [n], 'datatype', 'data'}.")
    columns: Columns = {}
    for i, tensor in enumerate(inputs):
        if not isinstance(tensor, dict):
            raise InvalidInput(f"inputs[{i}] must be an object.", input=i)
        name, data = _oip_values(tensor, i)
        if name in columns:
            raise InvalidInput(f"Input tensor {name!r} appears twice.", input=name)
        columns[name] = data
    lengths = {k: len(v) for k, v in columns.items()}
    if len(set(lengths.values())) > 1:
        raise InvalidInput(f"Input tensors must all have the same first dimension. Got "
                           f"{lengths}.", lengths=lengths)
    wanted = body.get("outputs")
    names: list[str] | None = None
    if wanted is not None:
        if not isinstance(wanted, list) or not all(
                isinstance(o, dict) and isinstance(o.get("name"), str) for o in wanted):
            raise InvalidInput("'outputs' must be a list of {'name': ...} objects.")
        names = [o["name"] for o in wanted]
        unknown = sorted(set(names) - {"predict", "predict_proba"})
        if unknown:
            raise InvalidInput(f"Unknown outputs {unknown}. Available: ['predict', "
                               "'predict_proba'].", outputs=unknown)
    return columns, names


def _series(name: str, values: list[Any], declared: str | None) -> pd.Series:
    kinds = {type(v) for v in values}
    odd = kinds.difference(_SCALARS)
    if odd:
        got = sorted(t.__name__.replace("dict", "object").replace("list", "array")
                     for t in odd)
        raise InvalidInput(f"Column {name!r} must hold scalar values (number, string, "
                           f"boolean or null). Got {got}.", column=name)
    if int in kinds and any(type(v) is int and not -_INT64 <= v < _INT64 for v in values):
        raise InvalidInput(f"Column {name!r} holds an integer outside the 64-bit range.",
                           column=name)
    if declared == "integer" and float in kinds and any(
            type(v) is float and not -_INT64 <= v < _INT64 for v in values):
        # the JSON parser reads integers beyond 64 bits as doubles
        raise InvalidInput(f"Column {name!r} holds an integer outside the 64-bit range.",
                           column=name)
    series = pd.Series(values, name=name, dtype=object if not values else None)
    if declared == "datetime" and series.dtype == object and str in kinds:
        try:
            series = pd.to_datetime(series, format="ISO8601")
        except (ValueError, TypeError):
            pass  # validate_frame names the column and its type
    return series


def _numeric_arrays(columns: Columns, inputs: list[dict[str, Any]]
                    ) -> dict[str, np.ndarray] | None:
    """One typed array per column when every input is numeric and every value fits.

    The common case of a numeric model skips pandas' per-column type inference.
    Anything unusual (nulls, booleans, strings, a missing or extra column, a
    non-numeric signature) returns None and takes the general path, which
    reports the problem precisely.
    """
    if len(columns) != len(inputs):
        return None
    arrays: dict[str, np.ndarray] = {}
    for spec in inputs:
        values = columns.get(spec["name"])
        if values is None:
            return None
        kinds = {type(v) for v in values}
        dtype = spec.get("dtype")
        if dtype == "float" and kinds <= {float, int}:
            array = np.array(values, dtype=np.float64)
            if float not in kinds and not np.isfinite(array).all():
                return None  # an integer beyond float range
        elif dtype == "integer" and kinds == {int}:
            try:
                array = np.array(values, dtype=np.int64)
            except OverflowError:
                return None
        else:
            return None
        arrays[spec["name"]] = array
    return arrays


@dataclass(frozen=True)
class Prepared:
    """One request's validated input: typed arrays (numeric fast path) or a frame."""

    rows: int
    arrays: dict[str, np.ndarray] | None = None
    frame: pd.DataFrame | None = None

    def to_frame(self) -> pd.DataFrame:
        if self.frame is not None:
            return self.frame
        assert self.arrays is not None
        return _frame_from_arrays(self.arrays)


@lru_cache(maxsize=256)
def _column_index(names: tuple[str, ...]) -> pd.Index:
    return pd.Index(names, dtype=object)


def _frame_from_arrays(arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    values = list(arrays.values())
    if all(a.dtype == np.float64 for a in values):  # one block: the cheapest frame
        return pd.DataFrame(np.column_stack(values), columns=_column_index(tuple(arrays)),
                            copy=False)
    return pd.DataFrame(arrays, copy=False)


def prepare(columns: Columns, signature: Mapping[str, Any] | None,
            max_rows: int) -> Prepared:
    """Validate ``columns`` against ``signature`` and type them for the model.

    Raises:
        PayloadTooLarge: more rows than ``max_rows``.
        InvalidInput: no rows, non-scalar values, or nulls where the signature
            says a column is not nullable.
        InputSchemaMismatch: missing, extra or retyped columns (details name them).
    """
    rows = len(next(iter(columns.values()))) if columns else 0
    if rows > max_rows:
        raise PayloadTooLarge(f"The request carries {rows} rows; the limit is {max_rows}. "
                              "Split the batch.", rows=rows, limit=max_rows)
    inputs = list((signature or {}).get("inputs") or [])
    if rows == 0 and columns:
        raise InvalidInput("The request carries no rows. Send at least one.")
    if inputs and rows:
        arrays = _numeric_arrays(columns, inputs)
        if arrays is not None:
            return Prepared(rows, arrays=arrays)
    return Prepared(rows, frame=_general_frame(columns, signature, inputs))


def _general_frame(columns: Columns, signature: Mapping[str, Any] | None,
                   inputs: list[dict[str, Any]]) -> pd.DataFrame:
    declared = {i["name"]: i.get("dtype") for i in inputs}
    frame = pd.DataFrame({k: _series(k, v, declared.get(k)) for k, v in columns.items()})
    if not inputs:
        if not columns:
            raise InvalidInput("The request carries no columns.")
        return frame
    try:
        validate_frame(dict(signature or {}), frame)
    except SchemaMismatch as exc:
        raise InputSchemaMismatch(exc.message, **exc.details) from None
    nulls = {i["name"]: np.flatnonzero(frame[i["name"]].isna().to_numpy())[:10].tolist()
             for i in inputs if i.get("nullable") is False}
    nulls = {k: v for k, v in nulls.items() if v}
    if nulls:
        raise NullNotAllowed(
            f"Columns {sorted(nulls)} may not be null (the model signature says they are "
            "not nullable). Fill them in; details give the first rows with nulls.",
            rows=nulls)
    return frame[list(declared)]


def assemble(parts: Sequence[Prepared]) -> pd.DataFrame:
    """One model input frame holding the rows of ``parts`` in order."""
    if len(parts) == 1:
        return parts[0].to_frame()
    if all(p.arrays is not None for p in parts):
        names = list(parts[0].arrays or {})
        return _frame_from_arrays({k: np.concatenate([p.arrays[k] for p in parts  # type: ignore[index]
                                                      ]) for k in names})
    return pd.concat([p.to_frame() for p in parts], ignore_index=True)


def build_frame(columns: Columns, signature: Mapping[str, Any] | None,
                max_rows: int) -> pd.DataFrame:
    """A model input frame from ``columns``, checked against ``signature``.

    Raises:
        see :func:`prepare`.
    """
    return prepare(columns, signature, max_rows).to_frame()


def jsonable(values: np.ndarray) -> list[Any]:
    """``values`` as JSON-safe lists: NaN and infinities become null."""
    array = np.asarray(values)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        out = array.astype(object)
        out[~np.isfinite(array)] = None
        return out.tolist()
    if array.dtype.kind == "M":
        return np.datetime_as_string(array).tolist()
    return array.tolist()


def oip_datatype(values: np.ndarray) -> str:
    """The OIP datatype of a numpy array."""
    kind = np.asarray(values).dtype.kind
    return {"b": "BOOL", "i": "INT64", "u": "INT64", "f": "FP64"}.get(kind, "BYTES")
