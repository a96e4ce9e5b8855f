"""Decisions with their evidence and outcome (DESIGN.md §2: every automatic decision explained)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mlpilot.core.clock import utcnow
from mlpilot.core.entities import DecisionRecord
from mlpilot.core.errors import InvalidArgument, NotFound
from mlpilot.core.jsonsafe import json_safe
from mlpilot.store._sql import convert
from mlpilot.store._sql.core import StoreCore
from mlpilot.store._sql.tables import DecisionRow


class DecisionMixin(StoreCore):
    """Record decisions (with an audit event in the same transaction) and their outcomes."""

    def record_decision(
        self,
        action: str,
        target_kind: str,
        target: str,
        *,
        reason: str,
        evidence: dict[str, Any] | None = None,
        outcome: str = "pending",
    ) -> DecisionRecord:
        """Store a decision; ``evidence`` is made strict-JSON (NaN → null).

        Raises:
            InvalidArgument: if ``action`` or ``target`` is empty.
        """
        if not action or not target:
            raise InvalidArgument("A decision needs an action and a target.")
        with self._write() as s:
            row = DecisionRow(time=utcnow(), actor=self.actor, action=action,
                              target_kind=target_kind, target=target, reason=reason,
                              evidence=json_safe(evidence or {}), outcome=outcome,
                              outcome_detail={})
            s.add(row)
            s.flush()
            self._emit(s, f"decision.{action}", target_kind, target, reason=reason,
                       payload={"decision": row.id, "outcome": outcome})
            return convert.decision(row)

    def set_decision_outcome(self, decision_id: int, outcome: str,
                             detail: dict[str, Any] | None = None) -> DecisionRecord:
        """Record what came of a decision (applied, failed, superseded, …)."""
        with self._write() as s:
            row = s.get(DecisionRow, decision_id)
            if row is None:
                raise NotFound(f"No decision with id {decision_id!r}.")
            row.outcome = outcome
            row.outcome_detail = json_safe(detail or {})
            self._emit(s, "decision.outcome", row.target_kind, row.target,
                       payload={"decision": decision_id, "outcome": outcome})
            s.flush()
            return convert.decision(row)

    def list_decisions(self, *, target_kind: str | None = None, target: str | None = None,
                       action: str | None = None, limit: int = 100) -> list[DecisionRecord]:
        """Decisions matching every given filter, newest first."""
        if not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise InvalidArgument(f"limit must be in [1, 10000]. Got {limit!r}.")
        stmt = select(DecisionRow).order_by(DecisionRow.id.desc()).limit(limit)
        for column, value in ((DecisionRow.target_kind, target_kind),
                              (DecisionRow.target, target), (DecisionRow.action, action)):
            if value is not None:
                stmt = stmt.where(column == value)
        with self._read() as s:
            return [convert.decision(r) for r in s.scalars(stmt)]
