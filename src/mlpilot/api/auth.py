"""Who is calling, and may they do this? Bearer tokens checked against the store.

Every route under ``/api/v1`` except ``/health`` carries an :class:`Authorize`
dependency (set on its router, see :mod:`mlpilot.api.routing`). The rule is:

* safe methods (GET, HEAD, OPTIONS) need the ``viewer`` role,
* writes (POST, PUT, PATCH, DELETE) need ``editor``,
* token management needs ``admin`` whatever the method.

With auth off (loopback development) every request acts as an admin named
``local``. Mutations run on ``store.with_actor(caller.name)``, so the audit
event names the token that made them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mlpilot.core.entities import Role
from mlpilot.core.errors import PermissionDenied, Unauthenticated
from mlpilot.sdk._context import Context
from mlpilot.store import Store
from mlpilot.store.artifacts import ArtifactStore

LOCAL_ACTOR = "local"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_bearer = HTTPBearer(auto_error=False, description="An mlpilot API token (`mlp_…`).")


@dataclass(frozen=True)
class ApiState:
    """What the app serves from, kept on ``app.state.mlpilot``."""

    context: Context
    auth: bool


@dataclass(frozen=True)
class Caller:
    """The authenticated principal of one request, with stores acting in its name."""

    name: str
    role: Role
    store: Store
    artifacts: ArtifactStore


class Authorize:
    """Dependency that authenticates the request and enforces a role.

    Args:
        role: the role every method needs; ``None`` means the per-method rule
            (viewer for safe methods, editor for writes).
    """

    def __init__(self, role: Role | None = None) -> None:
        self.role = role

    def needed(self, method: str) -> Role:
        """The role a request with HTTP ``method`` needs under this rule."""
        if self.role is not None:
            return self.role
        return Role.VIEWER if method.upper() in SAFE_METHODS else Role.EDITOR

    def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Caller:
        """Return the caller, or refuse the request.

        Raises:
            Unauthenticated: no bearer token, or an unknown or revoked one.
            PermissionDenied: the token's role is below what the route needs.
        """
        state: ApiState = request.app.state.mlpilot
        context = state.context
        if not state.auth:
            return Caller(LOCAL_ACTOR, Role.ADMIN, context.store.with_actor(LOCAL_ACTOR),
                          context.artifacts)
        if credentials is None:
            raise Unauthenticated(
                "This API needs a token: send 'Authorization: Bearer <secret>'. An admin "
                "creates one with `mlpilot token create NAME --role ROLE`."
            )
        token = context.store.verify_token(credentials.credentials)
        needed = self.needed(request.method)
        if not token.role.allows(needed):
            raise PermissionDenied(
                f"{request.method} {request.url.path} needs the {needed.value!r} role; "
                f"token {token.name!r} has {token.role.value!r}. Ask an admin for a token "
                "with that role.",
                needed=needed.value, role=token.role.value,
            )
        return Caller(token.name, token.role, context.store.with_actor(token.name),
                      context.artifacts)


per_method = Authorize()
"""Viewer for reads, editor for writes: the rule of every resource router."""

admin_only = Authorize(Role.ADMIN)
"""Admin for every method: the rule of token management."""

CallerDep = Annotated[Caller, Depends(per_method)]
AdminDep = Annotated[Caller, Depends(admin_only)]
