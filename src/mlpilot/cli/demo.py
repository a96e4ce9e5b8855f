"""``mlpilot demo``: a guided tour on a small bundled data set."""

from __future__ import annotations

from typing import Annotated

import typer

from mlpilot.cli._context import open_context
from mlpilot.cli._output import fail, out


def demo(
    serving: Annotated[bool, typer.Option(
        "--serving/--no-serving",
        help="Also serve over HTTP on 127.0.0.1, canary the best model to production, roll "
             "back a broken one, then monitor drifted traffic and diagnose the alert it "
             "raises (about 45 s more).")] = True,
    monitoring: Annotated[bool, typer.Option(
        "--monitoring/--no-monitoring",
        help="With --serving: the drift incident, its alert and diagnosis (about 25 s).",
    )] = True,
) -> None:
    """Train, register, check, serve, canary, roll back, monitor and diagnose, explaining
    each step."""
    try:
        from mlpilot.demo import run_demo
    except ImportError as exc:
        raise fail(f"The demo is not available in this installation ({exc}).") from exc
    from mlpilot.sdk._context import get_context

    open_context()  # the demo acts on the stores --home / MLPILOT_* name
    run_demo(get_context(), out(), serving=serving, monitoring=monitoring)


def register(app: typer.Typer) -> None:
    """Attach ``demo`` to the root app."""
    app.command("demo")(demo)
