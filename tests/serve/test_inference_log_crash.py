"""kill -9 in the middle of writing: every acknowledged record survives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlpilot.serve.inference_log import InferenceLog, SegmentReader, read_records
from mlpilot.serve.inference_log.segment import list_segments

CHILD = textwrap.dedent("""
    import sys, time
    from datetime import UTC, datetime, timedelta
    from mlpilot.serve.inference_log import InferenceLog, InferenceRecord

    log = InferenceLog(sys.argv[1], fsync="always", capacity=1_000_000, batch_size=200)
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    i, last = 0, -1
    while True:
        for _ in range(50):
            log.submit(InferenceRecord(f"r{i:07d}", t0 + timedelta(microseconds=i), "dep",
                                       "m", 1, features={"i": i, "pad": "x" * (i % 300)}))
            i += 1
        stats = log.stats()
        assert stats["dropped_total"] == 0, stats
        if stats["synced"] != last:  # acknowledged: written and fsynced
            last = stats["synced"]
            print("ACK", last, flush=True)
        time.sleep(0.001)
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX kill -9")
def test_kill_9_loses_nothing_that_was_acknowledged(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    acked = 0
    try:
        assert child.stdout is not None
        for line in child.stdout:
            acked = max(acked, int(line.split()[1]))
            if acked >= 3000:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        out, err = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL, err
    for line in out.splitlines():  # acknowledgements printed before the kill landed
        acked = max(acked, int(line.split()[1]))
    assert acked >= 3000, err

    (segment,) = list_segments(tmp_path / "segments")
    assert not SegmentReader(segment).sealed  # it died mid-stream

    with InferenceLog(tmp_path) as log:
        stats = log.stats()
    assert stats["recovered_sealed"] == 1
    assert stats["quarantined"] == 0
    # Any torn tail was cut and counted: bytes cut imply at least one record cut.
    assert (stats["recovered_truncated_bytes"] > 0) == (stats["recovered_truncated_records"] > 0)

    ids = sorted(r.request_id for r in read_records(tmp_path))
    assert len(ids) >= acked  # at most the unacknowledged batch is lost
    assert ids == [f"r{i:07d}" for i in range(len(ids))]  # a gap-free prefix, no duplicates
