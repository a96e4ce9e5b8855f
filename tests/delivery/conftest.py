"""Fixtures of the delivery-engine tests: two versions in a real store, a settable clock,
and a writer of served requests with their feedback."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from mlpilot.core.clock import utcnow
from mlpilot.sdk._context import Context
from mlpilot.serve.gateway.feedback import Feedback, feedback_dir, to_record
from mlpilot.serve.inference_log import InferenceLog, InferenceRecord

DIGEST = "sha256:" + "0" * 64


class Clock:
    """A settable clock for the controllers."""

    def __init__(self) -> None:
        self.now = utcnow() + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def send_feedback(log_dir: Path, labels: dict[str, object], received: datetime) -> None:
    """Feedback items as the gateway logs them, all received at ``received``."""
    with InferenceLog(feedback_dir(log_dir)) as log:
        for rid, label in labels.items():
            log.submit(to_record(Feedback(rid, label, None, received)))
        log.flush()


def serve(log_dir: Path, version: int, start: datetime, labels: list[object],
          prefix: str, predict: object = 1) -> list[str]:
    """One ``m-live`` request of ``version`` per label (predicting ``predict``) over 10 s
    after ``start``, and its feedback received 20 s after ``start``."""
    ids = [f"{prefix}-v{version}-{i}" for i in range(len(labels))]
    with InferenceLog(log_dir) as log:
        for i, rid in enumerate(ids):
            log.submit(InferenceRecord.create(
                "m-live", "m", version, request_id=rid, route="primary",
                time=start + timedelta(seconds=10 * i / max(len(ids), 1)),
                outputs={"predict": [predict]}))
        log.flush()
    send_feedback(log_dir, dict(zip(ids, labels, strict=True)), start + timedelta(seconds=20))
    return ids


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def two(context: Context) -> Context:
    """Model ``m`` with versions 1 (production) and 2, on every store backend."""
    for _ in range(2):
        context.store.create_version("m", format="sklearn", artifact_digest=DIGEST,
                                     artifact_size=10)
    context.store.set_alias("m", "production", 1)
    return context


@pytest.fixture(name="serve")
def serve_fixture() -> Callable[..., list[str]]:
    return serve


@pytest.fixture(name="send_feedback")
def send_feedback_fixture() -> Callable[..., None]:
    return send_feedback
