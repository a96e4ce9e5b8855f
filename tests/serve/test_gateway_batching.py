"""Micro-batching, the numeric fast path and the byte-level JSON depth check."""

from __future__ import annotations

import asyncio
import json
import random
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from mlpilot.core.entities import ModelVersion
from mlpilot.core.errors import MlpilotError
from mlpilot.formats import infer_signature
from mlpilot.formats._base import LoadedModel
from mlpilot.sdk._registry import RegisteredModel
from mlpilot.serve.gateway import codec
from mlpilot.serve.gateway.batching import MicroBatcher
from mlpilot.serve.gateway.errors import InputSchemaMismatch, InvalidInput, NullNotAllowed
from mlpilot.serve.gateway.predict import (
    ModelFailed,
    Prediction,
    PredictRequest,
    predict_batch,
)

NAMES = [f"f{i}" for i in range(5)]


def numeric_model(poison: float | None = None) -> RegisteredModel:
    """A 5-feature logistic regression; with ``poison``, it raises on rows where f0 equals it."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(300, 5)), columns=NAMES)
    X["f4"] = rng.integers(0, 10, 300)
    est = LogisticRegression().fit(X, (X.f0 + X.f1 > 0).astype(int))

    def predict(frame: pd.DataFrame) -> Any:
        if poison is not None and (frame["f0"] == poison).any():
            raise ZeroDivisionError("poisoned row")
        return est.predict(frame)

    version = ModelVersion(
        model="m", version=1, status="ready", format="sklearn", artifact_digest="x",
        artifact_size=0, signature=infer_signature(X, est.predict(X)), run_id=None,
        dataset_id=None, parent_version=None, metrics={}, tags={}, description="",
        aliases=(), check_report=None, model_card=None,
        created_at=pd.Timestamp.now(tz="UTC").to_pydatetime(), created_by="test")
    return RegisteredModel(version, LoadedModel(est, format="sklearn", predict=predict))


def columns(n: int, seed: int) -> dict[str, list[Any]]:
    rng = np.random.default_rng(seed)
    out: dict[str, list[Any]] = {k: rng.normal(size=n).tolist() for k in NAMES[:4]}
    out["f4"] = rng.integers(0, 10, n).tolist()
    return out


def direct(model: RegisteredModel, cols: dict[str, list[Any]]) -> list[Any]:
    return model.model.raw.predict(pd.DataFrame(cols)[NAMES]).tolist()  # type: ignore[attr-defined]


def test_concurrent_requests_share_one_call_and_get_their_own_rows() -> None:
    model = numeric_model()
    batches: list[tuple[int, int]] = []
    with ThreadPoolExecutor(2) as pool:
        batcher = MicroBatcher(pool, max_rows=256, max_wait_s=0.0, max_request_rows=100,
                               observe_batch=lambda rows, n: batches.append((rows, n)))
        inputs = [columns(1 + i % 3, seed=i) for i in range(30)]

        async def go() -> list[Prediction]:
            return await asyncio.gather(*(batcher.predict(model, PredictRequest(c))
                                          for c in inputs))

        answers = asyncio.run(go())
    for cols, answer in zip(inputs, answers, strict=True):
        assert answer.predictions.tolist() == direct(model, cols)
        assert answer.rows == len(cols["f0"]) and answer.probabilities is not None
    assert sum(n for _, n in batches) == 30
    assert max(n for _, n in batches) > 1  # concurrent requests were coalesced
    assert sum(rows for rows, _ in batches) == sum(len(c["f0"]) for c in inputs)


def test_batches_respect_max_rows() -> None:
    model = numeric_model()
    batches: list[int] = []
    with ThreadPoolExecutor(1) as pool:
        batcher = MicroBatcher(pool, max_rows=4, max_wait_s=0.0, max_request_rows=100,
                               observe_batch=lambda rows, n: batches.append(rows))

        async def go() -> list[Prediction]:
            return await asyncio.gather(*(batcher.predict(model, PredictRequest(columns(n, n)))
                                          for n in (1, 2, 3, 9, 1)))

        answers = asyncio.run(go())
    assert [a.rows for a in answers] == [1, 2, 3, 9, 1]
    assert all(rows <= 4 or rows == 9 for rows in batches)  # 9 rows run alone


def test_a_bad_request_fails_alone_in_its_batch() -> None:
    model = numeric_model()
    bad = columns(2, 1)
    del bad["f3"]
    answers = predict_batch(model, [PredictRequest(columns(2, 0)), PredictRequest(bad),
                                    PredictRequest(columns(1, 2), proba=False)], max_rows=10)
    assert isinstance(answers[1], InputSchemaMismatch) and "f3" in answers[1].message
    assert isinstance(answers[0], Prediction) and answers[0].probabilities is not None
    assert isinstance(answers[2], Prediction) and answers[2].probabilities is None


def test_a_row_that_crashes_the_model_fails_only_its_request() -> None:
    model = numeric_model(poison=123.0)
    poisoned = columns(3, 5)
    poisoned["f0"][1] = 123.0
    answers = predict_batch(model, [PredictRequest(columns(2, 0)), PredictRequest(poisoned),
                                    PredictRequest(columns(4, 3))], max_rows=10)
    assert isinstance(answers[1], ModelFailed) and answers[1].cause == "ZeroDivisionError"
    assert [a.rows for a in answers if isinstance(a, Prediction)] == [2, 4]


def test_errors_reach_the_waiting_request() -> None:
    model = numeric_model()
    with ThreadPoolExecutor(1) as pool:
        batcher = MicroBatcher(pool, max_rows=64, max_wait_s=0.001, max_request_rows=2)

        async def go() -> None:
            with pytest.raises(MlpilotError, match="limit is 2"):
                await batcher.predict(model, PredictRequest(columns(3, 0)))
            ok = await batcher.predict(model, PredictRequest(columns(2, 0)))
            assert ok.rows == 2

        asyncio.run(go())


# -- the numeric fast path ------------------------------------------------------------


def test_fast_path_frames_equal_the_general_path() -> None:
    model = numeric_model()
    signature = model.version.signature
    cols = columns(7, 9)
    cols["f1"] = [int(v * 10) for v in cols["f1"]]  # integers where float is declared
    fast = codec.prepare(cols, signature, 100)
    assert fast.arrays is not None
    general = codec._general_frame(cols, signature, list(signature["inputs"]))
    pd.testing.assert_frame_equal(fast.to_frame(), general, check_dtype=False,
                                  check_column_type=False)
    assert fast.to_frame()["f4"].dtype == np.int64


@pytest.mark.parametrize(("change", "error", "words"), [
    (lambda c: c.update(f0=[True] * 3), InputSchemaMismatch, "'f0' must be float"),
    (lambda c: c.update(f0=["1.5"] * 3), InputSchemaMismatch, "'f0' must be float"),
    (lambda c: c.update(f4=[1.5] * 3), InputSchemaMismatch, "'f4' must be integer"),
    (lambda c: c.update(extra=[1] * 3), InputSchemaMismatch, "Unexpected columns"),
    (lambda c: c.pop("f2"), InputSchemaMismatch, "Missing columns"),
    (lambda c: c.update(f4=[2**63] * 3), InvalidInput, "64-bit"),
])
def test_fast_path_hands_anything_unusual_to_the_general_path(change: Any, error: type,
                                                               words: str) -> None:
    cols = columns(3, 1)
    change(cols)
    with pytest.raises(error, match=re.escape(words)):
        codec.prepare(cols, numeric_model().version.signature, 100)


def test_nulls_in_a_numeric_column_take_the_general_path() -> None:
    signature = numeric_model().version.signature
    cols = columns(3, 1)
    cols["f0"][0] = None
    with pytest.raises(NullNotAllowed, match=r"\['f0'\] may not be null"):
        codec.prepare(cols, signature, 100)
    signature["inputs"][0]["nullable"] = True
    prepared = codec.prepare(cols, signature, 100)
    assert prepared.arrays is None and np.isnan(prepared.to_frame()["f0"][0])


# -- JSON depth on raw bytes ----------------------------------------------------------


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.random()
    if depth > 6 or kind < 0.3:
        return rng.choice([1, 2.5, None, True, "a[b", 'q"uo{te', "\\", "}]", "é[", ""])
    if kind < 0.65:
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(["k", "[", "{x}", 'a"b']) + str(i): _random_json(rng, depth + 1)
            for i in range(rng.randint(0, 3))}


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


def test_json_depth_matches_the_parsed_structure() -> None:
    rng = random.Random(5)
    for _ in range(500):
        value = _random_json(rng)
        for text in (json.dumps(value), json.dumps(value, ensure_ascii=False, indent=1)):
            assert codec.json_depth(text.encode()) == _depth(value), text


# -- predictions read off the probabilities ------------------------------------------


@pytest.mark.parametrize("n_classes", [2, 3])
def test_argmax_shortcut_equals_predict_for_every_listed_classifier(n_classes: int) -> None:
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier

    from mlpilot.serve.gateway.predict import _ARGMAX_CLASSIFIERS, _argmax_consistent

    rng = np.random.default_rng(n_classes)
    X = pd.DataFrame(rng.normal(size=(400, 5)), columns=NAMES)
    y = np.digitize(X.f0 + 0.5 * X.f1, [-0.5, 0.5][: n_classes - 1])
    test = pd.DataFrame(np.round(rng.normal(size=(2000, 5)), 1), columns=NAMES)  # ties
    estimators = [RandomForestClassifier(20, random_state=0), ExtraTreesClassifier(20),
                  GradientBoostingClassifier(n_estimators=20), HistGradientBoostingClassifier(
                      max_iter=20), DecisionTreeClassifier(max_depth=3), ExtraTreeClassifier(),
                  make_pipeline(StandardScaler(), LogisticRegression())]
    covered = set()
    for est in estimators:
        est.fit(X, y)
        proba = est.predict_proba(test)
        assert _argmax_consistent(est, est.classes_, proba), type(est).__name__
        final = type(est.steps[-1][1] if hasattr(est, "steps") else est)
        covered.add(f"{final.__module__}.{final.__qualname__}")
        np.testing.assert_array_equal(est.classes_.take(np.argmax(proba, axis=1)),
                                      est.predict(test))
    assert covered == _ARGMAX_CLASSIFIERS  # every listed class is proven here


def test_other_classifiers_predict_for_themselves() -> None:
    from sklearn.svm import SVC

    from mlpilot.serve.gateway.predict import _argmax_consistent

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(100, 5)), columns=NAMES)
    svc = SVC(probability=True, random_state=0).fit(X, X.f0 > 0)
    assert not _argmax_consistent(svc, svc.classes_, svc.predict_proba(X))
