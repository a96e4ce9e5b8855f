"""``mlpilot autopilot``: run the controller (a loop, or ``--once``), answer its questions
(``approve`` / ``reject``), ask it to retrain, and list what waits for a human."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from mlpilot.cli._context import open_context
from mlpilot.cli._output import cell, fmt_time, new_table, out, print_json
from mlpilot.core.errors import InvalidArgument

if TYPE_CHECKING:
    from mlpilot.pilot.controller import PassReport

autopilot_app = typer.Typer(
    help="The autopilot: retrain, check, roll out, promote or roll back models per their "
         "policy in mlpilot.yaml, explaining every decision.",
    invoke_without_command=True)

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Note = Annotated[str, typer.Option("--note", help="Why (kept with the decision).")]


def _trainer(spec: str | None) -> Any:
    """``module:function`` → the function (None: the default trainer)."""
    if not spec:
        return None
    module, _, name = spec.partition(":")
    if not module or not name:
        raise InvalidArgument(f"--trainer must look like 'package.module:function'. Got {spec!r}.")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise InvalidArgument(f"Cannot load the trainer {spec!r}: {exc}.") from None


def _show(report: PassReport, as_json: bool) -> None:
    if as_json:
        print_json({"decisions": [d.__dict__ for d in report.decisions], "notes": report.notes})
        return
    console = out()
    for d in report.decisions:
        console.print(Text(f"#{d.id} {d.target}: {d.action} [{d.outcome}] — {d.reason}"),
                      soft_wrap=True)
        if d.outcome_detail.get("error"):
            console.print(Text(f"  {d.outcome_detail['error']}", style="yellow"), soft_wrap=True)
    for note in report.notes:
        console.print(Text(note, style="dim"), soft_wrap=True)
    if not report.decisions and not report.notes:
        console.print(Text("Nothing to do.", style="dim"))


@autopilot_app.callback()
def autopilot(
    ctx: typer.Context,
    policy: Annotated[Path, typer.Option(
        "--policy", "-p", metavar="FILE", dir_okay=False,
        help="The policy file (its 'autopilot:' section).")] = Path("mlpilot.yaml"),
    once: Annotated[bool, typer.Option("--once", help="One reconcile pass, then exit.")] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.1,
                                            help="Seconds between passes.")] = 30.0,
    trainer: Annotated[str | None, typer.Option(
        "--trainer", metavar="MODULE:FUNCTION",
        help="The training function (default: mlpilot.train.run_training).")] = None,
    log_dir: Annotated[str | None, typer.Option(
        "--log-dir", help="Inference log directory (default: $MLPILOT_HOME/inference-log).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Run the autopilot: a reconcile loop (only one leader acts at a time)."""
    if ctx.invoked_subcommand is not None:
        return
    from mlpilot.pilot.controller import Controller
    from mlpilot.pilot.leader import LeaderLock
    from mlpilot.pilot.policy import load_policy

    pilot_policy = load_policy(policy)
    context = open_context()
    controller = Controller(context, pilot_policy, trainer=_trainer(trainer), log_dir=log_dir)
    if once:
        with LeaderLock(context.store):
            _show(controller.run_once(), as_json)
        return
    out().print(Text(f"autopilot (pid {os.getpid()}) driving {sorted(pilot_policy.models)} "
                     f"every {interval:g} s; Ctrl-C to stop.", style="dim"))
    try:
        controller.run(interval=interval, on_pass=lambda r: _show(r, as_json))
    except KeyboardInterrupt:
        pass


@autopilot_app.command("approve")
def approve(decision: Annotated[int, typer.Argument(metavar="ID")], note: Note = "") -> None:
    """Approve a decision waiting for a human; the autopilot acts on its next pass."""
    from mlpilot.pilot.actions import approve_decision

    context = open_context()
    d = approve_decision(context.store, decision, context.store.actor, note)
    out().print(Text(f"Approved decision {d.id}: {d.reason}"), soft_wrap=True)


@autopilot_app.command("reject")
def reject(decision: Annotated[int, typer.Argument(metavar="ID")], note: Note = "") -> None:
    """Reject (or dismiss) a decision waiting for a human."""
    from mlpilot.pilot.actions import reject_decision

    context = open_context()
    d = reject_decision(context.store, decision, context.store.actor, note)
    out().print(Text(f"Rejected decision {d.id}: {d.reason}"), soft_wrap=True)


@autopilot_app.command("retrain")
def retrain(model: Annotated[str, typer.Argument(metavar="MODEL")],
            reason: Annotated[str, typer.Option("--reason", help="Why.")] = "") -> None:
    """Ask the autopilot to retrain MODEL (needs an 'on_demand' trigger in its policy)."""
    from mlpilot.pilot.actions import request_retrain

    context = open_context()
    d = request_retrain(context.store, model, reason)
    out().print(Text(f"Requested: decision {d.id}; the autopilot retrains {model} on its next "
                     "pass (budgets and approvals apply)."), soft_wrap=True)


@autopilot_app.command("pending")
def pending(as_json: AsJson = False) -> None:
    """Decisions waiting for a human."""
    context = open_context()
    waiting = [d for d in context.store.list_decisions(action="ask_human", limit=1000)
               if d.outcome == "pending"]
    if as_json:
        print_json([d.__dict__ for d in waiting])
        return
    table = new_table("id", "time", "model", "action", "reason")
    for d in waiting:
        table.add_row(cell(d.id), cell(fmt_time(d.time)), cell(d.target),
                      cell(d.evidence.get("action")), cell(d.reason))
    out().print(table)


def register(app: typer.Typer) -> None:
    """Attach the ``autopilot`` group to the root app."""
    app.add_typer(autopilot_app, name="autopilot")
