"""Run the gateway on Ray Serve: stateless, autoscaled replicas behind Ray's HTTP proxy.

Each replica builds the same FastAPI app as :func:`~mlpilot.serve.gateway.server.serve_gateway`
from a plain-JSON config (the stores are shared; nothing else is), runs its lifespan
(reconciler, executor, feedback log) through Ray Serve's ASGI ingress, and writes its
own inference log under ``log_dir/worker-N``. Ray is an optional extra, imported lazily.

Like the uvicorn gateway it has **no authentication**: keep it on loopback or behind
an authenticating proxy.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlpilot.core.errors import InvalidArgument
from mlpilot.core.network import is_loopback
from mlpilot.core.settings import Settings
from mlpilot.sdk._context import Context
from mlpilot.serve.gateway.app import create_gateway
from mlpilot.serve.gateway.server import _open_slot
from mlpilot.serve.gateway.settings import GatewaySettings
from mlpilot.serve.inference_log import InferenceLog

logger = logging.getLogger("mlpilot.gateway")

APP_NAME = "mlpilot-gateway"
_INSTALL = "pip install 'mlpilot[ray]'"


def _import_ray() -> tuple[ModuleType, ModuleType]:
    """``(ray, ray.serve)``, or a clear error naming the extra to install."""
    try:
        import ray
        from ray import serve
    except ImportError as exc:
        raise InvalidArgument(
            f"Serving on Ray needs Ray Serve, which is not installed ({exc}). "
            f"Install it with `{_INSTALL}`, or serve without --ray.", field="ray") from exc
    return ray, serve


def replica_config(context: Context, *, log_dir: str | os.PathLike[str] | None,
                   settings: GatewaySettings) -> dict[str, Any]:
    """The plain-JSON config every replica rebuilds its gateway from."""
    s = context.settings
    return {"home": str(s.home), "store_url": s.store_url, "artifact_url": s.artifact_url,
            "actor": s.actor, "log_dir": str(log_dir) if log_dir is not None else None,
            "gateway": dataclasses.asdict(settings)}


class _OneRequestId:
    """Leave ``X-Request-ID`` to Ray's HTTP server when its id is the one the gateway used.

    Ray's server gives every request an id (the client's, or a uuid) and appends it
    to the response; the gateway echoes the id it logged. When they agree the
    gateway's copy is dropped, so the client sees one header; when the client sent
    an id the gateway refuses, both are sent, the gateway's first.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope.get("headers", []) if k == b"x-request-id"), None)

        async def send_one_id(message: Message) -> None:
            if message["type"] == "http.response.start" and given is not None:
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"x-request-id" or v != given]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_one_id)


