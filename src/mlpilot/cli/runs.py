"""``mlpilot runs``: search training runs with the MLflow-style filter language."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

import typer

from mlpilot.cli._context import open_context
from mlpilot.cli._output import NONE, cell, empty, new_table, out, print_json
from mlpilot.core.entities import Run, RunStatus

MAX_METRIC_COLUMNS = 4
MAX_PARAM_COLUMNS = 3

_STATUS_STYLE = {RunStatus.FINISHED: "green", RunStatus.RUNNING: "yellow",
                 RunStatus.FAILED: "red", RunStatus.KILLED: "red"}


def fmt_duration(start: datetime, end: datetime | None) -> str:
    """``1h02m``, ``3m05s``, ``4.2s``; a dash while the run has not ended."""
    if end is None:
        return NONE
    seconds = max((end - start).total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def key_columns(runs: Sequence[Run], order_by: Sequence[str]) -> tuple[list[str], list[str]]:
    """Pick the metric and param keys worth a column: ordered-by keys, then the most common.

    Returns:
        ``(metric_keys, param_keys)``.
    """
    wanted: dict[str, list[str]] = {"metrics": [], "params": []}
    for item in order_by:
        parts = item.strip().rsplit(None, 1)
        if len(parts) == 2 and parts[1].lower() in ("asc", "desc"):
            item = parts[0]
        scope, _, key = item.strip().partition(".")
        key = key.strip("`")
        if scope in wanted and key and key not in wanted[scope]:
            wanted[scope].append(key)
    metric_counts = Counter(k for r in runs for k in r.metrics)
    param_counts = Counter(k for r in runs for k in r.params)
    metrics = wanted["metrics"] + [k for k, _ in sorted(metric_counts.items(),
                                                        key=lambda kv: (-kv[1], kv[0]))
                                   if k not in wanted["metrics"]]
    params = wanted["params"] + [k for k, _ in sorted(param_counts.items(),
                                                      key=lambda kv: (-kv[1], kv[0]))
                                 if k not in wanted["params"]]
    return metrics[:MAX_METRIC_COLUMNS], params[:MAX_PARAM_COLUMNS]


def runs(
    model: Annotated[str | None, typer.Option("--model", "-m", help="Only runs of MODEL.")] = None,
    filter: Annotated[
        str | None,
        typer.Option("--filter", "-f", metavar="EXPR",
                     help="e.g. \"metrics.auc > 0.8 and params.max_depth = '6' and "
                          "status = 'finished'\"."),
    ] = None,
    order_by: Annotated[
        list[str] | None,
        typer.Option("--order-by", "-o", metavar="KEY",
                     help="e.g. 'metrics.auc DESC' or 'start_time'; repeat for ties."),
    ] = None,
    max_results: Annotated[
        int, typer.Option("--max", "-n", min=1, max=100_000, help="Show at most N runs.")
    ] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List training runs, newest first unless --order-by says otherwise."""
    order = list(order_by or [])
    found = open_context().store.search_runs(filter, model=model, order_by=order,
                                             max_results=max_results)
    if as_json:
        print_json(found)
        return
    if not found:
        empty("No runs match." if filter or model else "No runs have been logged yet.")
        return
    metric_keys, param_keys = key_columns(found, order)
    table = new_table("run id", "name", "model", "status", "started", "duration",
                      *(f"metrics.{k}" for k in metric_keys),
                      *(f"params.{k}" for k in param_keys))
    for r in found:
        table.add_row(
            cell(r.id, "cyan"), cell(r.name), cell(r.model),
            cell(r.status.value, _STATUS_STYLE.get(r.status, "")), cell(r.start_time),
            cell(fmt_duration(r.start_time, r.end_time)),
            *(cell(r.metrics.get(k)) for k in metric_keys),
            *(cell(r.params.get(k)) for k in param_keys),
        )
    out().print(table)
    if len(found) == max_results:
        out().print(f"[dim]Showing the first {max_results}; raise --max to see more.[/]")


def register(app: typer.Typer) -> None:
    """Attach ``runs`` to the root app."""
    app.command("runs")(runs)
