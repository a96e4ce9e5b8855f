"""Model versions: register, list, read, archive, lineage and comparison."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from mlpilot.api.auth import CallerDep
from mlpilot.api.params import ModelName, Version
from mlpilot.api.routing import resource_router
from mlpilot.api.schemas import ArchiveRequest, LineageOut, VersionCreate, VersionOut
from mlpilot.api.schemas._requests import INT32_MAX
from mlpilot.core.entities import Lineage, ModelVersion
from mlpilot.core.errors import NotFound
from mlpilot.sdk._compare import compare_versions
from mlpilot.store.artifacts import validate_digest

router = resource_router("versions")

CompareSide = Annotated[int, Query(ge=1, le=INT32_MAX, description="A version number.")]


@router.get("/models/{name}/versions", response_model=list[VersionOut])
def list_versions(name: ModelName, caller: CallerDep) -> list[ModelVersion]:
    """Every version of the model, oldest first."""
    return caller.store.list_versions(name)


@router.post("/models/{name}/versions", response_model=VersionOut, status_code=201)
def create_version(name: ModelName, body: VersionCreate, caller: CallerDep) -> ModelVersion:
    """Register a version whose artifact was uploaded with ``POST /artifacts``.

    The artifact's size is read from the artifact store, never trusted from the
    client. The model is created if it does not exist yet.
    """
    validate_digest(body.artifact_digest)
    if not caller.artifacts.exists(body.artifact_digest):
        raise NotFound(
            f"Artifact {body.artifact_digest} is not in the artifact store. Upload the model "
            "file with POST /api/v1/artifacts first and register the digest it returns.",
            artifact=body.artifact_digest,
        )
    size = caller.artifacts.size(body.artifact_digest)
    return caller.store.create_version(
        name, format=body.format, artifact_digest=body.artifact_digest, artifact_size=size,
        signature=body.signature.model_dump(exclude_unset=True) if body.signature else None,
        run_id=body.run_id, dataset_id=body.dataset_id,
        parent_version=body.parent_version, metrics=body.metrics, tags=body.tags,
        description=body.description, reason=body.reason,
    )


@router.get("/models/{name}/versions/{version}", response_model=VersionOut)
def get_version(name: ModelName, version: Version, caller: CallerDep) -> ModelVersion:
    """One version."""
    return caller.store.get_version(name, version)


@router.post("/models/{name}/versions/{version}/archive", response_model=VersionOut)
def archive_version(
    name: ModelName, version: Version, caller: CallerDep, body: ArchiveRequest | None = None
) -> ModelVersion:
    """Archive a version (409 while an alias or a deployment still uses it)."""
    reason = body.reason if body is not None else ""
    return caller.store.archive_version(name, version, reason=reason)


@router.get("/models/{name}/versions/{version}/lineage", response_model=LineageOut)
def get_lineage(name: ModelName, version: Version, caller: CallerDep) -> Lineage:
    """Where the version came from (run, datasets, parent) and where it is deployed."""
    return caller.store.lineage(name, version)


@router.get("/models/{name}/compare")
def compare(name: ModelName, a: CompareSide, b: CompareSide, caller: CallerDep) -> dict[str, Any]:
    """What differs between versions ``a`` and ``b``: metrics, params, signature, artifact."""
    return compare_versions(caller.store, name, a, b)
