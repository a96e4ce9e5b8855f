"""The mlpilot exception tree.

One root, :class:`MlpilotError`, carries a stable ``code`` and the HTTP status the
control plane answers with. Subclasses are shallow and each says one thing.
Messages follow one formula: subject, requirement, what we got, next step.
"""

from __future__ import annotations

from typing import Any


class MlpilotError(Exception):
    """Root of every error mlpilot raises on purpose."""

    code: str = "internal"
    http_status: int = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The JSON body the API answers with."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class InvalidArgument(MlpilotError):
    """A value given by the user is malformed or out of range."""

    code = "invalid_argument"
    http_status = 400


class NotFound(MlpilotError):
    """The named model, version, run, dataset or deployment does not exist."""

    code = "not_found"
    http_status = 404


class AlreadyExists(MlpilotError):
    """An entity with that name already exists."""

    code = "already_exists"
    http_status = 409


class Conflict(MlpilotError):
    """A concurrent change won; the caller's view of the state is stale."""

    code = "conflict"
    http_status = 409


class AliasConflict(Conflict):
    """An alias moved under the caller; the message names its current holder."""

    code = "alias_conflict"


class IntegrityError(MlpilotError):
    """Stored bytes do not match their recorded sha256: tampered or truncated."""

    code = "integrity_error"
    http_status = 422


class UntrustedArtifact(MlpilotError):
    """Loading the artifact would execute or build types nobody trusted."""

    code = "untrusted_artifact"
    http_status = 422


class Unauthenticated(MlpilotError):
    """The request carries no valid API token."""

    code = "unauthenticated"
    http_status = 401


class PermissionDenied(MlpilotError):
    """The token's role does not allow this action."""

    code = "permission_denied"
    http_status = 403


class StoreUnavailable(MlpilotError):
    """The metadata store cannot be reached or stayed busy past its timeout."""

    code = "store_unavailable"
    http_status = 503


class SchemaMismatch(InvalidArgument):
    """Data does not match the expected schema (missing, extra or retyped columns)."""

    code = "schema_mismatch"
    http_status = 422
