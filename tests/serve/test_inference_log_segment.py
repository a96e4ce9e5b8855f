"""Segment files: framing, verification, torn tails and damaged segments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from mlpilot.serve.inference_log import InferenceLog, InferenceRecord, SegmentReader, read_records
from mlpilot.serve.inference_log.record import encode_record
from mlpilot.serve.inference_log.recovery import (
    RecoveryReport,
    recover_segments,
    repair_segment,
)
from mlpilot.serve.inference_log.segment import (
    HEADER,
    HEADER_SIZE,
    SegmentWriter,
    encode_frames,
    list_segments,
    seal_footer,
)

T0 = datetime(2025, 3, 4, 5, tzinfo=UTC)


def rec(i: int) -> InferenceRecord:
    return InferenceRecord(f"r{i}", T0 + timedelta(seconds=i), "dep", "m", 1,
                           features={"x": i, "s": "abc" * (i % 5)}, outputs={"y": i / 2})


def write_segment(directory: Path, n: int, *, seal: bool, batches: int = 1) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    w = SegmentWriter.create(directory, seq=1, epoch_ms=1_700_000_000_000)
    per = n // batches
    for b in range(batches):
        payloads = [encode_record(rec(i)) for i in range(b * per, (b + 1) * per)]
        w.append(encode_frames(payloads), len(payloads))
    if seal:
        w.seal()
    else:
        w.close()
    return w.path


def test_segment_round_trip_and_seal(tmp_path: Path) -> None:
    path = write_segment(tmp_path / "segments", 20, seal=True, batches=4)
    assert path.name == "1700000000000-000001.seg"
    reader = SegmentReader(path)
    assert (reader.state, reader.sealed, len(reader)) == ("ok", True, 20)
    assert list(reader.records()) == [rec(i) for i in range(20)]
    assert reader.valid_end == reader.size - len(seal_footer(20))


def test_unsealed_segment_reads_clean(tmp_path: Path) -> None:
    reader = SegmentReader(write_segment(tmp_path, 5, seal=False))
    assert (reader.state, reader.sealed, len(reader)) == ("ok", False, 5)


def test_torn_tail_is_truncated_and_counted(tmp_path: Path) -> None:
    segs = tmp_path / "segments"
    path = write_segment(segs, 10, seal=False)
    full = path.read_bytes()
    last = encode_frames([encode_record(rec(9))])
    cut = len(last) // 2
    path.write_bytes(full[:-cut])  # the last record is cut mid-payload
    reader = SegmentReader(path)
    assert (reader.state, len(reader), reader.torn_records) == ("torn", 9, 1)

    report = recover_segments(segs, tmp_path / "quarantine")
    assert report.truncated_records == 1
    assert report.truncated_bytes == len(last) - cut
    after = SegmentReader(path)
    assert (after.state, after.sealed, len(after)) == ("ok", True, 9)


def test_torn_tail_through_the_log_counters(tmp_path: Path) -> None:
    with InferenceLog(tmp_path, fsync="never") as log:
        for i in range(10):
            log.submit(rec(i))
    (path,) = list_segments(tmp_path / "segments")
    data = path.read_bytes()
    path.write_bytes(data[:-len(seal_footer(10))] + encode_frames([b'{"partial":'])[:20])
    with InferenceLog(tmp_path) as log:
        stats = log.stats()
    assert stats["recovered_truncated_records"] == 1
    assert stats["recovered_truncated_bytes"] == 20
    assert stats["recovered_sealed"] == 1
    assert sorted(r.request_id for r in read_records(tmp_path)) == sorted(
        f"r{i}" for i in range(10))


def test_corrupted_middle_is_quarantined_not_deleted(tmp_path: Path) -> None:
    segs, quarantine = tmp_path / "segments", tmp_path / "quarantine"
    path = write_segment(segs, 10, seal=False)
    data = bytearray(path.read_bytes())
    data[HEADER_SIZE + 12 + 3] ^= 0x01  # a bit flip in the first record's payload
    path.write_bytes(bytes(data))
    reader = SegmentReader(path)
    assert (reader.state, len(reader)) == ("corrupt", 0)

    report = recover_segments(segs, quarantine)
    assert report.quarantined == [path.name]
    assert not path.exists()
    assert (quarantine / path.name).read_bytes() == bytes(data)


def test_quarantine_through_the_log_counters(tmp_path: Path) -> None:
    path = write_segment(tmp_path / "segments", 6, seal=False)
    data = bytearray(path.read_bytes())
    data[HEADER_SIZE + 5] ^= 0xFF  # the first frame's complemented length
    path.write_bytes(bytes(data))
    with InferenceLog(tmp_path) as log:
        assert log.stats()["quarantined"] == 1
    assert (tmp_path / "quarantine" / path.name).exists()


def test_bad_crc_in_last_record_is_a_torn_tail(tmp_path: Path) -> None:
    path = write_segment(tmp_path, 4, seal=False)
    data = bytearray(path.read_bytes())
    data[-2] ^= 0x10
    path.write_bytes(bytes(data))
    reader = SegmentReader(path)
    assert (reader.state, len(reader), reader.torn_records) == ("torn", 3, 1)


def test_zero_filled_tail_is_torn(tmp_path: Path) -> None:
    path = write_segment(tmp_path, 4, seal=False)
    path.write_bytes(path.read_bytes() + bytes(4096))
    reader = SegmentReader(path)
    assert (reader.state, len(reader)) == ("torn", 4)


def test_bad_header_and_empty_segments(tmp_path: Path) -> None:
    segs, quarantine = tmp_path / "segments", tmp_path / "quarantine"
    segs.mkdir()
    foreign = segs / "1700000000000-000001.seg"
    foreign.write_bytes(b"not a segment at all, definitely not")
    empty = segs / "1700000000001-000002.seg"
    empty.write_bytes(HEADER[:5])
    assert SegmentReader(foreign).state == "bad_header"
    assert SegmentReader(empty).state == "empty"
    report = recover_segments(segs, quarantine)
    assert report.quarantined == [foreign.name]
    assert report.removed_empty == [empty.name]
    assert list_segments(segs) == []


def test_torn_seal_is_cut_without_counting_a_record(tmp_path: Path) -> None:
    path = write_segment(tmp_path, 3, seal=True)
    path.write_bytes(path.read_bytes()[:-5])
    report = RecoveryReport()
    repair_segment(path, tmp_path / "q", report)
    assert (report.truncated_records, report.truncated_bytes) == (0, 11)
    assert SegmentReader(path).sealed
