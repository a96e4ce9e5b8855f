"""Simulated clients of the demo gateway: scoring requests now, ground truth later.

Most requests score one applicant (``{"record": …}``) with the applicant id as
``X-Routing-Key``, so an applicant sticks to one version during a canary; every
``batch_every``-th request is a back-office batch in the records form. The
outcome (did the applicant default?) is posted to ``/v1/feedback`` after the
round, for most single-applicant requests (some labels never arrive). Batches get
no label unless the client is told to send one label per row (``label_batches``):
the canary windows count one label per request, the monitor uses every row's.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import pandas as pd
from rich.progress import Progress, TaskID

from mlpilot.demo.credit import FEATURES, TARGET

FEEDBACK_CHUNK = 250


@dataclass
class Sent:
    """One answered request."""

    request_id: str
    version: int
    rows: int
    status: int
    label: int | None  # the single applicant's outcome; None for a batch
    prediction: Any = None
    labels: list[int] | None = None  # a batch's outcomes, one per row


@dataclass
class RoundResult:
    """What one round of traffic did."""

    sent: list[Sent] = field(default_factory=list)
    feedback_accepted: int = 0

    @property
    def requests(self) -> int:
        return len(self.sent)

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.sent)

    @property
    def by_version(self) -> Counter[int]:
        return Counter(s.version for s in self.sent)

    def accuracy(self, version: int) -> float | None:
        """Client-side accuracy of ``version`` on the single-applicant requests."""
        hits = [s.prediction == s.label for s in self.sent
                if s.version == version and s.label is not None and s.status == 200]
        return sum(hits) / len(hits) if hits else None


class TrafficClient:
    """Sends seeded rounds of scoring requests and their late feedback to one endpoint.

    Args:
        base_url: the gateway, e.g. ``http://127.0.0.1:8123``.
        endpoint: the served name (``/v1/models/<endpoint>/predict``).
        data: applicants with the features and the label (a held-out split).
        seed: seed of the request plan (which rows, batch sizes, lost labels).
        concurrency: requests in flight at once.
        batch_every: every n-th request is a records batch.
        feedback_share: the share of labels that ever arrive.
        label_batches: also post a batch's outcomes, one label per row.
    """

    def __init__(self, base_url: str, endpoint: str, data: pd.DataFrame, *, seed: int,
                 concurrency: int = 4, batch_every: int = 10,
                 feedback_share: float = 0.9, label_batches: bool = False) -> None:
        self.endpoint = endpoint
        self.http = httpx.Client(base_url=base_url, timeout=30.0)
        self._records: list[dict[str, Any]] = data[FEATURES].to_dict("records")
        self._labels = data[TARGET].to_numpy()
        self._ids = [f"applicant-{i}" for i in data.index]
        self._rng = np.random.default_rng(seed)
        self._concurrency = concurrency
        self._batch_every = batch_every
        self._feedback_share = feedback_share
        self._label_batches = label_batches
        self._rounds = 0
        self.totals: Counter[str] = Counter()

    def close(self) -> None:
        self.http.close()

    def _plan(self, n: int) -> list[tuple[str, list[int]]]:
        """``n`` requests as (routing key, row indices), drawn from the seeded RNG."""
        self._rounds += 1
        plan = []
        for i in range(n):
            if i % self._batch_every == self._batch_every - 1:
                size = int(self._rng.integers(8, 33))
                rows = self._rng.choice(len(self._records), size=size, replace=False)
                plan.append((f"batch-{self._rounds}-{i}", [int(r) for r in rows]))
            else:
                row = int(self._rng.integers(len(self._records)))
                plan.append((self._ids[row], [row]))
        return plan

    def _post(self, key: str, rows: list[int]) -> Sent:
        if len(rows) == 1:
            body: dict[str, Any] = {"record": self._records[rows[0]]}
        else:
            body = {"records": [self._records[r] for r in rows]}
        answer = self.http.post(f"/v1/models/{self.endpoint}/predict", json=body,
                                headers={"X-Routing-Key": key})
        if answer.status_code != 200:
            return Sent(answer.headers.get("x-request-id", ""), -1, len(rows),
                        answer.status_code, None)
        data = answer.json()
        single = len(rows) == 1
        return Sent(data["request_id"], int(data["version"]), len(rows), 200,
                    int(self._labels[rows[0]]) if single else None,
                    data["predictions"][0] if single else None,
                    None if single else [int(self._labels[r]) for r in rows])

    def predict(self, n: int, progress: Progress | None = None,
                task: TaskID | None = None) -> RoundResult:
        """Send ``n`` scoring requests (``concurrency`` at a time); no feedback yet."""
        result = RoundResult()
        with ThreadPoolExecutor(self._concurrency, thread_name_prefix="demo-client") as pool:
            futures = [pool.submit(self._post, key, rows) for key, rows in self._plan(n)]
            for _ in as_completed(futures):
                if progress is not None and task is not None:
                    progress.advance(task)
        # in plan order, so which labels get lost does not depend on thread timing
        result.sent = [f.result() for f in futures]
        self.totals["requests"] += result.requests
        self.totals["rows"] += result.rows
        return result

    def feedback(self, result: RoundResult) -> int:
        """Post the outcomes of ``result``'s labelled requests; returns how many were accepted."""
        items: list[dict[str, Any]] = []
        for s in result.sent:
            if s.label is not None:
                item: dict[str, Any] = {"request_id": s.request_id, "label": s.label}
            elif self._label_batches and s.labels:
                item = {"request_id": s.request_id, "labels": s.labels}
            else:
                continue
            if self._rng.random() < self._feedback_share:
                items.append(item)
        accepted = 0
        for start in range(0, len(items), FEEDBACK_CHUNK):
            answer = self.http.post("/v1/feedback",
                                    json={"items": items[start:start + FEEDBACK_CHUNK]})
            answer.raise_for_status()
            accepted += int(answer.json()["accepted"])
        result.feedback_accepted += accepted
        self.totals["feedback"] += accepted
        return accepted
