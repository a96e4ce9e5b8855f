"""Progressive canary delivery: step the canary's traffic up while analyses pass.

:class:`CanaryPolicy` is pure: ``decide(state)`` reads a :class:`CanaryState`
and returns a :class:`~mlpilot.delivery.decision.Decision`. The rules, in order:

1. weight 0 (not started) → ``step`` to the first weight (no analysis needed);
2. analysis ``fail`` at any time → ``rollback`` (baseline 100 %), without
   waiting for ``min_step_seconds``: a bad canary is pulled at once;
3. less than ``min_step_seconds`` at this weight → ``hold``;
4. analysis ``inconclusive`` → ``hold`` (or ``rollback`` once
   ``max_inconclusive_seconds`` passed at this weight, when set);
5. analysis ``pass`` below 100 % → ``step`` to the next weight;
6. analysis ``pass`` at 100 % → ``promote`` (canary becomes the only primary).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from mlpilot.core.entities import Route
from mlpilot.core.errors import InvalidArgument
from mlpilot.delivery.analysis import AnalysisResult, CanaryAnalysis, WindowStats
from mlpilot.delivery.decision import Decision, make_routes

_TOL = 1e-9


@dataclass(frozen=True)
class CanaryState:
    """What the policy needs to know about a running canary.

    Give either ``analysis`` (already computed) or both windows, which the
    policy's :class:`CanaryAnalysis` then compares.

    Attributes:
        baseline_version: the version in production.
        canary_version: the candidate.
        weight: the canary's current traffic share in [0, 1].
        step_started_at: when the current weight was applied.
        now: the current time (passed in: policies read no clock).
        analysis: the analysis of the current step's window.
        baseline: the baseline's window (used when ``analysis`` is ``None``).
        canary: the canary's window (used when ``analysis`` is ``None``).
    """

    baseline_version: int
    canary_version: int
    weight: float
    step_started_at: datetime
    now: datetime
    analysis: AnalysisResult | None = None
    baseline: WindowStats | None = None
    canary: WindowStats | None = None


class CanaryPolicy:
    """Steps a canary through traffic weights on passing analyses.

    Args:
        steps: increasing canary weights in (0, 1], ending at 1.0
            (default 5 %, 25 %, 50 %, 100 %).
        analysis: compares the windows when the state carries no analysis
            (default :class:`CanaryAnalysis` with default thresholds).
        min_step_seconds: minimum time at a weight before stepping (default 300).
        max_inconclusive_seconds: roll back when a weight stays inconclusive this
            long (default ``None``: hold forever, a human decides).

    Raises:
        InvalidArgument: steps not strictly increasing in (0, 1] or not ending at 1;
            negative durations.
    """

    def __init__(self, steps: Sequence[float] = (0.05, 0.25, 0.5, 1.0),
                 analysis: CanaryAnalysis | None = None, min_step_seconds: float = 300.0,
                 max_inconclusive_seconds: float | None = None) -> None:
        steps = tuple(float(s) for s in steps)
        if (not steps or any(not 0 < s <= 1 for s in steps) or abs(steps[-1] - 1.0) > _TOL
                or any(a >= b for a, b in zip(steps, steps[1:], strict=False))):
            raise InvalidArgument(
                "The 'steps' parameter of CanaryPolicy must be strictly increasing weights "
                f"in (0, 1] ending at 1.0. Got {list(steps)} instead."
            )
        if min_step_seconds < 0 or (max_inconclusive_seconds is not None
                                    and max_inconclusive_seconds < 0):
            raise InvalidArgument(
                "CanaryPolicy durations must be >= 0. Got min_step_seconds="
                f"{min_step_seconds}, max_inconclusive_seconds={max_inconclusive_seconds}."
            )
        self.steps = steps
        self.analysis = analysis or CanaryAnalysis()
        self.min_step_seconds = min_step_seconds
        self.max_inconclusive_seconds = max_inconclusive_seconds

    def _routes(self, state: CanaryState, weight: float) -> tuple[Route, ...]:
        if weight >= 1.0 - _TOL:
            # keep the baseline at 0 so it stays loaded for an instant rollback
            weights = {state.baseline_version: 0.0, state.canary_version: 1.0}
        else:
            weights = {state.baseline_version: 1.0 - weight, state.canary_version: weight}
        return make_routes(weights, roles={state.canary_version: "canary"})

    def next_weight(self, weight: float) -> float | None:
        """The step after ``weight``, or ``None`` at 100 %."""
        for s in self.steps:
            if s > weight + _TOL:
                return s
        return None

    def decide(self, state: CanaryState) -> Decision:
        """Decide the canary's next move.

        Args:
            state: the canary's weight, timing and analysis (or windows).

        Returns:
            ``hold``, ``step``, ``promote`` or ``rollback``, with the analysis in the
            evidence.

        Raises:
            InvalidArgument: the weight is outside [0, 1], or the state carries
                neither an analysis nor both windows once the canary has started.
        """
        if not 0 <= state.weight <= 1 + _TOL:
            raise InvalidArgument(
                f"A canary weight must be in [0, 1]. Got {state.weight} instead.")
        elapsed = (state.now - state.step_started_at).total_seconds()
        evidence: dict = {
            "baseline_version": state.baseline_version,
            "canary_version": state.canary_version, "weight": state.weight,
            "elapsed_seconds": elapsed, "min_step_seconds": self.min_step_seconds,
            "steps": list(self.steps),
        }
        if state.weight <= _TOL:
            first = self.steps[0]
            return Decision("step", f"start canary v{state.canary_version} at {first:.0%}",
                            {**evidence, "next_weight": first}, self._routes(state, first))

        result = state.analysis
        if result is None:
            if state.baseline is None or state.canary is None:
                raise InvalidArgument(
                    "CanaryState needs an 'analysis' or both 'baseline' and 'canary' windows.")
            result = self.analysis(state.baseline, state.canary)
        evidence["analysis"] = result.to_dict()
        here = f"at {state.weight:.0%}"

        if result.verdict == "fail":
            return Decision("rollback", f"roll back canary v{state.canary_version} {here}: "
                            f"{result.summary()}", evidence,
                            make_routes({state.baseline_version: 1.0}))
        if elapsed < self.min_step_seconds:
            return Decision("hold", f"hold canary {here}: {elapsed:.0f}s of the "
                            f"{self.min_step_seconds:.0f}s minimum per step", evidence)
        if result.verdict != "pass":
            limit = self.max_inconclusive_seconds
            if limit is not None and elapsed >= limit:
                return Decision("rollback", f"roll back canary v{state.canary_version} {here}: "
                                f"{result.summary()} for {elapsed:.0f}s (limit {limit:.0f}s)",
                                evidence, make_routes({state.baseline_version: 1.0}))
            return Decision("hold", f"hold canary {here}: {result.summary()}", evidence)
        nxt = self.next_weight(state.weight)
        if nxt is None:
            return Decision("promote", f"promote canary v{state.canary_version} to primary: "
                            f"{result.summary()} at 100%", evidence,
                            make_routes({state.canary_version: 1.0}))
        evidence["next_weight"] = nxt
        return Decision("step", f"step canary v{state.canary_version} from "
                        f"{state.weight:.0%} to {nxt:.0%}: {result.summary()}",
                        evidence, self._routes(state, nxt))
