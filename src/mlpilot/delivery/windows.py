"""Analysis windows from the inference log: what each version of a deployment did.

:func:`window_stats` (one version) and :func:`collect_windows` (several, one read
of the log) turn the gateway's :class:`~mlpilot.serve.inference_log.InferenceRecord`
stream into the :class:`~mlpilot.delivery.analysis.WindowStats` a canary analysis
compares. Rules:

* a request counts once, whatever its batch size;
* **errors are server errors only (status >= 500)**: a 4xx is the client's fault
  (bad input, unknown deployment) and says nothing about the version, so it
  counts as a request but not as an error;
* latencies and predictions come from successful requests (status < 400) only:
  a rejected request's latency measures validation, not the model;
* predictions are the first output per row: ``outputs["predict"]`` as the
  gateway logs it (else the first output present); a row that is itself a list
  (multi-output) contributes its first value;
* with ``feedback`` (request id -> label), a successful request with a label is
  *labelled* and *correct* when its first prediction equals the label; a list of
  labels (one per row of a batch request, nulls for unknown rows) labels each row. When no
  request of the version is labelled, ``correct``/``labelled`` stay ``None`` so
  the accuracy check is skipped rather than waiting forever.

:func:`new_feedback` and :func:`collect_rewards` serve engines that consume
rewards incrementally (the bandit): a label counts in the feedback window where
it *first* arrived, so a label sent again later is never consumed twice, and
each labelled request becomes one :class:`Reward` (correctness of its first
prediction, or the label itself when it is a numeric reward in [0, 1]).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpilot.core.clock import as_utc
from mlpilot.delivery.analysis import WindowStats

if TYPE_CHECKING:
    from mlpilot.serve.inference_log import InferenceRecord

FEEDBACK_ROUTE = "feedback"  # mirrors mlpilot.serve.gateway.feedback (no gateway import here)
#: how a labelled request becomes a reward: the prediction matches the label, or the
#: label is itself a numeric reward in [0, 1] (a conversion, a business value)
REWARD_MODES = ("correct", "label")


@dataclass
class _Acc:
    requests: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    predictions: list[Any] = field(default_factory=list)
    correct: int = 0
    labelled: int = 0

    def stats(self) -> WindowStats:
        labelled = self.labelled or None
        return WindowStats(requests=self.requests, errors=self.errors,
                           latencies_ms=tuple(self.latencies),
                           predictions=tuple(self.predictions),
                           correct=self.correct if labelled else None, labelled=labelled)


def _rows(outputs: Mapping[str, Any]) -> list[Any]:
    """The first output value of every row of one logged answer."""
    if not outputs:
        return []
    value = outputs["predict"] if "predict" in outputs else next(iter(outputs.values()))
    rows = value if isinstance(value, list | tuple) else [value]
    return [r[0] if isinstance(r, list | tuple) and r else r for r in rows]


def _label(value: Any) -> Any:
    return getattr(value, "label", value)  # a Feedback object or a bare label


def _labelled_rows(rows: list[Any], label: Any) -> list[tuple[Any, Any]]:
    """(prediction, label) pairs: a list label labels each row (nulls skipped), a
    single label the request's first row."""
    if isinstance(label, list):
        return [(p, lab) for p, lab in zip(rows, label, strict=False) if lab is not None]
    return [(rows[0], label)]


def _same(prediction: Any, label: Any) -> bool:
    return prediction == label or str(prediction) == str(label)


def _served(log_dir: str | os.PathLike[str], deployment: str, versions: Iterable[int],
            since: datetime | None, until: datetime | None,
            model: str | None) -> Iterator[InferenceRecord]:
    """The records ``versions`` of ``deployment`` answered in ``[since, until)``."""
    if not Path(log_dir).is_dir():
        return
    from mlpilot.serve.inference_log import read_records

    wanted = {int(v) for v in versions}
    for r in read_records(log_dir, since=since, until=until, model=model):
        if r.deployment == deployment and r.route != FEEDBACK_ROUTE and r.version in wanted:
            yield r


def collect_windows(log_dir: str | os.PathLike[str], deployment: str, versions: Iterable[int],
                    since: datetime, until: datetime | None = None,
                    feedback: Mapping[str, Any] | None = None,
                    model: str | None = None) -> dict[int, WindowStats]:
    """Window statistics of several versions of one deployment, reading the log once.

    Args:
        log_dir: the inference-log directory (a missing directory reads as empty).
        deployment: the deployment (endpoint) name the records must carry.
        versions: the versions wanted; each gets a (possibly empty) window.
        since: window start, inclusive.
        until: window end, exclusive (default: everything logged so far).
        feedback: request id -> label (or :class:`~mlpilot.serve.gateway.feedback.Feedback`).
        model: the model name, to prune Parquet partitions (optional).

    Returns:
        ``{version: WindowStats}`` for every requested version.
    """
    accs = {int(v): _Acc() for v in versions}
    for r in _served(log_dir, deployment, accs, since, until, model):
        acc = accs[r.version]  # type: ignore[index]
        acc.requests += 1
        if r.status >= 500:
            acc.errors += 1
        if r.status >= 400:
            continue
        acc.latencies.append(float(r.latency_ms))
        rows = _rows(r.outputs)
        acc.predictions.extend(rows)
        if feedback is not None and rows and r.request_id in feedback:
            pairs = _labelled_rows(rows, _label(feedback[r.request_id]))
            acc.labelled += len(pairs)
            acc.correct += sum(_same(p, label) for p, label in pairs)
    return {v: a.stats() for v, a in accs.items()}


