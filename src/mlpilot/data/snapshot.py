"""Dataset snapshots: deterministic Parquet bytes and their content address.

The same frame always gives the same bytes (with the same pyarrow and pandas
versions), so ``dataset_digest(to_parquet_bytes(df))`` names the data itself. The
bytes read back to an equal frame: dtypes (nullable, categorical, zoned datetimes,
``object`` and ``str`` strings) and column order survive.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pandas.api import types as ptypes

from mlpilot.core.errors import InvalidArgument
from mlpilot.data.schema import check_column_names

# Fixed writer settings: changing any of them changes every digest.
_WRITE_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "version": "2.6",
    "data_page_version": "1.0",
    "use_dictionary": True,
    "write_statistics": True,
    "row_group_size": 1 << 20,
    "store_schema": True,
}
# Our own schema metadata: what Arrow's pandas metadata cannot restore on its own.
_META_KEY = b"mlpilot"
_META_VERSION = 1


def to_parquet_bytes(df: pd.DataFrame) -> bytes:
    """Serialise a frame to deterministic Parquet bytes (zstd, one writer setting).

    The index is kept when it carries information: a named index, a MultiIndex, or
    unnamed non-integer labels (dates, strings). An unnamed integer index is row
    numbering and is dropped, so filtering history does not change the digest.

    Args:
        df: the frame; column names must be unique strings.

    Returns:
        The Parquet file as bytes.

    Raises:
        InvalidArgument: for non-string or duplicate column names (named in the
            message), or a column Arrow cannot store (e.g. mixed-type objects).
    """
    names = check_column_names(df)
    extra = {
        "version": _META_VERSION,
        "object_columns": [n for n in names if ptypes.is_object_dtype(df[n].dtype)],
        "categories": {
            n: _encode_categories(df[n].dtype)
            for n in names
            if isinstance(df[n].dtype, pd.CategoricalDtype)
        },
        "string_columns": {
            n: _encode_string_dtype(df[n].dtype)
            for n in names
            if isinstance(df[n].dtype, pd.StringDtype)
        },
    }
    try:
        table = pa.Table.from_pandas(df, preserve_index=_index_is_meaningful(df.index))
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise InvalidArgument(
            f"The frame cannot be stored as Parquet: {exc}. Give each column one value "
            "type (e.g. .astype(str) on mixed object columns) and try again."
        ) from exc
    metadata = dict(table.schema.metadata or {})
    metadata[_META_KEY] = json.dumps(extra, sort_keys=True).encode()
    # One chunk per column: in-memory chunking must not change the bytes.
    table = table.combine_chunks().replace_schema_metadata(metadata)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **_WRITE_OPTIONS)
    return sink.getvalue().to_pybytes()


def read_parquet_bytes(data: bytes | bytearray | memoryview) -> pd.DataFrame:
    """Read bytes written by :func:`to_parquet_bytes` (or any Parquet file) to a frame.

    Args:
        data: the Parquet file contents.

    Returns:
        The frame, with the dtypes and column order it was written with.

    Raises:
        InvalidArgument: if ``data`` is not bytes or not a readable Parquet file.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidArgument(
            f"Parquet data must be bytes. Got {type(data).__name__} instead; "
            "read the file with open(path, 'rb').read() first."
        )
    try:
        table = pq.read_table(pa.BufferReader(pa.py_buffer(data)))
        frame = table.to_pandas()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidArgument(
            f"The data is not a readable Parquet file: {exc}. Check that the bytes "
            "are complete and were written by to_parquet_bytes()."
        ) from exc
    raw = (table.schema.metadata or {}).get(_META_KEY)
    if raw is None:
        return frame
    extra = json.loads(raw)
    for name in extra.get("object_columns", []):
        # pandas 3 reads strings as ``str``; give back the object column (None for nulls).
        frame[name] = pd.Series(table.column(name).to_pylist(), index=frame.index, dtype=object)
    for name, spec in extra.get("string_columns", {}).items():
        # Arrow records "string" but not its storage (python or pyarrow) nor NA kind.
        dtype = _decode_string_dtype(spec)
        if frame[name].dtype != dtype:
            frame[name] = frame[name].astype(dtype)
    for name, spec in extra.get("categories", {}).items():
        dtype = _decode_categories(spec)
        frame[name] = pd.Series(
            pd.Categorical(frame[name], dtype=dtype), index=frame.index, name=name
        )
    return frame


def dataset_digest(data: bytes | bytearray | memoryview) -> str:
    """The content address of snapshot bytes: ``"sha256:<64 hex digits>"``.

    Raises:
        InvalidArgument: if ``data`` is not bytes.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidArgument(
            f"A dataset digest is taken over bytes. Got {type(data).__name__} instead; "
            "serialise the frame with to_parquet_bytes() first."
        )
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _index_is_meaningful(index: pd.Index) -> bool:
    if index.nlevels > 1 or index.name is not None:
        return True
    return not (isinstance(index, pd.RangeIndex) or ptypes.is_integer_dtype(index.dtype))


def _encode_categories(dtype: pd.CategoricalDtype) -> dict[str, Any]:
    """Categories as an Arrow IPC stream (base64), so any category type round-trips."""
    array = pa.array(dtype.categories)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, pa.schema([("categories", array.type)])) as writer:
        writer.write_batch(pa.record_batch([array], names=["categories"]))
    return {
        "ordered": bool(dtype.ordered),
        "arrow": base64.b64encode(sink.getvalue().to_pybytes()).decode("ascii"),
    }


def _decode_categories(spec: dict[str, Any]) -> pd.CategoricalDtype:
    stream = pa.ipc.open_stream(pa.py_buffer(base64.b64decode(spec["arrow"])))
    categories = pd.Index(stream.read_all().column(0).to_pandas()).rename(None)
    return pd.CategoricalDtype(categories, ordered=bool(spec["ordered"]))


def _encode_string_dtype(dtype: pd.StringDtype) -> dict[str, str]:
    return {"storage": dtype.storage, "na_value": "NA" if dtype.na_value is pd.NA else "nan"}


def _decode_string_dtype(spec: dict[str, str]) -> pd.StringDtype:
    na_value = pd.NA if spec["na_value"] == "NA" else np.nan
    return pd.StringDtype(spec["storage"], na_value=na_value)
