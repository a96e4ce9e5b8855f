"""A small registry for check tests: credit data, a production baseline and a candidate.

SQLite only: the checks do not touch SQL beyond the store's public API, which the
store tests cover on every backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import mlpilot
from mlpilot.core.settings import Settings
from mlpilot.demo.credit import FEATURES, TARGET, make_credit_data
from mlpilot.sdk._context import Context, set_context
from mlpilot.store import Store
from mlpilot.store.artifacts import get_artifact_store

NUMERIC = ["age", "income", "debt_ratio", "credit_lines", "late_payments", "loan_amount",
           "employment_years"]
CATEGORICAL = ["purpose", "home_ownership", "sex"]


def credit_pipeline(estimator: object) -> Pipeline:
    """The demo's preprocessing in front of ``estimator``."""
    pre = ColumnTransformer([("num", StandardScaler(), NUMERIC),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)])
    return Pipeline([("pre", pre), ("model", estimator)])


@dataclass
class CheckEnv:
    """What check tests need: the context, the data splits, and two registered versions."""

    context: Context
    train: pd.DataFrame
    holdout: pd.DataFrame
    baseline_ref: str  # logistic regression, alias production
    candidate_ref: str  # gradient boosting, alias candidate

    def register(self, model: object, *, features: list[str] | None = None,
                 alias: str | None = None) -> str:
        """Register another candidate trained on the same data; returns its reference."""
        cols = features or FEATURES
        with mlpilot.start_run(name="extra", model="credit-risk", context=self.context) as run:
            run.log_dataset(self.holdout, "credit-holdout", role="validation")
            v = mlpilot.register(model, "credit-risk", run=run,
                                 training_data=self.train[cols], alias=alias,
                                 context=self.context)
        return v.ref


@pytest.fixture(scope="session")
def _credit_models() -> tuple[pd.DataFrame, pd.DataFrame, Pipeline, Pipeline]:
    """Data splits and the two fitted pipelines, trained once per test session."""
    data = make_credit_data(3000, seed=3)
    train, holdout = train_test_split(data, test_size=0.3, random_state=0,
                                      stratify=data[TARGET])
    train, holdout = train.reset_index(drop=True), holdout.reset_index(drop=True)
    base = credit_pipeline(LogisticRegression(max_iter=500)).fit(train[FEATURES], train[TARGET])
    cand = credit_pipeline(HistGradientBoostingClassifier(
        max_iter=100, max_leaf_nodes=4, min_samples_leaf=50, random_state=0)).fit(
        train[FEATURES], train[TARGET])
    return train, holdout, base, cand


@pytest.fixture
def check_env(tmp_path: Path, _credit_models: tuple[pd.DataFrame, pd.DataFrame, Pipeline,
                                                    Pipeline]) -> Iterator[CheckEnv]:
    home = tmp_path / "home"
    settings = Settings(home=home, store_url=f"sqlite:///{home}/m.db",
                        artifact_url=str(home / "artifacts"), actor="tester")
    settings.ensure_home()
    ctx = Context(settings=settings, store=Store.open(settings.store_url, actor="tester"),
                  artifacts=get_artifact_store(settings.artifact_url))
    set_context(ctx)
    train, holdout, base, cand = _credit_models
    env = CheckEnv(ctx, train.copy(), holdout.copy(), "", "")
    env.baseline_ref = env.register(base, alias="production")
    env.candidate_ref = env.register(cand, alias="candidate")
    yield env
    set_context(None)
    ctx.store.close()
