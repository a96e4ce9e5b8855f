"""InferenceLog: the bounded queue, the writer thread, fsync policies, I/O errors."""

from __future__ import annotations

import errno
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mlpilot.core.errors import Conflict, InvalidArgument
from mlpilot.serve.inference_log import (
    REDACTED,
    InferenceLog,
    InferenceRecord,
    SegmentReader,
    prometheus_samples,
    read_records,
)
from mlpilot.serve.inference_log import segment as segment_module
from mlpilot.serve.inference_log.segment import list_segments

T0 = datetime(2025, 3, 4, 5, tzinfo=UTC)


def rec(i: int, **kw: object) -> InferenceRecord:
    fields: dict = {"features": {"x": i, "email": f"u{i}@example.com"}, "outputs": {"y": i % 2}}
    fields.update(kw)
    return InferenceRecord(f"r{i}", T0 + timedelta(milliseconds=i), "dep", "m", 1, **fields)


def balanced(stats: dict) -> bool:
    return stats["submitted"] == stats["written"] + stats["dropped_total"] + stats["pending"]


def test_everything_submitted_is_written_and_read_back(tmp_path: Path) -> None:
    with InferenceLog(tmp_path, batch_size=7) as log:
        assert all(log.submit(rec(i)) for i in range(100))
        assert log.flush(timeout=10)
        stats = log.stats()
    assert (stats["submitted"], stats["written"], stats["synced"]) == (100, 100, 100)
    assert stats["dropped_total"] == 0 and stats["pending"] == 0 and balanced(stats)
    assert stats["completeness"] == 1.0 and stats["fsyncs"] >= 1
    back = sorted(read_records(tmp_path), key=lambda r: r.time)
    assert back == [rec(i) for i in range(100)]
    (path,) = list_segments(tmp_path / "segments")
    assert SegmentReader(path).sealed  # close sealed it


def test_full_queue_drops_and_counts_without_blocking(tmp_path: Path, monkeypatch) -> None:
    release = threading.Event()
    real_write = segment_module._write_all

    def stuck_write(fd: int, data: bytes) -> None:
        if len(data) > len(segment_module.HEADER):  # hold every batch, not the header
            release.wait(30)
        real_write(fd, data)

    monkeypatch.setattr(segment_module, "_write_all", stuck_write)
    log = InferenceLog(tmp_path, capacity=10)
    try:
        start = time.perf_counter()
        accepted = sum(log.submit(rec(i)) for i in range(10_000))
        elapsed = time.perf_counter() - start
        stats = log.stats()
        # The writer holds at most one batch while it is stuck; the queue holds 10.
        assert 10 <= accepted <= 20
        assert stats["dropped"]["queue_full"] == 10_000 - accepted
        assert stats["queue_depth"] == 10 and stats["written"] == 0 and balanced(stats)
        assert elapsed < 10  # a sanity bound only: submit never waited on the stuck writer
    finally:
        release.set()
        log.close()
    stats = log.stats()
    assert stats["written"] == accepted and stats["pending"] == 0 and balanced(stats)
    assert stats["completeness"] == log.completeness() == accepted / 10_000


