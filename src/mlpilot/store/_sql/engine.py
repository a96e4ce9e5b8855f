"""Engines for the metadata store: SQLite (WAL, busy timeout, immediate writes) or PostgreSQL.

SQLite's default deferred transactions let two writers both read, then both try
to upgrade their lock: one gets "database is locked" at once, whatever the busy
timeout. Write transactions therefore start with ``BEGIN IMMEDIATE`` (they queue
on the busy timeout instead), while reads stay deferred and run beside a writer
thanks to WAL.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from mlpilot.core.errors import InvalidArgument

SQLITE_BUSY_TIMEOUT_MS = 30_000
_IMMEDIATE = "mlpilot_immediate"


def make_engines(url: str) -> tuple[Engine, Engine]:
    """Return ``(read_engine, write_engine)`` sharing one pool.

    Raises:
        InvalidArgument: if the URL is malformed or names an unsupported database.
    """
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise InvalidArgument(
            "The store URL must look like 'sqlite:///path/mlpilot.db' or "
            f"'postgresql+psycopg://user@host/db'. Got {url!r}."
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = _sqlite_engine(url, parsed.database)
    elif backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10)
    else:
        raise InvalidArgument(
            f"The metadata store supports SQLite and PostgreSQL. Got a {backend!r} URL; "
            "use 'sqlite:///…' or 'postgresql+psycopg://…'."
        )
    _ENGINES.add(engine)
    return engine, engine.execution_options(**{_IMMEDIATE: True})


# A forked child must never reuse its parent's pooled connections.
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def _dispose_after_fork() -> None:
    for engine in list(_ENGINES):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_dispose_after_fork)


def _sqlite_engine(url: str, database: str | None) -> Engine:
    memory = database in (None, "", ":memory:")
    if not memory:
        Path(database).parent.mkdir(parents=True, exist_ok=True)  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {
        "connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
    }
    # Pooled file connections matter for speed: closing SQLite's last connection
    # checkpoints the WAL, costing fsyncs on every write. An in-memory database
    # exists only inside its one connection.
    if memory:
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
