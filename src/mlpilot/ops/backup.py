"""``backup``: a consistent, verified snapshot of a running mlpilot.

Consistency. Every table is read inside ONE read transaction that sees a single
snapshot of the database, so the backup is what the store held at one instant
even while gateways, runs and the autopilot keep writing:

- PostgreSQL: a ``REPEATABLE READ, READ ONLY`` transaction. All its statements see
  the snapshot taken at its first query; writers are never blocked.
- SQLite (WAL mode): one deferred ``BEGIN`` transaction. Its first read pins a WAL
  snapshot that every later read in the transaction sees; writers append to the
  WAL meanwhile and are never blocked.

Artifacts need no lock: they are content-addressed and immutable, and every blob
is stored *before* the row that cites it commits, so each digest in the snapshot
names a blob that exists. Each is copied with its sha256 verified; a missing or
corrupt blob abandons the backup with an error naming it.

Atomicity. Everything is written into a hidden ``.<name>.partial-*`` directory
beside the target, fsynced, and only then renamed to the target (or packed into
a hidden partial archive that is renamed last). A killed backup leaves only a
hidden partial directory without a manifest, never something that looks complete.

The inference log is left out unless ``include_log`` is given: it is bulky,
append-only serving data rather than registry state, its monitoring results are
already in the metadata (metric points, alerts), and a live log can only be
copied crash-consistently (as after a power cut, which start-up recovery
repairs), not at the metadata's snapshot instant.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Connection, Engine, MetaData, Table, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from mlpilot import __version__
from mlpilot.core.clock import utcnow
from mlpilot.core.errors import IntegrityError, NotFound, StoreUnavailable
from mlpilot.core.fsutil import fsync_dir
from mlpilot.ops._format import (
    ARTIFACT_COLUMNS,
    FORMAT,
    FORMAT_VERSION,
    LOG_DIR,
    MANIFEST,
    MANIFEST_SUM,
    TABLES_DIR,
    BackupError,
    archive_kind,
    artifact_path,
    embedded_digests,
    encode_row,
    file_sha256,
    fsync_file,
    is_digest,
    write_archive,
)
from mlpilot.store.artifacts import ArtifactStore
from mlpilot.store.artifacts._base import copy_hashing

if TYPE_CHECKING:
    from mlpilot.sdk._context import Context

_BATCH = 1000


@dataclass(frozen=True)
class BackupSummary:
    """What :func:`backup` wrote.

    Attributes:
        path: the backup directory or archive.
        created_at: when the snapshot was taken (UTC).
        revision: the Alembic schema revision the rows were read at.
        source: the metadata store URL, password hidden.
        dialect: ``"sqlite"`` or ``"postgresql"``.
        consistency: how the snapshot was taken, in words.
        tables: rows per table, in restore order.
        artifacts: how many blobs were copied (each verified).
        artifact_bytes: their total size.
        missing_embedded: digests cited inside JSON values (e.g. an old check report)
            that the artifact store no longer holds; recorded, not fatal.
        inference_log_files: files copied from the inference log, or None if left out.
        files: files in the backup, manifest included.
        size_bytes: total size of the backup on disk.
        seconds: wall-clock time taken.
    """

    path: Path
    created_at: datetime
    revision: str
    source: str
    dialect: str
    consistency: str
    tables: dict[str, int]
    artifacts: int
    artifact_bytes: int
    missing_embedded: tuple[str, ...] = ()
    inference_log_files: int | None = None
    files: int = 0
    size_bytes: int = 0
    seconds: float = 0.0


@dataclass
class _Snapshot:
    revision: str
    tables: dict[str, int] = field(default_factory=dict)
    required: dict[str, str] = field(default_factory=dict)  # digest -> what cites it
    embedded: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256


def backup(context: Context, path: str | os.PathLike[str], *,
           include_log: bool = False) -> BackupSummary:
    """Write a consistent, verified snapshot of ``context``'s stores to ``path``.

    Safe to run while the system is in use (see the module docstring for how each
    database gives a consistent snapshot).

    Args:
        context: the stores to back up.
        path: a directory that does not exist yet (or is empty), or an archive file
            name ending in ``.tar``, ``.tar.gz`` or ``.tgz`` that does not exist yet.
        include_log: also copy ``$MLPILOT_HOME/inference-log`` (crash-consistent).

    Returns:
        A :class:`BackupSummary`.

    Raises:
        BackupError: if ``path`` is taken, or a referenced artifact is missing or
            fails its sha256 check (the message names it); nothing is left at ``path``.
        StoreUnavailable: if the metadata store cannot be read.
    """
    started = time.monotonic()
    target = Path(path).expanduser().absolute()
    compression = archive_kind(target)
    _check_free(target, compression is not None)
    target.parent.mkdir(parents=True, exist_ok=True)
    created = utcnow()
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    partial_archive: Path | None = None
    try:
        snap = _export_metadata(context.store.read_engine, staging)
        sizes, missing = _copy_artifacts(context.artifacts, snap, staging)
        log_files = None
        if include_log:
            log_files = _copy_log(Path(context.settings.home) / LOG_DIR, staging, snap)
        source = _display_url(context.store.url)
        dialect = context.store.read_engine.dialect.name
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "mlpilot_version": __version__,
            "created_at": created.isoformat(),
            "revision": snap.revision,
            "source": {"store_url": source, "dialect": dialect,
                       "artifact_url": context.artifacts.url},
            "consistency": _CONSISTENCY[dialect],
            "tables": {name: {"rows": rows, "file": f"{TABLES_DIR}/{name}.jsonl"}
                       for name, rows in snap.tables.items()},
            "artifacts": sizes,
            "missing_embedded_artifacts": sorted(missing),
            "inference_log": None if log_files is None else {"files": log_files},
            "files": dict(sorted(snap.files.items())),
        }
        _write_manifest(staging, manifest)
        size = sum(p.stat().st_size for p in staging.rglob("*") if p.is_file())
        if compression is None:
            _finish_directory(staging, target)
        else:
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.partial-", dir=target.parent)
            os.close(fd)
            partial_archive = Path(name)
            write_archive(staging, partial_archive, compression)
            fsync_file(partial_archive)
            os.replace(partial_archive, target)
            partial_archive = None
            fsync_dir(target.parent)
            size = target.stat().st_size
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if partial_archive is not None:
            partial_archive.unlink(missing_ok=True)
    return BackupSummary(
        path=target, created_at=created, revision=snap.revision, source=source,
        dialect=dialect, consistency=_CONSISTENCY[dialect], tables=snap.tables,
        artifacts=len(sizes), artifact_bytes=sum(sizes.values()),
        missing_embedded=tuple(sorted(missing)), inference_log_files=log_files,
        files=len(snap.files) + 2, size_bytes=size, seconds=time.monotonic() - started)


_CONSISTENCY = {
    "postgresql": "one REPEATABLE READ, READ ONLY transaction (a single MVCC snapshot)",
    "sqlite": "one read transaction in WAL mode (a single WAL snapshot)",
}


def _check_free(target: Path, archive: bool) -> None:
    if archive:
        if target.exists() or target.is_symlink():
            raise BackupError(f"The backup archive {str(target)!r} already exists; a backup "
                              "never overwrites another. Choose a new file name.")
        return
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise BackupError(f"{str(target)!r} exists and is not a directory. Back up into a new "
                          "directory, or name a .tar / .tar.gz archive.")
    if target.is_dir() and any(target.iterdir()):
        raise BackupError(f"The backup directory {str(target)!r} is not empty; a backup never "
                          "overwrites another. Choose a new or empty directory.")


def _display_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL was already refused by Store.open
        return "<store URL>"


# -- metadata ---------------------------------------------------------------------------
@contextlib.contextmanager
def snapshot_connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside one read-only transaction that sees a single snapshot.

    PostgreSQL: ``REPEATABLE READ, READ ONLY``. SQLite: a deferred ``BEGIN`` whose
    first read pins the WAL snapshot for the whole transaction.

    Raises:
        StoreUnavailable: if the database cannot be reached.
    """
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ",
                                              postgresql_readonly=True)
            with conn.begin():
                yield conn
    except sa_exc.OperationalError as exc:
        raise StoreUnavailable(
            f"The metadata store cannot be read for a backup ({type(exc).__name__}: "
            f"{str(exc.orig).splitlines()[0] if exc.orig else exc}).") from exc


