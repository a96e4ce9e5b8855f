"""The inference log's counters, as a dict and as Prometheus samples."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["LogCounters", "DROP_REASONS", "prometheus_samples"]

DROP_REASONS = ("queue_full", "disk_full", "io_error", "encode_error", "too_large", "closed",
                "internal_error")
"""Why a record was not written: the ``reason`` label of ``mlpilot_log_dropped_total``."""


@dataclass
class LogCounters:
    """Counters of one InferenceLog; mutated under its lock, read via :meth:`snapshot`.

    ``submitted`` counts every call to ``submit`` (what the log was asked to log);
    ``written`` the records appended to a segment; ``synced`` those covered by an
    fsync; ``dropped`` those given up, by reason.
    """

    submitted: int = 0
    written: int = 0
    synced: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))
    bytes_written: int = 0
    batches: int = 0
    fsyncs: int = 0
    fsync_errors: int = 0
    write_errors: int = 0
    segments_created: int = 0
    recovered_truncated_records: int = 0
    recovered_truncated_bytes: int = 0
    recovered_sealed: int = 0
    quarantined: int = 0
    reconciled_deleted: int = 0

    def snapshot(self, queue_depth: int, capacity: int) -> dict[str, Any]:
        """A plain dict; ``pending`` = submitted - written - dropped (queued or in flight)."""
        out: dict[str, Any] = dict(self.__dict__)
        out["dropped"] = dict(self.dropped)
        dropped = sum(self.dropped.values())
        out["dropped_total"] = dropped
        out["pending"] = self.submitted - self.written - dropped
        out["queue_depth"] = queue_depth
        out["queue_capacity"] = capacity
        out["completeness"] = self.written / self.submitted if self.submitted else 1.0
        return out


# stats() key -> (Prometheus name, type)
_METRICS = {
    "submitted": ("mlpilot_log_submitted_total", "counter"),
    "written": ("mlpilot_log_written_total", "counter"),
    "synced": ("mlpilot_log_synced_total", "counter"),
    "bytes_written": ("mlpilot_log_written_bytes_total", "counter"),
    "batches": ("mlpilot_log_batches_total", "counter"),
    "fsyncs": ("mlpilot_log_fsyncs_total", "counter"),
    "fsync_errors": ("mlpilot_log_fsync_errors_total", "counter"),
    "write_errors": ("mlpilot_log_write_errors_total", "counter"),
    "segments_created": ("mlpilot_log_segments_created_total", "counter"),
    "recovered_truncated_records": ("mlpilot_log_recovered_truncated_records_total", "counter"),
    "recovered_truncated_bytes": ("mlpilot_log_recovered_truncated_bytes_total", "counter"),
    "recovered_sealed": ("mlpilot_log_recovered_sealed_segments_total", "counter"),
    "quarantined": ("mlpilot_log_quarantined_segments_total", "counter"),
    "reconciled_deleted": ("mlpilot_log_reconciled_segments_deleted_total", "counter"),
    "queue_depth": ("mlpilot_log_queue_depth", "gauge"),
    "queue_capacity": ("mlpilot_log_queue_capacity", "gauge"),
    "segments": ("mlpilot_log_segments", "gauge"),
}


def prometheus_samples(stats: dict[str, Any]) -> list[tuple[str, str, dict[str, str], float]]:
    """``(name, type, labels, value)`` for each metric in an ``InferenceLog.stats()`` dict."""
    samples = [(name, kind, {}, float(stats[key]))
               for key, (name, kind) in _METRICS.items() if key in stats]
    samples += [("mlpilot_log_dropped_total", "counter", {"reason": reason}, float(n))
                for reason, n in stats["dropped"].items()]
    return samples
