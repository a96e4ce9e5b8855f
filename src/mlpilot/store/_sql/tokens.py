"""API tokens with roles. Only a sha256 of each secret is stored."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select

from mlpilot.core.clock import utcnow
from mlpilot.core.entities import ApiToken, Role
from mlpilot.core.errors import InvalidArgument, NotFound, Unauthenticated
from mlpilot.store._sql import convert
from mlpilot.store._sql.core import StoreCore
from mlpilot.store._sql.tables import TokenRow

TOKEN_PREFIX = "mlp_"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenMixin(StoreCore):
    """Create, verify, list and revoke API tokens."""

    def create_token(self, name: str, role: Role | str) -> tuple[ApiToken, str]:
        """Create a token; returns it and its secret (shown once, never stored).

        Raises:
            InvalidArgument: if the role is not viewer, editor or admin.
        """
        try:
            role = Role(role)
        except ValueError:
            raise InvalidArgument(
                f"A token role is one of {[r.value for r in Role]}. Got {role!r}."
            ) from None
        if not isinstance(name, str) or not 0 < len(name) <= 128:
            raise InvalidArgument(f"A token name must be 1-128 characters. Got {name!r}.")
        token_id = secrets.token_hex(6)
        secret = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        with self._write() as s:
            s.add(TokenRow(id=token_id, name=name, role=role.value, secret_sha256=_digest(secret),
                           created_at=utcnow(), created_by=self.actor, revoked=False))
            self._emit(s, "token.create", "token", token_id,
                       payload={"name": name, "role": role.value})
        return self.get_token(token_id), secret

    def get_token(self, token_id: str) -> ApiToken:
        """Return a token's metadata (never its secret)."""
        with self._read() as s:
            row = s.get(TokenRow, token_id)
            if row is None:
                raise NotFound(f"No API token with id {token_id!r}.")
            return convert.token(row)

    def verify_token(self, secret: str) -> ApiToken:
        """Return the live token whose secret this is.

        Raises:
            Unauthenticated: unknown or revoked token (the message never echoes it).
        """
        if not isinstance(secret, str) or not secret.startswith(TOKEN_PREFIX):
            raise Unauthenticated("The API token is missing or malformed.")
        with self._read() as s:
            row = s.scalars(select(TokenRow).where(
                TokenRow.secret_sha256 == _digest(secret))).one_or_none()
            if row is None or row.revoked:
                raise Unauthenticated("The API token is unknown or revoked.")
            return convert.token(row)

    def list_tokens(self) -> list[ApiToken]:
        """Every token's metadata."""
        with self._read() as s:
            return [convert.token(r) for r in s.scalars(select(TokenRow).order_by(TokenRow.name))]

    def revoke_token(self, token_id: str) -> None:
        """Revoke a token at once."""
        with self._write() as s:
            row = s.get(TokenRow, token_id)
            if row is None:
                raise NotFound(f"No API token with id {token_id!r}.")
            row.revoked = True
            self._emit(s, "token.revoke", "token", token_id)
