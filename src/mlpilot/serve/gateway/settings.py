"""The gateway's tunables, fixed when the app is built."""

from __future__ import annotations

from dataclasses import dataclass

from mlpilot.core.errors import InvalidArgument

MIB = 1 << 20


@dataclass(frozen=True)
class GatewaySettings:
    """Limits and timings of one gateway app.

    Attributes:
        max_body_bytes: largest request body; larger ones get 413 without being read.
        max_json_depth: deepest JSON nesting accepted (checked before parsing).
        max_batch_rows: most rows one predict request may carry (413 beyond).
        max_feedback_items: most feedback items one request may carry.
        reconcile_interval_s: how often the routing table is re-read from the store;
            an alias move or deployment change is served within about this delay
            (plus the time to load a new version).
        request_timeout_s: longest a prediction may take before the client gets 504.
        predict_threads: worker threads running validation and predictions.
        batch_max_rows: most rows that concurrent requests to one model version are
            coalesced into for one vectorised call (1 turns micro-batching off).
        batch_wait_ms: how long a batch waits for more requests before it runs;
            0 runs it as soon as the model is free (requests that arrive meanwhile
            form the next batch, so light traffic pays no added latency).
        max_shadow_pending: most shadow copies in flight; beyond it copies are dropped
            (and counted) so a slow shadow never builds up unbounded work.
        blas_threads: BLAS/OpenMP threads per process, set once at startup
            (``None`` leaves them alone). One thread avoids oversubscription, which
            makes single-row scikit-learn predictions slower.
        seed: seed of the weighted-routing RNG (``None``: fresh per process).
        redact: feature names whose values the inference log replaces with
            ``"[REDACTED]"`` before anything is written (PII).
    """

    max_body_bytes: int = 4 * MIB
    max_json_depth: int = 32
    max_batch_rows: int = 10_000
    max_feedback_items: int = 1_000
    reconcile_interval_s: float = 2.0
    request_timeout_s: float = 10.0
    predict_threads: int = 4
    batch_max_rows: int = 256
    batch_wait_ms: float = 0.0
    max_shadow_pending: int = 256
    blas_threads: int | None = 1
    seed: int | None = None
    redact: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.redact, str) or not all(
                isinstance(c, str) and c for c in self.redact):
            raise InvalidArgument("GatewaySettings.redact must be a list of column names. "
                                  f"Got {self.redact!r}.", field="redact")
        object.__setattr__(self, "redact", tuple(self.redact))
        for name in ("max_body_bytes", "max_json_depth", "max_batch_rows", "max_feedback_items",
                     "predict_threads", "batch_max_rows", "max_shadow_pending"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidArgument(
                    f"GatewaySettings.{name} must be an integer >= 1. Got {value!r}.",
                    field=name)
        for name in ("reconcile_interval_s", "request_timeout_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise InvalidArgument(
                    f"GatewaySettings.{name} must be a positive number of seconds. "
                    f"Got {value!r}.", field=name)
        wait = self.batch_wait_ms
        if not isinstance(wait, int | float) or isinstance(wait, bool) or not 0 <= wait <= 1000:
            raise InvalidArgument(
                f"GatewaySettings.batch_wait_ms must be a number of milliseconds in "
                f"[0, 1000]. Got {wait!r}.", field="batch_wait_ms")
        if self.blas_threads is not None and (
                not isinstance(self.blas_threads, int) or self.blas_threads < 1):
            raise InvalidArgument(
                f"GatewaySettings.blas_threads must be None or an integer >= 1. "
                f"Got {self.blas_threads!r}.", field="blas_threads")
