"""User pipelines under run_training: tracked run, registered version, lineage, errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import mlpilot
from mlpilot.core.entities import RunStatus
from mlpilot.core.errors import NotFound, SchemaMismatch
from mlpilot.sdk._context import Context
from mlpilot.train import TrainingError, list_pipelines, run_training, unregister_pipeline


def _fit(data: pd.DataFrame, target: str) -> LogisticRegression:
    X = data.drop(columns=[target, "city"]).fillna(0.0)
    return LogisticRegression().fit(X, data[target])


@pytest.fixture
def my_pipe() -> Iterator[str]:
    mlpilot.pipeline("my-pipe")(_fit)
    yield "my-pipe"
    unregister_pipeline("my-pipe")


def test_user_pipeline_registers_a_version_with_run_and_lineage(
        ctx: Context, frame: pd.DataFrame, my_pipe: str) -> None:
    first = run_training(ctx, "churn", {"pipeline": my_pipe, "target": "label"},
                         reason="initial", parent_version=None, data=frame)
    second = run_training(ctx, "churn", {"pipeline": my_pipe, "target": "label"},
                          reason="drift on x1", parent_version=first.version, data=frame,
                          decision_id=42, team="risk")
    assert second.version == first.version + 1
    assert second.tags["mlpilot.reason"] == "drift on x1"
    assert second.tags["mlpilot.decision_id"] == "42"
    assert second.tags["team"] == "risk"
    assert second.tags["mlpilot.pipeline"] == "my-pipe"

    lineage = mlpilot.lineage(f"churn/{second.version}")
    assert lineage.run is not None and lineage.run.id == second.run_id
    assert lineage.run.params["pipeline"] == "my-pipe"
    assert lineage.run.status == RunStatus.FINISHED
    assert lineage.parent is not None and lineage.parent.version == first.version
    assert [d.id for d in lineage.datasets] == [second.dataset_id]
    relations = {(e.source_kind, e.target_kind) for e in lineage.edges}
    assert ("dataset", "run") in relations
    # The signature holds the features, not the label.
    names = [c["name"] for c in second.signature["inputs"]]
    assert "label" not in names and "x1" in names
    loaded = mlpilot.load(f"churn/{second.version}")
    features = frame[["x1", "x2", "noise"]].fillna(0.0)
    assert len(loaded.predict(features)) == len(frame)


def test_registered_dataset_name_and_policy_object(
        ctx: Context, frame: pd.DataFrame, my_pipe: str) -> None:
    @dataclass
    class Policy:
        pipeline: str
        target: str
        data: Any
        executor: str = "local"

    dataset = mlpilot.register_dataset(frame, "churn-window")
    version = run_training(ctx, "churn", Policy(my_pipe, "label", "churn-window"),
                           reason="scheduled", parent_version=None)
    assert version.dataset_id == dataset.id
    # A callable window, given the context.
    version = run_training(ctx, "churn", Policy(my_pipe, "label", lambda c: frame.head(200)),
                           reason="scheduled", parent_version=None)
    assert mlpilot.lineage(f"churn/{version.version}").datasets[0].num_rows == 200


def test_unknown_pipeline_lists_the_known_ones(ctx: Context, frame: pd.DataFrame,
                                               my_pipe: str) -> None:
    with pytest.raises(NotFound, match=r"No training pipeline named 'nope'.*'automl'.*'my-pipe'"):
        run_training(ctx, "churn", {"pipeline": "nope", "target": "label"},
                     reason="r", parent_version=None, data=frame)
    assert "my-pipe" in list_pipelines()


def test_pipeline_returning_a_non_model_fails_the_run(ctx: Context, frame: pd.DataFrame) -> None:
    @mlpilot.pipeline("bad-pipe")
    def bad(data: pd.DataFrame, target: str) -> Any:
        return {"weights": [1, 2]}

    @mlpilot.pipeline
    def unfitted(data: pd.DataFrame, target: str) -> Any:
        return LogisticRegression()

    try:
        with pytest.raises(TrainingError, match="must return a fitted model.*Got dict"):
            run_training(ctx, "churn", {"pipeline": "bad-pipe", "target": "label"},
                         reason="r", parent_version=None, data=frame)
        with pytest.raises(TrainingError, match="unfitted LogisticRegression"):
            run_training(ctx, "churn", {"pipeline": "unfitted", "target": "label"},
                         reason="r", parent_version=None, data=frame)
    finally:
        unregister_pipeline("bad-pipe")
        unregister_pipeline("unfitted")
    runs = ctx.store.search_runs(None)
    assert runs and all(r.status == RunStatus.FAILED for r in runs)
    with pytest.raises(NotFound):
        ctx.store.resolve("churn")


def test_data_without_the_target_column(ctx: Context, frame: pd.DataFrame, my_pipe: str) -> None:
    with pytest.raises(SchemaMismatch, match="no target column 'churned'.*Columns"):
        run_training(ctx, "churn", {"pipeline": my_pipe, "target": "churned"},
                     reason="r", parent_version=None, data=frame)
    with pytest.raises(mlpilot.MlpilotError, match="Set the policy's 'data'"):
        run_training(ctx, "churn", {"pipeline": my_pipe, "target": "label"},
                     reason="r", parent_version=None)


def test_reserved_and_unknown_executor(ctx: Context, frame: pd.DataFrame, my_pipe: str) -> None:
    with pytest.raises(mlpilot.MlpilotError, match="reserved"):
        mlpilot.pipeline("automl")(_fit)
    with pytest.raises(mlpilot.MlpilotError, match=r"No executor named 'k8s'.*\['local', 'ray'\]"):
        run_training(ctx, "churn", {"pipeline": my_pipe, "target": "label", "executor": "k8s"},
                     reason="r", parent_version=None, data=frame)
