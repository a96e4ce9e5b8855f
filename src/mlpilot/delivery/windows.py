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
  *labelled* and *correct* when its first prediction equals the label. When no
  request of the version is labelled, ``correct``/``labelled`` stay ``None`` so
  the accuracy check is skipped rather than waiting forever.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mlpilot.delivery.analysis import WindowStats

FEEDBACK_ROUTE = "feedback"  # mirrors mlpilot.serve.gateway.feedback (no gateway import here)


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


def _same(prediction: Any, label: Any) -> bool:
    return prediction == label or str(prediction) == str(label)


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
    if Path(log_dir).is_dir():
        from mlpilot.serve.inference_log import read_records

        for r in read_records(log_dir, since=since, until=until, model=model):
            if r.deployment != deployment or r.route == FEEDBACK_ROUTE or r.version not in accs:
                continue
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
                acc.labelled += 1
                acc.correct += _same(rows[0], _label(feedback[r.request_id]))
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
