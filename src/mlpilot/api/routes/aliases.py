"""Aliases: move (compare-and-set) and delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response

from mlpilot.api.auth import CallerDep
from mlpilot.api.params import AliasName, ModelName
from mlpilot.api.routing import resource_router
from mlpilot.api.schemas import AliasSet, VersionOut
from mlpilot.api.schemas._requests import INT32_MAX
from mlpilot.core.entities import ModelVersion
from mlpilot.store import ANY

router = resource_router("aliases")


@router.put("/models/{name}/aliases/{alias}", response_model=VersionOut)
def set_alias(name: ModelName, alias: AliasName, body: AliasSet, caller: CallerDep
              ) -> ModelVersion:
    """Point ``alias`` at ``version``.

    With ``expected`` (an int, or null for "nobody holds it") the move only
    happens if the alias is held as expected; otherwise 409 names the holder.
    """
    expected = body.expected if "expected" in body.model_fields_set else ANY
    return caller.store.set_alias(name, alias, body.version, expected=expected,
                                  reason=body.reason)


@router.delete("/models/{name}/aliases/{alias}", status_code=204)
def delete_alias(
    name: ModelName,
    alias: AliasName,
    caller: CallerDep,
    expected: Annotated[int | None, Query(ge=1, le=INT32_MAX,
                                          description="Only delete if it holds this version.")]
    = None,
    reason: Annotated[str, Query(max_length=2000)] = "",
) -> Response:
    """Remove an alias (404 if the model has no such alias)."""
    caller.store.delete_alias(name, alias, expected=ANY if expected is None else expected,
                              reason=reason)
    return Response(status_code=204)
