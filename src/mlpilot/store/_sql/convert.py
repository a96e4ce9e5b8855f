"""Row → entity conversion: ORM rows never leave the store."""

from __future__ import annotations

from datetime import UTC, datetime

from mlpilot.core.clock import as_utc
from mlpilot.core.entities import (
    ApiToken,
    Dataset,
    DecisionRecord,
    Deployment,
    Event,
    LineageEdge,
    MetricValue,
    Model,
    ModelVersion,
    Role,
    Route,
    Run,
    RunArtifact,
    RunStatus,
    VersionStatus,
)
from mlpilot.store._sql.tables import (
    DatasetRow,
    DecisionRow,
    DeploymentRow,
    EventRow,
    LineageRow,
    MetricRow,
    ModelRow,
    RunRow,
    TokenRow,
    VersionRow,
)


def ms_to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def model(row: ModelRow, aliases: dict[str, int]) -> Model:
    return Model(
        name=row.name,
        description=row.description,
        tags=dict(row.tags),
        aliases=dict(sorted(aliases.items())),
        latest_version=row.last_version or None,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


def version(row: VersionRow, model_name: str, aliases: list[str]) -> ModelVersion:
    return ModelVersion(
        model=model_name,
        version=row.version,
        status=VersionStatus(row.status),
        format=row.format,
        artifact_digest=row.artifact_digest,
        artifact_size=row.artifact_size,
        signature=row.signature,
        run_id=row.run_id,
        dataset_id=row.dataset_id,
        parent_version=row.parent_version,
        metrics=dict(row.metrics),
        tags=dict(row.tags),
        description=row.description,
        aliases=tuple(sorted(aliases)),
        check_report=row.check_report,
        model_card=row.model_card,
        created_at=as_utc(row.created_at),
        created_by=row.created_by,
    )


def run(
    row: RunRow,
    params: dict[str, str],
    tags: dict[str, str],
    metrics: dict[str, float],
    artifacts: list[RunArtifact],
) -> Run:
    return Run(
        id=row.id,
        name=row.name,
        model=row.model_name,
        status=RunStatus(row.status),
        start_time=as_utc(row.start_time),
        end_time=as_utc(row.end_time) if row.end_time else None,
        params=params,
        tags=tags,
        metrics=metrics,
        code_version=dict(row.code_version),
        environment=dict(row.environment),
        parent_run_id=row.parent_run_id,
        artifacts=tuple(sorted(artifacts, key=lambda a: a.name)),
    )


def metric(row: MetricRow) -> MetricValue:
    return MetricValue(
        key=row.key, value=row.value, step=row.step, timestamp=ms_to_datetime(row.timestamp_ms)
    )


def dataset(row: DatasetRow) -> Dataset:
    return Dataset(
        id=row.id,
        name=row.name,
        digest=row.digest,
        num_rows=row.num_rows,
        num_columns=row.num_columns,
        schema=row.schema,
        profile=row.profile,
        created_at=as_utc(row.created_at),
        description=row.description,
    )


def edge(row: LineageRow) -> LineageEdge:
    return LineageEdge(
        source_kind=row.source_kind,
        source_id=row.source_id,
        target_kind=row.target_kind,
        target_id=row.target_id,
        relation=row.relation,
        created_at=as_utc(row.created_at),
    )


def deployment(row: DeploymentRow, model_name: str) -> Deployment:
    return Deployment(
        name=row.name,
        model=model_name,
        strategy=row.strategy,
        routes=tuple(Route(**r) for r in row.routes),
        params=dict(row.params),
        slos=dict(row.slos),
        status=row.status,
        revision=row.revision,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


def event(row: EventRow) -> Event:
    return Event(
        id=row.id,
        time=as_utc(row.time),
        actor=row.actor,
        action=row.action,
        target_kind=row.target_kind,
        target=row.target,
        reason=row.reason,
        payload=dict(row.payload),
    )


def token(row: TokenRow) -> ApiToken:
    return ApiToken(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        created_at=as_utc(row.created_at),
        created_by=row.created_by,
        revoked=row.revoked,
    )


def decision(row: DecisionRow) -> DecisionRecord:
    return DecisionRecord(
        id=row.id, time=as_utc(row.time), actor=row.actor, action=row.action,
        target_kind=row.target_kind, target=row.target, reason=row.reason,
        evidence=dict(row.evidence), outcome=row.outcome,
        outcome_detail=dict(row.outcome_detail),
    )
