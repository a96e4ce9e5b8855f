"""Two ASGI guards that run before routing: body size limits and path hygiene."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlpilot.api.errors import error_response

MIB = 1 << 20
DEFAULT_MAX_JSON_BYTES = 8 * MIB
DEFAULT_MAX_ARTIFACT_BYTES = 512 * MIB


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a streamed body passes its limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than this endpoint's limit of "
                              f"{limit} bytes. Send less, or split it up.")
        self.details = {"limit": limit}


class BodyLimitMiddleware:
    """Refuse request bodies over a limit with 413, without buffering them.

    A declared ``Content-Length`` over the limit is refused before the app runs;
    a chunked body is counted as it streams and refused once it passes the limit.

    Args:
        app: the wrapped ASGI app.
        default_limit: bytes allowed for any request not listed in ``limits``.
        limits: ``{(METHOD, path): bytes}`` for endpoints with their own limit.
        early: refuse a declared ``Content-Length`` over the limit before the app
            runs. With False the app sees the request and its body read fails at the
            limit instead (the gateway does this, so the refusal carries a request id
            and is logged like any other failed prediction).
    """

    def __init__(
        self, app: ASGIApp, *, default_limit: int, limits: Mapping[tuple[str, str], int],
        early: bool = True,
    ) -> None:
        self.app = app
        self.default_limit = default_limit
        self.limits = dict(limits)
        self.early = early

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get((scope["method"], scope["path"].rstrip("/")), self.default_limit)
        declared = Headers(scope=scope).get("content-length")
        if (self.early and declared is not None and declared.isdigit()
                and int(declared) > limit):
            await _too_large(limit)(scope, receive, send)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if started:
                raise
            await _too_large(limit)(scope, receive, send)


def _too_large(limit: int) -> ASGIApp:
    return error_response(413, "payload_too_large", BodyTooLarge(limit).detail,
                          {"limit": limit})


class PathGuardMiddleware:
    """Refuse encoded ``/``, ``\\`` and NUL in API paths, and NUL in query strings.

    Routing sees the *decoded* path, so ``/models/a%2F..`` would otherwise be
    routed as if the name were several segments. Refusing them keeps every path
    parameter a single, plain segment.
    """

    _BAD_PATH = ("%2f", "%5c", "%00")

    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            raw = scope.get("raw_path") or scope["path"].encode()
            raw_path = raw.decode("latin-1").split("?", 1)[0].lower()
            query = scope.get("query_string", b"").decode("latin-1").lower()
            if any(bad in raw_path for bad in self._BAD_PATH) or "%00" in query:
                response = error_response(
                    400, "invalid_argument",
                    "Path segments may not contain encoded '/', '\\' or NUL characters, and "
                    "query values may not contain NUL. Names are single plain segments.",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
