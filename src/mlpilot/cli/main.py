"""The ``mlpilot`` command: the root app, its global options and ``main()``.

Every command lives in a small module beside this one and attaches itself with
``register(app)``. Errors raised on purpose (:class:`~mlpilot.core.errors.MlpilotError`)
print ``Error: <message>`` on stderr and exit 1; usage errors exit 2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from mlpilot import __version__
from mlpilot.cli import (
    advise,
    alerts,
    autopilot,
    backup,
    check,
    compare,
    datasets,
    db,
    demo,
    deploy,
    diagnose,
    dora,
    events,
    lineage,
    log,
    monitor,
    registry,
    rollout,
    runs,
    server,
    show,
    tokens,
    ui,
)
from mlpilot.cli._output import MlpilotGroup

app = typer.Typer(
    name="mlpilot",
    cls=MlpilotGroup,
    help="mlpilot: an autopilot for machine-learning models in production.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold token secrets
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlpilot {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    home: Annotated[
        Path | None,
        typer.Option("--home", metavar="PATH", file_okay=False,
                     help="mlpilot's home directory (sets MLPILOT_HOME; default ./.mlpilot)."),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True,
                           help="Print the version and exit.")
    ] = False,
) -> None:
    """mlpilot: an autopilot for machine-learning models in production."""
    if home is not None:
        os.environ["MLPILOT_HOME"] = str(home.expanduser().absolute())


for module in (db, registry, runs, show, compare, lineage, datasets, events, check, deploy,
               rollout, tokens, server, demo, alerts, diagnose, monitor, backup,
               ui, autopilot, dora, advise, log):
    module.register(app)


def main() -> None:
    """Console-script entry point (``mlpilot = "mlpilot.cli.main:main"``)."""
    app(prog_name="mlpilot")


if __name__ == "__main__":
    main()
