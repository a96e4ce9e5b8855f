"""Seeded synthetic credit-like data and a fitted tree pipeline for the diagnosis tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

REGIONS = ["north", "south", "east", "west"]


def make_frame(n: int, seed: int, *, income_shift: float = 0.0,
               noise_shift: float = 0.0) -> tuple[pd.DataFrame, np.ndarray]:
    """Features and labels: the label depends on income (mostly) and age, never on noise."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "income": rng.normal(50.0 + income_shift, 10.0, n),
        "age": rng.normal(40.0, 10.0, n),
        "noise": rng.normal(noise_shift, 1.0, n),
        "region": rng.choice(REGIONS, n),
    })
    score = (frame["income"] - 50) / 10 + 0.3 * (frame["age"] - 40) / 10
    y = (score + rng.normal(0.0, 0.5, n) > 0).astype(int).to_numpy()
    return frame, y


def fit_model(frame: pd.DataFrame, y: np.ndarray) -> Pipeline:
    pre = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["region"])],
                            remainder="passthrough")
    model = Pipeline([("pre", pre),
                      ("clf", GradientBoostingClassifier(n_estimators=40, random_state=0))])
    return model.fit(frame, y)


@pytest.fixture(name="make_frame")
def make_frame_fixture() -> Callable[..., tuple[pd.DataFrame, np.ndarray]]:
    """:func:`make_frame`, for the tests."""
    return make_frame


@pytest.fixture(scope="module")
def reference() -> tuple[pd.DataFrame, np.ndarray]:
    return make_frame(2000, seed=1)


@pytest.fixture(scope="module")
def model(reference: tuple[pd.DataFrame, np.ndarray]) -> Pipeline:
    return fit_model(*reference)
