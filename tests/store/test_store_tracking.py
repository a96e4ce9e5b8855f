"""Run tracking on every backend: params, metric series, tags, search."""

from __future__ import annotations

import pytest

from mlpilot.core.entities import RunStatus
from mlpilot.core.errors import Conflict, InvalidArgument, NotFound
from mlpilot.store import Store


def test_log_batch_and_history(store: Store) -> None:
    run = store.create_run("r", model="m", tags={"stage": "dev"})
    store.log_batch(run.id, params={"lr": 0.1, "depth": 6},
                    metrics=[("loss", 1.0, 0, 1000), ("loss", 0.5, 1, 2000),
                             ("loss", 0.7, 1, 1500)],
                    tags={"stage": "test"})
    got = store.get_run(run.id)
    assert got.params == {"depth": "6", "lr": "0.1"}
    assert got.tags == {"stage": "test"}
    assert got.metrics == {"loss": 0.5}  # newest (step, timestamp) wins
    assert [(p.step, p.value) for p in store.metric_history(run.id, "loss")] == [
        (0, 1.0), (1, 0.7), (1, 0.5)]
    # a later batch with an older step does not replace the latest value
    store.log_batch(run.id, metrics=[("loss", 9.0, 0, 3000)])
    assert store.get_run(run.id).metrics == {"loss": 0.5}


def test_params_are_immutable(store: Store) -> None:
    run = store.create_run("r")
    store.log_batch(run.id, params={"lr": 0.1})
    store.log_batch(run.id, params={"lr": 0.1})  # same value: fine
    with pytest.raises(Conflict, match="immutable"):
        store.log_batch(run.id, params={"lr": 0.2})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "abc", None])
def test_bad_metric_values(store: Store, value: object) -> None:
    run = store.create_run("r")
    with pytest.raises(InvalidArgument, match="Metric 'm'"):
        store.log_batch(run.id, metrics=[("m", value, 0, 0)])  # type: ignore[list-item]
    assert store.metric_history(run.id, "m") == []


def test_bad_keys_and_unknown_runs(store: Store) -> None:
    run = store.create_run("r")
    with pytest.raises(InvalidArgument, match="param key"):
        store.log_batch(run.id, params={"../x": 1})
    with pytest.raises(NotFound):
        store.log_batch("0" * 32, params={"a": 1})
    with pytest.raises(InvalidArgument, match="limit is"):
        store.log_batch(run.id, params={"big": "x" * 7000})


def test_ended_runs_take_no_data(store: Store) -> None:
    run = store.create_run("r")
    ended = store.end_run(run.id, "failed")
    assert ended.status is RunStatus.FAILED and ended.end_time is not None
    with pytest.raises(Conflict, match="has ended"):
        store.log_batch(run.id, metrics=[("m", 1.0, 0, 0)])
    with pytest.raises(InvalidArgument):
        store.end_run(run.id, "running")


def test_search_runs(store: Store) -> None:
    ids = {}
    for i, (lr, auc) in enumerate([(0.1, 0.8), (0.2, 0.9), (0.3, 0.85)]):
        run = store.create_run(f"r{i}", model="credit" if i < 2 else "fraud")
        store.log_batch(run.id, params={"lr": lr}, metrics=[("auc", auc, 0, 0)],
                        tags={"i": str(i)})
        ids[i] = run.id
    store.end_run(ids[0])

    def names(flt: str | None, **kw: object) -> list[str]:
        return [r.name for r in store.search_runs(flt, **kw)]  # type: ignore[arg-type]

    assert names("metrics.auc > 0.82", order_by=["metrics.auc DESC"]) == ["r1", "r2"]
    assert names("params.lr = '0.2'") == ["r1"]
    assert names("status = 'finished'") == ["r0"]
    assert sorted(names(None, model="credit")) == ["r0", "r1"]
    assert names("metrics.auc >= 0.8 AND tags.i != '1'", order_by=["metrics.auc"]) == [
        "r0", "r2"]
    assert names("name LIKE 'r%'", order_by=["name DESC"]) == ["r2", "r1", "r0"]
    assert names("metrics.`auc` < 0.81") == ["r0"]
    for bad, msg in [("metrics.auc >", "key OP value"), ("metrics.auc > 'x'", "number"),
                     ("params.lr = 0.1", "quoted string"), ("foo = 'x'", "Unknown run attr"),
                     ("metrics.auc > 1 or metrics.auc < 0", "joined by AND"),
                     ("metrics.auc ~ 1", "Cannot parse")]:
        with pytest.raises(InvalidArgument, match=msg):
            store.search_runs(bad)
    with pytest.raises(InvalidArgument, match="Cannot order"):
        store.search_runs(None, order_by=["bogus"])


def test_run_artifacts_are_recorded(store: Store) -> None:
    run = store.create_run("r")
    store.add_run_artifact(run.id, "plots/roc.png", "sha256:" + "1" * 64, 5)
    assert [a.name for a in store.get_run(run.id).artifacts] == ["plots/roc.png"]


def test_parent_runs(store: Store) -> None:
    parent = store.create_run("p")
    child = store.create_run("c", parent_run_id=parent.id)
    assert child.parent_run_id == parent.id
    with pytest.raises(NotFound, match="parent"):
        store.create_run("c", parent_run_id="nope")
