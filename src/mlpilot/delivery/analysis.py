"""Canary analysis: is the canary worse than the baseline, by how much, how sure?

Each metric gets a one-sided statistical test ("canary worse") *and* a practical
bound; a metric fails only when the difference is both significant and larger
than the bound, so huge windows do not fail on negligible differences and tiny
windows do not fail on noise. Below a metric's minimum sample size its verdict is
``"insufficient"``: never a pass, never a fail.

Checks (names as they appear in the result):

* ``error_rate`` — one-sided two-proportion z-test (Fisher's exact test when an
  expected cell count is below 5); fails when p < alpha and the canary's error
  rate exceeds the baseline's by more than ``error_rate_tolerance``.
* ``latency`` — one-sided Mann–Whitney U on the latency samples; fails when
  p < alpha and the canary's median exceeds ``max_median_latency_ratio`` × the
  baseline's.
* ``latency_p99`` — fails when canary p99 / baseline p99 > ``max_p99_ratio``.
* ``prediction_divergence`` — class labels: Jensen–Shannon distance (base 2) with
  a chi² test of homogeneity; numeric scores: PSI on baseline-quantile bins with
  a two-sample KS test. Fails when p < alpha and the divergence exceeds its bound.
* ``accuracy`` — only when both sides have feedback: one-sided two-proportion
  test; fails when p < alpha and accuracy drops by more than ``accuracy_tolerance``.
* ``drift_share`` / ``estimated_performance`` / any name in ``signal_bounds`` —
  externally supplied signals in :attr:`WindowStats.extra` compared to bounds
  (no test: the monitor already did the statistics).

The overall verdict is ``"fail"`` if any check fails, else ``"inconclusive"`` if
any check has insufficient data, else ``"pass"``. Checks whose inputs are absent
(no feedback, no external signal) are ``"skipped"`` and do not count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

from mlpilot.core.errors import InvalidArgument
from mlpilot.core.jsonsafe import json_safe

PASS, FAIL, INSUFFICIENT, SKIPPED = "pass", "fail", "insufficient", "skipped"
_EPS = 1e-6


@dataclass(frozen=True)
class WindowStats:
    """What one side (baseline or canary) did in the analysis window.

    Attributes:
        requests: requests served.
        errors: requests that failed.
        latencies_ms: per-request latencies (or a sample of them).
        predictions: predictions (class labels or numeric scores), or a sample.
        correct: correct predictions among the labelled ones (``None``: no feedback).
        labelled: predictions with feedback (``None``: no feedback).
        extra: external signals, e.g. ``{"drift_share": 0.1,
            "estimated_performance": 0.91}``.
    """

    requests: int
    errors: int
    latencies_ms: Sequence[float] = ()
    predictions: Sequence[Any] = ()
    correct: int | None = None
    labelled: int | None = None
    extra: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.requests < 0 or not 0 <= self.errors <= max(self.requests, 0):
            raise InvalidArgument(
                "WindowStats needs 0 <= errors <= requests. "
                f"Got errors={self.errors}, requests={self.requests}."
            )
        if (self.correct is None) != (self.labelled is None) or (
            self.labelled is not None and not 0 <= self.correct <= self.labelled  # type: ignore[operator]
        ):
            raise InvalidArgument(
                "WindowStats needs both or neither of correct/labelled, with "
                f"0 <= correct <= labelled. Got correct={self.correct}, labelled={self.labelled}."
            )


@dataclass(frozen=True)
class AnalysisConfig:
    """Thresholds of a canary analysis; the defaults are conservative.

    Attributes:
        alpha: significance level of every one-sided test (default 0.05).
        min_requests: per side, for ``error_rate`` (default 100).
        min_latency_samples: per side, for ``latency`` and ``latency_p99`` (default 100).
        min_predictions: per side, for ``prediction_divergence`` (default 100).
        min_labelled: per side, for ``accuracy`` (default 100).
        error_rate_tolerance: absolute error-rate increase allowed (default 0.005).
        max_median_latency_ratio: canary/baseline median allowed (default 1.1).
        max_p99_ratio: canary/baseline p99 allowed (default 1.25).
        max_js_distance: Jensen–Shannon distance bound, base 2 (default 0.1).
        max_psi: population stability index bound (default 0.2).
        psi_bins: quantile bins for PSI (default 10).
        prediction_kind: ``"auto"``, ``"categorical"`` or ``"numeric"``; auto treats
            strings, booleans and integers with at most ``max_categories``
            distinct values as classes (default ``"auto"``).
        max_categories: see ``prediction_kind`` (default 20).
        accuracy_tolerance: absolute accuracy drop allowed (default 0.01).
        max_drift_share: bound on the canary's ``extra["drift_share"]`` (default 0.3).
        max_estimated_performance_drop: bound on baseline − canary
            ``extra["estimated_performance"]`` (default 0.02).
        signal_bounds: more external signals: name -> (low, high) bounds on the
            canary's value (either may be ``None``).
    """

    alpha: float = 0.05
    min_requests: int = 100
    min_latency_samples: int = 100
    min_predictions: int = 100
    min_labelled: int = 100
    error_rate_tolerance: float = 0.005
    max_median_latency_ratio: float = 1.1
    max_p99_ratio: float = 1.25
    max_js_distance: float = 0.1
    max_psi: float = 0.2
    psi_bins: int = 10
    prediction_kind: str = "auto"
    max_categories: int = 20
    accuracy_tolerance: float = 0.01
    max_drift_share: float = 0.3
    max_estimated_performance_drop: float = 0.02
    signal_bounds: Mapping[str, tuple[float | None, float | None]] = field(
        default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise InvalidArgument(
                f"The 'alpha' parameter of AnalysisConfig must be a float in (0, 1). "
                f"Got {self.alpha} instead."
            )
        if self.prediction_kind not in ("auto", "categorical", "numeric"):
            raise InvalidArgument(
                "The 'prediction_kind' parameter of AnalysisConfig must be one of "
                f"['auto', 'categorical', 'numeric']. Got {self.prediction_kind!r} instead."
            )
        for name in ("min_requests", "min_latency_samples", "min_predictions",
                     "min_labelled", "psi_bins"):
            if getattr(self, name) < 2:
                raise InvalidArgument(
                    f"The {name!r} parameter of AnalysisConfig must be an int >= 2. "
                    f"Got {getattr(self, name)} instead."
                )


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one metric's check.

    Attributes:
        name: the metric (``"error_rate"``, ``"latency"``, …).
        verdict: ``"pass"``, ``"fail"``, ``"insufficient"`` or ``"skipped"``.
        statistic: the effect measured (difference, ratio, divergence), or ``None``.
        p_value: the one-sided test's p-value, or ``None`` when no test applies.
        threshold: the bound the statistic was compared to.
        n: sample sizes, ``{"baseline": …, "canary": …}``.
        explanation: one line saying what was compared and why the verdict.
        details: other numbers (both sides' values, the test used).
    """

    name: str
    verdict: str
    statistic: float | None
    p_value: float | None
    threshold: float | None
    n: dict[str, int]
    explanation: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A strict-JSON form."""
        return json_safe(asdict(self))


@dataclass(frozen=True)
class AnalysisResult:
    """All checks of one analysis and the overall verdict.

    Attributes:
        verdict: ``"pass"``, ``"fail"`` or ``"inconclusive"``.
        checks: one :class:`CheckResult` per metric.
    """

    verdict: str
    checks: tuple[CheckResult, ...]

    @property
    def failed(self) -> list[str]:
        """Names of the failing checks."""
        return [c.name for c in self.checks if c.verdict == FAIL]

    @property
    def insufficient(self) -> list[str]:
        """Names of the checks short of data."""
        return [c.name for c in self.checks if c.verdict == INSUFFICIENT]

    def check(self, name: str) -> CheckResult:
        """The check named ``name``.

        Raises:
            KeyError: no such check, with the names available.
        """
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"No check named {name!r}. Available: {[c.name for c in self.checks]}.")

    def summary(self) -> str:
        """One line: the verdict and the metrics behind it."""
        if self.verdict == FAIL:
            return f"canary analysis failed on {', '.join(self.failed)}"
        if self.verdict == "inconclusive":
            return ("canary analysis inconclusive: too little data for "
                    f"{', '.join(self.insufficient)}")
        return f"canary analysis passed {sum(c.verdict == PASS for c in self.checks)} checks"

    def to_dict(self) -> dict[str, Any]:
        """A strict-JSON form (for decision evidence)."""
        return {"verdict": self.verdict, "checks": [c.to_dict() for c in self.checks]}


def _n(b: int, c: int) -> dict[str, int]:
    return {"baseline": int(b), "canary": int(c)}


def _insufficient(name: str, nb: int, nc: int, need: int, what: str) -> CheckResult:
    return CheckResult(name, INSUFFICIENT, None, None, None, _n(nb, nc),
                       f"insufficient data: {min(nb, nc)} {what} on the smaller side, "
                       f"need {need} per side", {"min_samples": need})


def _proportion_worse(x_b: int, n_b: int, x_c: int, n_c: int) -> tuple[float, str]:
    """One-sided p-value that the canary's proportion exceeds the baseline's."""
    p_pool = (x_b + x_c) / (n_b + n_c)
    expected = min(p_pool * n_b, p_pool * n_c, (1 - p_pool) * n_b, (1 - p_pool) * n_c)
    if expected < 5:
        table = [[x_c, n_c - x_c], [x_b, n_b - x_b]]
        return float(stats.fisher_exact(table, alternative="greater").pvalue), "fisher_exact"
    se = math.sqrt(p_pool * (1 - p_pool) * (1 / n_b + 1 / n_c))
    z = (x_c / n_c - x_b / n_b) / se if se > 0 else 0.0
    return float(stats.norm.sf(z)), "two_proportion_z"


def _decide(significant: bool, effect_too_big: bool) -> str:
    return FAIL if significant and effect_too_big else PASS


class CanaryAnalysis:
    """Compares a canary's window with the baseline's, metric by metric.

    Args:
        config: thresholds (default :class:`AnalysisConfig`).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> def window(errors, mu):
        ...     return WindowStats(2000, errors, rng.lognormal(mu, 0.3, 500),
        ...                        rng.integers(0, 2, 500))
        >>> CanaryAnalysis()(window(10, 3.0), window(120, 3.5)).failed
        ['error_rate', 'latency', 'latency_p99']
    """

    def __init__(self, config: AnalysisConfig | None = None) -> None:
        self.config = config or AnalysisConfig()

    def __call__(self, baseline: WindowStats, canary: WindowStats) -> AnalysisResult:
        """Run every check.

        Args:
            baseline: the current production version's window.
            canary: the candidate's window, over the same period.

        Returns:
            The verdict and the per-metric checks.
        """
        checks = [
            self.error_rate(baseline, canary),
            *self.latency(baseline, canary),
            self.prediction_divergence(baseline, canary),
            self.accuracy(baseline, canary),
            *self.signals(baseline, canary),
        ]
        verdicts = {c.verdict for c in checks}
        verdict = FAIL if FAIL in verdicts else "inconclusive" if INSUFFICIENT in verdicts \
            else PASS
        return AnalysisResult(verdict, tuple(checks))

    def error_rate(self, b: WindowStats, c: WindowStats) -> CheckResult:
        """The ``error_rate`` check."""
        cfg, name = self.config, "error_rate"
        if min(b.requests, c.requests) < cfg.min_requests:
            return _insufficient(name, b.requests, c.requests, cfg.min_requests, "requests")
        rb, rc = b.errors / b.requests, c.errors / c.requests
        p, test = _proportion_worse(b.errors, b.requests, c.errors, c.requests)
        diff = rc - rb
        verdict = _decide(p < cfg.alpha, diff > cfg.error_rate_tolerance)
        return CheckResult(
            name, verdict, diff, p, cfg.error_rate_tolerance, _n(b.requests, c.requests),
            f"error rate {rc:.4f} (canary) vs {rb:.4f} (baseline): +{diff:.4f}, "
            f"{test} p={p:.3g}; fails when p < {cfg.alpha} and the increase > "
            f"{cfg.error_rate_tolerance}",
            {"baseline": rb, "canary": rc, "test": test, "alpha": cfg.alpha})

    def latency(self, b: WindowStats, c: WindowStats) -> list[CheckResult]:
        """The ``latency`` (Mann–Whitney U) and ``latency_p99`` checks."""
        cfg = self.config
        lb = np.asarray(b.latencies_ms, dtype=float)
        lc = np.asarray(c.latencies_ms, dtype=float)
        lb, lc = lb[np.isfinite(lb)], lc[np.isfinite(lc)]
        if min(lb.size, lc.size) < cfg.min_latency_samples:
            return [_insufficient(n, lb.size, lc.size, cfg.min_latency_samples, "latencies")
                    for n in ("latency", "latency_p99")]
        n = _n(lb.size, lc.size)
        mb, mc = float(np.median(lb)), float(np.median(lc))
        ratio = mc / max(mb, _EPS)
        p = float(stats.mannwhitneyu(lc, lb, alternative="greater").pvalue)
        med = CheckResult(
            "latency", _decide(p < cfg.alpha, ratio > cfg.max_median_latency_ratio),
            ratio, p, cfg.max_median_latency_ratio, n,
            f"median latency {mc:.1f} ms (canary) vs {mb:.1f} ms (baseline): ratio "
            f"{ratio:.3f}, Mann-Whitney U p={p:.3g}; fails when p < {cfg.alpha} and "
            f"the ratio > {cfg.max_median_latency_ratio}",
            {"baseline_median_ms": mb, "canary_median_ms": mc, "test": "mann_whitney_u"})
        qb, qc = float(np.quantile(lb, 0.99)), float(np.quantile(lc, 0.99))
        r99 = qc / max(qb, _EPS)
        tail = CheckResult(
            "latency_p99", FAIL if r99 > cfg.max_p99_ratio else PASS, r99, None,
            cfg.max_p99_ratio, n,
            f"p99 latency {qc:.1f} ms (canary) vs {qb:.1f} ms (baseline): ratio "
            f"{r99:.3f}, bound {cfg.max_p99_ratio}",
            {"baseline_p99_ms": qb, "canary_p99_ms": qc})
        return [med, tail]

    def _categorical(self, pb: np.ndarray, pc: np.ndarray) -> bool:
        kind = self.config.prediction_kind
        if kind != "auto":
            return kind == "categorical"
        both = np.concatenate([pb, pc])
        if both.dtype.kind in "biu":
            return np.unique(both).size <= self.config.max_categories
        return both.dtype.kind not in "f"

    def prediction_divergence(self, b: WindowStats, c: WindowStats) -> CheckResult:
        """The ``prediction_divergence`` check (JS + chi² or PSI + KS)."""
        cfg, name = self.config, "prediction_divergence"
        pb, pc = np.asarray(list(b.predictions)), np.asarray(list(c.predictions))
        if min(pb.size, pc.size) < cfg.min_predictions:
            return _insufficient(name, pb.size, pc.size, cfg.min_predictions, "predictions")
        n = _n(pb.size, pc.size)
        if self._categorical(pb, pc):
            labels = np.unique(np.concatenate([pb.astype(str), pc.astype(str)]))
            cb = np.array([(pb.astype(str) == v).sum() for v in labels], dtype=float)
            cc = np.array([(pc.astype(str) == v).sum() for v in labels], dtype=float)
            js = float(jensenshannon(cb / cb.sum(), cc / cc.sum(), base=2))
            if labels.size > 1:
                p = float(stats.chi2_contingency(np.vstack([cb, cc]))[1])
            else:
                p = 1.0
            return CheckResult(
                name, _decide(p < cfg.alpha, js > cfg.max_js_distance), js, p,
                cfg.max_js_distance, n,
                f"class distribution Jensen-Shannon distance {js:.3f} (bound "
                f"{cfg.max_js_distance}), chi2 p={p:.3g}; fails when both exceed",
                {"test": "chi2", "divergence": "jensen_shannon",
                 "baseline": dict(zip(labels.tolist(), (cb / cb.sum()).tolist(), strict=True)),
                 "canary": dict(zip(labels.tolist(), (cc / cc.sum()).tolist(), strict=True))})
        xb, xc = pb.astype(float), pc.astype(float)
        edges = np.unique(np.quantile(xb, np.linspace(0, 1, cfg.psi_bins + 1)[1:-1]))
        fb = np.bincount(np.searchsorted(edges, xb, side="right"), minlength=edges.size + 1)
        fc = np.bincount(np.searchsorted(edges, xc, side="right"), minlength=edges.size + 1)
        qb = np.clip(fb / fb.sum(), 1e-4, None)
        qc = np.clip(fc / fc.sum(), 1e-4, None)
        psi = float(np.sum((qc - qb) * np.log(qc / qb)))
        p = float(stats.ks_2samp(xc, xb).pvalue)
        return CheckResult(
            name, _decide(p < cfg.alpha, psi > cfg.max_psi), psi, p, cfg.max_psi, n,
            f"score distribution PSI {psi:.3f} (bound {cfg.max_psi}), KS p={p:.3g}; "
            "fails when both exceed",
            {"test": "ks", "divergence": "psi", "bins": int(edges.size + 1)})

    def accuracy(self, b: WindowStats, c: WindowStats) -> CheckResult:
        """The ``accuracy`` check (skipped without feedback on both sides)."""
        cfg, name = self.config, "accuracy"
        if b.labelled is None or c.labelled is None:
            return CheckResult(name, SKIPPED, None, None, None,
                               _n(b.labelled or 0, c.labelled or 0),
                               "skipped: no feedback on one side")
        if min(b.labelled, c.labelled) < cfg.min_labelled:
            return _insufficient(name, b.labelled, c.labelled, cfg.min_labelled,
                                 "labelled predictions")
        ab, ac = b.correct / b.labelled, c.correct / c.labelled  # type: ignore[operator]
        # "canary worse" = canary's *wrong* proportion exceeds the baseline's
        p, test = _proportion_worse(b.labelled - b.correct, b.labelled,  # type: ignore[operator]
                                    c.labelled - c.correct, c.labelled)  # type: ignore[operator]
        drop = ab - ac
        return CheckResult(
            name, _decide(p < cfg.alpha, drop > cfg.accuracy_tolerance), drop, p,
            cfg.accuracy_tolerance, _n(b.labelled, c.labelled),
            f"accuracy {ac:.4f} (canary) vs {ab:.4f} (baseline): drop {drop:.4f}, "
            f"{test} p={p:.3g}; fails when p < {cfg.alpha} and the drop > "
            f"{cfg.accuracy_tolerance}",
            {"baseline": ab, "canary": ac, "test": test})

    def signals(self, b: WindowStats, c: WindowStats) -> list[CheckResult]:
        """Checks on the external signals in ``extra`` (only those present)."""
        cfg, out = self.config, []
        n = _n(b.requests, c.requests)
        if "drift_share" in c.extra:
            v = float(c.extra["drift_share"])
            out.append(CheckResult(
                "drift_share", FAIL if v > cfg.max_drift_share else PASS, v, None,
                cfg.max_drift_share, n,
                f"share of drifted features {v:.3f} (canary), bound {cfg.max_drift_share}"))
        if "estimated_performance" in c.extra and "estimated_performance" in b.extra:
            vb = float(b.extra["estimated_performance"])
            vc = float(c.extra["estimated_performance"])
            drop = vb - vc
            bound = cfg.max_estimated_performance_drop
            out.append(CheckResult(
                "estimated_performance", FAIL if drop > bound else PASS, drop, None, bound, n,
                f"estimated performance {vc:.4f} (canary) vs {vb:.4f} (baseline): "
                f"drop {drop:.4f}, bound {bound}", {"baseline": vb, "canary": vc}))
        for key, (low, high) in cfg.signal_bounds.items():
            if key not in c.extra:
                continue
            v = float(c.extra[key])
            bad = (low is not None and v < low) or (high is not None and v > high)
            out.append(CheckResult(
                key, FAIL if bad or not math.isfinite(v) else PASS, v, None,
                high if high is not None else low, n,
                f"{key} {v:.4g} (canary), allowed [{low}, {high}]",
                {"low": low, "high": high}))
        return out
