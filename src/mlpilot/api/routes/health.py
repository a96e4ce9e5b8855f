"""Liveness: the one route that needs no token."""

from __future__ import annotations

from fastapi import Request

from mlpilot import __version__
from mlpilot.api.routing import open_router
from mlpilot.api.schemas import HealthOut

router = open_router("health")


@router.get("/health", response_model=HealthOut)
def health(request: Request) -> HealthOut:
    """The server is up; says the version and whether tokens are required."""
    return HealthOut(version=__version__, auth=request.app.state.mlpilot.auth)
