"""``mlpilot deploy`` and ``mlpilot deployments``: desired state for the gateways."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from mlpilot.cli._context import open_context
from mlpilot.cli._output import out, print_json

STRATEGY_HELP = "single, canary, shadow, ab, bandit or blue-green"


def deploy(
    model: Annotated[str, typer.Argument(help="The model to deploy.")],
    version: Annotated[int, typer.Option("--version", "-v", min=1, help="Version to deploy.")],
    strategy: Annotated[str, typer.Option("--strategy", "-s", help=STRATEGY_HELP)] = "single",
    name: Annotated[str | None, typer.Option("--name", help="Endpoint name (default: the "
                                             "model's name).")] = None,
    baseline: Annotated[int | None, typer.Option("--baseline", min=1, help="Version to compare "
                                                 "against (default: production).")] = None,
    steps: Annotated[str | None, typer.Option("--steps", help="Canary traffic steps, e.g. "
                                              "5,25,50,100 (percent).")] = None,
    split: Annotated[float | None, typer.Option("--split", help="A/B or bandit share of the "
                                                "new version, in (0, 1).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Deploy even if a blocking check "
                                        "failed (recorded in the audit log).")] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Deploy a version with a rollout strategy; running gateways pick it up."""
    from mlpilot.sdk._deploy import deploy as do_deploy

    params: dict[str, object] = {}
    if steps:
        try:
            params["steps"] = [float(s) / 100 for s in steps.split(",")]
        except ValueError:
            raise typer.BadParameter(f"steps are percentages like 5,25,50,100; got {steps!r}",
                                     param_hint="--steps") from None
    if split is not None:
        params["split"] = split
    context = open_context()
    result = do_deploy(model, version, strategy=strategy, name=name, baseline=baseline,
                       params=params, force=force, reason=reason, context=context)
    if as_json:
        print_json(result)
        return
    routes = ", ".join(f"v{r.version} {r.weight:.0%} ({r.role})" for r in result.routes)
    out().print(f"Deployment {result.name!r} (revision {result.revision}, {result.strategy}): "
                f"{routes}", markup=False, highlight=False)
    if result.params:
        out().print(f"  params: {json.dumps(result.params)}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Attach ``deploy`` to the root app."""
    app.command("deploy")(deploy)
