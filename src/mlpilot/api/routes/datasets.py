"""Datasets: list and read (with schema and profile)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from mlpilot.api.auth import CallerDep
from mlpilot.api.params import DatasetId
from mlpilot.api.routing import resource_router
from mlpilot.api.schemas import DatasetOut
from mlpilot.core.entities import Dataset
from mlpilot.core.names import validate_name

router = resource_router("datasets")


@router.get("/datasets", response_model=list[DatasetOut])
def list_datasets(
    caller: CallerDep,
    name: Annotated[str | None, Query(max_length=128, description="Only this name.")] = None,
) -> list[Dataset]:
    """Dataset snapshots, newest first."""
    if name is not None:
        validate_name(name, "dataset name")
    return caller.store.list_datasets(name)


@router.get("/datasets/{dataset_id}", response_model=DatasetOut)
def get_dataset(dataset_id: DatasetId, caller: CallerDep) -> Dataset:
    """One snapshot, including its schema and reference profile."""
    return caller.store.get_dataset(dataset_id)
