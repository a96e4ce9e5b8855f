"""The control-plane REST API: one FastAPI app, versioned under ``/api/v1``."""

from __future__ import annotations

from fastapi import FastAPI

from mlpilot import __version__
from mlpilot.api.auth import ApiState
from mlpilot.api.errors import install_error_handlers
from mlpilot.api.middleware import (
    DEFAULT_MAX_ARTIFACT_BYTES,
    DEFAULT_MAX_JSON_BYTES,
    BodyLimitMiddleware,
    PathGuardMiddleware,
)
from mlpilot.api.routes import ROUTERS
from mlpilot.sdk._context import Context

API_PREFIX = "/api/v1"

_DESCRIPTION = """\
Registry, tracking, datasets, deployments, audit events and API tokens of mlpilot.

Authenticate with `Authorization: Bearer <token>`: reads need the `viewer` role,
writes `editor`, token management `admin`. Errors are JSON
`{"code", "message", "details"}`.
"""


def create_app(
    context: Context,
    *,
    auth: bool,
    max_json_bytes: int = DEFAULT_MAX_JSON_BYTES,
    max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES,
) -> FastAPI:
    """Build the API app serving ``context``.

    Args:
        context: the stores every request acts on.
        auth: require bearer tokens; when off, every request acts as an admin
            named ``local`` (for loopback development only).
        max_json_bytes: largest request body accepted by JSON endpoints.
        max_artifact_bytes: largest artifact accepted by ``POST /api/v1/artifacts``.

    Returns:
        The app; OpenAPI at ``/openapi.json``, interactive docs at ``/docs``.
    """
    app = FastAPI(title="mlpilot control plane", version=__version__,
                  description=_DESCRIPTION)
    app.state.mlpilot = ApiState(context=context, auth=auth)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    app.add_middleware(
        BodyLimitMiddleware, default_limit=max_json_bytes,
        limits={("POST", f"{API_PREFIX}/artifacts"): max_artifact_bytes},
    )
    app.add_middleware(PathGuardMiddleware, prefix=API_PREFIX)
    # -- web UI (issue #7): server-rendered pages under /ui, same tokens (cookie) --
    from mlpilot.ui import mount_ui

    mount_ui(app)
    return app
