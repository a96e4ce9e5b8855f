"""``mlpilot show REF``: a model, a version or a run in detail."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from mlpilot.cli._context import open_context
from mlpilot.cli._output import (
    cell,
    dict_table,
    fmt_aliases,
    fmt_size,
    fmt_time,
    key_values,
    new_table,
    print_json,
    print_views,
)
from mlpilot.cli.registry import version_table
from mlpilot.cli.runs import fmt_duration
from mlpilot.core.entities import Dataset, Model, ModelVersion, Run
from mlpilot.core.errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    from mlpilot.store import Store

RUN_ID = re.compile(r"^[0-9a-f]{32}$")
RUN_ID_PREFIX = re.compile(r"^[0-9a-f]{6,31}$")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of panels.")]


def _panel(title: str, *parts: RenderableType | None) -> Panel:
    body = [p for p in parts if p is not None]
    return Panel(Group(*body) if body else Text("—", style="dim"),
                 title=Text(title, style="bold"), title_align="left", expand=False)


def _dim(message: str) -> Text:
    return Text(message, style="dim")


# -- the three kinds of reference ------------------------------------------------------
def _model_view(store: Store, model: Model) -> list[RenderableType]:
    versions = store.list_versions(model.name)
    deployments = store.list_deployments(model.name)
    info = key_values({
        "description": model.description, "aliases": fmt_aliases(model.aliases),
        "latest version": model.latest_version, "created": model.created_at,
        "updated": model.updated_at,
        "tags": ", ".join(f"{k}={v}" for k, v in sorted(model.tags.items())),
    })
    views: list[RenderableType] = [_panel(f"Model {model.name}", info)]
    if versions:
        views.append(version_table(versions, title="Versions"))
    if deployments:
        table = new_table("deployment", "strategy", "routes", "status", "revision",
                          title="Deployments")
        for d in deployments:
            routes = ", ".join(f"v{r.version} {r.weight:.0%} {r.role}" for r in d.routes)
            table.add_row(cell(d.name, "bold"), cell(d.strategy), cell(routes), cell(d.status),
                          cell(d.revision))
        views.append(table)
    return views


def _signature(signature: dict[str, Any] | None) -> list[RenderableType]:
    if not signature:
        return [_dim("Signature: none recorded.")]
    parts: list[RenderableType] = []
    for section in ("inputs", "outputs"):
        columns = signature.get(section)
        if not isinstance(columns, list) or not columns:
            continue
        table = new_table("name", "dtype", "nullable", title=f"Signature {section}")
        for c in columns:
            c = c if isinstance(c, dict) else {"name": str(c)}
            table.add_row(cell(c.get("name")), cell(c.get("dtype")),
                          cell("yes" if c.get("nullable") else "no"))
        parts.append(table)
    return parts or [_dim("Signature: lists no columns.")]


def _checks(report: dict[str, Any] | None) -> str | None:
    if not report:
        return None
    blessed = report.get("blessed")
    if not isinstance(blessed, bool):
        return "recorded (see --json)"
    counts = report.get("counts", {})
    tally = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    verdict = "blessed" if blessed else "NOT blessed"
    return f"{verdict} ({tally})" if tally else verdict


def _version_view(mv: ModelVersion, run: Run | None, dataset: Dataset | None
                  ) -> list[RenderableType]:
    info = key_values({
        "status": mv.status.value, "format": mv.format, "aliases": fmt_aliases(mv.aliases),
        "artifact": f"{mv.artifact_digest} ({fmt_size(mv.artifact_size)})",
        "created": f"{fmt_time(mv.created_at)} by {mv.created_by}",
        "run": mv.run_id, "dataset": mv.dataset_id,
        "parent version": f"{mv.model}/{mv.parent_version}" if mv.parent_version else None,
        "checks": _checks(mv.check_report), "description": mv.description,
        "tags": ", ".join(f"{k}={v}" for k, v in sorted(mv.tags.items())),
    })
    views: list[RenderableType] = [
        _panel(f"Version {mv.ref}", info),
        dict_table(mv.metrics, "metric", "value", "Metrics") if mv.metrics
        else _dim("Metrics: none recorded."),
        *_signature(mv.signature),
    ]
    if run is not None:
        views.append(_panel(f"Run {run.name} ({run.id})", _run_summary(run)))
        views.append(dict_table(run.params, "param", "value", "Run params") if run.params
                     else _dim("Run params: none logged."))
    if dataset is not None:
        views.append(_panel(f"Dataset {dataset.name}", _dataset_summary(dataset)))
    return views


def _run_summary(run: Run) -> RenderableType:
    code = run.code_version or {}
    commit = code.get("commit") or code.get("git_commit")
    code_text = f"{commit}{' (dirty)' if code.get('git_dirty') else ''}" if commit else None
    return key_values({
        "status": run.status.value, "model": run.model, "started": run.start_time,
        "ended": run.end_time, "duration": fmt_duration(run.start_time, run.end_time),
        "parent run": run.parent_run_id, "code": code_text,
    })


def _dataset_summary(dataset: Dataset) -> RenderableType:
    return key_values({
        "id": dataset.id, "digest": dataset.digest,
        "shape": f"{dataset.num_rows:,} rows × {dataset.num_columns} columns",
        "created": dataset.created_at, "description": dataset.description,
    })


def _run_view(run: Run) -> list[RenderableType]:
    views: list[RenderableType] = [_panel(f"Run {run.name} ({run.id})", _run_summary(run))]
    for data, key, title in ((run.params, "param", "Params"), (run.metrics, "metric", "Metrics"),
                             (run.tags, "tag", "Tags")):
        if data:
            views.append(dict_table(data, key, "value", title))
    if run.artifacts:
        table = new_table("artifact", "digest", "size", title="Artifacts")
        for a in run.artifacts:
            table.add_row(cell(a.name), cell(a.digest), cell(fmt_size(a.size)))
        views.append(table)
    if run.environment:
        env = {k: v for k, v in run.environment.items() if isinstance(v, str | int | float)}
        if env:
            views.append(dict_table(env, "environment", "value", "Environment"))
    return views


def _find_run(store: Store, ref: str) -> Run | None:
    """The run ``ref`` names (a full id or a unique prefix of 6+ hex digits), if any.

    Raises:
        InvalidArgument: if a prefix matches several runs.
    """
    if RUN_ID.match(ref):
        try:
            return store.get_run(ref)
        except NotFound:
            return None
    if not RUN_ID_PREFIX.match(ref):
        return None
    # the prefix is validated hex, so it cannot break out of the quoted filter value
    matches = store.search_runs(f"run_id LIKE '{ref}%'", max_results=5)
    if len(matches) > 1:
        shown = ", ".join(r.id for r in matches)
        raise InvalidArgument(f"Run id prefix {ref!r} is ambiguous: it matches {shown}"
                              f"{' and more' if len(matches) == 5 else ''}. Give more digits.")
    return matches[0] if matches else None


def show(
    ref: Annotated[str, typer.Argument(
        metavar="REF", help="A model ('name'), a version ('name/3', 'name@production') or a run id "
             "(or its first 6+ hex digits).")],
    as_json: JsonOption = False,
) -> None:
    """Show a model, a version or a run in detail."""
    store = open_context().store
    run = _find_run(store, ref)
    if run is not None:
        if as_json:
            print_json({"kind": "run", "run": run})
        else:
            print_views(_run_view(run))
        return
    if "/" in ref or "@" in ref:
        mv = store.resolve(ref)
        run = store.get_run(mv.run_id) if mv.run_id else None
        dataset = store.get_dataset(mv.dataset_id) if mv.dataset_id else None
        if as_json:
            print_json({"kind": "version", "version": mv, "run": run, "dataset": dataset})
        else:
            print_views(_version_view(mv, run, dataset))
        return
    try:
        model = store.get_model(ref)
    except NotFound:
        if RUN_ID.match(ref) or RUN_ID_PREFIX.match(ref):
            raise NotFound(f"{ref!r} is neither a run id (or unique prefix of one) nor a "
                           "model name. List runs with `mlpilot runs`.") from None
        raise
    if as_json:
        print_json({"kind": "model", "model": model, "versions": store.list_versions(ref)})
    else:
        print_views(_model_view(store, model))


def register(app: typer.Typer) -> None:
    """Attach ``show`` to the root app."""
    app.command("show")(show)
