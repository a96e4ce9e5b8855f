"""``mlpilot init`` and ``mlpilot db upgrade|current``: the home directory and the schema."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.text import Text

from mlpilot.cli._output import err, key_values, out, print_json
from mlpilot.core.errors import StoreUnavailable
from mlpilot.core.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

# SQLAlchemy, Alembic and the migrations are imported inside the functions: they
# take most of a second to load, which `mlpilot --help` should not pay.

db_app = typer.Typer(help="Inspect and migrate the metadata store schema.", no_args_is_help=True)


def _display_url(url: str) -> str:
    """The store URL with any password masked."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # malformed: make_engines reports it properly
        return "<malformed store URL>"


def _sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL, or None for other (or in-memory) stores."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


@contextlib.contextmanager
def _engines(url: str) -> Iterator[tuple[Engine, Engine]]:
    """Read and write engines on ``url``, disposed after use, errors translated.

    Raises:
        StoreUnavailable: if the database cannot be reached or the migration fails.
        InvalidArgument: if the URL is malformed.
    """
    from sqlalchemy import exc as sa_exc

    from mlpilot.store._sql.engine import make_engines

    read, write = make_engines(url)
    try:
        yield read, write
    except sa_exc.SQLAlchemyError as exc:
        raise StoreUnavailable(
            f"The metadata store at {_display_url(url)} failed ({type(exc).__name__}: "
            f"{str(getattr(exc, 'orig', exc)).splitlines()[0]}). Check MLPILOT_STORE_URL "
            "and that the database is running."
        ) from exc
    finally:
        read.dispose()


def _migrate(url: str, what: str) -> tuple[str | None, str | None]:
    """Bring the schema at ``url`` to head behind a spinner; return (before, after)."""
    from alembic.util import CommandError

    from mlpilot.store import migrate

    with _engines(url) as (read, write):
        before = migrate.current_revision(read)
        if before == migrate.head_revision():
            return before, before
        try:
            with err().status(f"{what} {_display_url(url)} …", spinner="dots"):
                after = migrate.upgrade(write)
        except CommandError as exc:
            raise StoreUnavailable(
                f"The metadata store schema is at revision {before!r}, which this mlpilot "
                f"(head {migrate.head_revision()}) cannot migrate: {exc}. If a newer mlpilot "
                "wrote it, upgrade mlpilot."
            ) from exc
        return before, after


def init() -> None:
    """Create the home directory (mode 0700) and the metadata store at the current schema."""
    settings = Settings.from_env()
    settings.ensure_home()
    before, after = _migrate(settings.store_url, "Creating the metadata store at")
    artifacts_local = "://" not in settings.artifact_url or settings.artifact_url.startswith(
        "file://")
    if artifacts_local and not settings.artifact_url.startswith("file://"):
        Path(settings.artifact_url).mkdir(mode=0o700, parents=True, exist_ok=True)
    if before is None:
        state = f"created at schema {after}"
    elif before == after:
        state = f"already at schema {after} (head)"
    else:
        state = f"upgraded {before} → {after}"
    console = out()
    console.print(Text.assemble(("mlpilot is ready", "green"), f" in {settings.home}"))
    console.print(key_values({
        "home": f"{settings.home} (mode 0700)",
        "metadata store": f"{_display_url(settings.store_url)} — {state}",
        "artifacts": settings.artifact_url,
        "actor": settings.actor,
    }))
    console.print("\nNext: register a model with the SDK, or try [bold]mlpilot demo[/].")


@db_app.command("upgrade")
def upgrade() -> None:
    """Migrate the metadata store to the newest schema this mlpilot knows."""
    from mlpilot.store import migrate

    url = Settings.from_env().store_url
    before, after = _migrate(url, "Migrating")
    head = migrate.head_revision()
    if before == after:
        out().print(f"The metadata store is already at the head revision ({head}); "
                    "nothing to do.", markup=False)
        return
    out().print(f"Upgraded the metadata store at {_display_url(url)}: "
                f"{before or '(empty)'} → {after}.", markup=False)


@db_app.command("current")
def current(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Show the schema revision of the metadata store and whether it is up to date."""
    from mlpilot.store import migrate

    url = Settings.from_env().store_url
    head = migrate.head_revision()
    sqlite_file = _sqlite_file(url)
    if sqlite_file is not None and not sqlite_file.exists():
        revision: str | None = None  # don't create the file just to look at it
    else:
        with _engines(url) as (read, _):
            revision = migrate.current_revision(read)
    report = {"store_url": _display_url(url), "current": revision, "head": head,
              "up_to_date": revision == head}
    if as_json:
        print_json(report)
        return
    console = Console(highlight=False, markup=False, soft_wrap=True)
    if revision is None:
        console.print(f"The metadata store at {report['store_url']} is empty (head is {head}). "
                      "Run `mlpilot init` to create it.")
    elif revision == head:
        console.print(f"{revision} (head) — {report['store_url']}")
    else:
        console.print(f"{revision} — behind head {head}; run `mlpilot db upgrade`. "
                      f"({report['store_url']})")


def register(app: typer.Typer) -> None:
    """Attach ``init`` and the ``db`` group to the root app."""
    app.command("init")(init)
    app.add_typer(db_app, name="db")

