"""The inference log: a bounded queue in front of one background segment writer.

Handlers call :meth:`InferenceLog.submit`, which appends to an in-memory queue
and returns at once; a full queue drops the record and counts it
(``dropped{reason="queue_full"}``). Nothing in ``submit`` touches the disk.
A writer thread drains the queue in batches: it redacts and encodes each record,
frames the batch with CRC32C checksums and appends it to the active segment in
one ``write``, rolling to a new segment past ``segment_bytes``.

Durability - the ``fsync`` policy:

* ``"interval"`` (default): fsync at most every ``fsync_interval_s`` (1 s) while
  there is unsynced data. A process crash loses nothing the writer wrote (the
  OS holds it); a power loss loses at most about the last second.
* ``"always"``: fsync after every batch; a record counted in ``synced`` survives
  power loss. Slower under load (one fsync per batch).
* ``"never"``: leave it to the OS (seal, :meth:`flush` and :meth:`close` still
  fsync). A power loss may lose whatever the OS had not yet written.

Records still in the queue when the process dies are lost in every policy; the
counters say how many were accepted but not written. ``submitted`` always
equals ``written + sum(dropped) + pending``. An I/O error drops the batch
(``disk_full`` for ENOSPC/EDQUOT, else ``io_error``) and the writer tries again
with the next batch; a failed fsync counts the records since the last good one
as ``io_error`` drops and abandons the segment (recovery seals what survived).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from mlpilot.core.errors import Conflict, InvalidArgument
from mlpilot.serve.inference_log._fs import FileLock, Layout, LockHeld
from mlpilot.serve.inference_log.record import InferenceRecord
from mlpilot.serve.inference_log.recovery import recover_segments
from mlpilot.serve.inference_log.segment import list_segments, segment_key
from mlpilot.serve.inference_log.sink import SegmentSink
from mlpilot.serve.inference_log.stats import LogCounters

if TYPE_CHECKING:
    from mlpilot.serve.inference_log.compaction import CompactionResult

__all__ = ["InferenceLog", "FSYNC_POLICIES"]

log = logging.getLogger(__name__)
FSYNC_POLICIES = ("interval", "always", "never")


class InferenceLog:
    """Durable, non-blocking record of every answered prediction; one per directory.

    Args:
        directory: Root of the log (``segments/``, ``parquet/``, ``quarantine/``).
        capacity: Records that may wait in the queue; beyond it ``submit`` drops.
            (The writer takes the whole queue at once, so up to twice this many
            records can be in memory: one queue waiting, one being written.)
        batch_size: Most records framed into one write.
        segment_bytes: Roll to a new segment once the active one reaches this size.
        fsync: ``"interval"``, ``"always"`` or ``"never"`` (see the module docstring).
        fsync_interval_s: Longest time unsynced data waits under ``"interval"``.
        redact: Feature names whose values are replaced by ``"[REDACTED]"`` before
            anything is written.
        linger_s: After waking for new records, the writer waits this long to let
            more arrive, so it writes batches rather than single records (fewer
            syscalls, less contention with the serving threads). Flushes and
            closing never linger.

    Raises:
        InvalidArgument: for an out-of-range argument.
        Conflict: when another open InferenceLog writes to ``directory``.
    """

    def __init__(self, directory: str | os.PathLike[str], *, capacity: int = 10_000,
                 batch_size: int = 1_000, segment_bytes: int = 64 * 1024 * 1024,
                 fsync: str = "interval", fsync_interval_s: float = 1.0,
                 redact: Iterable[str] = (), linger_s: float = 0.005) -> None:
        _check(_int_at_least(capacity, 1), "capacity", "an integer >= 1", capacity)
        _check(_int_at_least(batch_size, 1), "batch_size", "an integer >= 1", batch_size)
        _check(_int_at_least(segment_bytes, 4096), "segment_bytes", "an integer >= 4096",
               segment_bytes)
        _check(fsync in FSYNC_POLICIES, "fsync", f"one of {list(FSYNC_POLICIES)}", fsync)
        _check(isinstance(fsync_interval_s, int | float) and fsync_interval_s > 0,
               "fsync_interval_s", "a positive number of seconds", fsync_interval_s)
        _check(isinstance(linger_s, int | float) and 0 <= linger_s <= 1, "linger_s",
               "a number of seconds in [0, 1]", linger_s)
        self.linger_s = float(linger_s)
        self.directory = Path(directory)
        self.capacity, self.batch_size, self.segment_bytes = capacity, batch_size, segment_bytes
        self.fsync, self.fsync_interval_s = fsync, fsync_interval_s
        self.redact = frozenset(redact)
        self._layout = Layout(self.directory)
        self._layout.create()
        try:
            self._writer_lock = FileLock(self._layout.writer_lock)
        except LockHeld as e:
            raise Conflict(f"Another InferenceLog is writing to {self.directory}. A directory "
                           "has one writer: give each gateway replica its own.") from e
        self._c = LogCounters()
        self._lock = threading.Lock()
        self._cv = threading.Condition(self._lock)
        self._queue: deque[InferenceRecord] = deque()
        self._wake = threading.Event()
        self._closing = self._closed = False
        self._flush_req = self._flush_done = 0
        try:
            first_seq = self._startup()
        except BaseException:
            self._writer_lock.release()
            raise
        self._sink = SegmentSink(
            self._layout.segments, self._layout.quarantine, first_seq=first_seq,
            segment_bytes=segment_bytes, fsync=fsync, fsync_interval_s=fsync_interval_s,
            redact=self.redact, counters=self._c, lock=self._lock)
        self._thread = threading.Thread(target=self._run, name="mlpilot-inference-log",
                                        daemon=True)
        self._thread.start()
        ref = weakref.ref(self)
        self._atexit = lambda: (lambda s: s and s.close(timeout=10))(ref())
        atexit.register(self._atexit)

    # -- serving side -------------------------------------------------------------

    def submit(self, record: InferenceRecord) -> bool:
        """Queue ``record`` for writing; never blocks on disk.

        Returns:
            True if queued; False if dropped (queue full, or the log is closed).
        """
        with self._lock:
            c = self._c
            c.submitted += 1
            if self._closing:
                c.dropped["closed"] += 1
                return False
            if len(self._queue) >= self.capacity:
                c.dropped["queue_full"] += 1
                return False
            self._queue.append(record)
        if not self._wake.is_set():
            self._wake.set()
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Write and fsync everything submitted before this call.

        Returns:
            True when done within ``timeout`` seconds.
        """
        with self._lock:
            self._flush_req += 1
            req = self._flush_req
        self._wake.set()
        with self._cv:
            return self._cv.wait_for(
                lambda: self._flush_done >= req or not self._thread.is_alive(), timeout)

    def close(self, timeout: float | None = None) -> None:
        """Drain the queue, seal and fsync the active segment, stop the writer (idempotent)."""
        with self._lock:
            self._closing = True
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("The inference-log writer for %s did not stop within %ss.",
                        self.directory, timeout)
            return
        if not self._closed:
            self._closed = True
            self._writer_lock.release()
            atexit.unregister(self._atexit)

    def __enter__(self) -> InferenceLog:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- observability ------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """A consistent snapshot of the counters (see :class:`LogCounters`)."""
        with self._lock:
            snap = self._c.snapshot(queue_depth=len(self._queue), capacity=self.capacity)
        snap["segments"] = len(list_segments(self._layout.segments))
        snap["writer_alive"] = self._thread.is_alive()
        return snap

    def completeness(self) -> float:
        """Records written ÷ records submitted (1.0 before the first submit)."""
        with self._lock:
            return self._c.written / self._c.submitted if self._c.submitted else 1.0

    def compact(self, **kwargs: Any) -> CompactionResult:
        """Compact sealed segments into Parquet (see :func:`compaction.compact`).

        Raises:
            OSError: when Parquet or the ledger cannot be written (nothing is lost).
        """
        from mlpilot.serve.inference_log.compaction import compact

        result = compact(self.directory, **kwargs)
        with self._lock:
            self._c.quarantined += len(result.quarantined)
        return result

    # -- writer thread ----------------------------------------------------------------

    def _startup(self) -> int:
        from mlpilot.serve.inference_log.compaction import reconcile

        report = recover_segments(self._layout.segments, self._layout.quarantine)
        c = self._c
        c.recovered_truncated_records = report.truncated_records
        c.recovered_truncated_bytes = report.truncated_bytes
        c.recovered_sealed = len(report.sealed)
        c.quarantined = len(report.quarantined)
        c.reconciled_deleted = len(reconcile(self.directory))
        if report.truncated_bytes or report.quarantined:
            log.warning("Inference log %s recovered: cut %d bytes (%d records) of torn tail, "
                        "quarantined %s.", self.directory, report.truncated_bytes,
                        report.truncated_records, report.quarantined or "nothing")
        keys = [segment_key(p.name) for p in list_segments(self._layout.segments)]
        return 1 + max((k[1] for k in keys if k), default=0)

    def _run(self) -> None:
        sink = self._sink
        while True:
            self._wake.wait(sink.timeout())
            if self.linger_s and not self._closing and self._flush_req <= self._flush_done:
                time.sleep(self.linger_s)  # gather a batch; flush() and close() skip this
            self._wake.clear()
            with self._lock:
                batch, self._queue = self._queue, deque()
                req, stopping = self._flush_req, self._closing
            items = list(batch)
            for i in range(0, len(items), self.batch_size):
                sink.write(items[i:i + self.batch_size])
            try:
                sink.tick(force_sync=req > self._flush_done or stopping)
            except Exception:  # a bug must not stop the writer; write() counts its own
                log.exception("Inference-log writer maintenance failed.")
            with self._cv:
                self._flush_done = max(self._flush_done, req)
                self._cv.notify_all()
                if stopping and not self._queue:
                    break
        sink.seal()


def _int_at_least(value: object, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _check(ok: bool, name: str, rule: str, got: object) -> None:
    if not ok:
        raise InvalidArgument(f"The {name!r} parameter of InferenceLog must be {rule}. "
                              f"Got {got!r} instead.", field=name)
