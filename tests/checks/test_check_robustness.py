"""The robustness check: edge cases from the signature and profile, metamorphic stability."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import mlpilot
from mlpilot.checks import CheckResult, Verdict, build_check, run_checks
from mlpilot.checks.robustness import read_failures
from mlpilot.core.errors import InvalidArgument
from mlpilot.demo.credit import FEATURES, TARGET

if TYPE_CHECKING:
    from conftest import CheckEnv

NUMERIC = ["age", "income", "debt_ratio", "credit_lines", "late_payments", "loan_amount",
           "employment_years"]
CATEGORICAL = ["purpose", "home_ownership", "sex"]


class NanForLargeIncome:
    """Wraps a fitted classifier; answers NaN probabilities when income exceeds 1e9."""

    def __init__(self, inner: Any = None) -> None:
        self.inner = inner

    def fit(self, X: pd.DataFrame, y: Any) -> NanForLargeIncome:
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        proba = np.asarray(self.inner.predict_proba(X), dtype=np.float64)
        proba[X["income"].to_numpy(np.float64) > 1e9] = np.nan
        return proba

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.inner.predict(X))


class NoisyProbabilities:
    """Wraps a fitted classifier and adds fresh random noise to every probability."""

    def __init__(self, inner: Any = None) -> None:
        self.inner = inner

    def fit(self, X: pd.DataFrame, y: Any) -> NoisyProbabilities:
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = np.asarray(self.inner.predict_proba(X))[:, 1]
        p = np.clip(p + np.random.default_rng().normal(0, 0.2, len(p)), 0.0, 1.0)
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)


def _trust(cls: type) -> list[str]:
    return [f"{cls.__module__}.{cls.__qualname__}"]


def _robustness(env: CheckEnv, ref: str, out: Path, **config: Any) -> CheckResult:
    report = run_checks(ref, only=["robustness"], baseline=None, output_dir=out,
                        config=config, store_report=False, context=env.context)
    return report.get("robustness")


def test_gradient_boosting_pipeline_passes(check_env: CheckEnv, tmp_path: Path) -> None:
    result = _robustness(check_env, check_env.candidate_ref, tmp_path)
    assert result.verdict is Verdict.PASS, result.summary
    ev = result.evidence
    assert ev["failures"] == 0 and ev["warnings"] == 0
    assert {"boundary", "out_of_range", "huge", "missing", "missing_all", "unseen_category",
            "empty_string"} <= set(ev["cases_by_kind"])
    assert ev["cases_run"] <= 500
    assert set(ev["stability"]) == {"repeat", "noise", "permutation", "single"}
    assert not any(s["violated"] for s in ev["stability"].values())
    assert not (tmp_path / "robustness" / "failures.json").exists()


def test_missing_values_warn_unless_the_signature_promises_them(
        check_env: CheckEnv, tmp_path: Path) -> None:
    # StandardScaler -> LogisticRegression crashes on NaN. The training data had no
    # nulls, so the signature never promised them: a warning, not a failure.
    result = _robustness(check_env, check_env.baseline_ref, tmp_path / "a")
    assert result.verdict is Verdict.WARN, result.summary
    assert result.evidence["failures"] == 0
    example = result.evidence["examples"][0]
    assert example["kind"] == "missing" and example["reason"] == "crash"
    assert example["column"] in NUMERIC and example["row"][example["column"]] is None
    assert "non-nullable" in result.summary

    # The same model, registered with a signature declaring income nullable: a failure.
    signature = check_env.context.store.resolve(check_env.baseline_ref).signature
    signature["inputs"] = [{**c, "nullable": c["name"] == "income"}
                           for c in signature["inputs"]]
    model = mlpilot.load(check_env.baseline_ref, context=check_env.context).raw
    ref = mlpilot.register(model, "credit-risk", signature=signature,
                           training_data=check_env.train[FEATURES],
                           context=check_env.context).ref
    result = _robustness(check_env, ref, tmp_path / "b")
    assert result.verdict is Verdict.FAIL
    assert "missing:crash" in result.summary and "'income'" in result.summary


def test_crash_on_unseen_category_fails_with_reproducible_examples(
        check_env: CheckEnv, tmp_path: Path) -> None:
    pre = ColumnTransformer([("num", StandardScaler(), NUMERIC),
                             ("cat", OneHotEncoder(handle_unknown="error"), CATEGORICAL)])
    model = Pipeline([("pre", pre), ("model", LogisticRegression(max_iter=500))])
    model.fit(check_env.train[FEATURES], check_env.train[TARGET])
    ref = check_env.register(model)

    result = _robustness(check_env, ref, tmp_path)
    assert result.verdict is Verdict.FAIL
    assert "unseen_category:crash" in result.summary
    unseen = [e for e in result.evidence["examples"] if e["kind"] == "unseen_category"]
    assert unseen and unseen[0]["column"] in CATEGORICAL
    assert "Found unknown categories" in unseen[0]["error"]

    path = Path(result.evidence["failures_path"])
    assert path == tmp_path / "robustness" / "failures.json"
    assert Path(result.evidence["failures_parquet"]).exists()
    cases, frame = read_failures(path)
    i = next(i for i, c in enumerate(cases) if c["kind"] == "unseen_category")
    assert frame.iloc[i][cases[i]["column"]] == "__unseen__"
    loaded = mlpilot.load(ref, context=check_env.context)
    with pytest.raises(ValueError, match="unknown categories"):
        loaded.predict(frame.iloc[[i]])
    parquet = pd.read_parquet(result.evidence["failures_parquet"])
    assert "unseen_category" in set(parquet["__case_kind"])


def test_nan_output_for_huge_inputs_fails(check_env: CheckEnv, tmp_path: Path) -> None:
    inner = mlpilot.load(check_env.candidate_ref, context=check_env.context).raw
    ref = check_env.register(NanForLargeIncome(inner))
    result = _robustness(check_env, ref, tmp_path, trust=_trust(NanForLargeIncome),
                         checks={"robustness": {"stability_rows": 50}})
    assert result.verdict is Verdict.FAIL, result.summary
    bad = [e for e in result.evidence["examples"] if e["reason"] == "non_finite"]
    assert bad and all(e["column"] == "income" for e in bad)
    assert {e["kind"] for e in bad} <= {"huge", "out_of_range"}
    assert any(e["value"] == 1e12 for e in bad)
    assert bad[0]["output"]["proba"] == [None, None]


def test_noisy_model_is_unstable(check_env: CheckEnv, tmp_path: Path) -> None:
    inner = mlpilot.load(check_env.candidate_ref, context=check_env.context).raw
    ref = check_env.register(NoisyProbabilities(inner))
    result = _robustness(check_env, ref, tmp_path, trust=_trust(NoisyProbabilities),
                         checks={"robustness": {"stability_rows": 50}})
    assert result.verdict is Verdict.FAIL
    stability = result.evidence["stability"]
    assert stability["repeat"]["violated"] and stability["permutation"]["violated"]
    assert stability["repeat"]["max_delta"] > 0.05
    assert "unstable" in result.summary
    assert result.evidence["examples"][0]["kind"].startswith("stability_")


def test_profile_without_holdout_and_skip_without_signature(
        check_env: CheckEnv, tmp_path: Path) -> None:
    model = mlpilot.load(check_env.candidate_ref, context=check_env.context).raw
    ctx = check_env.context
    # No run, hence no validation dataset: inputs come from the training profile.
    ref = mlpilot.register(model, "credit-risk", training_data=check_env.train[FEATURES],
                           context=ctx).ref
    result = _robustness(check_env, ref, tmp_path)
    assert result.verdict is Verdict.PASS, result.summary
    assert result.evidence["statistics_from"] == "profile"
    assert result.evidence["base_rows"] == 1 and result.evidence["stability_rows"] == 200

    bare = mlpilot.register(model, "credit-risk", context=ctx).ref
    result = _robustness(check_env, bare, tmp_path)
    assert result.verdict is Verdict.SKIP and "signature" in result.summary


def test_max_cases_caps_the_edge_cases(check_env: CheckEnv, tmp_path: Path) -> None:
    result = _robustness(check_env, check_env.candidate_ref, tmp_path,
                         seed=7, checks={"robustness": {"max_cases": 40,
                                                        "stability_rows": 30}})
    assert result.evidence["cases_run"] == 40 < result.evidence["cases_generated"]
    assert result.evidence["stability_rows"] == 30


@pytest.mark.parametrize("params", [{"max_flip_rate": 2}, {"max_cases": 0},
                                    {"noise": -1.0}, {"severity": "sometimes"}])
def test_bad_parameters_are_refused(params: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument, match="robustness"):
        build_check("robustness", params)
