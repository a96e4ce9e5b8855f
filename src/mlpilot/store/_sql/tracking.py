"""Runs: params, metric series, tags, artifacts, and run search."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from mlpilot.core.clock import utcnow
from mlpilot.core.entities import MetricValue, Run, RunArtifact, RunStatus
from mlpilot.core.errors import Conflict, InvalidArgument, NotFound
from mlpilot.core.names import validate_key, validate_name
from mlpilot.store._sql import convert
from mlpilot.store._sql.core import StoreCore
from mlpilot.store._sql.run_search import build_search
from mlpilot.store._sql.tables import (
    LatestMetricRow,
    MetricRow,
    ParamRow,
    RunArtifactRow,
    RunRow,
    TagRow,
)
from mlpilot.store._sql.util import upsert

MetricPoint = tuple[str, float, int, int]
"""(key, value, step, timestamp in epoch milliseconds)"""

MAX_PARAM_VALUE = 6000
MAX_TIMESTAMP_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


class TrackingMixin(StoreCore):
    """Run tracking. Writes are batched by the SDK; ``log_batch`` is one transaction."""

    def create_run(
        self,
        name: str | None = None,
        *,
        model: str | None = None,
        parent_run_id: str | None = None,
        tags: dict[str, str] | None = None,
        code_version: dict[str, Any] | None = None,
        environment: dict[str, Any] | None = None,
    ) -> Run:
        """Start a run in status ``running``.

        Raises:
            InvalidArgument: if the model name or a tag key is malformed.
            NotFound: if ``parent_run_id`` does not exist.
        """
        run_id = uuid.uuid4().hex
        if model is not None:
            validate_name(model, "model name")
        name = name or f"run-{run_id[:8]}"
        if not isinstance(name, str) or not 0 < len(name) <= 256:
            raise InvalidArgument(f"A run name must be 1-256 characters. Got {name!r}.")
        with self._write() as s:
            if parent_run_id is not None and s.get(RunRow, parent_run_id) is None:
                raise NotFound(f"No parent run with id {parent_run_id!r}.")
            s.add(RunRow(
                id=run_id, name=name, model_name=model, status=RunStatus.RUNNING.value,
                start_time=utcnow(), code_version=code_version or {},
                environment=environment or {}, parent_run_id=parent_run_id,
                created_by=self.actor,
            ))
            s.flush()
            self._upsert_tags(s, run_id, tags or {})
            self._emit(s, "run.create", "run", run_id, payload={"name": name, "model": model})
            return self._runs_to_entities(s, [s.get(RunRow, run_id)])[0]  # type: ignore[list-item]

    def get_run(self, run_id: str) -> Run:
        """Return a run with its params, tags, latest metrics and artifacts.

        Raises:
            NotFound: if no run has that id.
        """
        with self._read() as s:
            row = self._run_row(s, run_id)
            return self._runs_to_entities(s, [row])[0]

    def log_batch(
        self,
        run_id: str,
        *,
        params: dict[str, Any] | None = None,
        metrics: Sequence[MetricPoint] = (),
        tags: dict[str, str] | None = None,
        artifacts: Sequence[tuple[str, str, int]] = (),
    ) -> None:
        """Write params, metric points, tags and artifact records in one transaction.

        ``artifacts`` are ``(name, digest, size)`` of blobs already in the artifact store.

        Params are immutable: logging a key again with another value is refused.
        Metric values must be finite numbers.

        Raises:
            InvalidArgument: on bad keys, non-finite values or oversized params.
            Conflict: if a param is re-logged with a different value, or the run ended.
            NotFound: if the run does not exist.
        """
        clean_params = _clean_params(params or {})
        clean_metrics = _clean_metrics(metrics)
        with self._write() as s:
            row = self._run_row(s, run_id)
            if row.status != RunStatus.RUNNING.value and (clean_params or clean_metrics):
                raise Conflict(f"Run {run_id} has ended ({row.status}); it takes no more data.")
            if clean_params:
                existing = dict(s.execute(
                    select(ParamRow.key, ParamRow.value).where(
                        ParamRow.run_id == run_id, ParamRow.key.in_(clean_params)
                    )
                ).all())
                changed = {k: (existing[k], v) for k, v in clean_params.items()
                           if k in existing and existing[k] != v}
                if changed:
                    k, (old, new) = next(iter(changed.items()))
                    raise Conflict(
                        f"Param {k!r} of run {run_id} is already {old!r}; params are immutable "
                        f"(got {new!r}). Log it under another key or start a new run."
                    )
                new_rows = [{"run_id": run_id, "key": k, "value": v}
                            for k, v in clean_params.items() if k not in existing]
                if new_rows:
                    s.execute(insert(ParamRow), new_rows)
            if clean_metrics:
                s.execute(insert(MetricRow), [
                    {"run_id": run_id, "key": k, "value": v, "step": st, "timestamp_ms": ts}
                    for k, v, st, ts in clean_metrics
                ])
                self._update_latest(s, run_id, clean_metrics)
            self._upsert_tags(s, run_id, tags or {})
            upsert(s, RunArtifactRow.__table__,
                   [{"run_id": run_id, "name": n, "digest": d, "size": z} for n, d, z in artifacts],
                   ["run_id", "name"])
            self._emit(s, "run.log", "run", run_id, payload={
                "params": len(clean_params), "metrics": len(clean_metrics),
                "tags": len(tags or {}), "artifacts": [a[0] for a in artifacts],
            })

    def end_run(self, run_id: str, status: RunStatus | str = RunStatus.FINISHED) -> Run:
        """Close a run with a terminal status.

        Raises:
            InvalidArgument: if ``status`` is not finished, failed or killed.
        """
        try:
            final = RunStatus(status)
        except ValueError:
            final = None
        if final in (None, RunStatus.RUNNING):
            raise InvalidArgument(
                f"A run ends as 'finished', 'failed' or 'killed'. Got {status!r}."
            )
        with self._write() as s:
            row = self._run_row(s, run_id)
            row.status = final.value  # type: ignore[union-attr]
            row.end_time = utcnow()
            self._emit(s, "run.end", "run", run_id, payload={"status": row.status})
            s.flush()
            return self._runs_to_entities(s, [row])[0]

    def add_run_artifact(self, run_id: str, name: str, digest: str, size: int) -> None:
        """Record that ``name`` in the run's artifacts is the blob ``digest``."""
        with self._write() as s:
            self._run_row(s, run_id)
            upsert(s, RunArtifactRow.__table__,
                   [{"run_id": run_id, "name": name, "digest": digest, "size": size}],
                   ["run_id", "name"])
            self._emit(s, "run.artifact", "run", run_id, payload={"name": name, "digest": digest})

    def metric_history(self, run_id: str, key: str) -> list[MetricValue]:
        """Every point of one metric series, by step then time."""
        with self._read() as s:
            self._run_row(s, run_id)
            rows = s.scalars(
                select(MetricRow)
                .where(MetricRow.run_id == run_id, MetricRow.key == key)
                .order_by(MetricRow.step, MetricRow.timestamp_ms, MetricRow.id)
            ).all()
            return [convert.metric(r) for r in rows]

    def search_runs(
        self,
        filter: str | None = None,
        *,
        model: str | None = None,
        order_by: Sequence[str] = (),
        max_results: int = 1000,
    ) -> list[Run]:
        """Find runs with an MLflow-style filter.

        Example: ``"metrics.auc > 0.8 and params.max_depth = '6' and status = 'finished'"``.
        ``order_by`` items look like ``"metrics.auc DESC"`` or ``"start_time"``.

        Raises:
            InvalidArgument: if the filter or an order key does not parse.
        """
        if not isinstance(max_results, int) or not 1 <= max_results <= 100_000:
            raise InvalidArgument(f"max_results must be in [1, 100000]. Got {max_results!r}.")
        stmt = build_search(filter, model=model, order_by=order_by).limit(max_results)
        with self._read() as s:
            rows = s.scalars(stmt).all()
            return self._runs_to_entities(s, list(rows))

    # -- helpers --------------------------------------------------------------------
    def _run_row(self, s: Session, run_id: str) -> RunRow:
        row = s.get(RunRow, run_id) if isinstance(run_id, str) else None
        if row is None:
            raise NotFound(f"No run with id {run_id!r}.")
        return row

    def _upsert_tags(self, s: Session, run_id: str, tags: dict[str, str]) -> None:
        rows = [{"run_id": run_id, "key": validate_key(k, "tag key"), "value": str(v)}
                for k, v in tags.items()]
        upsert(s, TagRow.__table__, rows, ["run_id", "key"])

    def _update_latest(self, s: Session, run_id: str, points: Iterable[MetricPoint]) -> None:
        newest: dict[str, MetricPoint] = {}
        for p in points:
            cur = newest.get(p[0])
            if cur is None or (p[2], p[3]) >= (cur[2], cur[3]):
                newest[p[0]] = p
        stored = {r.key: r for r in s.scalars(select(LatestMetricRow).where(
            LatestMetricRow.run_id == run_id, LatestMetricRow.key.in_(newest)))}
        rows = []
        for key, (_, value, step, ts) in newest.items():
            old = stored.get(key)
            if old is None or (step, ts) >= (old.step, old.timestamp_ms):
                rows.append({"run_id": run_id, "key": key, "value": value, "step": step,
                             "timestamp_ms": ts})
        upsert(s, LatestMetricRow.__table__, rows, ["run_id", "key"])

    def _runs_to_entities(self, s: Session, rows: list[RunRow]) -> list[Run]:
        ids = [r.id for r in rows]
        if not ids:
            return []
        params: dict[str, dict[str, str]] = {i: {} for i in ids}
        tags: dict[str, dict[str, str]] = {i: {} for i in ids}
        metrics: dict[str, dict[str, float]] = {i: {} for i in ids}
        artifacts: dict[str, list[RunArtifact]] = {i: [] for i in ids}
        for chunk in _chunks(ids, 500):
            for p in s.scalars(select(ParamRow).where(ParamRow.run_id.in_(chunk))):
                params[p.run_id][p.key] = p.value
            for t in s.scalars(select(TagRow).where(TagRow.run_id.in_(chunk))):
                tags[t.run_id][t.key] = t.value
            for m in s.scalars(select(LatestMetricRow).where(LatestMetricRow.run_id.in_(chunk))):
                metrics[m.run_id][m.key] = m.value
            for a in s.scalars(select(RunArtifactRow).where(RunArtifactRow.run_id.in_(chunk))):
                artifacts[a.run_id].append(RunArtifact(name=a.name, digest=a.digest, size=a.size))
        return [
            convert.run(r, dict(sorted(params[r.id].items())), dict(sorted(tags[r.id].items())),
                        dict(sorted(metrics[r.id].items())), artifacts[r.id])
            for r in rows
        ]


