"""Seeded drift scenarios with known change points.

Every scenario is a :class:`Stream`: a training segment (the first model's data), then the
served events in order, each with its label, revealed ``label_delay`` events later. Credit
scenarios resample a large pool from :func:`mlpilot.demo.credit.make_credit_data`: drawing
with weights that depend on the features alone changes P(x) and keeps P(y|x) (covariate
shift), weights on the label change P(y) and keep P(x|y) (label shift). River scenarios
come from its synthetic concept-drift generators (SEA, Agrawal, Hyperplane, RandomRBF).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlpilot.demo.credit import FEATURES, TARGET, make_credit_data


@dataclass(frozen=True)
class Sizes:
    """Stream lengths (events) for one run."""

    n_train: int = 5_000
    n_stream: int = 40_000
    change_at: int = 20_000
    ramp: int = 10_000       # gradual drift: events from the first to the last drifted mix
    period: int = 5_000      # recurring drift: events per season
    n_control: int = 200_000
    label_delay: int = 500
    window: int = 1_000      # events per monitoring window
    pool: int = 300_000      # credit rows resampled by the credit scenarios

    @classmethod
    def quick(cls) -> Sizes:
        return cls(n_train=1_500, n_stream=3_000, change_at=1_500, ramp=900, period=600,
                   n_control=6_000, label_delay=150, window=300, pool=20_000)


@dataclass
class Stream:
    """One scenario's data.

    Attributes:
        name: short id.
        family: ``credit`` or ``river``.
        description: how it was made.
        train_X, train_y: the first model's training data (before the stream).
        X, y: the served events, in order.
        change_points: indices in ``X`` where the data-generating process changes.
        label_delay: events between a request and its label.
        bad_deploy_at: index where a bad version is shipped (bad-deploy scenario only).
    """

    name: str
    family: str
    description: str
    train_X: pd.DataFrame
    train_y: np.ndarray
    X: pd.DataFrame
    y: np.ndarray
    change_points: list[int]
    label_delay: int
    bad_deploy_at: int | None = None
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def is_control(self) -> bool:
        return not self.change_points and self.bad_deploy_at is None


def _z(values: pd.Series) -> np.ndarray:
    v = values.to_numpy(dtype=float)
    return (v - v.mean()) / v.std()


class _CreditPool:
    """A seeded pool of credit applicants and the tilts the scenarios draw with."""

    def __init__(self, size: int, seed: int) -> None:
        self.frame = make_credit_data(size, seed=seed)
        self.rng = np.random.default_rng(seed + 1)
        f = self.frame
        # riskier, poorer applicants: the model's hard region becomes common
        tilt = np.exp(1.2 * _z(f["debt_ratio"]) - 1.0 * _z(np.log(f["income"])))
        self.tilted = tilt / tilt.sum()
        y = f[TARGET].to_numpy()
        prior = np.where(y == 1, 0.6 / y.mean(), 0.4 / (1 - y.mean()))  # P(default) -> 0.6
        self.label_shifted = prior / prior.sum()

    def draw(self, n: int, mix: np.ndarray | float = 0.0, weights: np.ndarray | None = None
             ) -> pd.DataFrame:
        """``n`` rows; row i comes from ``weights`` (default the tilt) with probability mix[i]."""
        size = len(self.frame)
        mix = np.broadcast_to(np.asarray(mix, dtype=float), (n,))
        base = self.rng.integers(0, size, n)
        tilted = self.rng.choice(size, n, p=self.tilted if weights is None else weights)
        idx = np.where(self.rng.random(n) < mix, tilted, base)
        return self.frame.iloc[idx].reset_index(drop=True)


def _split(frame: pd.DataFrame, n_train: int) -> tuple[pd.DataFrame, np.ndarray,
                                                          pd.DataFrame, np.ndarray]:
    X, y = frame[FEATURES].reset_index(drop=True), frame[TARGET].to_numpy()
    return (X.iloc[:n_train].reset_index(drop=True), y[:n_train],
            X.iloc[n_train:].reset_index(drop=True), y[n_train:])


def _credit(pool: _CreditPool, name: str, desc: str, s: Sizes, mix: np.ndarray,
            cps: list[int], weights: np.ndarray | None = None,
            edit: Callable[[pd.DataFrame, np.ndarray], np.ndarray] | None = None,
            n_stream: int | None = None, bad_deploy_at: int | None = None) -> Stream:
    n_stream = n_stream or s.n_stream
    frame = pd.concat([pool.draw(s.n_train), pool.draw(n_stream, mix, weights)],
                      ignore_index=True)
    tX, ty, X, y = _split(frame, s.n_train)
    if edit is not None:
        y = edit(X, y)
    return Stream(name, "credit", desc, tX, ty, X, y, cps, s.label_delay, bad_deploy_at)


def credit_scenarios(s: Sizes, seed: int = 0) -> list[Stream]:
    """The credit-style scenarios (and the no-drift control and the bad deploy)."""
    pool = _CreditPool(s.pool, seed)
    n, c = s.n_stream, s.change_at
    t = np.arange(n)
    step = (t >= c).astype(float)
    ramp = np.clip((t - c) / s.ramp, 0.0, 1.0)
    start = c - 2 * s.period
    season = ((t >= start) & (((t - start) // s.period) % 2 == 0)).astype(float)
    season_cps = [int(x) for x in range(start, n, s.period)]
    rng = np.random.default_rng(seed + 7)

    def concept(X: pd.DataFrame, y: np.ndarray) -> np.ndarray:
        # P(y|x) moves: among the indebted (debt_ratio > 0.35), 60% of outcomes flip
        flip = (np.arange(len(y)) >= c) & (X["debt_ratio"].to_numpy() > 0.35) & (
            rng.random(len(y)) < 0.6)
        return np.where(flip, 1 - y, y)

    out = [
        _credit(pool, "covariate_sudden", "credit; from the change point applicants are drawn "
                "tilted toward high debt ratio and low income (P(y|x) unchanged)", s, step, [c]),
        _credit(pool, "gradual", "credit; the tilted share rises linearly from 0 to 1 over "
                f"{s.ramp} events", s, ramp, [c, c + s.ramp]),
        _credit(pool, "recurring", f"credit; seasons of {s.period} events alternate between "
                "the tilted and the base population", s, season, season_cps),
        _credit(pool, "concept", "credit; same P(x); from the change point 60% of the labels "
                "of applicants with debt_ratio > 0.35 flip (P(y|x) changes)", s, 0.0, [c],
                edit=concept),
        _credit(pool, "label_shift", "credit; from the change point P(default) goes from "
                "0.25 to 0.6 with P(x|y) unchanged", s, step, [c], weights=pool.label_shifted),
    ]
    unit = _credit(pool, "dq_unit", "credit; data-quality incident: from the change point "
                   "income arrives in thousands (a unit change upstream)", s, 0.0, [c])
    unit.X.loc[c:, "income"] = unit.X.loc[c:, "income"] / 1000.0
    null = _credit(pool, "dq_null", "credit; data-quality incident: from the change point "
                   "debt_ratio arrives null", s, 0.0, [c])
    null.X.loc[c:, "debt_ratio"] = np.nan
    control = _credit(pool, "control", "credit; no drift at all (false-alarm control)", s,
                      0.0, [], n_stream=s.n_control)
    bad = _credit(pool, "bad_deploy", "credit; no drift; a broken candidate (income and "
                  "loan_amount swapped in its training data) is shipped at the change point",
                  s, 0.0, [], bad_deploy_at=c)
    return [*out, unit, null, control, bad]


def _river_frame(gen: object, n: int) -> tuple[pd.DataFrame, np.ndarray]:
    rows, labels = [], []
    for x, y in itertools.islice(gen, n):  # type: ignore[call-overload]
        rows.append(x)
        labels.append(int(y))
    frame = pd.DataFrame(rows).astype(float)
    frame.columns = [c if isinstance(c, str) else f"x{c}" for c in frame.columns]
    return frame, np.asarray(labels, dtype=np.int64)


def river_scenarios(s: Sizes, seed: int = 0) -> list[Stream]:
    """Concept-drift streams from river's generators; empty when river is not installed."""
    try:
        from river.datasets import synth
    except ImportError:
        return []
    at = s.n_train + s.change_at
    total = s.n_train + s.n_stream
    specs = [
        ("sea", "river SEA: the threshold on x1 + x2 goes from 9 to 7 (variant 1 -> 2), "
         "10% label noise", (
             synth.SEA(variant=1, noise=0.1, seed=seed),
             synth.SEA(variant=2, noise=0.1, seed=seed + 1))),
        ("agrawal", "river Agrawal: classification function 0 -> 2 (loan rules change)",
         (synth.Agrawal(0, seed=seed), synth.Agrawal(2, seed=seed + 1))),
        ("hyperplane", "river Hyperplane (10 features): fixed, then 5 weights start "
         "rotating (mag_change=0.001 per event)", (
             synth.Hyperplane(seed=seed, n_features=10, mag_change=0.0),
             synth.Hyperplane(seed=seed, n_features=10, n_drift_features=5,
                              mag_change=0.001))),
        ("rbf", "river RandomRBF (10 features, 50 centroids): fixed, then 25 centroids "
         "move (RandomRBFDrift, change_speed=0.001)", (
             synth.RandomRBF(seed_model=seed, seed_sample=seed),
             synth.RandomRBFDrift(seed_model=seed, seed_sample=seed + 1, change_speed=0.001,
                                  n_drift_centroids=25))),
    ]
    out = []
    for name, desc, (before, after) in specs:
        # a sudden switch of generator (ConceptDriftStream's sigmoid overflows at width 1)
        X0, y0 = _river_frame(before, at)
        X1, y1 = _river_frame(after, total - at)
        X, y = pd.concat([X0, X1], ignore_index=True), np.concatenate([y0, y1])
        out.append(Stream(name, "river", desc, X.iloc[:s.n_train].reset_index(drop=True),
                          y[:s.n_train], X.iloc[s.n_train:].reset_index(drop=True),
                          y[s.n_train:], [s.change_at], s.label_delay))
    return out


def all_scenarios(s: Sizes, seed: int = 0) -> list[Stream]:
    """Every scenario, credit first."""
    return [*credit_scenarios(s, seed), *river_scenarios(s, seed)]
