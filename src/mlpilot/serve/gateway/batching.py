"""Adaptive micro-batching: concurrent requests to one model share one vectorised call.

A scikit-learn ``predict`` on one row costs nearly as much as on a hundred, so
serving concurrent single-row requests one by one wastes most of the CPU. Each
loaded version gets a :class:`MicroBatcher`: while its batch is predicting on
the worker thread, newly arrived requests queue, and they go together as the
next batch (up to ``max_rows`` rows). An idle model answers at once, so light
traffic pays no added latency; ``max_wait_s`` > 0 additionally holds a batch
open that long to collect more.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

from mlpilot.core.errors import MlpilotError
from mlpilot.sdk._registry import RegisteredModel
from mlpilot.serve.gateway.predict import Prediction, PredictRequest, predict_batch


@dataclass
class _Waiting:
    request: PredictRequest
    rows: int
    future: asyncio.Future[Prediction] = field(repr=False)


class MicroBatcher:
    """Coalesces the concurrent predictions of one loaded model version.

    Use from one event loop. ``observe_batch(rows, requests)``, when given, is
    called for every batch run (for the batch-size metrics).

    Args:
        executor: runs the batches (validation and prediction) off the event loop.
        max_rows: most rows one batch may coalesce; a single request with more
            rows runs as a batch of its own.
        max_wait_s: how long a batch waits for more requests before it runs
            (0: run as soon as the model is free).
        max_request_rows: the per-request row limit (413 beyond).
    """

    def __init__(self, executor: Executor, *, max_rows: int, max_wait_s: float,
                 max_request_rows: int,
                 observe_batch: Callable[[int, int], None] | None = None) -> None:
        self._executor = executor
        self._max_rows = max_rows
        self._max_wait_s = max_wait_s
        self._max_request_rows = max_request_rows
        self._observe = observe_batch
        self._queue: deque[_Waiting] = deque()
        self._running = False

    @property
    def idle(self) -> bool:
        """True when nothing is queued or running."""
        return not self._running and not self._queue

    async def predict(self, model: RegisteredModel, request: PredictRequest) -> Prediction:
        """The answer to ``request``; raises the error that is its answer.

        Raises:
            MlpilotError: the request is invalid, or the model failed on it.
        """
        loop = asyncio.get_running_loop()
        rows = len(next(iter(request.columns.values()), ()))
        waiting = _Waiting(request, rows, loop.create_future())
        self._queue.append(waiting)
        if not self._running:
            self._running = True
            loop.create_task(self._drain(model))
        return await waiting.future

    def _take(self) -> list[_Waiting]:
        """The next batch: queued requests, in order, within ``max_rows``."""
        batch = [self._queue.popleft()]
        rows = batch[0].rows
        while self._queue and rows + self._queue[0].rows <= self._max_rows:
            item = self._queue.popleft()
            if item.future.done():  # its client gave up (timeout) before it ran
                continue
            batch.append(item)
            rows += item.rows
        return batch

    async def _drain(self, model: RegisteredModel) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                if self._max_wait_s > 0 and sum(w.rows for w in self._queue) < self._max_rows:
                    await asyncio.sleep(self._max_wait_s)
                batch = [w for w in self._take() if not w.future.done()]
                if not batch:
                    continue
                requests = [w.request for w in batch]
                try:
                    answers = await loop.run_in_executor(
                        self._executor, lambda r=requests: predict_batch(  # type: ignore[misc]
                            model, r, max_rows=self._max_request_rows))
                except BaseException as exc:  # noqa: BLE001 - every waiter gets an answer
                    for w in batch:
                        if not w.future.done():
                            w.future.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                if self._observe is not None:
                    self._observe(sum(w.rows for w in batch), len(batch))
                for w, answer in zip(batch, answers, strict=True):
                    if w.future.done():
                        continue
                    if isinstance(answer, MlpilotError):
                        w.future.set_exception(answer)
                    else:
                        w.future.set_result(answer)
        finally:
            self._running = False
            if self._queue:  # cancelled mid-drain: leave nobody waiting forever
                for w in self._queue:
                    if not w.future.done():
                        w.future.cancel()
                self._queue.clear()
