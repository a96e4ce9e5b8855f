"""The routing table: an immutable snapshot of what each served name answers with.

A snapshot is never mutated. The reconciler builds a new one (loading any new
version first) and swaps the reference, so a request that picked its model
from the old snapshot finishes on it, and no request ever sees a half-built table.
"""

from __future__ import annotations

import abc
import hashlib
import random
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mlpilot.core.entities import Route
from mlpilot.sdk._registry import RegisteredModel

#: route roles that answer requests
SERVING_ROLES = ("primary", "canary")
#: the role of a route that gets a copy of the traffic and never answers
SHADOW_ROLE = "shadow"
#: the role logged for a name served through its model's ``production`` alias
ALIAS_ROLE = "production"


class RoutingPolicy(abc.ABC):
    """Chooses the route that answers one request.

    Implementations are immutable after construction and thread-safe: one
    instance serves every request of a snapshot.
    """

    @abc.abstractmethod
    def choose(self, request_key: str | None) -> Route:
        """The route for a request; ``request_key`` (``X-Routing-Key``) makes it sticky."""


class WeightedPolicy(RoutingPolicy):
    """Weighted random choice, or a stable hash bucket when a routing key is given.

    Args:
        routes: the candidate routes (non-empty; weights need not sum to 1).
        rng: the process's seeded random source (shared; guarded by a lock).
    """

    def __init__(self, routes: Sequence[Route], rng: random.Random,
                 lock: threading.Lock | None = None) -> None:
        if not routes:
            raise ValueError("WeightedPolicy needs at least one route.")
        # A 0-weight route (a warm standby, a rolled-back canary) is kept loaded by the
        # reconciler but must never be picked, not even through rounding.
        self.routes = tuple(r for r in routes if r.weight > 0) or tuple(routes)
        total = sum(max(r.weight, 0.0) for r in self.routes)
        weights = [max(r.weight, 0.0) / total if total > 0 else 1 / len(self.routes)
                   for r in self.routes]
        cumulative, acc = [], 0.0
        for w in weights:
            acc += w
            cumulative.append(acc)
        cumulative[-1] = 1.0
        self._cumulative = tuple(cumulative)
        self._rng = rng
        self._lock = lock or threading.Lock()

    def _pick(self, u: float) -> Route:
        for route, edge in zip(self.routes, self._cumulative, strict=True):
            if u < edge:
                return route
        return self.routes[-1]

    def choose(self, request_key: str | None) -> Route:
        if len(self.routes) == 1:
            return self.routes[0]
        if request_key:
            digest = hashlib.blake2b(request_key.encode(), digest_size=8).digest()
            return self._pick(int.from_bytes(digest, "big") / 2**64)
        with self._lock:
            u = self._rng.random()
        return self._pick(u)


@dataclass(frozen=True)
class ServedModel:
    """One served name: its routes, policy and loaded models.

    Attributes:
        name: the served name (a deployment's, or a model's for alias serving).
        model: the model name.
        source: ``"deployment"`` or ``"alias"``.
        routes: the serving routes, in stored order.
        policy: chooses a route per request.
        loaded: version -> loaded model, for every version in ``routes`` (and
            every shadow that could be loaded).
        revision: the deployment revision (0 for alias serving).
        shadows: routes that get an asynchronous copy of each request.
    """

    name: str
    model: str
    source: str
    routes: tuple[Route, ...]
    policy: RoutingPolicy
    loaded: Mapping[int, RegisteredModel]
    revision: int = 0
    shadows: tuple[Route, ...] = ()

    @property
    def ready(self) -> bool:
        """True when every serving route's version is loaded."""
        return all(r.version in self.loaded for r in self.routes)

    def key(self) -> tuple[object, ...]:
        """What identifies this entry's desired state (unchanged key: reuse the entry)."""
        return (self.model, self.source, self.routes, self.shadows)


@dataclass(frozen=True)
class RoutingTable:
    """An immutable snapshot: served name -> :class:`ServedModel`.

    ``failed`` holds names the store wants served but whose model could not be
    loaded yet (with the error class), so readiness can say why.
    """

    served: Mapping[str, ServedModel] = field(default_factory=dict)
    failed: Mapping[str, str] = field(default_factory=dict)
    generation: int = 0

    @property
    def ready(self) -> bool:
        """True when every wanted name has a loaded model."""
        return not self.failed and all(s.ready for s in self.served.values())
