"""``mlpilot monitor`` and ``mlpilot drift`` on a registered model and a real inference log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from mlpilot.core.settings import Settings
from mlpilot.sdk._context import Context
from mlpilot.sdk._registry import register
from mlpilot.serve.inference_log import InferenceLog, InferenceRecord


def frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x1": rng.normal(shift, 1, n), "x2": rng.normal(0, 1, n),
                         "city": rng.choice(["oslo", "rome"], n)})


@pytest.fixture
def served(home: Path) -> datetime:
    """A model trained on x1/x2 and three hours of traffic, x1 shifted in the last one."""
    context = Context.from_settings(Settings.from_env())
    train = frame(800, 0)
    model = LogisticRegression().fit(train[["x1", "x2"]], train["x1"] > 0)
    register(model, "churn", training_data=train[["x1", "x2"]], alias="production",
             context=context)
    hour = timedelta(hours=1)
    now = datetime.now(UTC)
    start = now.replace(minute=0, second=0, microsecond=0) - 3 * hour
    with InferenceLog(home / "inference-log") as log:
        for h in range(3):
            f = frame(80, 10 + h, shift=2.0 if h == 2 else 0.0)[["x1", "x2"]]
            preds = model.predict(f)
            for i, row in enumerate(f.to_dict("records")):
                log.submit(InferenceRecord(
                    request_id=f"r{h}-{i}", time=start + h * hour + timedelta(seconds=30 * i),
                    deployment="live", model="churn", version=1, features=row,
                    outputs={"predict": [bool(preds[i])]}, latency_ms=8.0 + i % 3))
    context.store.close()
    return start


def test_monitor_once_json_then_console(cli: Any, served: datetime) -> None:
    data = json.loads(cli.ok("monitor", "churn", "--once", "--json"))
    assert data["windows_processed"] == 3 and data["points_written"] > 0
    assert data["windows"][0]["since"] == served.isoformat()
    assert data["windows"][2]["drifted_features"] == ["x1"]
    assert data["alerts_opened"] >= 1
    assert any(a["key"] == "churn:*:drift" for a in data["windows"][2]["alerts"])
    stdout = cli.ok("monitor", "churn")
    assert "churn: 0 windows, 0 points" in stdout
    assert "'nope'" in cli.fails("monitor", "nope")
    assert "positive" in cli.fails("monitor", "churn", "--window", "0s")
    assert "not both" in cli.fails("monitor", "churn", "--once", "--every", "5s")


def test_drift_report_formats(cli: Any, served: datetime, tmp_path: Path) -> None:
    since = (served + timedelta(hours=2)).isoformat()
    until = (served + timedelta(hours=3)).isoformat()
    data = json.loads(cli.ok("drift", "churn", "--since", since, "--until", until,
                             "--format", "json"))
    assert data["version"] == 1 and data["drifted_columns"] == ["x1"]
    assert data["features"][0]["column"] == "x1" and data["features"][0]["drifted"]
    assert data["n_current"] == 80

    page = tmp_path / "drift.html"
    stdout = cli.ok("drift", "churn", "--since", since, "--until", until, "--format", "html",
                    "--output", str(page))
    assert "Wrote" in stdout
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and html.count("<polyline") == 4
    assert "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    console = cli.ok("drift", "churn", "--since", "4h")
    assert "x1" in console and "drifted" in console and "features drifted" in console
    assert "--format must be one of" in cli.fails("drift", "churn", "--format", "pdf")
    assert "No successful requests" in cli.fails("drift", "churn", "--since", "10m",
                                                 "--until", "5m")
