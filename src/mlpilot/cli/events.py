"""``mlpilot events``: the audit log, newest first."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from mlpilot.cli._context import open_context
from mlpilot.cli._output import cell, empty, new_table, out, print_json, to_jsonable

PAYLOAD_WIDTH = 48


def _payload(payload: dict[str, object]) -> str:
    text = json.dumps(to_jsonable(payload), separators=(",", ":")) if payload else ""
    return text if len(text) <= PAYLOAD_WIDTH else text[: PAYLOAD_WIDTH - 1] + "…"


def events(
    target: Annotated[
        str | None,
        typer.Option("--target", "-t",
                     help="Only events on TARGET (a model name, 'model/3', a run id, …)."),
    ] = None,
    action: Annotated[
        str | None,
        typer.Option("--action", "-a", help="Only this action, e.g. alias.set or version.create."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=10_000, help="Show at most N events.")
    ] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show the audit log: who changed what, when and why."""
    found = open_context().store.list_events(target=target, action=action, limit=limit)
    if as_json:
        print_json(found)
        return
    if not found:
        empty("No events match." if target or action else "The audit log is empty.")
        return
    table = new_table("time", "actor", "action", "target", "reason", "details",
                      no_wrap=["action"])
    for e in found:
        table.add_row(cell(e.time), cell(e.actor), cell(e.action, "cyan"),
                      cell(e.target), cell(e.reason),
                      cell(_payload(e.payload), "dim"))
    out().print(table)


def register(app: typer.Typer) -> None:
    """Attach ``events`` to the root app."""
    app.command("events")(events)
