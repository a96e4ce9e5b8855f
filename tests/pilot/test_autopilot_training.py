"""The policy's training block and the real trainer: drift → AutoML retrain on a registered
dataset → a version with lineage and the decision's tags → check → canary."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import mlpilot
from mlpilot.core.clock import utcnow
from mlpilot.core.errors import InvalidArgument
from mlpilot.pilot.controller import Controller
from mlpilot.pilot.policy import parse_policy
from mlpilot.sdk._context import Context


def frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    return x.assign(label=(x["a"] + 0.3 * rng.normal(size=n) > 0).astype(int))


def training(**spec: object) -> dict[str, object]:
    return {"models": {"m": {"training": spec}}}


@pytest.mark.parametrize(("spec", "match"), [
    ({"pipeline": "automl"}, "AutoML needs 'target'"),
    ({"pipeline": "mine", "automl": {"n_trials": 3}}, "'automl' options need pipeline: automl"),
    ({"target": "y", "data": "ds/0"}, r"training.data: .*'name/N' with N >= 1"),
    ({"target": "y", "automl": {"families": ["svm"]}}, r"automl.families: .*unknown \['svm'\]"),
    ({"target": "y", "automl": {"n_trials": 0}}, r"automl.n_trials"),
    ({"target": "y", "automl": {"sampler": "grid"}}, r"automl.sampler"),
    ({"target": "y", "budget_seconds": 0}, r"training.budget_seconds"),
    ({"target": "y", "executor": "k8s"}, r"training.executor: .*'local' or 'ray'"),
    ({"target": "y", "automl": {"trials": 3}}, r"automl.trials: Extra inputs"),
])
def test_training_block_errors_name_the_field(spec: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        parse_policy(training(**spec))


def test_training_block_becomes_run_trainings_policy() -> None:
    policy = parse_policy(training(pipeline="automl", target="label", data="m-train/2",
                                   budget_seconds=30, executor="local", params={"x": 1},
                                   automl={"families": ["linear"], "n_trials": 3, "cv": 2}))
    assert policy.get("m").training.run_options() == {
        "x": 1, "pipeline": "automl", "target": "label", "data": "m-train/2",
        "budget_seconds": 30.0, "executor": "local",
        "automl": {"families": ["linear"], "n_trials": 3, "cv": 2}}
    # a user pipeline without a target stays valid (run_training says what is missing)
    assert parse_policy(training(pipeline="pipelines/credit.yaml")).get(
        "m").training.run_options() == {"pipeline": "pipelines/credit.yaml"}


class Clock:
    def __init__(self) -> None:
        self.now = utcnow() + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now


def test_drift_retrains_with_automl_on_a_registered_dataset(context: Context,
                                                            tmp_path: Path) -> None:
    data = frame()
    x = data[["a", "b"]]
    mlpilot.register(LogisticRegression().fit(x, data["label"]), "m", training_data=x,
                     context=context)
    context.store.set_alias("m", "production", 1)
    mlpilot.deploy("m", 1, context=context)
    mlpilot.register_dataset(frame(seed=1), "m-train", context=context)
    dataset = mlpilot.register_dataset(frame(seed=2), "m-train", context=context)
    policy = parse_policy({"models": {"m": {
        "triggers": [{"type": "drift"}],
        "training": {"pipeline": "automl", "target": "label", "data": "m-train",
                     "budget_seconds": 20,
                     "automl": {"families": ["linear"], "n_trials": 3, "cv": 2, "seed": 0}},
        "checks": {"only": ["model_sanity"], "baseline": "none"},
        "rollout": {"strategy": "canary", "steps": [0.5, 1.0]}}}})
    context.store.raise_alert("m:*:drift", model="m", kind="drift", severity="critical",
                              title="Data drift on m", evidence={"share_drifted": 0.5})
    Controller(context, policy, log_dir=tmp_path / "log", clock=Clock()).run_once()

    (retrain,) = context.store.list_decisions(action="retrain")
    assert retrain.outcome == "applied", retrain.outcome_detail
    version = context.store.get_version("m", retrain.outcome_detail["version"])
    assert version.version == 2 and version.parent_version == 1
    assert version.dataset_id == dataset.id  # "m-train": the newest snapshot
    assert version.tags["mlpilot.decision_id"] == str(retrain.id)
    assert version.tags["mlpilot.decision"] == str(retrain.id)
    assert version.tags["mlpilot.pipeline"] == "automl"
    run = context.store.get_run(version.run_id)
    assert run.params["automl.trials"] == "3" and run.params["automl.families"] == "linear"
    lineage = mlpilot.lineage("m/2", context=context)
    assert lineage.run is not None and lineage.run.id == version.run_id
    assert lineage.parent is not None and lineage.parent.version == 1
    assert [d.id for d in lineage.datasets] == [dataset.id]

    (check,) = context.store.list_decisions(action="check")
    assert check.outcome == "applied" and check.outcome_detail["blessed"] is True
    (deploy,) = context.store.list_decisions(action="deploy")
    assert deploy.outcome == "applied" and deploy.outcome_detail["strategy"] == "canary"
    dep = context.store.get_deployment("m")
    assert [(r.version, r.weight, r.role) for r in dep.routes] == [
        (1, 0.5, "primary"), (2, 0.5, "canary")]
