"""The bandit engine: a reconciler that feeds rewards to a :class:`DiscountedThompsonBandit`.

:class:`BanditController` drives ``strategy == "bandit"`` deployments. Each
:meth:`~BanditController.tick` reads the rewards that became known since the
previous tick (feedback joined with the inference log, see
:func:`~mlpilot.delivery.windows.collect_rewards`), updates the bandit in the
order the requests were served, asks it for an allocation (with drift context
when given) and writes the new state back — and new routes when the bandit
decides to ``step``. Every consumed batch of rewards is stored as a decision
(``hold`` or ``step``) with its evidence: rewards per arm, posteriors, current
and target shares and which gate held traffic (``hysteresis``, ``switch_penalty``)
or let it move (``passed``).

State kept in the deployment's ``params`` (besides ``split`` and ``baseline``
written by :func:`mlpilot.deploy`):

* ``bandit`` — :meth:`DiscountedThompsonBandit.to_dict`, created on the first
  tick from the routes' versions; its configuration comes from the optional
  params ``discount``, ``prior``, ``hysteresis``, ``min_share``,
  ``switch_confidence``, ``drift_weight`` and ``seed``.
* ``bandit_started_at`` — requests served before it never count.
* ``rewards_until`` — the cursor: feedback whose *first* arrival is before it
  has been consumed. It only advances together with the bandit state, in the
  same revision-guarded write, so a lost race consumes nothing and no reward
  is ever counted twice.
* optional ``reward`` — ``"correct"`` (default: the prediction matches the
  label) or ``"label"`` (the label is a numeric business reward in [0, 1]).
* optional ``drift`` — ``{version: d}`` with ``d`` in [0, 1], used when
  :meth:`~BanditController.tick` gets no ``drift`` argument.
* optional ``settle_seconds`` (default 5) — feedback younger than this is left
  for the next tick, so the inference record it joins has reached the log.
* optional ``max_feedback_delay_seconds`` (default 7 days) — how far back a
  label's request may have been served; bounds what each tick reads.

A tick that finds no new rewards (and no new drift) writes nothing and records
its ``hold`` once: the previous decision is not repeated while nothing changes.
Store errors propagate; a lost race is recorded as the outcome ``"superseded"``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from mlpilot.core.clock import as_utc, utcnow
from mlpilot.core.entities import DecisionRecord, Deployment
from mlpilot.core.errors import Conflict, InvalidArgument, NotFound
from mlpilot.delivery.bandit import DiscountedThompsonBandit
from mlpilot.delivery.decision import Decision
from mlpilot.delivery.windows import Reward, collect_rewards, new_feedback

TARGET_KIND = "deployment"
#: the optional ``Deployment.params`` that configure a new bandit
BANDIT_KEYS = ("discount", "prior", "hysteresis", "min_share", "switch_confidence",
               "drift_weight", "seed")
DEFAULT_SETTLE_SECONDS = 5.0
DEFAULT_MAX_FEEDBACK_DELAY_SECONDS = 7 * 24 * 3600.0


def _drift(raw: Mapping[Any, Any] | None) -> dict[int, float]:
    """``{version: d}`` with int keys and ``d`` clamped to [0, 1]."""
    try:
        return {int(k): min(max(float(v), 0.0), 1.0) for k, v in (raw or {}).items()}
    except (TypeError, ValueError) as e:
        raise InvalidArgument(
            f"Drift context must map versions to numbers in [0, 1]. Got {raw!r}.") from e


def _per_arm(arms: tuple[int, ...], rewards: list[Reward]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for a in arms:
        values = [r.reward for r in rewards if r.version == a and r.reward is not None]
        out[str(a)] = {"count": len(values), "sum": sum(values),
                       "mean": sum(values) / len(values) if values else None}
    return out


class BanditController:
    """Applies :class:`DiscountedThompsonBandit` decisions to bandit deployments.

    Args:
        store: the metadata store (:class:`~mlpilot.store.Store`).
        log_dir: the gateway's inference-log directory; rewards come from its
            ``feedback`` sub-directory joined with the served requests.
        clock: returns the current time (tests inject one).
        n_samples: Monte Carlo draws per decision.

    Attributes:
        last_decision: the bandit's decision of the latest tick (``None`` when the
            tick had nothing to decide), recorded or not.
        last_note: why the latest tick decided nothing or recorded nothing.
        active: False when the latest tick found no active bandit to drive.
    """

    def __init__(self, store: Any, log_dir: str | os.PathLike[str],
                 clock: Callable[[], datetime] = utcnow, n_samples: int = 2000) -> None:
        self.store = store
        self.log_dir = log_dir
        self.clock = clock
        self.n_samples = n_samples
        self.last_decision: Decision | None = None
        self.last_note: str = ""
        self.active = True

    def _skip(self, note: str) -> None:
        self.last_note = note

    @staticmethod
    def _bandit(dep: Deployment, arms: tuple[int, ...]) -> tuple[DiscountedThompsonBandit, str]:
        """The stored bandit, or a new one (with why it is new)."""
        state = dep.params.get("bandit")
        if state is not None:
            bandit = DiscountedThompsonBandit.from_dict(state)
            if set(bandit.arms) == set(arms):
                return bandit, ""
            note = f"arms changed from {list(bandit.arms)} to {list(arms)}: new bandit"
        else:
            note = "first tick: new bandit"
        config = {k: dep.params[k] for k in BANDIT_KEYS if k in dep.params}
        if "prior" in config:
            config["prior"] = tuple(config["prior"])
        return DiscountedThompsonBandit(arms, **config), note

    def tick(self, deployment_name: str,
             drift: Mapping[int, float] | None = None) -> DecisionRecord | None:
        """Consume the new rewards of one bandit deployment and reallocate its traffic.

        Args:
            deployment_name: the deployment.
            drift: optional drift context per version in [0, 1] (default:
                ``params["drift"]``); see :meth:`DiscountedThompsonBandit.shares`.

        Returns:
            The stored decision (with its outcome), or ``None`` when nothing was
            recorded: not an active bandit, or no new rewards and the same hold
            as the previous decision (see :attr:`last_decision`, :attr:`last_note`).

        Raises:
            NotFound: no deployment has that name.
            InvalidArgument: malformed bandit state or drift context.
            StoreUnavailable: the store cannot be reached (store errors propagate).
        """
        self.last_decision, self.last_note, self.active = None, "", True
        dep = self.store.get_deployment(deployment_name)
        arms = tuple(dict.fromkeys(r.version for r in dep.routes))
        if dep.strategy != "bandit" or dep.status != "active" or len(arms) < 2:
            self.active = False
            self._skip(f"deployment {dep.name!r} is not an active bandit over two or more "
                       f"versions (strategy {dep.strategy}, status {dep.status}, "
                       f"versions {list(arms)})")
            return None
        params = dep.params
        now = self.clock()
        bandit, new_note = self._bandit(dep, arms)
        started = (as_utc(datetime.fromisoformat(params["bandit_started_at"]))
                   if "bandit_started_at" in params and not new_note
                   else min(as_utc(dep.updated_at), now))
        consumed = (as_utc(datetime.fromisoformat(params["rewards_until"]))
                    if "rewards_until" in params and not new_note else started)
        settle = float(params.get("settle_seconds", DEFAULT_SETTLE_SECONDS))
        cutoff = max(now - timedelta(seconds=settle), consumed)
        max_delay = timedelta(seconds=float(params.get("max_feedback_delay_seconds",
                                                       DEFAULT_MAX_FEEDBACK_DELAY_SECONDS)))
        mode = str(params.get("reward", "correct"))
        rewards: list[Reward] = []
        if cutoff > consumed:
            feedback = new_feedback(self.log_dir, consumed, cutoff,
                                    read_since=consumed - max_delay)
            rewards = collect_rewards(self.log_dir, dep.name, arms,
                                      since=max(started, consumed - max_delay), until=cutoff,
                                      feedback=feedback, mode=mode, model=dep.model)
        context = _drift(drift if drift is not None else params.get("drift"))
        drift_changed = context != _drift(params.get("last_drift"))
        valid = [r for r in rewards if r.reward is not None]
        for r in valid:
            bandit.update(r.version, r.reward)  # type: ignore[arg-type]
        current = {a: sum(r.weight for r in dep.routes if r.version == a) for a in arms}
        if not valid and not new_note and not drift_changed:
            return self._hold_unchanged(dep, bandit, current, len(rewards), consumed, cutoff)

        decision = bandit.decide(current, n_samples=self.n_samples, drift=context or None)
        ev = decision.evidence
        gate = ("passed" if decision.action == "step" else
                "hysteresis" if ev["distance"] <= bandit.hysteresis else "switch_penalty")
        evidence = {**ev, "gate": gate, "reward_mode": mode,
                    "rewards": _per_arm(arms, valid), "invalid_rewards": len(rewards) - len(valid),
                    "posterior": {str(a): list(ab) for a, ab in bandit.posterior().items()},
                    "feedback_window": {"since": consumed.isoformat(),
                                        "until": cutoff.isoformat()},
                    "deployment_revision": dep.revision, "now": now.isoformat(),
                    "note": new_note or None}
        reason = decision.reason if valid or not new_note else f"{new_note}; {decision.reason}"
        self.last_decision = dataclasses.replace(decision, reason=reason, evidence=evidence)
        record = self.store.record_decision(decision.action, TARGET_KIND, dep.name,
                                            reason=reason, evidence=evidence)
        new_params = {**params, "bandit": bandit.to_dict(),
                      "bandit_started_at": started.isoformat(),
                      "rewards_until": cutoff.isoformat(),
                      "last_drift": {str(k): v for k, v in context.items()}}
        routes = decision.routes if decision.routes is not None else dep.routes
        try:
            new = self.store.put_deployment(
                dep.name, model=dep.model, strategy=dep.strategy, routes=list(routes),
                params=new_params, slos=dep.slos, status="active",
                expected_revision=dep.revision, reason=f"bandit: {reason}")
            outcome, detail = "applied", {"revision": new.revision, "rewards_consumed":
                                          len(valid), "rewards_until": cutoff.isoformat()}
        except Conflict as exc:
            outcome, detail = "superseded", {"error": str(exc),
                                             "expected_revision": dep.revision}
        except (NotFound, InvalidArgument) as exc:
            outcome, detail = "failed", {"error": str(exc)}
        return self.store.set_decision_outcome(record.id, outcome, detail)

    def _hold_unchanged(self, dep: Deployment, bandit: DiscountedThompsonBandit,
                        current: dict[int, float], invalid: int, since: datetime,
                        until: datetime) -> DecisionRecord | None:
        """No new evidence: keep traffic, write nothing, record the hold once."""
        reason = (f"keep traffic: no new rewards since {since.isoformat()}"
                  + (f" ({invalid} labels were no valid reward)" if invalid else ""))
        post = bandit.posterior()
        key = {"no_new_rewards": True,
               "current": {str(a): round(w, 6) for a, w in current.items()}}
        decision = Decision("hold", reason, {
            "gate": "no_new_rewards", "current": {str(a): w for a, w in current.items()},
            "posterior": {str(a): list(ab) for a, ab in post.items()},
            "posterior_mean": {str(a): ab[0] / sum(ab) for a, ab in post.items()},
            "invalid_rewards": invalid,
            "feedback_window": {"since": since.isoformat(), "until": until.isoformat()},
            "deployment_revision": dep.revision, "hold_key": key})
        self.last_decision = decision
        previous = self.store.list_decisions(target_kind=TARGET_KIND, target=dep.name, limit=1)
        if previous and previous[0].action == "hold" and previous[0].evidence.get(
                "hold_key") == key:
            self._skip(f"no new rewards; same hold as decision {previous[0].id}, "
                       "not recorded again")
            return None
        return self.store.record_decision("hold", TARGET_KIND, dep.name, reason=reason,
                                          evidence=decision.evidence, outcome="applied")
