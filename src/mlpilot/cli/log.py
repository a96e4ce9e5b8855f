"""``mlpilot log compact``: turn sealed inference-log segments into Parquet partitions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlpilot.cli._context import open_context
from mlpilot.cli._output import new_table, out, print_json

app = typer.Typer(help="The inference log: compaction.", no_args_is_help=True)


@app.command("compact")
def compact_log(
    log_dir: Annotated[Path | None, typer.Option(
        "--log-dir", file_okay=False,
        help="The inference log (default $MLPILOT_HOME/inference-log); its worker-N and "
             "feedback sub-directories are compacted too.")] = None,
    max_segments: Annotated[int | None, typer.Option(
        "--max-segments", min=1, help="Compact at most N segments per directory.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Compact sealed segments into Parquet (model/date/hour), safe beside a live gateway.

    Segments still being written are skipped; damaged ones are quarantined, never deleted.
    Run it from cron (or a Kubernetes CronJob) to keep the segment directory small.
    """
    from mlpilot.monitor.source import log_directories
    from mlpilot.serve.gateway.feedback import feedback_dir
    from mlpilot.serve.inference_log import compact

    root = log_dir or open_context().settings.home / "inference-log"
    directories = [d for base in log_directories(root)
                   for d in (base, feedback_dir(base)) if d.is_dir()]
    rows = []
    for directory in directories:
        result = compact(directory, max_segments=max_segments)
        rows.append({"directory": str(directory), "segments": len(result.segments),
                     "rows": result.rows, "files": len(result.files),
                     "skipped_unsealed": result.skipped_unsealed,
                     "quarantined": result.quarantined})
    if as_json:
        print_json({"log_dir": str(root), "directories": rows})
        return
    if not rows:
        out().print(f"No inference log under {root}.", markup=False, highlight=False)
        return
    table = new_table("directory", "segments", "rows", "Parquet files", "unsealed (skipped)",
                      "quarantined")
    for r in rows:
        table.add_row(r["directory"], str(r["segments"]), f"{r['rows']:,}", str(r["files"]),
                      str(r["skipped_unsealed"]), str(len(r["quarantined"])))
    out().print(table)


def register(root: typer.Typer) -> None:
    """Attach ``log`` to the root app."""
    root.add_typer(app, name="log")
