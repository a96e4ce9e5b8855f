"""Fixtures for the training tests: a SQLite home and a small mixed-type frame."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlpilot
from mlpilot.sdk._context import Context


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Context]:
    """The default context on a SQLite store under tmp_path."""
    context = mlpilot.configure(home=str(tmp_path / "home"))
    yield context
    mlpilot.set_context(None)


def make_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Binary labels from two numeric columns and a category; NaNs in both kinds."""
    rng = np.random.default_rng(seed)
    x1, x2, noise = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    city = rng.choice(["paris", "rome", "oslo", "lima"], size=n)
    logit = 1.5 * x1 - x2 + np.where(city == "oslo", 2.0, 0.0) - 0.5
    y = (logit + rng.normal(scale=0.7, size=n) > 0).astype(int)
    frame = pd.DataFrame({"x1": x1, "x2": x2, "noise": noise, "city": city, "label": y})
    frame.loc[rng.random(n) < 0.1, "x2"] = np.nan
    frame.loc[rng.random(n) < 0.1, "city"] = None
    return frame


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture
def big_frame() -> pd.DataFrame:
    return make_frame(600, seed=1)
