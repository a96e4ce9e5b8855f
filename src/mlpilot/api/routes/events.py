"""The audit log and the decisions (with their evidence), newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from mlpilot.api.auth import CallerDep
from mlpilot.api.routing import resource_router
from mlpilot.api.schemas import DecisionOut, EventOut
from mlpilot.core.entities import DecisionRecord, Event

router = resource_router("events")

Filter = Annotated[str | None, Query(max_length=256)]


@router.get("/events", response_model=list[EventOut])
def list_events(
    caller: CallerDep,
    target_kind: Filter = None,
    target: Filter = None,
    action: Filter = None,
    actor: Filter = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[Event]:
    """Events matching every given filter (who did what, to what, why)."""
    return caller.store.list_events(target_kind=target_kind, target=target, action=action,
                                    actor=actor, limit=limit)


@router.get("/decisions", response_model=list[DecisionOut])
def list_decisions(
    caller: CallerDep,
    target_kind: Filter = None,
    target: Filter = None,
    action: Filter = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[DecisionRecord]:
    """Automatic decisions with their evidence and outcome."""
    return caller.store.list_decisions(target_kind=target_kind, target=target, action=action,
                                       limit=limit)