def _export_metadata(engine: Engine, staging: Path) -> _Snapshot:
    (staging / TABLES_DIR).mkdir()
    with snapshot_connection(engine) as conn:
        # The first read pins the snapshot; the revision is read inside it too.
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        if revision is None:
            raise BackupError("The metadata store has no schema yet; there is nothing to back "
                              "up. Run `mlpilot init`, or check MLPILOT_STORE_URL.")
        snap = _Snapshot(revision=str(revision))
        meta = MetaData()
        meta.reflect(bind=conn)
        model_names: dict[Any, str] = {}
        for table in meta.sorted_tables:
            if table.name == "alembic_version":
                continue
            _export_table(conn, table, staging, snap, model_names)
    return snap


def _export_table(conn: Connection, table: Table, staging: Path, snap: _Snapshot,
                  model_names: dict[Any, str]) -> None:
    relative = f"{TABLES_DIR}/{table.name}.jsonl"
    order = list(table.primary_key.columns) or list(table.columns)
    result = conn.execute(select(table).order_by(*order).execution_options(yield_per=_BATCH))
    json_columns = [c.name for c in table.columns if isinstance(c.type, JSON)]
    hasher, rows = hashlib.sha256(), 0
    with open(staging / relative, "wb") as out:
        for row in result:
            values = dict(row._mapping)
            line = (encode_row(values) + "\n").encode("utf-8")
            out.write(line)
            hasher.update(line)
            rows += 1
            _collect_refs(table.name, values, json_columns, snap, model_names)
        out.flush()
        os.fsync(out.fileno())
    snap.tables[table.name] = rows
    snap.files[relative] = "sha256:" + hasher.hexdigest()


