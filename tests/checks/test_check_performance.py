"""The performance check (candidate vs baseline, paired bootstrap) and its statistics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from threadpoolctl import threadpool_limits

import mlpilot
from mlpilot.checks import CheckContext, Verdict, run_checks
from mlpilot.checks._stats import (
    CLASSIFICATION_METRICS,
    ClassificationScores,
    RegressionScores,
    bootstrap,
    bootstrap_weights,
    compare,
    percentile_interval,
    roc_auc,
    slice_labels,
)
from mlpilot.checks.performance import PerformanceCheck
from mlpilot.core.errors import InvalidArgument
from mlpilot.core.settings import Settings
from mlpilot.demo.credit import TARGET
from mlpilot.sdk._context import Context, set_context
from mlpilot.store import Store
from mlpilot.store.artifacts import get_artifact_store

FAST = {"n_bootstrap": 200}


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """One OpenMP/BLAS thread: on a shared, busy machine threaded fits (the gradient
    boosting in ``check_env``) spin against other processes and run many times slower."""
    with threadpool_limits(limits=1):
        yield


def _perf(env: Any, ref: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    report = run_checks(ref, only=["performance"], context=env.context,
                        config={"checks": {"performance": {**FAST, **(params or {})}}}, **kwargs)
    result = report.get("performance")
    json.dumps(result.evidence, allow_nan=False)  # evidence is strict JSON
    return result


# -- against the registry -----------------------------------------------------------------
def test_good_candidate_is_blessed_with_ci_and_slices(check_env: Any) -> None:
    result = _perf(check_env, check_env.candidate_ref, {"slices": ["sex", "age"]})
    assert result.verdict is Verdict.PASS, result.summary
    ev = result.evidence
    assert ev["baseline"] == check_env.baseline_ref and ev["primary_metric"] == "roc_auc"
    decision = ev["decision"]
    low, high = decision["ci"]
    assert low < decision["improvement"] < high and high >= -0.01
    assert set(ev["metrics"]) == set(CLASSIFICATION_METRICS)
    assert "95% CI" in result.summary
    by_column: dict[str, list[dict[str, Any]]] = {}
    for row in ev["slices"]:
        by_column.setdefault(row["column"], []).append(row)
    assert [r["slice"] for r in by_column["sex"]] == ["female", "male"]
    assert len(by_column["age"]) == 4 and by_column["age"][0]["slice"].startswith("[21")
    for rows in by_column.values():
        assert sum(r["n"] for r in rows) == len(check_env.holdout)
        assert all(r["candidate"] is not None and r["baseline"] is not None for r in rows)
    # thresholds judge the candidate's own value: a minimum, or a maximum for losses
    breach = _perf(check_env, check_env.candidate_ref,
                   {"thresholds": {"roc_auc": 0.99, "log_loss": 0.9}})
    assert breach.verdict is Verdict.FAIL
    assert "roc_auc" in breach.summary and "below the minimum 0.99" in breach.summary
    rows = {r["metric"]: r for r in breach.evidence["thresholds"]}
    assert rows["roc_auc"]["passed"] is False and rows["roc_auc"]["kind"] == "min"
    assert rows["log_loss"]["passed"] is True and rows["log_loss"]["kind"] == "max"
    # seeded: the same configuration gives the same interval
    assert breach.evidence["decision"] == decision


def test_clearly_worse_candidate_fails_with_the_ci(check_env: Any) -> None:
    weak = LogisticRegression().fit(check_env.train[["credit_lines"]], check_env.train[TARGET])
    ref = check_env.register(weak, features=["credit_lines"])
    result = _perf(check_env, ref, target=TARGET)
    assert result.verdict is Verdict.FAIL
    assert "significantly worse" in result.summary and "roc_auc" in result.summary
    decision = result.evidence["decision"]
    assert decision["significantly_worse"] and decision["ci"][1] < -0.01
    assert decision["ci"][0] <= decision["improvement"] <= decision["ci"][1]
    # the runner stores the verdict: not blessed
    version = check_env.context.store.resolve(ref)
    assert version.tags.get("blessed") == "false"
    # without a baseline only the thresholds judge it, and it still misses them
    alone = _perf(check_env, ref, {"thresholds": {"roc_auc": 0.7}}, target=TARGET,
                  baseline=None)
    assert alone.verdict is Verdict.FAIL
    assert "No baseline found" in alone.summary and "below the minimum 0.7" in alone.summary
    assert alone.evidence["baseline"] is None
    assert alone.evidence["decision"]["ci_of"] == "candidate"
    unknown = _perf(check_env, ref, {"thresholds": {"roc_auc": 0.4}}, target=TARGET,
                    baseline="no-such-alias")
    assert unknown.verdict is Verdict.PASS and "No baseline found" in unknown.summary
    bad = _perf(check_env, ref, {"thresholds": {"auc": 0.7}}, target=TARGET)
    assert bad.verdict is Verdict.ERROR and "No classification metric named 'auc'" in bad.summary


# -- a small regression registry ----------------------------------------------------------
@pytest.fixture
def regression_env(tmp_path: Path) -> Any:
    home = tmp_path / "home"
    settings = Settings(home=home, store_url=f"sqlite:///{home}/m.db",
                        artifact_url=str(home / "artifacts"), actor="tester")
    settings.ensure_home()
    ctx = Context(settings=settings, store=Store.open(settings.store_url, actor="tester"),
                  artifacts=get_artifact_store(settings.artifact_url))
    set_context(ctx)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 3))
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    frame["y"] = 2 * x[:, 0] - x[:, 1] + 1.5 * x[:, 2] ** 2 + rng.normal(0, 0.3, 600)
    train, holdout = frame.iloc[:400], frame.iloc[400:].reset_index(drop=True)

    def register(model: Any, alias: str | None = None) -> str:
        model.fit(train[["a", "b", "c"]], train["y"])
        return mlpilot.register(model, "amount", training_data=train[["a", "b", "c"]],
                                alias=alias, context=ctx).ref

    register(LinearRegression(), "production")
    yield SimpleNamespace(context=ctx, holdout=holdout, register=register)
    set_context(None)
    ctx.store.close()


def test_regression_candidates_are_compared_on_rmse(regression_env: Any) -> None:
    env = regression_env
    better = env.register(HistGradientBoostingRegressor(max_iter=60, random_state=0))
    result = _perf(env, better, {"slices": ["a"]}, data=env.holdout, target="y")
    assert result.verdict is Verdict.PASS, result.summary
    ev = result.evidence
    assert ev["task"] == "regression" and ev["primary_metric"] == "rmse"
    assert set(ev["metrics"]) == {"rmse", "mae", "r2"}
    assert ev["metrics"]["rmse"]["higher_is_better"] is False
    assert ev["decision"]["improvement"] > 0  # lower rmse, signed as an improvement
    assert len(ev["slices"]) == 4
    worse = env.register(DummyRegressor())
    failed = _perf(env, worse, data=env.holdout, target="y")
    assert failed.verdict is Verdict.FAIL and "rmse" in failed.summary
    assert failed.evidence["decision"]["ci"][1] < -0.01


# -- the verdict logic on fixed predictions (no registry) ---------------------------------
class _Fixed:
    """A stand-in for a loaded model that returns fixed outputs."""

    def __init__(self, proba: np.ndarray | None, pred: np.ndarray | None = None) -> None:
        self.proba = proba
        self.pred = pred if pred is not None else (proba[:, 1] > 0.5).astype(int)
        self.model = SimpleNamespace(classes_=np.array([0, 1]))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.pred

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray | None:
        return self.proba


def _context(data: pd.DataFrame | None, cand: _Fixed, base: _Fixed | None,
             target: str | None = "y") -> CheckContext:
    version = SimpleNamespace(ref="m/2", signature=None)
    return CheckContext(
        context=None, candidate=version, model=cand,  # type: ignore[arg-type]
        baseline=SimpleNamespace(ref="m/1", signature=None) if base else None,  # type: ignore[arg-type]
        baseline_model=base, data=data, target=target)  # type: ignore[arg-type]


def _proba(score: np.ndarray) -> np.ndarray:
    p = 1 / (1 + np.exp(-score))
    return np.column_stack([1 - p, p])


def _scores(seed: int = 0, n: int = 2000) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    data = pd.DataFrame({"g": np.where(np.arange(n) % 2 == 0, "a", "b"), "y": y})
    return data, rng


def test_slice_where_the_candidate_is_worse_warns() -> None:
    data, rng = _scores()
    y = data["y"].to_numpy()
    base = 2 * y - 1 + rng.normal(0, 1, len(y))
    on_b = (data["g"] == "b").to_numpy()
    cand = np.where(on_b, 2 * y - 1 + rng.normal(0, 1.3, len(y)),
                    2 * y - 1 + rng.normal(0, 0.6, len(y)))
    check = PerformanceCheck(n_bootstrap=200, slices=["g"])
    result = check.run(_context(data, _Fixed(_proba(cand)), _Fixed(_proba(base))))
    assert result.verdict is Verdict.WARN, result.summary
    assert result.evidence["flagged_slices"] == ["g=b"]
    assert "g=b" in result.summary
    rows = {r["slice"]: r for r in result.evidence["slices"]}
    assert rows["b"]["improvement"] < -0.01 < rows["a"]["improvement"]


def test_worse_but_not_significantly_warns() -> None:
    data, rng = _scores(1)
    y = data["y"].to_numpy()
    base = 2 * y - 1 + rng.normal(0, 1, len(y))
    cand = base + rng.normal(0, 0.15, len(y))  # a hair noisier than the baseline
    result = PerformanceCheck(n_bootstrap=200).run(
        _context(data, _Fixed(_proba(cand)), _Fixed(_proba(base))))
    decision = result.evidence["decision"]
    assert decision["improvement"] < 0 and decision["ci"][1] > -0.01
    assert result.verdict is Verdict.WARN and "not significantly" in result.summary


def test_skips_without_holdout_or_labels_and_rejects_bad_parameters() -> None:
    data, _ = _scores()
    fixed = _Fixed(_proba(np.zeros(len(data))))
    assert PerformanceCheck().run(_context(None, fixed, None)).verdict is Verdict.SKIP
    no_labels = PerformanceCheck().run(_context(data.drop(columns="y"), fixed, None, None))
    assert no_labels.verdict is Verdict.SKIP and "target" in no_labels.summary
    with pytest.raises(InvalidArgument, match="'metric' parameter .* must be one of"):
        PerformanceCheck(metric="rmse").run(_context(data, fixed, None))
    with pytest.raises(InvalidArgument, match="'n_bootstrap' .* >= 100. Got 5"):
        PerformanceCheck(n_bootstrap=5).run(_context(data, fixed, None))
    with pytest.raises(InvalidArgument, match="slice column 'nope' is not in the holdout"):
        PerformanceCheck(n_bootstrap=100, slices=["nope"]).run(_context(data, fixed, None))
    # a model without probabilities falls back to accuracy, and says so
    labels_only = _Fixed(None, pred=data["y"].to_numpy())
    result = PerformanceCheck(n_bootstrap=100).run(_context(data, labels_only, None))
    assert result.evidence["primary_metric"] == "accuracy" and result.evidence["notes"]
    with pytest.raises(InvalidArgument, match="'roc_auc' needs class probabilities"):
        PerformanceCheck(n_bootstrap=100, thresholds={"roc_auc": 0.5}).run(
            _context(data, labels_only, None))


# -- _stats ---------------------------------------------------------------------------------
@pytest.mark.parametrize("decimals", [0, 1, 2, 8])
def test_fast_auc_equals_sklearn_with_ties_and_weights(decimals: int) -> None:
    rng = np.random.default_rng(decimals)
    y = rng.integers(0, 2, 700)
    scores = np.round(rng.random(700) + 0.3 * y, decimals)  # few decimals: many ties
    assert float(roc_auc(y, scores)) == pytest.approx(skm.roc_auc_score(y, scores), abs=1e-12)
    weights = rng.integers(0, 4, (700, 3)).astype(float)
    fast = roc_auc(y, scores, weights)
    for b in range(3):
        expected = skm.roc_auc_score(y, scores, sample_weight=weights[:, b])
        assert fast[b] == pytest.approx(expected, abs=1e-12)


def test_fast_auc_is_nan_without_both_classes() -> None:
    assert np.isnan(roc_auc(np.ones(5), np.arange(5.0)))


def _binary(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(rng.random(n) * 0.7 + 0.3 * y, 0, 1)
    return y, (p > 0.5).astype(int), np.column_stack([1 - p, p])


def test_classification_metrics_equal_sklearn() -> None:
    y, pred, proba = _binary()
    s = ClassificationScores(y, pred, proba, classes=[0, 1])
    expected = {
        "roc_auc": skm.roc_auc_score(y, proba[:, 1]),
        "accuracy": skm.accuracy_score(y, pred),
        "f1": skm.f1_score(y, pred),
        "log_loss": skm.log_loss(y, proba),
        "brier": skm.brier_score_loss(y, proba[:, 1]),
    }
    assert s.metrics == CLASSIFICATION_METRICS
    for name, value in expected.items():
        assert s.value(name) == pytest.approx(value, abs=1e-12), name


def test_multiclass_metrics_equal_sklearn() -> None:
    rng = np.random.default_rng(1)
    y = rng.choice(["a", "b", "c"], 500)
    proba = rng.dirichlet([1, 1, 1], 500)
    proba[:, 0] += 0.4 * (y == "a")
    proba /= proba.sum(axis=1, keepdims=True)
    pred = np.array(["a", "b", "c"])[proba.argmax(axis=1)]
    s = ClassificationScores(y, pred, proba, classes=["a", "b", "c"])
    assert s.value("roc_auc") == pytest.approx(
        skm.roc_auc_score(y, proba, multi_class="ovr", average="macro"), abs=1e-12)
    assert s.value("f1") == pytest.approx(skm.f1_score(y, pred, average="macro"), abs=1e-12)
    assert s.value("log_loss") == pytest.approx(skm.log_loss(y, proba), abs=1e-12)
    assert s.value("brier") == pytest.approx(skm.brier_score_loss(y, proba), abs=1e-12)


def test_labels_only_classifier_has_no_probabilistic_metrics() -> None:
    y, pred, _ = _binary()
    s = ClassificationScores(y, pred)
    assert s.metrics == ("accuracy", "f1")
    with pytest.raises(InvalidArgument, match="Available: \\['accuracy', 'f1'\\]"):
        s.value("roc_auc")


def test_regression_metrics_equal_sklearn() -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(1000, 5, 400)  # far from zero: the sum of squares must stay accurate
    pred = y + rng.normal(0, 2, 400)
    s = RegressionScores(y, pred)
    assert s.value("rmse") == pytest.approx(skm.root_mean_squared_error(y, pred), rel=1e-10)
    assert s.value("mae") == pytest.approx(skm.mean_absolute_error(y, pred), rel=1e-10)
    assert s.value("r2") == pytest.approx(skm.r2_score(y, pred), rel=1e-9)


def test_bootstrap_weights_are_seeded_resamples() -> None:
    chunks = list(bootstrap_weights(50, 30, seed=3, max_cells=500))
    w = np.hstack(chunks)
    assert w.shape == (50, 30) and len(chunks) == 3
    assert (w.sum(axis=0) == 50).all()  # every resample draws n rows
    assert np.array_equal(w, np.hstack(list(bootstrap_weights(50, 30, seed=3, max_cells=500))))
    assert not np.array_equal(w, np.hstack(list(bootstrap_weights(50, 30, seed=4,
                                                                  max_cells=500))))


def test_bootstrap_ci_covers_the_known_difference() -> None:
    # candidate right on 80% of rows, baseline on 70%: the true accuracy gap is 0.10
    rng = np.random.default_rng(5)
    n = 3000
    y = rng.integers(0, 2, n)
    cand = np.where(rng.random(n) < 0.8, y, 1 - y)
    base = np.where(rng.random(n) < 0.7, y, 1 - y)
    out = compare(ClassificationScores(y, cand), ClassificationScores(y, base), ["accuracy"],
                  n_bootstrap=400, confidence=0.95, seed=0)["accuracy"]
    assert out.ci_low < 0.10 < out.ci_high
    assert out.ci_low < out.improvement < out.ci_high
    assert out.ci_high - out.ci_low < 0.06
    assert out.n_valid == 400


def test_paired_bootstrap_of_identical_models_is_exactly_zero() -> None:
    y, pred, proba = _binary()
    a = ClassificationScores(y, pred, proba)
    out = compare(a, a, CLASSIFICATION_METRICS, n_bootstrap=100, seed=0)
    for c in out.values():
        assert (c.improvement, c.ci_low, c.ci_high) == (0.0, 0.0, 0.0)


def test_losses_are_signed_so_that_positive_is_better() -> None:
    rng = np.random.default_rng(6)
    y = rng.normal(size=500)
    good, bad = RegressionScores(y, y + rng.normal(0, 0.5, 500)), RegressionScores(y, y + 1.0)
    out = compare(good, bad, ["rmse", "r2"], n_bootstrap=100, seed=0)
    assert out["rmse"].improvement > 0 and out["rmse"].ci_low > 0
    assert out["r2"].improvement > 0
    alone = compare(good, None, ["rmse"], n_bootstrap=100, seed=0)["rmse"]
    assert alone.baseline is None and alone.ci_low < alone.candidate < alone.ci_high


def test_bootstrap_and_interval_helpers() -> None:
    samples = bootstrap(lambda w: w.sum(axis=0), 10, n_bootstrap=20, seed=0)
    assert samples.shape == (20,) and (samples == 10).all()
    assert percentile_interval(np.array([np.nan, 1.0, 2.0, 3.0]), 0.5) == (1.5, 2.5)
    assert all(np.isnan(percentile_interval(np.array([np.nan]), 0.9)))


def test_slice_labels_bins_numbers_and_keeps_categories() -> None:
    ages = pd.Series([21, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, None])
    labels = slice_labels(ages, bins=4)
    assert list(labels.cat.categories)[0].startswith("[21")
    assert list(labels.cat.categories)[-1] == "(missing)"
    assert labels.value_counts().drop("(missing)").between(3, 4).all()
    sex = pd.Series(["m", "f", "f", None], dtype="category")
    assert list(slice_labels(sex)) == ["m", "f", "f", "(missing)"]
    assert list(slice_labels(pd.Series([3, 1, 2, 1])).cat.categories) == ["1", "2", "3"]
