"""The data checks: validation against the training schema/profile, and data quality.

One registry per module (training and skops-saving models dominate the cost); every
test checks its own frame or registers its own version, so none depends on another.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import mlpilot
from mlpilot.checks import CheckContext, Severity, Verdict, build_check, run_checks
from mlpilot.checks.data_quality import DataQualityCheck
from mlpilot.checks.data_validation import DataValidationCheck
from mlpilot.core.errors import InvalidArgument
from mlpilot.core.settings import Settings
from mlpilot.demo.credit import FEATURES, TARGET, make_credit_data
from mlpilot.sdk._context import Context
from mlpilot.store import Store
from mlpilot.store.artifacts import get_artifact_store

NUMERIC = ["age", "income", "debt_ratio", "credit_lines", "late_payments", "loan_amount",
           "employment_years"]
CATEGORICAL = ["purpose", "home_ownership", "sex"]


def _pipeline() -> Pipeline:
    pre = ColumnTransformer([("num", StandardScaler(), NUMERIC),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)])
    return Pipeline([("pre", pre), ("model", LogisticRegression(max_iter=500))])


@dataclass
class Env:
    context: Context
    train: pd.DataFrame
    holdout: pd.DataFrame
    candidate_ref: str

    def register(self, model: object, *, train: pd.DataFrame, holdout: pd.DataFrame,
                 features: list[str]) -> str:
        with mlpilot.start_run(name="extra", model="credit-risk", context=self.context) as run:
            run.log_dataset(holdout, "credit-holdout", role="validation")
            v = mlpilot.register(model, "credit-risk", run=run, training_data=train[features],
                                 context=self.context)
        return v.ref


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    home = tmp_path_factory.mktemp("data-checks")
    settings = Settings(home=home, store_url=f"sqlite:///{home}/m.db",
                        artifact_url=str(home / "artifacts"), actor="tester")
    settings.ensure_home()
    ctx = Context(settings=settings, store=Store.open(settings.store_url, actor="tester"),
                  artifacts=get_artifact_store(settings.artifact_url))
    data = make_credit_data(3000, seed=3)
    train, holdout = train_test_split(data, test_size=0.3, random_state=0,
                                      stratify=data[TARGET])
    train, holdout = train.reset_index(drop=True), holdout.reset_index(drop=True)
    model = _pipeline().fit(train[FEATURES], train[TARGET])
    e = Env(ctx, train, holdout, "")
    e.candidate_ref = e.register(model, train=train, holdout=holdout, features=FEATURES)
    yield e
    ctx.store.close()


def _check(env: Env, name: str, data: pd.DataFrame | None = None, ref: str | None = None,
           **params: object):
    report = run_checks(ref or env.candidate_ref, only=[name], data=data, target=TARGET,
                        config={"checks": {name: params}} if params else None,
                        context=env.context)
    result = report.get(name)
    json.dumps(result.evidence, allow_nan=False)  # evidence is strict JSON
    return result


# -- data_validation ----------------------------------------------------------------------
def test_validation_passes_on_the_holdout(env: Env) -> None:
    result = _check(env, "data_validation")
    assert result.verdict is Verdict.PASS, result.summary
    assert result.severity is Severity.BLOCKING
    holdout = result.evidence["datasets"]["holdout"]
    assert holdout["rows"] == len(env.holdout)
    assert holdout["schema"] == {"missing": [], "extra": [], "retyped": {},
                                 "newly_nullable": []}


def test_schema_break_fails_naming_each_column(env: Env) -> None:
    broken = env.holdout.drop(columns=["income"]).assign(
        branch="north", age=env.holdout["age"].astype(str))
    result = _check(env, "data_validation", broken)
    assert result.verdict is Verdict.FAIL
    for column in ("income", "branch", "age"):
        assert repr(column) in result.summary
    schema = result.evidence["datasets"]["holdout"]["schema"]
    assert schema["missing"] == ["income"] and schema["extra"] == ["branch"]
    assert schema["retyped"] == {"age": {"expected": "integer", "got": "string"}}


def test_value_changes_warn_with_evidence(env: Env) -> None:
    changed = env.holdout.copy()
    changed.loc[:89, "income"] = changed.loc[:89, "income"] * 100  # 10% far out of range
    purpose = changed["purpose"].astype(str)
    purpose[:30] = "crypto"
    changed["purpose"] = purpose
    changed.loc[:44, "debt_ratio"] = np.nan
    result = _check(env, "data_validation", changed)
    assert result.verdict is Verdict.WARN, result.summary
    holdout = result.evidence["datasets"]["holdout"]
    assert holdout["out_of_range"]["income"]["out_of_range_share"] >= 0.1
    assert holdout["unseen_categories"]["purpose"]["unseen"] == {"crypto": 30}
    assert holdout["nulls"]["debt_ratio"] == {"reference_null_rate": 0.0, "null_rate": 0.05,
                                              "p_value": 0.0}
    for column in ("income", "purpose", "debt_ratio"):
        assert repr(column) in result.summary


def test_extra_data_is_validated_too(env: Env, tmp_path: Path) -> None:
    serving = tmp_path / "serving.parquet"
    env.holdout.drop(columns=[TARGET, "sex"]).head(50).to_parquet(serving)
    result = _check(env, "data_validation", extra_data=[str(serving)])
    assert result.verdict is Verdict.FAIL
    assert str(serving) in result.summary and "'sex'" in result.summary
    assert result.evidence["datasets"]["holdout"]["schema"]["missing"] == []
    assert result.evidence["datasets"][str(serving)]["schema"]["missing"] == ["sex"]


def test_validation_skips_without_reference_and_rejects_bad_params(env: Env) -> None:
    model = mlpilot.load(env.candidate_ref, context=env.context)
    ctx = CheckContext(context=env.context, candidate=model.version, model=model,
                       data=env.holdout, target=TARGET)
    assert DataValidationCheck().run(ctx).verdict is Verdict.SKIP
    with pytest.raises(InvalidArgument, match="'max_unseen_share' parameter"):
        DataValidationCheck(max_unseen_share=2)
    with pytest.raises(InvalidArgument, match="Bad configuration"):
        build_check("data_validation", {"no_such": 1})


# -- data_quality -------------------------------------------------------------------------
def test_quality_passes_on_the_holdout(env: Env) -> None:
    result = _check(env, "data_quality")
    assert result.verdict is Verdict.PASS, result.summary
    assert result.severity is Severity.ADVISORY
    outliers = result.evidence["outliers"]
    assert not outliers["flagged"] and outliers["reference_share"] > 0
    assert max(result.evidence["leakage"]["scores"].values()) < 0.9
    assert result.evidence["duplicate_columns"] == []


def test_injected_outliers_raise_the_outlier_share(env: Env) -> None:
    noisy = env.holdout.copy()
    rows = noisy.sample(frac=0.15, random_state=1).index
    noisy.loc[rows, "income"] *= 40
    noisy.loc[rows, "loan_amount"] *= 30
    noisy.loc[rows, "debt_ratio"] += 5
    result = _check(env, "data_quality", noisy)
    outliers = result.evidence["outliers"]
    assert result.verdict is Verdict.FAIL, result.summary
    assert outliers["flagged"] and outliers["p_value"] < 0.01
    assert outliers["holdout_share"] > 0.1 > 2 * outliers["reference_share"]
    assert len(outliers["examples"]) == 5
    assert all(e["row"] in set(rows) for e in outliers["examples"])
    assert "outliers" in result.summary


def test_duplicates_and_constant_columns_are_reported(env: Env) -> None:
    dup = pd.concat([env.holdout, env.holdout.head(100)], ignore_index=True)
    dup["late_payments"] = dup["credit_lines"]
    dup["sex"] = pd.Categorical(["female"] * len(dup), categories=["female", "male"])
    model = mlpilot.load(env.candidate_ref, context=env.context)
    result = DataQualityCheck(max_duplicate_share=0.05).run(
        CheckContext(context=env.context, candidate=model.version, model=model, data=dup,
                     target=TARGET))
    assert result.verdict is Verdict.WARN, result.summary  # no reference: outliers skipped
    assert result.evidence["outliers"] == {"skipped": "no reference dataset"}
    assert result.evidence["duplicate_rows"]["count"] >= 100
    assert result.evidence["duplicate_columns"] == [["credit_lines", "late_payments"]]
    assert result.evidence["constant_columns"] == ["sex"]
    assert "'sex' is constant" in result.summary


def test_leaky_feature_fails_naming_it(env: Env) -> None:
    rng = np.random.default_rng(0)
    train = env.train.assign(leak=env.train[TARGET] + rng.normal(0, 0.01, len(env.train)))
    holdout = env.holdout.assign(leak=env.holdout[TARGET]
                                 + rng.normal(0, 0.01, len(env.holdout)))
    features = [*FEATURES, "leak"]
    model = _pipeline().fit(train[features], train[TARGET])
    ref = env.register(model, train=train, holdout=holdout, features=features)
    report = run_checks(ref, only=["data_quality"], context=env.context)
    result = report.get("data_quality")
    assert result.verdict is Verdict.FAIL
    assert "leaky column 'leak'" in result.summary
    assert result.evidence["leakage"]["leaky"] == ["leak"]
    assert result.evidence["leakage"]["scores"]["leak"] >= 0.98
    assert report.blessed  # advisory by default: reported, not blocking
