"""The fairness check: group metrics and disparities across sensitive features (fairlearn)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from threadpoolctl import threadpool_limits

import mlpilot
from mlpilot.checks import CheckContext, Verdict, run_checks
from mlpilot.checks.fairness import FairnessCheck
from mlpilot.core.errors import InvalidArgument
from mlpilot.demo.credit import FEATURES, TARGET

LOOSE = {"max_dp_difference": 0.5, "min_dp_ratio": 0.3, "max_eo_difference": 0.5}


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """One OpenMP/BLAS thread: on a shared, busy machine threaded fits (the gradient
    boosting in ``check_env``) spin against other processes and run many times slower."""
    with threadpool_limits(limits=1):
        yield


def _fairness(env: Any, ref: str, config: dict[str, Any]) -> Any:
    result = run_checks(ref, only=["fairness"], config=config, context=env.context).get("fairness")
    json.dumps(result.evidence, allow_nan=False)  # evidence is strict JSON
    return result


def test_biased_candidate_fails_naming_the_disparity_and_the_group(check_env: Any) -> None:
    # every woman in the training data is labelled a defaulter: the model learns `sex`
    biased = check_env.train.copy()
    biased.loc[biased["sex"] == "female", TARGET] = 1
    # the production pipeline (preprocessing + logistic regression), refitted on that data
    production = mlpilot.load(check_env.baseline_ref, context=check_env.context).raw
    model = clone(production).fit(biased[FEATURES], biased[TARGET])
    ref = check_env.register(model)
    result = _fairness(check_env, ref, {"sensitive_features": ["sex"]})
    assert result.verdict is Verdict.FAIL
    assert "demographic parity difference on sex" in result.summary
    assert "female" in result.summary
    ev = result.evidence
    assert ev["worst_group"]["feature"] == "sex" and ev["worst_group"]["group"] == "female"
    dp = next(d for d in ev["disparities"] if d["feature"] == "sex"
              and d["disparity"] == "demographic_parity_difference")
    assert dp["passed"] is False and dp["value"] > 0.5 and dp["bound"] == 0.1
    assert dp["groups"]["highest"]["group"] == "female"
    assert "demographic_parity_difference on sex" in ev["failed"]
    assert "equalized_odds_difference on sex" in ev["failed"]
    rows = {r["group"]: r for r in ev["groups"]}
    assert rows["female"]["selection_rate"] > 0.9 > rows["male"]["selection_rate"]
    assert {"accuracy", "true_positive_rate", "false_positive_rate", "count"} <= set(rows["male"])
    assert rows["female"]["count"] + rows["male"]["count"] == len(check_env.holdout)
    assert check_env.context.store.resolve(ref).tags.get("blessed") == "false"


def test_normal_candidate_passes_loose_bounds_with_intersections(check_env: Any) -> None:
    config = {"sensitive_features": ["sex", "age"], "checks": {"fairness": LOOSE}}
    result = _fairness(check_env, check_env.candidate_ref, config)
    assert result.verdict is Verdict.PASS, result.summary
    ev = result.evidence
    assert ev["groupings"] == ["sex", "age", "sex & age"]
    crossed = [r for r in ev["groups"] if r["feature"] == "sex & age"]
    assert len(crossed) == 8  # 2 sexes x 4 age quartiles
    assert crossed[0]["values"] == {"sex": "female", "age": crossed[0]["values"]["age"]}
    assert crossed[0]["values"]["age"].startswith("[21")  # bins in natural order
    assert {d["feature"] for d in ev["disparities"]} == {"sex", "age", "sex & age"}
    assert all(d["passed"] is not False for d in ev["disparities"])


# -- fixed predictions (no registry) ------------------------------------------------------
class _Fixed:
    """A stand-in for a loaded model that returns fixed predictions."""

    def __init__(self, pred: np.ndarray, classes: list[Any] | None = None) -> None:
        self.pred = pred
        self.model = SimpleNamespace(classes_=None if classes is None else np.array(classes))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.pred

    def predict_proba(self, X: pd.DataFrame) -> None:
        return None


def _context(data: pd.DataFrame, pred: np.ndarray, *, target: str | None = "y",
             task: str = "classification", sensitive: tuple[str, ...] = ("g",),
             classes: list[Any] | None = None) -> CheckContext:
    return CheckContext(
        context=None, candidate=SimpleNamespace(ref="m/1", signature=None),  # type: ignore[arg-type]
        model=_Fixed(pred, classes), data=data, target=target, task=task,  # type: ignore[arg-type]
        sensitive_features=sensitive)


def _groups(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.random.Generator]:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"g": rng.choice(["a", "b"], n), "y": rng.integers(0, 2, n)}), rng


def test_skips_say_how_to_configure_and_the_parameter_overrides_the_config() -> None:
    data, rng = _groups()
    pred = rng.integers(0, 2, len(data))
    skipped = FairnessCheck().run(_context(data, pred, sensitive=()))
    assert skipped.verdict is Verdict.SKIP and "sensitive_features: [sex]" in skipped.summary
    absent = FairnessCheck(sensitive_features=["race"]).run(_context(data, pred))
    assert absent.verdict is Verdict.SKIP
    assert "lacks the sensitive features ['race']" in absent.summary
    data["h"] = rng.choice(["own", "rent"], len(data))
    both = FairnessCheck(**LOOSE).run(_context(data, pred, sensitive=("g", "h")))
    assert both.evidence["groupings"] == ["g", "h", "g & h"]
    alone = FairnessCheck(sensitive_features=["h"], **LOOSE).run(_context(data, pred))
    assert alone.evidence["groupings"] == ["h"]
    flat = FairnessCheck(intersections=False, **LOOSE).run(
        _context(data, pred, sensitive=("g", "h")))
    assert flat.evidence["groupings"] == ["g", "h"]


def test_regression_compares_range_normalised_group_means() -> None:
    data, rng = _groups()
    data["y"] = rng.normal(10, 2, len(data))
    fair = data["y"].to_numpy() + rng.normal(0, 1, len(data))
    passed = FairnessCheck().run(_context(data, fair, task="regression"))
    assert passed.verdict is Verdict.PASS, passed.summary
    rows = passed.evidence["groups"]
    assert {"mean_prediction", "mean_label", "mae", "count"} <= set(rows[0])
    shifted = fair + np.where(data["g"] == "b", 4.0, 0.0)  # group b predicted 4 higher
    failed = FairnessCheck().run(_context(data, shifted, task="regression"))
    assert failed.verdict is Verdict.FAIL
    assert "mean prediction difference on g" in failed.summary
    d = failed.evidence["disparities"][0]
    assert d["disparity"] == "mean_prediction_difference" and 0 < d["value"] <= 1
    assert d["raw_difference"] == pytest.approx(4.0, abs=0.6)
    assert failed.evidence["bounds"] == {"max_mean_difference": 0.1}
    assert failed.evidence["worst_group"]["metric"] == "mae"


def test_disparities_equal_fairlearn_on_the_raw_rows() -> None:
    from fairlearn.metrics import (
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
        equalized_odds_ratio,
    )

    data, rng = _groups(seed=4)
    data["g"] = rng.choice(["a", "b", "c"], len(data))
    pred = (rng.random(len(data)) < np.where(data["g"] == "a", 0.6, 0.4)).astype(int)
    result = FairnessCheck(**LOOSE).run(_context(data, pred, classes=[0, 1]))
    found = {d["disparity"]: d["value"] for d in result.evidence["disparities"]}
    raw = {"y_true": data["y"], "y_pred": pred, "sensitive_features": data["g"]}
    assert found["demographic_parity_difference"] == pytest.approx(
        demographic_parity_difference(**raw), abs=1e-6)
    assert found["demographic_parity_ratio"] == pytest.approx(
        demographic_parity_ratio(**raw), abs=1e-6)
    assert found["equalized_odds_difference"] == pytest.approx(
        equalized_odds_difference(**raw), abs=1e-6)
    assert found["equalized_odds_ratio"] == pytest.approx(equalized_odds_ratio(**raw), abs=1e-6)
    a = next(r for r in result.evidence["groups"] if r["group"] == "a")
    in_a = (data["g"] == "a").to_numpy()
    assert a["count"] == in_a.sum()
    assert a["accuracy"] == pytest.approx((pred[in_a] == data["y"][in_a]).mean(), abs=1e-6)


def test_small_groups_are_reported_but_not_judged() -> None:
    data, rng = _groups()
    data.loc[:9, "g"] = "tiny"  # 10 rows, all predicted positive
    pred = np.where(data["g"] == "tiny", 1, rng.integers(0, 2, len(data)))
    result = FairnessCheck(max_dp_difference=0.2, min_dp_ratio=0.6,
                           max_eo_difference=0.2).run(_context(data, pred, classes=[0, 1]))
    assert result.verdict is Verdict.PASS, result.summary
    tiny = next(r for r in result.evidence["groups"] if r["group"] == "tiny")
    assert tiny["eligible"] is False and tiny["selection_rate"] == 1.0
    assert result.evidence["excluded_small_groups"] == ["g=tiny"]
    judged = FairnessCheck(min_group_size=5).run(_context(data, pred, classes=[0, 1]))
    assert judged.verdict is Verdict.FAIL and "tiny" in judged.summary


def test_without_labels_only_demographic_parity_is_measured() -> None:
    data, rng = _groups()
    pred = np.where(data["g"] == "a", rng.random(len(data)) < 0.7, rng.random(len(data)) < 0.2)
    result = FairnessCheck().run(_context(data.drop(columns="y"), pred.astype(int), target=None))
    assert result.verdict is Verdict.FAIL and not result.evidence["labelled"]
    kinds = {d["disparity"] for d in result.evidence["disparities"]}
    assert kinds == {"demographic_parity_difference", "demographic_parity_ratio"}
    assert result.evidence["worst_group"]["metric"] == "selection_rate"


def test_multiclass_needs_pos_label_and_parameters_are_validated() -> None:
    data, rng = _groups()
    pred = rng.choice(["x", "y", "z"], len(data))
    labels = pd.Series(rng.choice(["x", "y", "z"], len(data)))
    data["y"] = labels
    skipped = FairnessCheck().run(_context(data, pred, classes=["x", "y", "z"]))
    assert skipped.verdict is Verdict.SKIP and "pos_label" in skipped.summary
    chosen = FairnessCheck(pos_label="z", max_dp_difference=None, min_dp_ratio=None,
                           max_eo_difference=None).run(_context(data, pred,
                                                                classes=["x", "y", "z"]))
    assert chosen.verdict is Verdict.PASS and chosen.evidence["positive_label"] == "z"
    with pytest.raises(InvalidArgument, match="'max_dp_difference' .* \\[0, 1\\] or null"):
        FairnessCheck(max_dp_difference=2).run(_context(data, pred))
    with pytest.raises(InvalidArgument, match="pos_label 'w' is not a class"):
        FairnessCheck(pos_label="w").run(_context(data, pred, classes=["x", "y", "z"]))
