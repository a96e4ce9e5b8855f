"""The inference log: the serving gateway's durable record of every answered prediction.

Handlers :meth:`~InferenceLog.submit` an :class:`InferenceRecord` and never wait
on disk; a writer thread appends CRC32C-checked records to segment files under
a stated fsync policy; :func:`compact` turns sealed segments into Parquet
partitions; :func:`read_records` and :func:`read_frame` read both back.

>>> import tempfile
>>> from datetime import datetime, UTC
>>> d = tempfile.mkdtemp()
>>> with InferenceLog(d) as log:
...     log.submit(InferenceRecord("r1", datetime(2025, 1, 1, tzinfo=UTC), "credit", "credit-risk",
...                                3, features={"age": 41}, outputs={"score": 0.2}))
True
>>> [r.features for r in read_records(d)]
[{'age': 41}]
"""

from mlpilot.serve.inference_log._crc32c import crc32c, crc32c_many
from mlpilot.serve.inference_log.compaction import CompactionResult, compact, reconcile
from mlpilot.serve.inference_log.reader import read_frame, read_records
from mlpilot.serve.inference_log.record import (
    REDACTED,
    InferenceRecord,
    decode_record,
    encode_record,
)
from mlpilot.serve.inference_log.recovery import RecoveryReport, recover_segments
from mlpilot.serve.inference_log.segment import SegmentWriter
from mlpilot.serve.inference_log.segment_reader import SegmentReader
from mlpilot.serve.inference_log.stats import DROP_REASONS, prometheus_samples
from mlpilot.serve.inference_log.writer import FSYNC_POLICIES, InferenceLog

__all__ = [
    "DROP_REASONS",
    "FSYNC_POLICIES",
    "REDACTED",
    "CompactionResult",
    "InferenceLog",
    "InferenceRecord",
    "RecoveryReport",
    "SegmentReader",
    "SegmentWriter",
    "compact",
    "crc32c",
    "crc32c_many",
    "decode_record",
    "encode_record",
    "prometheus_samples",
    "read_frame",
    "read_records",
    "reconcile",
    "recover_segments",
]