def _clean_params(params: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in params.items():
        validate_key(key, "param key")
        text = value if isinstance(value, str) else repr(value) if isinstance(value, float) \
            else str(value)
        if len(text) > MAX_PARAM_VALUE:
            raise InvalidArgument(
                f"Param {key!r} is {len(text)} characters; the limit is {MAX_PARAM_VALUE}. "
                "Log large values as an artifact instead."
            )
        out[key] = text
    return out


def _clean_metrics(points: Sequence[MetricPoint]) -> list[MetricPoint]:
    out = []
    for key, value, step, ts in points:
        validate_key(key, "metric key")
        if isinstance(value, bool) or not isinstance(value, int | float):
            try:
                value = float(value)  # numpy scalars
            except (TypeError, ValueError):
                raise InvalidArgument(
                    f"Metric {key!r} must be a number. Got {type(value).__name__}."
                ) from None
        if not math.isfinite(value):
            raise InvalidArgument(f"Metric {key!r} must be finite. Got {value!r}.")
        if not 0 <= int(ts) <= MAX_TIMESTAMP_MS:
            raise InvalidArgument(
                f"The timestamp of metric {key!r} must be epoch milliseconds between 1970 and "
                f"the year 9999. Got {ts!r}."
            )
        out.append((key, float(value), int(step), int(ts)))
    return out


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
