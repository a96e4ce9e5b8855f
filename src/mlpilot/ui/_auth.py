"""Who is looking at the UI, and may they do this? The API's tokens, held in a cookie.

* Login posts an API token; the UI keeps it in an ``HttpOnly``, ``SameSite=Strict``
  cookie (``Secure`` over HTTPS) scoped to ``/ui`` and checks it against the store
  on every request, so a revoked token is locked out at once.
* With auth off (loopback development) everyone is the admin ``local``, as in the API.
* Every POST carries a CSRF token: an HMAC, under a key drawn when the app starts,
  of a random per-browser nonce (its own ``SameSite=Strict`` cookie) and the
  session token. A cross-site page can read neither, and ``SameSite=Strict`` keeps
  the browser from sending either cookie with a cross-site POST. A POST whose
  ``Origin`` is another site is refused too.
* Roles are checked server-side, with the API's rule: pages need ``viewer``,
  actions ``editor``, and answering the autopilot's questions (approve/reject)
  ``admin``. Templates hide the forms a role may not use, but hiding is not what
  protects them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl, urlsplit

from fastapi import Depends, Request

from mlpilot.api.auth import LOCAL_ACTOR, ApiState
from mlpilot.core.entities import Role
from mlpilot.core.errors import InvalidArgument, PermissionDenied, Unauthenticated
from mlpilot.store import Store

TOKEN_COOKIE = "mlpilot_ui_token"
NONCE_COOKIE = "mlpilot_ui_nonce"
COOKIE_PATH = "/ui"
MAX_FORM_BYTES = 64 * 1024


class LoginRequired(Unauthenticated):
    """No valid session: a page request is sent to the login page."""


class CsrfRejected(PermissionDenied):
    """A form was posted without this session's CSRF token, or from another site."""


@dataclass(frozen=True)
class UiState:
    """What the UI needs beside the API's state, kept on ``app.state.mlpilot_ui``."""

    csrf_key: bytes


@dataclass(frozen=True)
class UiCaller:
    """The person behind one UI request."""

    name: str
    role: Role
    store: Store

    @property
    def can_edit(self) -> bool:
        """True when the role may act (acknowledge, set aliases): editor or admin."""
        return self.role.allows(Role.EDITOR)


def api_state(request: Request) -> ApiState:
    """The API state the UI serves from."""
    state: ApiState = request.app.state.mlpilot
    return state


def nonce(request: Request) -> str:
    """This browser's CSRF nonce: its cookie, or a new one the response will set."""
    existing = getattr(request.state, "ui_nonce", None)
    if existing:
        return str(existing)
    value = request.cookies.get(NONCE_COOKIE, "")
    if not (16 <= len(value) <= 64 and value.isascii() and value.replace("-", "").replace(
            "_", "").isalnum()):
        value = secrets.token_urlsafe(24)
        request.state.ui_new_nonce = True
    request.state.ui_nonce = value
    return value


def csrf_token(request: Request) -> str:
    """The token every form of this page carries (bound to nonce and session)."""
    key: bytes = request.app.state.mlpilot_ui.csrf_key
    message = f"{nonce(request)}\0{request.cookies.get(TOKEN_COOKIE, '')}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    parts = urlsplit(origin)
    return parts.netloc.lower() == request.headers.get("host", "").lower()


async def csrf_form(request: Request) -> dict[str, str]:
    """The posted form (``application/x-www-form-urlencoded``), after the CSRF check.

    Raises:
        CsrfRejected: missing or wrong token, or a cross-site ``Origin``.
        InvalidArgument: the body is not a small URL-encoded form.
    """
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        raise InvalidArgument("Forms must be posted as application/x-www-form-urlencoded.")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidArgument(f"The form is larger than {MAX_FORM_BYTES} bytes.")
    try:
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                              max_num_fields=100))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidArgument("The form could not be read.") from exc
    if not same_origin(request):
        raise CsrfRejected("This form was posted from another site; it was refused.")
    if NONCE_COOKIE not in request.cookies or not hmac.compare_digest(
            form.get("csrf", ""), csrf_token(request)):
        raise CsrfRejected("The form's security token is missing or stale (the server may "
                           "have restarted). Reload the page and try again.")
    return form


class UiAuthorize:
    """Dependency that identifies the UI user and enforces ``role``.

    Args:
        role: the least role the route needs (viewer for pages, editor for actions).
    """

    def __init__(self, role: Role) -> None:
        self.role = role

    def __call__(self, request: Request) -> UiCaller:
        """Return the caller.

        Raises:
            LoginRequired: auth is on and there is no valid token cookie.
            PermissionDenied: the token's role is below ``role``.
        """
        state = api_state(request)
        store = state.context.store
        if not state.auth:
            return UiCaller(LOCAL_ACTOR, Role.ADMIN, store.with_actor(LOCAL_ACTOR))
        secret = request.cookies.get(TOKEN_COOKIE)
        if not secret:
            raise LoginRequired("Sign in with an API token to use the mlpilot UI.")
        try:
            token = store.verify_token(secret)
        except Unauthenticated as exc:
            raise LoginRequired("Your token is unknown or was revoked; sign in again.") from exc
        if not token.role.allows(self.role):
            raise PermissionDenied(
                f"This needs the {self.role.value!r} role; you are signed in as {token.name!r} "
                f"with {token.role.value!r}. Ask an admin for a token with that role.")
        return UiCaller(token.name, token.role, store.with_actor(token.name))


view_rule = UiAuthorize(Role.VIEWER)
"""Pages: any signed-in role."""

edit_rule = UiAuthorize(Role.EDITOR)
"""Actions (acknowledge, resolve, set an alias): editor or admin."""

Viewer = Annotated[UiCaller, Depends(view_rule)]
Editor = Annotated[UiCaller, Depends(edit_rule)]
Form = Annotated[dict[str, str], Depends(csrf_form)]


def safe_next(target: str | None) -> str:
    """Where to go after login: a path inside the UI, never another site."""
    if target and target.startswith(f"{COOKIE_PATH}/") and not target.startswith("//") \
            and "\\" not in target and all(c >= " " for c in target):
        return target
    return f"{COOKIE_PATH}/"
