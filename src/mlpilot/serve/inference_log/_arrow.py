"""Decoded records <-> Arrow tables (pyarrow is imported lazily, by the callers' callers).

Columns: ``request_id, time (timestamp[us, UTC]), deployment, version, route,
status, latency_ms, error, features_json, outputs_json`` (and ``model`` when asked;
in Parquet it lives in the partition path), then ``f_<name>`` for each feature
and ``o_<name>`` for each output whose values in the table are all booleans, all
integers, all numbers or all strings. The ``*_json`` columns hold the complete
mappings, so records read back are exactly the records written; the flat
columns are for analysis.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa

from mlpilot.serve.inference_log.record import (
    InferenceRecord,
    dumps_text,
    loads,
    record_from_fields,
)

# Positions in an encoded record (see record.py).
(ID, TIME, DEPLOYMENT, MODEL, VERSION, ROUTE, STATUS, LATENCY, ERROR, FEATURES,
 OUTPUTS) = range(1, 12)
_INT64 = (-(2**63), 2**63 - 1)


def _flat_type(values: list[Any]) -> pa.DataType | None:
    """The Arrow type for a flat column of these values, or None when they are mixed/nested."""
    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        return None
    if kinds == {bool}:
        return pa.bool_()
    if kinds == {int}:
        ints = [v for v in values if v is not None]
        return pa.int64() if _INT64[0] <= min(ints) and max(ints) <= _INT64[1] else None
    if kinds <= {int, float}:
        return pa.float64()
    if kinds == {str}:
        return pa.string()
    return None


def _flat_columns(prefix: str, mappings: list[Any]) -> dict[str, pa.Array]:
    keys: dict[str, None] = {}
    for m in mappings:
        if isinstance(m, dict):
            keys.update(dict.fromkeys(m))
    out = {}
    for k in keys:
        values = [m.get(k) if isinstance(m, dict) else None for m in mappings]
        t = _flat_type(values)
        if t is not None:
            out[f"{prefix}{k}"] = pa.array(values, type=t)
    return out


def rows_to_table(rows: Sequence[list[Any]], *, with_model: bool = False) -> pa.Table:
    """An Arrow table of decoded records (JSON arrays as written by ``encode_record``)."""
    col = {
        "request_id": pa.array([r[ID] for r in rows], pa.string()),
        "time": pa.array([r[TIME] for r in rows], pa.int64()).cast(pa.timestamp("us", "UTC")),
        "deployment": pa.array([r[DEPLOYMENT] for r in rows], pa.string()),
    }
    if with_model:
        col["model"] = pa.array([r[MODEL] for r in rows], pa.string())
    col.update({
        "version": pa.array([r[VERSION] for r in rows], pa.int64()),
        "route": pa.array([r[ROUTE] for r in rows], pa.string()),
        "status": pa.array([r[STATUS] for r in rows], pa.int32()),
        "latency_ms": pa.array([r[LATENCY] for r in rows], pa.float64()),
        "error": pa.array([r[ERROR] for r in rows], pa.string()),
        "features_json": pa.array([dumps_text(r[FEATURES]) for r in rows], pa.string()),
        "outputs_json": pa.array([dumps_text(r[OUTPUTS]) for r in rows], pa.string()),
    })
    col.update(_flat_columns("f_", [r[FEATURES] for r in rows]))
    col.update(_flat_columns("o_", [r[OUTPUTS] for r in rows]))
    return pa.table(col)


def table_to_records(table: pa.Table, model: str | None = None) -> Iterator[InferenceRecord]:
    """Records from a table made by :func:`rows_to_table` (``model`` if it has no column)."""
    names = ["request_id", "time", "deployment", "version", "route", "status", "latency_ms",
             "error", "features_json", "outputs_json"]
    if model is None:
        names.append("model")
    cols = [table.column(n) for n in names]
    cols[1] = cols[1].cast(pa.int64())
    for values in zip(*(c.to_pylist() for c in cols), strict=True):
        (rid, t, dep, version, route, status, latency, error, fj, oj, *rest) = values
        yield record_from_fields(rid, t, dep, (rest[0] if rest else model) or "", version, route,
                                 status, latency, error, loads(fj), loads(oj))
