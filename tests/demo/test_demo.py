"""`mlpilot demo` on an empty home: two tracked versions with lineage and a production alias."""

from __future__ import annotations

from io import StringIO

from rich.console import Console

from mlpilot.demo import run_demo
from mlpilot.sdk._context import Context


def test_demo_registers_two_versions_with_lineage(context: Context) -> None:
    out = StringIO()
    versions = run_demo(context, Console(file=out, width=120))
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
    text = out.getvalue()
    assert "credit-risk" in text and "lineage of credit-risk/2" in text
