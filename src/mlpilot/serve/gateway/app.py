"""The serving gateway app: Open Inference Protocol (KServe V2) and a simple JSON form.

Every answered prediction request, successful or not, is submitted to the
inference log once its model name resolved; submitting never waits on disk.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mlpilot import __version__
from mlpilot.api.errors import install_error_handlers
from mlpilot.api.middleware import BodyLimitMiddleware
from mlpilot.core.errors import MlpilotError
from mlpilot.sdk._context import Context
from mlpilot.serve.gateway import codec
from mlpilot.serve.gateway.errors import ModelNotReady
from mlpilot.serve.gateway.feedback import feedback_dir, parse_feedback, to_record
from mlpilot.serve.gateway.handlers import (
    GatewayState,
    RequestIdMiddleware,
    error_response,
    handle_predict,
    lookup,
    model_metadata,
    read_body,
)
from mlpilot.serve.gateway.metrics import GatewayMetrics
from mlpilot.serve.gateway.reconciler import Loader, Reconciler
from mlpilot.serve.gateway.settings import GatewaySettings
from mlpilot.serve.gateway.shadow import ShadowMirror
from mlpilot.serve.inference_log import InferenceLog


def _routes(app: FastAPI) -> None:
    @app.get("/v2", tags=["oip"])
    async def server_metadata() -> dict[str, Any]:
        return {"name": "mlpilot", "version": __version__, "extensions": []}

    @app.get("/v2/health/live", tags=["oip"])
    async def live() -> dict[str, Any]:
        return {"live": True}

    @app.get("/v2/health/ready", tags=["oip"])
    async def ready(request: Request) -> JSONResponse:
        table = request.app.state.gateway.reconciler.table
        ok = table.generation > 0 and table.ready
        return JSONResponse({"ready": ok, "failed": dict(table.failed)},
                            status_code=200 if ok else 503)

    @app.get("/v2/models/{name}", tags=["oip"])
    async def model_info(name: str, request: Request) -> JSONResponse:
        try:
            served = lookup(request.app.state.gateway, name)
        except MlpilotError as exc:
            return error_response(exc, request.state.request_id)
        return JSONResponse(model_metadata(served, name))

    @app.get("/v2/models/{name}/ready", tags=["oip"])
    async def model_ready(name: str, request: Request) -> JSONResponse:
        try:
            served = lookup(request.app.state.gateway, name)
        except MlpilotError as exc:
            return error_response(exc, request.state.request_id)
        return JSONResponse({"name": name, "ready": served.ready},
                            status_code=200 if served.ready else 503)

    @app.post("/v2/models/{name}/infer", tags=["oip"])
    async def infer(name: str, request: Request) -> Response:
        return await handle_predict(request, name, "oip")

    @app.post("/v1/models/{name}/predict", tags=["json"])
    async def predict(name: str, request: Request) -> Response:
        return await handle_predict(request, name, "v1")

    @app.post("/v1/feedback", tags=["json"], status_code=202)
    async def feedback(request: Request) -> Response:
        gw: GatewayState = request.app.state.gateway
        rid = request.state.request_id
        try:
            if gw.feedback_log is None:
                raise ModelNotReady("This gateway has no inference log, so it cannot keep "
                                    "feedback. Start it with a log directory.")
            payload = codec.parse_json(await read_body(request), gw.settings.max_json_depth)
            items = parse_feedback(payload, gw.settings.max_feedback_items)
        except MlpilotError as exc:
            gw.metrics.feedback.labels(exc.code).inc(1)
            return error_response(exc, rid)
        accepted = sum(gw.feedback_log.submit(to_record(item)) for item in items)
        gw.metrics.feedback.labels("accepted").inc(accepted)
        if accepted < len(items):
            gw.metrics.feedback.labels("dropped").inc(len(items) - accepted)
        return JSONResponse({"request_id": rid, "accepted": accepted,
                             "dropped": len(items) - accepted}, status_code=202)

    @app.get("/metrics", tags=["ops"])
    async def metrics(request: Request) -> Response:
        registry = request.app.state.gateway.metrics.registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _limit_threads(limit: int | None) -> None:
    """Cap BLAS/OpenMP threads in the calling thread (and process-wide for BLAS)."""
    if limit is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=limit)


def create_gateway(
    context: Context,
    *,
    log: InferenceLog | None = None,
    settings: GatewaySettings | None = None,
    feedback_log: InferenceLog | None = None,
    loader: Loader | None = None,
    owns_log: bool = False,
) -> FastAPI:
    """Build the serving gateway for the models and deployments in ``context``'s store.

    The routing table is built on startup and re-read every
    ``settings.reconcile_interval_s`` (run the app with its lifespan: uvicorn, or
    ``with TestClient(app)``).

    Args:
        context: the store and artifacts to serve from.
        log: where answered requests are recorded (the caller closes it, unless
            ``owns_log``: then the app closes it on shutdown).
        settings: limits and timings (defaults: :class:`GatewaySettings`).
        feedback_log: the feedback stream; by default the app opens
            ``<log.directory>/feedback`` on startup and closes it on shutdown.
        loader: ``(model, version) -> RegisteredModel`` (tests; default ``mlpilot.load``).

    Returns:
        The app; OpenAPI at ``/openapi.json``.
    """
    settings = settings or GatewaySettings()
    state = GatewayState(
        context=context, settings=settings,
        reconciler=Reconciler(context, interval_s=settings.reconcile_interval_s,
                              seed=settings.seed, loader=loader),
        metrics=GatewayMetrics(log.stats if log is not None else None),
        log=log, feedback_log=feedback_log, owns_feedback_log=False)
    state.shadows = ShadowMirror(state.metrics, log, settings.max_shadow_pending,
                                 settings.request_timeout_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _limit_threads(settings.blas_threads)
        if state.feedback_log is None and log is not None:
            state.feedback_log = InferenceLog(feedback_dir(log.directory))
            state.owns_feedback_log = True
        # OpenMP limits are per thread: apply them in every prediction thread too
        state.executor = ThreadPoolExecutor(
            settings.predict_threads, thread_name_prefix="mlpilot-predict",
            initializer=_limit_threads, initargs=(settings.blas_threads,))
        await asyncio.to_thread(state.reconciler.start)
        try:
            yield
        finally:
            if state.shadows is not None:
                await state.shadows.drain(timeout=settings.request_timeout_s)
            await asyncio.to_thread(state.reconciler.stop)
            state.executor.shutdown(wait=False, cancel_futures=True)
            if state.owns_feedback_log and state.feedback_log is not None:
                state.feedback_log.close(timeout=10)
                state.feedback_log = None
            if owns_log and log is not None:
                log.close(timeout=10)

    app = FastAPI(title="mlpilot gateway", version=__version__, lifespan=lifespan,
                  description="Open Inference Protocol (KServe V2) and simple JSON serving.")
    app.state.gateway = state
    install_error_handlers(app)
    _routes(app)
    app.add_middleware(BodyLimitMiddleware, default_limit=settings.max_body_bytes, limits={},
                       early=False)
    app.add_middleware(RequestIdMiddleware)
    return app
