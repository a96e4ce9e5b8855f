"""One autopilot acts at a time: a leader lock next to the metadata store.

PostgreSQL: a session-level ``pg_try_advisory_lock`` on a dedicated connection,
held for the leader's lifetime (the server drops it when the process dies).
SQLite: an ``flock`` on ``<database>.autopilot.lock`` beside the database file
(the kernel drops it when the process dies). An in-memory SQLite store has
nothing to share, so its lock is per process.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from mlpilot.core.errors import Conflict

_MEMORY_LOCKS: set[str] = set()
_MEMORY_GUARD = threading.Lock()


class LeaderBusy(Conflict):
    """Another autopilot holds the leader lock."""

    code = "leader_busy"


def _lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock``."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class LeaderLock:
    """A non-blocking leader lock on ``store``; use :meth:`acquire` or ``with``.

    Args:
        store: the metadata store (:class:`~mlpilot.store.Store`).
        name: the lock's name (one leader per name).
    """

    def __init__(self, store: Any, name: str = "mlpilot-autopilot") -> None:
        self.store = store
        self.name = name
        self._conn: Any = None
        self._file: Any = None
        self._memory: str | None = None
        self._key: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._conn is not None or self._file is not None or self._memory is not None

    def acquire(self) -> bool:
        """Take the lock if free; True when held (also when already held by this object)."""
        if self.held:
            return True
        if self.store.dialect == "postgresql":
            return self._acquire_postgres()
        database = make_url(self.store.url).database
        if database in (None, "", ":memory:"):
            key = f"{self.store.url}#{self.name}"
            with _MEMORY_GUARD:
                if key in _MEMORY_LOCKS:
                    return False
                _MEMORY_LOCKS.add(key)
            self._memory = key
            return True
        from mlpilot.serve.inference_log._fs import FileLock, LockHeld

        path = Path(database).with_name(f"{Path(database).name}.{self.name}.lock")
        try:
            self._file = FileLock(path)
        except LockHeld:
            return False
        return True

    def _acquire_postgres(self) -> bool:
        conn = self.store.write_engine.connect()
        try:
            # advisory locks are database-wide; one database may hold several stores
            # (schemas), and each gets its own leader
            schema = conn.execute(text("SELECT current_schema()")).scalar()
            key = _lock_key(f"{schema}/{self.name}")
            ok = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                   {"k": key}).scalar())
            conn.commit()  # the lock is session-level: it outlives the transaction
        except Exception:
            conn.close()
            raise
        if not ok:
            conn.close()
            return False
        self._conn, self._key = conn, key
        return True

    def still_held(self) -> bool:
        """Whether the lock is still ours (a PostgreSQL connection may have dropped)."""
        if self._conn is None or self._key is None:
            return self.held
        key = self._key
        try:
            owned = self._conn.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND pid = pg_backend_pid() AND classid::bigint = :hi AND objid::bigint = :lo"),
                {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF}).scalar()
            self._conn.commit()
        except Exception:
            return False
        return bool(owned)

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                conn.commit()
            except Exception:  # the connection is gone: so is the lock
                pass
            finally:
                conn.close()
        if self._file is not None:
            self._file.release()
            self._file = None
        if self._memory is not None:
            with _MEMORY_GUARD:
                _MEMORY_LOCKS.discard(self._memory)
            self._memory = None

    def __enter__(self) -> LeaderLock:
        if not self.acquire():
            raise LeaderBusy(f"Another autopilot holds the leader lock {self.name!r}; "
                             "this one stays on standby. Stop the other or wait for it.")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
