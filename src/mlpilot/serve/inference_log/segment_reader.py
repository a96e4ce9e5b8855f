"""Reading a segment back, verifying every checksum, and telling torn tails from damage.

Reading stops at the first frame that is incomplete or fails its checksum; what
follows decides the verdict. Nothing valid after it: a **torn tail** (a crash
mid-write), which recovery truncates, counting the records and bytes cut.
A valid frame or seal after it: the segment is **damaged in the middle**, and
recovery moves it whole to ``quarantine/`` - never deletes it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mlpilot.serve.inference_log._crc32c import crc32c, crc32c_many
from mlpilot.serve.inference_log.record import InferenceRecord, decode_record
from mlpilot.serve.inference_log.segment import (
    FRAME_STRUCT,
    HEADER,
    HEADER_SIZE,
    MASK32,
    MAX_RECORD_BYTES,
    SEAL_MAGIC,
    SEAL_SIZE,
    seal_footer,
    with_crc,
)

__all__ = ["SegmentReader", "is_sealed"]


class SegmentReader:
    """A segment read and verified in one pass; never modifies the file.

    Attributes:
        state: "ok", "torn" (bad tail), "corrupt" (damaged before valid data),
            "bad_header" (not a segment of a known version) or "empty" (a header
            cut short).
        sealed: Whether a valid seal footer closes the records.
        valid_end: Byte offset just past the last good record.
        torn_records: Frames started in the torn tail (0 unless ``state`` is "torn").
    """

    def __init__(self, path: Path, data: bytes | None = None) -> None:
        self.path = path
        self._buf = path.read_bytes() if data is None else data
        self.size = len(self._buf)
        self.state = "ok"
        self.sealed = False
        self.valid_end = 0
        self.torn_records = 0
        self.payloads: list[memoryview] = []
        self._scan()

    def __len__(self) -> int:
        return len(self.payloads)

    def records(self) -> Iterator[InferenceRecord]:
        """Decode the good records in order.

        Raises:
            ValueError: for a record of an unknown encoding version.
        """
        for p in self.payloads:
            yield decode_record(p)

    def _scan(self) -> None:
        buf, size = self._buf, self.size
        if size < HEADER_SIZE:
            self.state = "empty" if HEADER.startswith(buf) else "bad_header"
            return
        if buf[:HEADER_SIZE] != HEADER:
            self.state = "bad_header"
            return
        pos, spans, seal_ok = HEADER_SIZE, [], False
        while pos < size:
            if buf.startswith(SEAL_MAGIC, pos):
                seal_ok = buf[pos:pos + SEAL_SIZE] == seal_footer(len(spans))
                if seal_ok:
                    pos += SEAL_SIZE
                break
            frame = _frame_at(buf, pos)
            if frame is None:
                break
            spans.append((pos + 12, frame[0], frame[1]))
            pos += 12 + frame[0]
        mv = memoryview(buf)
        payloads = [mv[s:s + n] for s, n, _ in spans]
        first_bad = None
        for k in range(0, len(spans), 4096):  # bound the batch's padded memory
            got = crc32c_many(payloads[k:k + 4096])
            bad = [i for i, c in enumerate(got) if c != spans[k + i][2]]
            if bad:
                first_bad = k + bad[0]
                break
        if first_bad is not None:
            payloads, seal_ok = payloads[:first_bad], False
            pos = spans[first_bad][0] - 12
        self.payloads = payloads
        self.valid_end = spans[len(payloads) - 1][0] + spans[len(payloads) - 1][1] if payloads \
            else HEADER_SIZE
        self.sealed = seal_ok
        if pos >= size:
            return
        if seal_ok or _resync(buf, pos + 1) is not None:
            self.state = "corrupt"
        else:
            self.state = "torn"
            tail = buf[pos:pos + SEAL_SIZE]
            # A seal cut short is not a record.
            self.torn_records = 0 if SEAL_MAGIC[:len(tail)] == tail[:8] else _count_frames(buf, pos)


def _frame_at(buf: bytes, pos: int) -> tuple[int, int] | None:
    """``(length, crc)`` of a plausible frame header at ``pos`` whose payload fits."""
    if len(buf) - pos < 12:
        return None
    n, inv, crc = FRAME_STRUCT.unpack_from(buf, pos)
    if n ^ inv != MASK32 or n == 0 or n > MAX_RECORD_BYTES or pos + 12 + n > len(buf):
        return None
    return n, crc


def _count_frames(buf: bytes, pos: int) -> int:
    """Frames begun in the tail from ``pos`` (at least one when bytes remain)."""
    count = 0
    while pos < len(buf):
        count += 1
        frame = _frame_at(buf, pos)
        if frame is None:
            break
        pos += 12 + frame[0]
    return count


def _resync(buf: bytes, start: int, window: int = 1 << 22) -> int | None:
    """Offset of the first valid frame or seal at or after ``start``, if any."""
    seal = buf.find(SEAL_MAGIC, start)
    while seal >= 0 and not (len(buf) - seal >= SEAL_SIZE
                             and with_crc(buf[seal:seal + 12]) == buf[seal:seal + SEAL_SIZE]):
        seal = buf.find(SEAL_MAGIC, seal + 1)
    stop = seal if seal >= 0 else len(buf)
    b = np.frombuffer(buf, dtype=np.uint8)
    for w in range(start, stop - 11, window):
        hi = min(stop - 11, w + window)
        seg = b[w:hi + 11].astype(np.uint32)
        m = hi - w
        a = seg[0:m] | seg[1:m + 1] << 8 | seg[2:m + 2] << 16 | seg[3:m + 3] << 24
        c = seg[4:m + 4] | seg[5:m + 5] << 8 | seg[6:m + 6] << 16 | seg[7:m + 7] << 24
        for off in (np.flatnonzero((a ^ c) == MASK32) + w).tolist():
            frame = _frame_at(buf, off)
            if frame and crc32c(buf[off + 12:off + 12 + frame[0]]) == frame[1]:
                return off
    return seal if seal >= 0 else None


def is_sealed(path: Path) -> bool:
    """Cheap check: does the file end with a well-formed seal footer? (Full check: read it.)"""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() < HEADER_SIZE + SEAL_SIZE:
                return False
            f.seek(-SEAL_SIZE, os.SEEK_END)
            tail = f.read(SEAL_SIZE)
    except OSError:
        return False
    return tail.startswith(SEAL_MAGIC) and with_crc(tail[:12]) == tail
