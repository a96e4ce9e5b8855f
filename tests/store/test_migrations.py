"""Migrations: from empty to head, from the previous head with data, and schema == ORM."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from mlpilot.core.errors import StoreUnavailable
from mlpilot.store import Store, migrate
from mlpilot.store._sql.engine import make_engines
from mlpilot.store._sql.tables import Base


def test_fresh_database_is_created_at_head(store_url: str) -> None:
    store = Store.open(store_url)
    assert migrate.current_revision(store.read_engine) == migrate.head_revision()
    with store.read_engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], f"migrations and ORM tables disagree: {diff}"


def test_upgrade_from_previous_head_keeps_data(store_url: str) -> None:
    read, write = make_engines(store_url)
    assert migrate.upgrade(write, "0001") == "0001"
    with write.begin() as conn:
        conn.execute(text(
            "INSERT INTO models (name, description, tags, last_version, created_at, updated_at)"
            " VALUES ('old-model', 'from 0001', '{}', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
    if read.dialect.name == "postgresql":
        with pytest.raises(StoreUnavailable, match="mlpilot db upgrade"):
            Store.open(store_url)
        migrate.upgrade(write)
    store = Store.open(store_url)  # SQLite migrates itself; PostgreSQL was upgraded above
    assert migrate.current_revision(read) == migrate.head_revision()
    assert store.get_model("old-model").description == "from 0001"
    v = store.create_version("old-model", format="sklearn",
                             artifact_digest="sha256:" + "0" * 64, artifact_size=1)
    from mlpilot.core.entities import Route

    assert store.put_deployment("d", model="old-model", strategy="single",
                                routes=[Route(v.version, 1.0)]).revision == 1


def test_unreachable_store_is_a_clear_error() -> None:
    with pytest.raises(StoreUnavailable, match="cannot be reached"):
        Store.open("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_bad_store_urls() -> None:
    from mlpilot.core.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="SQLite and PostgreSQL"):
        Store.open("mysql://x@localhost/db")
    with pytest.raises(InvalidArgument, match="store URL"):
        Store.open("not a url")
