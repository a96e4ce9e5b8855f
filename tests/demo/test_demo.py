"""`mlpilot demo` on an empty home: tracked versions with lineage, the CI gates, then
serving over real HTTP with a canary promoted and a broken canary rolled back, then
drifted traffic monitored into one alert and diagnosed.

SQLite only: the demo is a long end-to-end story; the store's behaviour on
PostgreSQL is covered by the store, SDK and API tests.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from io import StringIO
from pathlib import Path

from rich.console import Console

from mlpilot.core.settings import Settings
from mlpilot.demo import run_demo
from mlpilot.sdk._context import Context, set_context
from mlpilot.serve.gateway.feedback import feedback_dir, read_feedback
from mlpilot.serve.inference_log import InferenceLog, read_records
from mlpilot.store import Store
from mlpilot.store.artifacts import get_artifact_store


def test_demo_registers_gates_serves_and_delivers(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home, store_url=f"sqlite:///{home}/mlpilot.db",
                        artifact_url=str(home / "artifacts"), actor="tester")
    settings.ensure_home()
    context = Context(settings, Store.open(settings.store_url), get_artifact_store(
        settings.artifact_url))
    set_context(context)
    out = StringIO()
    try:
        versions = run_demo(context, Console(file=out, width=120))
    finally:
        set_context(None)
    store = context.store
    assert [v.version for v in versions] == [1, 2]
    model = store.get_model("credit-risk")
    # boosting wins on AUC, and its canary promoted it to production
    assert model.aliases == {"production": 2, "candidate": 2}
    for v in versions:
        assert v.run_id and v.dataset_id and v.signature
        assert {"auc", "accuracy", "log_loss"} <= set(v.metrics)
        lin = store.lineage("credit-risk", v.version)
        assert {d.name for d in lin.datasets} >= {"credit-risk-training", "credit-holdout"}
    assert store.get_version("credit-risk", 2).parent_version == 1
    boosting = store.get_run(versions[1].run_id)
    assert len(store.metric_history(boosting.id, "validation_loss")) > 5

    # the gates: the good candidate is blessed, the biased and the leaky are not
    good, biased, leaky = (store.get_version("credit-risk", v) for v in (2, 3, 4))
    assert good.check_report["blessed"] and good.tags["blessed"] == "true"
    failed = {r["check"] for r in biased.check_report["results"]
              if r["verdict"] == "fail" and r["severity"] == "blocking"}
    assert "fairness" in failed and not biased.check_report["blessed"]
    code = next(r for r in leaky.check_report["results"] if r["check"] == "code")
    assert code["verdict"] == "fail"
    assert any(f["rule"] == "ML001" and f["file"] == "code/leaky_train.py"
               for f in code["evidence"]["findings"])
    for v in (2, 3, 4):
        folder = home / "reports" / "credit-risk" / str(v)
        assert {p.name for p in folder.iterdir()} >= {"report.json", "report.html",
                                                      "model_card.md", "model_card.html"}
    assert good.model_card is not None and "credit-risk" in good.model_card
    text = out.getvalue()
    assert "lineage of credit-risk/2" in text and "NOT blessed" in text
    assert "code/leaky_train.py:47" in text

    monitored_from = _assert_monitoring(store, home, text)
    _assert_serving(store, home, text, monitored_from)


def _assert_monitoring(store: Store, home: Path, text: str) -> datetime:
    """Normal then drifted windows: one drift alert, diagnosed as income in one slice.

    Returns:
        When the first monitored window started (the serving phase's traffic is older).
    """
    assert not any(t.name.startswith("mlpilot-demo-monitor") for t in threading.enumerate())
    windows = store.list_metric_points("credit-risk", name="drift.share")
    assert len(windows) >= 6
    # the normal windows drift nowhere; the drifted ones drift in income only
    assert windows[0].value == 0 and windows[-1].details["drifted_columns"] == ["income"]
    alerts = store.list_alerts(model="credit-risk")
    assert [a.kind for a in alerts] == ["drift"], [(a.kind, a.summary) for a in alerts]
    alert = alerts[0]
    assert alert.occurrences >= 2 and alert.evidence["features"][0]["feature"] == "income"
    diagnosis = alert.diagnosis
    assert diagnosis["causes"][0]["kind"] == "drift"
    assert diagnosis["causes"][0]["subject"] == "income"
    report = Path(diagnosis["report_paths"]["diagnosis.html"])
    assert report.is_file() and report.parent == home / "diagnoses" / f"alert-{alert.id}"
    stored = json.loads((report.parent / "diagnosis.json").read_text())
    slices = [s["conditions"] for s in stored["slices"][:3]]
    assert {"purpose": "education"} in slices, slices
    assert f"mlpilot diagnose {alert.id}" in text and "mlpilot alerts" in text
    assert "Alerts opened: 1." in text and "drift income" in text
    return windows[0].window_start


def _assert_serving(store: Store, home: Path, text: str, monitored_from: datetime) -> None:
    """v2 canaried to production, the broken v5 forced, canaried and rolled back."""
    broken = store.get_version("credit-risk", 5)
    assert broken.run_id and not broken.check_report["blessed"]
    dep = store.get_deployment("credit-risk")
    assert dep.params["phase"] == "rolled_back" and dep.params["baseline"] == 2
    assert {(r.version, r.weight) for r in dep.routes} == {(2, 1.0), (5, 0.0)}
    forced = [e for e in store.list_events(target="credit-risk", limit=200)
              if "FORCED" in e.reason]
    assert forced and "performance" in forced[0].reason

    decisions = store.list_decisions(target_kind="deployment", target="credit-risk")
    applied = [(d.action, d.outcome) for d in reversed(decisions) if d.action != "hold"]
    assert applied[-1] == ("rollback", "applied") and ("promote", "applied") in applied
    assert applied.count(("step", "applied")) == 2  # 20 % → 50 % → 100 %
    promote = next(d for d in decisions if d.action == "promote")
    assert promote.outcome_detail["production"] == {"from": 1, "to": 2}
    rollback = decisions[0]
    assert rollback.action == "rollback" and "v5" in rollback.reason
    checks = {c["name"]: c for c in rollback.evidence["analysis"]["checks"]}
    failed = {name for name, c in checks.items() if c["verdict"] == "fail"}
    assert "accuracy" in failed and failed <= {"accuracy", "prediction_divergence",
                                               "latency", "latency_p99", "error_rate"}
    accuracy = checks["accuracy"]
    assert accuracy["p_value"] < 0.05 and accuracy["statistic"] > 0.2  # a big drop
    assert rollback.evidence["windows"]["canary"]["labelled"] >= 30

    # the gateway and its log are shut down: the log directory can be opened again
    assert not any(t.name == "mlpilot-demo-gateway" for t in threading.enumerate())
    log_dir = home / "inference-log"
    InferenceLog(log_dir).close()
    records = [r for r in read_records(log_dir, until=monitored_from)
               if r.deployment == "credit-risk"]
    assert len(records) >= 500 and all(r.status == 200 for r in records)
    assert {r.version for r in records} == {1, 2, 5}
    assert any(len(r.outputs["predict"]) > 1 for r in records)  # records-form batches
    labels = {rid: f for rid, f in read_feedback(feedback_dir(log_dir)).items()
              if f.received < monitored_from}
    ids = {r.request_id for r in records}
    assert len(labels) >= 300 and set(labels) <= ids
    assert "records read back from disk" in text and f"{len(records):,}" in text
    assert "production is still v2" in text and "answered 100 requests with v2: 100" in text
