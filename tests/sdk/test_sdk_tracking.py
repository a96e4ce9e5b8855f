"""The tracking SDK: runs as context managers, batching, nesting, artifacts, datasets."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import mlpilot
from mlpilot.core.entities import RunStatus
from mlpilot.core.errors import InvalidArgument
from mlpilot.sdk import _tracking
from mlpilot.sdk._context import Context


def test_run_logs_everything_and_finishes(context: Context) -> None:
    with mlpilot.start_run(name="train", model="credit-risk", tags={"team": "risk"}) as run:
        mlpilot.log_params({"lr": 0.1})
        for i in range(10):
            mlpilot.log_metric("loss", 1.0 / (i + 1))
        mlpilot.log_metrics({"auc": 0.9, "acc": 0.8})
        mlpilot.set_tags({"stage": "dev"})
    info = context.store.get_run(run.id)
    assert info.status is RunStatus.FINISHED
    assert info.params == {"lr": "0.1"}
    assert info.tags == {"stage": "dev", "team": "risk"}
    assert info.metrics == {"acc": 0.8, "auc": 0.9, "loss": 0.1}
    assert [p.step for p in context.store.metric_history(run.id, "loss")] == list(range(10))
    assert info.environment["python"] and "numpy" in info.environment["packages"]
    assert set(info.code_version) in (set(), {"git_commit", "git_dirty", "entry_point"})


def test_logging_is_batched(context: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = context.store.log_batch
    monkeypatch.setattr(_tracking, "FLUSH_SECONDS", 3600.0)
    monkeypatch.setattr(type(context.store), "log_batch",
                        lambda self, *a, **k: (calls.append(1), real(*a, **k))[1])
    with mlpilot.start_run() as run:
        for i in range(1000):
            run.log_metric("m", float(i))
    assert len(calls) == 1  # one transaction for 1000 points
    assert len(context.store.metric_history(run.id, "m")) == 1000


def test_failed_and_nested_runs(context: Context) -> None:
    with pytest.raises(ZeroDivisionError):
        with mlpilot.start_run(name="outer") as outer:
            with mlpilot.start_run(name="inner") as inner:
                assert mlpilot.active_run() is inner
            assert mlpilot.active_run() is outer
            1 / 0  # noqa: B018
    assert context.store.get_run(outer.id).status is RunStatus.FAILED
    assert context.store.get_run(inner.id).parent_run_id == outer.id
    assert mlpilot.active_run() is None
    with pytest.raises(InvalidArgument, match="no active run"):
        mlpilot.log_metric("x", 1.0)


def test_log_artifact_and_names(context: Context, tmp_path: Path) -> None:
    f = tmp_path / "roc.png"
    f.write_bytes(b"\x89PNG fake")
    with mlpilot.start_run() as run:
        art = run.log_artifact(f, "plots/roc.png")
        for bad in ["../escape.png", "/etc/passwd", "a\\b", "a\x00b", "%2e%2e/x"]:
            with pytest.raises(InvalidArgument):
                run.log_artifact(f, bad)
        with pytest.raises(InvalidArgument, match="existing file"):
            run.log_artifact(tmp_path / "missing.txt")
    assert context.artifacts.get_bytes(art.digest) == b"\x89PNG fake"
    assert [a.name for a in context.store.get_run(run.id).artifacts] == ["plots/roc.png"]


def test_log_dataset_links_and_profiles(context: Context) -> None:
    df = pd.DataFrame({"x": [1.0, 2.0, None], "c": ["a", "b", "a"]})
    with mlpilot.start_run() as run:
        ds = run.log_dataset(df, "tiny")
    assert ds.num_rows == 3 and ds.profile["columns"]["x"]["null_count"] == 1
    assert [d.id for d in context.store.list_datasets("tiny")] == [ds.id]
    back = mlpilot.load_dataset(ds.id)
    pd.testing.assert_frame_equal(back, df)
    again = mlpilot.register_dataset(df, "tiny")
    assert again.id == ds.id  # content-addressed: same bytes, same snapshot
