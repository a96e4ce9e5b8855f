"""Retraining strategies, replayed window by window over a stream with delayed labels.

At the end of every monitoring window a strategy sees the features served so far and the
labels revealed so far (events older than ``label_delay``) and may retrain; the new model
serves from the next window on. Every model is :func:`fit_model` on a sliding window of
revealed labelled events, its last 20 % held out (reference accuracy and CBPE fit).

* ``never`` — the first model serves the whole stream.
* ``scheduled`` — retrain every ``every`` events on the latest revealed labels.
* ``threshold`` (the traditional pipeline) — retrain when the accuracy of the current
  model on its latest window of revealed labels falls 5 points below its holdout accuracy.
* ``autopilot`` — mlpilot's monitor and trigger rules, offline (see :class:`Autopilot`).
* ``oracle`` — retrains at every true change point, on post-change labels only, as soon
  as ``min_rows`` of them are revealed; never ships a known-bad version (the ceiling).

Bad deploy: at ``bad_deploy_at`` a broken candidate is shipped. ``never``, ``scheduled``
and ``threshold`` ship it to all traffic (they have no canary; the latter two replace it
when they next retrain); the autopilot canaries it at 5 % and lets mlpilot's
:class:`~mlpilot.delivery.analysis.CanaryAnalysis` promote or roll it back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from benchmarks.gauntlet.detectors import fit_cbpe, fit_model, matrix
from benchmarks.gauntlet.scenarios import Sizes, Stream

from mlpilot.delivery.analysis import CanaryAnalysis, WindowStats
from mlpilot.monitor.changepoint import CUSUM
from mlpilot.monitor.drift import drift_report
from mlpilot.monitor.performance import wilson_interval

STRATEGIES = ("never", "scheduled", "threshold", "autopilot", "oracle")
CANARY_STEPS = (0.05, 0.25, 0.5, 1.0)


@dataclass
class Knobs:
    """Strategy settings, in events."""

    train_rows: int = 4_000        # sliding window of labelled rows a retrain uses
    min_rows: int = 2_000          # fewest post-change labelled rows a targeted retrain uses
    every: int = 5_000             # scheduled retraining period
    threshold_drop: float = 0.05   # traditional pipeline: accuracy drop that triggers
    day: int = 10_000              # events per "day" for the autopilot's retrain budget
    max_per_day: int = 3           # BudgetSpec.max_retrains_per_day default
    cooldown_windows: int = 2      # windows after a deployment before triggers may act

    @classmethod
    def for_sizes(cls, s: Sizes) -> Knobs:
        scale = s.n_stream / 40_000
        return cls(train_rows=int(4_000 * max(scale, 0.375)),
                   min_rows=int(2_000 * max(scale, 0.375)), every=int(5_000 * scale),
                   day=int(10_000 * scale))


@dataclass
class Deployed:
    """A model in service, with what its monitors compare against."""

    model: Any
    since: int                      # first event it served
    reference: pd.DataFrame         # its training features (drift reference)
    ref_accuracy: float             # holdout accuracy
    cbpe: Any
    trained_on: tuple[int, int] = (-1, -1)


@dataclass
class Outcome:
    """What one strategy did on one stream."""

    predictions: np.ndarray
    retrains: list[int] = field(default_factory=list)     # events where a new model started
    trained_after: list[int] = field(default_factory=list)  # first event of each train range
    bad_requests: int = 0
    bad_rolled_back_at: int | None = None
    triggers: list[tuple[int, str]] = field(default_factory=list)


def _deploy(X: pd.DataFrame, y: np.ndarray, since: int, seed: int,
            span: tuple[int, int] = (-1, -1)) -> Deployed:
    cut = int(len(y) * 0.8)
    model = fit_model(X.iloc[:cut], y[:cut], seed)
    hold = matrix(X.iloc[cut:])
    acc = float((model.predict(hold) == y[cut:]).mean())
    try:
        cbpe = fit_cbpe(model, X.iloc[cut:], y[cut:])
    except Exception:  # noqa: BLE001 - a one-class holdout: no CBPE for this model
        cbpe = None
    return Deployed(model, since, X.iloc[:cut], acc, cbpe, span)


def initial(stream: Stream, seed: int = 0) -> Deployed:
    return _deploy(stream.train_X, stream.train_y, 0, seed)


def bad_candidate(stream: Stream, seed: int = 0) -> Any:
    """A broken build: trained with income and loan_amount swapped (a feature-order bug)."""
    X = stream.train_X.copy()
    X["income"], X["loan_amount"] = stream.train_X["loan_amount"], stream.train_X["income"]
    return fit_model(X, stream.train_y, seed)


class _Replay:
    """Shared replay loop: windows, revealed labels, deployment bookkeeping."""

    def __init__(self, stream: Stream, sizes: Sizes, knobs: Knobs, first: Deployed,
                 seed: int) -> None:
        self.s, self.sizes, self.k, self.seed = stream, sizes, knobs, seed
        self.M = matrix(stream.X)
        self.n = len(stream.y)
        self.current = first
        self.out = Outcome(np.zeros(self.n, dtype=np.int64))

    def revealed(self, t: int) -> int:
        """Events [0, revealed) have their labels at time t."""
        return max(0, t - self.s.label_delay)

    def retrain(self, lo: int, hi: int, t: int) -> None:
        lo = max(lo, hi - self.k.train_rows)
        y = self.s.y[lo:hi]
        if hi - lo < 50 or np.unique(y).size < 2:
            return
        self.current = _deploy(self.s.X.iloc[lo:hi], y, t, self.seed, (lo, hi))
        self.out.retrains.append(t)
        self.out.trained_after.append(lo)

    def serve(self, a: int, b: int) -> np.ndarray:
        if b <= a:
            return np.zeros(0, dtype=np.int64)
        pred = self.current.model.predict(self.M[a:b])
        self.out.predictions[a:b] = pred
        return pred

    def correct_since(self, since: int, t: int) -> np.ndarray:
        hi = self.revealed(t)
        return self.out.predictions[since:hi] == self.s.y[since:hi] if hi > since else \
            np.zeros(0, dtype=bool)


def _windows(n: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def replay(name: str, stream: Stream, sizes: Sizes, knobs: Knobs, first: Deployed,
           bad: Any = None, seed: int = 0) -> Outcome:
    """Run strategy ``name`` over ``stream`` and return what it served and did."""
    r = _Replay(stream, sizes, knobs, first, seed)
    policy = {"never": _Never, "scheduled": _Scheduled, "threshold": _Threshold,
              "autopilot": Autopilot, "oracle": _Oracle}[name](r)
    canary = _Canary(r, bad, seed) if bad is not None and name == "autopilot" else None
    if name == "oracle":
        bad = None  # the oracle knows the build is broken and never ships it
    for a, b in _windows(r.n, sizes.window):
        at = stream.bad_deploy_at
        if bad is not None and at is not None and a <= at < b and name in (
                "never", "scheduled", "threshold"):
            r.serve(a, at)
            r.current = Deployed(bad, at, r.current.reference, r.current.ref_accuracy, None)
            r.serve(at, b)
        elif canary is not None and at is not None and b > at and not canary.done:
            canary.serve(a, b, at)
        else:
            r.serve(a, b)
        if canary is not None and canary.active:
            canary.analyse(b)
        policy.step(a, b)
    if bad is not None:
        r.out.bad_requests = _bad_requests(r, bad, canary)
    return r.out


def _bad_requests(r: _Replay, bad: Any, canary: _Canary | None) -> int:
    at = r.s.bad_deploy_at
    assert at is not None
    served = 0
    if canary is not None:
        r.out.bad_rolled_back_at = canary.rolled_back_at
        served, at = canary.bad_served, canary.promoted_at
        if at is None:
            return served
    ends = [t for t in r.out.retrains if t > at]
    if ends:
        r.out.bad_rolled_back_at = ends[0]
    return served + (ends[0] if ends else r.n) - at


class _Never:
    def __init__(self, r: _Replay) -> None:
        self.r = r

    def step(self, a: int, b: int) -> None:
        return None


class _Scheduled(_Never):
    def step(self, a: int, b: int) -> None:
        r = self.r
        if b // r.k.every > a // r.k.every and b < r.n:
            hi = r.revealed(b)
            r.retrain(hi - r.k.train_rows, hi, b)


class _Threshold(_Never):
    def step(self, a: int, b: int) -> None:
        r = self.r
        ok = r.correct_since(r.current.since, b)[-r.sizes.window:]
        if ok.size < r.sizes.window or b >= r.n:
            return
        if ok.mean() < r.current.ref_accuracy - r.k.threshold_drop:
            r.out.triggers.append((b, f"accuracy {ok.mean():.3f}"))
            hi = r.revealed(b)
            r.retrain(hi - r.k.train_rows, hi, b)


class _Oracle(_Never):
    def __init__(self, r: _Replay) -> None:
        super().__init__(r)
        self.pending = list(r.s.change_points)

    def step(self, a: int, b: int) -> None:
        r = self.r
        hi = r.revealed(b)
        while self.pending and hi - self.pending[0] >= r.k.min_rows and b < r.n:
            cp = self.pending.pop(0)
            if self.pending and hi > self.pending[0]:
                continue  # the next change already happened: wait for its own data
            r.retrain(cp, hi, b)


class Autopilot(_Never):
    """mlpilot's autopilot, replayed offline, one monitoring window at a time.

    Signals (the monitor's alert rules, ``mlpilot.monitor.alert_rules``):

    * drift — ``drift_report`` of the window against the current model's training
      features finds any drifted column (warning);
    * estimated performance — CBPE flags the window's estimated accuracy degraded;
    * measured performance — the Wilson 95 % upper bound of the accuracy on the latest
      window of revealed labels (>= 30 rows) is below the holdout accuracy (critical);
    * change point — mlpilot's ``CUSUM`` (defaults) on the revealed per-event correctness
      of the current model.

    Alerts are de-duplicated by kind as the store does: a retrain fires when an alert
    opens (``drift`` and ``performance`` triggers of the policy), not on every window of
    the same incident; an alert resolves on the first window without its signal. The
    retrain waits until ``min_rows`` labels after the estimated change start are revealed
    and uses only those (up to ``train_rows``). Budget: ``max_per_day`` retrains per
    ``day`` events and ``cooldown_windows`` windows after a deployment.
    """

    def __init__(self, r: _Replay) -> None:
        super().__init__(r)
        self.open: set[str] = set()
        self.pending: int | None = None  # estimated change start awaiting labels
        self.cusum = CUSUM()
        self.fed = 0  # events of the current model fed to the CUSUM
        self.cp_start: int | None = None

    def _signals(self, a: int, b: int) -> tuple[set[str], int | None]:
        r, cur = self.r, self.r.current
        sig: set[str] = set()
        window = r.s.X.iloc[a:b]
        if drift_report(cur.reference, window).drifted_columns:
            sig.add("drift")
        if cur.cbpe is not None:
            proba = cur.model.predict_proba(r.M[a:b])
            if cur.cbpe.estimate(proba)["accuracy"].degraded:
                sig.add("estimated")
        ok = r.correct_since(cur.since, b)[-r.sizes.window:]
        if ok.size >= 30:
            upper = wilson_interval(int(ok.sum()), int(ok.size))[1]
            if upper is not None and upper < cur.ref_accuracy:
                sig.add("performance")
        hi = r.revealed(b)
        start = None
        for i in range(max(self.fed, cur.since), hi):
            cp = self.cusum.update(float(r.out.predictions[i] == r.s.y[i]))
            if cp is not None and cp.direction == "down":
                sig.add("change_point")
                start = cur.since + int(cp.details["change_start"])
        self.fed = max(self.fed, hi)
        return sig, start

    def step(self, a: int, b: int) -> None:
        r = self.r
        sig, start = self._signals(a, b)
        kinds = {"drift" if s == "drift" else "performance" for s in sig}
        opened = kinds - self.open
        self.open = kinds
        if opened and self.pending is None:
            self.pending = start if start is not None else a
            r.out.triggers.append((b, "+".join(sorted(sig))))
        if self.pending is None or b >= r.n:
            return
        hi = r.revealed(b)
        recent = [t for t in r.out.retrains if t > b - r.k.day]
        cooling = b - r.current.since < r.k.cooldown_windows * r.sizes.window
        if hi - self.pending >= r.k.min_rows and len(recent) < r.k.max_per_day and not cooling:
            r.retrain(self.pending, hi, b)
            self.pending = None
            self.open = set()
            self.cusum = CUSUM()
            self.fed = b


class _Canary:
    """A 5 % canary of the bad candidate, judged by mlpilot's ``CanaryAnalysis``.

    Each window, the canary and the baseline are compared over the current step so far:
    requests, errors (none: the build serves), latencies (synthetic, drawn from one
    distribution for both: this scenario is about predictions), predicted probabilities,
    and accuracy on the revealed labels. ``fail`` rolls back; ``pass`` steps up through
    5 %, 25 %, 50 %, 100 %; ``inconclusive`` holds.
    """

    def __init__(self, r: _Replay, bad: Any, seed: int) -> None:
        self.r, self.bad = r, bad
        self.rng = np.random.default_rng(seed + 99)
        self.route = np.zeros(r.n, dtype=bool)
        self.step_i, self.step_from = 0, None
        self.done = self.active = False
        self.bad_served = 0
        self.rolled_back_at: int | None = None
        self.promoted_at: int | None = None
        self.base_proba = np.zeros(r.n)
        self.proba = np.zeros(r.n)
        self.analysis = CanaryAnalysis()

    def serve(self, a: int, b: int, at: int) -> None:
        r = self.r
        lo = max(a, at)
        if self.step_from is None:
            self.step_from, self.active = lo, True
        r.serve(a, b)
        base = r.current.model.predict_proba(r.M[lo:b])[:, 1]
        cand = self.bad.predict_proba(r.M[lo:b])[:, 1]
        route = self.rng.random(b - lo) < CANARY_STEPS[self.step_i]
        self.route[lo:b] = route
        self.base_proba[lo:b], self.proba[lo:b] = base, cand
        r.out.predictions[lo:b] = np.where(route, (cand >= 0.5).astype(int),
                                           r.out.predictions[lo:b])
        self.bad_served += int(route.sum())

    def analyse(self, t: int) -> None:
        r, lo = self.r, self.step_from
        assert lo is not None
        hi = r.revealed(t)
        route = self.route[lo:t]
        sides = []
        for mask, proba in ((~route, self.base_proba[lo:t]), (route, self.proba[lo:t])):
            idx = np.flatnonzero(mask) + lo
            lab = idx[idx < hi]
            correct = int((r.out.predictions[lab] == r.s.y[lab]).sum())
            lat = self.rng.lognormal(3.0, 0.3, idx.size)
            sides.append(WindowStats(int(idx.size), 0, lat, proba[mask], correct, int(lab.size)))
        verdict = self.analysis(sides[0], sides[1]).verdict
        if verdict == "fail":
            self.rolled_back_at, self.done, self.active = t, True, False
        elif verdict == "pass":
            self.step_i += 1
            self.step_from = t
            if self.step_i == len(CANARY_STEPS):
                r.current = Deployed(self.bad, t, r.current.reference, r.current.ref_accuracy,
                                     None)
                self.promoted_at = t
                self.done, self.active = True, False
