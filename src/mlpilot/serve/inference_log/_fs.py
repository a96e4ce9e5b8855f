"""File-system helpers: directory fsync, exclusive lock files, atomic replace."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from mlpilot.core.fsutil import fsync_dir

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; single-writer is on the caller
    fcntl = None  # type: ignore[assignment]


class LockHeld(OSError):
    """Another process (or another open handle) holds the lock."""


class FileLock:
    """An exclusive advisory lock on ``path`` (``flock``), held until :meth:`release`.

    Locks belong to the open file, so two handles in one process exclude each
    other too.
    """

    def __init__(self, path: Path, *, blocking: bool = False) -> None:
        self.path = path
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is None:
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError as e:
            os.close(self._fd)
            self._fd = None
            raise LockHeld(f"The lock {path} is held by another process.") from e

    def release(self) -> None:
        """Release the lock (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> FileLock:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never half."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class Layout:
    """Where everything lives under one inference-log directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.segments = self.root / "segments"
        self.quarantine = self.root / "quarantine"
        self.parquet = self.root / "parquet"
        self.ledger = self.root / "ledger.jsonl"
        self.writer_lock = self.root / "writer.lock"
        self.compact_lock = self.root / "compact.lock"

    def create(self) -> None:
        """Create the directories (idempotent)."""
        for d in (self.segments, self.quarantine, self.parquet):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
