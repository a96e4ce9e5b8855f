"""``restore``: rebuild an mlpilot from a backup, into an empty metadata and artifact store.

Order of work, each step refusing before anything is written where it can:

1. unpack an archive into a private temporary directory (plain files only);
2. verify ``manifest.sha256``, then every file against the manifest (an altered,
   missing or added file refuses the backup, naming the file);
3. refuse a target that holds any row, any blob not from this backup, or an
   inference log; refuse a schema revision this mlpilot does not know;
4. create the schema at the backup's revision with the migrations;
5. copy the artifacts (re-hashed on the way in);
6. insert every row in one transaction, ids and timestamps as they were, then
   move PostgreSQL's id sequences past the restored ids;
7. count the rows of every table against the manifest.

A restore that fails at step 5-7 can simply be run again: the metadata
transaction left nothing behind, and blobs from this same backup are allowed.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    Integer,
    MetaData,
    Table,
    func,
    select,
    text,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from mlpilot.core.errors import StoreUnavailable
from mlpilot.core.settings import Settings
from mlpilot.ops._format import (
    LOG_DIR,
    BackupCorrupt,
    RestoreRefused,
    artifact_path,
    check_archive_or_dir,
    decode_row,
    extract_archive,
    load_manifest,
    verify_files,
)
from mlpilot.store import migrate
from mlpilot.store._sql.engine import make_engines
from mlpilot.store.artifacts import ArtifactStore, get_artifact_store

_BATCH = 500


@dataclass(frozen=True)
class RestoreSummary:
    """What :func:`restore` put back.

    Attributes:
        path: the backup restored from.
        revision: the schema revision the target was created at (the backup's).
        head: the newest revision this mlpilot knows; if it differs from ``revision``,
            ``mlpilot db upgrade`` (or opening a SQLite store) migrates the rest.
        backup_created_at: when the backup's snapshot was taken (ISO-8601).
        source: the store URL the backup was taken from (password hidden).
        target_store: the store restored into (password hidden).
        target_artifacts: the artifact store restored into.
        tables: rows per table, as checked after the restore.
        artifacts: blobs restored (each verified).
        artifact_bytes: their total size.
        inference_log_files: files of the inference log restored, or None.
        files_verified: backup files checked against the manifest.
        seconds: wall-clock time taken.
    """

    path: Path
    revision: str
    head: str
    backup_created_at: str
    source: str
    target_store: str
    target_artifacts: str
    tables: dict[str, int]
    artifacts: int
    artifact_bytes: int
    inference_log_files: int | None
    files_verified: int
    seconds: float


def verify_backup(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Check a backup's manifest and every file's sha256; return the manifest.

    Raises:
        BackupCorrupt: naming the first file that is missing, altered or unlisted.
        InvalidArgument: if ``path`` is neither a directory nor a backup archive.
    """
    with _opened(Path(path).expanduser().absolute()) as root:
        manifest = load_manifest(root)
        verify_files(root, manifest)
        return manifest


def restore(path: str | os.PathLike[str], target: Settings | None = None) -> RestoreSummary:
    """Restore the backup at ``path`` into the empty stores ``target`` names.

    Args:
        path: a backup directory or ``.tar`` / ``.tar.gz`` archive.
        target: where to restore (its store URL, artifact URL, and home for the
            inference log); default ``Settings.from_env()``.

    Returns:
        A :class:`RestoreSummary`.

    Raises:
        BackupCorrupt: the backup fails its checksums (the message names the file).
        RestoreRefused: the target is not empty, or its schema cannot take the backup.
        StoreUnavailable: the target database cannot be reached.
        InvalidArgument: ``path`` is neither a directory nor a backup archive.
    """
    started = time.monotonic()
    settings = target or Settings.from_env()
    source_path = Path(path).expanduser().absolute()
    with _opened(source_path) as root:
        manifest = load_manifest(root)
        verified = verify_files(root, manifest)
        revision = str(manifest.get("revision"))
        order = _revision_order()
        if revision not in order:
            raise RestoreRefused(
                f"The backup is at schema revision {revision!r}, which this mlpilot (head "
                f"{order[-1]}) does not know: a newer mlpilot wrote it. Upgrade mlpilot.")
        if settings.store_url.startswith("sqlite") or "://" not in settings.artifact_url:
            settings.ensure_home()
        read, write = make_engines(settings.store_url)
        try:
            artifacts = get_artifact_store(settings.artifact_url)
            backup_blobs = set(manifest.get("artifacts") or {})
            log_target = Path(settings.home) / LOG_DIR
            has_log = manifest.get("inference_log") is not None
            _check_empty(read, artifacts, backup_blobs, log_target if has_log else None,
                         revision, order)
            if migrate.current_revision(read) != revision:
                _translated(lambda: migrate.upgrade(write, revision), settings.store_url)
            sizes = _restore_artifacts(root, manifest, artifacts)
            _translated(lambda: _insert_rows(write, root, manifest), settings.store_url)
            log_files = _restore_log(root, log_target) if has_log else None
            counts = _translated(lambda: _count_rows(read), settings.store_url)
        finally:
            read.dispose()
            write.dispose()
    expected = {name: int(info["rows"]) for name, info in manifest["tables"].items()}
    if counts != expected:
        wrong = {n: (expected.get(n), counts.get(n)) for n in set(expected) | set(counts)
                 if expected.get(n) != counts.get(n)}
        raise RestoreRefused(f"After the restore the row counts differ from the backup's "
                             f"manifest (table: (expected, found)): {wrong}.")
    return RestoreSummary(
        path=source_path, revision=revision, head=order[-1],
        backup_created_at=str(manifest.get("created_at")),
        source=str((manifest.get("source") or {}).get("store_url")),
        target_store=_display_url(settings.store_url), target_artifacts=artifacts.url,
        tables=counts, artifacts=len(sizes), artifact_bytes=sum(sizes.values()),
        inference_log_files=log_files, files_verified=verified,
        seconds=time.monotonic() - started)


# -- opening -----------------------------------------------------------------------------------
@contextlib.contextmanager
def _opened(path: Path) -> Iterator[Path]:
    """Yield a directory holding the backup: ``path`` itself, or an unpacked archive."""
    check_archive_or_dir(path)
    if not path.exists():
        raise BackupCorrupt(f"No backup at {str(path)!r}. Check the path.", file=str(path))
    if path.is_dir():
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="mlpilot-restore-") as tmp:
        extract_archive(path, Path(tmp))
        yield Path(tmp)


