"""Request bodies: strict types, unknown fields refused, finite numbers only.

Bounds mirror the store's columns, so a value that passes here never fails in
the database (32-bit version numbers, 64-bit steps and timestamps, short labels).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
MAX_TIMESTAMP_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last datetime

VersionNumber = Annotated[int, Field(ge=1, le=INT32_MAX)]
Int64 = Annotated[int, Field(ge=-INT64_MAX, le=INT64_MAX)]
Label = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][\w.-]*$")]
Name = Annotated[str, Field(min_length=1, max_length=128)]
Reason = Annotated[str, Field(max_length=2000, description="Why; stored on the audit event.")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False,
                              protected_namespaces=())


class ModelCreate(_In):
    name: Name
    description: str = ""
    tags: dict[str, str] = {}


class ModelUpdate(_In):
    description: str | None = None
    tags: dict[str, str] | None = Field(None, description="Merged into the existing tags.")


class SignatureColumn(_In):
    model_config = ConfigDict(extra="allow")
    name: Annotated[str, Field(min_length=1, max_length=250)]
    dtype: Annotated[str, Field(min_length=1, max_length=32, examples=["integer"])]


class Signature(_In):
    """What ``mlpilot.formats.infer_signature`` returns: ``inputs`` columns, ``outputs``."""

    model_config = ConfigDict(extra="allow")
    inputs: list[SignatureColumn]
    outputs: dict[str, Any] | None = None


class VersionCreate(_In):
    format: Label = Field(examples=["sklearn"])
    artifact_digest: str = Field(description="A digest returned by POST /api/v1/artifacts.")
    signature: Signature | None = None
    run_id: Name | None = None
    dataset_id: Name | None = None
    parent_version: VersionNumber | None = None
    metrics: dict[str, float] = {}
    tags: dict[str, str] = {}
    description: str = ""
    reason: Reason = ""


class AliasSet(_In):
    version: VersionNumber
    expected: VersionNumber | None = Field(
        None, description="The version you believe holds the alias now; null: nobody holds "
        "it. Leave it out to move the alias whoever holds it.")
    reason: Reason = ""


class ArchiveRequest(_In):
    reason: Reason = ""


class RunCreate(_In):
    name: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    model: Name | None = None
    parent_run_id: Name | None = None
    tags: dict[str, str] = {}
    code_version: dict[str, Any] = {}
    environment: dict[str, Any] = {}


class MetricIn(_In):
    key: str
    value: float
    step: Int64 = 0
    timestamp_ms: Annotated[int, Field(ge=0, le=MAX_TIMESTAMP_MS)] | None = Field(
        None, description="Epoch milliseconds; default now.")


class LogBatch(_In):
    params: dict[str, str | int | float | bool] = {}
    metrics: list[MetricIn] = Field([], max_length=100_000)
    tags: dict[str, str] = {}


class RunEnd(_In):
    status: Literal["finished", "failed", "killed"] = "finished"


class RouteIn(_In):
    version: VersionNumber
    weight: float = Field(ge=0, le=1)
    role: Label = "primary"


class DeploymentPut(_In):
    model: Name
    strategy: Label = Field(examples=["single", "canary"])
    routes: list[RouteIn] = Field(min_length=1, max_length=64)
    params: dict[str, Any] = {}
    slos: dict[str, Any] = {}
    expected_revision: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = Field(
        None, description="Optimistic-concurrency guard; 0 means 'must not exist yet'.")
    reason: Reason = ""


class TokenCreate(_In):
    name: Name
    role: Literal["viewer", "editor", "admin"]
