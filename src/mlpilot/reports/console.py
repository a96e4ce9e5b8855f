"""The terminal view of a check report (Rich): a table of checks, evidence, the verdict.

Summaries and evidence are user data: they are wrapped in :class:`rich.text.Text`
and never parsed as Rich markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from mlpilot.checks._base import CheckResult, Verdict
from mlpilot.reports import _evidence as ev

if TYPE_CHECKING:
    from mlpilot.checks._report import CheckReport

__all__ = ["VERDICT_STYLES", "evidence_view", "final_line", "print_report", "verdict_text"]

VERDICT_STYLES = {
    Verdict.PASS: "bold green", Verdict.WARN: "bold yellow", Verdict.FAIL: "bold red",
    Verdict.ERROR: "bold magenta", Verdict.SKIP: "dim",
}
MAX_KEYS = 25
"""Top-level evidence entries shown in a panel before it says how many more there are."""
MAX_ROWS = 8
"""Rows of a list of records shown in a panel."""
MAX_ITEMS = 10
"""Scalars of a list shown inline."""
MAX_BARS = 10
"""Features in the importance bars."""


def verdict_text(verdict: Verdict) -> Text:
    """``PASS`` / ``FAIL`` / … in its colour."""
    return Text(verdict.value.upper(), style=VERDICT_STYLES[verdict])


def _short(value: Any) -> bool:
    """A scalar, or a list of at most 5 scalars: fits inline as ``key=value``."""
    return ev.is_scalar(value) or (isinstance(value, list | tuple) and len(value) <= 5
                                   and all(ev.is_scalar(v) for v in value))


def _inline(value: Any) -> str:
    if ev.is_scalar(value):
        return ev.fmt(value)
    return "[" + ", ".join(ev.fmt(v) for v in value) + "]"


def _value(value: Any, depth: int) -> RenderableType:
    if ev.is_scalar(value):
        return Text(ev.fmt(value), style="dim" if value is None else "")
    if depth >= 2:
        return Text(ev.compact_json(value, 160))
    if isinstance(value, Mapping):
        if not value:
            return Text("none", style="dim")
        if len(value) <= 8 and all(_short(v) for v in value.values()):
            return Text("  ".join(f"{k}={_inline(v)}" for k, v in value.items()))
        return _grid(value, depth + 1, limit=MAX_KEYS)
    if isinstance(value, list | tuple):
        items = list(value)
        if not items:
            return Text("none", style="dim")
        if all(ev.is_scalar(v) for v in items):
            more = len(items) - MAX_ITEMS
            text = ", ".join(ev.fmt(v) for v in items[:MAX_ITEMS])
            return Text(text + (f" … {more} more" if more > 0 else ""))
        if all(isinstance(v, Mapping) for v in items):
            return _records(items)
    return Text(ev.compact_json(value, 160))


def _records(items: list[Any]) -> RenderableType:
    columns: dict[str, None] = {}
    for row in items:
        columns.update(dict.fromkeys(str(k) for k in row))
    table = Table(show_edge=False, header_style="bold", pad_edge=False)
    for c in columns:
        table.add_column(Text(c), overflow="fold")
    for row in items[:MAX_ROWS]:
        table.add_row(*(Text(ev.fmt(row.get(c)) if ev.is_scalar(row.get(c))
                             else ev.compact_json(row.get(c), 80)) for c in columns))
    more = len(items) - MAX_ROWS
    return Group(table, Text(f"… {more} more rows", style="dim")) if more > 0 else table


def _grid(evidence: Mapping[str, Any], depth: int, limit: int) -> RenderableType:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column(overflow="fold")
    items = list(evidence.items())
    for key, value in items[:limit]:
        grid.add_row(Text(str(key)), _value(value, depth))
    if len(items) > limit:
        grid.add_row(Text("…", style="dim"),
                     Text(f"{len(items) - limit} more (see report.html)", style="dim"))
    return grid


def _importance_bars(evidence: Mapping[str, Any]) -> RenderableType | None:
    pairs = ev.importances(evidence)[:MAX_BARS]
    if not pairs:
        return None
    top = max((v for _, v in pairs), default=0.0) or 1.0
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column(justify="right")
    for name, value in pairs:
        width = max(int(round(max(value, 0.0) / top * 30)), 0)
        grid.add_row(Text(name), Text("█" * width or "▏", style="blue"), Text(f"{value:.1%}"))
    return Group(Text("Feature importance", style="bold"), grid)


def _metric_table(evidence: Mapping[str, Any]) -> RenderableType | None:
    rows, margin = ev.metric_rows(evidence)
    if not rows:
        return None
    title = "Metrics" + (f" (allowed degradation {ev.fmt(-margin)})" if margin else "")
    table = Table(title=title, title_justify="left", header_style="bold", show_edge=False)
    for column in ("metric", "candidate", "baseline", "improvement", "CI"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for r in rows:
        style = "" if r.low is None or not r.of_difference else (
            "green" if r.low > 0 else "red" if r.high is not None and r.high < (margin or 0)
            else "")
        table.add_row(Text(r.metric), Text(ev.fmt(r.candidate)), Text(ev.fmt(r.baseline)),
                      Text(ev.fmt(r.estimate), style=style),
                      Text(f"[{ev.fmt(r.low)}, {ev.fmt(r.high)}]", style=style))
    return table


def evidence_view(result: CheckResult) -> RenderableType:
    """A result's evidence: metric and importance views when present, then every entry."""
    evidence = result.evidence if isinstance(result.evidence, Mapping) else {}
    parts: list[RenderableType] = [Text(result.summary)]
    if (earlier := ev.carried_from(evidence)) is not None:
        parts.append(Text(f"Not re-run: kept from the report of {earlier}.", style="dim"))
    shown = {"carried_from"}  # entries drawn above are left out of the generic grid
    if (metrics := _metric_table(evidence)) is not None:
        parts.append(metrics)
        shown.add("metrics")
    if (bars := _importance_bars(evidence)) is not None:
        parts.append(bars)
        shown.update(("importances", "importances_raw", "chart"))
    rest = {k: v for k, v in evidence.items() if k not in shown}
    if rest:
        parts.append(_grid(rest, 0, limit=MAX_KEYS))
    return Group(*parts)


