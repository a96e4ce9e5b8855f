"""One prediction, run on a worker thread: build the frame, validate, predict."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlpilot.sdk._registry import RegisteredModel
from mlpilot.serve.gateway.codec import Columns, build_frame
from mlpilot.serve.gateway.errors import PredictFailed

logger = logging.getLogger("mlpilot.gateway")


@dataclass(frozen=True)
class Prediction:
    """What a model answered for a batch."""

    predictions: np.ndarray
    probabilities: np.ndarray | None
    classes: list[Any] | None
    rows: int


class ModelFailed(PredictFailed):
    """A :class:`PredictFailed` that remembers the model's exception class for the log."""

    def __init__(self, ref: str, cause: BaseException) -> None:
        super().__init__(f"Model {ref} failed while predicting. The error is in the "
                         "gateway's log; the request was valid.")
        self.cause = type(cause).__name__


def run_prediction(model: RegisteredModel, columns: Columns, *, max_rows: int,
                   proba: bool = True) -> Prediction:
    """Validate ``columns`` against the model's signature and predict.

    Raises:
        InvalidInput, InputSchemaMismatch, PayloadTooLarge: the input is wrong (4xx).
        ModelFailed: the model raised; only its class is logged, never the input.
    """
    frame = build_frame(columns, model.version.signature, max_rows)
    loaded = model.model
    try:
        predictions = np.asarray(loaded.predict(frame))
        probabilities = loaded.predict_proba(frame) if proba else None
    except Exception as exc:
        logger.error("Model %s raised %s while predicting %d rows.", model.version.ref,
                     type(exc).__name__, len(frame))
        raise ModelFailed(model.version.ref, exc) from None
    classes = loaded.classes_
    return Prediction(predictions, probabilities,
                      None if classes is None else classes.tolist(), len(frame))
