"""Start-up recovery: what a crash leaves behind, repaired or set aside - never deleted.

An unsealed segment with a clean end is sealed; one with a torn tail is cut back
to its last good record and sealed (the bytes and records cut are counted); one
damaged in the middle, or with a header of no known version, is moved to
``quarantine/``; a file cut short inside its header (no records) is removed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from mlpilot.serve.inference_log._fs import fsync_dir
from mlpilot.serve.inference_log.segment import list_segments, seal_footer
from mlpilot.serve.inference_log.segment_reader import SegmentReader, is_sealed

__all__ = ["RecoveryReport", "quarantine", "repair_segment", "recover_segments"]


@dataclass
class RecoveryReport:
    """What start-up recovery did to the segments a crash left unsealed."""

    truncated_records: int = 0
    truncated_bytes: int = 0
    sealed: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    removed_empty: list[str] = field(default_factory=list)


def quarantine(path: Path, quarantine_dir: Path) -> Path:
    """Move ``path`` into ``quarantine_dir`` (never overwriting) and return the new path."""
    quarantine_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    dest, n = quarantine_dir / path.name, 0
    while dest.exists():
        n += 1
        dest = quarantine_dir / f"{path.name}.{n}"
    os.replace(path, dest)
    fsync_dir(quarantine_dir)
    fsync_dir(path.parent)
    return dest


def repair_segment(path: Path, quarantine_dir: Path, report: RecoveryReport) -> None:
    """Truncate a torn tail and seal, quarantine a damaged segment, or drop an empty one."""
    reader = SegmentReader(path)
    if reader.state in ("corrupt", "bad_header"):
        quarantine(path, quarantine_dir)
        report.quarantined.append(path.name)
    elif reader.state == "empty":
        os.unlink(path)
        fsync_dir(path.parent)
        report.truncated_bytes += reader.size
        report.removed_empty.append(path.name)
    elif not reader.sealed:
        cut = reader.size - reader.valid_end
        with open(path, "r+b") as f:
            f.truncate(reader.valid_end)
            f.seek(reader.valid_end)
            f.write(seal_footer(len(reader)))
            f.flush()
            os.fsync(f.fileno())
        report.truncated_bytes += cut
        report.truncated_records += reader.torn_records
        report.sealed.append(path.name)


def recover_segments(segments_dir: Path, quarantine_dir: Path) -> RecoveryReport:
    """Repair every unsealed segment (what a crash leaves behind); see the module docstring."""
    report = RecoveryReport()
    for path in list_segments(segments_dir):
        if not is_sealed(path):
            repair_segment(path, quarantine_dir, report)
    return report
