"""The autopilot controller: a reconciler from alerts, metrics and policy to decisions.

One :meth:`Controller.run_once` pass, per model with a policy:

1. **Resume**: finish the model's decisions left ``pending`` (a crash between
   "decision recorded" and "outcome set"), then act on ``ask_human`` decisions a
   person approved.
   A candidate held for its deployment window (``hold`` pending, ``scheduled_for``)
   deploys once the clock reaches the window.
2. **Rollout**: forecast the canary's SLO metrics (:mod:`mlpilot.pilot.predictive`)
   and roll back *before* an SLO is crossed when the forecast is confident it will
   be; otherwise tick the canary engine of the model's deployment (it steps, promotes
   or rolls back, and records its own decisions), each canary decision carrying the
   failure probability that past rollouts' early signals give it.
3. **Triggers**: schema breaks go to a human (``ask_human``) and block retraining;
   otherwise unhandled firings lead to ``hold`` (rollout in progress, cooldown,
   budget spent), ``ask_human`` (approval needed) or ``retrain`` → ``check`` →
   ``deploy``. With ``rollout.window``, a non-urgent candidate's deploy waits for the
   quietest forecast traffic window (:mod:`mlpilot.pilot.scheduling`).

Idempotency: every decision carries ``evidence["key"]``, a deterministic key
(``retrain:<first trigger key>``, ``check:<model>/<v>``, ``deploy:<model>/<v>``,
``approved:<ask id>``, ``window:<model>/<v>``); a step first looks for a decision with its
key and acts only on a pending one. Firing keys a decision consumed (``trigger_keys``) never
fire again. A retrain finds the version an interrupted attempt registered by its
``mlpilot.decision`` tag. Decisions are recorded before acting, outcomes after.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlpilot.core.clock import as_utc, utcnow
from mlpilot.core.entities import DecisionRecord
from mlpilot.core.errors import Conflict, NotFound
from mlpilot.core.jsonsafe import json_safe
from mlpilot.delivery.canary import CanaryPolicy, CanaryState
from mlpilot.delivery.decision import Decision
from mlpilot.pilot import actions
from mlpilot.pilot.actions import TARGET_KIND, Trainer
from mlpilot.pilot.leader import LeaderLock
from mlpilot.pilot.policy import ModelPolicy, NewDataTrigger, PilotPolicy
from mlpilot.pilot.triggers import Observation, evaluate, schema_breaks
from mlpilot.sdk._context import Context

if TYPE_CHECKING:  # forecasting pulls in scipy and the monitor: imported when first used
    from mlpilot.pilot.forecast import EarlySignalModel
    from mlpilot.pilot.scheduling import WindowPlan

ACTOR = "autopilot"
_HISTORY = 2000  # decisions read per model per pass: the idempotency window


@dataclass
class PassReport:
    """What one pass did: the decisions it recorded or completed, and notes."""

    decisions: list[DecisionRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class _GatedCanary(CanaryPolicy):
    """A canary policy whose promote/rollback waits for a human when the policy says so.

    With ``risk`` (learnt from past rollouts), every decision carrying a canary analysis
    gets ``evidence["early_signal"]``; a step or promotion whose failure probability is
    above ``max_failure_probability`` becomes a hold.
    """

    def __init__(self, approved: Callable[[str, int], bool], gated: Sequence[str], *,
                 risk: EarlySignalModel | None = None,
                 max_failure_probability: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.approved, self.gated = approved, tuple(gated)
        self.risk, self.max_failure_probability = risk, max_failure_probability
        self.waiting: Decision | None = None

    def _weigh(self, decision: Decision, state: CanaryState) -> Decision:
        if self.risk is None or "analysis" not in decision.evidence:
            return decision
        p = self.risk.predict_proba(decision.evidence)
        limit = self.max_failure_probability
        signal = {"failure_probability": p, "threshold": limit, "model": self.risk.to_dict()}
        evidence = {**decision.evidence, "early_signal": signal}
        if limit is not None and p > limit and decision.action in ("step", "promote"):
            return Decision("hold", f"hold canary v{state.canary_version} at "
                            f"{state.weight:.0%}: past rollouts with these early signals "
                            f"failed (P(failure) = {p:.2f} > {limit:.2f})",
                            {**evidence, "held_by_early_signal": decision.action})
        return Decision(decision.action, decision.reason, evidence, decision.routes)

    def decide(self, state: CanaryState) -> Decision:
        decision = self._weigh(super().decide(state), state)
        if decision.action in self.gated and not self.approved(decision.action,
                                                                state.canary_version):
            self.waiting = decision
            return Decision("hold", f"awaiting human approval to {decision.action}: "
                            f"{decision.reason}", {**decision.evidence,
                                                   "awaiting_approval": decision.action})
        return decision


class Controller:
    """The autopilot: reads alerts, metric points, decisions and policy; writes decisions.

    Args:
        context: the SDK context; the controller acts as ``actor="autopilot"``.
        policy: the policies of the models to drive.
        trainer: trains and registers a version (default :func:`actions.default_trainer`).
        log_dir: the gateway's inference log (default ``$MLPILOT_HOME/inference-log``).
        clock: returns the current time (tests inject one).
    """

    def __init__(self, context: Context, policy: PilotPolicy, *, trainer: Trainer | None = None,
                 log_dir: str | os.PathLike[str] | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.context = dataclasses.replace(context, store=context.store.with_actor(ACTOR))
        self.store = self.context.store
        self.policy = policy
        self.trainer: Trainer = trainer or actions.default_trainer
        self.log_dir = log_dir or context.settings.home / "inference-log"
        self.clock = clock

    # -- the loop ------------------------------------------------------------------------
    def run_once(self) -> PassReport:
        """One reconcile pass over every enabled model policy."""
        report = PassReport()
        for policy in self.policy.models.values():
            if policy.enabled:
                self._reconcile(policy, report)
        return report

    def run(self, *, interval: float = 30.0, passes: int | None = None,
            lock: LeaderLock | None = None, on_pass: Callable[[PassReport], None] | None = None,
            ) -> None:
        """Passes every ``interval`` seconds while holding the leader lock (standby until then).

        Args:
            passes: stop after this many passes (None: forever).
        """
        lock = lock or LeaderLock(self.store)
        done = 0
        try:
            while passes is None or done < passes:
                if lock.acquire() and lock.still_held():
                    result = self.run_once()
                    done += 1
                    if on_pass:
                        on_pass(result)
                if passes is None or done < passes:
                    time.sleep(interval)
        finally:
            lock.release()

    # -- one model -----------------------------------------------------------------------
    def _history(self, model: str) -> list[DecisionRecord]:
        """The model's decisions, oldest first."""
        return list(reversed(self.store.list_decisions(target_kind=TARGET_KIND, target=model,
                                                       limit=_HISTORY)))

    def _reconcile(self, policy: ModelPolicy, report: PassReport) -> None:
        model = policy.model
        try:
            self.store.get_model(model)
        except NotFound:
            report.notes.append(f"{model}: no such model yet; nothing to drive")
            return
        history = self._history(model)
        for d in history:  # 1. resume what a crash left pending
            if d.outcome == "pending" and d.action in ("retrain", "check", "deploy"):
                self._advance(policy, d, report)
            elif _waits_for_window(d):
                self._window_due(policy, d, report)
        for d in history:  # 1b. what humans approved
            if d.action == "ask_human" and d.outcome == "approved" \
                    and d.evidence.get("action") in ("retrain", "deploy"):
                self._after_approval(policy, d, report)
        rolling = self._tick_rollout(policy, report)  # 2.
        self._triggers(policy, self._history(model), rolling, report)  # 3.

    def _find(self, history: Sequence[DecisionRecord], key: str) -> DecisionRecord | None:
        return next((d for d in history if d.evidence.get("key") == key), None)

    def _ensure(self, policy: ModelPolicy, action: str, key: str, reason: str,
                evidence: dict[str, Any], report: PassReport,
                outcome: str = "pending") -> DecisionRecord:
        """The decision with ``key``, recorded first if there is none yet."""
        found = self._find(self._history(policy.model), key)
        if found is not None:
            return found
        record = self.store.record_decision(action, TARGET_KIND, policy.model, reason=reason,
                                            evidence={**evidence, "key": key},
                                            outcome=outcome)
        report.decisions.append(record)
        return record

    def _finish(self, d: DecisionRecord, outcome: str, detail: dict[str, Any],
                report: PassReport) -> DecisionRecord:
        done = self.store.set_decision_outcome(d.id, outcome, detail)
        report.decisions.append(done)
        return done

    def _advance(self, policy: ModelPolicy, d: DecisionRecord, report: PassReport) -> None:
        """Carry a retrain → check → deploy chain from ``d`` as far as it goes."""
        current: DecisionRecord | None = d
        while current is not None:
            current = self._step(policy, current, report)

    def _step(self, policy: ModelPolicy, d: DecisionRecord,
              report: PassReport) -> DecisionRecord | None:
        model, ev = policy.model, d.evidence
        if d.action == "retrain":
            if d.outcome == "pending":
                d = self._finish(d, *actions.retrain(self.context, policy, d, self.trainer),
                                 report)
            if d.outcome != "applied":
                return None
            v = int(d.outcome_detail["version"])
            return self._ensure(policy, "check", f"check:{model}/{v}",
                                f"check {model}/{v} before any rollout",
                                {"version": v, "retrain": d.id, "checks": policy.checks.only},
                                report)
        if d.action == "check":
            v = int(ev["version"])
            if d.outcome == "pending":
                d = self._finish(d, *actions.check(self.context, policy, v), report)
            if d.outcome != "applied":
                return None
            return self._propose_deploy(policy, v, d, report)
        if d.action == "deploy" and d.outcome == "pending":
            self._finish(d, *actions.deploy(self.context, policy, int(ev["version"]), d.reason),
                         report)
        return None

    def _propose_deploy(self, policy: ModelPolicy, v: int, check: DecisionRecord,
                        report: PassReport) -> DecisionRecord | None:
        model = policy.model
        evidence: dict[str, Any] = {"version": v, "check": check.id,
                                    "strategy": policy.rollout.strategy,
                                    "blessed": check.outcome_detail.get("blessed")}
        key = f"deploy:{model}/{v}"
        if policy.needs_approval("deploy"):
            self._ensure(policy, "ask_human", f"ask:{key}",
                         f"approve deploying {model}/{v} ({policy.rollout.strategy})",
                         {**evidence, "action": "deploy"}, report)
            return None
        reason = f"deploy {model}/{v} as {policy.rollout.strategy}: blessed by check " \
                 f"decision {check.id}"
        if self._find(self._history(model), key) is None:
            plan = self._plan_window(policy, check)
            if plan is not None:
                evidence["window"] = plan.evidence
                if plan.wait:
                    when = plan.start.isoformat(timespec="minutes")
                    self._ensure(policy, "hold", f"window:{model}/{v}",
                                 f"{reason}; not urgent, so it waits for the quietest traffic "
                                 f"window at {when}", {**evidence, "hold": "window",
                                                       "scheduled_for": plan.start.isoformat()},
                                 report)
                    return None
        return self._ensure(policy, "deploy", key, reason, evidence, report)

    def _plan_window(self, policy: ModelPolicy,
                     check: DecisionRecord) -> WindowPlan | None:
        """When a non-urgent candidate should deploy (None: no window, or urgent)."""
        from mlpilot.pilot import scheduling

        spec = policy.rollout.window
        if spec is None or self.store.get_model(policy.model).aliases.get(
                "production") is None:
            return None  # nothing serves yet: no traffic to spare
        retrain = next((d for d in self._history(policy.model)
                        if d.id == check.evidence.get("retrain")), None)
        if retrain is None or scheduling.is_urgent(retrain.evidence.get("firings") or ()):
            return None
        now = as_utc(self.clock())
        times = scheduling.request_times(self.log_dir, policy.model, policy.deployment,
                                         now - spec.history, now)
        return scheduling.plan_window(times, now, spec)

    def _window_due(self, policy: ModelPolicy, hold: DecisionRecord,
                    report: PassReport) -> None:
        """Deploy a candidate held for its window once the window has come."""
        due = as_utc(datetime.fromisoformat(hold.evidence["scheduled_for"]))
        now = as_utc(self.clock())
        if now < due:
            report.notes.append(f"{policy.model}: v{hold.evidence.get('version')} waits for "
                                f"its deployment window at {due.isoformat(timespec='minutes')}")
            return
        ev = {k: v for k, v in hold.evidence.items() if k not in ("key", "hold",
                                                                   "scheduled_for")}
        v = int(ev["version"])
        d = self._ensure(policy, "deploy", f"deploy:{policy.model}/{v}",
                         f"deploy {policy.model}/{v} as {policy.rollout.strategy}: its "
                         f"deployment window (decision {hold.id}) has come",
                         {**ev, "window_hold": hold.id}, report)
        self._finish(hold, "applied", {"deploy": d.id, "at": now.isoformat()}, report)
        self._advance(policy, d, report)

    def _after_approval(self, policy: ModelPolicy, ask: DecisionRecord,
                        report: PassReport) -> None:
        key = f"approved:{ask.id}"
        if self._find(self._history(policy.model), key) is not None:
            return  # acted on already (any pending follow-up was resumed above)
        by = ask.outcome_detail.get("by", "a human")
        ev = {k: v for k, v in ask.evidence.items() if k != "key"}
        action = ask.evidence["action"]
        reason = f"approved by {by} (decision {ask.id}): {ask.reason}"
        if action == "retrain":
            ev["trigger_keys"] = []  # the ask consumed them
        d = self._ensure(policy, action, key, reason, {**ev, "approval": ask.id}, report)
        self._advance(policy, d, report)

    # -- rollouts --------------------------------------------------------------------------
    def _approved(self, model: str) -> Callable[[str, int], bool]:
        def approved(action: str, version: int) -> bool:
            d = self._find(self._history(model), f"ask:{action}:{model}/{version}")
            return d is not None and d.outcome == "approved"
        return approved

    def _tick_rollout(self, policy: ModelPolicy, report: PassReport) -> bool:
        """Drive the model's canary; True while a rollout is in progress."""
        from mlpilot.delivery.engine import CanaryController

        try:
            dep = self.store.get_deployment(policy.deployment)
        except NotFound:
            return False
        if dep.strategy != "canary" or dep.params.get("phase") or dep.status != "active":
            return False
        if self._predict(policy, dep, report):
            return False
        gated = [a for a in ("promote", "rollback") if policy.needs_approval(a)]
        spec = policy.rollout.predictive
        canary = _GatedCanary(self._approved(policy.model), gated,
                              risk=self._early_signals() if spec.enabled else None,
                              max_failure_probability=spec.max_failure_probability,
                              steps=dep.params.get("steps") or policy.rollout.steps
                              or (0.05, 0.25, 0.5, 1.0),
                              min_step_seconds=policy.rollout.min_step_seconds,
                              max_inconclusive_seconds=policy.rollout.max_inconclusive_seconds)
        engine = CanaryController(self.store, self.log_dir, policy=canary, clock=self.clock)
        record = engine.tick(dep.name)
        if record is not None:
            report.decisions.append(record)
        if canary.waiting is not None:
            route = next((r for r in dep.routes if r.role == "canary"), None)
            if route is not None:
                action = canary.waiting.action
                self._ensure(policy, "ask_human", f"ask:{action}:{policy.model}/{route.version}",
                             f"approve: {canary.waiting.reason}",
                             {"action": action, "deployment": dep.name,
                              "version": route.version, "canary": canary.waiting.evidence},
                             report)
        return engine.active and (record is None or record.action not in ("promote",
                                                                          "rollback"))

    def _early_signals(self) -> EarlySignalModel | None:
        """The early-signal model of every finished rollout in the decision log."""
        from mlpilot.delivery.engine import TARGET_KIND as DEPLOYMENT
        from mlpilot.pilot import predictive

        decisions = self.store.list_decisions(target_kind=DEPLOYMENT, limit=_HISTORY)
        return predictive.early_signal_model(decisions)

    def _predict(self, policy: ModelPolicy, dep: Any, report: PassReport) -> bool:
        """Roll the canary back now when its SLO forecast says so; True when rolled back."""
        from mlpilot.pilot import predictive

        spec = policy.rollout.predictive
        found = predictive.baseline_of(dep)
        if not spec.enabled or not policy.slos or found is None or found[1].weight <= 0:
            return False
        baseline, route = found
        now = as_utc(self.clock())
        deploy = self._find(self._history(policy.model), f"deploy:{policy.model}/"
                            f"{route.version}")
        since = predictive.rollout_since(now, spec.lookback,
                                         as_utc(deploy.time) if deploy is not None else None)
        assessment = predictive.assess(self.store, self.log_dir, dep, route.version,
                                       policy.slos, spec, now=now, since=since)
        worst = assessment.worst
        if worst is None:
            return False
        series, verdict = worst
        reason = (f"roll back canary v{route.version} at {route.weight:.0%} before it breaks "
                  f"its {series.metric} SLO ({series.slo:.4g}): {verdict.reason}")
        evidence = json_safe({
            "predictive": True, "baseline_version": baseline, "canary_version": route.version,
            "weight": route.weight, "metric": series.metric, "slo": series.slo,
            "source": series.source, "forecast": verdict.evidence,
            "series": series.to_dict(), "assessment": assessment.to_dict(),
            "series_since": since.isoformat()})
        if policy.needs_approval("rollback") and not self._approved(policy.model)(
                "rollback", route.version):
            self._ensure(policy, "ask_human", f"ask:rollback:{policy.model}/{route.version}",
                         f"approve: {reason}", {"action": "rollback", "deployment": dep.name,
                                                 "version": route.version, "canary": evidence},
                         report)
            return False
        record = predictive.roll_back(self.store, dep, baseline, route.version, reason=reason,
                                      evidence=evidence, now=now)
        report.decisions.append(record)
        return record.outcome == "applied"

    # -- triggers --------------------------------------------------------------------------
    def _observe(self, policy: ModelPolicy, history: Sequence[DecisionRecord]) -> Observation:
        model, now = policy.model, self.clock()
        store = self.store
        alerts = store.list_alerts(model=model, active=True, limit=500)
        points = store.list_metric_points(model, since=now - timedelta(days=2), limit=10_000)
        names = {t.dataset for t in policy.triggers if isinstance(t, NewDataTrigger)}
        datasets = [d for name in names for d in store.list_datasets(name)]
        production = None
        alias = store.get_model(model).aliases.get("production")
        if alias is not None:
            production = store.get_version(model, alias)
        requests = [d for d in history if d.action == "request_retrain"
                    and d.outcome == "pending"]
        return Observation(model=model, now=now, alerts=alerts, points=points,
                           datasets=datasets, production=production, requests=requests,
                           since=self._since(model))

    def _since(self, model: str) -> datetime:
        """When the autopilot first drove ``model`` (kept in a store cursor)."""
        key = f"autopilot:{model}"
        state = self.store.get_monitor_cursor(key)
        if state is None:
            try:
                self.store.set_monitor_cursor(key, {"since": self.clock().isoformat()},
                                              create_only=True)
            except Conflict:
                pass
            state = self.store.get_monitor_cursor(key) or {}
        return as_utc(datetime.fromisoformat(state["since"]))

    def _triggers(self, policy: ModelPolicy, history: list[DecisionRecord], rolling: bool,
                  report: PassReport) -> None:
        model = policy.model
        obs = self._observe(policy, history)
        handled = {k for d in history for k in d.evidence.get("trigger_keys", ())}
        handled |= {d.evidence.get("key") for d in history}
        breaks = schema_breaks(obs)
        for b in breaks:
            if b.key not in handled:
                self._ensure(policy, "ask_human", b.key,
                             f"{b.reason} — a schema break never retrains; fix the data or "
                             "the pipeline, then resolve the alert",
                             {"action": "investigate", "firing": b.to_dict(),
                              "trigger_keys": [b.key]}, report)
        firings = [f for f in evaluate(policy.triggers, obs) if f.key not in handled]
        if not firings:
            return
        keys = [f.key for f in firings]
        evidence = {"firings": [f.to_dict() for f in firings]}
        if breaks:
            self._hold(policy, history, "schema", f"schema break ({breaks[0].reason}); "
                       "retraining waits for a human", {**evidence,
                                                        "schema_breaks": [b.key for b in breaks]},
                       keys, report)
            return
        waiting = [d for d in history if _waits_for_window(d)]
        if waiting and not rolling and _urgent(f.to_dict() for f in firings):
            for d in waiting:  # an urgent retrain replaces a candidate waiting for its window
                self._finish(d, "superseded", {"by": keys}, report)
            history = self._history(model)
        if rolling or self._in_flight(history):
            report.notes.append(f"{model}: a rollout or retrain is in progress; triggers wait")
            return
        why = self._cooldown(policy, history) or self._budget_spent(policy, history)
        if why is not None:
            self._hold(policy, history, why[0], why[1], {**evidence, **why[2]}, keys, report)
            return
        for r in obs.requests:  # the request is answered by this decision
            self.store.set_decision_outcome(r.id, "applied", {"handled": True})
        production = obs.production.version if obs.production else None
        evidence.update(trigger_keys=keys, parent_version=production,
                        budget=self._usage(policy, history))
        reason = "; ".join(f.reason for f in firings[:3])
        if policy.needs_approval("retrain"):
            self._ensure(policy, "ask_human", f"ask:retrain:{keys[0]}",
                         f"approve retraining {model}: {reason}",
                         {**evidence, "action": "retrain"}, report)
            return
        d = self._ensure(policy, "retrain", f"retrain:{keys[0]}", f"retrain {model}: {reason}",
                         evidence, report)
        self._advance(policy, d, report)

    @staticmethod
    def _in_flight(history: Sequence[DecisionRecord]) -> bool:
        return any((d.outcome == "pending" and d.action in ("retrain", "check", "deploy"))
                   or _waits_for_window(d) for d in history)

    def _hold(self, policy: ModelPolicy, history: Sequence[DecisionRecord], kind: str,
              reason: str, evidence: dict[str, Any], keys: list[str],
              report: PassReport) -> None:
        """Record a hold once per (kind, firings): a loop must not flood the log."""
        last = next((d for d in reversed(history) if d.action == "hold"), None)
        key = f"hold:{kind}:{'|'.join(sorted(keys))}"
        if last is not None and last.evidence.get("hold_key") == key:
            return
        record = self.store.record_decision("hold", TARGET_KIND, policy.model, reason=reason,
                                            evidence={**evidence, "hold_key": key,
                                                      "hold": kind},
                                            outcome="applied")
        report.decisions.append(record)

    def _usage(self, policy: ModelPolicy, history: Sequence[DecisionRecord]) -> dict[str, Any]:
        since = self.clock() - timedelta(days=1)
        recent = [d for d in history if d.action == "retrain" and as_utc(d.time) >= since
                  and d.outcome in ("pending", "applied", "failed")]
        seconds = sum(float(d.outcome_detail.get("compute_seconds") or 0.0) for d in recent)
        b = policy.budgets
        return {"retrains_24h": len(recent), "max_retrains_per_day": b.max_retrains_per_day,
                "compute_seconds_24h": round(seconds, 3),
                "max_compute_seconds_per_day": b.max_compute_seconds_per_day}

    def _budget_spent(self, policy: ModelPolicy, history: Sequence[DecisionRecord],
                      ) -> tuple[str, str, dict[str, Any]] | None:
        usage, b = self._usage(policy, history), policy.budgets
        if b.max_retrains_per_day is not None and \
                usage["retrains_24h"] >= b.max_retrains_per_day:
            return ("budget", f"retrain budget spent: {usage['retrains_24h']} of "
                    f"{b.max_retrains_per_day} retrains in the last 24 h", {"budget": usage})
        if b.max_compute_seconds_per_day is not None and \
                usage["compute_seconds_24h"] >= b.max_compute_seconds_per_day:
            return ("budget", f"compute budget spent: {usage['compute_seconds_24h']:.0f} s of "
                    f"{b.max_compute_seconds_per_day:.0f} s in the last 24 h", {"budget": usage})
        return None

    def _cooldown(self, policy: ModelPolicy, history: Sequence[DecisionRecord],
                  ) -> tuple[str, str, dict[str, Any]] | None:
        if not policy.cooldown_seconds:
            return None
        last = next((d for d in reversed(history) if d.action == "retrain"), None)
        if last is None:
            return None
        age = (self.clock() - as_utc(last.time)).total_seconds()
        if age >= policy.cooldown_seconds:
            return None
        return ("cooldown", f"last retrain (decision {last.id}) {age:.0f} s ago, cooldown "
                f"{policy.cooldown_seconds:.0f} s", {"last_retrain": last.id})


def _waits_for_window(d: DecisionRecord) -> bool:
    """A candidate's deploy held (pending) until its deployment window."""
    return d.action == "hold" and d.outcome == "pending" and "scheduled_for" in d.evidence


def _urgent(firings: Any) -> bool:
    from mlpilot.pilot.scheduling import is_urgent

    return is_urgent(firings)
