"""``mlpilot rollout``: run the canary engine by hand (``tick``) or in a loop (``watch``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from mlpilot.cli._context import open_context
from mlpilot.cli._output import cell, fmt_number, new_table, out, print_json

if TYPE_CHECKING:
    from mlpilot.delivery.engine import CanaryController

rollout_app = typer.Typer(help="Progressive delivery: step, promote or roll back canaries.",
                          no_args_is_help=True)

LogDir = Annotated[str | None, typer.Option(
    "--log-dir", help="Inference log directory (default: $MLPILOT_HOME/inference-log).")]


def _controller(log_dir: str | None) -> CanaryController:
    from mlpilot.delivery.engine import CanaryController

    context = open_context()
    return CanaryController(context.store,
                            log_dir or str(context.settings.home / "inference-log"))


def _result(controller: CanaryController, record: Any) -> dict[str, Any]:
    decision = controller.last_decision
    return {"decision": decision.to_dict() if decision else None,
            "recorded": record, "note": controller.last_note}


def _show(name: str, controller: CanaryController, record: Any) -> None:
    console = out()
    decision = controller.last_decision
    if decision is None:
        console.print(Text(f"{name}: nothing to do — {controller.last_note}", style="dim"))
        return
    outcome = f" [{record.outcome}]" if record is not None else ""
    console.print(Text(f"{name}: {decision.action}{outcome} — {decision.reason}"))
    if record is None and controller.last_note:
        console.print(Text(f"  ({controller.last_note})", style="dim"))
    if record is not None and record.outcome_detail.get("error"):
        console.print(Text(f"  {record.outcome_detail['error']}", style="yellow"))
    checks = (decision.evidence.get("analysis") or {}).get("checks", [])
    if checks:
        table = new_table("check", "verdict", "statistic", "threshold", "p-value", "n",
                          "explanation", no_wrap=("verdict",))
        for c in checks:
            n = c.get("n") or {}
            table.add_row(cell(c["name"]), cell(c["verdict"]), cell(c.get("statistic")),
                          cell(c.get("threshold")), cell(c.get("p_value")),
                          cell(f"{n.get('baseline', 0)}/{n.get('canary', 0)}"),
                          cell(c.get("explanation")))
        console.print(table)
    elapsed = decision.evidence.get("elapsed_seconds")
    if elapsed is not None:
        console.print(Text(f"  weight {decision.evidence.get('weight', 0):.0%}, "
                           f"{fmt_number(float(elapsed))}s at this step "
                           f"(minimum {fmt_number(decision.evidence.get('min_step_seconds'))}s)",
                           style="dim"))


@rollout_app.command("tick")
def tick(
    name: Annotated[str, typer.Argument(help="The canary deployment.")],
    log_dir: LogDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Run one reconcile pass: hold, step, promote or roll back, and say why."""
    controller = _controller(log_dir)
    record = controller.tick(name)
    if as_json:
        print_json(_result(controller, record))
    else:
        _show(name, controller, record)


@rollout_app.command("watch")
def watch(
    name: Annotated[str, typer.Argument(help="The canary deployment.")],
    log_dir: LogDir = None,
    every: Annotated[float, typer.Option("--every", min=0.0,
                                         help="Seconds between ticks.")] = 30.0,
    max_ticks: Annotated[int | None, typer.Option("--max-ticks", min=1,
                                                  help="Stop after N ticks.")] = None,
) -> None:
    """Tick every --every seconds until the rollout finishes (or --max-ticks, or Ctrl+C)."""
    controller = _controller(log_dir)
    done = 0
    try:
        while max_ticks is None or done < max_ticks:
            record = controller.tick(name)
            done += 1
            _show(name, controller, record)
            if not controller.active or (record is not None and record.outcome == "applied"
                                         and record.action in ("promote", "rollback")):
                break  # finished, or nothing to drive
            if max_ticks is None or done < max_ticks:
                time.sleep(every)
    except KeyboardInterrupt:
        out().print(Text("Stopped.", style="dim"))


def register(app: typer.Typer) -> None:
    """Attach the ``rollout`` group to the root app."""
    app.add_typer(rollout_app, name="rollout")
