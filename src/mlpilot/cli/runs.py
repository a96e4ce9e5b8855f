"""``mlpilot runs``: search training runs with the MLflow-style filter language."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

import typer
from rich.text import Text

from mlpilot.cli._context import open_context
from mlpilot.cli._output import NONE, cell, empty, new_table, out, print_json
from mlpilot.core.entities import Run, RunStatus

SHORT_ID = 8
"""Run ids are shown by their first 8 hex digits; ``show`` accepts any unique prefix."""

# (console width below which it applies, metric columns, param columns)
_KEY_COLUMNS = ((100, 2, 1), (140, 3, 2), (10**6, 4, 3))

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


def key_columns(
    runs: Sequence[Run], order_by: Sequence[str], width: int = 120
) -> tuple[list[str], list[str]]:
    """Pick the metric and param keys worth a column: ordered-by keys, then the most common.

    Args:
        runs: the runs to show.
        order_by: the ``--order-by`` items; their keys come first.
        width: the console width; wider consoles get more key columns.

    Returns:
        ``(metric_keys, param_keys)``.
    """
    max_metrics, max_params = next((m, p) for limit, m, p in _KEY_COLUMNS if width < limit)
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
    metrics = metrics[:max_metrics]
    params = wanted["params"] + [k for k, _ in sorted(param_counts.items(),
                                                      key=lambda kv: (-kv[1], kv[0]))
                                 if k not in wanted["params"] and k not in metrics]
    return metrics, params[:max_params]


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
    console = out()
    metric_keys, param_keys = key_columns(found, order, console.width)
    models = {r.model for r in found}
    by_model = len(models) > 1  # one model for all: say it in the title, save a column
    title = None if by_model else f"Runs of {next(iter(models))}" if None not in models else None
    columns = ["run", "name", *(["model"] if by_model else []), "status", "started", "duration",
               *metric_keys, *param_keys]
    table = new_table(*columns, title=title, no_wrap=["run", "status", "duration"])
    for r in found:
        table.add_row(
            cell(r.id[:SHORT_ID], "cyan"), cell(r.name), *([cell(r.model)] if by_model else []),
            cell(r.status.value, _STATUS_STYLE.get(r.status, "")), cell(r.start_time),
            cell(fmt_duration(r.start_time, r.end_time)),
            *(cell(r.metrics.get(k)) for k in metric_keys),
            *(cell(r.params.get(k)) for k in param_keys),
        )
    notes = []
    if metric_keys:
        notes.append(f"metrics: {', '.join(metric_keys)}")
    if param_keys:
        notes.append(f"params: {', '.join(param_keys)}")
    notes.append("`mlpilot show RUN` for everything")
    table.caption = Text(" · ".join(notes), style="dim")
    table.caption_justify = "left"
    console.print(table)
    if len(found) == max_results:
        console.print(Text(f"Showing the first {max_results}; raise --max to see more.",
                         style="dim"))


def register(app: typer.Typer) -> None:
    """Attach ``runs`` to the root app."""
    app.command("runs")(runs)
