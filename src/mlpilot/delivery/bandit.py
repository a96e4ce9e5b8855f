"""Traffic allocation by discounted Thompson sampling, with hysteresis.

Each arm (a model version) has a Beta posterior over its reward rate (a
conversion, a correct prediction: any reward in [0, 1]). Every :meth:`update`
first *discounts* all arms' evidence by ``discount`` (Raj & Kalyani, 2017), so
old rewards fade with an effective memory of about ``1 / (1 - discount)``
updates and the bandit follows arms whose quality changes over time.

:meth:`DiscountedThompsonBandit.shares` is the posterior probability that each
arm is best (Monte Carlo over posterior draws), floored at ``min_share`` so every
arm keeps some traffic and evidence. :meth:`~DiscountedThompsonBandit.decide`
moves traffic only when the new allocation differs from the current one by more
than ``hysteresis`` in total-variation distance (half the L1 distance): a dead
band that ignores small moves.

Drift context: ``shares(drift={arm: d})`` with ``d`` in [0, 1] (e.g. the share
of drifted features the monitor reports for that arm's traffic) multiplies each
posterior draw of that arm by ``1 - drift_weight * d`` before the argmax, so an
arm whose inputs drift loses traffic in proportion to how much it drifts.

:meth:`~DiscountedThompsonBandit.decide` also charges a switching penalty: it
changes traffic only when the posterior probability that the new allocation earns
more reward than the current one reaches ``switch_confidence``. Equal arms give a
posterior probability of "best" that wanders all over [0, 1]; the two gates
together keep that wandering from becoming traffic changes. The price: once
traffic has moved, equal arms may keep an uneven split (never below
``min_share``) until the evidence clearly favours another allocation.

The whole state is plain JSON (:meth:`to_dict` / :meth:`from_dict`), meant to
live in ``Deployment.params``; randomness is derived from ``seed`` and a draw
counter kept in that state, so a restored bandit continues the same stream.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlpilot.core.errors import InvalidArgument
from mlpilot.delivery.decision import Decision, make_routes


class DiscountedThompsonBandit:
    """A non-stationary Bernoulli Thompson-sampling allocator over versions.

    Args:
        arms: the versions competing (at least two, distinct).
        discount: evidence kept per update, in (0, 1] (default 0.99; 1 = stationary).
        prior: Beta prior ``(alpha, beta)`` (default ``(1, 1)``, uniform).
        hysteresis: total-variation distance the target allocation must exceed
            before traffic changes (default 0.15).
        min_share: traffic floor per arm (default 0.05; ``len(arms) * min_share <= 1``).
        switch_confidence: the switching penalty: traffic changes only when the
            posterior probability that the new allocation earns more reward than
            the current one is at least this (default 0.95; 0 disables it).
        drift_weight: how strongly drift context down-weights an arm (default 0.5).
        seed: seeds the Monte Carlo draws (default ``None``: fresh entropy).

    Raises:
        InvalidArgument: on any parameter out of range.
    """

    def __init__(self, arms: Sequence[int], *, discount: float = 0.99,
                 prior: tuple[float, float] = (1.0, 1.0), hysteresis: float = 0.15,
                 min_share: float = 0.05, switch_confidence: float = 0.95,
                 drift_weight: float = 0.5, seed: int | None = None) -> None:
        arms = [int(a) for a in arms]
        if len(arms) < 2 or len(set(arms)) != len(arms):
            raise InvalidArgument(
                f"A bandit needs at least two distinct arms. Got {arms} instead.")
        if not 0 < discount <= 1:
            raise InvalidArgument(
                f"The 'discount' parameter must be a float in (0, 1]. Got {discount} instead.")
        if len(prior) != 2 or min(prior) <= 0:
            raise InvalidArgument(
                f"The 'prior' parameter must be two positive floats. Got {prior} instead.")
        if not 0 <= hysteresis < 1:
            raise InvalidArgument(
                f"The 'hysteresis' parameter must be in [0, 1). Got {hysteresis} instead.")
        if not 0 <= min_share or min_share * len(arms) > 1:
            raise InvalidArgument(
                f"The 'min_share' parameter must be in [0, 1/len(arms)] = "
                f"[0, {1 / len(arms):.3g}]. Got {min_share} instead.")
        if not 0 <= switch_confidence < 1:
            raise InvalidArgument(
                "The 'switch_confidence' parameter must be in [0, 1). "
                f"Got {switch_confidence} instead.")
        if not 0 <= drift_weight <= 1:
            raise InvalidArgument(
                f"The 'drift_weight' parameter must be in [0, 1]. Got {drift_weight} instead.")
        self.arms = tuple(arms)
        self.discount = float(discount)
        self.prior = (float(prior[0]), float(prior[1]))
        self.hysteresis = float(hysteresis)
        self.min_share = float(min_share)
        self.switch_confidence = float(switch_confidence)
        self.drift_weight = float(drift_weight)
        self.seed = seed
        self._reset()

    def _reset(self) -> None:
        self.successes_ = dict.fromkeys(self.arms, 0.0)
        self.failures_ = dict.fromkeys(self.arms, 0.0)
        self.n_updates_ = 0
        self.n_draws_ = 0
        if self.seed is None:
            self.seed = int(np.random.SeedSequence().entropy % 2**63)

    def update(self, arm: int, reward: float) -> DiscountedThompsonBandit:
        """Record one reward for ``arm``, after discounting every arm's evidence.

        Args:
            arm: the version that served.
            reward: in [0, 1] (1 = success).

        Returns:
            ``self``.

        Raises:
            InvalidArgument: unknown arm or reward outside [0, 1].
        """
        if arm not in self.successes_:
            raise InvalidArgument(f"No bandit arm {arm!r}. Available: {list(self.arms)}.")
        if not 0 <= reward <= 1:
            raise InvalidArgument(f"A bandit reward must be in [0, 1]. Got {reward} instead.")
        for a in self.arms:
            self.successes_[a] *= self.discount
            self.failures_[a] *= self.discount
        self.successes_[arm] += float(reward)
        self.failures_[arm] += 1.0 - float(reward)
        self.n_updates_ += 1
        return self

    def posterior(self) -> dict[int, tuple[float, float]]:
        """Beta ``(alpha, beta)`` per arm."""
        a0, b0 = self.prior
        return {a: (a0 + self.successes_[a], b0 + self.failures_[a]) for a in self.arms}

    def _draws(self, n_samples: int, drift: Mapping[int, float] | None) -> np.ndarray:
        """Posterior draws, ``(n_samples, n_arms)``, drift-adjusted."""
        if n_samples < 1:
            raise InvalidArgument(f"'n_samples' must be >= 1. Got {n_samples} instead.")
        rng = np.random.default_rng([int(self.seed or 0), self.n_draws_])
        self.n_draws_ += 1
        post = self.posterior()
        draws = np.column_stack([rng.beta(*post[a], size=n_samples) for a in self.arms])
        if drift:
            factor = np.array([1.0 - self.drift_weight * min(max(drift.get(a, 0.0), 0.0), 1.0)
                               for a in self.arms])
            draws = draws * factor
        return draws

    def _shares(self, draws: np.ndarray) -> dict[int, float]:
        n_samples = draws.shape[0]
        wins = np.bincount(np.argmax(draws, axis=1), minlength=len(self.arms)) / n_samples
        floor = self.min_share
        shares = floor + (1.0 - floor * len(self.arms)) * wins
        return {a: float(s) for a, s in zip(self.arms, shares, strict=True)}

    def shares(self, n_samples: int = 2000,
               drift: Mapping[int, float] | None = None) -> dict[int, float]:
        """Traffic share per arm: P(arm is best), floored at ``min_share``.

        Args:
            n_samples: Monte Carlo posterior draws per arm.
            drift: optional drift statistic per arm in [0, 1] (see the module doc).

        Returns:
            ``arm -> share``, summing to 1.
        """
        return self._shares(self._draws(n_samples, drift))

    def decide(self, current_shares: Mapping[int, float], n_samples: int = 2000,
               drift: Mapping[int, float] | None = None) -> Decision:
        """Reallocate traffic (``step``) or keep it (``hold``).

        Args:
            current_shares: the deployment's current weight per arm (missing = 0).
            n_samples: Monte Carlo draws for :meth:`shares`.
            drift: optional drift statistic per arm.

        Returns:
            ``step`` with the new routes when the target allocation is more than
            ``hysteresis`` away (total variation) from the current one, else ``hold``.
        """
        draws = self._draws(n_samples, drift)
        target = self._shares(draws)
        current = {a: float(current_shares.get(a, 0.0)) for a in self.arms}
        distance = 0.5 * sum(abs(target[a] - current[a]) for a in self.arms)
        # reward gained per request by moving from current to target, per draw
        move = np.array([target[a] - current[a] for a in self.arms])
        p_improve = float(np.mean(draws @ move > 0))
        post = self.posterior()
        evidence: dict[str, Any] = {
            "current": {str(a): current[a] for a in self.arms},
            "target": {str(a): target[a] for a in self.arms},
            "distance": distance, "hysteresis": self.hysteresis,
            "p_improve": p_improve, "switch_confidence": self.switch_confidence,
            "posterior_mean": {str(a): post[a][0] / sum(post[a]) for a in self.arms},
            "effective_n": {str(a): self.successes_[a] + self.failures_[a] for a in self.arms},
            "drift": {str(k): v for k, v in (drift or {}).items()},
            "n_updates": self.n_updates_,
        }
        best = max(target, key=lambda a: target[a])
        if distance <= self.hysteresis:
            return Decision("hold", f"keep traffic: allocation moved {distance:.3f} <= "
                            f"hysteresis {self.hysteresis}", evidence)
        if p_improve < self.switch_confidence:
            return Decision("hold", f"keep traffic: new allocation better with probability "
                            f"{p_improve:.2f} < {self.switch_confidence}", evidence)
        return Decision("step", f"reallocate traffic: v{best} most likely best "
                        f"({target[best]:.0%}); moved {distance:.3f} > hysteresis "
                        f"{self.hysteresis}, better with probability {p_improve:.2f}",
                        evidence, make_routes(target))

    def to_dict(self) -> dict[str, Any]:
        """Configuration and state as plain JSON (for ``Deployment.params``)."""
        return {
            "arms": list(self.arms), "discount": self.discount, "prior": list(self.prior),
            "hysteresis": self.hysteresis, "min_share": self.min_share,
            "switch_confidence": self.switch_confidence,
            "drift_weight": self.drift_weight, "seed": self.seed,
            "successes": {str(a): v for a, v in self.successes_.items()},
            "failures": {str(a): v for a, v in self.failures_.items()},
            "n_updates": self.n_updates_, "n_draws": self.n_draws_,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DiscountedThompsonBandit:
        """Rebuild a bandit saved with :meth:`to_dict`.

        Raises:
            InvalidArgument: a key is missing or a value is out of range.
        """
        try:
            bandit = cls(data["arms"], discount=data["discount"], prior=tuple(data["prior"]),
                         hysteresis=data["hysteresis"], min_share=data["min_share"],
                         switch_confidence=data["switch_confidence"],
                         drift_weight=data["drift_weight"], seed=data["seed"])
            bandit.successes_ = {a: float(data["successes"][str(a)]) for a in bandit.arms}
            bandit.failures_ = {a: float(data["failures"][str(a)]) for a in bandit.arms}
            bandit.n_updates_ = int(data["n_updates"])
            bandit.n_draws_ = int(data["n_draws"])
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidArgument(
                f"A saved bandit state is malformed: {type(e).__name__}: {e}.") from e
        return bandit
