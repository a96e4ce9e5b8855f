"""Request handling shared by the gateway routes: parse, route, predict, answer, log."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlpilot.core.clock import utcnow
from mlpilot.core.errors import MlpilotError, NotFound
from mlpilot.sdk._context import Context
from mlpilot.sdk._registry import RegisteredModel
from mlpilot.serve.gateway import codec
from mlpilot.serve.gateway.batching import MicroBatcher
from mlpilot.serve.gateway.errors import ModelNotReady, PayloadTooLarge, PredictTimeout
from mlpilot.serve.gateway.feedback import REQUEST_ID
from mlpilot.serve.gateway.metrics import GatewayMetrics
from mlpilot.serve.gateway.predict import ModelFailed, Prediction, PredictRequest
from mlpilot.serve.gateway.reconciler import Reconciler
from mlpilot.serve.gateway.routing import ServedModel
from mlpilot.serve.gateway.settings import GatewaySettings
from mlpilot.serve.gateway.shadow import ShadowMirror
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
    batchers: dict[tuple[str, int], MicroBatcher] = field(default_factory=dict)
    shadows: ShadowMirror | None = None


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


def error_response(exc: MlpilotError, rid: str) -> JSONResponse:
    return JSONResponse({"code": exc.code, "message": exc.message, "details": exc.details,
                         "request_id": rid}, status_code=exc.http_status)


def lookup(gw: GatewayState, name: str) -> ServedModel:
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


async def read_body(request: Request) -> bytes:
    codec.check_content_type(request.headers.get("content-type"))
    try:
        return await request.body()
    except HTTPException as exc:
        if exc.status_code == 413:
            raise PayloadTooLarge(str(exc.detail)) from None
        raise


def batcher_for(gw: GatewayState, model: RegisteredModel) -> MicroBatcher:
    """The micro-batcher of a loaded version (one per model version and gateway)."""
    key = (model.version.model, model.version.version)
    batcher = gw.batchers.get(key)
    if batcher is None:
        assert gw.executor is not None, "the gateway's lifespan has not started"
        _forget_unserved(gw)
        s = gw.settings
        name, version = key[0], str(key[1])
        batcher = gw.batchers[key] = MicroBatcher(
            gw.executor, max_rows=s.batch_max_rows, max_wait_s=s.batch_wait_ms / 1000,
            max_request_rows=s.max_batch_rows,
            observe_batch=lambda rows, _n: gw.metrics.batch_rows.labels(
                name, version).observe(rows))
    return batcher


def _forget_unserved(gw: GatewayState) -> None:
    """Drop the idle batchers of versions the routing table no longer serves."""
    served = {(m.version.model, m.version.version) for s in gw.reconciler.table.served.values()
              for m in s.loaded.values()}
    for key in [k for k, b in gw.batchers.items() if k not in served and b.idle]:
        del gw.batchers[key]


async def _run(gw: GatewayState, model: RegisteredModel, request: PredictRequest
               ) -> Prediction:
    try:
        return await asyncio.wait_for(batcher_for(gw, model).predict(model, request),
                                      gw.settings.request_timeout_s)
    except TimeoutError:
        raise PredictTimeout(
            f"The prediction took longer than the gateway's request timeout of "
            f"{gw.settings.request_timeout_s:g} s. Send fewer rows, or raise the timeout.",
            timeout_s=gw.settings.request_timeout_s) from None


def _v1_answer(rid: str, served: ServedModel, version: int, p: Prediction) -> dict[str, Any]:
    out: dict[str, Any] = {"request_id": rid, "model": served.model, "version": version,
                           "predictions": p.predictions}
    if p.probabilities is not None:
        out["probabilities"] = p.probabilities
        if p.classes is not None:
            out["classes"] = p.classes
    return out


def _oip_answer(rid: str, name: str, version: int, p: Prediction,
                wanted: list[str] | None) -> dict[str, Any]:
    outputs = []
    if wanted is None or "predict" in wanted:
        outputs.append({"name": "predict", "shape": [p.rows],
                        "datatype": codec.oip_datatype(p.predictions),
                        "data": p.predictions.reshape(-1)})
    if p.probabilities is not None and (wanted is None or "predict_proba" in wanted):
        outputs.append({"name": "predict_proba", "shape": list(p.probabilities.shape),
                        "datatype": "FP64", "data": p.probabilities.reshape(-1)})
    return {"model_name": name, "model_version": str(version), "id": rid, "outputs": outputs}


async def handle_predict(request: Request, name: str, protocol: str) -> Response:
    gw: GatewayState = request.app.state.gateway
    rid: str = request.state.request_id
    started = time.perf_counter()
    arrived = utcnow()
    try:
        served = lookup(gw, name)
    except MlpilotError as exc:
        gw.metrics.errors.labels("", exc.code).inc()
        return error_response(exc, rid)
    route = served.policy.choose(request.headers.get(ROUTING_KEY_HEADER))
    model = served.loaded[route.version]
    features: Any = {}
    outputs: dict[str, Any] = {}
    error: MlpilotError | None = None
    prediction: Prediction | None = None
    try:
        payload = codec.parse_json(await read_body(request), gw.settings.max_json_depth)
        wanted: list[str] | None = None
        if protocol == "oip":
            columns, wanted = codec.columns_from_oip(payload)
            features = columns
        else:
            columns, record = codec.columns_from_v1(payload)
            features = record if record is not None else columns
        proba = wanted is None or "predict_proba" in wanted
        request_in = PredictRequest(columns, proba)
        prediction = await _run(gw, model, request_in)
        if served.shadows and gw.shadows is not None:
            gw.shadows.mirror(lambda m, r: _run(gw, m, r), name=name, model_name=served.model,
                              shadows=served.shadows, loaded=served.loaded,
                              request=request_in, served=prediction, request_id=rid,
                              arrived=arrived)
        if protocol == "oip":
            body = _oip_answer(rid, name, route.version, prediction, wanted)
        else:
            body = _v1_answer(rid, served, route.version, prediction)
        outputs = {"predict": prediction.predictions}
        if prediction.probabilities is not None:
            outputs["predict_proba"] = prediction.probabilities
        response: Response = Response(codec.dumps(body), media_type="application/json")
    except MlpilotError as exc:
        error = exc
        response = error_response(exc, rid)
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


def model_metadata(served: ServedModel, name: str) -> dict[str, Any]:
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
