"""Metadata store (SQLAlchemy: SQLite or PostgreSQL) and artifact store (local or fsspec)."""

from mlpilot.store._sql.registry import ANY
from mlpilot.store._sql.store import Store

__all__ = ["ANY", "Store"]
