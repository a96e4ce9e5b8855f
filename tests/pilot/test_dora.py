"""DORA metrics on synthetic histories with known answers."""

from __future__ import annotations

import importlib
import pkgutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mlpilot.core.entities import Route
from mlpilot.core.errors import InvalidArgument
from mlpilot.pilot.dora import Change, Incident, Recovery, compute_dora, dora_metrics
from mlpilot.store import Store

T0 = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday
H = timedelta(hours=1)
D = timedelta(days=1)


def _history() -> tuple[list[Change], list[Incident], list[Recovery]]:
    changes = [
        Change("a", 1, T0 + 10 * H, lead_start=T0 - 14 * H),  # lead 24 h
        Change("a", 2, T0 + 2 * D + 10 * H, lead_start=T0 + 10 * H),  # lead 48 h, fails
        Change("a", 3, T0 + 9 * D + 10 * H, lead_start=T0 + 8 * D + 22 * H),  # lead 12 h
        Change("b", 5, T0 + 3 * D, kind="canary", rolled_back_at=T0 + 3 * D + 6 * H),
        Change("b", 6, T0 + 10 * D, lead_start=T0 + 9 * D + 18 * H),  # lead 6 h
    ]
    incidents = [Incident("a", T0 + 2 * D + 12 * H, T0 + 2 * D + 15 * H),
                 Incident("b", T0 + 12 * D)]  # 48 h after b/6: not its failure; still open
    recoveries = [Recovery("a", T0 + 2 * D + 13 * H), Recovery("b", T0 + 3 * D + 6 * H)]
    return changes, incidents, recoveries


def test_known_answers_overall_per_model_and_per_week() -> None:
    report = compute_dora(*_history(), since=T0, until=T0 + 14 * D)
    o = report.overall
    assert (o.deployments, o.failed) == (5, 2)
    assert o.change_failure_rate == pytest.approx(0.4)
    assert o.deploys_per_day == pytest.approx(5 / 14)
    assert o.lead_time_median_s == pytest.approx(18 * 3600)  # median of 24, 48, 12, 6 h
    assert o.mttd_median_s == pytest.approx(4 * 3600)  # 2 h (alert) and 6 h (rollback)
    assert o.mttr_median_s == pytest.approx(3600)  # revert 1 h after the alert
    assert (o.incidents, o.open_incidents) == (2, 1)
    a, b = report.models["a"], report.models["b"]
    assert (a.deployments, a.failed, b.deployments, b.failed) == (3, 1, 2, 1)
    assert a.change_failure_rate == pytest.approx(1 / 3)
    weeks = [(start, s.deployments, s.failed) for start, s in report.buckets]
    assert weeks == [(T0, 3, 2), (T0 + 7 * D, 2, 0)]
    failed = {(c["model"], c["version"]) for c in report.changes if c["failed"]}
    assert failed == {("a", 2), ("b", 5)}
    assert report.to_dict()["overall"]["deployments"] == 5


def test_window_and_bucket_options() -> None:
    # a 1 h failure window: a/2's alert (2 h later) no longer counts; b/5 still rolled back
    report = compute_dora(*_history(), since=T0, until=T0 + 14 * D, bucket="day",
                          failure_window=timedelta(hours=1))
    assert report.overall.failed == 1 and len(report.buckets) == 14
    # a period with nothing in it
    empty = compute_dora(*_history(), since=T0 + 20 * D, until=T0 + 21 * D)
    assert empty.overall.deployments == 0 and empty.overall.change_failure_rate is None
    with pytest.raises(InvalidArgument, match="bucket"):
        compute_dora([], [], [], since=T0, until=T0 + D, bucket="year")
    with pytest.raises(InvalidArgument, match="after since"):
        compute_dora([], [], [], since=T0, until=T0)


class _Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    """Every store module's ``utcnow`` reads a settable clock."""
    fake = _Clock()
    import mlpilot.store._sql as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        module = importlib.import_module(f"{pkg.__name__}.{info.name}")
        if hasattr(module, "utcnow"):
            monkeypatch.setattr(module, "utcnow", fake)
    return fake


def test_dora_from_the_store(store: Store, clock: _Clock) -> None:
    digest = "sha256:" + "0" * 64
    run = store.create_run(model="m")
    for _ in range(3):
        store.create_version("m", format="sklearn", artifact_digest=digest, artifact_size=1,
                             run_id=run.id)
    clock.now = T0 + D
    store.set_alias("m", "production", 1)  # lead 24 h from the run's start
    clock.now = T0 + 2 * D
    store.set_alias("m", "production", 2)
    store.set_alias("m", "staging", 3)  # not production: ignored
    alert, _ = store.raise_alert("m:latency", model="m", kind="ops", severity="warning",
                                 title="slow", time=T0 + 2 * D + H)
    clock.now = T0 + 2 * D + 3 * H
    store.set_alias("m", "production", 1, reason="revert")  # a rollback, not a deployment
    clock.now = T0 + 3 * D
    store.resolve_alert(alert.id)
    clock.now = T0 + 4 * D
    store.put_deployment("m-ep", model="m", strategy="canary",
                         routes=[Route(1, 0.9), Route(3, 0.1, "canary")])
    clock.now = T0 + 4 * D + 2 * H
    store.record_decision("rollback", "deployment", "m-ep", reason="canary failed",
                          evidence={"canary_version": 3}, outcome="applied")

    report = dora_metrics(store, since=T0, until=T0 + 7 * D)
    o = report.overall
    assert [(c["version"], c["kind"], c["failed"]) for c in report.changes] == [
        (1, "promotion", False), (2, "promotion", True), (3, "canary", True)]
    assert (o.deployments, o.failed) == (3, 2)
    assert o.mttd_median_s == pytest.approx(1.5 * 3600)  # 1 h (alert) and 2 h (rollback)
    assert o.mttr_median_s == pytest.approx(2 * 3600)  # alert -> revert
    assert report.changes[0]["lead_time_s"] == pytest.approx(24 * 3600)
    assert dora_metrics(store, model="other", since=T0, until=T0 + 7 * D).overall.deployments \
        == 0


def test_cli_dora(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from mlpilot.cli.main import app
    from mlpilot.core.settings import Settings
    from mlpilot.sdk._context import set_context

    monkeypatch.setenv("MLPILOT_HOME", str(tmp_path / "home"))
    for var in ("MLPILOT_STORE_URL", "MLPILOT_ARTIFACT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    settings = Settings.from_env()
    settings.ensure_home()
    store = Store.open(settings.store_url, actor="tester")
    digest = "sha256:" + "0" * 64
    for _ in range(2):
        store.create_version("m", format="sklearn", artifact_digest=digest, artifact_size=1)
    store.set_alias("m", "production", 1)
    store.set_alias("m", "production", 2)
    store.raise_alert("m:x", model="m", kind="ops", severity="warning", title="x")
    store.close()
    try:
        runner = CliRunner()
        res = runner.invoke(app, ["dora", "--since", "7d", "--json"])
        assert res.exit_code == 0, res.output
        body = json.loads(res.stdout)
        assert body["overall"]["deployments"] == 2 and body["overall"]["failed"] == 1
        res = runner.invoke(app, ["dora", "--model", "m", "--bucket", "day"])
        assert res.exit_code == 0 and "50%" in res.stdout, res.output
    finally:
        set_context(None)
