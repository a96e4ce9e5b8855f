"""The canary engine: a reconciler that applies :class:`CanaryPolicy` decisions.

:class:`CanaryController` reads a canary deployment's desired state from the
store, builds the baseline's and the canary's windows from the inference log
(since the current step started), asks the pure policy what to do, and writes
the result back to the store — nothing else. Each :meth:`~CanaryController.tick`
is one reconcile pass; run it from a loop (``mlpilot rollout watch``), a cron job
or the autopilot. Any number of ticks may race: every write is guarded by the
deployment revision read at the start of the tick, and a lost race is recorded
as the outcome ``"superseded"`` (no retry: the next tick re-reads).

State kept in the deployment's ``params`` (besides ``steps`` and ``baseline``
written by :func:`mlpilot.deploy`): ``step`` (index in ``steps``),
``step_started_at`` (ISO 8601; initialised on the first tick to the time the
current routes were written), ``previous_step_started_at`` (at 100 % the
baseline serves nothing, so it is judged on the previous step's window) and
``phase`` (``"promoted"`` / ``"rolled_back"`` once finished).

Terminal states keep ``status="active"`` on purpose: the gateway serves only
active deployments, so another status would stop traffic to the endpoint. A
finished rollout is told by ``params["phase"]`` (and, after a promotion, by
``strategy="single"``).

Decisions: every ``step``/``promote``/``rollback`` is stored with
``record_decision`` (reason and evidence) and then ``set_decision_outcome``
(``"applied"``, ``"superseded"`` or ``"failed"``). A ``hold`` is stored with
outcome ``"applied"`` unless the previous decision on the deployment was a hold
for the same reason (same weight, same per-check verdicts, same wait) — a tick
every 30 s must not flood the decision log with identical holds.

The engine never raises because a model is bad (that is a rollback). Store
errors (unreachable database, …) propagate.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import Any

from mlpilot.core.clock import as_utc, utcnow
from mlpilot.core.entities import DecisionRecord, Deployment, Route
from mlpilot.core.errors import Conflict, InvalidArgument, NotFound
from mlpilot.delivery.canary import CanaryPolicy, CanaryState
from mlpilot.delivery.decision import Decision
from mlpilot.delivery.windows import collect_windows, summarize

TARGET_KIND = "deployment"
PROMOTED, ROLLED_BACK = "promoted", "rolled_back"


class CanaryController:
    """Applies canary decisions to deployments in a store (one reconcile pass per tick).

    Args:
        store: the metadata store (:class:`~mlpilot.store.Store`).
        log_dir: the gateway's inference-log directory; labels are read from its
            ``feedback`` sub-directory when present.
        policy: the policy to apply (default: a :class:`CanaryPolicy` with default
            thresholds and the deployment's own ``params["steps"]``).
        clock: returns the current time (tests inject one).

    Attributes:
        last_decision: the policy's decision of the latest tick (``None`` when the
            tick had nothing to decide), recorded or not.
        last_note: why the latest tick decided nothing or recorded nothing.
        active: False when the latest tick found no active canary to drive.
    """

    def __init__(self, store: Any, log_dir: str | os.PathLike[str],
                 policy: CanaryPolicy | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.log_dir = log_dir
        self.policy = policy
        self.clock = clock
        self.last_decision: Decision | None = None
        self.last_note: str = ""
        self.active = True

    # -- reading ---------------------------------------------------------------------
    def _policy(self, dep: Deployment) -> CanaryPolicy:
        if self.policy is not None:
            return self.policy
        steps = dep.params.get("steps")
        return CanaryPolicy(steps=steps) if steps else CanaryPolicy()

    def _feedback(self) -> dict[str, Any] | None:
        from mlpilot.serve.gateway.feedback import feedback_dir, read_feedback

        directory = feedback_dir(self.log_dir)
        return read_feedback(directory) if directory.is_dir() else None

    def _skip(self, note: str) -> DecisionRecord | None:
        """Nothing recorded this tick; say why."""
        self.last_note = note
        return None

    @staticmethod
    def _versions(dep: Deployment) -> tuple[int, Route] | None:
        canary = next((r for r in dep.routes if r.role == "canary"), None)
        if canary is None:
            return None
        baseline = dep.params.get("baseline")
        if baseline is None:
            baseline = next((r.version for r in dep.routes
                             if r.role == "primary" and r.version != canary.version), None)
        return (int(baseline), canary) if baseline is not None else None

    @staticmethod
    def _baseline_since(dep: Deployment, baseline: int, started: datetime) -> datetime:
        """Where the baseline's window starts.

        At 100 % the baseline serves nothing, so the current step has no baseline
        window: the baseline is then judged on the previous step's window too.
        """
        weight = sum(r.weight for r in dep.routes if r.version == baseline)
        previous = dep.params.get("previous_step_started_at")
        if weight > 0 or previous is None:
            return started
        return min(as_utc(datetime.fromisoformat(previous)), started)

    # -- the reconcile pass --------------------------------------------------------------
    def tick(self, deployment_name: str) -> DecisionRecord | None:
        """Decide and apply the next move of one canary deployment.

        Returns:
            The stored decision (with its outcome), or ``None`` when nothing was
            recorded: not an active canary, a finished rollout, a lost race while
            initialising ``step_started_at``, or a hold repeating the previous one
            (see :attr:`last_decision` and :attr:`last_note`).

        Raises:
            NotFound: no deployment has that name.
            StoreUnavailable: the store cannot be reached (store errors propagate).
        """
        self.last_decision, self.last_note, self.active = None, "", True
        dep = self.store.get_deployment(deployment_name)
        phase = dep.params.get("phase")
        if dep.strategy != "canary" or dep.status != "active" or phase in (PROMOTED,
                                                                            ROLLED_BACK):
            self.active = False
            return self._skip(f"deployment {dep.name!r} is not an active canary (strategy "
                              f"{dep.strategy}, status {dep.status}, phase {phase or '—'})")
        found = self._versions(dep)
        if found is None:
            self.active = False
            return self._skip(f"deployment {dep.name!r} has no canary route and baseline")
        baseline, canary_route = found
        now = self.clock()
        started_iso = dep.params.get("step_started_at")
        if started_iso is None:
            started = min(as_utc(dep.updated_at), now)
            try:
                dep = self._put(dep, routes=dep.routes,
                                params={**dep.params, "step_started_at": started.isoformat()},
                                reason="canary controller: track when the current step started")
            except Conflict:
                return self._skip("the deployment changed while initialising step_started_at; "
                                  "the next tick re-reads it")
        else:
            started = as_utc(datetime.fromisoformat(started_iso))

        policy = self._policy(dep)
        feedback = self._feedback()
        windows = collect_windows(self.log_dir, dep.name, [baseline, canary_route.version],
                                  since=started, until=now, feedback=feedback, model=dep.model)
        baseline_since = self._baseline_since(dep, baseline, started)
        if baseline_since != started:
            windows.update(collect_windows(self.log_dir, dep.name, [baseline],
                                           since=baseline_since, until=now,
                                           feedback=feedback, model=dep.model))
        decision = policy.decide(CanaryState(
            baseline_version=baseline, canary_version=canary_route.version,
            weight=canary_route.weight, step_started_at=started, now=now,
            baseline=windows[baseline], canary=windows[canary_route.version]))
        self.last_decision = decision
        evidence = {**decision.evidence, "deployment_revision": dep.revision,
                    "step_started_at": started.isoformat(), "now": now.isoformat(),
                    "baseline_window_since": baseline_since.isoformat(),
                    "windows": {"baseline": summarize(windows[baseline]),
                                "canary": summarize(windows[canary_route.version])}}
        if decision.action == "hold":
            return self._hold(dep, decision, evidence, policy)
        record = self.store.record_decision(decision.action, TARGET_KIND, dep.name,
                                            reason=decision.reason, evidence=evidence)
        try:
            outcome, detail = self._apply(dep, decision, policy, baseline,
                                          canary_route.version, started, now)
        except Conflict as exc:
            outcome, detail = "superseded", {"error": str(exc), "expected_revision": dep.revision}
        except (NotFound, InvalidArgument) as exc:
            outcome, detail = "failed", {"error": str(exc)}
        return self.store.set_decision_outcome(record.id, outcome, detail)

    # -- applying --------------------------------------------------------------------
    def _put(self, dep: Deployment, *, routes: Any, params: dict[str, Any], reason: str,
             strategy: str | None = None) -> Deployment:
        return self.store.put_deployment(
            dep.name, model=dep.model, strategy=strategy or dep.strategy, routes=list(routes),
            params=params, slos=dep.slos, status="active", expected_revision=dep.revision,
            reason=reason)

    def _hold(self, dep: Deployment, decision: Decision, evidence: dict[str, Any],
              policy: CanaryPolicy) -> DecisionRecord | None:
        analysis = decision.evidence.get("analysis") or {}
        key = {"weight": decision.evidence.get("weight"),
               "waiting": decision.evidence.get("elapsed_seconds", 0) < policy.min_step_seconds,
               "checks": {c["name"]: c["verdict"] for c in analysis.get("checks", [])}}
        previous = self.store.list_decisions(target_kind=TARGET_KIND, target=dep.name, limit=1)
        if previous and previous[0].action == "hold" and previous[0].evidence.get(
                "hold_key") == key:
            return self._skip(f"same hold as decision {previous[0].id}; not recorded again")
        return self.store.record_decision("hold", TARGET_KIND, dep.name, reason=decision.reason,
                                          evidence={**evidence, "hold_key": key},
                                          outcome="applied")

    def _apply(self, dep: Deployment, decision: Decision, policy: CanaryPolicy,
               baseline: int, canary: int, started: datetime,
               now: datetime) -> tuple[str, dict[str, Any]]:
        at = now.isoformat()
        if decision.action == "step" and decision.routes is not None:
            weight = float(decision.evidence["next_weight"])
            step = min(range(len(policy.steps)), key=lambda i: abs(policy.steps[i] - weight))
            new = self._put(dep, routes=decision.routes, reason=decision.reason,
                            params={**dep.params, "baseline": baseline, "step": step,
                                    "step_started_at": at,
                                    "previous_step_started_at": started.isoformat()})
            return "applied", {"revision": new.revision, "weight": weight, "step": step}
        if decision.action == "rollback":
            # the canary stays loaded at weight 0: re-trying it later needs no reload
            routes = [Route(baseline, 1.0), Route(canary, 0.0, "canary")]
            new = self._put(dep, routes=routes, reason=decision.reason,
                            params={**dep.params, "baseline": baseline, "phase": ROLLED_BACK,
                                    "rolled_back_at": at})
            return "applied", {"revision": new.revision, "routes": [[baseline, 1.0],
                                                                    [canary, 0.0]]}
        if decision.action == "promote":
            return self._promote(dep, decision, baseline, canary, at)
        return "failed", {"error": f"the canary engine cannot apply {decision.action!r}"}

    def _promote(self, dep: Deployment, decision: Decision, baseline: int, canary: int,
                 at: str) -> tuple[str, dict[str, Any]]:
        # The deployment goes first: its revision guard is the rollout's lock, so a lost
        # race changes nothing at all. Moving the alias first could point production at
        # a canary someone had just rolled back by hand.
        holder = self.store.get_model(dep.model).aliases.get("production")
        new = self._put(dep, routes=[Route(canary, 1.0)], strategy="single",
                        reason=decision.reason,
                        params={**dep.params, "baseline": baseline, "phase": PROMOTED,
                                "promoted_at": at})
        detail: dict[str, Any] = {"revision": new.revision, "production": {"from": holder,
                                                                           "to": canary}}
        if holder != canary:
            try:
                self.store.set_alias(dep.model, "production", canary, expected=holder,
                                     reason=decision.reason)
            except Conflict as exc:
                # half done: the endpoint serves the canary, the alias moved elsewhere
                return "failed", {**detail, "error": f"deployment promoted, but the "
                                  f"production alias was not moved: {exc}"}
        return "applied", detail
