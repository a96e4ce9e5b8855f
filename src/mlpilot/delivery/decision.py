"""The decision every delivery policy returns: what to do, why, with what evidence.

Policies in :mod:`mlpilot.delivery` are pure: they read a state and return a
:class:`Decision`. An engine (the autopilot) applies it, typically by writing
``decision.routes`` with ``Store.put_deployment(..., reason=decision.reason)``
and storing ``decision.to_dict()`` as the audit evidence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlpilot.core.entities import Route
from mlpilot.core.errors import InvalidArgument
from mlpilot.core.jsonsafe import json_safe

#: every action a delivery policy can decide
ACTIONS = ("hold", "step", "promote", "rollback", "switch", "switch_back")


@dataclass(frozen=True)
class Decision:
    """One decision of a delivery policy.

    Attributes:
        action: one of :data:`ACTIONS`.
        reason: a one-line human explanation.
        evidence: the statistics, thresholds and state behind the decision;
            converted to strict JSON on construction (NaN and infinities become
            ``None``), so it can be stored as is.
        routes: the new routes to apply (weights sum to 1), or ``None`` when the
            routes do not change (``hold``).

    Raises:
        InvalidArgument: unknown action, or routes whose weights are negative or
            do not sum to 1.
    """

    action: str
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    routes: tuple[Route, ...] | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise InvalidArgument(
                f"No delivery action named {self.action!r}. Available: {list(ACTIONS)}."
            )
        object.__setattr__(self, "evidence", json_safe(dict(self.evidence)))
        if self.routes is not None:
            routes = tuple(self.routes)
            total = sum(r.weight for r in routes)
            if not routes or any(r.weight < 0 for r in routes) or abs(total - 1.0) > 1e-6:
                raise InvalidArgument(
                    "Decision routes must be non-empty, non-negative and sum to 1. "
                    f"Got {[r.weight for r in routes]}."
                )
            object.__setattr__(self, "routes", routes)

    @property
    def changes_routes(self) -> bool:
        """True when applying this decision rewrites the deployment's routes."""
        return self.routes is not None

    def to_dict(self) -> dict[str, Any]:
        """A strict-JSON form (for the audit log and the Deployment params)."""
        return {
            "action": self.action,
            "reason": self.reason,
            "evidence": self.evidence,
            "routes": None if self.routes is None else [
                {"version": r.version, "weight": r.weight, "role": r.role} for r in self.routes
            ],
        }


def make_routes(weights: Mapping[int, float], roles: Mapping[int, str] | None = None,
                order: Sequence[int] | None = None) -> tuple[Route, ...]:
    """Routes from ``version -> weight``, renormalised so they sum to exactly 1.

    Args:
        weights: non-negative weight per version (at least one positive).
        roles: role per version (default ``"primary"``).
        order: the order of the routes (default: ``weights``' order).

    Returns:
        The routes, in order.

    Raises:
        InvalidArgument: no weights, a negative weight, or all zero.
    """
    roles = roles or {}
    order = list(order) if order is not None else list(weights)
    total = sum(weights[v] for v in order)
    if not order or total <= 0 or any(weights[v] < 0 for v in order):
        raise InvalidArgument(
            f"Route weights must be non-negative with a positive total. Got {dict(weights)}.")
    rounded = [round(weights[v] / total, 6) for v in order]
    # put the rounding residue on the largest route so the sum is exactly 1
    big = max(range(len(rounded)), key=lambda i: rounded[i])
    rounded[big] = round(rounded[big] + 1.0 - sum(rounded), 9)
    return tuple(Route(version=int(v), weight=w, role=roles.get(v, "primary"))
                 for v, w in zip(order, rounded, strict=True))
