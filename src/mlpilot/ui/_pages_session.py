"""Signing in and out: an API token in, an HttpOnly cookie out."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from mlpilot.core.errors import Unauthenticated
from mlpilot.ui._app import UI_PREFIX, UiRoute, render
from mlpilot.ui._auth import COOKIE_PATH, TOKEN_COOKIE, Form, api_state, safe_next

router = APIRouter(route_class=UiRoute)


@router.get("/login")
def login_page(request: Request, next: str = "") -> Response:
    """The sign-in form (straight to the UI when auth is off)."""
    if not api_state(request).auth:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", None, title="Sign in", next=safe_next(next),
                  error="")


@router.post("/login")
def login(request: Request, form: Form) -> Response:
    """Check the token; on success keep it in an HttpOnly, SameSite=Strict cookie."""
    target = safe_next(form.get("next"))
    state = api_state(request)
    if not state.auth:
        return RedirectResponse(target, status_code=303)
    secret = form.get("token", "").strip()
    try:
        token = state.context.store.verify_token(secret) if secret else None
    except Unauthenticated:
        token = None
    if token is None:
        return render(request, "login.html", None, status=401, title="Sign in", next=target,
                      error="That token is unknown or revoked.")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(TOKEN_COOKIE, secret, path=COOKIE_PATH, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https",
                        max_age=12 * 3600)
    return response


@router.post("/logout")
def logout(request: Request, form: Form) -> Response:
    """Forget the token cookie."""
    response = RedirectResponse(f"{UI_PREFIX}/login" if api_state(request).auth
                                else f"{UI_PREFIX}/", status_code=303)
    response.delete_cookie(TOKEN_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response