def window_stats(log_dir: str | os.PathLike[str], deployment: str, version: int,
                 since: datetime, until: datetime | None = None,
                 feedback: Mapping[str, Any] | None = None,
                 model: str | None = None) -> WindowStats:
    """What ``version`` of ``deployment`` did in ``[since, until)``; see the module rules."""
    return collect_windows(log_dir, deployment, [version], since, until, feedback,
                           model)[int(version)]


def summarize(stats: WindowStats) -> dict[str, Any]:
    """A small strict-JSON summary of a window (for decision evidence and the CLI)."""
    lat = sorted(stats.latencies_ms)
    return {
        "requests": stats.requests, "errors": stats.errors,
        "error_rate": stats.errors / stats.requests if stats.requests else None,
        "latency_samples": len(lat),
        "latency_median_ms": lat[len(lat) // 2] if lat else None,
        "predictions": len(stats.predictions),
        "labelled": stats.labelled, "correct": stats.correct,
    }


@dataclass(frozen=True)
class Reward:
    """One labelled request of a version, as a bandit reward.

    Attributes:
        time: when the request was answered.
        version: the version that answered it.
        request_id: the request.
        reward: in [0, 1], or ``None`` when the label is no valid reward (mode
            ``"label"`` with a label that is not a number in [0, 1]).
    """

    time: datetime
    version: int
    request_id: str
    reward: float | None


def _reward(prediction: Any, label: Any, mode: str, rows: list[Any] | None = None
            ) -> float | None:
    if isinstance(label, list):  # per-row labels: the mean reward over labelled rows
        values = [_reward(p, lab, mode) for p, lab in _labelled_rows(rows or [], label)]
        valid = [v for v in values if v is not None]
        return sum(valid) / len(valid) if valid else None
    if mode == "correct":
        return float(_same(prediction, label))
    if isinstance(label, bool):
        return float(label)
    try:
        value = float(label)
    except (TypeError, ValueError):
        return None
    return value if 0.0 <= value <= 1.0 else None


def new_feedback(log_dir: str | os.PathLike[str], since: datetime, until: datetime,
                 read_since: datetime | None = None) -> dict[str, Any]:
    """Labels whose *first* arrival falls in ``[since, until)``, latest label before ``until``.

    A label re-sent later (after ``until``) does not make its request new again,
    so engines that advance ``since`` tick by tick consume each request once.

    Args:
        log_dir: the inference-log directory; feedback is read from its
            ``feedback`` sub-directory (missing: no feedback).
        since: window start (first arrival, inclusive).
        until: window end (exclusive).
        read_since: read the feedback stream from here on only (default: all of
            it); bounds the work, at the price that a label first sent before
            ``read_since`` and re-sent inside the window reads as new.

    Returns:
        request id -> :class:`~mlpilot.serve.gateway.feedback.Feedback`.
    """
    directory = Path(log_dir) / FEEDBACK_ROUTE
    if not directory.is_dir():
        return {}
    from mlpilot.serve.gateway.feedback import from_record
    from mlpilot.serve.inference_log import read_records

    first: dict[str, datetime] = {}
    latest: dict[str, Any] = {}
    records = sorted((r for r in read_records(directory, since=read_since, until=until)
                      if r.route == FEEDBACK_ROUTE), key=lambda r: r.time_us)
    for r in records:
        first.setdefault(r.request_id, r.time)
        latest[r.request_id] = from_record(r)
    since = as_utc(since)
    return {rid: latest[rid] for rid, t in first.items() if t >= since}


def collect_rewards(log_dir: str | os.PathLike[str], deployment: str, versions: Iterable[int],
                    since: datetime, until: datetime | None, feedback: Mapping[str, Any],
                    *, mode: str = "correct", model: str | None = None) -> list[Reward]:
    """One reward per labelled successful request of ``versions``, in time order.

    Args:
        log_dir: the inference-log directory.
        deployment: the deployment the records must carry.
        versions: the versions (arms) wanted.
        since: start of the requests' window, inclusive.
        until: end of it, exclusive.
        feedback: request id -> label (or ``Feedback``), e.g. from :func:`new_feedback`.
        mode: ``"correct"`` (1 when the first prediction equals the label) or
            ``"label"`` (the label is the reward; see :class:`Reward`).
        model: the model name, to prune Parquet partitions (optional).

    Returns:
        The rewards, oldest request first (requests without a label are left out).

    Raises:
        InvalidArgument: unknown ``mode``.
    """
    if mode not in REWARD_MODES:
        from mlpilot.core.errors import InvalidArgument

        raise InvalidArgument(f"No reward mode named {mode!r}. Available: {list(REWARD_MODES)}.")
    if not feedback:
        return []
    rewards = []
    for r in _served(log_dir, deployment, versions, since, until, model):
        if r.status >= 400 or r.request_id not in feedback:
            continue
        rows = _rows(r.outputs)
        if rows or mode == "label":
            rewards.append(Reward(r.time, int(r.version),  # type: ignore[arg-type]
                                  r.request_id,
                                  _reward(rows[0] if rows else None,
                                          _label(feedback[r.request_id]), mode, rows)))
    rewards.sort(key=lambda w: w.time)
    return rewards
