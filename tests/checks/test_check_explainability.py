"""The explainability check: SHAP importances per input column and the flags they raise."""

from __future__ import annotations

import importlib.util
import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlpilot.checks import CheckResult, Verdict, build_check, run_checks
from mlpilot.core.errors import InvalidArgument
from mlpilot.demo.credit import FEATURES, TARGET

if TYPE_CHECKING:
    from conftest import CheckEnv

NUMERIC = ["age", "income", "debt_ratio", "credit_lines", "late_payments", "loan_amount",
           "employment_years"]
CATEGORICAL = ["purpose", "home_ownership", "sex"]
SMALL = {"max_rows": 60, "background": 20}


def _gb(numeric: list[str], categorical: list[str]) -> Pipeline:
    pre = ColumnTransformer([("num", StandardScaler(), numeric),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), categorical)])
    return Pipeline([("pre", pre), ("model", HistGradientBoostingClassifier(
        max_iter=60, max_leaf_nodes=4, min_samples_leaf=50, random_state=0))])


def _explain(env: CheckEnv, ref: str, *, store: bool = False, **config: Any) -> CheckResult:
    params = {**SMALL, **config.pop("params", {})}
    config = {"sensitive_features": ["sex"], "target": TARGET,
              "checks": {"explainability": params}, **config}
    report = run_checks(ref, only=["explainability"], config=config, store_report=store,
                        context=env.context)
    return report.get("explainability")


def _sex_driven_labels(frame: pd.DataFrame, seed: int = 0) -> pd.Series:
    """Labels that follow ``sex`` 90% of the time: a model trained on them leans on it."""
    noise = np.random.default_rng(seed).random(len(frame)) < 0.1
    return pd.Series(((frame["sex"] == "male").to_numpy() ^ noise).astype(np.int64),
                     index=frame.index)


def test_importances_per_input_column(check_env: CheckEnv) -> None:
    result = _explain(check_env, check_env.candidate_ref, store=True)
    assert result.verdict is Verdict.PASS, result.summary
    ev = result.evidence
    assert ev["method"] == "tree" and ev["rows_explained"] == 60
    assert "TreeExplainer" in ev["explainer"]
    # one-hot columns are summed back: the keys are the input columns, nothing else
    assert set(ev["importances"]) == set(ev["importances_raw"]) == set(FEATURES)
    assert sum(ev["importances"].values()) == pytest.approx(1.0, abs=1e-4)
    ranking = list(ev["importances"])
    assert ranking[0] == "debt_ratio" and "late_payments" in ranking[:3]
    assert ev["importances"] == dict(sorted(ev["importances"].items(), key=lambda kv: -kv[1]))
    assert [row["feature"] for row in ev["chart"]] == ranking
    assert ev["sensitive_in_top_k"] == [] and ev["strong_proxies"] == []
    assert {p["attribute"] for p in ev["proxies"]} == {"sex"}
    assert all(p["auc"] < 0.8 for p in ev["proxies"])
    json.dumps(ev, allow_nan=False)
    # stored on the version, for root-cause analysis later
    stored = check_env.context.store.resolve(check_env.candidate_ref).check_report
    entry = next(r for r in stored["results"] if r["check"] == "explainability")
    assert entry["evidence"]["importances"] == ev["importances"]

    # model-agnostic on a tiny budget agrees on what matters most
    kernel = _explain(check_env, check_env.candidate_ref,
                      params={"method": "kernel", "max_rows": 8, "background": 5})
    assert kernel.evidence["method"] == "kernel" and kernel.evidence["rows_explained"] == 8
    assert set(kernel.evidence["importances"]) == set(FEATURES)
    assert "debt_ratio" in list(kernel.evidence["importances"])[:3]

    lime = _explain(check_env, check_env.candidate_ref, params={"method": "lime"})
    if importlib.util.find_spec("lime") is None:
        assert lime.verdict is Verdict.SKIP and "pip install lime" in lime.summary
    else:
        assert set(lime.evidence["importances"]) == set(FEATURES)


def test_dominant_sensitive_feature_is_flagged(check_env: CheckEnv) -> None:
    train = check_env.train
    model = _gb(NUMERIC, CATEGORICAL).fit(train[FEATURES], _sex_driven_labels(train))
    ref = check_env.register(model)

    result = _explain(check_env, ref)
    assert result.verdict is Verdict.WARN
    assert list(result.evidence["importances"])[0] == "sex"
    assert result.evidence["sensitive_in_top_k"] == ["sex"]
    assert "sensitive feature" in result.summary and "'sex'" in result.summary

    blocking = _explain(check_env, ref, params={"severity": "blocking"})
    assert blocking.verdict is Verdict.FAIL and blocking.blocks


