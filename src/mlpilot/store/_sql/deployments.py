"""Deployments: an endpoint's desired state (strategies are filled in by the serving layer)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update

from mlpilot.core.clock import utcnow
from mlpilot.core.entities import Deployment, Route, VersionStatus
from mlpilot.core.errors import Conflict, InvalidArgument, NotFound
from mlpilot.core.names import validate_name
from mlpilot.store._sql import convert
from mlpilot.store._sql.registry import RegistryMixin
from mlpilot.store._sql.tables import DeploymentRow, LineageRow, ModelRow
from mlpilot.store._sql.util import insert_ignore

STRATEGIES = ("single", "canary", "shadow", "ab", "bandit", "blue-green")


class DeploymentMixin(RegistryMixin):
    """Desired-state records the gateways reconcile with."""

    def put_deployment(
        self,
        name: str,
        *,
        model: str,
        strategy: str,
        routes: Sequence[Route],
        params: dict[str, Any] | None = None,
        slos: dict[str, Any] | None = None,
        status: str = "active",
        expected_revision: int | None = None,
        reason: str = "",
    ) -> Deployment:
        """Create or replace a deployment's desired state.

        Args:
            expected_revision: optimistic-concurrency guard; if set and the stored
                revision differs, nothing changes and :class:`Conflict` is raised.

        Raises:
            InvalidArgument: unknown strategy, no routes, or weights not summing to 1.
            NotFound: if the model or a routed version does not exist.
            Conflict: stale ``expected_revision`` or an archived version in a route.
        """
        validate_name(name, "deployment name")
        if strategy not in STRATEGIES:
            raise InvalidArgument(
                f"No deployment strategy named {strategy!r}. Available: {list(STRATEGIES)}."
            )
        if not routes:
            raise InvalidArgument("A deployment needs at least one route.")
        total = sum(r.weight for r in routes)
        if any(r.weight < 0 for r in routes) or abs(total - 1.0) > 1e-6:
            raise InvalidArgument(
                "Route weights must be non-negative and sum to 1. "
                f"Got {[r.weight for r in routes]}."
            )
        with self._write() as s:
            m = self._model_row(s, model)
            for r in routes:
                if self._version_row(s, m, r.version).status == VersionStatus.ARCHIVED.value:
                    raise Conflict(f"Version {model}/{r.version} is archived; it cannot serve.")
            route_rows = [{"version": r.version, "weight": r.weight, "role": r.role}
                          for r in routes]
            now = utcnow()
            row = s.scalars(select(DeploymentRow).where(DeploymentRow.name == name)
                            .with_for_update()).one_or_none()
            if row is None:
                if expected_revision not in (None, 0):
                    raise Conflict(f"Deployment {name!r} does not exist (expected revision "
                                   f"{expected_revision}).")
                row = DeploymentRow(name=name, model_id=m.id, strategy=strategy,
                                    routes=route_rows, params=params or {}, slos=slos or {},
                                    status=status, revision=1, created_at=now, updated_at=now)
                s.add(row)
            else:
                if row.model_id != m.id:
                    raise Conflict(f"Deployment {name!r} serves another model.")
                if expected_revision is not None and expected_revision != row.revision:
                    raise Conflict(
                        f"Deployment {name!r} is at revision {row.revision}, not "
                        f"{expected_revision}: another writer changed it. Re-read and retry."
                    )
                changed = s.execute(
                    update(DeploymentRow)
                    .where(DeploymentRow.id == row.id, DeploymentRow.revision == row.revision)
                    .values(strategy=strategy, routes=route_rows, params=params or {},
                            slos=slos or {}, status=status, revision=row.revision + 1,
                            updated_at=now)
                ).rowcount
                if changed != 1:
                    raise Conflict(f"Deployment {name!r} changed concurrently; re-read and retry.")
            s.flush()
            insert_ignore(s, LineageRow.__table__, [
                {"source_kind": "version", "source_id": f"{model}/{r.version}",
                 "target_kind": "deployment", "target_id": name, "relation": "deployed",
                 "created_at": now} for r in routes
            ])
            self._emit(s, "deployment.put", "deployment", name, reason=reason,
                       payload={"strategy": strategy, "routes": route_rows})
        return self.get_deployment(name)

    def get_deployment(self, name: str) -> Deployment:
        """Return a deployment.

        Raises:
            NotFound: if no deployment has that name.
        """
        with self._read() as s:
            row = s.scalars(select(DeploymentRow).where(DeploymentRow.name == name)).one_or_none()
            if row is None:
                raise NotFound(f"No deployment named {name!r}.")
            return convert.deployment(row, s.get(ModelRow, row.model_id).name)  # type: ignore[union-attr]

    def list_deployments(self, model: str | None = None) -> list[Deployment]:
        """Deployments by name, optionally only those of ``model``."""
        with self._read() as s:
            stmt = select(DeploymentRow, ModelRow.name).join(
                ModelRow, ModelRow.id == DeploymentRow.model_id).order_by(DeploymentRow.name)
            if model is not None:
                stmt = stmt.where(ModelRow.name == model)
            return [convert.deployment(d, n) for d, n in s.execute(stmt)]

    def delete_deployment(self, name: str, *, reason: str = "") -> None:
        """Remove a deployment (gateways stop serving it on their next reconcile)."""
        with self._write() as s:
            row = s.scalars(select(DeploymentRow).where(DeploymentRow.name == name)).one_or_none()
            if row is None:
                raise NotFound(f"No deployment named {name!r}.")
            s.delete(row)
            self._emit(s, "deployment.delete", "deployment", name, reason=reason)
