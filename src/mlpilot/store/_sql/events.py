"""The audit log: read side (writes happen inside each mutation's transaction)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from mlpilot.core.entities import Event
from mlpilot.core.errors import InvalidArgument
from mlpilot.store._sql import convert
from mlpilot.store._sql.core import StoreCore
from mlpilot.store._sql.tables import EventRow


class EventMixin(StoreCore):
    """Filterable, newest-first access to events."""

    def list_events(
        self,
        *,
        target_kind: str | None = None,
        target: str | None = None,
        action: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[Event]:
        """Events matching every given filter, newest first."""
        if not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise InvalidArgument(f"limit must be in [1, 10000]. Got {limit!r}.")
        stmt = select(EventRow).order_by(EventRow.id.desc()).limit(limit)
        for column, value in ((EventRow.target_kind, target_kind), (EventRow.target, target),
                              (EventRow.action, action), (EventRow.actor, actor)):
            if value is not None:
                stmt = stmt.where(column == value)
        if since is not None:
            stmt = stmt.where(EventRow.time >= since)
        with self._read() as s:
            return [convert.event(r) for r in s.scalars(stmt)]