def test_proxy_of_a_sensitive_attribute_is_flagged(check_env: CheckEnv) -> None:
    def code(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(sex_code=(frame["sex"] == "male").astype(np.int64))

    check_env.train, check_env.holdout = code(check_env.train), code(check_env.holdout)
    features = [c for c in FEATURES if c != "sex"] + ["sex_code"]
    model = _gb(NUMERIC + ["sex_code"], ["purpose", "home_ownership"])
    model.fit(check_env.train[features], _sex_driven_labels(check_env.train))
    ref = check_env.register(model, features=features)

    result = _explain(check_env, ref)
    assert result.verdict is Verdict.WARN
    assert result.evidence["sensitive_in_top_k"] == []  # the model never sees `sex`
    (proxy,) = result.evidence["strong_proxies"]
    assert proxy["feature"] == "sex_code" and proxy["attribute"] == "sex"
    assert proxy["auc"] >= 0.99
    assert "'sex_code' is a proxy of sensitive attribute 'sex'" in result.summary


def test_ranking_shift_against_the_baseline(check_env: CheckEnv) -> None:
    base = _explain(check_env, check_env.baseline_ref, store=True)
    assert base.evidence["method"] == "linear"
    assert list(base.evidence["importances"])[0] == "debt_ratio"

    # the same candidate is stable against it ...
    same = _explain(check_env, check_env.candidate_ref)
    assert same.evidence["rank_shift"]["compared"] is True
    assert same.evidence["rank_shift"]["shifted"] is False, same.evidence["rank_shift"]

    # ... one trained without the baseline's strongest features is not
    numeric = [c for c in NUMERIC if c not in ("debt_ratio", "late_payments")]
    features = numeric + CATEGORICAL
    model = _gb(numeric, CATEGORICAL).fit(check_env.train[features], check_env.train[TARGET])
    ref = check_env.register(model, features=features)
    result = _explain(check_env, ref)
    assert result.verdict is Verdict.WARN
    shift = result.evidence["rank_shift"]
    assert shift["shifted"] and shift["baseline"] == check_env.baseline_ref
    assert shift["dropped_top_features"] == ["debt_ratio"]
    assert shift["baseline_ranking"][0] == "debt_ratio"
    assert "debt_ratio" not in shift["candidate_ranking"]
    assert "ranking shifted" in result.summary and "'debt_ratio'" in result.summary


def test_preprocessing_is_traced_back_or_explained_model_agnostically(
        check_env: CheckEnv) -> None:
    train = check_env.train
    categorical = Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                            ("onehot", OneHotEncoder(drop="first"))])
    pre = ColumnTransformer([("cat", categorical, ["purpose", "home_ownership", "sex"]),
                             ("num", SimpleImputer(), ["income", "age"])],
                            remainder="passthrough")
    model = Pipeline([("pre", pre), ("model", HistGradientBoostingClassifier(
        max_iter=30, random_state=0))]).fit(train[FEATURES], train[TARGET])
    result = _explain(check_env, check_env.register(model))
    assert result.evidence["method"] == "tree"
    assert set(result.evidence["importances"]) == set(FEATURES)

    # PCA mixes columns: no owner per component, so 'tree' is refused and 'auto'
    # falls back to a model-agnostic explainer on the raw input frame.
    numeric = Pipeline([("scale", StandardScaler()), ("pca", PCA(n_components=3))])
    mixed = Pipeline([("pre", ColumnTransformer([("num", numeric, NUMERIC)])),
                      ("model", HistGradientBoostingClassifier(max_iter=20, random_state=0))])
    ref = check_env.register(mixed.fit(train[NUMERIC], train[TARGET]), features=NUMERIC)
    refused = _explain(check_env, ref, params={"method": "tree"})
    assert refused.verdict is Verdict.ERROR and "method='tree'" in refused.summary
    auto = _explain(check_env, ref, params={"max_rows": 5, "background": 5})
    assert auto.evidence["method"] == "kernel"
    assert set(auto.evidence["importances"]) == set(NUMERIC)


@pytest.mark.parametrize("params", [{"method": "magic"}, {"max_rows": 0}, {"top_k": 1.5},
                                    {"proxy_auc": 1.2}, {"sensitive_features": "sex"}])
def test_bad_parameters_are_refused(params: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument, match="explainability"):
        build_check("explainability", params)
