"""Read the inference log back: compacted Parquet partitions plus live segments.

Live segments (the active one included, up to its last good record) are listed
*before* the Parquet files, and a Parquet part named after a segment already
read is skipped. A compaction running concurrently therefore yields each record
exactly once: either its segment was still there (and its part is skipped), or
the segment was gone and its part was already in place (parts are renamed into
place before segments are unlinked).

``since`` is inclusive, ``until`` exclusive; naive datetimes mean UTC. Records
come in no particular order across files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from mlpilot.serve.inference_log._fs import Layout
from mlpilot.serve.inference_log.compaction import NULL_PARTITION
from mlpilot.serve.inference_log.record import InferenceRecord, loads, record_from_fields
from mlpilot.serve.inference_log.segment import list_segments
from mlpilot.serve.inference_log.segment_reader import SegmentReader

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["read_records", "read_frame"]

_HOUR_US = 3_600_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us(value: datetime | None) -> int | None:
    if value is None:
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return (value - _EPOCH) // timedelta(microseconds=1)


def _live(layout: Layout) -> tuple[list[SegmentReader], set[str]]:
    readers = []
    for path in list_segments(layout.segments):
        try:
            readers.append(SegmentReader(path))
        except FileNotFoundError:  # compacted meanwhile: its Parquet part is in place
            continue
    return readers, {r.path.stem for r in readers}


def _live_rows(readers: list[SegmentReader], lo: int | None, hi: int | None,
               model: str | None) -> Iterator[list[Any]]:
    for reader in readers:
        for p in reader.payloads:
            r = loads(p)
            if (model is None or r[4] == model) and (lo is None or r[2] >= lo) \
                    and (hi is None or r[2] < hi):
                yield r


def _parquet_files(parquet: Path, model: str | None, lo: int | None, hi: int | None,
                   skip: set[str]) -> Iterator[tuple[Path, str]]:
    """(file, model) for each part whose partition may hold rows in [lo, hi)."""
    for mdir in sorted(parquet.glob("model=*")):
        m = mdir.name[6:]
        m = "" if m == NULL_PARTITION else unquote(m)
        if model is not None and m != model:
            continue
        for hdir in sorted(mdir.glob("date=*/hour=*")):
            try:
                start = datetime.strptime(f"{hdir.parent.name[5:]} {hdir.name[5:]}",
                                          "%Y-%m-%d %H").replace(tzinfo=UTC)
            except ValueError:
                continue
            first = (start - _EPOCH) // timedelta(microseconds=1)
            if (hi is not None and first >= hi) or (lo is not None and first + _HOUR_US <= lo):
                continue
            for f in sorted(hdir.glob("part-*.parquet")):
                if f.name[5:-8] not in skip:
                    yield f, m


def read_records(directory: str | os.PathLike[str], since: datetime | None = None,
                 until: datetime | None = None, model: str | None = None
                 ) -> Iterator[InferenceRecord]:
    """Every record logged in ``[since, until)`` (for ``model``, if given)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from mlpilot.serve.inference_log._arrow import table_to_records

    layout = Layout(directory)
    lo, hi = _us(since), _us(until)
    readers, stems = _live(layout)
    for f, m in _parquet_files(layout.parquet, model, lo, hi, stems):
        table = pq.read_table(f)
        t = table.column("time").cast("int64")
        lo_ok = pc.greater_equal(t, lo) if lo is not None else None
        hi_ok = pc.less(t, hi) if hi is not None else None
        mask = lo_ok if hi_ok is None else hi_ok if lo_ok is None else pc.and_(lo_ok, hi_ok)
        yield from table_to_records(table if mask is None else table.filter(mask), model=m)
    for r in _live_rows(readers, lo, hi, model):
        yield record_from_fields(*r[1:])


def read_frame(directory: str | os.PathLike[str], since: datetime | None = None,
               until: datetime | None = None, model: str | None = None, *,
               include_live: bool = True) -> pd.DataFrame:
    """The records in ``[since, until)`` as a DataFrame sorted by time.

    Parquet partitions are read through ``pyarrow.dataset`` (partition pruning by
    model and hour, the time filter pushed down); live segments are appended
    unless ``include_live`` is False. Columns: see ``_arrow``. When files
    disagree on a flat column's type, the frames are joined by pandas instead.
    """
    import pandas as pd
    import pyarrow as pa

    from mlpilot.serve.inference_log._arrow import rows_to_table

    layout = Layout(directory)
    lo, hi = _us(since), _us(until)
    readers, stems = _live(layout) if include_live else ([], set())
    files = [str(f) for f, _ in _parquet_files(layout.parquet, model, lo, hi, stems)]
    rows = list(_live_rows(readers, lo, hi, model))
    live = rows_to_table(rows, with_model=True)
    try:
        tables = [_dataset_table(layout.parquet, files, lo, hi)] if files else []
        table = pa.concat_tables(tables + [live], promote_options="permissive")
        frame = _ordered(table).to_pandas()
    except (pa.ArrowInvalid, pa.ArrowTypeError, NotImplementedError):
        parts = [_ordered(_dataset_table(layout.parquet, [f], lo, hi)).to_pandas()
                 for f in files]
        frame = pd.concat(parts + [_ordered(live).to_pandas()], ignore_index=True)
    return frame.sort_values(["time", "request_id"], kind="stable").reset_index(drop=True)


def _dataset_table(parquet: Path, files: list[str], lo: int | None, hi: int | None) -> Any:
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    part = ds.partitioning(pa.schema([("model", pa.string()), ("date", pa.string()),
                                      ("hour", pa.string())]), flavor="hive")
    schema = pa.unify_schemas([pq.read_schema(f) for f in files] + [part.schema],
                              promote_options="permissive")
    dataset = ds.dataset(files, schema=schema, format="parquet", partitioning=part,
                         partition_base_dir=str(parquet))
    ts = pa.timestamp("us", "UTC")
    cond = None
    if lo is not None:
        cond = ds.field("time") >= pa.scalar(lo, pa.int64()).cast(ts)
    if hi is not None:
        upper = ds.field("time") < pa.scalar(hi, pa.int64()).cast(ts)
        cond = upper if cond is None else cond & upper
    table = dataset.to_table(filter=cond).drop_columns(["date", "hour"])
    # The null partition reads back as null; the record's model is "".
    return table.set_column(table.schema.get_field_index("model"), "model",
                            table.column("model").fill_null(""))


_BASE = ["request_id", "time", "deployment", "model", "version", "route", "status",
         "latency_ms", "error", "features_json", "outputs_json"]


def _ordered(table: Any) -> Any:
    extra = [c for c in table.column_names if c not in _BASE]
    return table.select(_BASE + [c for c in extra if c.startswith("f_")]
                        + [c for c in extra if not c.startswith("f_")])
