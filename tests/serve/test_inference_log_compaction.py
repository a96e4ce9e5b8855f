"""Compaction into Parquet partitions, ordered deletion, reconciliation, and readers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mlpilot.serve.inference_log import (
    InferenceLog,
    InferenceRecord,
    compact,
    read_frame,
    read_records,
)
from mlpilot.serve.inference_log import compaction as compaction_module
from mlpilot.serve.inference_log.segment import HEADER_SIZE, list_segments

T0 = datetime(2025, 3, 4, 22, 30, tzinfo=UTC)


def rec(i: int, model: str = "m1") -> InferenceRecord:
    # One record every 10 minutes from 22:30: 15 of them span three hours across midnight.
    return InferenceRecord(f"r{i:03d}", T0 + timedelta(minutes=10 * i), "dep", model, 2,
                           features={"age": 20 + i, "city": "Lyon", "tags": ["a"],
                                     "mixed": i if i % 2 else "odd"},
                           outputs={"score": i / 100}, latency_ms=1.5)


def write_log(directory: Path, records: list[InferenceRecord], **kwargs: object) -> None:
    with InferenceLog(directory, **kwargs) as log:
        for r in records:
            log.submit(r)


def parquet_files(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory / "parquet"))
                  for p in (directory / "parquet").rglob("*.parquet"))


def test_compaction_writes_partitions_and_deletes_segments(tmp_path: Path) -> None:
    records = [rec(i, "m1" if i % 3 else "m2") for i in range(15)]
    write_log(tmp_path, records)
    result = compact(tmp_path)
    assert result.rows == 15 and len(result.segments) == 1 and result.quarantined == []
    assert list_segments(tmp_path / "segments") == []
    assert (tmp_path / "ledger.jsonl").read_text() == ""  # resolved entries are forgotten
    files = parquet_files(tmp_path)
    assert {f.split("/part-")[0] for f in files} == {
        f"model={m}/date={d}/hour={h}" for m in ("m1", "m2")
        for d, h in (("2025-03-04", "22"), ("2025-03-04", "23"), ("2025-03-05", "00"))
    }
    table = pq.read_table(tmp_path / "parquet" / files[0])
    assert {"f_age", "f_city", "o_score", "features_json"} <= set(table.column_names)
    assert "f_tags" not in table.column_names  # nested: only in features_json
    assert sum(pq.read_metadata(tmp_path / "parquet" / f).num_rows for f in files) == 15
    assert sorted(read_records(tmp_path), key=lambda r: r.request_id) == records


def test_ledger_is_fsynced_before_unlink_and_a_crash_is_reconciled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records = [rec(i) for i in range(12)]
    write_log(tmp_path, records)
    (segment,) = list_segments(tmp_path / "segments")
    seen: list[list[str]] = []

    def crash(path: Path) -> None:
        lines = (tmp_path / "ledger.jsonl").read_text().splitlines()
        seen.append([json.loads(line)["segment"] for line in lines])
        raise KeyboardInterrupt("power cut between the ledger write and the unlink")

    monkeypatch.setattr(compaction_module, "_unlink_segment", crash)
    with pytest.raises(KeyboardInterrupt):
        compact(tmp_path)
    assert seen == [[segment.name]]  # the ledger named the segment before its unlink
    assert segment.exists()
    # Readers see each record once while both the segment and its Parquet exist.
    assert sorted(r.request_id for r in read_records(tmp_path)) == [r.request_id for r in records]
    assert len(read_frame(tmp_path)) == 12

    monkeypatch.undo()
    with InferenceLog(tmp_path) as log:  # start-up reconciles
        assert log.stats()["reconciled_deleted"] == 1
    assert not segment.exists()
    assert sorted(read_records(tmp_path), key=lambda r: r.request_id) == records


def test_crash_before_the_ledger_recompacts_idempotently(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_log(tmp_path, [rec(i) for i in range(9)])

    def crash(ledger: Path, entry: dict) -> None:
        raise KeyboardInterrupt("crash after the Parquet write")

    monkeypatch.setattr(compaction_module, "_append_ledger", crash)
    with pytest.raises(KeyboardInterrupt):
        compact(tmp_path)
    first = parquet_files(tmp_path)
    monkeypatch.undo()
    result = compact(tmp_path)
    assert result.rows == 9 and parquet_files(tmp_path) == first  # same files, rewritten
    assert len(read_frame(tmp_path)) == 9


def test_segment_whose_parquet_is_missing_is_kept(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    write_log(tmp_path, [rec(i) for i in range(3)])
    (segment,) = list_segments(tmp_path / "segments")

    def crash(path: Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(compaction_module, "_unlink_segment", crash)
    with pytest.raises(KeyboardInterrupt):
        compact(tmp_path)
    monkeypatch.undo()
    for f in (tmp_path / "parquet").rglob("*.parquet"):
        f.unlink()  # someone removed the Parquet: the ledger entry is no proof any more
    assert compaction_module.reconcile(tmp_path) == []
    assert segment.exists()
    assert compact(tmp_path).rows == 3 and not segment.exists()


def test_active_segment_is_skipped_and_damaged_sealed_one_quarantined(tmp_path: Path) -> None:
    write_log(tmp_path, [rec(i) for i in range(4)])
    (sealed,) = list_segments(tmp_path / "segments")
    data = bytearray(sealed.read_bytes())
    data[HEADER_SIZE + 20] ^= 0x04  # bit rot inside the first record
    sealed.write_bytes(bytes(data))
    with InferenceLog(tmp_path) as log:
        log.submit(rec(10))
        log.flush(timeout=10)
        result = log.compact()
        assert result.quarantined == [sealed.name]
        assert result.skipped_unsealed == 1 and result.rows == 0
        assert log.stats()["quarantined"] == 1
    assert (tmp_path / "quarantine" / sealed.name).read_bytes() == bytes(data)
    assert compact(tmp_path).rows == 1  # sealed on close, compacted now


def test_read_frame_filters_by_time_and_model(tmp_path: Path) -> None:
    write_log(tmp_path, [rec(i, "m1" if i % 2 else "m2") for i in range(18)])
    compact(tmp_path)
    write_log(tmp_path, [rec(i, "m1" if i % 2 else "m2") for i in range(18, 24)])  # live

    frame = read_frame(tmp_path)
    assert list(frame["request_id"]) == [f"r{i:03d}" for i in range(24)]
    assert list(frame.columns[:4]) == ["request_id", "time", "deployment", "model"]
    assert str(frame["time"].dtype) == "datetime64[us, UTC]"

    since, until = T0 + timedelta(minutes=60), T0 + timedelta(minutes=200)
    part = read_frame(tmp_path, since=since, until=until, model="m1")
    assert list(part["request_id"]) == [f"r{i:03d}" for i in range(6, 20) if i % 2]
    assert set(part["model"]) == {"m1"}
    assert part["time"].min() >= since and part["time"].max() < until
    assert part["f_age"].tolist() == [20 + i for i in range(6, 20) if i % 2]

    assert len(read_frame(tmp_path, model="m1", include_live=False)) == 9
    assert read_frame(tmp_path, model="nope").empty
    by_records = list(read_records(tmp_path, since=since, until=until, model="m1"))
    assert sorted(r.request_id for r in by_records) == list(part["request_id"])


def test_failed_requests_with_no_model_are_compacted(tmp_path: Path) -> None:
    failed = InferenceRecord("bad", T0, "dep", "", None, features={"age": "x"},
                             status=400, error="SchemaMismatch")
    write_log(tmp_path, [failed, rec(0)])
    compact(tmp_path)
    assert any(f.startswith("model=__HIVE_DEFAULT_PARTITION__/") for f in parquet_files(tmp_path))
    assert sorted(read_records(tmp_path), key=lambda r: r.request_id) == [failed, rec(0)]
    frame = read_frame(tmp_path, model="")
    assert list(frame["error"]) == ["SchemaMismatch"] and list(frame["status"]) == [400]
