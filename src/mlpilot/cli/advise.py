"""``mlpilot advise``: profile a version and size its serving for a rate and a p99 SLO."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlpilot.cli._context import open_context
from mlpilot.cli._output import cell, key_values, new_table, out, print_json

if TYPE_CHECKING:
    import pandas as pd

_FILL = {"integer": 0, "float": 0.0, "boolean": False, "string": "a"}


def sample_frame(ctx: Any, version: Any, rows: int = 64) -> pd.DataFrame:
    """Input rows for profiling: the training dataset's head, else zeros per signature."""
    import pandas as pd

    from mlpilot.core.errors import InvalidArgument
    from mlpilot.sdk._datasets import load_dataset

    inputs = [c["name"] for c in (version.signature or {}).get("inputs", [])]
    if version.dataset_id:
        frame = load_dataset(version.dataset_id, context=ctx)
        if inputs and set(inputs) <= set(frame.columns):
            return frame[inputs].head(rows).reset_index(drop=True)
    if not inputs:
        raise InvalidArgument(f"{version.ref} has neither a signature nor a training dataset "
                              "to build profiling input from.")
    sig = version.signature["inputs"]
    return pd.DataFrame({c["name"]: [_FILL.get(c.get("dtype"), 0.0)] * rows for c in sig})


def advise(
    ref: Annotated[str, typer.Argument(metavar="MODEL[/VERSION]",
                                       help="A version ('m/3', 'm@production') or a model.")],
    rate: Annotated[float, typer.Option("--rate", min=0.001, help="Requests per second.")],
    p99: Annotated[float, typer.Option("--p99", min=0.001, help="The p99 latency SLO in ms.")],
    cpu: Annotated[int, typer.Option("--cpu", min=1, help="CPUs per replica.")] = 1,
    duration: Annotated[float, typer.Option("--duration", min=0.01,
                                            help="Seconds of load per profile cell.")] = 0.5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Profile a version (latency vs batch size and concurrency) and recommend serving."""
    from mlpilot.pilot.resources import profile_version, recommend
    from mlpilot.sdk._registry import load

    ctx = open_context()
    loaded = load(ref, context=ctx)
    profile = profile_version(loaded, sample_frame(ctx, loaded.version), duration_s=duration,
                              artifact_size=loaded.version.artifact_size)
    advice = recommend(profile, request_rate=rate, p99_slo_ms=p99, cpu_per_replica=cpu)
    if as_json:
        print_json({"version": loaded.version.ref, "profile": profile.to_dict(),
                    "advice": advice.to_dict()})
        return
    table = new_table("batch", "concurrency", "calls", "p50 ms", "p99 ms", "rows/s",
                      title=f"Profile of {loaded.version.ref}")
    for c in profile.cells:
        table.add_row(cell(c.batch_size), cell(c.concurrency), cell(c.calls), cell(c.p50_ms),
                      cell(c.p99_ms), cell(f"{c.rows_per_s:,.0f}"))
    out().print(table)
    out().print(key_values({
        "feasible": advice.feasible, "replicas": advice.replicas,
        "batch_max_rows": advice.batch_max_rows, "batch_wait_ms": advice.batch_wait_ms,
        "target_ongoing_requests": advice.target_ongoing_requests,
        "autoscaling": f"{advice.min_replicas}..{advice.max_replicas} replicas",
        "estimated p99": f"{advice.estimated_p99_ms:.1f} ms (SLO {p99:g} ms)"},
        title=f"Advice at {rate:g} req/s"))
    for line in advice.reasoning:
        out().print(f"  • {line}", highlight=False, markup=False)
    if not advice.feasible:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Attach ``advise`` to the root app."""
    app.command("advise")(advise)
