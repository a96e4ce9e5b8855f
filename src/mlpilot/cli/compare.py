"""``mlpilot compare MODEL A B``: what changed between two versions."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import RenderableType
from rich.text import Text

from mlpilot.cli._context import open_context
from mlpilot.cli._output import (
    cell,
    fmt_aliases,
    fmt_delta,
    new_table,
    print_json,
    print_views,
    short_digest,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _dim(message: str) -> Text:
    return Text(message, style="dim")


def _diff_table(diff: dict[str, dict[str, Any]], key: str, a: int, b: int, title: str
                ) -> RenderableType:
    table = new_table(key, f"v{a}", f"v{b}", title=title)
    for name, pair in diff.items():
        table.add_row(cell(name), cell(pair["a"]), cell(pair["b"]))
    return table


def compare(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="The model name.")],
    a: Annotated[int, typer.Argument(metavar="A", help="The baseline version.")],
    b: Annotated[int, typer.Argument(metavar="B", help="The version compared with it.")],
    as_json: JsonOption = False,
) -> None:
    """Compare two versions of MODEL: metric deltas, param diffs, signature changes."""
    from mlpilot.sdk._compare import compare_versions

    result = compare_versions(open_context().store, model, a, b)
    if as_json:
        print_json(result)
        return
    views: list[RenderableType] = []
    overview = new_table("", f"v{a}", f"v{b}", title=f"{model}: v{a} → v{b}")
    for field, label in (("format", "format"), ("aliases", "aliases"), ("run_id", "run"),
                         ("dataset_id", "dataset"), ("digest", "artifact")):
        x, y = result["a"][field], result["b"][field]
        if field == "aliases":
            x, y = fmt_aliases(x), fmt_aliases(y)
        elif field == "digest":
            x, y = short_digest(x), short_digest(y)
        style = "" if x == y else "yellow"
        overview.add_row(cell(label, "bold"), cell(x, style), cell(y, style))
    views.append(overview)
    if result["same_artifact"]:
        views.append(Text("Both versions hold the same artifact bytes.", style="yellow"))
    if result["metrics"]:
        table = new_table("metric", f"v{a}", f"v{b}", "delta", title="Version metrics")
        for key, m in result["metrics"].items():
            table.add_row(cell(key), cell(m["a"]), cell(m["b"]), fmt_delta(m["delta"]))
        views.append(table)
    else:
        views.append(_dim("Neither version records metrics."))
    if result["params"]:
        views.append(_diff_table(result["params"], "param", a, b, "Run params that differ"))
    else:
        views.append(_dim("Run params: no differences."))
    if result["run_metrics"]:
        views.append(_diff_table(result["run_metrics"], "metric", a, b,
                                 "Run metrics that differ"))
    sig = result["signature"]
    if sig["added"] or sig["removed"] or sig["retyped"]:
        table = new_table("change", "input", "detail", title="Signature changes")
        for name in sig["added"]:
            table.add_row(cell("added", "green"), cell(name), cell(None))
        for name in sig["removed"]:
            table.add_row(cell("removed", "red"), cell(name), cell(None))
        for name, types in sig["retyped"].items():
            table.add_row(cell("retyped", "yellow"), cell(name),
                          cell(f"{types['a']} → {types['b']}"))
        views.append(table)
    else:
        views.append(_dim("Signature: same inputs."))
    print_views(views)


def register(app: typer.Typer) -> None:
    """Attach ``compare`` to the root app."""
    app.command("compare")(compare)