def print_report(report: CheckReport, console: Console | None = None) -> None:
    """Print ``report``: the checks table, evidence panels for problems, and the verdict.

    Args:
        report: the results of ``run_checks``.
        console: where to print; default: a console on stdout.
    """
    console = console or Console(highlight=False)
    table = Table(title=Text(f"Checks for {report.candidate}"
                             + (f" (baseline {report.baseline})" if report.baseline else "")),
                  title_justify="left", header_style="bold")
    table.add_column("check", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("summary", overflow="fold", ratio=1)
    table.add_column("duration", justify="right", no_wrap=True)
    for r in report.results:
        table.add_row(Text(r.check, style="bold"), verdict_text(r.verdict),
                      Text(r.severity.value, style="" if r.blocks else "dim"),
                      Text(r.summary), _duration(r))
    console.print(table)
    for r in report.results:
        if r.verdict in (Verdict.FAIL, Verdict.WARN, Verdict.ERROR):
            border = VERDICT_STYLES[r.verdict].replace("bold ", "")
            title = Text.assemble((r.check, "bold"), " ", verdict_text(r.verdict), " ",
                                  (r.severity.value, "dim"))
            console.print(Panel(evidence_view(r), title=title, title_align="left",
                                border_style=border))
    console.print(final_line(report))


def _duration(result: CheckResult) -> Text:
    if ev.carried_from(result.evidence):  # kept from an earlier report by a partial run
        return Text("earlier", style="dim")
    return Text(f"{result.duration_s:.2f} s")


def final_line(report: CheckReport) -> Text:
    """``BLESSED`` or ``NOT BLESSED — blocking failures: a, b``."""
    if report.blessed:
        counts = ", ".join(f"{n} {v}" for v, n in report.counts().items() if n)
        return Text.assemble(("BLESSED", "bold green"), f" — {report.candidate}"
                             + (f" ({counts})" if counts else ""))
    names = ", ".join(r.check for r in report.blocking_failures)
    return Text.assemble(("NOT BLESSED", "bold red"),
                         f" — {report.candidate}: blocking failures: {names}")
