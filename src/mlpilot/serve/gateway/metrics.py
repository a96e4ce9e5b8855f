"""Prometheus metrics of one gateway app, on its own registry (never the global one)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mlpilot.serve.inference_log import prometheus_samples

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class LogCollector(Collector):
    """Exports an InferenceLog's ``stats()`` (queue depth, drops by reason, ...) at scrape time."""

    def __init__(self, stats: Callable[[], dict[str, Any]]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for name, kind, labels, value in prometheus_samples(self._stats()):
            family = families.get(name)
            if family is None:
                cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
                family = cls(name, f"Inference log {name[len('mlpilot_log_'):]}.",
                             labels=sorted(labels))
                families[name] = family
            family.add_metric([labels[k] for k in sorted(labels)], value)
        yield from families.values()


class GatewayMetrics:
    """The gateway's counters and histograms.

    Args:
        log_stats: the inference log's ``stats`` method, or None without a log.
    """

    def __init__(self, log_stats: Callable[[], dict[str, Any]] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "mlpilot_requests", "Prediction requests answered.",
            ["name", "version", "route", "status"], registry=self.registry)
        self.errors = Counter(
            "mlpilot_request_errors", "Prediction requests that failed, by reason.",
            ["name", "reason"], registry=self.registry)
        self.latency = Histogram(
            "mlpilot_request_latency_seconds", "Time to answer a prediction request.",
            ["name", "version"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.rows = Counter(
            "mlpilot_predict_rows", "Rows predicted.", ["name", "version"],
            registry=self.registry)
        self.batch_rows = Histogram(
            "mlpilot_predict_batch_rows", "Rows per vectorised model call (micro-batching).",
            ["name", "version"], buckets=BATCH_BUCKETS, registry=self.registry)
        self.shadow_requests = Counter(
            "mlpilot_shadow_requests", "Shadow copies of requests, by outcome "
            "(answered, failed, dropped).", ["name", "version", "outcome"],
            registry=self.registry)
        self.shadow_rows = Counter(
            "mlpilot_shadow_rows", "Rows a shadow predicted, by agreement with the served "
            "answer.", ["name", "version", "agreement"], registry=self.registry)
        self.shadow_latency = Histogram(
            "mlpilot_shadow_latency_seconds", "Time a shadow copy took.",
            ["name", "version"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.feedback = Counter(
            "mlpilot_feedback_items", "Feedback items received, by outcome.",
            ["status"], registry=self.registry)
        if log_stats is not None:
            self.registry.register(LogCollector(log_stats))

    def observe(self, *, name: str, version: int | None, route: str, status: int,
                seconds: float, rows: int, reason: str | None) -> None:
        """Count one answered request."""
        v = "" if version is None else str(version)
        self.requests.labels(name, v, route, str(status)).inc()
        self.latency.labels(name, v).observe(seconds)
        if rows:
            self.rows.labels(name, v).inc(rows)
        if reason is not None:
            self.errors.labels(name, reason).inc()
