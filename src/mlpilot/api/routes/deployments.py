"""Deployments: an endpoint's desired state, read and replaced whole."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response

from mlpilot.api.auth import CallerDep
from mlpilot.api.params import DeploymentName
from mlpilot.api.routing import resource_router
from mlpilot.api.schemas import DeploymentOut, DeploymentPut
from mlpilot.core.entities import Deployment, Route
from mlpilot.core.names import validate_name

router = resource_router("deployments")


@router.get("/deployments", response_model=list[DeploymentOut])
def list_deployments(
    caller: CallerDep,
    model: Annotated[str | None, Query(max_length=128, description="Only this model's.")]
    = None,
) -> list[Deployment]:
    """Deployments by name."""
    if model is not None:
        validate_name(model, "model name")
    return caller.store.list_deployments(model)


@router.get("/deployments/{name}", response_model=DeploymentOut)
def get_deployment(name: DeploymentName, caller: CallerDep) -> Deployment:
    """One deployment's desired state and revision."""
    return caller.store.get_deployment(name)


@router.put("/deployments/{name}", response_model=DeploymentOut)
def put_deployment(name: DeploymentName, body: DeploymentPut, caller: CallerDep) -> Deployment:
    """Create or replace a deployment; ``expected_revision`` guards concurrent edits (409)."""
    return caller.store.put_deployment(
        name, model=body.model, strategy=body.strategy,
        routes=[Route(version=r.version, weight=r.weight, role=r.role) for r in body.routes],
        params=body.params, slos=body.slos, expected_revision=body.expected_revision,
        reason=body.reason,
    )


@router.delete("/deployments/{name}", status_code=204)
def delete_deployment(
    name: DeploymentName, caller: CallerDep,
    reason: Annotated[str, Query(max_length=2000)] = "",
) -> Response:
    """Remove a deployment; gateways stop serving it on their next reconcile."""
    caller.store.delete_deployment(name, reason=reason)
    return Response(status_code=204)
