"""Sessions, error translation and the audit-event helper every store mixin shares."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from mlpilot.core.clock import utcnow
from mlpilot.core.errors import InvalidArgument, MlpilotError, StoreUnavailable
from mlpilot.store._sql.tables import EventRow


@dataclasses.dataclass
class StoreCore:
    """Engines and identity. Thread-safe: each call opens its own session."""

    url: str
    read_engine: Engine
    write_engine: Engine
    actor: str

    def __post_init__(self) -> None:
        self._read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(self.write_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.read_engine.dialect.name

    @contextlib.contextmanager
    def _read(self) -> Iterator[Session]:
        try:
            with self._read_sessions() as session:
                yield session
        except sa_exc.OperationalError as exc:
            raise _unavailable(exc) from exc

    @contextlib.contextmanager
    def _write(self) -> Iterator[Session]:
        """One write transaction: commits on success, rolls back on any error.

        A SQLite writer queues on the busy timeout in ``BEGIN IMMEDIATE``; should the
        lock outlast it, the caller gets :class:`StoreUnavailable`, never a raw
        "database is locked".
        """
        try:
            with self._write_sessions() as session, session.begin():
                yield session
        except sa_exc.OperationalError as exc:
            raise _unavailable(exc) from exc
        except sa_exc.DataError as exc:
            # e.g. a NUL character or an over-long value that PostgreSQL refuses
            detail = str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__
            raise InvalidArgument(f"The store refused a value: {detail}.") from exc

    def _emit(
        self,
        session: Session,
        action: str,
        target_kind: str,
        target: str,
        *,
        reason: str = "",
        payload: dict[str, Any] | None = None,
    ) -> None:
        """Write the audit event for a mutation, inside the caller's transaction."""
        session.add(
            EventRow(
                time=utcnow(),
                actor=self.actor,
                action=action,
                target_kind=target_kind,
                target=target,
                reason=reason,
                payload=payload or {},
            )
        )

    def with_actor(self, actor: str) -> StoreCore:
        """A view of the same store whose mutations are attributed to ``actor``."""
        clone = dataclasses.replace(self, actor=actor)
        return clone

    def close(self) -> None:
        """Release pooled connections."""
        self.read_engine.dispose()


def _is_lock_error(exc: sa_exc.OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "database is locked" in text or "database table is locked" in text


def _unavailable(exc: Exception) -> MlpilotError:
    if isinstance(exc, sa_exc.OperationalError) and _is_lock_error(exc):
        return StoreUnavailable(
            "The metadata store stayed locked by another writer past its 30 s busy timeout. "
            "Retry, or move a busy team onto PostgreSQL (MLPILOT_STORE_URL)."
        )
    return StoreUnavailable(
        f"The metadata store cannot be reached: {type(exc).__name__}. "
        "Check MLPILOT_STORE_URL and that the database is running."
    )
