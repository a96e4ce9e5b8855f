"""Registry commands: ``models``, ``versions``, ``alias set|rm`` and ``archive``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.text import Text

from mlpilot.cli._context import open_context
from mlpilot.cli._output import (
    cell,
    empty,
    fmt_aliases,
    fmt_metrics,
    new_table,
    out,
    print_json,
)
from mlpilot.core.entities import ModelVersion, VersionStatus

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ReasonOption = Annotated[
    str, typer.Option("--reason", help="Why; recorded in the audit log (`mlpilot events`).")
]

alias_app = typer.Typer(help="Point aliases (production, canary, …) at versions.",
                        no_args_is_help=True)


def models(
    search: Annotated[
        str | None, typer.Option("--search", "-s", help="Keep names containing TEXT.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List registered models with their production and latest versions."""
    found = open_context().store.list_models(search=search)
    if as_json:
        print_json(found)
        return
    if not found:
        empty(f"No models match {search!r}." if search else
              "No models are registered yet. Register one with mlpilot.register(...) "
              "or run `mlpilot demo`.")
        return
    table = new_table("name", "production", "aliases", "latest", "updated",
                      no_wrap=["production", "latest"])
    for m in found:
        table.add_row(cell(m.name, "bold"), cell(m.aliases.get("production")),
                      cell(fmt_aliases(m.aliases)), cell(m.latest_version), cell(m.updated_at))
    out().print(table)


def version_table(versions: Sequence[ModelVersion], title: str | None = None) -> Any:
    """The table ``versions`` and ``show MODEL`` print."""
    table = new_table("version", "status", "format", "aliases", "metrics", "run", "created",
                      title=title, no_wrap=["version", "status", "run"])
    for v in versions:
        status_style = "dim" if v.status == VersionStatus.ARCHIVED else "green"
        table.add_row(cell(v.version, "bold"), cell(v.status.value, status_style),
                      cell(v.format), cell(fmt_aliases(v.aliases), "cyan"),
                      cell(fmt_metrics(v.metrics)), cell(v.run_id[:8] if v.run_id else None),
                      cell(v.created_at))
    return table


def versions(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="The model name.")],
    as_json: JsonOption = False,
) -> None:
    """List every version of MODEL, oldest first."""
    found = open_context().store.list_versions(model)
    if as_json:
        print_json(found)
        return
    if not found:
        empty(f"Model {model!r} has no versions yet.")
        return
    out().print(version_table(found, title=f"Versions of {model}"))


def _parse_expect(value: str | None) -> Any:
    """``--expect`` as the store wants it: ANY when absent, None for 'none', else an int."""
    from mlpilot.store import ANY

    if value is None:
        return ANY
    if value.strip().lower() == "none":
        return None
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise typer.BadParameter(
            f"must be a version number (1, 2, …) or 'none' for 'nobody holds it'. Got {value!r}.",
            param_hint="--expect",
        )
    return number


@alias_app.command("set")
def alias_set(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="The model name.")],
    alias: Annotated[str, typer.Argument(metavar="ALIAS",
                                         help="The alias, e.g. production or canary.")],
    version: Annotated[int, typer.Argument(metavar="VERSION",
                                           help="The version the alias should point at.")],
    expect: Annotated[
        str | None,
        typer.Option("--expect", metavar="N|none",
                     help="Only move the alias if version N holds it now ('none': if nobody "
                          "does). Guards against moving it over someone else's change."),
    ] = None,
    reason: ReasonOption = "",
) -> None:
    """Point ALIAS of MODEL at VERSION, atomically."""
    expected = _parse_expect(expect)
    store = open_context().store
    before = store.get_model(model).aliases.get(alias) if expect is None else expected
    store.set_alias(model, alias, version, expected=expected, reason=reason)
    was = f"was {before}" if before is not None else "new alias"
    out().print(Text.assemble("Alias ", (alias, "cyan"), f" of {model} → version {version} "
                              f"({was})."))


@alias_app.command("rm")
def alias_rm(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="The model name.")],
    alias: Annotated[str, typer.Argument(metavar="ALIAS", help="The alias to remove.")],
    expect: Annotated[
        str | None,
        typer.Option("--expect", metavar="N", help="Only remove it if version N holds it now."),
    ] = None,
    reason: ReasonOption = "",
) -> None:
    """Remove ALIAS from MODEL."""
    expected = _parse_expect(expect)
    open_context().store.delete_alias(model, alias, expected=expected, reason=reason)
    out().print(Text.assemble("Removed alias ", (alias, "cyan"), f" of {model}."))


def archive(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="The model name.")],
    version: Annotated[int, typer.Argument(metavar="VERSION", help="The version to archive.")],
    reason: ReasonOption = "",
) -> None:
    """Archive a version: it stays loadable but can no longer take aliases or serve."""
    open_context().store.archive_version(model, version, reason=reason)
    out().print(Text(f"Archived {model}/{version}."))


def register(app: typer.Typer) -> None:
    """Attach the registry commands to the root app."""
    app.command("models")(models)
    app.command("versions")(versions)
    app.add_typer(alias_app, name="alias")
    app.command("archive")(archive)
