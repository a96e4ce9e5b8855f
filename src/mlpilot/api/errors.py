"""Every failure leaves the API as JSON ``{"code", "message", "details"}``.

* :class:`~mlpilot.core.errors.MlpilotError` → its ``http_status``;
* request validation → 422 naming each field (``loc``) and the problem, except
  a body that is not JSON at all → 400 ``invalid_json``;
* Starlette HTTP errors (unknown route, wrong method, body too large) → their status;
* anything else → 500 with a generic message; the traceback goes to the server log only.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlpilot.core.errors import MlpilotError, StoreUnavailable, Unauthenticated

logger = logging.getLogger("mlpilot.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The one shape every error body has."""
    body = {"code": code, "message": message, "details": jsonable_encoder(details or {})}
    return JSONResponse(body, status_code=status, headers=headers)


async def _mlpilot_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MlpilotError)
    headers = None
    if isinstance(exc, Unauthenticated):
        headers = {"WWW-Authenticate": "Bearer"}
    elif isinstance(exc, StoreUnavailable):
        headers = {"Retry-After": "1"}
    return error_response(exc.http_status, exc.code, exc.message, exc.details, headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    bad_json = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if bad_json is not None:
        reason = (bad_json.get("ctx") or {}).get("error", "it does not parse")
        position = bad_json.get("loc", ("body", None))[-1]
        return error_response(
            400, "invalid_json",
            f"The request body is not valid JSON: {reason} (at character {position}). "
            "Send strict JSON (RFC 8259): no NaN or Infinity, no trailing commas.",
            {"position": position},
        )
    items = [{"loc": list(e.get("loc", ())), "field": _field(e.get("loc", ())),
              "message": e.get("msg", ""), "type": e.get("type", "")} for e in errors]
    summary = "; ".join(f"{i['field']}: {i['message']}" for i in items[:5])
    more = f" ({len(items) - 5} more problems.)" if len(items) > 5 else ""
    content_type = request.headers.get("content-type", "")
    if any(i["loc"] == ["body"] for i in items) and "json" not in content_type:
        more += " Send the body as JSON with 'Content-Type: application/json'."
    return error_response(422, "validation_error",
                          f"The request is invalid: {summary}.{more}", {"errors": items})


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 404 and exc.detail == HTTPStatus.NOT_FOUND.phrase:
        message = f"No API route {request.method} {request.url.path}. See /docs for the API."
    elif status == 405:
        message = f"{request.method} is not allowed on {request.url.path}."
    else:
        message = str(exc.detail)
    headers = dict(exc.headers) if exc.headers else None
    details = getattr(exc, "details", None)
    return error_response(status, _HTTP_CODES.get(status, "http_error"), message, details, headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The server logs the traceback (Starlette re-raises after this response is sent).
    logger.error("Unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return error_response(
        500, "internal",
        "The server hit an unexpected error; nothing about it is in this response. "
        "The server log has the details.",
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers above on ``app``."""
    app.add_exception_handler(MlpilotError, _mlpilot_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
