"""API tokens (admin only): list, create (the secret is shown once), revoke."""

from __future__ import annotations

from fastapi import Response

from mlpilot.api.auth import AdminDep, admin_only
from mlpilot.api.params import TokenId
from mlpilot.api.routing import resource_router
from mlpilot.api.schemas import TokenCreate, TokenCreated, TokenOut
from mlpilot.core.entities import ApiToken

router = resource_router("tokens", rule=admin_only)


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(caller: AdminDep) -> list[ApiToken]:
    """Every token's metadata; secrets are never stored, so never shown."""
    return caller.store.list_tokens()


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(body: TokenCreate, caller: AdminDep) -> TokenCreated:
    """Create a token. Its ``secret`` is in this response only: keep it."""
    token, secret = caller.store.create_token(body.name, body.role)
    return TokenCreated.model_validate({**TokenOut.model_validate(token).model_dump(),
                                        "secret": secret})


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(token_id: TokenId, caller: AdminDep) -> Response:
    """Revoke a token at once."""
    caller.store.revoke_token(token_id)
    return Response(status_code=204)
