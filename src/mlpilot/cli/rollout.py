"""``mlpilot rollout``: drive a deployment's delivery engine by hand (``tick``), in a loop
(``watch``), or switch a blue-green pair (``switch`` / ``switch-back``).

``tick`` and ``watch`` pick the engine from the deployment's strategy: canary →
:class:`~mlpilot.delivery.CanaryController`, bandit →
:class:`~mlpilot.delivery.BanditController`, ab → :class:`~mlpilot.delivery.ABController`
(reports the test, never moves traffic). Other strategies have nothing to tick.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from mlpilot.cli._context import open_context
from mlpilot.cli._output import cell, fmt_number, new_table, out, print_json

if TYPE_CHECKING:
    from mlpilot.delivery.ab_engine import ABController
    from mlpilot.delivery.bandit_engine import BanditController
    from mlpilot.delivery.decision import Decision
    from mlpilot.delivery.engine import CanaryController

    Engine = CanaryController | BanditController | ABController

rollout_app = typer.Typer(help="Progressive delivery: step, promote or roll back canaries, "
                          "reallocate bandits, report A/B tests, switch blue-green pairs.",
                          no_args_is_help=True)

LogDir = Annotated[str | None, typer.Option(
    "--log-dir", help="Inference log directory (default: $MLPILOT_HOME/inference-log).")]
Reason = Annotated[str, typer.Option("--reason", help="Why (kept with the decision and in "
                                     "the audit log).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _controller(name: str, log_dir: str | None) -> Engine | None:
    """The engine for the deployment's strategy; ``None`` (and a message) when it has none."""
    context = open_context()
    directory = log_dir or str(context.settings.home / "inference-log")
    dep = context.store.get_deployment(name)
    if dep.strategy == "canary":
        from mlpilot.delivery.engine import CanaryController

        return CanaryController(context.store, directory)
    if dep.strategy == "bandit":
        from mlpilot.delivery.bandit_engine import BanditController

        return BanditController(context.store, directory)
    if dep.strategy == "ab":
        from mlpilot.delivery.ab_engine import ABController

        return ABController(context.store, directory)
    if dep.strategy == "blue-green":
        hint = (f"blue-green switches by hand: `mlpilot rollout switch {name}` or "
                f"`mlpilot rollout switch-back {name}`")
    elif dep.params.get("phase"):
        hint = f"the rollout is finished ({dep.params['phase']}, now {dep.strategy})"
    else:
        hint = f"the {dep.strategy!r} strategy has no rollout engine"
    out().print(Text(f"{name}: nothing to tick — {hint}.", style="dim"), soft_wrap=True)
    return None


def _result(controller: Engine, record: Any) -> dict[str, Any]:
    decision = controller.last_decision
    return {"decision": decision.to_dict() if decision else None,
            "recorded": record, "note": controller.last_note}


def _show(name: str, controller: Engine, record: Any) -> None:
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
    if "test" in decision.evidence:
        _show_ab(decision)
    elif "posterior" in decision.evidence:
        _show_bandit(decision)
    else:
        _show_canary(decision)


def _show_canary(decision: Decision) -> None:
    console = out()
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


def _show_bandit(decision: Decision) -> None:
    ev = decision.evidence
    table = new_table("version", "weight", "target", "rewards", "reward mean",
                      "posterior mean", "effective n")
    for arm, weight in (ev.get("current") or {}).items():
        rewards = (ev.get("rewards") or {}).get(arm) or {}
        table.add_row(cell(f"v{arm}"), cell(f"{weight:.0%}"),
                      cell(f"{ev['target'][arm]:.0%}" if arm in (ev.get("target") or {})
                           else None),
                      cell(rewards.get("count")), cell(rewards.get("mean")),
                      cell((ev.get("posterior_mean") or {}).get(arm)),
                      cell((ev.get("effective_n") or {}).get(arm)))
    out().print(table)
    gate = ev.get("gate")
    if gate in ("hysteresis", "switch_penalty", "passed"):
        out().print(Text(f"  gate: {gate} (moved {ev['distance']:.3f}, hysteresis "
                         f"{ev['hysteresis']}; better with probability {ev['p_improve']:.2f}, "
                         f"needs {ev['switch_confidence']})", style="dim"))


def _show_ab(decision: Decision) -> None:
    ev = decision.evidence
    test = ev["test"]
    table = new_table("arm", "version", "labelled", "accuracy")
    table.add_row(cell("A"), cell(f"v{ev['a']}"), cell(test["n_a"]), cell(test["rate_a"]))
    table.add_row(cell("B"), cell(f"v{ev['b']}"), cell(test["n_b"]), cell(test["rate_b"]))
    out().print(table)
    out().print(Text(f"  {test['verdict']}: difference {fmt_number(test['difference'])} "
                     f"[{fmt_number(test['ci_low'])}, {fmt_number(test['ci_high'])}], "
                     f"p-value {fmt_number(test['p_value'])} (alpha {test['alpha']}); "
                     f"significant: {'yes' if ev['significant'] else 'no'}", style="dim"))


@rollout_app.command("tick")
def tick(
    name: Annotated[str, typer.Argument(help="The deployment (canary, bandit or ab).")],
    log_dir: LogDir = None,
    as_json: AsJson = False,
) -> None:
    """One reconcile pass, explained: canary step/promote/rollback, bandit move, A/B result."""
    controller = _controller(name, log_dir)
    if controller is None:
        return
    record = controller.tick(name)
    if as_json:
        print_json(_result(controller, record))
    else:
        _show(name, controller, record)


@rollout_app.command("watch")
def watch(
    name: Annotated[str, typer.Argument(help="The deployment (canary, bandit or ab).")],
    log_dir: LogDir = None,
    every: Annotated[float, typer.Option("--every", min=0.0,
                                         help="Seconds between ticks.")] = 30.0,
    max_ticks: Annotated[int | None, typer.Option("--max-ticks", min=1,
                                                  help="Stop after N ticks.")] = None,
) -> None:
    """Tick every --every seconds until the rollout finishes (or --max-ticks, or Ctrl+C)."""
    controller = _controller(name, log_dir)
    if controller is None:
        return
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


def _switch(name: str, back: bool, reason: str, as_json: bool) -> None:
    from mlpilot.delivery.blue_green_engine import BlueGreenController

    context = open_context()
    record = BlueGreenController(context.store).switch_back(name, reason) if back else \
        BlueGreenController(context.store).switch(name, reason)
    dep = context.store.get_deployment(name)
    if as_json:
        print_json({"decision": record, "deployment": dep})
        return
    routes = ", ".join(f"v{r.version} {r.weight:.0%}" for r in dep.routes)
    out().print(Text(f"{name}: {record.action} [{record.outcome}] — {record.reason}"))
    out().print(Text(f"  routes: {routes} (revision {dep.revision})", style="dim"))


@rollout_app.command("switch")
def switch(
    name: Annotated[str, typer.Argument(help="The blue-green deployment.")],
    reason: Reason = "",
    as_json: AsJson = False,
) -> None:
    """Blue-green: send all traffic to the standby version at once (recorded)."""
    _switch(name, False, reason, as_json)


@rollout_app.command("switch-back")
def switch_back(
    name: Annotated[str, typer.Argument(help="The blue-green deployment.")],
    reason: Reason = "",
    as_json: AsJson = False,
) -> None:
    """Blue-green: undo the last switch (or the deploy) at once (recorded)."""
    _switch(name, True, reason, as_json)


def register(app: typer.Typer) -> None:
    """Attach the ``rollout`` group to the root app."""
    app.add_typer(rollout_app, name="rollout")
