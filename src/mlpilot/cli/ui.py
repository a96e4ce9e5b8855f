"""``mlpilot ui``: the web UI (models, lineage, deployments, monitoring, alerts, audit)."""

from __future__ import annotations

from typing import Annotated

import typer

from mlpilot.cli._context import open_context
from mlpilot.cli._output import err
from mlpilot.core.network import is_loopback


def ui(
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535,
                                      help="TCP port.")] = 8080,
    auth: Annotated[
        bool | None,
        typer.Option("--auth/--no-auth",
                     help="Require signing in with an API token. Default: on, except on a "
                          "loopback host. --no-auth is refused on other hosts."),
    ] = None,
    with_api: Annotated[bool, typer.Option(
        "--with-api", help="Also serve the REST API under /api/v1 (what `mlpilot api` "
                           "serves, UI included).")] = False,
) -> None:
    """Serve the web UI on http://HOST:PORT/ui/ (sign in with an API token when auth is on)."""
    import uvicorn

    loopback = is_loopback(host)
    if auth is False and not loopback:
        raise typer.BadParameter(
            f"refusing to serve without authentication on {host!r}, which other machines "
            "can reach. Bind 127.0.0.1 for unauthenticated local use, or keep --auth and "
            "create a token with `mlpilot token create NAME --role viewer`.",
            param_hint="--no-auth")
    require_auth = (not loopback) if auth is None else auth
    context = open_context()
    if with_api:
        from mlpilot.api import create_app

        app = create_app(context, auth=require_auth)
    else:
        from mlpilot.ui import create_ui_app

        app = create_ui_app(context, auth=require_auth)
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    err().print(f"Serving the mlpilot UI on http://{shown}:{port}/ui/ (sign-in "
                f"{'required' if require_auth else 'off'}). Press Ctrl+C to stop.",
                markup=False, highlight=False, soft_wrap=True)
    uvicorn.run(app, host=host, port=port, log_level="info")


def register(app: typer.Typer) -> None:
    """Attach ``ui`` to the root app."""
    app.command("ui")(ui)
