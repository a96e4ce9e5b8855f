"""End to end: a registered model, its inference log, an alert → diagnosis, report, link, CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from typer.testing import CliRunner

import mlpilot
from mlpilot.core.clock import utcnow
from mlpilot.diagnose import diagnose_alert, diagnosis_dir
from mlpilot.sdk._context import Context
from mlpilot.serve.inference_log import InferenceLog, InferenceRecord

Make = Callable[..., tuple[pd.DataFrame, np.ndarray]]


def test_diagnose_alert_end_to_end(context: Context, model: Pipeline,
                                   reference: tuple[pd.DataFrame, np.ndarray],
                                   make_frame: Make, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    mlpilot.register(model, "credit", training_data=reference[0], alias="production",
                     context=context)  # the alias.set event happens now
    now = utcnow()
    window, _ = make_frame(400, seed=20, income_shift=8.0)
    log_dir = tmp_path / "log"
    start = now - timedelta(minutes=30)
    with InferenceLog(log_dir) as log:
        for i, row in enumerate(window.to_dict(orient="records")):
            log.submit(InferenceRecord.create(
                "credit-live", "credit", 1, request_id=f"r{i}",
                time=start + timedelta(seconds=4 * i), features=row,
                outputs={"predict": [int(model.predict(window.iloc[[i]])[0])]}))
        log.flush()
    # the alert opens an hour after the alias moved
    alert, _ = context.store.raise_alert(
        "drift:credit", model="credit", kind="drift", severity="warning", title="drift",
        deployment="credit-live", time=now + timedelta(hours=1),
        evidence={"window_start": start.isoformat(),
                  "window_end": (now + timedelta(minutes=1)).isoformat()})

    d = diagnose_alert(context, alert.id, log_dir=log_dir)
    assert d.window["rows"] == 400
    assert d.top is not None and (d.top.kind, d.top.subject) == ("drift", "income")
    assert any(c.subject == "alias.set credit" for c in d.of_kind("event"))
    gap = next(c for c in d.of_kind("event") if c.subject == "alias.set credit")
    assert gap.evidence["gap_seconds"] == pytest.approx(3600, abs=60)
    folder = diagnosis_dir(context, alert.id)
    assert folder == context.settings.home / "diagnoses" / f"alert-{alert.id}"
    html = (folder / "diagnosis.html").read_text()
    assert 'data-feature="income"><svg' in html
    stored = context.store.get_alert(alert.id).diagnosis
    assert stored["causes"][0]["subject"] == "income"
    assert stored["report_paths"]["diagnosis.html"] == str(folder / "diagnosis.html")

    # the command, on the same stores
    monkeypatch.setenv("MLPILOT_HOME", str(context.settings.home))
    monkeypatch.setenv("MLPILOT_STORE_URL", context.settings.store_url)
    monkeypatch.setenv("MLPILOT_ARTIFACT_URL", context.settings.artifact_url)
    monkeypatch.setenv("COLUMNS", "200")
    from mlpilot.cli.main import app

    out_dir = tmp_path / "cli-report"
    result = CliRunner().invoke(app, ["diagnose", str(alert.id), "--log-dir", str(log_dir),
                                      "--output", str(out_dir), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["causes"][0]["subject"] == "income"
    assert (out_dir / "diagnosis.html").is_file()
    table = CliRunner().invoke(app, ["diagnose", str(alert.id), "--log-dir", str(log_dir),
                                     "--output", str(out_dir)])
    assert table.exit_code == 0, table.output
    assert "income" in table.stdout and "diagnosis.html" in table.stdout
    missing = CliRunner().invoke(app, ["diagnose", "999"])
    assert missing.exit_code == 1 and "No alert with id 999" in missing.output
