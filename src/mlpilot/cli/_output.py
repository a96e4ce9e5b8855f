"""Shared rendering for the ``mlpilot`` command: consoles, tables, JSON and errors.

Tables and panels go to stdout through Rich; spinners, warnings and errors go to
stderr so that ``--json`` output stays machine-readable when piped. Every value
that comes from the store is wrapped in :class:`rich.text.Text` before it reaches
a table: names, reasons and params are user data and must never be parsed as
Rich markup.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from mlpilot.core.errors import MlpilotError

NONE = "—"
"""What an empty cell shows."""


def out() -> Console:
    """A console on the current stdout (created per call so test runners can swap it)."""
    return Console(highlight=False)


def err() -> Console:
    """A console on the current stderr, for errors, warnings and spinners."""
    return Console(stderr=True, highlight=False)


# -- JSON ---------------------------------------------------------------------------
def to_jsonable(value: Any) -> Any:
    """Turn entities (frozen dataclasses), enums, datetimes and paths into JSON values.

    Args:
        value: any mix of dataclasses, mappings, sequences and scalars.

    Returns:
        The same data built only from dicts, lists, strings, numbers, booleans and None.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    return value


def print_json(data: Any) -> None:
    """Write ``data`` as indented JSON on stdout (no Rich: no wrapping, no colour)."""
    sys.stdout.write(json.dumps(to_jsonable(data), indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


# -- cells --------------------------------------------------------------------------
def cell(value: Any, style: str = "") -> Text:
    """A table cell holding ``value`` literally (never parsed as markup)."""
    if value is None or value == "":
        return Text(NONE, style="dim")
    if isinstance(value, Text):
        return value
    if isinstance(value, datetime):
        return Text(fmt_time(value, seconds=False), style=style)
    if isinstance(value, float):
        return Text(fmt_number(value), style=style)
    return Text(str(value), style=style)


def fmt_time(value: datetime | None, *, seconds: bool = True) -> str:
    """``2024-05-01 12:03:04`` in UTC (the store's clock), or a dash.

    Args:
        value: an aware datetime, or None.
        seconds: False drops the seconds (table cells, where width is scarce).
    """
    if value is None:
        return NONE
    return value.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def fmt_number(value: float | int | None) -> str:
    """Up to 4 significant decimals, without trailing noise (``0.9123``, ``12``, ``1.5e-05``)."""
    if value is None:
        return NONE
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.6g}"


def fmt_delta(value: float | None) -> Text:
    """A signed difference: green when up, red when down (direction, not goodness)."""
    if value is None:
        return Text(NONE, style="dim")
    if value == 0:
        return Text("0", style="dim")
    if 1e-4 <= abs(value) < 1e4:
        text = f"{value:+.4f}".rstrip("0").rstrip(".")
    else:
        text = f"{value:+.4g}"
    return Text(text, style="green" if value > 0 else "red")


def fmt_metrics(metrics: Mapping[str, float], limit: int = 4) -> str:
    """``auc=0.912 acc=0.88 (+2)``: a compact one-line view of a metrics dict."""
    items = [f"{k}={fmt_number(v)}" for k, v in sorted(metrics.items())]
    extra = f" (+{len(items) - limit})" if len(items) > limit else ""
    return " ".join(items[:limit]) + extra


def fmt_aliases(aliases: Mapping[str, int] | Iterable[str]) -> str:
    """``canary→4, production→3`` for a model, ``canary, production`` for a version."""
    if isinstance(aliases, Mapping):
        return ", ".join(f"{name}→{v}" for name, v in sorted(aliases.items()))
    return ", ".join(sorted(aliases))


def short_digest(digest: str | None, keep: int = 12) -> str | None:
    """``sha256:0a1b2c3d4e5f…``: enough of a digest to tell artifacts apart in a table."""
    if not digest:
        return digest
    algo, _, hexpart = digest.rpartition(":")
    prefix = f"{algo}:" if algo else ""
    return f"{prefix}{hexpart[:keep]}…" if len(hexpart) > keep else digest


def fmt_size(size: int | None) -> str:
    """A byte count in human units (``1.2 MB``)."""
    if size is None:
        return NONE
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"  # unreachable; keeps type checkers content


def new_table(*columns: str, title: str | None = None, no_wrap: Iterable[str] = ()) -> Table:
    """A table whose columns fold long values instead of cutting them off.

    Args:
        columns: the header of each column.
        title: shown above the table, left-aligned.
        no_wrap: headers of narrow, fixed-shape columns (versions, statuses, short
            ids) that keep their width when the terminal is narrow. Keep this to a few
            narrow columns: Rich squeezes the others to make room.
    """
    keep = set(no_wrap)
    table = Table(title=title, title_justify="left", header_style="bold", show_lines=False)
    for name in columns:
        if name in keep:
            table.add_column(name, no_wrap=True)
        else:
            table.add_column(name, overflow="fold")
    return table


def key_values(rows: Mapping[str, Any], title: str | None = None) -> Table:
    """A two-column ``key | value`` grid for detail panels."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column(overflow="fold")
    if title:
        table.title = title
    for key, value in rows.items():
        table.add_row(key, cell(value))
    return table


def dict_table(data: Mapping[str, Any], key: str, value: str, title: str) -> Table:
    """A sorted two-column table of a params, metrics or tags dict."""
    table = new_table(key, value, title=title)
    for k, v in sorted(data.items()):
        table.add_row(cell(k), cell(v))
    return table


def print_views(views: Iterable[Any]) -> None:
    """Print renderables one after another, a blank line between them."""
    console = out()
    for i, view in enumerate(views):
        if i:
            console.print()
        console.print(view)


def empty(message: str) -> None:
    """Say that a listing found nothing (on stdout, dimmed)."""
    out().print(Text(message, style="dim"))


# -- errors -------------------------------------------------------------------------
def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``Error: message`` in red on stderr and return the Exit to raise."""
    err().print(Text(f"Error: {message}", style="red"), soft_wrap=True)
    return typer.Exit(code)


def warn(message: str) -> None:
    """Print a yellow warning on stderr."""
    err().print(Text(f"Warning: {message}", style="yellow"), soft_wrap=True)


class MlpilotGroup(TyperGroup):
    """The root command group: turns any :class:`MlpilotError` into a clean exit 1.

    Errors raised on purpose carry a message written for the user, so the CLI
    prints it and nothing else — no traceback. Anything else is a bug and keeps
    its traceback.
    """

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except MlpilotError as exc:
            raise fail(exc.message) from None
