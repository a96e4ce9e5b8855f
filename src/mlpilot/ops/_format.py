"""The on-disk backup format: layout, manifest, row codec, checksums and archives.

A backup is a directory (or a ``.tar`` / ``.tar.gz`` of one)::

    manifest.json        what the backup holds (see below)
    manifest.sha256      sha256 of manifest.json, so a damaged manifest is caught first
    tables/<name>.jsonl  one JSON object per row, in primary-key order
    artifacts/sha256/ab/cdef…   every referenced blob, in the artifact-store layout
    inference-log/…      the gateway's log, only with ``include_log``

Rows are written portably: timestamps as ISO-8601 UTC strings, non-finite floats
as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``, JSON columns as JSON.
A row is decoded against the columns of the *target* table, so a SQLite backup
restores into PostgreSQL and the other way round. The manifest records the
Alembic revision the rows were read at, a row count per table, every artifact
digest, and the sha256 of every other file in the backup.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tarfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, Table

from mlpilot.core.errors import IntegrityError, InvalidArgument, MlpilotError
from mlpilot.store.artifacts._base import CHUNK_SIZE, DIGEST_PATTERN

FORMAT = "mlpilot-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MANIFEST_SUM = "manifest.sha256"
TABLES_DIR = "tables"
ARTIFACTS_DIR = "artifacts"
LOG_DIR = "inference-log"
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")

# Columns holding a digest the artifact store must have: backing up a row whose
# blob is missing or corrupt would give a restore that cannot load it.
ARTIFACT_COLUMNS = {
    "model_versions": "artifact_digest",
    "run_artifacts": "digest",
    "datasets": "digest",
}

_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class BackupError(MlpilotError):
    """A backup cannot be written: an artifact is missing or corrupt, or the path is taken."""

    code = "backup_error"
    http_status = 422


class BackupCorrupt(IntegrityError):
    """A backup fails its manifest checks: a file is missing, extra, or altered."""

    code = "backup_corrupt"


class RestoreRefused(MlpilotError):
    """The restore target is not empty, or the backup cannot go into it."""

    code = "restore_refused"
    http_status = 409


# -- paths -----------------------------------------------------------------------------
def archive_kind(path: Path) -> str | None:
    """The tar compression of an archive path (``"gz"``, or ``""`` for plain tar), else None."""
    name = path.name.lower()
    if name.endswith((".tar.gz", ".tgz")):
        return "gz"
    if name.endswith(".tar"):
        return ""
    return None


def artifact_path(root: Path, digest: str) -> Path:
    """Where blob ``digest`` lives under a backup directory ``root``."""
    hexdigest = digest.removeprefix("sha256:")
    return root / ARTIFACTS_DIR / "sha256" / hexdigest[:2] / hexdigest[2:]


def is_digest(value: object) -> bool:
    """True for a well-formed ``sha256:<64 hex>`` string."""
    return isinstance(value, str) and DIGEST_PATTERN.fullmatch(value) is not None


def embedded_digests(value: Any) -> Iterator[str]:
    """Every digest string found anywhere inside a JSON value (check reports cite blobs)."""
    if isinstance(value, str):
        if is_digest(value):
            yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from embedded_digests(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from embedded_digests(item)


# -- hashing ---------------------------------------------------------------------------
def file_sha256(path: Path) -> str:
    """``"sha256:<hex>"`` of a file, read in chunks."""
    hasher = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK_SIZE):
            hasher.update(chunk)
    return "sha256:" + hasher.hexdigest()


def fsync_file(path: Path) -> None:
    """Flush a written file to stable storage."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- rows ------------------------------------------------------------------------------
def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return aware.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def encode_row(row: Mapping[str, Any]) -> str:
    """One table row as a JSON line (without the newline)."""
    data = {key: _encode_value(value) for key, value in row.items()}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


def decode_row(line: str, table: Table) -> dict[str, Any]:
    """A JSON line back into insertable values for ``table``'s columns.

    Raises:
        BackupCorrupt: if the line is not JSON, or names a column ``table`` lacks.
    """
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise BackupCorrupt(f"A row of table {table.name!r} in the backup is not JSON "
                            f"({exc}).") from exc
    unknown = set(data) - set(table.columns.keys())
    if unknown:
        raise BackupCorrupt(f"Rows of table {table.name!r} in the backup have columns "
                            f"{sorted(unknown)} the target schema lacks.")
    return {key: _decode_value(value, table.columns[key].type) for key, value in data.items()}


