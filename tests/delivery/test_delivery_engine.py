"""The canary engine: windows from the inference log, decisions applied to the store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import typer
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import mlpilot
from mlpilot.cli import rollout
from mlpilot.cli._output import MlpilotGroup
from mlpilot.core.clock import utcnow
from mlpilot.core.entities import Route
from mlpilot.delivery.engine import CanaryController
from mlpilot.delivery.windows import window_stats
from mlpilot.sdk._context import Context, set_context
from mlpilot.serve.inference_log import InferenceLog, InferenceRecord

N = 200  # records per version per step: above every default minimum sample size


class Clock:
    """A settable clock for the controller."""

    def __init__(self) -> None:
        self.now = utcnow() + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Context]:
    home = tmp_path / "home"
    monkeypatch.setenv("MLPILOT_HOME", str(home))
    for var in ("MLPILOT_STORE_URL", "MLPILOT_ARTIFACT_URL"):
        monkeypatch.delenv(var, raising=False)
    context = mlpilot.configure(home=str(home))
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "z": [1, 0, 1, 0]})
    for c in (1.0, 0.5):
        mlpilot.register(LogisticRegression(C=c).fit(frame, [0, 0, 1, 1]), "m",
                         training_data=frame)
    context.store.set_alias("m", "production", 1)
    mlpilot.deploy("m", 2, strategy="canary", name="m-live")
    yield context
    set_context(None)


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path / "inference-log"


def write(log_dir: Path, version: int, start: datetime, *, n: int = N,
          error_rate: float = 0.0, latency: float = 20.0, route: str = "primary",
          ids: str = "") -> None:
    """``n`` records of ``m-live`` v``version`` spread over 10 s after ``start``."""
    with InferenceLog(log_dir) as log:
        for i in range(n):
            failed = i < round(n * error_rate)
            log.submit(InferenceRecord.create(
                "m-live", "m", version, request_id=f"{ids}v{version}-{start.timestamp()}-{i}",
                time=start + timedelta(seconds=10 * i / n),
                outputs={} if failed else {"predict": [i % 2]},
                latency_ms=latency + (i % 10), status=503 if failed else 200, route=route))
        log.flush()


def write_both(log_dir: Path, start: datetime, **canary: float) -> None:
    write(log_dir, 1, start)
    write(log_dir, 2, start, route="canary", **canary)  # type: ignore[arg-type]


def routes(ctx: Context) -> list[tuple[int, float, str]]:
    return [(r.version, round(r.weight, 6), r.role)
            for r in ctx.store.get_deployment("m-live").routes]


def test_window_stats_reads_errors_latency_predictions_and_feedback(log_dir: Path) -> None:
    start = utcnow()
    write(log_dir, 2, start, n=10, error_rate=0.2, ids="a")
    with InferenceLog(log_dir) as log:  # a client error: a request, not an error
        log.submit(InferenceRecord.create("m-live", "m", 2, time=start, status=422))
        log.submit(InferenceRecord.create("other", "m", 2, time=start, status=500))
    labels = {f"av2-{start.timestamp()}-{i}": 1 for i in range(2, 10)}
    w = window_stats(log_dir, "m-live", 2, start, start + timedelta(minutes=1), feedback=labels)
    assert (w.requests, w.errors, len(w.latencies_ms)) == (11, 2, 8)
    assert sorted(w.predictions) == [0, 0, 0, 0, 1, 1, 1, 1]
    assert (w.correct, w.labelled) == (4, 8)
    assert window_stats(log_dir, "m-live", 2, start + timedelta(minutes=1)).requests == 0
    assert window_stats(log_dir / "missing", "m-live", 2, start).labelled is None


def test_healthy_canary_steps_to_100_then_promotes(ctx: Context, log_dir: Path) -> None:
    clock = Clock()
    engine = CanaryController(ctx.store, log_dir, clock=clock)
    first = engine.tick("m-live")  # no data yet, step just started: hold
    assert first is not None and first.action == "hold"
    assert routes(ctx) == [(1, 0.95, "primary"), (2, 0.05, "canary")]
    seen = []
    for weight in (0.25, 0.5, 1.0):
        write_both(log_dir, clock.now)
        clock.advance(400)
        record = engine.tick("m-live")
        assert record is not None and record.action == "step", engine.last_decision
        assert record.outcome == "applied" and record.evidence["analysis"]["verdict"] == "pass"
        seen.append(dict((v, w) for v, w, _ in routes(ctx))[2])
        assert ctx.store.get_deployment("m-live").params["step_started_at"] == \
            clock.now.isoformat()
        assert weight == pytest.approx(seen[-1])
    assert routes(ctx) == [(1, 0.0, "primary"), (2, 1.0, "canary")]
    write(log_dir, 2, clock.now, route="canary")  # at 100 % only the canary serves
    clock.advance(400)
    promoted = engine.tick("m-live")
    assert promoted is not None and promoted.action == "promote"
    assert promoted.outcome == "applied", promoted.outcome_detail
    assert promoted.evidence["windows"]["baseline"]["requests"] == N  # previous step's
    dep = ctx.store.get_deployment("m-live")
    assert (dep.strategy, dep.status, dep.params["phase"]) == ("single", "active", "promoted")
    assert routes(ctx) == [(2, 1.0, "primary")]
    assert ctx.store.get_model("m").aliases["production"] == 2
    assert engine.tick("m-live") is None and not engine.active  # finished: nothing to do
    actions = [d.action for d in ctx.store.list_decisions(target="m-live")]
    assert actions == ["promote", "step", "step", "step", "hold"]
    assert all("analysis" in d.evidence for d in ctx.store.list_decisions(action="step"))


def test_broken_canary_is_rolled_back_at_the_first_step(ctx: Context, log_dir: Path) -> None:
    clock = Clock()
    engine = CanaryController(ctx.store, log_dir, clock=clock)
    engine.tick("m-live")
    write_both(log_dir, clock.now, error_rate=0.3)
    clock.advance(60)  # well under the minimum step time: a failure does not wait
    record = engine.tick("m-live")
    assert record is not None and record.action == "rollback" and record.outcome == "applied"
    assert "error_rate" in record.reason
    checks = {c["name"]: c["verdict"] for c in record.evidence["analysis"]["checks"]}
    assert checks["error_rate"] == "fail"
    assert record.evidence["windows"]["canary"]["errors"] == round(N * 0.3)
    assert routes(ctx) == [(1, 1.0, "primary"), (2, 0.0, "canary")]
    dep = ctx.store.get_deployment("m-live")
    assert dep.status == "active" and dep.params["phase"] == "rolled_back"
    assert ctx.store.get_model("m").aliases["production"] == 1
    assert engine.tick("m-live") is None  # a rolled-back canary is not restarted


def test_too_little_data_holds_once(ctx: Context, log_dir: Path) -> None:
    clock = Clock()
    engine = CanaryController(ctx.store, log_dir, clock=clock)
    engine.tick("m-live")
    write(log_dir, 1, clock.now, n=30)
    write(log_dir, 2, clock.now, n=30, route="canary")
    clock.advance(400)
    record = engine.tick("m-live")
    assert record is not None and record.action == "hold" and "inconclusive" in record.reason
    assert routes(ctx) == [(1, 0.95, "primary"), (2, 0.05, "canary")]
    clock.advance(30)
    assert engine.tick("m-live") is None  # the same hold again is not recorded
    assert engine.last_decision is not None and engine.last_decision.action == "hold"
    assert [d.action for d in ctx.store.list_decisions(target="m-live")] == ["hold", "hold"]


def test_concurrent_change_supersedes_the_step(ctx: Context, log_dir: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    store = ctx.store
    engine = CanaryController(store, log_dir, clock=clock)
    engine.tick("m-live")
    write_both(log_dir, clock.now)
    clock.advance(400)
    read = store.get_deployment
    calls = []

    def read_then_someone_writes(name: str):  # type: ignore[no-untyped-def]
        dep = read(name)
        calls.append(dep)
        if len(calls) == 1:  # right after the engine's read, a human writes
            monkeypatch.setattr(store, "get_deployment", read)
            store.put_deployment(name, model=dep.model, strategy=dep.strategy,
                                 routes=[Route(1, 0.9), Route(2, 0.1, "canary")],
                                 params=dep.params, reason="a human")
        return dep

    monkeypatch.setattr(store, "get_deployment", read_then_someone_writes)
    record = engine.tick("m-live")
    monkeypatch.undo()
    assert record is not None and record.action == "step"
    assert record.outcome == "superseded" and "revision" in record.outcome_detail["error"]
    assert routes(ctx) == [(1, 0.9, "primary"), (2, 0.1, "canary")]  # the human's write


def _app() -> typer.Typer:
    app = typer.Typer(cls=MlpilotGroup)

    @app.callback()
    def _root() -> None:
        pass

    rollout.register(app)
    return app


def test_cli_rollout_tick_prints_the_decision(ctx: Context, log_dir: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(_app(), ["rollout", "tick", "m-live", "--log-dir", str(log_dir)])
    assert result.exit_code == 0, result.output
    assert "m-live: hold [applied]" in result.stdout and "minimum" in result.stdout
    result = runner.invoke(_app(), ["rollout", "tick", "m-live", "--log-dir", str(log_dir),
                                    "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["decision"]["action"] == "hold" and data["recorded"] is None  # deduplicated
    result = runner.invoke(_app(), ["rollout", "watch", "m-live", "--log-dir", str(log_dir),
                                    "--every", "0", "--max-ticks", "2"])
    assert result.exit_code == 0 and result.stdout.count("m-live: hold") == 2
    result = runner.invoke(_app(), ["rollout", "tick", "nope"])
    assert result.exit_code == 1 and "No deployment named 'nope'" in result.stderr
