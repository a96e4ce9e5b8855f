"""The built-in AutoML: search, budgets, samplers, warm start, shared studies."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import optuna
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.metrics import roc_auc_score

import mlpilot
from mlpilot.core.errors import InvalidArgument
from mlpilot.sdk._context import Context
from mlpilot.testing import pg_url
from mlpilot.train import AutoMLConfig, LocalExecutor, optuna_storage_url, run_training, search

FAST = ["linear", "hist_gradient_boosting"]


def test_automl_beats_the_dummy_on_a_holdout_and_logs_every_trial(
        ctx: Context, big_frame: pd.DataFrame) -> None:
    train, holdout = big_frame.iloc[:450], big_frame.iloc[450:]
    policy = {"pipeline": "automl", "target": "label", "budget_seconds": 40,
              "automl": {"n_trials": 8, "seed": 0}}
    version = run_training(ctx, "churn", policy, reason="initial", parent_version=None,
                           data=train)
    run = ctx.store.get_run(version.run_id)
    assert run.params["automl.metric"] == "roc_auc"
    assert run.params["automl.task"] == "classification"
    assert run.params["automl.best_family"] in run.params["automl.families"].split(",")
    best = json.loads(run.params["automl.best_params"])
    assert best["family"] == run.params["automl.best_family"]
    history = ctx.store.metric_history(run.id, "automl.trial_score")
    assert len(history) == int(run.params["automl.trials"]) >= 8
    assert max(p.value for p in history) == pytest.approx(version.metrics["cv_roc_auc"])
    assert version.metrics["cv_roc_auc"] > version.metrics["baseline_cv_roc_auc"] + 0.2

    loaded = mlpilot.load(f"churn/{version.version}")
    X, y = holdout.drop(columns=["label"]), holdout["label"]
    auc = roc_auc_score(y, loaded.predict_proba(X)[:, 1])
    dummy = DummyClassifier().fit(train.drop(columns=["label"]), train["label"])
    assert auc > roc_auc_score(y, dummy.predict_proba(X)[:, 1]) + 0.2
    assert version.tags["mlpilot.pipeline"] == "automl"


def test_budget_and_evolutionary_sampler(frame: pd.DataFrame) -> None:
    result = search(frame, "label", {"sampler": "evolutionary", "families": ["linear"],
                                     "n_trials": 6, "budget_seconds": 30, "cv": 2})
    assert len(result.trials) == 6
    assert all(t.params["family"] == "linear" for t in result.trials)
    assert result.best_score > result.baseline_score
    # A time budget alone stops the search.
    timed = search(frame, "label", {"families": ["linear"], "n_trials": None,
                                    "budget_seconds": 2, "cv": 2})
    assert 1 <= len(timed.trials) < 200


def test_warm_start_enqueues_the_parents_params(ctx: Context, frame: pd.DataFrame) -> None:
    policy = {"pipeline": "automl", "target": "label", "budget_seconds": 30,
              "automl": {"n_trials": 3, "families": FAST, "cv": 2}}
    parent = run_training(ctx, "churn", policy, reason="initial", parent_version=None,
                          data=frame)
    parent_best = json.loads(ctx.store.get_run(parent.run_id).params["automl.best_params"])
    child = run_training(ctx, "churn", {**policy, "automl": {**policy["automl"], "seed": 7}},
                         reason="drift", parent_version=parent.version, data=frame)
    run = ctx.store.get_run(child.run_id)
    assert run.params["automl.warm_started"] == "True"
    assert json.loads(run.params["automl.warm_start"]) == parent_best
    storage = optuna_storage_url(ctx.settings.store_url, ctx.settings.home)
    study = optuna.load_study(study_name=run.params["automl.study_name"], storage=storage)
    assert study.trials[0].params == parent_best
    assert child.parent_version == parent.version


def test_regression_is_inferred(frame: pd.DataFrame) -> None:
    data = frame.assign(label=frame["x1"] * 3.0 + frame["noise"])
    result = search(data, "label", {"families": ["linear"], "n_trials": 3, "cv": 2})
    assert (result.task, result.metric) == ("regression", "r2")
    assert result.best_score > 0.5


def test_invalid_options_name_the_valid_ones(frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidArgument, match=r"Unknown AutoML options \['trials'\]"):
        AutoMLConfig.from_options({"trials": 3})
    with pytest.raises(InvalidArgument, match=r"sampler named 'cmaes'.*'evolutionary'"):
        AutoMLConfig(sampler="cmaes")
    with pytest.raises(InvalidArgument, match=r"unknown \['svm'\]"):
        AutoMLConfig(families=("svm",))
    with pytest.raises(InvalidArgument, match="n_trials or budget_seconds"):
        AutoMLConfig(n_trials=None, budget_seconds=None)


@pytest.mark.postgres
def test_a_study_on_postgresql_is_shared_by_two_workers(tmp_path: Path,
                                                        frame: pd.DataFrame) -> None:
    storage = optuna_storage_url(pg_url(), tmp_path)
    name = f"mlpilot-test-{secrets.token_hex(6)}"
    try:
        result = search(frame, "label", {"families": FAST, "n_trials": 8, "n_workers": 2,
                                         "cv": 2, "budget_seconds": 60},
                        executor=LocalExecutor(max_workers=2), storage=storage,
                        study_name=name)
        assert "mlpilot_optuna" in result.storage and result.study_name == name
        workers = {t.worker for t in result.trials}
        assert len(workers) == 2, workers
        # Another process sees the same trials through the same storage.
        seen = optuna.load_study(study_name=name, storage=storage)
        assert len(seen.trials) == len(result.trials) >= 8
    finally:
        optuna.delete_study(study_name=name, storage=storage)