def _decode_value(value: Any, column_type: Any) -> Any:
    if value is None:
        return None
    if isinstance(column_type, DateTime) and isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if isinstance(column_type, Float) and isinstance(value, str):
        return _NONFINITE.get(value, value)
    if isinstance(column_type, Boolean):
        return bool(value)
    if isinstance(column_type, JSON):
        return value
    return value


def load_manifest(root: Path) -> dict[str, Any]:
    """Read and check ``manifest.json`` against ``manifest.sha256``.

    Raises:
        BackupCorrupt: if either file is missing, they disagree, or the manifest is
            not an mlpilot backup manifest of a known format version.
    """
    manifest, digest_file = root / MANIFEST, root / MANIFEST_SUM
    for required in (manifest, digest_file):
        if not required.is_file():
            raise BackupCorrupt(
                f"{str(root)!r} is not a complete mlpilot backup: {required.name} is missing. "
                "A backup that was interrupted never gets one; take a new backup.",
                file=required.name)
    recorded = digest_file.read_text(encoding="utf-8").strip()
    actual = file_sha256(manifest)
    if recorded != actual:
        raise BackupCorrupt(
            f"The backup's {MANIFEST} does not match {MANIFEST_SUM} (recorded {recorded[:80]}, "
            f"file hashes to {actual}): it was altered or damaged. Refusing to restore it.",
            file=MANIFEST)
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BackupCorrupt(f"The backup's {MANIFEST} is not JSON ({exc}).",
                            file=MANIFEST) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BackupCorrupt(f"{str(root)!r} does not hold an mlpilot backup manifest.",
                            file=MANIFEST)
    if data.get("format_version") != FORMAT_VERSION:
        raise BackupCorrupt(
            f"The backup has format version {data.get('format_version')!r}; this mlpilot reads "
            f"version {FORMAT_VERSION}. Restore it with the mlpilot that wrote it.",
            file=MANIFEST)
    return data


def verify_files(root: Path, manifest: Mapping[str, Any]) -> int:
    """Check every file of the backup against the manifest; return how many were checked.

    Raises:
        BackupCorrupt: naming the first file that is missing, altered, or not listed.
    """
    files: Mapping[str, str] = manifest.get("files") or {}
    for name, expected in sorted(files.items()):
        path = _inside(root, name)
        if not path.is_file():
            raise BackupCorrupt(f"The backup lacks {name!r}, which its manifest lists. "
                                "Refusing to restore an incomplete backup.", file=name)
        actual = file_sha256(path)
        if actual != expected:
            raise BackupCorrupt(
                f"Backup file {name!r} was altered or damaged: the manifest records {expected}, "
                f"the file hashes to {actual}. Refusing to restore it.", file=name)
    listed = set(files) | {MANIFEST, MANIFEST_SUM}
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if path.is_symlink() or (not path.is_dir() and name not in listed):
            raise BackupCorrupt(f"The backup holds {name!r}, which its manifest does not list. "
                                "Refusing to restore a backup that was added to.", file=name)
    return len(files)


def _inside(root: Path, name: str) -> Path:
    path = (root / name).resolve()
    if not path.is_relative_to(root.resolve()):
        raise BackupCorrupt(f"The backup manifest names {name!r}, outside the backup.",
                            file=name)
    return path


# -- archives --------------------------------------------------------------------------
def write_archive(source: Path, target: Path, compression: str) -> None:
    """Pack the directory ``source`` into the tar file ``target`` (members sorted)."""
    mode = f"w:{compression}" if compression else "w"
    with tarfile.open(target, mode) as tar:  # type: ignore[call-overload]
        for path in sorted(source.rglob("*")):
            tar.add(path, arcname=path.relative_to(source).as_posix(), recursive=False)


def extract_archive(archive: Path, target: Path) -> None:
    """Unpack a backup archive into ``target``, refusing links, devices and escapes.

    Raises:
        BackupCorrupt: if the archive cannot be read or holds anything but plain
            files and directories inside it.
    """
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar.getmembers():
                if not (member.isfile() or member.isdir()):
                    raise BackupCorrupt(
                        f"The backup archive holds {member.name!r}, which is not a plain file; "
                        "refusing it.", file=member.name)
            tar.extractall(target, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupCorrupt(f"The backup archive {str(archive)!r} cannot be read "
                            f"({type(exc).__name__}: {exc}); it is truncated or damaged.",
                            file=archive.name) from exc


def check_archive_or_dir(path: Path) -> None:
    """Refuse a backup path that is neither a directory nor a known archive name.

    Raises:
        InvalidArgument: for other file names.
    """
    if path.is_dir() or archive_kind(path) is not None:
        return
    raise InvalidArgument(f"A backup is a directory or a {', '.join(ARCHIVE_SUFFIXES)} "
                          f"archive. Got {str(path)!r}.")
