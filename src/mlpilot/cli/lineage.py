"""``mlpilot lineage REF``: datasets → run → version → deployments, as a tree."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text
from rich.tree import Tree

from mlpilot.cli._context import open_context
from mlpilot.cli._output import fmt_aliases, fmt_metrics, fmt_time, out, print_json
from mlpilot.core.entities import Dataset, Deployment, Lineage, ModelVersion, Run


def _dataset_label(dataset: Dataset, roles: dict[str, str]) -> Text:
    role = roles.get(dataset.id)
    return Text.assemble(
        ("dataset ", "dim"), (dataset.name, "bold magenta"),
        f"  {dataset.num_rows:,} rows × {dataset.num_columns} cols",
        (f"  {dataset.id}", "dim"), (f"  ({role})" if role else "", "dim"),
    )


def _run_label(run: Run) -> Text:
    return Text.assemble(
        ("run ", "dim"), (run.name, "bold yellow"), f"  {run.status.value}",
        f"  {fmt_metrics(run.metrics, limit=3)}" if run.metrics else "",
        (f"  {run.id}", "dim"),
    )


def _version_label(mv: ModelVersion) -> Text:
    aliases = fmt_aliases(mv.aliases)
    return Text.assemble(
        ("version ", "dim"), (mv.ref, "bold green"), f"  {mv.status.value}  {mv.format}",
        (f"  [{aliases}]" if aliases else "", "cyan"),
        f"  {fmt_metrics(mv.metrics, limit=3)}" if mv.metrics else "",
        (f"  {fmt_time(mv.created_at)}", "dim"),
    )


def _deployment_label(deployment: Deployment, version: int) -> Text:
    share = sum(r.weight for r in deployment.routes if r.version == version)
    roles = sorted({r.role for r in deployment.routes if r.version == version})
    return Text.assemble(
        ("deployment ", "dim"), (deployment.name, "bold blue"),
        f"  {deployment.strategy}  {share:.0%} {'/'.join(roles)}  {deployment.status}",
        (f"  rev {deployment.revision}", "dim"),
    )


def lineage_tree(lin: Lineage) -> Tree:
    """Render a :class:`Lineage` as a chain from data to serving, parent version beside it."""
    mv = lin.version
    tree = Tree(Text.assemble("Lineage of ", (mv.ref, "bold")))
    roles = {e.source_id: e.relation for e in lin.edges if e.source_kind == "dataset"}
    node = tree
    if lin.datasets:
        first, *rest = lin.datasets
        label = _dataset_label(first, roles)
        for extra in rest:  # several inputs feed one run: list them on one node
            label.append("\n")
            label.append_text(_dataset_label(extra, roles))
        node = node.add(label)
    if lin.run is not None:
        node = node.add(_run_label(lin.run))
    version_node = node.add(_version_label(mv))
    for deployment in lin.deployments:
        version_node.add(_deployment_label(deployment, mv.version))
    if not lin.deployments:
        version_node.add(Text("not deployed", style="dim"))
    if lin.parent is not None:
        tree.add(Text.assemble(("derived from parent ", "dim"), _version_label(lin.parent)))
    return tree


def lineage(
    ref: Annotated[str, typer.Argument(
        metavar="REF",
        help="A version: 'name/3', 'name@canary', or 'name' for its production version.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a tree.")] = False,
) -> None:
    """Show where a version came from (datasets, run, parent) and where it is deployed."""
    store = open_context().store
    mv = store.resolve(ref)
    lin = store.lineage(mv.model, mv.version)
    if as_json:
        print_json(lin)
        return
    out().print(lineage_tree(lin))


def register(app: typer.Typer) -> None:
    """Attach ``lineage`` to the root app."""
    app.command("lineage")(lineage)
