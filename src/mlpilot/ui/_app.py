"""The UI's plumbing: templates, the route class that turns errors into pages, mounting."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from mlpilot import __version__
from mlpilot.api.auth import ApiState
from mlpilot.core.errors import MlpilotError
from mlpilot.reports.svg import fmt_value
from mlpilot.sdk._context import Context
from mlpilot.ui._auth import (
    COOKIE_PATH,
    NONCE_COOKIE,
    LoginRequired,
    UiCaller,
    UiState,
    csrf_token,
    nonce,
)

UI_PREFIX = COOKIE_PATH
_HERE = Path(__file__).parent

SECURITY_HEADERS = {
    # no inline scripts at all: data for charts travels in <script type="application/json">
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, str) and len(value) >= 19 and value[10] == "T":
        return value[:19].replace("T", " ") + " UTC"
    return "—" if value is None else str(value)


def _num(value: Any) -> str:
    if isinstance(value, str):
        return value
    return fmt_value(value)


def _pct(value: Any) -> str:
    return "n/a" if not isinstance(value, int | float) else f"{value:.0%}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_HERE / "templates")),
        autoescape=True,  # every template; user data is never marked safe in a template
        undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters.update(when=_when, num=_num, pct=_pct,
                       seg=lambda v: quote(str(v), safe=""))
    env.globals.update(version=__version__, prefix=UI_PREFIX)
    return env


TEMPLATES = _environment()


def render(request: Request, template: str, caller: UiCaller | None, *,
           status: int = 200, **values: Any) -> HTMLResponse:
    """Render ``template`` with the caller, CSRF token and navigation state."""
    state: ApiState = request.app.state.mlpilot
    html = TEMPLATES.get_template(template).render(
        request=request, caller=caller, csrf=csrf_token(request), auth=state.auth,
        path=request.url.path, **values)
    return HTMLResponse(html, status_code=status)


def _error_page(request: Request, status: int, message: str) -> HTMLResponse:
    titles = {400: "Bad request", 401: "Sign-in needed", 403: "Not allowed", 404: "Not found",
              409: "Conflict", 422: "Cannot do that"}
    return render(request, "error.html", None, status=status,
                  title=titles.get(status, "Something went wrong"), message=message,
                  status_code=status)


class UiRoute(APIRoute):
    """A route answering HTML: errors become pages, a lost session goes to the login page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def ui_handler(request: Request) -> Response:
            nonce(request)
            try:
                response = await handler(request)
            except LoginRequired as exc:
                if request.method in ("GET", "HEAD"):
                    target = request.url.path + (f"?{request.url.query}"
                                                 if request.url.query else "")
                    response = RedirectResponse(
                        f"{UI_PREFIX}/login?next={quote(target, safe='')}", status_code=303)
                else:
                    response = _error_page(request, 401, exc.message)
            except MlpilotError as exc:
                response = _error_page(request, exc.http_status, exc.message)
            except RequestValidationError as exc:
                fields = ", ".join(".".join(str(p) for p in e.get("loc", ())[1:])
                                   for e in exc.errors())
                response = _error_page(request, 400, f"Invalid value for: {fields}.")
            except HTTPException as exc:
                response = _error_page(request, exc.status_code, str(exc.detail))
            finish(request, response)
            return response

        return ui_handler


def finish(request: Request, response: Response) -> None:
    """Security headers, and the nonce cookie when this browser had none."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if getattr(request.state, "ui_new_nonce", False):
        response.set_cookie(NONCE_COOKIE, nonce(request), path=COOKIE_PATH, httponly=True,
                            samesite="strict", secure=request.url.scheme == "https")


def ui_router() -> APIRouter:
    """Every page and action of the UI (routes relative to :data:`UI_PREFIX`)."""
    from mlpilot.ui import _pages_models, _pages_ops, _pages_pilot, _pages_session

    router = APIRouter(route_class=UiRoute, include_in_schema=False)
    for module in (_pages_session, _pages_models, _pages_ops, _pages_pilot):
        router.include_router(module.router)
    return router


def mount_ui(app: FastAPI) -> None:
    """Add the UI under ``/ui`` to an app whose ``state.mlpilot`` is an ``ApiState``.

    Also answers ``/`` with a redirect to the UI.
    """
    app.state.mlpilot_ui = UiState(csrf_key=secrets.token_bytes(32))
    app.include_router(ui_router(), prefix=UI_PREFIX)
    app.mount(f"{UI_PREFIX}/static", StaticFiles(directory=str(_HERE / "static")),
              name="ui-static")

    @app.get("/", include_in_schema=False)
    def _root() -> RedirectResponse:
        return RedirectResponse(f"{UI_PREFIX}/", status_code=307)


def create_ui_app(context: Context, *, auth: bool) -> FastAPI:
    """An app serving the UI alone (what ``mlpilot ui`` runs without ``--with-api``)."""
    app = FastAPI(title="mlpilot UI", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.mlpilot = ApiState(context=context, auth=auth)
    mount_ui(app)
    return app