class GatewayReplica:
    """One Ray Serve replica of the gateway (wrapped by ``serve.ingress()`` at deploy time).

    Ray Serve calls ``__init__``, then ``__serve_build_asgi_app__`` and runs the
    app's lifespan startup; on replica shutdown it runs the lifespan shutdown, then
    ``__del__``, which flushes and closes this replica's inference log.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config
        self._context: Context | None = None
        self._log: InferenceLog | None = (
            _open_slot(Path(config["log_dir"]), tuple(config["gateway"].get("redact", ())))
            if config["log_dir"] else None)

    def __serve_build_asgi_app__(self) -> FastAPI:
        c = self._config
        settings = Settings(home=Path(c["home"]), store_url=c["store_url"],
                            artifact_url=c["artifact_url"], actor=c["actor"])
        self._context = Context.from_settings(settings)
        app = create_gateway(self._context, log=self._log,
                             settings=GatewaySettings(**c["gateway"]))
        app.add_middleware(_OneRequestId)  # outermost
        return app

    def __del__(self) -> None:
        log, self._log = getattr(self, "_log", None), None
        if log is not None:
            log.close(timeout=10)
        context, self._context = getattr(self, "_context", None), None
        if context is not None:
            context.store.close()


@dataclasses.dataclass
class RayGateway:
    """A gateway running on Ray Serve; :meth:`shutdown` stops it (and Ray, if we started it).

    Attributes:
        url: where the gateway answers, e.g. ``http://127.0.0.1:8081``.
        owns_ray: whether :func:`start_gateway_on_ray` started the Ray runtime.
    """

    url: str
    owns_ray: bool

    def shutdown(self) -> None:
        """Drain and stop the replicas (closing their logs), then Ray if we started it."""
        ray, serve = _import_ray()
        if not ray.is_initialized():
            return
        try:
            serve.shutdown()
        finally:
            if self.owns_ray:
                ray.shutdown()

    def __enter__(self) -> RayGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def _check_replicas(min_replicas: int, max_replicas: int,
                    target_ongoing_requests: float, max_ongoing_requests: int) -> None:
    if not isinstance(min_replicas, int) or isinstance(min_replicas, bool) or min_replicas < 1:
        raise InvalidArgument(f"min_replicas must be an integer >= 1. Got {min_replicas!r}.",
                              field="min_replicas")
    if not isinstance(max_replicas, int) or isinstance(max_replicas, bool) \
            or max_replicas < min_replicas:
        raise InvalidArgument(
            f"max_replicas must be an integer >= min_replicas ({min_replicas}). "
            f"Got {max_replicas!r}.", field="max_replicas")
    if not isinstance(target_ongoing_requests, int | float) \
            or isinstance(target_ongoing_requests, bool) or target_ongoing_requests <= 0:
        raise InvalidArgument(
            f"target_ongoing_requests must be a positive number. "
            f"Got {target_ongoing_requests!r}.", field="target_ongoing_requests")
    if not isinstance(max_ongoing_requests, int) or isinstance(max_ongoing_requests, bool) \
            or max_ongoing_requests < target_ongoing_requests:
        raise InvalidArgument(
            f"max_ongoing_requests must be an integer >= target_ongoing_requests "
            f"({target_ongoing_requests}). Got {max_ongoing_requests!r}.",
            field="max_ongoing_requests")


def start_gateway_on_ray(
    context: Context,
    host: str = "127.0.0.1",
    port: int = 8081,
    *,
    log_dir: str | os.PathLike[str] | None = None,
    settings: GatewaySettings | None = None,
    min_replicas: int = 1,
    max_replicas: int = 2,
    target_ongoing_requests: float = 8.0,
    max_ongoing_requests: int = 64,
    replica_cpus: float = 1.0,
    ray_address: str | None = None,
    ray_init: dict[str, Any] | None = None,
) -> RayGateway:
    """Deploy the gateway on Ray Serve and return once it is deployed (not blocking).

    Connects to the Ray cluster at ``ray_address`` (or ``RAY_ADDRESS``), or starts a
    local one, unless Ray is already initialised in this process.

    Args:
        context: the stores to serve from; every replica must reach them (a shared
            SQL store and artifact store when replicas run on several machines).
        host: address Ray's HTTP proxy binds.
        port: TCP port of the proxy.
        log_dir: inference log root; each replica writes ``log_dir/worker-N`` (and
            feedback under it). None serves without a log.
        settings: limits and timings of each replica's gateway.
        min_replicas: fewest replicas the autoscaler keeps.
        max_replicas: most replicas the autoscaler starts.
        target_ongoing_requests: in-flight requests per replica the autoscaler aims at.
        max_ongoing_requests: in-flight requests per replica before Ray queues them.
        replica_cpus: CPUs Ray reserves per replica.
        ray_address: cluster to join (``None``: ``RAY_ADDRESS`` or a new local runtime).
        ray_init: extra keyword arguments for ``ray.init`` when this call starts Ray.

    Returns:
        A handle whose :meth:`RayGateway.shutdown` stops the gateway.

    Raises:
        InvalidArgument: Ray Serve is not installed, or a replica count is invalid.
    """
    _check_replicas(min_replicas, max_replicas, target_ongoing_requests, max_ongoing_requests)
    ray, serve = _import_ray()
    settings = settings or GatewaySettings()
    if not is_loopback(host):
        logger.warning("The gateway has no authentication and is listening on %s; put it "
                       "behind an authenticating proxy.", host)
    owns_ray = not ray.is_initialized()
    if owns_ray:
        ray.init(address=ray_address, **{"include_dashboard": False, **(ray_init or {})})
    try:
        serve.start(http_options={"host": host, "port": port})
        deployment = serve.deployment(
            serve.ingress()(GatewayReplica), name="gateway",
            autoscaling_config={"min_replicas": min_replicas, "max_replicas": max_replicas,
                                "target_ongoing_requests": target_ongoing_requests},
            max_ongoing_requests=max_ongoing_requests,
            ray_actor_options={"num_cpus": replica_cpus})
        config = replica_config(context, log_dir=log_dir, settings=settings)
        serve.run(deployment.bind(config), name=APP_NAME, route_prefix="/", blocking=False)
    except BaseException:
        RayGateway("", owns_ray).shutdown()
        raise
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return RayGateway(url=f"http://{shown}:{port}", owns_ray=owns_ray)


def serve_gateway_on_ray(
    context: Context,
    host: str = "127.0.0.1",
    port: int = 8081,
    *,
    log_dir: str | os.PathLike[str] | None = None,
    settings: GatewaySettings | None = None,
    min_replicas: int = 1,
    max_replicas: int = 2,
    target_ongoing_requests: float = 8.0,
    blocking: bool = True,
    **options: Any,
) -> RayGateway | None:
    """Serve on Ray Serve; with ``blocking`` until interrupted, then shut down.

    Takes the arguments of :func:`start_gateway_on_ray` (``options``: the rest).

    Returns:
        None when ``blocking``; otherwise the running gateway's handle.

    Raises:
        InvalidArgument: Ray Serve is not installed, or a replica count is invalid.
    """
    def start() -> RayGateway:
        return start_gateway_on_ray(
            context, host, port, log_dir=log_dir, settings=settings, min_replicas=min_replicas,
            max_replicas=max_replicas, target_ongoing_requests=target_ongoing_requests,
            **options)

    if not blocking:
        return start()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _interrupt)  # drain on SIGTERM as on Ctrl+C
    try:
        gateway = start()  # interrupted while starting: it cleans up and re-raises
        try:
            while True:
                time.sleep(1.0)
        except KeyboardInterrupt:
            pass
        finally:
            gateway.shutdown()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return None


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
