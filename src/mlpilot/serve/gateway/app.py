"""The serving gateway app: Open Inference Protocol (KServe V2) and a simple JSON form.

Every answered prediction request, successful or not, is submitted to the
inference log once its model name resolved; submitting never waits on disk.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlpilot import __version__
from mlpilot.api.errors import install_error_handlers
from mlpilot.api.middleware import BodyLimitMiddleware
from mlpilot.core.clock import utcnow
from mlpilot.core.errors import MlpilotError, NotFound
from mlpilot.sdk._context import Context
from mlpilot.serve.gateway import codec
from mlpilot.serve.gateway.errors import ModelNotReady, PayloadTooLarge, PredictTimeout
from mlpilot.serve.gateway.feedback import REQUEST_ID, feedback_dir, parse_feedback, to_record
from mlpilot.serve.gateway.metrics import GatewayMetrics
from mlpilot.serve.gateway.predict import ModelFailed, Prediction, run_prediction
from mlpilot.serve.gateway.reconciler import Loader, Reconciler
from mlpilot.serve.gateway.routing import ServedModel
from mlpilot.serve.gateway.settings import GatewaySettings
from mlpilot.serve.inference_log import InferenceLog, InferenceRecord

logger = logging.getLogger("mlpilot.gateway")
REQUEST_ID_HEADER = "X-Request-ID"
ROUTING_KEY_HEADER = "X-Routing-Key"


@dataclass
class GatewayState:
    """What the handlers share; ``app.state.gateway``."""

    context: Context
    settings: GatewaySettings
    reconciler: Reconciler
    metrics: GatewayMetrics
    log: InferenceLog | None
    feedback_log: InferenceLog | None
    owns_feedback_log: bool
    executor: ThreadPoolExecutor | None = None


class RequestIdMiddleware:
    """Give every request an id: a sane ``X-Request-ID`` or a fresh uuid4 hex; echo it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope.get("headers", [])
                      if k == b"x-request-id"), "")
        rid = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


def _error(exc: MlpilotError, rid: str) -> JSONResponse:
    return JSONResponse({"code": exc.code, "message": exc.message, "details": exc.details,
                         "request_id": rid}, status_code=exc.http_status)


def _lookup(gw: GatewayState, name: str) -> ServedModel:
    table = gw.reconciler.table
    served = table.served.get(name)
    if served is not None:
        return served
    if name in table.failed:
        raise ModelNotReady(f"{name!r} is deployed but its model could not be loaded yet "
                            f"({table.failed[name]}); see the gateway log.", name=name)
    names = sorted(table.served)
    raise NotFound(f"No model or deployment named {name[:128]!r} is served here. Served: "
                   f"{names[:20]}.", served=names[:20])


async def _body(request: Request) -> bytes:
    codec.check_content_type(request.headers.get("content-type"))
    try:
        return await request.body()
    except HTTPException as exc:
        if exc.status_code == 413:
            raise PayloadTooLarge(str(exc.detail)) from None
        raise


async def _run(gw: GatewayState, fn: Any) -> Prediction:
    assert gw.executor is not None, "the gateway's lifespan has not started"
    future = asyncio.wrap_future(gw.executor.submit(fn))
    try:
        return await asyncio.wait_for(future, gw.settings.request_timeout_s)
    except TimeoutError:
        raise PredictTimeout(
            f"The prediction took longer than the gateway's request timeout of "
            f"{gw.settings.request_timeout_s:g} s. Send fewer rows, or raise the timeout.",
            timeout_s=gw.settings.request_timeout_s) from None


def _v1_answer(rid: str, served: ServedModel, version: int, p: Prediction) -> dict[str, Any]:
    out: dict[str, Any] = {"request_id": rid, "model": served.model, "version": version,
                           "predictions": codec.jsonable(p.predictions)}
    if p.probabilities is not None:
        out["probabilities"] = codec.jsonable(p.probabilities)
        if p.classes is not None:
            out["classes"] = p.classes
    return out


def _oip_answer(rid: str, name: str, version: int, p: Prediction,
                wanted: list[str] | None) -> dict[str, Any]:
    outputs = []
    if wanted is None or "predict" in wanted:
        outputs.append({"name": "predict", "shape": [p.rows],
                        "datatype": codec.oip_datatype(p.predictions),
                        "data": codec.jsonable(p.predictions.reshape(-1))})
    if p.probabilities is not None and (wanted is None or "predict_proba" in wanted):
        outputs.append({"name": "predict_proba", "shape": list(p.probabilities.shape),
                        "datatype": "FP64", "data": codec.jsonable(p.probabilities.reshape(-1))})
    return {"model_name": name, "model_version": str(version), "id": rid, "outputs": outputs}


