"""The writer thread's side: encode, frame, append, roll and fsync - and count.

:class:`SegmentSink` is owned by one thread (the InferenceLog's writer); it
touches the shared counters only under the lock it is given. See
:mod:`writer` for the fsync policy it applies.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from pathlib import Path

from mlpilot.serve.inference_log import segment as seg
from mlpilot.serve.inference_log.record import InferenceRecord, encode_record
from mlpilot.serve.inference_log.recovery import RecoveryReport, repair_segment
from mlpilot.serve.inference_log.stats import LogCounters

log = logging.getLogger(__name__)
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class SegmentSink:
    """Appends batches to the active segment under an fsync policy; one thread only."""

    def __init__(self, segments: Path, quarantine: Path, *, first_seq: int, segment_bytes: int,
                 fsync: str, fsync_interval_s: float, redact: frozenset[str],
                 counters: LogCounters, lock: threading.Lock) -> None:
        self.segments, self.quarantine = segments, quarantine
        self.segment_bytes, self.fsync, self.fsync_interval_s = segment_bytes, fsync, \
            fsync_interval_s
        self.redact = redact
        self._c, self._lock = counters, lock
        self._seq = first_seq
        self._active: seg.SegmentWriter | None = None
        self._unsynced = 0  # records written since the last good fsync
        self._last_sync = time.monotonic()
        self._to_repair: list[Path] = []

    def timeout(self) -> float | None:
        """How long the writer may sleep before it owes an fsync or a repair."""
        if self._to_repair:
            return 1.0
        if self.fsync == "interval" and self._unsynced:
            return max(0.0, self._last_sync + self.fsync_interval_s - time.monotonic())
        return None

    def write(self, records: list[InferenceRecord]) -> None:
        """Encode and append one batch; every record ends up written or dropped (counted)."""
        payloads, encode_errors, too_large = [], 0, 0
        for r in records:
            try:
                p = encode_record(r, self.redact)
            except Exception:
                encode_errors += 1
                continue
            if len(p) > seg.MAX_RECORD_BYTES:
                too_large += 1
            else:
                payloads.append(p)
        written, reason, nbytes = 0, "", 0
        if payloads:
            try:
                frames = seg.encode_frames(payloads)
                self._segment_for(len(frames)).append(frames, len(payloads))
                written, nbytes = len(payloads), len(frames)
            except OSError as e:
                reason = "disk_full" if e.errno in _DISK_FULL else "io_error"
                log.warning("Inference log dropped %d records: %s", len(payloads), e)
                if self._active is not None and self._active.broken:
                    self._abandon()
            except Exception:  # a bug must not kill the writer or lose the count
                reason = "internal_error"
                log.exception("Inference log dropped %d records.", len(payloads))
        with self._lock:
            c = self._c
            c.dropped["encode_error"] += encode_errors
            c.dropped["too_large"] += too_large
            if reason:
                c.dropped[reason] += len(payloads)
                c.write_errors += 1
            c.written += written
            c.bytes_written += nbytes
            c.batches += 1
        self._unsynced += written
        if written and (self.fsync == "always" or self._interval_due()):
            self.sync()

    def _interval_due(self) -> bool:
        return self.fsync == "interval" and \
            time.monotonic() - self._last_sync >= self.fsync_interval_s

    def tick(self, force_sync: bool) -> None:
        """Retry repairs, then fsync if forced or if the interval policy says so."""
        self._repair()
        if force_sync or self._interval_due():
            self.sync()

    def sync(self) -> None:
        """fsync the active segment if it holds unsynced records."""
        if self._active is None or not self._unsynced:
            return
        try:
            self._active.sync()
        except OSError as e:
            log.error("fsync of %s failed (%s): counting %d records as lost.",
                      self._active.path, e, self._unsynced)
            with self._lock:
                self._c.fsync_errors += 1
                self._c.written -= self._unsynced
                self._c.dropped["io_error"] += self._unsynced
            self._unsynced = 0
            self._abandon()
            return
        self._synced()

    def seal(self) -> None:
        """Seal the active segment (footer + fsync); a failed seal is retried by repair."""
        s, self._active = self._active, None
        if s is None:
            return
        try:
            s.seal()
        except OSError as e:
            log.warning("Could not seal %s (%s); will retry.", s.path, e)
            s.close()
            self._to_repair.append(s.path)
            return
        self._synced()

    def _synced(self) -> None:
        with self._lock:
            self._c.fsyncs += 1
            self._c.synced += self._unsynced
        self._unsynced = 0
        self._last_sync = time.monotonic()

    def _segment_for(self, incoming: int) -> seg.SegmentWriter:
        s = self._active
        if s is not None and s.records and s.size + incoming > self.segment_bytes:
            self.seal()
            s = None
        if s is None:
            self._seq += 1  # before create: a name that failed is never retried
            s = seg.SegmentWriter.create(self.segments, self._seq - 1, int(time.time() * 1000))
            self._active = s
            with self._lock:
                self._c.segments_created += 1
        return s

    def _abandon(self) -> None:
        if self._active is not None:
            self._active.close()
            self._to_repair.append(self._active.path)
            self._active = None

    def _repair(self) -> None:
        for path in list(self._to_repair):
            report = RecoveryReport()
            try:
                repair_segment(path, self.quarantine, report)
            except FileNotFoundError:
                pass
            except OSError:
                continue
            self._to_repair.remove(path)
            with self._lock:
                self._c.quarantined += len(report.quarantined)