def _display_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<store URL>"


def _revision_order() -> list[str]:
    """Every known revision, oldest first."""
    script = ScriptDirectory.from_config(migrate._config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def _translated(action: Any, url: str) -> Any:
    try:
        return action()
    except sa_exc.SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise StoreUnavailable(f"Restoring into {_display_url(url)} failed "
                               f"({type(exc).__name__}: {detail}).") from exc


# -- the target must be empty ---------------------------------------------------------------
def _check_empty(read: Engine, artifacts: ArtifactStore, backup_blobs: set[str],
                 log_dir: Path | None, revision: str, order: list[str]) -> None:
    url = read.url.render_as_string(hide_password=True)
    try:
        current = migrate.current_revision(read)
        with read.connect() as conn:
            meta = MetaData()
            meta.reflect(bind=conn)
            rows = {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                    for t in meta.sorted_tables if t.name != "alembic_version"}
    except sa_exc.SQLAlchemyError as exc:
        raise StoreUnavailable(f"The restore target {url} cannot be read "
                               f"({type(exc).__name__}).") from exc
    full = {name: count for name, count in rows.items() if count}
    if full:
        held = ", ".join(f"{name}: {count} rows" for name, count in sorted(full.items()))
        raise RestoreRefused(
            f"The metadata store {url} is not empty ({held}). A restore only goes into an "
            "empty store; name a new home, database or schema.")
    if current is None and rows:
        raise RestoreRefused(f"The database {url} holds tables {sorted(rows)} but no mlpilot "
                             "schema; restore into an empty database or schema.")
    if current is not None and current != revision:
        if current not in order or order.index(current) > order.index(revision):
            raise RestoreRefused(
                f"The metadata store {url} is empty but at schema revision {current}, newer "
                f"than the backup's {revision}. Restore into a fresh database or schema "
                "(the restore creates the schema itself).")
    foreign = next((d for d in artifacts.iter_digests() if d not in backup_blobs), None)
    if foreign is not None:
        raise RestoreRefused(f"The artifact store {artifacts.url} is not empty (it holds "
                             f"{foreign}, which is not from this backup). A restore only goes "
                             "into an empty artifact store.")
    if log_dir is not None and log_dir.is_dir() and any(log_dir.iterdir()):
        raise RestoreRefused(f"The inference log {str(log_dir)!r} is not empty; a restore "
                             "never mixes logs. Move it away or restore into a new home.")


# -- copying -------------------------------------------------------------------------------------
def _restore_artifacts(root: Path, manifest: dict[str, Any],
                       artifacts: ArtifactStore) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for digest in sorted(manifest.get("artifacts") or {}):
        ref = artifacts.put_file(artifact_path(root, digest))
        if ref.digest != digest:  # verified a moment ago; changed under us
            raise BackupCorrupt(f"Backup artifact {digest} changed while being restored "
                                f"(it now hashes to {ref.digest}).", file=digest)
        sizes[digest] = ref.size
    return sizes


def _restore_log(root: Path, target: Path) -> int:
    source = root / LOG_DIR
    copied = 0
    if not source.is_dir():
        return 0
    for path in sorted(source.rglob("*")):
        if path.is_file():
            dest = target / path.relative_to(source)
            dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
            copied += 1
    return copied


def _read_rows(root: Path, relative: str, table: Table) -> Iterator[dict[str, Any]]:
    with open(root / relative, encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield decode_row(line, table)


def _insert_rows(write: Engine, root: Path, manifest: dict[str, Any]) -> None:
    listed: dict[str, Any] = manifest["tables"]
    with write.connect() as conn, conn.begin():
        meta = MetaData()
        meta.reflect(bind=conn)
        tables = [t for t in meta.sorted_tables if t.name != "alembic_version"]
        names = {t.name for t in tables}
        if names != set(listed):
            raise RestoreRefused(
                f"The schema at revision {manifest.get('revision')} has tables {sorted(names)}, "
                f"the backup has {sorted(listed)}; the backup does not fit this schema.")
        postgres = conn.dialect.name == "postgresql"
        for table in tables:
            for column in table.columns:
                if isinstance(column.type, JSON):
                    # None in a nullable JSON column is SQL NULL, as the store writes it.
                    column.type = JSON(none_as_null=True)
            batch: list[dict[str, Any]] = []
            for row in _read_rows(root, listed[table.name]["file"], table):
                batch.append(_pg_json_safe(row, table) if postgres else row)
                if len(batch) >= _BATCH:
                    conn.execute(table.insert(), batch)
                    batch = []
            if batch:
                conn.execute(table.insert(), batch)
        if postgres:
            _reset_sequences(conn, tables)


def _pg_json_safe(row: dict[str, Any], table: Table) -> dict[str, Any]:
    # SQLite's JSON text may hold NaN; PostgreSQL's json type refuses it. The store
    # itself turns NaN into null on the way in, so do the same here.
    for name, value in row.items():
        if isinstance(table.columns[name].type, JSON):
            row[name] = _finite(value)
    return row


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _reset_sequences(conn: Connection, tables: list[Table]) -> None:
    """Move each serial id sequence past the restored ids, so new rows get fresh ids."""
    quote = conn.dialect.identifier_preparer.quote
    for table in tables:
        keys = list(table.primary_key.columns)
        if len(keys) != 1 or not isinstance(keys[0].type, Integer):
            continue
        sequence = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                {"t": quote(table.name), "c": keys[0].name}).scalar()
        if sequence:
            conn.execute(text(f"SELECT setval(:s, COALESCE((SELECT MAX({quote(keys[0].name)}) "
                              f"FROM {quote(table.name)}), 0) + 1, false)"), {"s": sequence})


def _count_rows(read: Engine) -> dict[str, int]:
    with read.connect() as conn:
        meta = MetaData()
        meta.reflect(bind=conn)
        return {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in meta.sorted_tables if t.name != "alembic_version"}

