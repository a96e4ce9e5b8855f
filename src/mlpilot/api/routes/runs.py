"""Runs: create, search, read, log a batch, end, and read one metric's history."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Query, Response

from mlpilot.api.auth import CallerDep
from mlpilot.api.params import MetricKey, RunId
from mlpilot.api.routing import resource_router
from mlpilot.api.schemas import LogBatch, MetricValueOut, RunCreate, RunEnd, RunOut
from mlpilot.core.entities import MetricValue, Run
from mlpilot.core.names import validate_name

router = resource_router("runs")


@router.get("/runs", response_model=list[RunOut])
def search_runs(
    caller: CallerDep,
    filter: Annotated[str | None, Query(max_length=4000, examples=[
        "metrics.auc > 0.8 and params.max_depth = '6'"])] = None,
    model: Annotated[str | None, Query(max_length=128)] = None,
    order_by: Annotated[list[str] | None, Query(description=(
        "Repeatable, or comma-separated: 'metrics.auc DESC', 'start_time'."))] = None,
    max_results: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> list[Run]:
    """Runs matching an MLflow-style filter, newest first unless ``order_by`` says."""
    if model is not None:
        validate_name(model, "model name")
    orders = [part.strip() for item in order_by or () for part in item.split(",") if part.strip()]
    return caller.store.search_runs(filter, model=model, order_by=orders,
                                    max_results=max_results)


@router.post("/runs", response_model=RunOut, status_code=201)
def create_run(body: RunCreate, caller: CallerDep) -> Run:
    """Start a run in status ``running``."""
    return caller.store.create_run(
        body.name, model=body.model, parent_run_id=body.parent_run_id, tags=body.tags,
        code_version=body.code_version, environment=body.environment,
    )


@router.get("/runs/{run_id}", response_model=RunOut)
def get_run(run_id: RunId, caller: CallerDep) -> Run:
    """One run with its params, tags, latest metrics and artifacts."""
    return caller.store.get_run(run_id)


@router.post("/runs/{run_id}/log-batch", status_code=204)
def log_batch(run_id: RunId, body: LogBatch, caller: CallerDep) -> Response:
    """Write params, metric points and tags in one transaction.

    Params are immutable (409 when re-logged with another value); metric values
    must be finite; points without ``timestamp_ms`` are stamped now.
    """
    now_ms = int(time.time() * 1000)
    points = [(m.key, m.value, m.step, m.timestamp_ms if m.timestamp_ms is not None else now_ms)
              for m in body.metrics]
    caller.store.log_batch(run_id, params=body.params, metrics=points, tags=body.tags)
    return Response(status_code=204)


@router.post("/runs/{run_id}/end", response_model=RunOut)
def end_run(run_id: RunId, caller: CallerDep, body: RunEnd | None = None) -> Run:
    """Close the run as finished (default), failed or killed."""
    return caller.store.end_run(run_id, body.status if body is not None else "finished")


@router.get("/runs/{run_id}/metrics/{key:path}", response_model=list[MetricValueOut])
def metric_history(run_id: RunId, key: MetricKey, caller: CallerDep) -> list[MetricValue]:
    """Every point of one metric series, by step then time."""
    return caller.store.metric_history(run_id, key)
