"""A/B tests: a fixed split with sticky assignment, and the test's result.

:class:`StickySplit` hashes a request key (a user id, a session id) with SHA-256
into 10 000 buckets, so the same key lands on the same arm in every process and
across restarts (Python's ``hash`` is salted per process and cannot do that).
Change ``salt`` to reshuffle users between experiments.

:func:`ab_test` compares two arms' conversion (or accuracy) counts with a
two-sided two-proportion z-test and a Wald confidence interval on the difference.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from scipy import stats

from mlpilot.core.entities import Route
from mlpilot.core.errors import InvalidArgument
from mlpilot.core.jsonsafe import json_safe
from mlpilot.delivery.decision import make_routes

#: hash buckets of a sticky split (weights resolve to 0.01 %)
BUCKETS = 10_000


def bucket(key: str, salt: str = "") -> int:
    """The stable bucket in ``[0, BUCKETS)`` of a request key."""
    digest = hashlib.sha256(f"{salt}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


class StickySplit:
    """A fixed traffic split where each request key always gets the same arm.

    Args:
        weights: version -> share (non-negative, summing to 1); the order of the
            mapping fixes which buckets go to which arm.
        salt: the experiment's salt (a new salt reshuffles keys).

    Raises:
        InvalidArgument: empty, negative, or not summing to 1.

    Example:
        >>> split = StickySplit({1: 0.5, 2: 0.5}, salt="exp-7")
        >>> split.assign("user-42") == split.assign("user-42")
        True
    """

    def __init__(self, weights: Mapping[int, float], salt: str = "") -> None:
        if not weights or any(w < 0 for w in weights.values()) \
                or abs(sum(weights.values()) - 1.0) > 1e-6:
            raise InvalidArgument(
                "A split's weights must be non-negative and sum to 1. "
                f"Got {dict(weights)} instead.")
        self.weights = {int(v): float(w) for v, w in weights.items()}
        self.salt = salt
        edges, acc = [], 0.0
        for w in self.weights.values():
            acc += w
            edges.append(round(acc * BUCKETS))
        edges[-1] = BUCKETS
        self._edges = tuple(edges)

    def assign(self, key: str) -> int:
        """The version serving ``key``: stable across calls, processes and hosts."""
        b = bucket(key, self.salt)
        for version, edge in zip(self.weights, self._edges, strict=True):
            if b < edge:
                return version
        return next(reversed(self.weights))  # pragma: no cover - edges end at BUCKETS

    def routes(self) -> tuple[Route, ...]:
        """The deployment routes of this split (all ``primary``)."""
        return make_routes(self.weights)


@dataclass(frozen=True)
class ABTestResult:
    """The outcome of an A/B comparison of two proportions.

    Attributes:
        verdict: ``"b_better"``, ``"a_better"``, ``"no_difference"`` or
            ``"insufficient"`` (fewer than ``min_samples`` on a side).
        rate_a: A's conversion rate.
        rate_b: B's conversion rate.
        difference: ``rate_b - rate_a``.
        ci_low: lower end of the ``1 - alpha`` confidence interval of the difference.
        ci_high: upper end of it.
        z: the pooled two-proportion z statistic.
        p_value: two-sided.
        alpha: the significance level used.
        n_a: A's sample size.
        n_b: B's sample size.
    """

    verdict: str
    rate_a: float
    rate_b: float
    difference: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float
    alpha: float
    n_a: int
    n_b: int

    @property
    def significant(self) -> bool:
        """True when the difference is significant at ``alpha``."""
        return self.verdict in ("a_better", "b_better")

    def to_dict(self) -> dict[str, Any]:
        """A strict-JSON form."""
        return json_safe(asdict(self))


def ab_test(successes_a: int, n_a: int, successes_b: int, n_b: int, *,
            alpha: float = 0.05, min_samples: int = 100) -> ABTestResult:
    """Compare two arms' success proportions (conversions, correct predictions).

    Args:
        successes_a: A's successes.
        n_a: A's trials.
        successes_b: B's successes.
        n_b: B's trials.
        alpha: significance level of the two-sided test (default 0.05).
        min_samples: trials needed per arm before any verdict (default 100).

    Returns:
        The rates, their difference with a confidence interval, and a verdict.

    Raises:
        InvalidArgument: counts out of range or ``alpha`` outside (0, 1).
    """
    if not 0 < alpha < 1:
        raise InvalidArgument(f"The 'alpha' parameter must be in (0, 1). Got {alpha} instead.")
    if n_a < 0 or n_b < 0 or not 0 <= successes_a <= n_a or not 0 <= successes_b <= n_b:
        raise InvalidArgument(
            "A/B counts need 0 <= successes <= trials. Got "
            f"A={successes_a}/{n_a}, B={successes_b}/{n_b}.")
    ra = successes_a / n_a if n_a else math.nan
    rb = successes_b / n_b if n_b else math.nan
    if min(n_a, n_b) < min_samples:
        return ABTestResult("insufficient", ra, rb, rb - ra, math.nan, math.nan, math.nan,
                            math.nan, alpha, n_a, n_b)
    pool = (successes_a + successes_b) / (n_a + n_b)
    se_pool = math.sqrt(pool * (1 - pool) * (1 / n_a + 1 / n_b))
    z = (rb - ra) / se_pool if se_pool > 0 else 0.0
    p = float(2 * stats.norm.sf(abs(z)))
    se = math.sqrt(ra * (1 - ra) / n_a + rb * (1 - rb) / n_b)
    half = float(stats.norm.ppf(1 - alpha / 2)) * se
    verdict = "no_difference" if p >= alpha else ("b_better" if rb > ra else "a_better")
    return ABTestResult(verdict, ra, rb, rb - ra, rb - ra - half, rb - ra + half, z, p,
                        alpha, n_a, n_b)
