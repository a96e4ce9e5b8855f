"""Alerts (list, read, acknowledge, resolve) and the monitor's metric points."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from fastapi.exceptions import RequestValidationError
from pydantic import Field, computed_field

from mlpilot.api.auth import CallerDep
from mlpilot.api.routing import resource_router
from mlpilot.api.schemas._requests import INT32_MAX, INT64_MAX, _In
from mlpilot.api.schemas._responses import _Out
from mlpilot.core.clock import as_utc
from mlpilot.core.entities import Alert, MetricPoint
from mlpilot.core.names import NAME_PATTERN

router = resource_router("alerts")

_NAME = NAME_PATTERN.pattern


class AlertOut(_Out):
    """A de-duplicated alert with its lifecycle, latest evidence and diagnosis."""

    id: int
    key: str
    model: str
    deployment: str
    kind: str
    severity: Literal["info", "warning", "critical"]
    status: Literal["open", "acknowledged", "resolved"]
    title: str
    summary: str
    evidence: dict[str, Any]
    occurrences: int
    first_seen: datetime
    last_seen: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    note: str
    diagnosis: dict[str, Any]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def active(self) -> bool:
        """True until resolved."""
        return self.status != "resolved"


class MetricPointOut(_Out):
    """One monitored value over one window."""

    id: int
    model: str
    name: str
    deployment: str
    version: int
    feature: str
    window_start: datetime
    window_end: datetime
    value: float | None
    details: dict[str, Any]


class AlertNote(_In):
    """Why the alert is acknowledged or resolved; stored on the alert and its audit event."""

    note: str = Field("", max_length=2000)


AlertId = Annotated[int, Path(ge=1, le=INT64_MAX, description="Alert id.")]
NameFilter = Annotated[str | None, Query(max_length=128, pattern=_NAME)]


@router.get("/alerts", response_model=list[AlertOut])
def list_alerts(
    caller: CallerDep,
    status: Annotated[Literal["open", "acknowledged", "resolved"] | None,
                      Query(description="Only alerts in this state.")] = None,
    model: NameFilter = None,
    active: Annotated[bool | None, Query(description="true: not resolved; false: resolved.")]
    = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[Alert]:
    """Alerts matching every given filter, newest first."""
    return caller.store.list_alerts(status=status, model=model, active=active, limit=limit)


@router.get("/alerts/{alert_id}", response_model=AlertOut)
def get_alert(alert_id: AlertId, caller: CallerDep) -> Alert:
    """One alert with its evidence and diagnosis."""
    return caller.store.get_alert(alert_id)


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut)
def acknowledge_alert(alert_id: AlertId, caller: CallerDep,
                      body: AlertNote | None = None) -> Alert:
    """Someone is on it: reminders stop (escalations still notify). 409 unless open."""
    return caller.store.acknowledge_alert(alert_id, body.note if body else "")


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut)
def resolve_alert(alert_id: AlertId, caller: CallerDep, body: AlertNote | None = None) -> Alert:
    """Close the incident; the next signal with its key opens a new alert. 409 if resolved."""
    return caller.store.resolve_alert(alert_id, body.note if body else "")


@router.get("/metrics", response_model=list[MetricPointOut])
def list_metric_points(
    caller: CallerDep,
    model: Annotated[str, Query(max_length=128, pattern=_NAME, description="The model.")],
    name: Annotated[str | None, Query(max_length=256, description=(
        "Metric name, e.g. accuracy; a trailing '.*' matches a prefix (drift.*)."))] = None,
    feature: Annotated[str | None, Query(max_length=256)] = None,
    deployment: Annotated[str | None, Query(max_length=256)] = None,
    version: Annotated[int | None, Query(ge=0, le=INT32_MAX,
                                         description="0: all versions.")] = None,
    since: Annotated[datetime | None, Query(description="Windows starting at or after.")]
    = None,
    until: Annotated[datetime | None, Query(description="Windows starting before.")] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> list[MetricPoint]:
    """Metric points of ``model`` matching every given filter, oldest window first."""
    if since is not None and until is not None and as_utc(until) < as_utc(since):
        raise RequestValidationError([{
            "loc": ("query", "until"), "type": "value_error",
            "msg": f"until ({until.isoformat()}) is before since ({since.isoformat()})"}])
    return caller.store.list_metric_points(model, name=name, feature=feature,
                                           deployment=deployment, version=version,
                                           since=since, until=until, limit=limit)
