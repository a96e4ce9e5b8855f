"""Resource advice on real small scikit-learn models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from mlpilot.core.errors import InvalidArgument
from mlpilot.pilot.resources import (
    Profile,
    ProfileCell,
    characteristics,
    predict_profile,
    profile_version,
    recommend,
)

GRID = {"batch_sizes": (1, 16), "concurrency": (1, 2), "duration_s": 0.05}


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(300, 8)), columns=[f"f{i}" for i in range(8)])
    return x, (x["f0"] + x["f1"] > 0).astype(int).to_numpy()


@pytest.fixture(scope="module")
def profiles(data: tuple[pd.DataFrame, np.ndarray]) -> dict[str, Profile]:
    x, y = data
    lr = LogisticRegression().fit(x, y)
    forest = RandomForestClassifier(n_estimators=200, max_depth=8, random_state=0).fit(x, y)
    sample = x.head(20)
    return {"lr": profile_version(lr, sample, **GRID),
            "forest": profile_version(forest, sample, **GRID)}


def test_profile_measures_every_cell_and_memory(profiles: dict[str, Profile]) -> None:
    p = profiles["forest"]
    assert {(c.batch_size, c.concurrency) for c in p.cells} == {(1, 1), (1, 2), (16, 1), (16, 2)}
    assert all(c.calls >= 5 and 0 < c.p50_ms <= c.p99_ms for c in p.cells)
    assert set(p.peak_memory_bytes) == {1, 16} and p.peak_memory_bytes[16] > 0
    assert p.characteristics["n_estimators"] == 200 and p.characteristics["n_features"] == 8
    assert 1 <= p.characteristics["max_depth"] <= 8 and p.model_bytes > 0
    assert profiles["lr"].characteristics["n_estimators"] == 1
    assert p.cell(1).p50_ms > profiles["lr"].cell(1).p50_ms
    assert p.to_dict()["peak_memory_bytes"]["16"] > 0


def test_forest_needs_more_replicas_than_logistic_regression(
        profiles: dict[str, Profile]) -> None:
    kw = {"request_rate": 2000.0, "p99_slo_ms": 100.0}
    lr, forest = recommend(profiles["lr"], **kw), recommend(profiles["forest"], **kw)
    assert lr.feasible and forest.feasible
    assert forest.replicas > lr.replicas, (lr.reasoning, forest.reasoning)
    for advice in (lr, forest):
        assert advice.estimated_p99_ms <= 100.0 and advice.utilization <= 0.7
        assert advice.batch_max_rows in (1, 16) and advice.target_ongoing_requests >= 1
        assert advice.max_replicas >= advice.replicas
        assert any("replica" in line for line in advice.reasoning)


def test_impossible_slo_is_reported_not_hidden(profiles: dict[str, Profile]) -> None:
    advice = recommend(profiles["forest"], request_rate=10.0, p99_slo_ms=0.001, max_replicas=5)
    assert not advice.feasible and "too slow" in advice.reasoning[-1]
    with pytest.raises(InvalidArgument, match="request_rate"):
        recommend(profiles["lr"], request_rate=0, p99_slo_ms=50)


def test_profile_rejects_bad_input(data: tuple[pd.DataFrame, np.ndarray]) -> None:
    lr = LogisticRegression().fit(*data)
    with pytest.raises(InvalidArgument, match="non-empty"):
        profile_version(lr, data[0].head(0))
    with pytest.raises(InvalidArgument, match="batch_sizes"):
        profile_version(lr, data[0].head(5), batch_sizes=(0,))


def _synthetic(n_estimators: int, depth: int = 8, noise: float = 0.0) -> Profile:
    """A profile whose latency is 0.05 ms per tree per batch row (+ 0.2 ms overhead)."""
    cells = []
    for b in (1, 32):
        ms = (0.2 + 0.05 * n_estimators * (1 + 0.02 * b)) * (1 + noise)
        cells.append(ProfileCell(b, 1, 100, ms, 1.5 * ms, ms, b / ms * 1000))
    ch = {"n_estimators": n_estimators, "max_depth": depth, "n_features": 8,
          "artifact_size": 40_000 * n_estimators}
    return Profile(tuple(cells), characteristics=ch)


def test_predict_profile_regresses_latency_on_characteristics() -> None:
    rng = np.random.default_rng(5)
    history = [_synthetic(n, noise=rng.normal(0, 0.03)) for n in (5, 10, 20, 50, 80, 100, 150,
                                                                  300, 400)]
    target = _synthetic(200)
    predicted = predict_profile(target.characteristics, history)
    assert predicted.predicted
    assert predicted.cell(1).p50_ms == pytest.approx(target.cell(1).p50_ms, rel=0.35)
    assert predicted.cell(32).p50_ms > predicted.cell(1).p50_ms
    assert "confidence" in predicted.note
    # a predicted profile feeds the advice directly
    advice = recommend(predicted, request_rate=500, p99_slo_ms=200)
    assert advice.feasible and any("predicted" in line for line in advice.reasoning)


def test_predict_profile_with_small_history_says_so() -> None:
    predicted = predict_profile({"n_estimators": 100, "max_depth": 8, "n_features": 8,
                                 "artifact_size": 4e6}, [_synthetic(50)])
    assert predicted.note.startswith("low confidence")
    assert predicted.cell(1).p50_ms == pytest.approx(2 * _synthetic(50).cell(1).p50_ms)
    with pytest.raises(InvalidArgument, match="at least one"):
        predict_profile({}, [])


def test_characteristics_of_a_pipeline() -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.random.default_rng(0).normal(size=(50, 3))
    pipe = make_pipeline(StandardScaler(),
                         RandomForestClassifier(n_estimators=7, max_depth=3, random_state=0))
    ch = characteristics(pipe.fit(x, x[:, 0] > 0))
    assert ch["n_estimators"] == 7 and ch["max_depth"] <= 3 and ch["n_features"] == 3


def test_cli_advise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    data: tuple[pd.DataFrame, np.ndarray]) -> None:
    import json

    from typer.testing import CliRunner

    from mlpilot.cli.main import app
    from mlpilot.core.settings import Settings
    from mlpilot.sdk._context import Context, set_context
    from mlpilot.sdk._registry import register

    monkeypatch.setenv("MLPILOT_HOME", str(tmp_path / "home"))
    for var in ("MLPILOT_STORE_URL", "MLPILOT_ARTIFACT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    settings = Settings.from_env()
    settings.ensure_home()
    ctx = Context.from_settings(settings)
    x, y = data
    register(LogisticRegression().fit(x, y), "risk", training_data=x.assign(label=y),
             input_example=x.head(5), context=ctx)
    try:
        runner = CliRunner()
        res = runner.invoke(app, ["advise", "risk/1", "--rate", "100", "--p99", "50",
                                  "--duration", "0.02", "--json"])
        assert res.exit_code == 0, res.output
        body = json.loads(res.stdout)
        assert body["version"] == "risk/1" and body["advice"]["feasible"]
        assert body["advice"]["replicas"] >= 1 and len(body["profile"]["cells"]) == 12
        res = runner.invoke(app, ["advise", "risk/1", "--rate", "100", "--p99", "50",
                                  "--duration", "0.02"])
        assert res.exit_code == 0 and "replicas" in res.stdout, res.output
    finally:
        set_context(None)
