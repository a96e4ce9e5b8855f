"""``mlpilot diagnose ALERT_ID``: rank the likely causes of an alert and write the report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from mlpilot.cli._context import open_context
from mlpilot.cli._output import err, out, print_json


def diagnose(
    alert_id: Annotated[int, typer.Argument(metavar="ALERT_ID", help="The alert to diagnose.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="DIR", file_okay=False,
                     help="Write the report here (default $MLPILOT_HOME/diagnoses/alert-<id>)."),
    ] = None,
    log_dir: Annotated[
        Path | None,
        typer.Option("--log-dir", metavar="DIR", file_okay=False,
                     help="The inference log (default $MLPILOT_HOME/inference-log)."),
    ] = None,
    lookback: Annotated[str, typer.Option(
        "--lookback", help="How far before the alert changes (deploys, alias moves) are "
                           "considered, e.g. 24h, 30m.")] = "24h",
    half_life: Annotated[str, typer.Option(
        "--half-life", help="The time gap at which a change's score halves, e.g. 6h.")] = "6h",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Rank the likely causes of an alert (drift × importance, attribution shift, worst
    slices, recent changes), write an HTML + JSON report and link it to the alert."""
    from mlpilot.diagnose import DiagnoseOptions, causes_table, diagnose_alert
    from mlpilot.monitor.runner import parse_duration

    options = DiagnoseOptions(lookback=parse_duration(lookback),
                              half_life=parse_duration(half_life))
    context = open_context()
    with err().status(f"Diagnosing alert {alert_id}…"):
        diagnosis = diagnose_alert(context, alert_id, log_dir=log_dir, output_dir=output,
                                   options=options)
    if as_json:
        print_json(diagnosis.to_dict())
        return
    console = out()
    if diagnosis.causes:
        console.print(causes_table(diagnosis))
    else:
        console.print(Text("No likely cause found.", style="dim"))
    for note in diagnosis.notes:
        console.print(Text(f"note: {note}", style="dim"))
    html = diagnosis.report_paths.get("diagnosis.html")
    if html:
        console.print(Text(f"Report: {html}"))


def register(app: typer.Typer) -> None:
    """Attach ``diagnose`` to the root app."""
    app.command("diagnose")(diagnose)
