"""``mlpilot demo``: a guided tour on a small bundled data set."""

from __future__ import annotations

import typer

from mlpilot.cli._context import open_context
from mlpilot.cli._output import fail, out


def demo() -> None:
    """Train, register, compare and promote models end to end, explaining each step."""
    try:
        from mlpilot.demo import run_demo
    except ImportError as exc:
        raise fail(f"The demo is not available in this installation ({exc}).") from exc
    from mlpilot.sdk._context import get_context

    open_context()  # the demo acts on the stores --home / MLPILOT_* name
    run_demo(get_context(), out())


def register(app: typer.Typer) -> None:
    """Attach ``demo`` to the root app."""
    app.command("demo")(demo)
