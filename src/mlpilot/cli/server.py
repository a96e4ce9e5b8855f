"""``mlpilot api`` and ``mlpilot serve``: the control-plane API and the serving gateway."""

from __future__ import annotations

from typing import Annotated

import typer

from mlpilot.cli._context import open_context
from mlpilot.cli._output import err, fail
from mlpilot.core.network import is_loopback


def api(
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535,
                                      help="TCP port.")] = 8080,
    auth: Annotated[
        bool | None,
        typer.Option("--auth/--no-auth",
                     help="Require API tokens. Default: on, except on a loopback host "
                          "(127.0.0.1, ::1, localhost). --no-auth is refused on other hosts."),
    ] = None,
) -> None:
    """Serve the control-plane REST API (models, versions, runs, deployments, events)."""
    loopback = is_loopback(host)
    if auth is False and not loopback:
        raise typer.BadParameter(
            f"refusing to serve without authentication on {host!r}, which other machines "
            "can reach. Bind 127.0.0.1 for unauthenticated local use, or keep --auth and "
            "create a token with `mlpilot token create NAME --role ROLE`.",
            param_hint="--no-auth",
        )
    require_auth = (not loopback) if auth is None else auth
    try:
        from mlpilot.api.server import serve
    except ImportError as exc:
        raise fail(f"The API server is not available in this installation ({exc}).") from exc
    context = open_context()
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host  # IPv6 literal
    err().print(f"Serving the mlpilot API on http://{shown}:{port} "
                f"(authentication {'on' if require_auth else 'off'}). Press Ctrl+C to stop.",
                markup=False, highlight=False, soft_wrap=True)
    serve(context, host, port, auth=require_auth)


def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535,
                                      help="TCP port.")] = 8081,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, max=64,
                                         help="Worker processes.")] = 1,
    log_dir: Annotated[str | None, typer.Option(
        "--log-dir", help="Inference log directory (default: $MLPILOT_HOME/inference-log).",
    )] = None,
    no_log: Annotated[bool, typer.Option(
        "--no-log", help="Serve without an inference log (and without feedback).")] = False,
    reconcile_interval: Annotated[float, typer.Option(
        "--reconcile-interval", min=0.1, help="Seconds between reads of the desired state.",
    )] = 2.0,
) -> None:
    """Serve models (Open Inference Protocol v2 and simple JSON), logging every prediction."""
    from mlpilot.serve.gateway import GatewaySettings
    from mlpilot.serve.gateway.server import serve_gateway

    context = open_context()
    directory = None if no_log else (log_dir or str(context.settings.home / "inference-log"))
    err().print(f"Serving models on http://{host}:{port} with {workers} worker(s); inference "
                f"log: {directory or 'off'}. Press Ctrl+C to stop.",
                markup=False, highlight=False, soft_wrap=True)
    serve_gateway(context, host, port, workers=workers, log_dir=directory,
                  settings=GatewaySettings(reconcile_interval_s=reconcile_interval))


def register(app: typer.Typer) -> None:
    """Attach ``api`` and ``serve`` to the root app."""
    app.command("api")(api)
    app.command("serve")(serve)
