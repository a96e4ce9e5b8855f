"""Run the API with uvicorn; tokens are required unless bound to loopback."""

from __future__ import annotations

import logging

from mlpilot.api.app import create_app
from mlpilot.api.middleware import DEFAULT_MAX_ARTIFACT_BYTES, DEFAULT_MAX_JSON_BYTES
from mlpilot.core.errors import InvalidArgument
from mlpilot.core.network import is_loopback
from mlpilot.sdk._context import Context

logger = logging.getLogger("mlpilot.api")


def auth_default(host: str) -> bool:
    """Auth is on unless the server listens on a loopback address only."""
    return not is_loopback(host)


def serve(
    context: Context,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    auth: bool | None = None,
    max_json_bytes: int = DEFAULT_MAX_JSON_BYTES,
    max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES,
    log_level: str = "info",
) -> None:
    """Serve the control-plane API until interrupted.

    Args:
        context: the stores to serve.
        host: address to bind; anything but loopback turns auth on by default.
        port: TCP port.
        auth: force tokens on (or off, on loopback only); ``None`` decides from ``host``.
        max_json_bytes: largest JSON request body.
        max_artifact_bytes: largest artifact upload.
        log_level: uvicorn's log level.

    Raises:
        InvalidArgument: if ``auth`` is False on a host other machines can reach.
    """
    import uvicorn

    if auth is False and not is_loopback(host):
        raise InvalidArgument(
            f"Refusing to serve without authentication on {host!r}, which other machines can "
            "reach. Bind 127.0.0.1 for unauthenticated local use, or keep auth on.",
            field="auth",
        )
    enabled = auth_default(host) if auth is None else auth
    if enabled and not context.store.list_tokens():
        logger.warning("API auth is on but no token exists yet; create one with "
                       "`mlpilot token create NAME --role admin`.")
    app = create_app(context, auth=enabled, max_json_bytes=max_json_bytes,
                     max_artifact_bytes=max_artifact_bytes)
    uvicorn.run(app, host=host, port=port, log_level=log_level)
