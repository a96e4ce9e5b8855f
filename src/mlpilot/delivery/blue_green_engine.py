"""Applies blue-green switches to the store: all traffic moves in one revision-guarded write.

The pair lives in the deployment's ``params`` as :meth:`BlueGreen.to_dict`
(``active``, ``standby``, ``previous``), written by :func:`mlpilot.deploy`; the
standby keeps a 0-weight route so the gateway keeps it loaded and a switch is
instant. Every switch is a decision (``switch`` / ``switch_back``) stored with
its reason and evidence, plus the ``deployment.put`` audit event.
"""

from __future__ import annotations

from typing import Any

from mlpilot.core.entities import DecisionRecord, Deployment
from mlpilot.core.errors import Conflict, InvalidArgument
from mlpilot.delivery.blue_green import BlueGreen
from mlpilot.delivery.decision import Decision

TARGET_KIND = "deployment"


def blue_green_pair(dep: Deployment) -> BlueGreen:
    """The blue-green pair of a deployment.

    Deployments written before the pair was kept in ``params`` (only a
    ``standby`` param) are read from their routes: the route with the most
    traffic is active, ``previous`` is unknown.

    Raises:
        InvalidArgument: not a blue-green deployment, or it has no standby version.
    """
    if dep.strategy != "blue-green":
        raise InvalidArgument(f"Deployment {dep.name!r} uses the {dep.strategy!r} strategy; "
                              "switch and switch-back need a blue-green deployment.")
    params = dep.params
    if params.get("active") is not None and params.get("standby") is not None:
        return BlueGreen.from_dict(params)
    active = max(dep.routes, key=lambda r: r.weight).version
    standby = params.get("standby")
    if standby is None:
        standby = next((r.version for r in dep.routes if r.version != active), None)
    if standby is None or int(standby) == active:
        raise InvalidArgument(f"Blue-green deployment {dep.name!r} has no standby version "
                              f"(only v{active}). Deploy with --baseline N to keep one.")
    return BlueGreen(active=active, standby=int(standby))


class BlueGreenController:
    """Switches blue-green deployments in a store.

    Args:
        store: the metadata store (:class:`~mlpilot.store.Store`).
    """

    def __init__(self, store: Any) -> None:
        self.store = store

    def switch(self, deployment_name: str, reason: str = "") -> DecisionRecord:
        """Send all traffic to the standby; the active version becomes the standby.

        Returns:
            The stored ``switch`` decision with outcome ``applied``.

        Raises:
            NotFound: no deployment has that name.
            InvalidArgument: not a blue-green deployment with a standby.
            Conflict: the deployment changed during the switch (recorded as
                ``superseded``; nothing changed — re-run it).
        """
        return self._apply(deployment_name, back=False, reason=reason)

    def switch_back(self, deployment_name: str, reason: str = "") -> DecisionRecord:
        """Undo the last switch: all traffic back to the previous active version.

        Raises:
            NotFound: no deployment has that name.
            InvalidArgument: not blue-green, or no switch to undo.
            Conflict: the deployment changed during the switch (recorded as ``superseded``).
        """
        return self._apply(deployment_name, back=True, reason=reason)

    def _apply(self, name: str, *, back: bool, reason: str) -> DecisionRecord:
        dep = self.store.get_deployment(name)
        pair = blue_green_pair(dep)
        if back and pair.previous is None:
            raise InvalidArgument(
                f"Blue-green deployment {name!r} has no switch to undo: v{pair.active} is "
                f"active and nothing was active before it. Use `mlpilot rollout switch "
                f"{name}` to send traffic to the standby v{pair.standby}.")
        decision: Decision = pair.switch_back() if back else pair.switch()
        why = f"{decision.reason}: {reason}" if reason else decision.reason
        after = BlueGreen.from_dict(decision.evidence["next"])
        record = self.store.record_decision(
            decision.action, TARGET_KIND, name, reason=why,
            evidence={**decision.evidence, "deployment_revision": dep.revision, "manual": True})
        try:
            new = self.store.put_deployment(
                name, model=dep.model, strategy=dep.strategy, routes=list(decision.routes or ()),
                params={**dep.params, **after.to_dict()}, slos=dep.slos, status=dep.status,
                expected_revision=dep.revision, reason=why)
        except Conflict as exc:
            self.store.set_decision_outcome(record.id, "superseded", {
                "error": str(exc), "expected_revision": dep.revision})
            raise
        return self.store.set_decision_outcome(record.id, "applied", {
            "revision": new.revision, "active": after.active, "standby": after.standby})
