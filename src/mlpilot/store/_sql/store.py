"""The metadata store: one SQLAlchemy implementation, SQLite or PostgreSQL by URL."""

from __future__ import annotations

from mlpilot.core.errors import StoreUnavailable
from mlpilot.store import migrate
from mlpilot.store._sql.core import StoreCore
from mlpilot.store._sql.datasets import DatasetMixin
from mlpilot.store._sql.decisions import DecisionMixin
from mlpilot.store._sql.deployments import DeploymentMixin
from mlpilot.store._sql.engine import make_engines
from mlpilot.store._sql.events import EventMixin
from mlpilot.store._sql.lineage import LineageMixin
from mlpilot.store._sql.monitoring import MonitoringMixin
from mlpilot.store._sql.tokens import TokenMixin


class Store(LineageMixin, DeploymentMixin, DatasetMixin, DecisionMixin, MonitoringMixin,
            EventMixin, TokenMixin, StoreCore):
    """Registry, tracking, datasets, lineage, deployments, decisions, monitoring, events, tokens.

    Thread-safe and process-safe: every method runs in its own transaction, and
    every mutation writes its audit Event in that same transaction. Returned
    entities are immutable snapshots.
    """

    @classmethod
    def open(cls, url: str, *, actor: str = "unknown", upgrade: bool | None = None) -> Store:
        """Connect to ``url``, creating or migrating the schema as needed.

        Args:
            upgrade: migrate an older schema to head. Default: yes for SQLite (the
                embedded default) and for empty databases; a PostgreSQL schema shared
                by a team is only migrated by ``mlpilot db upgrade``.

        Raises:
            StoreUnavailable: if the database cannot be reached, or is older than this
                code and ``upgrade`` is off.
        """
        read, write = make_engines(url)
        try:
            current = migrate.current_revision(read)
        except Exception as exc:
            raise StoreUnavailable(
                f"The metadata store at {read.url.render_as_string(hide_password=True)} cannot "
                f"be reached ({type(exc).__name__}). Check MLPILOT_STORE_URL and the database."
            ) from exc
        head = migrate.head_revision()
        if current != head:
            allowed = upgrade if upgrade is not None else (
                current is None or read.dialect.name == "sqlite")
            if not allowed:
                raise StoreUnavailable(
                    f"The metadata store schema is at revision {current}, this mlpilot needs "
                    f"{head}. Run `mlpilot db upgrade` first."
                )
            migrate.upgrade(write)
        return cls(url=url, read_engine=read, write_engine=write, actor=actor)

    def with_actor(self, actor: str) -> Store:  # narrow the return type
        """A view of the same store whose mutations are attributed to ``actor``."""
        return super().with_actor(actor)  # type: ignore[return-value]