def _collect_refs(table: str, row: dict[str, Any], json_columns: list[str], snap: _Snapshot,
                  model_names: dict[Any, str]) -> None:
    if table == "models":
        model_names[row.get("id")] = str(row.get("name"))
    column = ARTIFACT_COLUMNS.get(table)
    if column is not None and row.get(column) is not None:
        snap.required.setdefault(str(row[column]), _describe(table, row, model_names))
    for name in json_columns:
        for digest in embedded_digests(row.get(name)):
            snap.embedded.setdefault(digest, f"{table}.{name} of {_describe(table, row, {})}")


def _describe(table: str, row: dict[str, Any], model_names: dict[Any, str]) -> str:
    if table == "model_versions":
        model = model_names.get(row.get("model_id"), f"#{row.get('model_id')}")
        return f"model version {model}/{row.get('version')}"
    if table == "run_artifacts":
        return f"artifact {row.get('name')!r} of run {row.get('run_id')}"
    if table == "datasets":
        return f"dataset {row.get('name')!r} ({row.get('id')})"
    key = row.get("id", row.get("key", ""))
    return f"{table} row {key}"


# -- artifacts ---------------------------------------------------------------------------
def _copy_artifacts(artifacts: ArtifactStore, snap: _Snapshot,
                    staging: Path) -> tuple[dict[str, int], list[str]]:
    sizes: dict[str, int] = {}
    missing: list[str] = []
    wanted = dict(snap.required)
    for digest, label in snap.embedded.items():
        if digest in wanted:
            continue
        if not is_digest(digest) or not artifacts.exists(digest):
            missing.append(digest)  # cited in a report, no longer stored: keep the citation
            continue
        wanted[digest] = label
    for digest, label in sorted(wanted.items()):
        if not is_digest(digest):
            raise BackupError(f"Cannot back up {label}: its artifact digest {digest[:100]!r} "
                              "is malformed. Nothing was written.", artifact=label)
        dest = artifact_path(staging, digest)
        try:
            artifacts.download(digest, dest, name=label)
        except (NotFound, IntegrityError) as exc:
            raise BackupError(
                f"The backup was abandoned, nothing was written: {label} cites {digest}, and "
                f"{exc.message}", artifact=label, digest=digest) from exc
        fsync_file(dest)
        sizes[digest] = dest.stat().st_size
        snap.files[dest.relative_to(staging).as_posix()] = digest
    return sizes, missing


# -- inference log -------------------------------------------------------------------------
def _log_order(relative: Path) -> tuple[int, str]:
    # Segments before the ledger and Parquet partitions: a compaction racing the
    # copy can then only duplicate records (which recovery reconciles), never lose them.
    head = relative.parts[0]
    rank = {"segments": 0, "quarantine": 1, "ledger.jsonl": 2, "parquet": 3}.get(head, 4)
    return rank, relative.as_posix()


def _copy_log(source: Path, staging: Path, snap: _Snapshot) -> int:
    if not source.is_dir():
        return 0
    copied = 0
    files = [p.relative_to(source) for p in source.rglob("*")
             if p.is_file() and not p.is_symlink() and not p.name.endswith(".lock")]
    for relative in sorted(files, key=_log_order):
        dest = staging / LOG_DIR / relative
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(source / relative, "rb") as src, open(dest, "wb") as out:
                hexdigest, _ = copy_hashing(src, out)
                out.flush()
                os.fsync(out.fileno())
        except FileNotFoundError:  # compacted away meanwhile: its records are in Parquet
            dest.unlink(missing_ok=True)
            continue
        snap.files[dest.relative_to(staging).as_posix()] = "sha256:" + hexdigest
        copied += 1
    return copied


# -- finishing -------------------------------------------------------------------------------
def _write_manifest(staging: Path, manifest: dict[str, Any]) -> None:
    body = (json.dumps(manifest, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    with open(staging / MANIFEST, "wb") as out:
        out.write(body)
        out.flush()
        os.fsync(out.fileno())
    with open(staging / MANIFEST_SUM, "w", encoding="utf-8") as out:
        out.write(file_sha256(staging / MANIFEST) + "\n")
        out.flush()
        os.fsync(out.fileno())
    for directory in sorted({p.parent for p in staging.rglob("*")}, reverse=True):
        fsync_dir(directory)


def _finish_directory(staging: Path, target: Path) -> None:
    if target.is_dir():
        target.rmdir()  # empty, checked before; rename needs it gone
    os.rename(staging, target)
    fsync_dir(target.parent)