def test_disk_full_drops_the_batch_and_later_writes_succeed(tmp_path: Path, monkeypatch) -> None:
    log = InferenceLog(tmp_path)
    try:
        log.submit(rec(0))
        log.flush(timeout=10)
        real_write = segment_module._write_all

        def full(fd: int, data: bytes) -> None:
            real_write(fd, data[: len(data) // 2])  # a partial write, then the error
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(segment_module, "_write_all", full)
        assert all(log.submit(rec(i)) for i in range(1, 6))  # serving is unaffected
        log.flush(timeout=10)
        stats = log.stats()
        assert stats["dropped"]["disk_full"] == 5 and stats["write_errors"] >= 1
        monkeypatch.setattr(segment_module, "_write_all", real_write)
        assert all(log.submit(rec(i)) for i in range(6, 9))
        log.flush(timeout=10)
    finally:
        log.close()
    stats = log.stats()
    assert stats["written"] == 4 and stats["dropped_total"] == 5 and balanced(stats)
    assert sorted(r.request_id for r in read_records(tmp_path)) == ["r0", "r6", "r7", "r8"]


def test_other_io_errors_are_counted_as_io_error(tmp_path: Path, monkeypatch) -> None:
    def broken(fd: int, data: bytes) -> None:
        raise OSError(errno.EIO, "Input/output error")

    with InferenceLog(tmp_path) as log:
        monkeypatch.setattr(segment_module, "_write_all", broken)  # the header too
        log.submit(rec(0))
        log.flush(timeout=10)
        assert log.stats()["dropped"]["io_error"] == 1
        monkeypatch.undo()
        log.submit(rec(1))
    assert [r.request_id for r in read_records(tmp_path)] == ["r1"]


def test_fsync_failure_counts_unsynced_records_as_lost(tmp_path: Path, monkeypatch) -> None:
    with InferenceLog(tmp_path, fsync="always") as log:
        def failing_sync(self: object) -> None:
            raise OSError(errno.EIO, "fsync failed")

        monkeypatch.setattr(segment_module.SegmentWriter, "sync", failing_sync)
        log.submit(rec(0))
        log.flush(timeout=10)
        stats = log.stats()
        monkeypatch.undo()
    assert stats["fsync_errors"] == 1 and stats["dropped"]["io_error"] == 1
    assert stats["written"] == 0 and balanced(stats)


@pytest.mark.parametrize("policy", ["always", "never"])
def test_fsync_policies(tmp_path: Path, policy: str) -> None:
    # Under "always" a batch counts as synced once its fsync returned.
    key = "synced" if policy == "always" else "written"
    with InferenceLog(tmp_path, fsync=policy) as log:
        for i in range(3):
            log.submit(rec(i))
            deadline = time.monotonic() + 10
            while log.stats()[key] <= i and time.monotonic() < deadline:
                time.sleep(0.005)
        stats = log.stats()
        assert stats["written"] == 3
        if policy == "always":
            assert stats["synced"] == 3 and stats["fsyncs"] >= 1
        else:
            assert stats["synced"] == 0 and stats["fsyncs"] == 0
        log.flush(timeout=10)  # an explicit flush fsyncs under every policy
        assert log.stats()["synced"] == 3


def test_interval_policy_syncs_idle_data_after_the_interval(tmp_path: Path) -> None:
    with InferenceLog(tmp_path, fsync="interval", fsync_interval_s=0.05) as log:
        log.submit(rec(0))
        deadline = time.monotonic() + 10
        while log.stats()["synced"] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert log.stats()["synced"] == 1


def test_segments_roll_at_the_size_limit(tmp_path: Path) -> None:
    with InferenceLog(tmp_path, segment_bytes=4096, batch_size=10) as log:
        for i in range(300):
            log.submit(rec(i))
            if i % 10 == 9:
                log.flush(timeout=10)
    segments = list_segments(tmp_path / "segments")
    assert len(segments) > 3 and log.stats()["segments_created"] == len(segments)
    assert all(SegmentReader(p).sealed for p in segments)
    assert len(list(read_records(tmp_path))) == 300


def test_redacted_features_never_reach_disk(tmp_path: Path) -> None:
    with InferenceLog(tmp_path, redact={"email"}) as log:
        log.submit(rec(1))
    raw = b"".join(p.read_bytes() for p in list_segments(tmp_path / "segments"))
    assert b"u1@example.com" not in raw
    (back,) = read_records(tmp_path)
    assert back.features == {"x": 1, "email": REDACTED}


def test_unencodable_record_is_dropped_and_counted(tmp_path: Path) -> None:
    loop: dict = {}
    loop["self"] = loop
    with InferenceLog(tmp_path) as log:
        log.submit(rec(0, features=loop))
        log.submit(rec(1))
    stats = log.stats()
    assert stats["dropped"]["encode_error"] == 1 and stats["written"] == 1 and balanced(stats)


def test_submit_after_close_is_dropped_as_closed(tmp_path: Path) -> None:
    log = InferenceLog(tmp_path)
    log.close()
    log.close()  # idempotent
    assert log.submit(rec(0)) is False
    assert log.stats()["dropped"]["closed"] == 1


def test_one_writer_per_directory(tmp_path: Path) -> None:
    with InferenceLog(tmp_path):
        with pytest.raises(Conflict, match="Another InferenceLog"):
            InferenceLog(tmp_path)
    InferenceLog(tmp_path).close()  # free again after close


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"capacity": 0}, "'capacity' parameter of InferenceLog must be an integer >= 1"),
    ({"fsync": "sometimes"}, r"must be one of \['interval', 'always', 'never'\]"),
    ({"fsync_interval_s": 0}, "positive number of seconds"),
    ({"segment_bytes": 10}, "integer >= 4096"),
    ({"batch_size": True}, "'batch_size'"),
])
def test_invalid_parameters(tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        InferenceLog(tmp_path, **kwargs)


def test_prometheus_samples_name_every_drop_reason(tmp_path: Path) -> None:
    with InferenceLog(tmp_path, capacity=1) as log:
        log.submit(rec(0))
        stats = log.stats()
    samples = {(name, tuple(labels.items())): value
               for name, _, labels, value in prometheus_samples(stats)}
    assert samples[("mlpilot_log_submitted_total", ())] == 1
    assert ("mlpilot_log_dropped_total", (("reason", "queue_full"),)) in samples
    assert ("mlpilot_log_queue_depth", ()) in samples


def test_importing_the_log_does_not_import_pyarrow() -> None:
    code = ("import sys, mlpilot.serve.inference_log as m; "
            "assert 'pyarrow' not in sys.modules and 'pandas' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_writer_stays_alive_and_reports_it(tmp_path: Path) -> None:
    with InferenceLog(tmp_path) as log:
        assert log.stats()["writer_alive"] is True
    assert log.stats()["writer_alive"] is False
