"""``mlpilot log compact`` over a multi-worker log with feedback."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlpilot.serve.gateway.feedback import Feedback, feedback_dir, to_record
from mlpilot.serve.inference_log import InferenceLog, InferenceRecord, read_records

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def _write(directory: Path, n: int, prefix: str) -> None:
    with InferenceLog(directory, fsync="never") as log:  # closing seals the segment
        for i in range(n):
            log.submit(InferenceRecord(f"{prefix}-{i}", T0, "credit", "credit", 1,
                                       features={"x": i}, outputs={"predict": [i % 2]}))


def test_compact_covers_workers_and_feedback(cli: Any, home: Path) -> None:
    root = home / "inference-log"
    _write(root / "worker-0", 5, "a")
    _write(root / "worker-1", 3, "b")
    with InferenceLog(feedback_dir(root / "worker-0"), fsync="never") as fb:
        fb.submit(to_record(Feedback("a-1", 1, None, T0)))
    assert list((root / "worker-0" / "segments").glob("*"))  # sealed segments to compact
    report = json.loads(cli.ok("log", "compact", "--json"))
    by_dir = {Path(d["directory"]).relative_to(root).as_posix(): d
              for d in report["directories"]}
    assert by_dir["worker-0"]["rows"] == 5 and by_dir["worker-1"]["rows"] == 3
    assert by_dir["worker-0/feedback"]["rows"] == 1
    assert not list((root / "worker-0" / "segments").glob("*"))  # segments became Parquet
    assert {r.request_id for r in read_records(root / "worker-0")} == {
        f"a-{i}" for i in range(5)}  # still readable, now from Parquet
    again = json.loads(cli.ok("log", "compact", "--json"))
    assert all(d["segments"] == 0 for d in again["directories"])  # nothing left to do
    assert "worker-1" in cli.ok("log", "compact")


def test_compact_without_a_log_says_so(cli: Any, home: Path) -> None:
    assert "No inference log" in cli.ok("log", "compact")
