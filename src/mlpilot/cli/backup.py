"""``mlpilot backup`` and ``mlpilot restore``: disaster recovery for a whole installation."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from mlpilot.cli._context import open_context
from mlpilot.cli._output import (
    cell,
    err,
    fmt_size,
    key_values,
    new_table,
    out,
    print_json,
    print_views,
    warn,
)

if TYPE_CHECKING:
    from mlpilot.core.settings import Settings


def _tables(counts: dict[str, int]) -> Any:
    table = new_table("table", "rows", title="Tables", no_wrap=["rows"])
    for name, rows in sorted(counts.items()):
        table.add_row(cell(name), cell(rows, "" if rows else "dim"))
    table.add_row(Text("total", style="bold"), Text(str(sum(counts.values())), style="bold"))
    return table


def backup(
    path: Annotated[Path, typer.Argument(
        help="A new directory, or an archive ending in .tar, .tar.gz or .tgz.")],
    include_log: Annotated[bool, typer.Option(
        "--include-log",
        help="Also copy the inference log (bulky; copied crash-consistently, not at the "
             "metadata's snapshot instant). Off by default.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Write a consistent, verified snapshot of the metadata and artifacts, while running."""
    from mlpilot.ops import backup as run_backup

    context = open_context()
    with err().status(f"Backing up to {path} …", spinner="dots"):
        summary = run_backup(context, path, include_log=include_log)
    if as_json:
        print_json(summary)
        return
    for digest in summary.missing_embedded:
        warn(f"{digest} is cited in a report but no longer stored; the citation is kept.")
    log = ("not included" if summary.inference_log_files is None
           else f"{summary.inference_log_files} files")
    header = key_values({
        "backup": str(summary.path),
        "taken at": summary.created_at,
        "source": f"{summary.source} ({summary.dialect}, schema {summary.revision})",
        "consistency": summary.consistency,
        "artifacts": f"{summary.artifacts} verified ({fmt_size(summary.artifact_bytes)})",
        "inference log": log,
        "size": f"{fmt_size(summary.size_bytes)} in {summary.files} files "
                f"({summary.seconds:.1f} s)",
    })
    out().print(Text("Backup complete", style="green"))
    print_views([header, _tables(summary.tables)])


def _target(home: Path | None, store_url: str | None, artifact_url: str | None) -> Settings:
    from mlpilot.core.settings import Settings

    if home is None:
        base = Settings.from_env()
    else:
        root = home.expanduser().absolute()
        # --home names a whole new installation: its own SQLite file and artifacts,
        # whatever MLPILOT_STORE_URL / MLPILOT_ARTIFACT_URL say.
        base = Settings(home=root, store_url=f"sqlite:///{root / 'mlpilot.db'}",
                        artifact_url=str(root / "artifacts"), actor=Settings.from_env().actor)
    return Settings(home=base.home, store_url=store_url or base.store_url,
                    artifact_url=artifact_url or base.artifact_url, actor=base.actor)


def restore(
    path: Annotated[Path, typer.Argument(help="A backup directory or .tar / .tar.gz archive.")],
    home: Annotated[Path | None, typer.Option(
        "--home", metavar="DIR", file_okay=False,
        help="Restore into a new home DIR (SQLite + local artifacts), whatever MLPILOT_* say.",
    )] = None,
    store_url: Annotated[str | None, typer.Option(
        "--store-url", metavar="URL", help="Restore the metadata into this empty database.",
    )] = None,
    artifact_url: Annotated[str | None, typer.Option(
        "--artifact-url", metavar="URL", help="Restore the artifacts into this empty store.",
    )] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Restore a backup into an EMPTY home, database and artifact store (never merges)."""
    from mlpilot.ops import restore as run_restore

    target = _target(home, store_url, artifact_url)
    with err().status(f"Restoring {path} …", spinner="dots"):
        summary = run_restore(path, target)
    if as_json:
        print_json(summary)
        return
    header = key_values({
        "backup": f"{summary.path} (taken {summary.backup_created_at})",
        "from": summary.source,
        "metadata": f"{summary.target_store} (schema {summary.revision})",
        "artifacts": f"{summary.target_artifacts}: {summary.artifacts} verified "
                     f"({fmt_size(summary.artifact_bytes)})",
        "inference log": ("not in the backup" if summary.inference_log_files is None
                          else f"{summary.inference_log_files} files"),
        "checked": f"{summary.files_verified} files against the manifest, row counts after "
                   f"({summary.seconds:.1f} s)",
    })
    out().print(Text("Restore complete", style="green"))
    print_views([header, _tables(summary.tables)])
    if summary.revision != summary.head:
        warn(f"The restored schema is at {summary.revision}; this mlpilot's head is "
             f"{summary.head}. Run `mlpilot db upgrade` against it.")


def register(app: typer.Typer) -> None:
    """Attach ``backup`` and ``restore`` to the root app."""
    app.command("backup")(backup)
    app.command("restore")(restore)
