"""``mlpilot init`` and ``mlpilot db upgrade|current``."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from mlpilot.store import migrate
from mlpilot.store._sql.engine import make_engines


def test_init_creates_private_home_and_database(cli: Any, home: Path) -> None:
    text = cli.ok("init")
    assert str(home) in text and "created at schema" in text
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert (home / "mlpilot.db").exists()
    status = json.loads(cli.ok("db", "current", "--json"))
    assert status["current"] == status["head"] == migrate.head_revision()
    assert status["up_to_date"] is True
    assert "already at schema" in cli.ok("init")  # idempotent


def test_home_option_overrides_environment(cli: Any, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    cli.ok("--home", str(other), "init")
    assert (other / "mlpilot.db").exists()
    assert json.loads(cli.ok("--home", str(other), "models", "--json")) == []


def test_db_current_does_not_create_a_database(cli: Any, home: Path) -> None:
    status = json.loads(cli.ok("db", "current", "--json"))
    assert status["current"] is None and status["up_to_date"] is False
    assert "Run `mlpilot init`" in cli.ok("db", "current")
    assert not (home / "mlpilot.db").exists()


def test_db_upgrade_from_an_older_revision(cli: Any, home: Path) -> None:
    home.mkdir()
    read, write = make_engines(f"sqlite:///{home / 'mlpilot.db'}")
    migrate.upgrade(write, "0001")
    read.dispose()
    assert "behind head" in cli.ok("db", "current")
    text = cli.ok("db", "upgrade")
    assert f"0001 → {migrate.head_revision()}" in text
    assert "nothing to do" in cli.ok("db", "upgrade")
    assert json.loads(cli.ok("db", "current", "--json"))["up_to_date"] is True


def test_unreachable_store_is_a_clean_error(cli: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("MLPILOT_STORE_URL", "mysql://nobody@nowhere/db")
    assert "supports SQLite and PostgreSQL" in cli.fails("models")
    assert "supports SQLite and PostgreSQL" in cli.fails("db", "upgrade")


def test_version_flag(cli: Any) -> None:
    from mlpilot import __version__

    assert cli.ok("--version").strip() == f"mlpilot {__version__}"
