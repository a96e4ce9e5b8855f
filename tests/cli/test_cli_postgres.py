"""The schema workflow on a team's PostgreSQL store: `db upgrade` is the only migrator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlpilot.sdk._context import set_context
from mlpilot.store import migrate
from mlpilot.store._sql.engine import make_engines
from mlpilot.testing import temporary_store_url

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_store_url(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """MLPILOT_STORE_URL on a fresh PostgreSQL schema."""
    with temporary_store_url("postgresql", tmp_path) as url:
        monkeypatch.setenv("MLPILOT_STORE_URL", url)
        yield url
        set_context(None)  # release the CLI's connections before the schema is dropped


def test_init_then_list_on_postgres(cli: Any, pg_store_url: str) -> None:
    assert json.loads(cli.ok("db", "current", "--json"))["current"] is None
    assert "created at schema" in cli.ok("init")
    assert "postgresql" in cli.ok("db", "current")
    assert json.loads(cli.ok("models", "--json")) == []


def test_older_postgres_schema_needs_db_upgrade(cli: Any, pg_store_url: str) -> None:
    read, write = make_engines(pg_store_url)
    migrate.upgrade(write, "0001")
    read.dispose()
    assert "Run `mlpilot db upgrade` first" in cli.fails("models")
    assert f"0001 → {migrate.head_revision()}" in cli.ok("db", "upgrade")
    assert json.loads(cli.ok("models", "--json")) == []
