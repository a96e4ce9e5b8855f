"""Keep the routing table in step with the store's desired state.

Every interval the reconciler reads the deployments and the models' ``production``
aliases, loads any version it does not hold yet, and only then swaps the
snapshot reference (one atomic assignment). In-flight requests keep the models
of the snapshot they started on; nothing is unloaded under them.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

from mlpilot.core.entities import Route
from mlpilot.sdk._context import Context
from mlpilot.sdk._registry import RegisteredModel, load
from mlpilot.serve.gateway.routing import (
    ALIAS_ROLE,
    SERVING_ROLES,
    SHADOW_ROLE,
    RoutingTable,
    ServedModel,
    WeightedPolicy,
)

logger = logging.getLogger("mlpilot.gateway")

Loader = Callable[[str, int], RegisteredModel]


@dataclass(frozen=True)
class _Wanted:
    """What the store wants served under one name."""

    model: str
    source: str
    routes: tuple[Route, ...]
    revision: int = 0
    shadows: tuple[Route, ...] = ()

    def key(self) -> tuple[object, ...]:
        return (self.model, self.source, self.routes, self.shadows)


class Reconciler:
    """Builds :class:`RoutingTable` snapshots from the store, on a background thread.

    A name resolves to the active deployment of that name if one exists, else
    to ``<model>@production``. Thread safety: :attr:`table` may be read from any
    thread; :meth:`reconcile` runs on one thread at a time.

    Args:
        context: the store and artifacts to read.
        interval_s: seconds between reconciles.
        seed: seed of the weighted-routing RNG.
        loader: ``(model, version) -> RegisteredModel`` (default :func:`mlpilot.load`).
    """

    def __init__(self, context: Context, *, interval_s: float, seed: int | None = None,
                 loader: Loader | None = None) -> None:
        self.context = context
        self.interval_s = interval_s
        self._loader = loader or (lambda m, v: load(f"{m}/{v}", context=context))
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._cache: dict[tuple[str, int], RegisteredModel] = {}
        self._table = RoutingTable()
        self._run_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0

    @property
    def table(self) -> RoutingTable:
        """The current snapshot (never mutated; re-read it per request)."""
        return self._table

    def _desired(self) -> dict[str, _Wanted]:
        store = self.context.store
        wanted: dict[str, _Wanted] = {}
        for d in store.list_deployments():
            if d.status != "active":
                continue
            routes = tuple(r for r in d.routes if r.role in SERVING_ROLES)
            shadows = tuple(r for r in d.routes if r.role == SHADOW_ROLE
                            and r.version not in {s.version for s in routes})
            if routes:
                wanted[d.name] = _Wanted(d.model, "deployment", routes, d.revision, shadows)
        for m in store.list_models():
            version = m.aliases.get("production")
            if version is not None and m.name not in wanted:
                wanted[m.name] = _Wanted(m.name, "alias", (Route(version, 1.0, ALIAS_ROLE),))
        return wanted

    def _load_shadows(self, name: str, w: _Wanted) -> dict[int, RegisteredModel]:
        """Shadow versions that load; one that does not is skipped (never fails the name)."""
        loaded = {}
        for r in w.shadows:
            try:
                loaded[r.version] = self._load(w.model, r.version)
            except Exception as exc:
                self.errors += 1
                logger.warning("Could not load shadow %s/%s for %r (%s); serving without it.",
                               w.model, r.version, name, type(exc).__name__)
        return loaded

    def _load(self, model: str, version: int) -> RegisteredModel:
        key = (model, version)
        if key not in self._cache:
            self._cache[key] = self._loader(model, version)
            logger.info("Loaded %s/%s for serving.", model, version)
        return self._cache[key]

    def reconcile(self) -> RoutingTable:
        """Read the store once, load what is new, swap the snapshot; returns it.

        Store errors keep the previous snapshot (logged and counted in ``errors``).
        """
        with self._run_lock:
            old = self._table
            try:
                wanted = self._desired()
            except Exception as exc:
                self.errors += 1
                logger.warning("Reconcile could not read the store (%s); serving the "
                               "previous routing table.", type(exc).__name__)
                return old
            served: dict[str, ServedModel] = {}
            failed: dict[str, str] = {}
            for name, w in wanted.items():
                model, routes = w.model, w.routes
                previous = old.served.get(name)
                if previous is not None and previous.key() == w.key():
                    served[name] = previous
                    continue
                try:
                    loaded = {r.version: self._load(model, r.version) for r in routes}
                except Exception as exc:
                    self.errors += 1
                    logger.warning("Could not load %s for %r (%s: %s).", model, name,
                                   type(exc).__name__, getattr(exc, "message", ""))
                    if previous is not None:
                        served[name] = previous  # keep answering with what works
                    else:
                        failed[name] = type(exc).__name__
                    continue
                shadow_models = self._load_shadows(name, w)
                shadows = tuple(r for r in w.shadows if r.version in shadow_models)
                policy = WeightedPolicy(routes, self._rng, self._rng_lock)
                served[name] = ServedModel(name, model, w.source, routes, policy,
                                           {**shadow_models, **loaded}, w.revision, shadows)
            table = RoutingTable(served=served, failed=failed,
                                 generation=old.generation + 1)
            self._table = table  # the atomic swap
            in_use = {(s.model, v) for s in served.values() for v in s.loaded}
            for key in [k for k in self._cache if k not in in_use]:
                del self._cache[key]  # old snapshots still hold theirs until done
            return table

    def start(self) -> None:
        """Reconcile once now, then every ``interval_s`` on a daemon thread."""
        if self._thread is not None:
            return
        self._stop.clear()
        self.reconcile()
        self._thread = threading.Thread(target=self._run, name="mlpilot-gateway-reconciler",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop the background thread (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.reconcile()
            except Exception:  # never let the loop die
                logger.exception("Reconcile failed unexpectedly.")
