"""Throw-away metadata-store URLs: a SQLite file, or a fresh PostgreSQL schema."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text

BACKENDS = ("sqlite", "postgresql")
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def pg_url() -> str:
    """The PostgreSQL server used by tests (``MLPILOT_TEST_PG_URL`` overrides)."""
    return os.environ.get("MLPILOT_TEST_PG_URL", DEFAULT_PG_URL)


@contextlib.contextmanager
def temporary_store_url(backend: str, directory: Path) -> Iterator[str]:
    """Yield a store URL nobody else uses; PostgreSQL schemas are dropped afterwards.

    Raises:
        ValueError: for a backend other than ``sqlite`` or ``postgresql``.
    """
    if backend == "sqlite":
        yield f"sqlite:///{directory / f'store-{secrets.token_hex(4)}.db'}"
        return
    if backend != "postgresql":
        raise ValueError(f"backend must be one of {BACKENDS}. Got {backend!r}.")
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(pg_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in pg_url() else "?"
        yield f"{pg_url()}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
