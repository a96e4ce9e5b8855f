"""One router per resource; :data:`ROUTERS` is what the app mounts under ``/api/v1``."""

from __future__ import annotations

from fastapi import APIRouter

from mlpilot.api.routes import (
    alerts,
    aliases,
    artifacts,
    datasets,
    deployments,
    events,
    health,
    models,
    runs,
    tokens,
    versions,
)

ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    models.router,
    versions.router,
    aliases.router,
    runs.router,
    datasets.router,
    deployments.router,
    events.router,
    alerts.router,
    tokens.router,
    artifacts.router,
)
