"""``mlpilot alerts [show|ack|resolve]``: what the monitor found, and who is on it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.console import RenderableType
from rich.panel import Panel
from rich.syntax import Syntax
from rich.text import Text

from mlpilot.cli._context import open_context
from mlpilot.cli._output import (
    cell,
    empty,
    fmt_time,
    key_values,
    new_table,
    out,
    print_json,
    print_views,
    to_jsonable,
)
from mlpilot.core.clock import as_utc, utcnow
from mlpilot.core.entities import ALERT_STATUSES, Alert

SEVERITY_STYLES = {"critical": "bold red", "warning": "yellow", "info": "blue"}
STATUS_STYLES = {"open": "red", "acknowledged": "yellow", "resolved": "green"}

alerts_app = typer.Typer(
    help="List alerts, show one, acknowledge or resolve it. Without a command: the list.",
    invoke_without_command=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
AlertIdArg = Annotated[int, typer.Argument(metavar="ID", min=1, help="The alert id.")]
NoteOption = Annotated[str, typer.Option("--note", "-m", help="Why; kept on the alert.")]


def fmt_age(since: datetime, now: datetime | None = None) -> str:
    """``45s``, ``12m``, ``3h``, ``2d``: how long ago ``since`` was."""
    seconds = max(0, int(((now or utcnow()) - as_utc(since)).total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _severity(alert: Alert) -> Text:
    return cell(alert.severity, SEVERITY_STYLES.get(alert.severity, ""))


def _status(alert: Alert) -> Text:
    return cell(alert.status, STATUS_STYLES.get(alert.status, ""))


@alerts_app.callback()
def alerts(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option("--status", "-s", metavar="STATUS",
                     help=f"Only alerts in this state: {', '.join(ALERT_STATUSES)}."),
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="Only this model's.")] = None,
    all_: Annotated[
        bool, typer.Option("--all", "-a", help="Include resolved alerts (default: active only).")
    ] = False,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=10_000, help="Show at most N alerts.")
    ] = 50,
    as_json: JsonOption = False,
) -> None:
    """Show alerts, newest first: active ones unless --all or --status says otherwise."""
    if ctx.invoked_subcommand is not None:
        return
    active = None if all_ or status is not None else True
    found = open_context().store.list_alerts(status=status, model=model, active=active,
                                             limit=limit)
    if as_json:
        print_json(found)
        return
    if not found:
        filtered = status is not None or model is not None
        empty("No alerts match." if filtered else
              "No active alerts." if active else "No alerts yet.")
        return
    now = utcnow()
    table = new_table("id", "severity", "status", "model", "kind", "title", "occurrences",
                      "first seen", "last seen", "age",
                      no_wrap=["id", "severity", "status", "occurrences"])
    for a in found:
        table.add_row(cell(a.id, "cyan"), _severity(a), _status(a), cell(a.model),
                      cell(a.kind), cell(a.title), cell(a.occurrences), cell(a.first_seen),
                      cell(a.last_seen), cell(fmt_age(a.first_seen, now), "dim"))
    out().print(table)


@alerts_app.command("show")
def show(alert_id: AlertIdArg, as_json: JsonOption = False) -> None:
    """One alert: its lifecycle, evidence and diagnosis."""
    alert = open_context().store.get_alert(alert_id)
    if as_json:
        print_json(alert)
        return
    rows: dict[str, object] = {
        "severity": _severity(alert), "status": _status(alert), "model": alert.model,
        "deployment": alert.deployment, "kind": alert.kind, "key": alert.key,
        "occurrences": alert.occurrences,
        "first seen": fmt_time(alert.first_seen), "last seen": fmt_time(alert.last_seen),
        "age": fmt_age(alert.first_seen),
    }
    if alert.acknowledged_at is not None:
        rows["acknowledged"] = f"{fmt_time(alert.acknowledged_at)} by {alert.acknowledged_by}"
    if alert.resolved_at is not None:
        rows["resolved"] = f"{fmt_time(alert.resolved_at)} by {alert.resolved_by}"
    if alert.note:
        rows["note"] = alert.note
    views: list[RenderableType] = [Text(f"Alert #{alert.id}: {alert.title}", style="bold"),
                           key_values(rows)]
    if alert.summary:
        views.append(Text(alert.summary))
    if alert.evidence:
        views.append(Panel(_json_view(alert.evidence), title="evidence", title_align="left"))
    if alert.diagnosis:
        views.append(_diagnosis(alert.diagnosis))
    print_views(views)


def _json_view(data: dict[str, object]) -> Syntax:
    text = json.dumps(to_jsonable(data), indent=2, ensure_ascii=False)
    return Syntax(text, "json", theme="ansi_dark", word_wrap=True, background_color="default")


def _diagnosis(diagnosis: dict[str, object]) -> Panel:
    summary = diagnosis.get("summary")
    causes = diagnosis.get("causes") or diagnosis.get("ranked_causes")
    if isinstance(summary, str) and summary:
        body: RenderableType = Text(summary)
        if isinstance(causes, list) and causes:
            lines = [summary, ""] + [f"{i}. {_cause(c)}" for i, c in enumerate(causes[:5], 1)]
            body = Text("\n".join(lines))
    else:
        body = _json_view(diagnosis)
    return Panel(body, title="diagnosis", title_align="left")


def _cause(cause: object) -> str:
    if isinstance(cause, dict):
        label = cause.get("summary") or cause.get("cause") or cause.get("name")
        if label:
            score = cause.get("score")
            return f"{label} ({score})" if score is not None else str(label)
        return json.dumps(to_jsonable(cause), ensure_ascii=False)
    return str(cause)


@alerts_app.command("ack")
def ack(alert_id: AlertIdArg, note: NoteOption = "", as_json: JsonOption = False) -> None:
    """Acknowledge an alert: someone is on it (reminders stop, escalations still notify)."""
    alert = open_context().store.acknowledge_alert(alert_id, note)
    if as_json:
        print_json(alert)
        return
    out().print(Text(f"Acknowledged alert #{alert.id}: {alert.title}"))


@alerts_app.command("resolve")
def resolve(alert_id: AlertIdArg, note: NoteOption = "", as_json: JsonOption = False) -> None:
    """Resolve an alert; the next signal with its key opens a new one."""
    alert = open_context().store.resolve_alert(alert_id, note)
    if as_json:
        print_json(alert)
        return
    out().print(Text(f"Resolved alert #{alert.id}: {alert.title}"))


def register(app: typer.Typer) -> None:
    """Attach the ``alerts`` group to the root app."""
    app.add_typer(alerts_app, name="alerts")
