"""`mlpilot demo` on an empty home: tracked versions with lineage, then the CI gates.

SQLite only: the demo is a long end-to-end story; the store's behaviour on
PostgreSQL is covered by the store, SDK and API tests.
"""

from __future__ import annotations

from io import StringIO
from pathlib import Path

from rich.console import Console

from mlpilot.core.settings import Settings
from mlpilot.demo import run_demo
from mlpilot.sdk._context import Context, set_context
from mlpilot.store import Store
from mlpilot.store.artifacts import get_artifact_store


def test_demo_registers_versions_and_gates_them(tmp_path: Path) -> None:
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
    assert model.aliases == {"production": 1, "candidate": 2}  # boosting wins on AUC
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
