"""``mlpilot datasets``: registered dataset snapshots."""

from __future__ import annotations

from typing import Annotated

import typer

from mlpilot.cli._context import open_context
from mlpilot.cli._output import cell, empty, new_table, out, print_json, short_digest


def datasets(
    name: Annotated[str | None, typer.Option("--name", help="Only snapshots named NAME.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List dataset snapshots, newest first."""
    found = open_context().store.list_datasets(name)
    if as_json:
        print_json(found)
        return
    if not found:
        empty(f"No dataset snapshots named {name!r}." if name else
              "No datasets have been registered yet.")
        return
    table = new_table("id", "name", "rows", "columns", "digest", "created",
                      no_wrap=["rows", "columns"])
    for d in found:
        table.add_row(cell(d.id, "cyan"), cell(d.name, "bold"), cell(f"{d.num_rows:,}"),
                      cell(d.num_columns), cell(short_digest(d.digest)), cell(d.created_at))
    out().print(table)


def register(app: typer.Typer) -> None:
    """Attach ``datasets`` to the root app."""
    app.command("datasets")(datasets)
