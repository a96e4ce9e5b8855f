"""register → load round trips, integrity, trust, signatures and lineage through the SDK."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import mlpilot
from mlpilot.core.errors import IntegrityError, NotFound, SchemaMismatch
from mlpilot.demo import make_credit_data
from mlpilot.sdk._context import Context

FEATURES = ["age", "income", "debt_ratio", "late_payments"]


@pytest.fixture
def data() -> pd.DataFrame:
    return make_credit_data(400, seed=1)


def _fit(data: pd.DataFrame) -> LogisticRegression:
    return LogisticRegression(max_iter=300).fit(data[FEATURES], data["default"])


def test_register_and_load_round_trip(context: Context, data: pd.DataFrame) -> None:
    with mlpilot.start_run(name="fit", model="credit-risk") as run:
        model = _fit(data)
        run.log_metric("accuracy", model.score(data[FEATURES], data["default"]))
        v = mlpilot.register(model, "credit-risk", training_data=data[FEATURES],
                             alias="production")
    assert (v.version, v.format, v.run_id, v.aliases) == (1, "sklearn", run.id, ("production",))
    assert [c["name"] for c in v.signature["inputs"]] == FEATURES
    assert v.signature["outputs"]["classes"] == [0, 1]
    assert v.metrics["accuracy"] > 0.5  # taken from the run
    loaded = mlpilot.load("credit-risk@production")
    np.testing.assert_array_equal(loaded.predict(data[FEATURES]), model.predict(data[FEATURES]))
    # reordered columns are fine; missing or extra ones are named, never guessed
    reordered = data[FEATURES[::-1]]
    np.testing.assert_array_equal(loaded.predict(reordered), model.predict(data[FEATURES]))
    with pytest.raises(SchemaMismatch, match=r"Missing columns: \['debt_ratio', 'late_payments'\]"):
        loaded.predict(data[["age", "income"]])
    with pytest.raises(SchemaMismatch, match="sex"):
        loaded.predict(data[[*FEATURES, "sex"]])
    lineage = mlpilot.lineage("credit-risk/1")
    assert lineage.run.id == run.id and [d.name for d in lineage.datasets] == [
        "credit-risk-training"]


def test_tampered_artifact_is_refused(context: Context, data: pd.DataFrame) -> None:
    v = mlpilot.register(_fit(data), "credit-risk")
    hexdigest = v.artifact_digest.split(":")[1]
    blob = Path(context.settings.artifact_url) / "sha256" / hexdigest[:2] / hexdigest[2:]
    raw = bytearray(blob.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    blob.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match=hexdigest[:16]):
        mlpilot.load("credit-risk/1")
    blob.write_bytes(bytes(raw[: len(raw) // 3]))  # truncated
    with pytest.raises(IntegrityError):
        mlpilot.load("credit-risk/1")


def test_unknown_references(context: Context) -> None:
    with pytest.raises(NotFound, match="No model named 'nope'"):
        mlpilot.load("nope/1")


def test_compare_versions(context: Context, data: pd.DataFrame) -> None:
    with mlpilot.start_run() as r1:
        r1.log_params({"C": 1.0})
        mlpilot.register(_fit(data), "m", training_data=data[FEATURES], metrics={"auc": 0.7})
    with mlpilot.start_run() as r2:
        r2.log_params({"C": 0.1})
        mlpilot.register(LogisticRegression(C=0.1, max_iter=300).fit(
            data[FEATURES[:3]], data["default"]), "m", training_data=data[FEATURES[:3]],
            metrics={"auc": 0.75})
    diff = mlpilot.compare("m", 1, 2)
    assert diff["metrics"]["auc"]["delta"] == pytest.approx(0.05)
    assert diff["params"] == {"C": {"a": "1.0", "b": "0.1"}}
    assert diff["signature"]["removed"] == ["late_payments"]
