"""Routers for resources: strict JSON bodies, an auth rule, documented errors."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute

from mlpilot.api.auth import Authorize, per_method
from mlpilot.api.schemas import ErrorOut

_FORBIDDEN_CHARS = re.compile(r"[\x00\ud800-\udfff]")

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in [
        (400, "Malformed input: bad name, invalid JSON, or a refused value."),
        (401, "Missing, unknown or revoked API token."),
        (403, "The token's role does not allow this."),
        (404, "No such model, version, run, dataset, deployment, token or artifact."),
        (409, "Conflict: the entity exists, or a concurrent change won."),
        (413, "The request body is over the limit."),
        (422, "The request does not match the schema; details.errors names each field."),
    ]
}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:30]} overflows a 64-bit float")
    return value


def _check_strings(value: Any) -> None:
    """Refuse NUL and unpaired surrogates, which no database column can hold."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _FORBIDDEN_CHARS.search(item):
                raise ValueError("strings may not contain NUL or unpaired surrogate characters")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def strict_loads(body: bytes) -> Any:
    """Parse ``body`` as strict JSON (RFC 8259): no NaN/Infinity, finite numbers only.

    Raises:
        json.JSONDecodeError: naming the problem (FastAPI turns it into a 400).
    """
    text = body.decode("utf-8", errors="strict") if isinstance(body, bytes) else body
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
        _check_strings(value)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:
        raise json.JSONDecodeError(str(exc), text, 0) from exc
    return value


class StrictJSONRequest(Request):
    """A request whose ``json()`` is :func:`strict_loads`."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = strict_loads(body)
            except UnicodeDecodeError as exc:
                raise json.JSONDecodeError("the body is not UTF-8", "", exc.start) from exc
        return self._json


class StrictJSONRoute(APIRoute):
    """An APIRoute that parses request bodies with :class:`StrictJSONRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler


def resource_router(tag: str, rule: Authorize = per_method) -> APIRouter:
    """A router whose every route requires ``rule`` and parses JSON strictly."""
    return APIRouter(tags=[tag], route_class=StrictJSONRoute, dependencies=[Depends(rule)],
                     responses=ERROR_RESPONSES)


def open_router(tag: str) -> APIRouter:
    """A router with no auth rule: only for ``/health``."""
    return APIRouter(tags=[tag], route_class=StrictJSONRoute, responses=ERROR_RESPONSES)
