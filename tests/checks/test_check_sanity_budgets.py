"""The model sanity and budget checks, on well-behaved and deliberately broken models.

One registry per module (training and skops-saving models dominate the cost); each
test registers the versions it changes, so none depends on another. Broken models
are module-level functions, stored by the pyfunc format as import targets.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import mlpilot
from mlpilot.checks import CheckContext, Verdict, run_checks
from mlpilot.checks.budgets import BudgetCheck
from mlpilot.checks.model_sanity import ModelSanityCheck
from mlpilot.core.errors import InvalidArgument
from mlpilot.core.settings import Settings
from mlpilot.demo.credit import FEATURES, TARGET, make_credit_data
from mlpilot.sdk._context import Context
from mlpilot.store import Store
from mlpilot.store.artifacts import get_artifact_store

NUMERIC = ["age", "income", "debt_ratio", "credit_lines", "late_payments", "loan_amount",
           "employment_years"]
CATEGORICAL = ["purpose", "home_ownership", "sex"]


def nan_model(df: pd.DataFrame) -> np.ndarray:
    """A broken model: NaN for every row."""
    return np.full(len(df), np.nan)


def noisy_model(df: pd.DataFrame) -> np.ndarray:
    """A non-deterministic model: a fresh coin flip per row and call."""
    return np.random.default_rng().integers(0, 2, len(df))


def cheap_model(df: pd.DataFrame) -> np.ndarray:
    """A trivially fast model, well within any sane budget."""
    return (df["debt_ratio"].to_numpy() > 0.5).astype(np.int64)


def _pipeline(max_iter: int = 500) -> Pipeline:
    pre = ColumnTransformer([("num", StandardScaler(), NUMERIC),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)])
    return Pipeline([("pre", pre), ("model", LogisticRegression(max_iter=max_iter))])


@dataclass
class Env:
    context: Context
    train: pd.DataFrame
    holdout: pd.DataFrame
    candidate_ref: str

    def register(self, model: object | None = None, *, max_iter: int = 500) -> str:
        """Register ``model`` (default: fit a pipeline inside the run, warnings recorded)."""
        with mlpilot.start_run(name="extra", model="credit-risk", context=self.context) as run:
            run.log_dataset(self.holdout, "credit-holdout", role="validation")
            if model is None:
                with warnings.catch_warnings():
                    warnings.simplefilter("always")
                    model = _pipeline(max_iter).fit(self.train[FEATURES], self.train[TARGET])
            v = mlpilot.register(model, "credit-risk", run=run,
                                 training_data=self.train[FEATURES], context=self.context)
        return v.ref


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    home = tmp_path_factory.mktemp("sanity-checks")
    settings = Settings(home=home, store_url=f"sqlite:///{home}/m.db",
                        artifact_url=str(home / "artifacts"), actor="tester")
    settings.ensure_home()
    ctx = Context(settings=settings, store=Store.open(settings.store_url, actor="tester"),
                  artifacts=get_artifact_store(settings.artifact_url))
    data = make_credit_data(2000, seed=3)
    train, holdout = train_test_split(data, test_size=0.3, random_state=0,
                                      stratify=data[TARGET])
    e = Env(ctx, train.reset_index(drop=True), holdout.reset_index(drop=True), "")
    e.candidate_ref = e.register()
    yield e
    ctx.store.close()


def _sanity(env: Env, ref: str, **params: object):
    config = {"checks": {"model_sanity": params}} if params else None
    report = run_checks(ref, only=["model_sanity"], config=config, context=env.context)
    result = report.get("model_sanity")
    json.dumps(result.evidence, allow_nan=False)  # evidence is strict JSON
    return result


# -- model_sanity -------------------------------------------------------------------------
def test_sane_model_passes_then_reproduces_its_golden_set(env: Env) -> None:
    ref = env.register()
    first = _sanity(env, ref)
    assert first.verdict is Verdict.PASS, first.summary
    assert first.evidence["outputs"]["ok"] and first.evidence["probabilities"]["ok"]
    assert first.evidence["determinism"]["deterministic"]
    golden = first.evidence["golden"]
    assert golden["status"] == "created" and golden["rows"] == 20
    assert golden["digest"].startswith("sha256:")
    second = _sanity(env, ref)
    assert second.verdict is Verdict.PASS, second.summary
    assert second.evidence["golden"]["status"] == "verified"
    assert second.evidence["golden"]["digest"] == golden["digest"]


def test_tampered_golden_set_fails(env: Env) -> None:
    ref = env.register()
    _sanity(env, ref)
    version = env.context.store.resolve(ref)
    report = version.check_report
    golden = report["results"][0]["evidence"]["golden"]
    manifest = json.loads(env.context.artifacts.get_bytes(golden["digest"]))
    manifest["predictions"] = [1 - p for p in manifest["predictions"]]  # flip every class
    golden["digest"] = env.context.artifacts.put_bytes(json.dumps(manifest).encode()).digest
    env.context.store.annotate_version(version.model, version.version, check_report=report)

    result = _sanity(env, ref)
    assert result.verdict is Verdict.FAIL
    assert "golden set not reproduced: 20 of 20 rows" in result.summary
    assert result.evidence["golden"]["status"] == "mismatch"
    assert result.evidence["golden"]["digest"] == golden["digest"]  # kept for next time
    example = result.evidence["golden"]["examples"][0]
    assert example["expected"] == 1 - example["got"]

    golden["digest"] = "sha256:" + "0" * 64  # a golden set that is gone
    env.context.store.annotate_version(version.model, version.version, check_report=report)
    result = _sanity(env, ref)
    assert result.verdict is Verdict.FAIL and result.evidence["golden"]["status"] == "unreadable"


def test_nan_predictions_fail(env: Env) -> None:
    result = _sanity(env, env.register(nan_model))
    assert result.verdict is Verdict.FAIL
    assert f"{len(env.holdout)} of {len(env.holdout)} predictions are NaN" in result.summary
    assert result.evidence["outputs"]["non_finite"] == len(env.holdout)
    assert result.evidence["golden"]["status"] == "not created"


def test_non_deterministic_model_fails(env: Env) -> None:
    result = _sanity(env, env.register(noisy_model))
    assert result.verdict is Verdict.FAIL
    assert "non-deterministic" in result.summary
    assert result.evidence["determinism"]["differing_rows"] > len(env.holdout) / 4


def test_convergence_warning_fails_or_warns(env: Env) -> None:
    ref = env.register(max_iter=1)
    result = _sanity(env, ref)
    assert result.verdict is Verdict.FAIL
    assert "ConvergenceWarning" in result.summary
    convergence = result.evidence["convergence"]
    assert convergence["count"] >= 1
    assert "converge" in convergence["warnings"][0]["message"].lower()
    assert _sanity(env, ref, on_convergence_warning="warn").verdict is Verdict.WARN
    assert _sanity(env, ref, on_convergence_warning="ignore").verdict is Verdict.PASS


def test_inputs_are_synthesised_without_a_holdout(env: Env) -> None:
    model = mlpilot.load(env.candidate_ref, context=env.context)
    reference = env.context.store.get_dataset(model.version.dataset_id)
    ctx = CheckContext(context=env.context, candidate=model.version, model=model,
                       reference=reference, seed=1)
    result = ModelSanityCheck(synthetic_rows=30).run(ctx)
    assert result.verdict is Verdict.PASS, result.summary
    assert result.evidence["inputs"] == {"source": "synthetic", "rows": 30}
    bare = CheckContext(context=env.context, candidate=model.version, model=model)
    assert ModelSanityCheck().run(bare).verdict is Verdict.SKIP
    with pytest.raises(InvalidArgument, match="on_convergence_warning"):
        ModelSanityCheck(on_convergence_warning="maybe")


def test_shared_fixture_candidate_raises_no_false_alarm(check_env: Any) -> None:
    # The conftest registry: gradient-boosting candidate, its own holdout.
    report = run_checks(check_env.candidate_ref, only=["data_validation", "data_quality",
                                                       "model_sanity"],
                        context=check_env.context)
    assert report.counts()["pass"] == 3, [r.summary for r in report.results]
    assert report.blessed


# -- budgets ------------------------------------------------------------------------------
def test_budgets_pass_with_defaults(env: Env) -> None:
    # A trivially fast model: on a shared CI box a real model's p99 can be noise.
    result = run_checks(env.register(cheap_model), only=["budgets"],
                        context=env.context).get("budgets")
    json.dumps(result.evidence, allow_nan=False)
    assert result.verdict is Verdict.PASS, result.summary
    for key in ("artifact_size", "load_time", "latency_p50", "latency_p99", "batch_latency"):
        assert result.evidence[key]["passed"] is True
        assert result.evidence[key]["value"] >= 0
    assert result.evidence["latency_p99"]["limit"] == 50.0
    assert result.evidence["batch_latency"]["rows"] == 1000


def test_budgets_fail_over_a_tiny_limit(env: Env) -> None:
    config = {"checks": {"budgets": {"max_artifact_mb": 1e-6, "max_latency_p99_ms": 1e-6,
                                     "latency_calls": 5, "batch_rows": 20,
                                     "load_repeats": 1}}}
    result = run_checks(env.candidate_ref, only=["budgets"], config=config,
                        context=env.context).get("budgets")
    assert result.verdict is Verdict.FAIL
    assert "artifact_size" in result.summary and "latency_p99" in result.summary
    assert result.evidence["artifact_size"]["passed"] is False
    assert result.evidence["artifact_size"]["bytes"] > 1
    assert result.evidence["load_time"]["passed"] is True
    with pytest.raises(InvalidArgument, match="'max_load_s' parameter of BudgetCheck"):
        BudgetCheck(max_load_s=0)
