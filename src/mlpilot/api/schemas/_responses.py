"""Response bodies: one per entity, built from the frozen dataclasses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field

from mlpilot.core.entities import Role, RunStatus, VersionStatus


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True, protected_namespaces=())


class ErrorOut(_Out):
    """Every error: a stable code, a human message, and structured details."""

    code: str = Field(examples=["not_found"])
    message: str
    details: dict[str, Any] = {}


class HealthOut(_Out):
    status: str = "ok"
    version: str
    auth: bool


class ModelOut(_Out):
    name: str
    description: str
    tags: dict[str, str]
    aliases: dict[str, int]
    latest_version: int | None
    created_at: datetime
    updated_at: datetime


class VersionOut(_Out):
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
    aliases: list[str]
    check_report: dict[str, Any] | None
    model_card: str | None
    created_at: datetime
    created_by: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ref(self) -> str:
        """``model/version``, the form ``mlpilot.load`` accepts."""
        return f"{self.model}/{self.version}"


class MetricValueOut(_Out):
    key: str
    value: float
    step: int
    timestamp: datetime


class RunArtifactOut(_Out):
    name: str
    digest: str
    size: int


class RunOut(_Out):
    id: str
    name: str
    model: str | None
    status: RunStatus
    start_time: datetime
    end_time: datetime | None
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, float]
    code_version: dict[str, Any]
    environment: dict[str, Any]
    parent_run_id: str | None
    artifacts: list[RunArtifactOut]


class DatasetOut(_Out):
    id: str
    name: str
    digest: str
    num_rows: int
    num_columns: int
    schema_: dict[str, Any] = Field(validation_alias="schema", serialization_alias="schema")
    profile: dict[str, Any]
    created_at: datetime
    description: str


class LineageEdgeOut(_Out):
    source_kind: str
    source_id: str
    target_kind: str
    target_id: str
    relation: str
    created_at: datetime


class RouteOut(_Out):
    version: int
    weight: float
    role: str


class DeploymentOut(_Out):
    name: str
    model: str
    strategy: str
    routes: list[RouteOut]
    params: dict[str, Any]
    slos: dict[str, Any]
    status: str
    revision: int
    created_at: datetime
    updated_at: datetime


class LineageOut(_Out):
    version: VersionOut
    run: RunOut | None
    datasets: list[DatasetOut]
    parent: VersionOut | None
    deployments: list[DeploymentOut]
    edges: list[LineageEdgeOut]


class EventOut(_Out):
    id: int
    time: datetime
    actor: str
    action: str
    target_kind: str
    target: str
    reason: str
    payload: dict[str, Any]


class DecisionOut(_Out):
    id: int
    time: datetime
    actor: str
    action: str
    target_kind: str
    target: str
    reason: str
    evidence: dict[str, Any]
    outcome: str
    outcome_detail: dict[str, Any]


class TokenOut(_Out):
    id: str
    name: str
    role: Role
    created_at: datetime
    created_by: str
    revoked: bool


class TokenCreated(TokenOut):
    secret: str = Field(description="The bearer secret. Shown once; only its hash is kept.")


class ArtifactOut(_Out):
    digest: str = Field(examples=["sha256:" + "0" * 64])
    size: int
