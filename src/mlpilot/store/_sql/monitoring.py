"""Monitoring state: metric points, de-duplicated alerts and the monitor's read cursors.

A metric point is keyed by its series (model, deployment, version, name, feature) and
window: :meth:`MonitoringMixin.add_metric_points` keeps the first value stored,
:meth:`MonitoringMixin.upsert_metric_points` replaces it (for values that are revised,
like performance while late labels arrive).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mlpilot.core.clock import as_utc, utcnow
from mlpilot.core.entities import ALERT_SEVERITIES, ALERT_STATUSES, Alert, MetricPoint
from mlpilot.core.errors import Conflict, InvalidArgument, NotFound
from mlpilot.core.jsonsafe import json_safe
from mlpilot.store._sql.core import StoreCore
from mlpilot.store._sql.tables import AlertRow, MetricPointRow, MonitorCursorRow

_SEVERITY_RANK = {s: i for i, s in enumerate(ALERT_SEVERITIES)}
_MAX_POINTS = 100_000
_SERIES_WINDOW = ("model", "deployment", "version", "name", "feature", "window_start",
                  "window_end")
_UPSERT_CHUNK = 500  # rows per INSERT ... ON CONFLICT (SQLite caps bound parameters)


def _point(row: MetricPointRow) -> MetricPoint:
    return MetricPoint(model=row.model, name=row.name, window_start=as_utc(row.window_start),
                       window_end=as_utc(row.window_end), value=row.value,
                       deployment=row.deployment, version=row.version, feature=row.feature,
                       details=dict(row.details), id=row.id)


def _alert(row: AlertRow) -> Alert:
    return Alert(
        id=row.id, key=row.key, model=row.model, deployment=row.deployment, kind=row.kind,
        severity=row.severity, status=row.status, title=row.title, summary=row.summary,
        evidence=dict(row.evidence), occurrences=row.occurrences,
        first_seen=as_utc(row.first_seen), last_seen=as_utc(row.last_seen),
        acknowledged_at=as_utc(row.acknowledged_at) if row.acknowledged_at else None,
        acknowledged_by=row.acknowledged_by,
        resolved_at=as_utc(row.resolved_at) if row.resolved_at else None,
        resolved_by=row.resolved_by, note=row.note, diagnosis=dict(row.diagnosis))


def _finite_or_none(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None


def _rows(points: Sequence[MetricPoint]) -> list[tuple[Any, ...]]:
    """Validated points as (series..., window_start, window_end, value, details) tuples."""
    rows = []
    for p in points:
        if not p.model or not p.name:
            raise InvalidArgument("A metric point needs a model and a name.")
        start, end = as_utc(p.window_start), as_utc(p.window_end)
        if end < start:
            raise InvalidArgument(f"Metric point {p.name!r} has its window reversed "
                                  f"({start.isoformat()} > {end.isoformat()}).")
        rows.append((p.model, p.deployment, int(p.version), p.name, p.feature, start, end,
                     _finite_or_none(p.value), json_safe(dict(p.details))))
    return rows


class MonitoringMixin(StoreCore):
    """Metric points, alerts (open → acknowledged → resolved) and monitor cursors."""

    # -- metric points ---------------------------------------------------------------
    def add_metric_points(self, points: Sequence[MetricPoint]) -> int:
        """Store points; a point whose series and window are already stored is skipped.

        Re-running the monitor on a window therefore adds nothing twice.

        Returns:
            How many points were new.

        Raises:
            InvalidArgument: a point without model or name, or with its window reversed.
        """
        rows = _rows(points)
        if not rows:
            return 0
        now = utcnow()
        added = 0
        with self._write() as s:
            keys = {r[:7] for r in rows}
            existing = self._existing_windows(s, keys)
            for r in rows:
                if r[:7] in existing:
                    continue
                existing.add(r[:7])
                s.add(MetricPointRow(model=r[0], deployment=r[1], version=r[2], name=r[3],
                                     feature=r[4], window_start=r[5], window_end=r[6],
                                     value=r[7], details=r[8], created_at=now))
                added += 1
        return added

    def upsert_metric_points(self, points: Sequence[MetricPoint]) -> int:
        """Store points, replacing the value and details of a series' window already stored.

        One transaction. Concurrent writers are safe on both databases: the insert is an
        ``INSERT ... ON CONFLICT DO UPDATE`` on the series-and-window key, so the last
        writer's value wins and no window is ever stored twice. Within ``points``, the
        last point of a series and window wins.

        Returns:
            How many points were new or changed (a re-run writing the same values: 0).

        Raises:
            InvalidArgument: a point without model or name, or with its window reversed.
        """
        latest = {r[:7]: r for r in _rows(points)}
        if not latest:
            return 0
        now = utcnow()
        with self._write() as s:
            stored = self._stored_values(s, set(latest))
            # in key order, so concurrent writers take row locks in one order
            changed = [latest[key] for key in sorted(latest, key=repr)
                       if key not in stored or stored[key] != latest[key][7:]]
            insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
            for i in range(0, len(changed), _UPSERT_CHUNK):
                stmt = insert(MetricPointRow).values([
                    dict(zip(_SERIES_WINDOW, r[:7], strict=True), value=r[7], details=r[8],
                         created_at=now) for r in changed[i:i + _UPSERT_CHUNK]])
                s.execute(stmt.on_conflict_do_update(
                    index_elements=list(_SERIES_WINDOW),
                    set_={"value": stmt.excluded.value, "details": stmt.excluded.details}))
        return len(changed)

    @staticmethod
    def _stored_values(s: Session, keys: set[tuple[Any, ...]]
                       ) -> dict[tuple[Any, ...], tuple[float | None, dict[str, Any]]]:
        """(value, details) of the stored points among ``keys``, locked until commit."""
        cols = [getattr(MetricPointRow, c) for c in _SERIES_WINDOW]
        models = {k[0] for k in keys}
        starts = [k[5] for k in keys]
        stmt = select(*cols, MetricPointRow.value, MetricPointRow.details).where(
            MetricPointRow.model.in_(models), MetricPointRow.window_start >= min(starts),
            MetricPointRow.window_start <= max(starts),
            tuple_(MetricPointRow.name, MetricPointRow.feature).in_(
                sorted({(k[3], k[4]) for k in keys}))).order_by(MetricPointRow.id).with_for_update()
        out = {}
        for m, d, v, n, f, ws, we, value, details in s.execute(stmt):
            key = (m, d, v, n, f, as_utc(ws), as_utc(we))
            if key in keys:
                out[key] = (value, dict(details))
        return out

    @staticmethod
    def _existing_windows(s: Session, keys: set[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
        models = {k[0] for k in keys}
        starts = [k[5] for k in keys]
        stmt = select(MetricPointRow.model, MetricPointRow.deployment, MetricPointRow.version,
                      MetricPointRow.name, MetricPointRow.feature, MetricPointRow.window_start,
                      MetricPointRow.window_end).where(
            MetricPointRow.model.in_(models), MetricPointRow.window_start >= min(starts),
            MetricPointRow.window_start <= max(starts))
        return {(m, d, v, n, f, as_utc(ws), as_utc(we))
                for m, d, v, n, f, ws, we in s.execute(stmt)}

    def list_metric_points(
        self,
        model: str,
        *,
        name: str | None = None,
        feature: str | None = None,
        deployment: str | None = None,
        version: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 10_000,
    ) -> list[MetricPoint]:
        """Points of ``model`` matching every given filter, oldest window first.

        ``name`` ending in ``.*`` matches a prefix (``drift.*``).
        """
        if not isinstance(limit, int) or not 1 <= limit <= _MAX_POINTS:
            raise InvalidArgument(f"limit must be in [1, {_MAX_POINTS}]. Got {limit!r}.")
        stmt = select(MetricPointRow).where(MetricPointRow.model == model)
        if name is not None:
            stmt = stmt.where(MetricPointRow.name.startswith(name[:-1], autoescape=True)
                              if name.endswith(".*") else MetricPointRow.name == name)
        for column, value in ((MetricPointRow.feature, feature),
                              (MetricPointRow.deployment, deployment),
                              (MetricPointRow.version, version)):
            if value is not None:
                stmt = stmt.where(column == value)
        if since is not None:
            stmt = stmt.where(MetricPointRow.window_start >= as_utc(since))
        if until is not None:
            stmt = stmt.where(MetricPointRow.window_start < as_utc(until))
        stmt = stmt.order_by(MetricPointRow.window_start, MetricPointRow.id).limit(limit)
        with self._read() as s:
            return [_point(r) for r in s.scalars(stmt)]

    # -- alerts ----------------------------------------------------------------------
    def raise_alert(
        self,
        key: str,
        *,
        model: str,
        kind: str,
        severity: str,
        title: str,
        summary: str = "",
        evidence: dict[str, Any] | None = None,
        deployment: str = "",
        time: datetime | None = None,
    ) -> tuple[Alert, bool]:
        """Open an alert for ``key``, or fold this signal into the unresolved one.

        While an alert with ``key`` is open or acknowledged, raising it again counts
        an occurrence, keeps the highest severity, replaces the evidence with the
        latest and moves ``last_seen`` — one alert per incident. Safe under
        concurrent monitors: the partial unique index admits one unresolved alert
        per key, and the loser of a race updates the winner's alert.

        Returns:
            The alert and True when it was newly opened.

        Raises:
            InvalidArgument: empty key/model/title or an unknown severity.
        """
        if not key or not model or not title:
            raise InvalidArgument("An alert needs a key, a model and a title.")
        if severity not in ALERT_SEVERITIES:
            raise InvalidArgument(f"Alert severity must be one of {ALERT_SEVERITIES}. "
                                  f"Got {severity!r}.")
        when = as_utc(time) if time is not None else utcnow()
        clean = json_safe(evidence or {})
        for _ in range(3):
            try:
                with self._write() as s:
                    row = s.scalars(select(AlertRow).where(
                        AlertRow.key == key, AlertRow.status != "resolved")
                        .with_for_update()).first()
                    if row is not None:
                        row.occurrences += 1
                        row.last_seen = max(as_utc(row.last_seen), when)
                        if _SEVERITY_RANK[severity] > _SEVERITY_RANK[row.severity]:
                            row.severity = severity
                            self._emit(s, "alert.escalate", "alert", str(row.id),
                                       reason=title, payload={"severity": severity})
                        row.evidence = clean
                        row.summary = summary or row.summary
                        s.flush()
                        return _alert(row), False
                    row = AlertRow(key=key, model=model, deployment=deployment, kind=kind,
                                   severity=severity, status="open", title=title[:512],
                                   summary=summary, evidence=clean, occurrences=1,
                                   first_seen=when, last_seen=when, note="", diagnosis={})
                    s.add(row)
                    s.flush()
                    self._emit(s, "alert.open", "alert", str(row.id), reason=title,
                               payload={"key": key, "model": model, "kind": kind,
                                        "severity": severity})
                    return _alert(row), True
            except sa_exc.IntegrityError:
                continue  # a concurrent monitor opened it first: fold into theirs
        raise Conflict(f"Could not open or update alert {key!r} under contention; retry.")

    def get_alert(self, alert_id: int) -> Alert:
        """One alert. Raises NotFound."""
        with self._read() as s:
            row = s.get(AlertRow, alert_id)
            if row is None:
                raise NotFound(f"No alert with id {alert_id!r}.")
            return _alert(row)

    def list_alerts(self, *, status: str | None = None, model: str | None = None,
                    active: bool | None = None, limit: int = 100) -> list[Alert]:
        """Alerts matching every given filter, newest first (``active``: not resolved)."""
        if not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise InvalidArgument(f"limit must be in [1, 10000]. Got {limit!r}.")
        if status is not None and status not in ALERT_STATUSES:
            raise InvalidArgument(f"Alert status must be one of {ALERT_STATUSES}. "
                                  f"Got {status!r}.")
        stmt = select(AlertRow).order_by(AlertRow.id.desc()).limit(limit)
        if status is not None:
            stmt = stmt.where(AlertRow.status == status)
        if model is not None:
            stmt = stmt.where(AlertRow.model == model)
        if active is not None:
            stmt = stmt.where((AlertRow.status != "resolved") if active
                              else (AlertRow.status == "resolved"))
        with self._read() as s:
            return [_alert(r) for r in s.scalars(stmt)]

    def _transition(self, alert_id: int, to: str, note: str) -> Alert:
        with self._write() as s:
            row = s.get(AlertRow, alert_id, with_for_update=True)
            if row is None:
                raise NotFound(f"No alert with id {alert_id!r}.")
            if row.status == "resolved":
                raise Conflict(f"Alert {alert_id} is already resolved.", status=row.status)
            now = utcnow()
            if to == "acknowledged":
                if row.status == "acknowledged":
                    raise Conflict(f"Alert {alert_id} is already acknowledged by "
                                   f"{row.acknowledged_by}.", status=row.status)
                row.acknowledged_at, row.acknowledged_by = now, self.actor
            else:
                row.resolved_at, row.resolved_by = now, self.actor
            row.status = to
            row.note = note or row.note
            self._emit(s, f"alert.{'acknowledge' if to == 'acknowledged' else 'resolve'}",
                       "alert", str(alert_id), reason=note)
            s.flush()
            return _alert(row)

    def acknowledge_alert(self, alert_id: int, note: str = "") -> Alert:
        """Someone is on it. Raises NotFound, or Conflict when resolved/acknowledged."""
        return self._transition(alert_id, "acknowledged", note)

    def resolve_alert(self, alert_id: int, note: str = "") -> Alert:
        """Close the incident; the next signal with its key opens a new alert.

        Raises:
            NotFound, Conflict (already resolved).
        """
        return self._transition(alert_id, "resolved", note)

    def set_alert_diagnosis(self, alert_id: int, diagnosis: dict[str, Any]) -> Alert:
        """Link a root-cause analysis (its ranked causes and report paths) to an alert."""
        with self._write() as s:
            row = s.get(AlertRow, alert_id)
            if row is None:
                raise NotFound(f"No alert with id {alert_id!r}.")
            row.diagnosis = json_safe(diagnosis)
            self._emit(s, "alert.diagnose", "alert", str(alert_id))
            s.flush()
            return _alert(row)

    # -- cursors ---------------------------------------------------------------------
    def get_monitor_cursor(self, key: str) -> dict[str, Any] | None:
        """The monitor's saved position for ``key`` (None before the first run)."""
        with self._read() as s:
            row = s.get(MonitorCursorRow, key)
            return None if row is None else dict(row.value)

    def set_monitor_cursor(self, key: str, value: dict[str, Any],
                           expected: dict[str, Any] | None = None, *,
                           create_only: bool = False) -> None:
        """Save the monitor's position for ``key``.

        Args:
            expected: compare-and-set: the value the caller read; when another
                monitor moved the cursor meanwhile, Conflict is raised and nothing
                is written (so two monitors never both process a window).
            create_only: write only if no cursor exists for ``key`` yet (a first run);
                Conflict when one does, even one created concurrently.

        Raises:
            InvalidArgument: an empty key, or both ``expected`` and ``create_only``.
            Conflict: the cursor is not as ``expected``, or exists under ``create_only``.
        """
        if not key:
            raise InvalidArgument("A monitor cursor needs a key.")
        if create_only and expected is not None:
            raise InvalidArgument("Give a monitor cursor either 'expected' (update what was "
                                  "read) or create_only=True (create it), not both.")
        try:
            with self._write() as s:
                row = s.get(MonitorCursorRow, key, with_for_update=True)
                current = None if row is None else dict(row.value)
                if create_only and row is not None:
                    raise Conflict(f"Monitor cursor {key!r} exists already.", current=current)
                if expected is not None and current != json_safe(expected):
                    raise Conflict(f"Monitor cursor {key!r} moved meanwhile.", current=current)
                if row is None:
                    s.add(MonitorCursorRow(key=key, value=json_safe(value),
                                           updated_at=utcnow()))
                    s.flush()
                else:
                    row.value, row.updated_at = json_safe(value), utcnow()
        except sa_exc.IntegrityError:  # PostgreSQL: another writer inserted the key first
            if not create_only and expected is None:
                raise
            raise Conflict(f"Monitor cursor {key!r} was created meanwhile.") from None
