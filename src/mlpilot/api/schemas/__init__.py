"""Pydantic v2 request and response schemas of the control-plane API.

Responses mirror the frozen entities of :mod:`mlpilot.core.entities` (datetimes
as ISO 8601); requests are strict (no type coercion, unknown fields refused,
finite numbers only).
"""

from mlpilot.api.schemas._requests import (
    AliasSet,
    ArchiveRequest,
    DeploymentPut,
    LogBatch,
    MetricIn,
    ModelCreate,
    ModelUpdate,
    RouteIn,
    RunCreate,
    RunEnd,
    TokenCreate,
    VersionCreate,
)
from mlpilot.api.schemas._responses import (
    ArtifactOut,
    DatasetOut,
    DecisionOut,
    DeploymentOut,
    ErrorOut,
    EventOut,
    HealthOut,
    LineageEdgeOut,
    LineageOut,
    MetricValueOut,
    ModelOut,
    RunOut,
    TokenCreated,
    TokenOut,
    VersionOut,
)

__all__ = [
    "AliasSet",
    "ArchiveRequest",
    "ArtifactOut",
    "DatasetOut",
    "DeploymentOut",
    "DeploymentPut",
    "ErrorOut",
    "DecisionOut",
    "EventOut",
    "HealthOut",
    "LineageEdgeOut",
    "LineageOut",
    "LogBatch",
    "MetricIn",
    "MetricValueOut",
    "ModelCreate",
    "ModelOut",
    "ModelUpdate",
    "RouteIn",
    "RunCreate",
    "RunEnd",
    "RunOut",
    "TokenCreate",
    "TokenCreated",
    "TokenOut",
    "VersionCreate",
    "VersionOut",
]
