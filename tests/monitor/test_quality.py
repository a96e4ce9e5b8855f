"""Data quality of a window against the reference profile and schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from mlpilot.core.errors import InvalidArgument
from mlpilot.data import compute_profile, infer_schema
from mlpilot.monitor.quality import check_quality, features_frame
from mlpilot.serve.inference_log import InferenceRecord

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def _reference(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame({
        "age": rng.integers(18, 90, n),
        "income": rng.lognormal(10, 0.5, n),
        "city": rng.choice(["paris", "lyon", "nice"], n),
        "member": rng.uniform(size=n) < 0.3,
    })


def _records(frame: pd.DataFrame, batch: int = 1) -> list[InferenceRecord]:
    """The frame as the gateway logs it: single records, or column batches of ``batch`` rows."""
    rows = [{k: v.item() if isinstance(v, np.generic) else v for k, v in r.items()}
            for r in frame.to_dict(orient="records")]
    out = []
    for i in range(0, len(rows), batch):
        part = rows[i:i + batch]
        features = part[0] if batch == 1 else {k: [r[k] for r in part] for k in part[0]}
        out.append(InferenceRecord(request_id=f"r{i}", time=T0, deployment="d", model="m",
                                   version=1, features=features))
    return out


@pytest.fixture(scope="module")
def reference() -> tuple[dict, dict]:
    frame = _reference(np.random.default_rng(0), 20_000)
    return compute_profile(frame), infer_schema(frame)


def test_clean_window_reports_nothing(reference) -> None:
    profile, schema = reference
    window = features_frame(_records(_reference(np.random.default_rng(1), 2000), batch=50))
    assert len(window) == 2000 and window.index.name == "request_id"
    for kwargs in ({}, {"schema": schema}, {"range_method": "minmax"}):
        report = check_quality(window, profile, **kwargs)
        assert report.ok, [f.to_dict() for f in report.findings]
        assert {c.verdict for c in report.columns.values()} == {"ok"}
    report = check_quality(window, profile)
    assert report.columns["income"].checks["out_of_range"].expected == pytest.approx(0.002)
    json.dumps(report.to_dict(), allow_nan=False)


def test_catches_nulls_out_of_range_type_errors_and_new_categories(reference) -> None:
    profile, schema = reference
    rng = np.random.default_rng(2)
    frame = _reference(rng, 1000).astype(object)
    frame.loc[:99, "age"] = None  # 10% nulls where the reference had none
    frame.loc[100:159, "income"] = 1e9  # 6% far above the reference range
    frame.loc[160:179, "age"] = "forty"  # text in an integer column
    frame.loc[180:184, "age"] = 40.5  # not a whole number
    frame.loc[185:214, "city"] = "marseille"  # a city the reference never saw
    frame.loc[215:216, "member"] = "yes"
    window = features_frame(_records(frame))
    report = check_quality(window, profile, schema)
    flagged = {(f.column, f.check): f for f in report.findings}
    assert set(flagged) == {("age", "null_rate"), ("age", "type_error"),
                            ("income", "out_of_range"), ("city", "new_category"),
                            ("member", "type_error")}
    assert flagged[("age", "null_rate")].count == 100
    assert flagged[("age", "null_rate")].share == pytest.approx(0.1)
    assert flagged[("age", "type_error")].count == 25
    assert flagged[("age", "type_error")].details["examples"][0] == ["forty", 20]
    assert flagged[("income", "out_of_range")].count == 60
    assert flagged[("income", "out_of_range")].details["above"] == 60
    assert flagged[("city", "new_category")].details["examples"] == [["marseille", 30]]
    assert report.columns["age"].verdict == "degraded"
    assert report.columns["city"].verdict == "degraded"


def test_missing_and_extra_columns(reference) -> None:
    profile, _ = reference
    window = pd.DataFrame({"age": [30, 40], "income": [2e4, 3e4], "member": [True, False],
                           "shoe_size": [42, 43]})
    report = check_quality(window, profile)
    assert report.columns["city"].verdict == "missing"
    assert report.columns["shoe_size"].verdict == "extra"
    checks = {(f.column, f.check) for f in report.findings}
    assert checks == {("city", "missing_column"), ("shoe_size", "extra_column")}


def test_non_nullable_schema_flags_any_null(reference) -> None:
    profile, schema = reference
    window = _reference(np.random.default_rng(3), 500).astype(object)
    window.loc[0, "income"] = None
    assert check_quality(window, profile).ok  # 0.2% nulls: within tolerance
    report = check_quality(window, profile, schema)
    assert [(f.column, f.check) for f in report.findings] == [("income", "null_rate")]


def test_features_frame_shapes() -> None:
    records = [
        InferenceRecord(request_id="a", time=T0, deployment="d", model="m", version=1,
                        features={"x": 1, "y": "u"}),
        InferenceRecord(request_id="b", time=T0, deployment="d", model="m", version=1,
                        features={"x": [2, 3], "z": [True, False]}),
        InferenceRecord(request_id="c", time=T0, deployment="d", model="m", version=1,
                        features={"x": [4, 5], "y": 7}),  # not a batch: one row, a list value
        InferenceRecord(request_id="d", time=T0, deployment="d", model="m", version=1,
                        features={}, status=400),
        InferenceRecord(request_id="e", time=T0, deployment="d", model="m", version=1,
                        features={"x": 9}, status=422),
    ]
    frame = features_frame(records)
    assert frame.index.tolist() == ["a", "b", "b", "c", "e"]
    assert frame["x"].tolist() == [1, 2, 3, [4, 5], 9]
    assert frame["y"].tolist() == ["u", None, None, 7, None]
    assert frame["z"].tolist() == [None, True, False, None, None]
    assert features_frame(records, include_failed=False).index.tolist() == ["a", "b", "b", "c"]
    assert features_frame([]).empty


def test_bad_inputs(reference) -> None:
    profile, _ = reference
    with pytest.raises(InvalidArgument, match="must be a pandas DataFrame"):
        check_quality([1, 2], profile)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="'columns' mapping"):
        check_quality(pd.DataFrame(), {"rows": 3})
    with pytest.raises(InvalidArgument, match="No range method named"):
        check_quality(pd.DataFrame(), profile, range_method="iqr")
    with pytest.raises(InvalidArgument, match="'tolerance' parameter"):
        check_quality(pd.DataFrame(), profile, tolerance=2)
    with pytest.raises(InvalidArgument, match="'columns' list"):
        check_quality(pd.DataFrame(), profile, schema={"cols": []})
