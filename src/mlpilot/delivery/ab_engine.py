"""The A/B reporter: tests an ``ab`` deployment's two versions, never moves traffic.

:class:`ABController` reads both versions' windows since the experiment started
(:func:`~mlpilot.delivery.windows.collect_windows`, with feedback), compares
their accuracy with :func:`~mlpilot.delivery.ab.ab_test` (A = the baseline,
B = the candidate; a correct prediction is a success) and records a ``hold``
whose evidence is the test result. Stopping the experiment or shifting traffic
stays a human decision: the verdict says whether the difference is significant.

State kept in the deployment's ``params``: ``ab_started_at`` (ISO 8601;
initialised on the first tick to the time the routes were written). Optional
params: ``alpha`` (default 0.05) and ``min_samples`` (labelled requests per arm
before any verdict, default 100). A tick whose counts equal the previous
recorded ones is not recorded again.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import Any

from mlpilot.core.clock import as_utc, utcnow
from mlpilot.core.entities import DecisionRecord, Deployment
from mlpilot.core.errors import Conflict
from mlpilot.delivery.ab import ab_test
from mlpilot.delivery.decision import Decision
from mlpilot.delivery.windows import collect_windows, summarize

TARGET_KIND = "deployment"


class ABController:
    """Reports A/B test results of ``ab`` deployments as ``hold`` decisions.

    Args:
        store: the metadata store (:class:`~mlpilot.store.Store`).
        log_dir: the gateway's inference-log directory (feedback in ``feedback``).
        clock: returns the current time (tests inject one).

    Attributes:
        last_decision: the latest tick's decision (``None`` when there was nothing to test).
        last_note: why the latest tick tested or recorded nothing.
        active: False when the latest tick found no active A/B deployment.
    """

    def __init__(self, store: Any, log_dir: str | os.PathLike[str],
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.log_dir = log_dir
        self.clock = clock
        self.last_decision: Decision | None = None
        self.last_note: str = ""
        self.active = True

    @staticmethod
    def _arms(dep: Deployment) -> tuple[int, int] | None:
        versions = list(dict.fromkeys(r.version for r in dep.routes))
        baseline = dep.params.get("baseline")
        a = int(baseline) if baseline in versions else (versions[0] if versions else None)
        b = next((v for v in versions if v != a), None)
        return (a, b) if a is not None and b is not None and len(versions) == 2 else None

    def _feedback(self) -> dict[str, Any]:
        from mlpilot.serve.gateway.feedback import feedback_dir, read_feedback

        directory = feedback_dir(self.log_dir)
        return read_feedback(directory) if directory.is_dir() else {}

    def tick(self, deployment_name: str) -> DecisionRecord | None:
        """Test the A/B deployment's two versions and record the result.

        Returns:
            The stored ``hold`` decision, or ``None`` when nothing was recorded
            (not an active two-version A/B deployment, a lost race while
            initialising ``ab_started_at``, or the same counts as last time).

        Raises:
            NotFound: no deployment has that name.
            StoreUnavailable: the store cannot be reached.
        """
        self.last_decision, self.last_note, self.active = None, "", True
        dep = self.store.get_deployment(deployment_name)
        arms = self._arms(dep)
        if dep.strategy != "ab" or dep.status != "active" or arms is None:
            self.active = False
            self.last_note = (f"deployment {dep.name!r} is not an active A/B test of two "
                              f"versions (strategy {dep.strategy}, status {dep.status})")
            return None
        a, b = arms
        now = self.clock()
        if "ab_started_at" in dep.params:
            started = as_utc(datetime.fromisoformat(dep.params["ab_started_at"]))
        else:
            started = min(as_utc(dep.updated_at), now)
            try:
                dep = self.store.put_deployment(
                    dep.name, model=dep.model, strategy=dep.strategy, routes=list(dep.routes),
                    params={**dep.params, "ab_started_at": started.isoformat()},
                    slos=dep.slos, status=dep.status, expected_revision=dep.revision,
                    reason="A/B reporter: track when the experiment started")
            except Conflict:
                self.last_note = ("the deployment changed while initialising ab_started_at; "
                                  "the next tick re-reads it")
                return None
        windows = collect_windows(self.log_dir, dep.name, [a, b], since=started, until=now,
                                  feedback=self._feedback(), model=dep.model)
        wa, wb = windows[a], windows[b]
        alpha = float(dep.params.get("alpha", 0.05))
        min_samples = int(dep.params.get("min_samples", 100))
        result = ab_test(wa.correct or 0, wa.labelled or 0, wb.correct or 0, wb.labelled or 0,
                         alpha=alpha, min_samples=min_samples)
        if result.verdict == "insufficient":
            reason = (f"A/B v{a} vs v{b}: not enough labelled requests yet "
                      f"({result.n_a}/{result.n_b}, need {min_samples} each); traffic unchanged")
        elif result.significant:
            better, worse = (b, a) if result.verdict == "b_better" else (a, b)
            reason = (f"A/B v{a} vs v{b}: v{better} is significantly more accurate than "
                      f"v{worse} (accuracy {result.rate_a:.3f} vs {result.rate_b:.3f}, "
                      f"p={result.p_value:.3g} < {alpha}); traffic unchanged — decide by hand")
        else:
            reason = (f"A/B v{a} vs v{b}: no significant accuracy difference "
                      f"({result.rate_a:.3f} vs {result.rate_b:.3f}, p={result.p_value:.3g} "
                      f">= {alpha}); traffic unchanged")
        key = {"a": [wa.correct, wa.labelled], "b": [wb.correct, wb.labelled]}
        decision = Decision("hold", reason, {
            "test": result.to_dict(), "significant": result.significant, "a": a, "b": b,
            "metric": "accuracy", "started_at": started.isoformat(), "now": now.isoformat(),
            "windows": {"a": summarize(wa), "b": summarize(wb)},
            "deployment_revision": dep.revision, "hold_key": key})
        self.last_decision = decision
        previous = self.store.list_decisions(target_kind=TARGET_KIND, target=dep.name, limit=1)
        if previous and previous[0].action == "hold" and previous[0].evidence.get(
                "hold_key") == key:
            self.last_note = f"same counts as decision {previous[0].id}; not recorded again"
            return None
        return self.store.record_decision("hold", TARGET_KIND, dep.name, reason=reason,
                                          evidence=decision.evidence, outcome="applied")
