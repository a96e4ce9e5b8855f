"""`mlpilot demo` on an empty home: tracked versions with lineage, the CI gates, then
serving over real HTTP with a canary promoted and a broken canary rolled back.

SQLite only: the demo is a long end-to-end story; the store's behaviour on
PostgreSQL is covered by the store, SDK and API tests.
"""

from __future__ import annotations

import threading
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

    _assert_serving(store, home, text)


def _assert_serving(store: Store, home: Path, text: str) -> None:
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
    records = [r for r in read_records(log_dir) if r.deployment == "credit-risk"]
    assert len(records) >= 500 and all(r.status == 200 for r in records)
    assert {r.version for r in records} == {1, 2, 5}
    assert any(len(r.outputs["predict"]) > 1 for r in records)  # records-form batches
    labels = read_feedback(feedback_dir(log_dir))
    ids = {r.request_id for r in records}
    assert len(labels) >= 300 and set(labels) <= ids
    assert "records read back from disk" in text and f"{len(records):,}" in text
    assert "production is still v2" in text and "answered 100 requests with v2: 100" in text
