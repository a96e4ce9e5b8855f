"""Monitoring state in the store: metric points, de-duplicated alerts, cursors."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from mlpilot.core.entities import MetricPoint
from mlpilot.core.errors import Conflict, InvalidArgument, NotFound
from mlpilot.store import Store

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)


def point(name: str = "drift.ks", hour: int = 0, value: float | None = 0.1,
          feature: str = "age", **kw: object) -> MetricPoint:
    return MetricPoint(model="credit", name=name, window_start=T0 + hour * HOUR,
                       window_end=T0 + (hour + 1) * HOUR, value=value, feature=feature,
                       **kw)  # type: ignore[arg-type]


def test_metric_points_are_stored_once_per_series_and_window(store: Store) -> None:
    assert store.add_metric_points([point(hour=h) for h in range(3)]) == 3
    assert store.add_metric_points([point(hour=2), point(hour=3)]) == 1  # re-run: no dupes
    assert store.add_metric_points([point(hour=2, feature="income"),
                                    point(hour=2, version=2)]) == 2  # other series
    assert [p.window_start for p in store.list_metric_points("credit", feature="age",
                                                             version=0)] == [
        T0 + h * HOUR for h in range(4)]


def test_metric_point_filters_and_values(store: Store) -> None:
    store.add_metric_points([
        point("drift.ks", 0, 0.2, details={"p_value": 0.01, "drifted": True}),
        point("drift.psi", 0, float("nan")), point("accuracy", 1, 0.93, feature=""),
        point("accuracy", 2, None, feature="")])
    drift = store.list_metric_points("credit", name="drift.*")
    assert {p.name for p in drift} == {"drift.ks", "drift.psi"}
    assert next(p for p in drift if p.name == "drift.psi").value is None  # NaN stored as null
    assert next(p for p in drift if p.name == "drift.ks").details == {"p_value": 0.01,
                                                                      "drifted": True}
    acc = store.list_metric_points("credit", name="accuracy", since=T0 + HOUR,
                                   until=T0 + 2 * HOUR)
    assert [(p.value, p.window_start) for p in acc] == [(0.93, T0 + HOUR)]
    assert store.list_metric_points("other") == []


def test_bad_metric_points_are_refused(store: Store) -> None:
    with pytest.raises(InvalidArgument, match="reversed"):
        store.add_metric_points([MetricPoint("credit", "x", T0 + HOUR, T0, 1.0)])
    with pytest.raises(InvalidArgument, match="model and a name"):
        store.add_metric_points([MetricPoint("", "x", T0, T0, 1.0)])
    with pytest.raises(InvalidArgument, match="limit"):
        store.list_metric_points("credit", limit=0)


def test_one_alert_per_incident(store: Store) -> None:
    a, new = store.raise_alert("drift:credit", model="credit", kind="drift",
                               severity="warning", title="Drift on credit",
                               evidence={"features": ["age"]}, time=T0)
    assert new and a.status == "open" and a.occurrences == 1
    b, new = store.raise_alert("drift:credit", model="credit", kind="drift",
                               severity="critical", title="Drift on credit",
                               evidence={"features": ["age", "income"]}, time=T0 + HOUR)
    assert not new and b.id == a.id and b.occurrences == 2 and b.severity == "critical"
    assert b.evidence == {"features": ["age", "income"]} and b.last_seen == T0 + HOUR
    c, _ = store.raise_alert("drift:credit", model="credit", kind="drift", severity="info",
                             title="Drift on credit", time=T0 + 2 * HOUR)
    assert c.severity == "critical"  # never downgraded while open
    assert [e.action for e in store.list_events(target_kind="alert")][:2] in (
        ["alert.escalate", "alert.open"], ["alert.open", "alert.escalate"])


def test_alert_lifecycle(store: Store) -> None:
    a, _ = store.raise_alert("lat:credit", model="credit", kind="latency", severity="warning",
                             title="p99 latency above baseline")
    acked = store.with_actor("ana").acknowledge_alert(a.id, "looking")
    assert acked.status == "acknowledged" and acked.acknowledged_by == "ana"
    with pytest.raises(Conflict, match="already acknowledged"):
        store.acknowledge_alert(a.id)
    again, new = store.raise_alert("lat:credit", model="credit", kind="latency",
                                   severity="warning", title="p99 latency above baseline")
    assert not new and again.status == "acknowledged" and again.occurrences == 2
    done = store.resolve_alert(a.id, "rolled back")
    assert done.status == "resolved" and done.note == "rolled back" and not done.active
    with pytest.raises(Conflict, match="already resolved"):
        store.resolve_alert(a.id)
    reopened, new = store.raise_alert("lat:credit", model="credit", kind="latency",
                                      severity="warning", title="p99 latency above baseline")
    assert new and reopened.id != a.id  # a new incident after resolution
    assert [x.id for x in store.list_alerts(active=True)] == [reopened.id]
    assert [x.id for x in store.list_alerts(status="resolved")] == [a.id]
    diag = store.set_alert_diagnosis(reopened.id, {"causes": [{"feature": "age"}]})
    assert store.get_alert(reopened.id).diagnosis == diag.diagnosis
    with pytest.raises(NotFound):
        store.get_alert(10**9)
    with pytest.raises(InvalidArgument, match="severity"):
        store.raise_alert("k", model="m", kind="drift", severity="bad", title="t")


def test_concurrent_monitors_open_one_alert(store: Store) -> None:
    results: list[bool] = []
    errors: list[BaseException] = []

    def raise_it() -> None:
        try:
            results.append(store.raise_alert("errors:credit", model="credit", kind="errors",
                                             severity="critical", title="5xx burst")[1])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=raise_it) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results.count(True) == 1
    (alert,) = store.list_alerts(model="credit")
    assert alert.occurrences == 8


def test_monitor_cursor_compare_and_set(store: Store) -> None:
    assert store.get_monitor_cursor("credit/drift") is None
    store.set_monitor_cursor("credit/drift", {"until": T0.isoformat()})
    first = store.get_monitor_cursor("credit/drift")
    store.set_monitor_cursor("credit/drift", {"until": (T0 + HOUR).isoformat()},
                             expected=first)
    with pytest.raises(Conflict, match="moved meanwhile"):  # a second monitor lost the race
        store.set_monitor_cursor("credit/drift", {"until": "x"}, expected=first)
    assert store.get_monitor_cursor("credit/drift") == {"until": (T0 + HOUR).isoformat()}


def test_upsert_replaces_a_windows_value_and_details(store: Store) -> None:
    store.add_metric_points([point("performance.accuracy", 0, 0.7, feature="",
                                   details={"provisional": True, "coverage": 0.2})])
    assert store.upsert_metric_points([
        point("performance.accuracy", 0, 0.8, feature="",
              details={"provisional": True, "coverage": 0.6}),
        point("performance.accuracy", 1, 0.9, feature="", details={"coverage": 0.1})]) == 2
    assert store.upsert_metric_points([  # the same values again: nothing changes
        point("performance.accuracy", 0, 0.8, feature="",
              details={"provisional": True, "coverage": 0.6})]) == 0
    assert store.upsert_metric_points([  # the last point of a window wins
        point("performance.accuracy", 0, 0.85, feature="", details={"coverage": 0.9}),
        point("performance.accuracy", 0, 0.95, feature="", details={"coverage": 1.0}),
        point("performance.accuracy", 0, float("nan"), feature="", version=2)]) == 2
    stored = store.list_metric_points("credit", name="performance.accuracy")
    assert [(p.window_start, p.version, p.value, p.details) for p in stored] == [
        (T0, 0, 0.95, {"coverage": 1.0}), (T0, 2, None, {}),
        (T0 + HOUR, 0, 0.9, {"coverage": 0.1})]
    assert store.add_metric_points([point("performance.accuracy", 0, 0.1, feature="")]) == 0
    assert store.upsert_metric_points([]) == 0
    with pytest.raises(InvalidArgument, match="reversed"):
        store.upsert_metric_points([MetricPoint("credit", "x", T0 + HOUR, T0, 1.0)])


def test_concurrent_upserts_keep_one_point_per_window(store: Store) -> None:
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            for _ in range(5):
                store.upsert_metric_points([point("labels.coverage", h, i / 10, feature="")
                                            for h in range(4)])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    stored = store.list_metric_points("credit", name="labels.coverage")
    assert [p.window_start for p in stored] == [T0 + h * HOUR for h in range(4)]


def test_monitor_cursor_create_only(store: Store) -> None:
    store.set_monitor_cursor("credit/drift", {"until": None}, create_only=True)
    with pytest.raises(Conflict, match="exists already"):  # a second first run lost
        store.set_monitor_cursor("credit/drift", {"until": "x"}, create_only=True)
    assert store.get_monitor_cursor("credit/drift") == {"until": None}
    with pytest.raises(InvalidArgument, match="not both"):
        store.set_monitor_cursor("credit/drift", {}, expected={"until": None},
                                 create_only=True)


def test_concurrent_first_runs_create_one_cursor(store: Store) -> None:
    won: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def create(i: int) -> None:
        try:
            barrier.wait()
            store.set_monitor_cursor("credit/ops", {"owner": i}, create_only=True)
            won.append(i)
        except Conflict:
            pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(won) == 1
    assert store.get_monitor_cursor("credit/ops") == {"owner": won[0]}
