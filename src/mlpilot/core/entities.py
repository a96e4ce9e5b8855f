"""Domain entities (DESIGN.md §2) as frozen dataclasses.

ORM rows never leave the store: it converts them into these immutable values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class RunStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    KILLED = "killed"


class VersionStatus(StrEnum):
    READY = "ready"
    ARCHIVED = "archived"


class Role(StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        """True if this role includes ``needed`` (admin ⊃ editor ⊃ viewer)."""
        order = [Role.VIEWER, Role.EDITOR, Role.ADMIN]
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True)
class Model:
    name: str
    description: str
    tags: dict[str, str]
    aliases: dict[str, int]
    latest_version: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ModelVersion:
    model: str
    version: int
    status: VersionStatus
    format: str
    artifact_digest: str
    artifact_size: int
    signature: dict[str, Any] | None
    run_id: str | None
    dataset_id: str | None
    parent_version: int | None
    metrics: dict[str, float]
    tags: dict[str, str]
    description: str
    aliases: tuple[str, ...]
    check_report: dict[str, Any] | None
    model_card: str | None
    created_at: datetime
    created_by: str

    @property
    def ref(self) -> str:
        """``model/version``, the form ``mlpilot.load`` accepts."""
        return f"{self.model}/{self.version}"


@dataclass(frozen=True)
class MetricValue:
    key: str
    value: float
    step: int
    timestamp: datetime


@dataclass(frozen=True)
class RunArtifact:
    name: str
    digest: str
    size: int


@dataclass(frozen=True)
class Run:
    id: str
    name: str
    model: str | None
    status: RunStatus
    start_time: datetime
    end_time: datetime | None
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, float]  # latest value per key
    code_version: dict[str, Any]
    environment: dict[str, Any]
    parent_run_id: str | None
    artifacts: tuple[RunArtifact, ...] = ()


@dataclass(frozen=True)
class Dataset:
    id: str
    name: str
    digest: str
    num_rows: int
    num_columns: int
    schema: dict[str, Any]
    profile: dict[str, Any]
    created_at: datetime
    description: str = ""


@dataclass(frozen=True)
class LineageEdge:
    source_kind: str
    source_id: str
    target_kind: str
    target_id: str
    relation: str
    created_at: datetime


@dataclass(frozen=True)
class Route:
    version: int
    weight: float
    role: str = "primary"


@dataclass(frozen=True)
class Deployment:
    name: str
    model: str
    strategy: str
    routes: tuple[Route, ...]
    params: dict[str, Any]
    slos: dict[str, Any]
    status: str
    revision: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Event:
    id: int
    time: datetime
    actor: str
    action: str
    target_kind: str
    target: str
    reason: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ApiToken:
    id: str
    name: str
    role: Role
    created_at: datetime
    created_by: str
    revoked: bool


@dataclass(frozen=True)
class Lineage:
    """Where a version came from and where it went."""

    version: ModelVersion
    run: Run | None
    datasets: tuple[Dataset, ...]
    parent: ModelVersion | None
    deployments: tuple[Deployment, ...]
    edges: tuple[LineageEdge, ...]


@dataclass(frozen=True)
class DecisionRecord:
    """An automatic (or human) decision as stored: what, why, the evidence, what came of it."""

    id: int
    time: datetime
    actor: str
    action: str
    target_kind: str
    target: str
    reason: str
    evidence: dict[str, Any]
    outcome: str
    outcome_detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricPoint:
    """A monitored value over one window (DESIGN.md §2).

    Attributes:
        model: the model monitored.
        name: what was measured: ``drift.ks``, ``accuracy``, ``latency_p99_ms``, ...
        window_start: window start (inclusive, UTC).
        window_end: window end (exclusive, UTC).
        value: the value (``None`` when it could not be computed, e.g. no labels yet).
        deployment: the endpoint ("" for the model as a whole).
        version: the version (0 for all versions of the window).
        feature: the column a per-feature metric is about ("" otherwise).
        details: the evidence (threshold, p-value, verdict, CI, ...), strict JSON.
        id: the stored id (0 before it is stored).
    """

    model: str
    name: str
    window_start: datetime
    window_end: datetime
    value: float | None
    deployment: str = ""
    version: int = 0
    feature: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    id: int = 0


ALERT_SEVERITIES = ("info", "warning", "critical")
ALERT_STATUSES = ("open", "acknowledged", "resolved")


@dataclass(frozen=True)
class Alert:
    """A de-duplicated anomaly: one per incident (its ``key``), not per window or feature.

    Attributes:
        id: stored id.
        key: the grouping key; while an alert with this key is unresolved, new
            signals with the key update it instead of opening another.
        model: the model concerned.
        deployment: the endpoint ("" when not specific to one).
        kind: ``drift``, ``performance``, ``latency``, ``errors``, ``quality``, ...
        severity: ``info``, ``warning`` or ``critical`` (the highest seen).
        status: ``open``, ``acknowledged`` or ``resolved``.
        title: one line for lists and notifications.
        summary: what was seen, in a sentence or two.
        evidence: the latest signals with their statistics (strict JSON).
        occurrences: how many times the signal was raised while unresolved.
        first_seen: when it opened.
        last_seen: the latest time it was raised.
        acknowledged_at, acknowledged_by, resolved_at, resolved_by: the lifecycle.
        note: the latest acknowledge/resolve note.
        diagnosis: the root-cause analysis linked to it (empty until diagnosed).
    """

    id: int
    key: str
    model: str
    deployment: str
    kind: str
    severity: str
    status: str
    title: str
    summary: str
    evidence: dict[str, Any]
    occurrences: int
    first_seen: datetime
    last_seen: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    note: str = ""
    diagnosis: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """True until resolved."""
        return self.status != "resolved"
