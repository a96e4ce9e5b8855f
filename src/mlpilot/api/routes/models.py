"""Models: list, create, read, update; and resolving a model reference."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from mlpilot.api.auth import CallerDep
from mlpilot.api.params import ModelName
from mlpilot.api.routing import resource_router
from mlpilot.api.schemas import ModelCreate, ModelOut, ModelUpdate, VersionOut
from mlpilot.core.entities import Model, ModelVersion

router = resource_router("models")


@router.get("/models", response_model=list[ModelOut])
def list_models(
    caller: CallerDep,
    search: Annotated[str | None, Query(max_length=128, description="Substring of the name.")]
    = None,
) -> list[Model]:
    """Every model, by name; ``search`` keeps names containing it (case-insensitive)."""
    return caller.store.list_models(search=search)


@router.post("/models", response_model=ModelOut, status_code=201)
def create_model(body: ModelCreate, caller: CallerDep) -> Model:
    """Create a model (409 if the name is taken)."""
    return caller.store.create_model(body.name, description=body.description, tags=body.tags)


@router.get("/models/{name}", response_model=ModelOut)
def get_model(name: ModelName, caller: CallerDep) -> Model:
    """One model, with its aliases and latest version number."""
    return caller.store.get_model(name)


@router.patch("/models/{name}", response_model=ModelOut)
def update_model(name: ModelName, body: ModelUpdate, caller: CallerDep) -> Model:
    """Change the description and/or merge tags."""
    return caller.store.update_model(name, description=body.description, tags=body.tags)


@router.get("/resolve", response_model=VersionOut)
def resolve(
    caller: CallerDep,
    ref: Annotated[str, Query(min_length=1, max_length=300,
                              description="name/VERSION, name@ALIAS, name@latest or name.",
                              examples=["credit-risk@production"])],
) -> ModelVersion:
    """The version a reference points at now."""
    return caller.store.resolve(ref)
