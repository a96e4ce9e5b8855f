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
    batch_max_rows: Annotated[int, typer.Option(
        "--batch-max-rows", min=1,
        help="Most rows concurrent requests to one model are batched into (1: no batching).",
    )] = 256,
    batch_wait_ms: Annotated[float, typer.Option(
        "--batch-wait-ms", min=0.0, max=1000.0,
        help="Extra wait to fill a batch (0: run as soon as the model is free).",
    )] = 0.0,
    request_timeout: Annotated[float, typer.Option(
        "--request-timeout", min=0.01, help="Longest a prediction may take before the client "
                                            "gets 504 (seconds).")] = 10.0,
    redact: Annotated[list[str] | None, typer.Option(
        "--redact", help="A feature whose values the inference log replaces with "
                         "[REDACTED] (PII); repeat for several.",
    )] = None,
    ray: Annotated[bool, typer.Option(
        "--ray", help="Serve on Ray Serve with autoscaled replicas (needs mlpilot[ray]); "
                      "joins RAY_ADDRESS's cluster or starts a local one.",
    )] = False,
    min_replicas: Annotated[int | None, typer.Option(
        "--min-replicas", min=1, help="With --ray: fewest replicas kept [default: 1].",
    )] = None,
    max_replicas: Annotated[int | None, typer.Option(
        "--max-replicas", min=1,
        help="With --ray: most replicas the autoscaler starts [default: 2, or --min-replicas].",
    )] = None,
) -> None:
    """Serve models (Open Inference Protocol v2 and simple JSON), logging every prediction."""
    from mlpilot.serve.gateway import GatewaySettings

    if ray and workers != 1:
        raise typer.BadParameter(
            "--workers does not apply with --ray: Ray Serve runs the replicas; set "
            "--min-replicas/--max-replicas instead.", param_hint="--workers")
    if not ray and (min_replicas is not None or max_replicas is not None):
        raise typer.BadParameter("--min-replicas/--max-replicas need --ray; without it use "
                                 "--workers.", param_hint="--min-replicas/--max-replicas")
    min_replicas = min_replicas or 1
    max_replicas = max_replicas or max(2, min_replicas)
    if min_replicas > max_replicas:
        raise typer.BadParameter(f"--max-replicas ({max_replicas}) must be at least "
                                 f"--min-replicas ({min_replicas}).", param_hint="--max-replicas")
    settings = GatewaySettings(reconcile_interval_s=reconcile_interval,
                               batch_max_rows=batch_max_rows, batch_wait_ms=batch_wait_ms,
                               redact=tuple(redact or ()),
                               request_timeout_s=request_timeout)
    context = open_context()
    directory = None if no_log else (log_dir or str(context.settings.home / "inference-log"))
    if ray:
        from mlpilot.serve.gateway.ray_serve import serve_gateway_on_ray

        err().print(f"Serving models on Ray Serve at http://{host}:{port} with "
                    f"{min_replicas}-{max_replicas} replica(s); inference log: "
                    f"{directory or 'off'}. Press Ctrl+C to stop.",
                    markup=False, highlight=False, soft_wrap=True)
        serve_gateway_on_ray(context, host, port, log_dir=directory, settings=settings,
                             min_replicas=min_replicas, max_replicas=max_replicas)
        return
    from mlpilot.serve.gateway.server import serve_gateway

    err().print(f"Serving models on http://{host}:{port} with {workers} worker(s); inference "
                f"log: {directory or 'off'}. Press Ctrl+C to stop.",
                markup=False, highlight=False, soft_wrap=True)
    serve_gateway(context, host, port, workers=workers, log_dir=directory, settings=settings)


def register(app: typer.Typer) -> None:
    """Attach ``api`` and ``serve`` to the root app."""
    app.command("api")(api)
    app.command("serve")(serve)
