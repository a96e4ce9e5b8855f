"""Segment files: the on-disk format, and the writer that appends to one.

Layout (little-endian)::

    header  b"MLPLSEG\\n" | u16 format version | u16 flags | u32 crc32c(first 12 bytes)
    frame   u32 length | u32 ~length | u32 crc32c(payload) | payload      (repeated)
    seal    b"MLPLSEAL"  | u32 record count | u32 crc32c(first 12 bytes)

The complemented length tells a damaged length from a plausible one without
reading the payload. A segment is *sealed* once its writer rolled past it or
start-up recovery repaired it; only sealed segments are compacted. Reading and
verifying is :mod:`segment_reader`; repairing after a crash is :mod:`recovery`.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

from mlpilot.serve.inference_log._crc32c import crc32c, crc32c_many
from mlpilot.serve.inference_log._fs import fsync_dir

MAGIC = b"MLPLSEG\n"
SEAL_MAGIC = b"MLPLSEAL"
FORMAT_VERSION = 1
FRAME_OVERHEAD = 12
HEADER_SIZE = 16
SEAL_SIZE = 16
MAX_RECORD_BYTES = 16 * 1024 * 1024
MASK32 = 0xFFFFFFFF
FRAME_STRUCT = struct.Struct("<III")
_U32 = struct.Struct("<I")
_NAME = re.compile(r"^(\d{13})-(\d{6,})\.seg$")


def with_crc(prefix: bytes) -> bytes:
    """``prefix`` followed by its CRC32C (headers and seals)."""
    return prefix + _U32.pack(crc32c(prefix))


HEADER = with_crc(MAGIC + struct.pack("<HH", FORMAT_VERSION, 0))


def seal_footer(count: int) -> bytes:
    """The footer that marks a segment of ``count`` records as complete."""
    return with_crc(SEAL_MAGIC + _U32.pack(count))


def encode_frames(payloads: Sequence[bytes]) -> bytes:
    """Frame a batch of encoded records (one buffer, one write)."""
    pack = FRAME_STRUCT.pack
    parts: list[bytes] = []
    for p, c in zip(payloads, crc32c_many(payloads), strict=True):
        parts.append(pack(len(p), len(p) ^ MASK32, c))
        parts.append(p)
    return b"".join(parts)


def segment_name(epoch_ms: int, seq: int) -> str:
    """``<epoch-ms>-<seq>.seg``, zero-padded so names sort in write order."""
    return f"{epoch_ms:013d}-{seq:06d}.seg"


def segment_key(name: str) -> tuple[int, int] | None:
    """``(epoch_ms, seq)`` of a segment file name, or None for other files."""
    m = _NAME.match(name)
    return (int(m.group(1)), int(m.group(2))) if m else None


def list_segments(directory: Path) -> list[Path]:
    """Segment files in ``directory``, oldest first."""
    try:
        names = [(k, e.name) for e in os.scandir(directory) if (k := segment_key(e.name))]
    except FileNotFoundError:
        return []
    return [directory / n for _, n in sorted(names)]


def _write_all(fd: int, data: bytes | memoryview) -> None:
    """``os.write`` until all of ``data`` is written (tests replace this to fail)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class SegmentWriter:
    """Appends framed batches to one new segment file; owned by one thread.

    Raises:
        OSError: from :meth:`create`, :meth:`append`, :meth:`sync` and :meth:`seal`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records = 0
        self.broken = False
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        self._fd = os.open(path, flags, 0o644)
        try:
            _write_all(self._fd, HEADER)
        except OSError:
            os.close(self._fd)
            with suppress(OSError):
                os.unlink(path)
            raise
        self.size = HEADER_SIZE
        fsync_dir(path.parent)

    @classmethod
    def create(cls, directory: Path, seq: int, epoch_ms: int) -> SegmentWriter:
        """A new, empty segment ``<epoch_ms>-<seq>.seg`` in ``directory``."""
        return cls(directory / segment_name(epoch_ms, seq))

    def append(self, frames: bytes, count: int) -> None:
        """Append ``count`` framed records; on failure cut the file back to its last good size."""
        try:
            _write_all(self._fd, frames)
        except OSError:
            try:
                os.ftruncate(self._fd, self.size)
                os.lseek(self._fd, self.size, os.SEEK_SET)
            except OSError:
                self.broken = True  # a torn tail stays; recovery will cut it
            raise
        self.size += len(frames)
        self.records += count

    def sync(self) -> None:
        """fsync the file."""
        os.fsync(self._fd)

    def seal(self) -> None:
        """Append the seal footer, fsync and close."""
        self.append(seal_footer(self.records), 0)
        self.sync()
        self.close()

    def close(self) -> None:
        """Close without sealing (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
