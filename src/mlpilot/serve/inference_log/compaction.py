"""Compaction: sealed segments into Parquet partitions, then ordered deletion.

Layout: ``parquet/model=<model>/date=<YYYY-MM-DD>/hour=<HH>/part-<segment>.parquet``
(UTC; the model URL-quoted, the empty model as ``__HIVE_DEFAULT_PARTITION__``).

One segment becomes one file in each (model, date, hour) it touches, named after
the segment, so compacting a segment again rewrites the same files with the
same rows: compaction is idempotent. The order of steps makes a crash anywhere
safe:

1. each Parquet file is written under a temporary name, fsynced and renamed;
2. ``{"segment", "files", "rows"}`` is appended to ``ledger.jsonl`` and fsynced;
3. the segment is unlinked.

A crash before step 2 leaves the segment; the next run compacts it again. A
crash between 2 and 3 is reconciled at the next start-up or compaction: a
segment listed in the ledger is deleted only when every listed file exists and
holds the listed number of rows; otherwise it stays and is compacted again.
Unsealed segments (the writer's active one, or a crashed writer's last one
until its start-up recovery seals it) are skipped; sealed ones that fail
verification are quarantined, never deleted. One compaction at a time per
directory (``compact.lock``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mlpilot.serve.inference_log._fs import FileLock, Layout, LockHeld, atomic_write, fsync_dir
from mlpilot.serve.inference_log.recovery import quarantine
from mlpilot.serve.inference_log.segment import list_segments
from mlpilot.serve.inference_log.segment_reader import SegmentReader, is_sealed

__all__ = ["compact", "reconcile", "CompactionResult", "partition_path"]

_HOUR_US = 3_600_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"


@dataclass
class CompactionResult:
    """What one :func:`compact` call did."""

    segments: list[str] = field(default_factory=list)
    rows: int = 0
    files: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    skipped_unsealed: int = 0
    reconciled_deleted: list[str] = field(default_factory=list)


def partition_path(model: str, hour_start: datetime) -> str:
    """``model=<m>/date=<YYYY-MM-DD>/hour=<HH>`` for a UTC hour."""
    m = quote(model, safe="") if model else NULL_PARTITION
    return f"model={m}/date={hour_start:%Y-%m-%d}/hour={hour_start:%H}"


def compact(directory: str | os.PathLike[str], *, max_segments: int | None = None,
            compression: str = "zstd") -> CompactionResult:
    """Turn sealed segments (oldest first) into Parquet and delete them, in a crash-safe order.

    Raises:
        OSError: when a Parquet file or the ledger cannot be written; segments not
            yet compacted stay where they are.
    """
    layout = Layout(directory)
    layout.create()
    result = CompactionResult()
    with FileLock(layout.compact_lock, blocking=True):
        result.reconciled_deleted = _reconcile(layout)
        for path in list_segments(layout.segments):
            if max_segments is not None and len(result.segments) >= max_segments:
                break
            if not is_sealed(path):
                result.skipped_unsealed += 1
                continue
            entry = _compact_segment(layout, path, compression)
            if entry is None:
                quarantine(path, layout.quarantine)
                result.quarantined.append(path.name)
                continue
            _append_ledger(layout.ledger, entry)
            _unlink_segment(path)
            fsync_dir(layout.segments)
            result.segments.append(path.name)
            result.rows += entry["rows"]
            result.files += entry["files"]
        _rewrite_ledger(layout, _read_ledger(layout.ledger))
    return result


def reconcile(directory: str | os.PathLike[str], *, blocking: bool = False) -> list[str]:
    """Finish deletions a crash interrupted; returns the segments deleted.

    Without ``blocking``, returns ``[]`` at once when a compaction holds the lock
    (it reconciles by itself), so a writer's start-up never waits on one.
    """
    layout = Layout(directory)
    layout.create()
    try:
        lock = FileLock(layout.compact_lock, blocking=blocking)
    except LockHeld:
        return []
    with lock:
        return _reconcile(layout)


def _unlink_segment(path: Path) -> None:
    os.unlink(path)  # tests replace this to simulate a crash after the ledger write


def _compact_segment(layout: Layout, path: Path, compression: str) -> dict[str, Any] | None:
    from mlpilot.serve.inference_log._arrow import rows_to_table

    reader = SegmentReader(path)
    if reader.state != "ok" or not reader.sealed:
        return None
    try:
        rows = [json.loads(bytes(p)) for p in reader.payloads]
    except ValueError:
        return None
    if not all(isinstance(r, list) and len(r) == 12 and r[0] == 1 for r in rows):
        return None  # an encoding this version cannot read: keep it for a newer one
    groups: dict[tuple[str, int], list[list[Any]]] = {}
    for r in rows:
        groups.setdefault((r[4], r[2] // _HOUR_US), []).append(r)
    files = []
    for (model, hour), group in groups.items():
        start = _EPOCH + timedelta(microseconds=hour * _HOUR_US)
        rel = f"{partition_path(model, start)}/part-{path.stem}.parquet"
        _write_parquet(rows_to_table(group), layout.parquet / rel, compression)
        files.append(rel)
    return {"segment": path.name, "files": files, "rows": len(rows)}


def _write_parquet(table: Any, dest: Path, compression: str) -> None:
    import pyarrow.parquet as pq

    dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    pq.write_table(table, tmp, compression=compression)
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, dest)
    for d in (dest.parent, dest.parent.parent, dest.parent.parent.parent):
        fsync_dir(d)


def _append_ledger(ledger: Path, entry: dict[str, Any]) -> None:
    new = not ledger.exists()
    with open(ledger, "ab") as f:
        f.write(json.dumps(entry).encode() + b"\n")
        f.flush()
        os.fsync(f.fileno())
    if new:
        fsync_dir(ledger.parent)


def _read_ledger(ledger: Path) -> list[dict[str, Any]]:
    try:
        lines = ledger.read_bytes().splitlines()
    except FileNotFoundError:
        return []
    entries = []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue  # a torn last line: its segment was never unlinked
    return entries


def _rewrite_ledger(layout: Layout, entries: list[dict[str, Any]]) -> None:
    keep = [e for e in entries if (layout.segments / e["segment"]).exists()]
    if len(keep) != len(entries) or (not entries and layout.ledger.exists()
                                     and layout.ledger.stat().st_size):
        atomic_write(layout.ledger, b"".join(json.dumps(e).encode() + b"\n" for e in keep))


def _parquet_holds(parquet_dir: Path, entry: dict[str, Any]) -> bool:
    import pyarrow as pa
    import pyarrow.parquet as pq

    total = 0
    for rel in entry["files"]:
        try:
            total += pq.read_metadata(parquet_dir / rel).num_rows
        except (OSError, pa.ArrowInvalid):
            return False
    return total == entry["rows"]


def _reconcile(layout: Layout) -> list[str]:
    entries = _read_ledger(layout.ledger)
    deleted = []
    for e in entries:
        path = layout.segments / e["segment"]
        if path.exists() and _parquet_holds(layout.parquet, e):
            _unlink_segment(path)
            deleted.append(e["segment"])
    if deleted:
        fsync_dir(layout.segments)
    _rewrite_ledger(layout, entries)
    return deleted
