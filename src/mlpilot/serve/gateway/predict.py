"""Predictions on a worker thread: validate each request, predict a batch at once, split.

Validation happens per request, so one bad request fails alone. The valid ones
are predicted in one vectorised call; if that call raises, each request is
retried on its own so a row that crashes the model fails only its own request.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from mlpilot.core.errors import MlpilotError
from mlpilot.sdk._registry import RegisteredModel
from mlpilot.serve.gateway.codec import Columns, Prepared, assemble, prepare
from mlpilot.serve.gateway.errors import PredictFailed

logger = logging.getLogger("mlpilot.gateway")


@dataclass(frozen=True)
class Prediction:
    """What a model answered for one request's rows."""

    predictions: np.ndarray
    probabilities: np.ndarray | None
    classes: list[Any] | None
    rows: int


@dataclass(frozen=True)
class PredictRequest:
    """One request's share of a batch."""

    columns: Columns
    proba: bool = True


class ModelFailed(PredictFailed):
    """A :class:`PredictFailed` that remembers the model's exception class for the log."""

    def __init__(self, ref: str, cause: BaseException) -> None:
        super().__init__(f"Model {ref} failed while predicting. The error is in the "
                         "gateway's log; the request was valid.")
        self.cause = type(cause).__name__


def _predict(model: RegisteredModel, parts: Sequence[Prepared], proba: bool
             ) -> list[Prediction]:
    frame = assemble(parts)
    loaded = model.model
    try:
        probabilities = loaded.predict_proba(frame) if proba else None
        if probabilities is not None and loaded.delegates and _argmax_consistent(
                loaded.raw, loaded.classes_, probabilities):
            # predict() would compute the same probabilities again and take the argmax
            predictions = loaded.classes_.take(np.argmax(probabilities, axis=1))  # type: ignore[union-attr]
        else:
            predictions = np.asarray(loaded.predict(frame))
    except Exception as exc:
        logger.error("Model %s raised %s while predicting %d rows.", model.version.ref,
                     type(exc).__name__, len(frame))
        raise ModelFailed(model.version.ref, exc) from None
    classes = loaded.classes_
    labels = None if classes is None else classes.tolist()
    out, start = [], 0
    for part in parts:
        stop = start + part.rows
        out.append(Prediction(predictions[start:stop],
                               None if probabilities is None else probabilities[start:stop],
                               labels, part.rows))
        start = stop
    return out


#: scikit-learn classifiers whose ``predict`` is exactly the argmax of ``predict_proba``
#: (ties included); exact classes only, since a subclass may override either method.
_ARGMAX_CLASSIFIERS = frozenset({
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._forest.ExtraTreesClassifier",
    "sklearn.ensemble._gb.GradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._classes.ExtraTreeClassifier",
    "sklearn.linear_model._logistic.LogisticRegression",
})


def _final_estimator(raw: Any) -> Any:
    while hasattr(raw, "steps") and raw.steps:  # Pipelines, nested
        raw = raw.steps[-1][1]
    return raw


def _argmax_consistent(raw: Any, classes: np.ndarray | None, probabilities: Any) -> bool:
    """True when the predictions can be read off the probabilities without a second pass."""
    if classes is None or not isinstance(probabilities, np.ndarray):
        return False
    if probabilities.ndim != 2 or probabilities.shape[1] != len(classes):
        return False
    cls = type(_final_estimator(raw))
    return f"{cls.__module__}.{cls.__qualname__}" in _ARGMAX_CLASSIFIERS


def predict_batch(model: RegisteredModel, requests: Sequence[PredictRequest], *,
                  max_rows: int) -> list[Prediction | MlpilotError]:
    """Answer each request: its :class:`Prediction`, or the error that is its answer.

    Errors are :class:`InvalidInput`, :class:`InputSchemaMismatch`,
    :class:`PayloadTooLarge` (the request is wrong, 4xx) or :class:`ModelFailed`
    (the model raised; only its class is logged, never the input).
    """
    results: list[Prediction | MlpilotError | None] = [None] * len(requests)
    valid: list[tuple[int, Prepared]] = []
    for i, request in enumerate(requests):
        try:
            valid.append((i, prepare(request.columns, model.version.signature, max_rows)))
        except MlpilotError as exc:
            results[i] = exc
    if valid:
        proba = any(requests[i].proba for i, _ in valid)
        try:
            answers = _predict(model, [p for _, p in valid], proba)
        except ModelFailed as exc:
            if len(valid) == 1:
                answers = [exc]
            else:  # isolate the request that breaks the model
                answers = [_predict_alone(model, p, proba) for _, p in valid]
        for (i, _), answer in zip(valid, answers, strict=True):
            if isinstance(answer, Prediction) and not requests[i].proba:
                answer = replace(answer, probabilities=None)
            results[i] = answer
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


def _predict_alone(model: RegisteredModel, part: Prepared, proba: bool
                   ) -> Prediction | MlpilotError:
    try:
        return _predict(model, [part], proba)[0]
    except ModelFailed as exc:
        return exc


def run_prediction(model: RegisteredModel, columns: Columns, *, max_rows: int,
                   proba: bool = True) -> Prediction:
    """Validate ``columns`` against the model's signature and predict them alone.

    Raises:
        InvalidInput, InputSchemaMismatch, PayloadTooLarge: the input is wrong (4xx).
        ModelFailed: the model raised.
    """
    answer = predict_batch(model, [PredictRequest(columns, proba)], max_rows=max_rows)[0]
    if isinstance(answer, MlpilotError):
        raise answer
    return answer
