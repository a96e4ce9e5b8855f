"""Shadow traffic: a candidate gets a copy of each answered request, off the user's path.

The user's answer is sent first; the copy runs afterwards as a background task
(through the shadow version's own micro-batcher), and its outcome is recorded:
agreement with the answer that was served, latency, and an inference-log record
with ``route="shadow"`` under the *same request id*, so late feedback labels the
shadow's predictions too (its features are in the served record of that id).
A shadow never delays, changes or fails the user's request: when more copies are
pending than the limit allows, new ones are dropped and counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from mlpilot.core.entities import Route
from mlpilot.core.errors import MlpilotError
from mlpilot.sdk._registry import RegisteredModel
from mlpilot.serve.gateway.metrics import GatewayMetrics
from mlpilot.serve.gateway.predict import ModelFailed, Prediction, PredictRequest
from mlpilot.serve.inference_log import InferenceLog, InferenceRecord

logger = logging.getLogger("mlpilot.gateway")

Predict = Callable[[RegisteredModel, PredictRequest], Awaitable[Prediction]]


def agreeing_rows(served: np.ndarray, shadow: np.ndarray) -> int:
    """How many rows the shadow predicted the same as the served answer.

    Numbers agree within a relative tolerance of 1e-6; anything else must be equal.
    Differently shaped answers agree nowhere.
    """
    a, b = np.asarray(served), np.asarray(shadow)
    if a.shape != b.shape:
        return 0
    if a.dtype.kind in "iufb" and b.dtype.kind in "iufb":
        same = np.isclose(a.astype(np.float64), b.astype(np.float64), rtol=1e-6, atol=0.0)
    else:
        same = np.asarray([x == y or str(x) == str(y) for x, y in zip(a.ravel(), b.ravel(),
                                                                        strict=True)])
    if same.ndim > 1:
        same = same.reshape(len(same), -1).all(axis=1)
    return int(np.count_nonzero(same))


@dataclass
class ShadowMirror:
    """Starts and tracks the shadow copies of one gateway.

    Args:
        metrics: where shadow outcomes are counted.
        log: the inference log (None: outcomes are only counted).
        max_pending: most copies in flight; beyond it new copies are dropped.
        timeout_s: longest a copy may take.
    """

    metrics: GatewayMetrics
    log: InferenceLog | None
    max_pending: int
    timeout_s: float
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def pending(self) -> int:
        """Copies in flight."""
        return len(self._tasks)

    def mirror(self, predict: Predict, *, name: str, model_name: str,
               shadows: tuple[Route, ...], loaded: dict[int, RegisteredModel] | Any,
               request: PredictRequest, served: Prediction, request_id: str,
               arrived: datetime) -> None:
        """Start one background copy per shadow route (returns at once)."""
        for route in shadows:
            model = loaded.get(route.version)
            if model is None:
                continue
            if len(self._tasks) >= self.max_pending:
                self.metrics.shadow_requests.labels(name, str(route.version), "dropped").inc()
                continue
            task = asyncio.get_running_loop().create_task(self._copy(
                predict, name, model_name, route, model, request, served, request_id,
                arrived))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _copy(self, predict: Predict, name: str, model_name: str, route: Route,
                    model: RegisteredModel, request: PredictRequest, served: Prediction,
                    request_id: str, arrived: datetime) -> None:
        version = str(route.version)
        started = time.perf_counter()
        outputs: dict[str, Any] = {}
        status, error = 200, None
        try:
            answer = await asyncio.wait_for(predict(model, request), self.timeout_s)
        except TimeoutError:
            status, error = 504, "PredictTimeout"
        except MlpilotError as exc:
            status = exc.http_status
            error = exc.cause if isinstance(exc, ModelFailed) else type(exc).__name__
        except Exception as exc:  # noqa: BLE001 - a shadow must never take the gateway down
            logger.exception("Shadow %s/%s failed unexpectedly.", model_name, version)
            status, error = 500, type(exc).__name__
        else:
            outputs = {"predict": answer.predictions}
            if answer.probabilities is not None:
                outputs["predict_proba"] = answer.probabilities
            agree = agreeing_rows(served.predictions, answer.predictions)
            self.metrics.shadow_rows.labels(name, version, "agree").inc(agree)
            self.metrics.shadow_rows.labels(name, version, "disagree").inc(answer.rows - agree)
        seconds = time.perf_counter() - started
        self.metrics.shadow_requests.labels(name, version,
                                            "answered" if status < 400 else "failed").inc()
        self.metrics.shadow_latency.labels(name, version).observe(seconds)
        if self.log is not None:
            self.log.submit(InferenceRecord(
                request_id=request_id, time=arrived, deployment=name, model=model_name,
                version=route.version, features={}, outputs=outputs,
                latency_ms=seconds * 1000, status=status, error=error, route=route.role))

    async def drain(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for the copies in flight (on shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
