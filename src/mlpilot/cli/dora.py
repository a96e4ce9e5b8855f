"""``mlpilot dora``: deployment frequency, lead time, change failure rate, MTTR, MTTD."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from mlpilot.cli._context import open_context
from mlpilot.cli._output import cell, empty, new_table, out, print_json


def dora(
    model: Annotated[str | None, typer.Option("--model", "-m", help="Only this model.")] = None,
    since: Annotated[
        str, typer.Option("--since", help="How far back: '30d', '12h', '2d12h'.")
    ] = "30d",
    bucket: Annotated[
        str, typer.Option("--bucket", help="Time buckets: day, week or month.")
    ] = "week",
    window: Annotated[
        str, typer.Option("--failure-window",
                          help="A rollback or alert this soon after a deployment fails it.")
    ] = "24h",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """DORA metrics for models: how often, how fast, how safely models reach production."""
    from mlpilot.core.clock import utcnow
    from mlpilot.monitor.monitor_config import parse_duration
    from mlpilot.pilot.dora import dora_metrics, fmt_seconds

    until = utcnow()
    span: timedelta = parse_duration(since)
    report = dora_metrics(open_context().store, model=model, since=until - span, until=until,
                          bucket=bucket, failure_window=parse_duration(window))
    if as_json:
        print_json(report.to_dict())
        return
    if not report.overall.deployments and not report.overall.incidents:
        empty(f"No deployments or alerts in the last {since}.")
        return
    table = new_table("scope", "deploys", "per day", "lead p50", "lead p90", "failure rate",
                      "MTTD", "MTTR", "alerts (open)",
                      title=f"DORA metrics, last {since} (failure window {window})")
    rows = [("all models", report.overall)] if model is None else []
    rows += list(report.models.items())
    rows += [(f"{bucket} of {start:%Y-%m-%d}", s) for start, s in report.buckets]
    for scope, s in rows:
        cfr = "—" if s.change_failure_rate is None else f"{s.change_failure_rate:.0%}"
        table.add_row(cell(scope, "cyan"), cell(s.deployments), cell(f"{s.deploys_per_day:.2f}"),
                      cell(fmt_seconds(s.lead_time_median_s)),
                      cell(fmt_seconds(s.lead_time_p90_s)),
                      cell(f"{cfr} ({s.failed})", "red" if s.failed else ""),
                      cell(fmt_seconds(s.mttd_median_s)), cell(fmt_seconds(s.mttr_median_s)),
                      cell(f"{s.incidents} ({s.open_incidents})"))
    out().print(table)


def register(app: typer.Typer) -> None:
    """Attach ``dora`` to the root app."""
    app.command("dora")(dora)
