"""Multivariate drift: calibrated false alarms, and a correlation change univariate tests miss."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlpilot.core.errors import InvalidArgument
from mlpilot.monitor import DomainClassifier, FrameEncoder, PCAReconstruction, get_detector


def _frame(rng: np.random.Generator, n: int, rho: float) -> pd.DataFrame:
    """Two standard normals with correlation rho, an independent normal and a category."""
    xy = rng.multivariate_normal([0.0, 0.0], [[1.0, rho], [rho, 1.0]], size=n)
    return pd.DataFrame({"a": xy[:, 0], "b": xy[:, 1], "c": rng.normal(size=n),
                         "d": rng.choice(["x", "y", "z"], size=n)})


@pytest.mark.parametrize("name", ["domain_classifier", "pca_reconstruction"])
def test_registered_as_multivariate(name: str) -> None:
    assert get_detector(name).kind == "multivariate"


def test_domain_classifier_false_alarm_rate() -> None:
    # 40 seeded no-drift pairs of 200-row frames at alpha 0.05; measured 2.3% over 300
    alarms, p_values = 0, []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        det = DomainClassifier(max_iter=30, n_splits=4, random_state=seed)
        det.fit(_frame(rng, 200, 0.8))
        result = det.score(_frame(rng, 200, 0.8))
        alarms += result.drifted
        p_values.append(result.p_value)
    assert alarms <= 4
    assert 0.35 < np.mean(p_values) < 0.65  # roughly uniform p-values


def test_pca_false_alarm_rate() -> None:
    # measured 3.7% over 300 seeded pairs of 300-row frames
    alarms = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        det = PCAReconstruction(n_bootstrap=500, random_state=seed).fit(_frame(rng, 300, 0.9))
        alarms += det.score(_frame(rng, 300, 0.9)).drifted
    assert alarms <= 4


def test_correlation_change_caught_where_univariate_tests_miss_it() -> None:
    rng = np.random.default_rng(42)
    reference, current = _frame(rng, 600, 0.9), _frame(rng, 600, -0.9)
    # every marginal is unchanged: per-column KS tests see nothing
    for col in ["a", "b", "c"]:
        assert stats.ks_2samp(reference[col], current[col]).pvalue > 0.05
    ks = get_detector("ks").fit(reference["a"]).score(current["a"])
    assert not ks.drifted
    dc = DomainClassifier(max_iter=50, random_state=0).fit(reference).score(current)
    assert dc.drifted and dc.p_value < 1e-6 and dc.effect_size > 0.2
    top = [f["feature"] for f in dc.details["top_features"][:2]]
    assert sorted(top) == ["a", "b"]
    pca = PCAReconstruction(random_state=0).fit(reference).score(current)
    assert pca.drifted and pca.statistic > 3 and pca.effect_size == pytest.approx(pca.statistic - 1)
    assert sorted(f["feature"] for f in pca.details["top_features"][:2]) == ["a", "b"]
    for result in (dc, pca):
        json.dumps(result.to_dict(), allow_nan=False)


def test_domain_classifier_permutation_null() -> None:
    rng = np.random.default_rng(1)
    reference = _frame(rng, 150, 0.0)
    det = DomainClassifier(model="logistic", null="permutation", n_permutations=19,
                           n_splits=3, random_state=0).fit(reference)
    same = det.score(_frame(rng, 150, 0.0))
    assert len(same.details["null_auc"]) == 19 and same.p_value >= 0.05
    shifted = _frame(rng, 150, 0.0).assign(c=lambda f: f["c"] + 1.0)
    result = det.score(shifted)
    assert result.drifted and result.p_value == pytest.approx(1 / 20)
    assert result.details["top_features"][0]["feature"] == "c"


def test_new_category_and_missing_values_are_evidence_not_errors() -> None:
    rng = np.random.default_rng(2)
    reference = _frame(rng, 400, 0.0)
    current = _frame(rng, 400, 0.0)
    current.loc[:199, "d"] = "never-seen"
    current.loc[::3, "c"] = np.nan
    result = DomainClassifier(max_iter=30, random_state=0).fit(reference).score(current)
    assert result.drifted
    assert {f["feature"] for f in result.details["top_features"][:2]} == {"c", "d"}
    pca = PCAReconstruction(random_state=0).fit(reference).score(current)
    assert pca.drifted


def test_encoder_codes() -> None:
    ref = pd.DataFrame({"n": [1.0, np.nan, 3.0, np.inf], "s": ["a", "a", "b", None]})
    enc = FrameEncoder(max_categories=1).fit(ref)
    matrix, mask = enc.ordinal(pd.DataFrame({"n": [2.0, -np.inf], "s": ["a", "zzz"]}))
    assert mask.tolist() == [False, True]
    assert np.isnan(matrix[1, 0]) and matrix[:, 1].tolist() == [0.0, 2.0]  # kept, unseen
    assert enc.ordinal(pd.DataFrame({"n": [1.0], "s": ["b"]}))[0][0, 1] == 1.0  # other
    assert enc.dense(ref).shape == (4, 2 + 1 + 3)


def test_invalid_inputs() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(InvalidArgument, match="DataFrame"):
        DomainClassifier().fit(np.zeros((20, 2)))
    with pytest.raises(InvalidArgument, match="at least 10 rows"):
        PCAReconstruction().fit(_frame(rng, 5, 0.0))
    with pytest.raises(InvalidArgument, match="fitted"):
        DomainClassifier().score(_frame(rng, 50, 0.0))
    det = PCAReconstruction().fit(_frame(rng, 50, 0.5))
    with pytest.raises(InvalidArgument, match="lacks the reference columns"):
        det.score(_frame(rng, 50, 0.5).drop(columns="b"))
    with pytest.raises(InvalidArgument, match="'alpha'"):
        DomainClassifier(alpha=1.5)
    with pytest.raises(InvalidArgument, match="'model'"):
        DomainClassifier(model="svm")
    with pytest.raises(InvalidArgument, match="'variance'"):
        PCAReconstruction(variance=1.0)