async def _predict(request: Request, name: str, protocol: str) -> Response:
    gw: GatewayState = request.app.state.gateway
    rid: str = request.state.request_id
    started = time.perf_counter()
    arrived = utcnow()
    try:
        served = _lookup(gw, name)
    except MlpilotError as exc:
        gw.metrics.errors.labels("", exc.code).inc()
        return _error(exc, rid)
    route = served.policy.choose(request.headers.get(ROUTING_KEY_HEADER))
    model = served.loaded[route.version]
    features: Any = {}
    outputs: dict[str, Any] = {}
    error: MlpilotError | None = None
    prediction: Prediction | None = None
    try:
        payload = codec.parse_json(await _body(request), gw.settings.max_json_depth)
        wanted: list[str] | None = None
        if protocol == "oip":
            columns, wanted = codec.columns_from_oip(payload)
            features = columns
        else:
            columns, record = codec.columns_from_v1(payload)
            features = record if record is not None else columns
        proba = wanted is None or "predict_proba" in wanted
        max_rows = gw.settings.max_batch_rows
        prediction = await _run(gw, lambda: run_prediction(model, columns, max_rows=max_rows,
                                                           proba=proba))
        if protocol == "oip":
            body = _oip_answer(rid, name, route.version, prediction, wanted)
        else:
            body = _v1_answer(rid, served, route.version, prediction)
        outputs = {"predict": prediction.predictions}
        if prediction.probabilities is not None:
            outputs["predict_proba"] = prediction.probabilities
        response: Response = JSONResponse(body)
    except MlpilotError as exc:
        error = exc
        response = _error(exc, rid)
    status = response.status_code
    seconds = time.perf_counter() - started
    gw.metrics.observe(name=name, version=route.version, route=route.role, status=status,
                       seconds=seconds, rows=prediction.rows if prediction else 0,
                       reason=error.code if error else None)
    if gw.log is not None:
        cause = error.cause if isinstance(error, ModelFailed) else (
            type(error).__name__ if error else None)
        gw.log.submit(InferenceRecord(
            request_id=rid, time=arrived, deployment=name, model=served.model,
            version=route.version, features=features, outputs=outputs,
            latency_ms=seconds * 1000, status=status, error=cause, route=route.role))
    return response


def _metadata(served: ServedModel, name: str) -> dict[str, Any]:
    first = served.loaded[served.routes[0].version]
    signature = first.version.signature or {}
    inputs = [{"name": i["name"], "datatype": codec.OIP_DATATYPES.get(i.get("dtype"), "BYTES"),
               "shape": [-1]} for i in signature.get("inputs") or []]
    out_sig = signature.get("outputs") or {}
    outputs = [{"name": "predict", "datatype": codec.OIP_DATATYPES.get(
        out_sig.get("dtype"), "BYTES"), "shape": [-1]}]
    if out_sig.get("classes"):
        outputs.append({"name": "predict_proba", "datatype": "FP64",
                        "shape": [-1, len(out_sig["classes"])]})
    return {
        "name": name, "versions": [str(r.version) for r in served.routes],
        "platform": f"mlpilot_{first.model.format}", "inputs": inputs, "outputs": outputs,
        "parameters": {"model": served.model, "source": served.source,
                       "routes": [{"version": r.version, "weight": r.weight, "role": r.role}
                                  for r in served.routes],
                       "classes": out_sig.get("classes")},
    }


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
    async def model_metadata(name: str, request: Request) -> JSONResponse:
        try:
            served = _lookup(request.app.state.gateway, name)
        except MlpilotError as exc:
            return _error(exc, request.state.request_id)
        return JSONResponse(_metadata(served, name))

    @app.get("/v2/models/{name}/ready", tags=["oip"])
    async def model_ready(name: str, request: Request) -> JSONResponse:
        try:
            served = _lookup(request.app.state.gateway, name)
        except MlpilotError as exc:
            return _error(exc, request.state.request_id)
        return JSONResponse({"name": name, "ready": served.ready},
                            status_code=200 if served.ready else 503)

    @app.post("/v2/models/{name}/infer", tags=["oip"])
    async def infer(name: str, request: Request) -> Response:
        return await _predict(request, name, "oip")

    @app.post("/v1/models/{name}/predict", tags=["json"])
    async def predict(name: str, request: Request) -> Response:
        return await _predict(request, name, "v1")

    @app.post("/v1/feedback", tags=["json"], status_code=202)
    async def feedback(request: Request) -> Response:
        gw: GatewayState = request.app.state.gateway
        rid = request.state.request_id
        try:
            if gw.feedback_log is None:
                raise ModelNotReady("This gateway has no inference log, so it cannot keep "
                                    "feedback. Start it with a log directory.")
            payload = codec.parse_json(await _body(request), gw.settings.max_json_depth)
            items = parse_feedback(payload, gw.settings.max_feedback_items)
        except MlpilotError as exc:
            gw.metrics.feedback.labels(exc.code).inc(1)
            return _error(exc, rid)
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


def create_gateway(
    context: Context,
    *,
    log: InferenceLog | None = None,
    settings: GatewaySettings | None = None,
    feedback_log: InferenceLog | None = None,
    loader: Loader | None = None,
) -> FastAPI:
    """Build the serving gateway for the models and deployments in ``context``'s store.

    The routing table is built on startup and re-read every
    ``settings.reconcile_interval_s`` (run the app with its lifespan: uvicorn, or
    ``with TestClient(app)``).

    Args:
        context: the store and artifacts to serve from.
        log: where answered requests are recorded (caller owns and closes it).
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

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.blas_threads is not None:
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=settings.blas_threads)
        if state.feedback_log is None and log is not None:
            state.feedback_log = InferenceLog(feedback_dir(log.directory))
            state.owns_feedback_log = True
        state.executor = ThreadPoolExecutor(settings.predict_threads,
                                            thread_name_prefix="mlpilot-predict")
        await asyncio.to_thread(state.reconciler.start)
        try:
            yield
        finally:
            await asyncio.to_thread(state.reconciler.stop)
            state.executor.shutdown(wait=False, cancel_futures=True)
            if state.owns_feedback_log and state.feedback_log is not None:
                state.feedback_log.close(timeout=10)
                state.feedback_log = None

    app = FastAPI(title="mlpilot gateway", version=__version__, lifespan=lifespan,
                  description="Open Inference Protocol (KServe V2) and simple JSON serving.")
    app.state.gateway = state
    install_error_handlers(app)
    _routes(app)
    app.add_middleware(BodyLimitMiddleware, default_limit=settings.max_body_bytes, limits={})
    app.add_middleware(RequestIdMiddleware)
    return app
