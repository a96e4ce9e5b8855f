"""Small SQL helpers shared by the store mixins."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignore(session: Session, table: Any, rows: list[dict[str, Any]]) -> int:
    """``INSERT … ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL.

    Returns 1 if a single row was inserted, 0 if it already existed; for many rows
    the count is not tracked (0).
    """
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = make(table).on_conflict_do_nothing()
    if len(rows) > 1:
        session.execute(stmt, rows)
        return 0
    returning = stmt.returning(*table.primary_key.columns)
    return 0 if session.execute(returning, rows[0]).first() is None else 1


def upsert(session: Session, table: Any, rows: list[dict[str, Any]], keys: list[str]) -> None:
    """``INSERT … ON CONFLICT (keys) DO UPDATE`` setting every non-key column."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = make(table)
    updates = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
    session.execute(stmt.on_conflict_do_update(index_elements=keys, set_=updates), rows)
