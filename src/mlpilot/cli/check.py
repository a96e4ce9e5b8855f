"""``mlpilot check REF``: run the CI gates on a candidate version and write the reports.

Exit status, for CI: **0** the candidate is blessed (every blocking check passed),
**1** a blocking check failed or errored, **2** the checks could not run (bad
arguments or configuration, unknown model, unreachable store).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from mlpilot.cli._context import open_context
from mlpilot.cli._output import err, fail, out
from mlpilot.core.errors import MlpilotError

if TYPE_CHECKING:
    from mlpilot.checks import CheckReport, CheckResult

EXIT_BLESSED = 0
EXIT_NOT_BLESSED = 1
EXIT_USAGE = 2


def _only(values: Sequence[str] | None) -> list[str] | None:
    """``--only a --only b,c`` → ``["a", "b", "c"]`` (None when not given)."""
    names = [n.strip() for v in values or () for n in v.split(",") if n.strip()]
    return names or None


def _suite_names(config: dict[str, Any], only: list[str] | None) -> list[str]:
    """The checks the runner will run, in order (for the progress bar)."""
    from mlpilot.checks import DEFAULT_SUITE

    blocks = config.get("checks") or {}
    names = only or [*DEFAULT_SUITE, *(n for n in blocks if n not in DEFAULT_SUITE)]
    return [n for n in names
            if not (isinstance(blocks.get(n), dict) and blocks[n].get("enabled", True) is False)]


def _run_with_progress(ref: str, names: list[str], **kwargs: Any) -> CheckReport:
    """``run_checks`` behind a progress bar on stderr (a line per check when not a terminal,
    as in CI logs, where a live bar cannot redraw)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    from mlpilot.checks import run_checks
    from mlpilot.reports.console import verdict_text

    console = err()
    if not console.is_terminal:  # CI logs: no live bar, a line per finished check instead
        def log(result: CheckResult) -> None:
            console.print(Text.assemble(verdict_text(result.verdict),
                                        f" {result.check} ({result.duration_s:.2f} s)"))

        return run_checks(ref, on_result=log, **kwargs)

    def label(done: int) -> str:
        return f"{ref}: {names[done]}" if done < len(names) else f"{ref}: done"

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                  transient=True) as progress:
        task = progress.add_task(label(0), total=len(names) or None)
        done = 0

        def advance(result: CheckResult) -> None:
            nonlocal done
            done += 1
            progress.update(task, advance=1, description=label(done))

        return run_checks(ref, on_result=advance, **kwargs)


def check(
    ref: Annotated[str, typer.Argument(
        metavar="REF", help="The candidate: 'model/3', 'model@candidate' or 'model' (latest).")],
    baseline: Annotated[str, typer.Option(
        "--baseline", "-b", metavar="ALIAS|REF",
        help="Compare against this alias of the model or a full reference; 'none' for no "
             "baseline.")] = "production",
    data: Annotated[Path | None, typer.Option(
        "--data", "-d", metavar="FILE", dir_okay=False,
        help="The holdout, label included (.parquet or .csv); default: the run's "
             "validation dataset.")] = None,
    target: Annotated[str | None, typer.Option(
        "--target", "-t", metavar="COL",
        help="The label column; default: the config's 'target' or the one holdout column "
             "that is not a model input.")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", metavar="FILE", dir_okay=False,
        help="checks.yaml: target, task, sensitive_features, seed and per-check "
             "parameters.")] = None,
    only: Annotated[list[str] | None, typer.Option(
        "--only", metavar="NAME", help="Run just this check (repeat, or separate with "
                                       "commas).")] = None,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", "-o", metavar="DIR", file_okay=False,
        help="Where to write the reports; default: $MLPILOT_HOME/reports/MODEL/VERSION.")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the report as JSON instead of the summary.")] = False,
    no_store: Annotated[bool, typer.Option(
        "--no-store", help="Do not store the report, the blessed tag or the model card on the "
                           "version.")] = False,
) -> None:
    """Run the CI checks on a candidate version; exit 0 only when it is blessed.

    Exit status: 0 blessed, 1 a blocking check failed, 2 the checks could not run.
    """
    from mlpilot.checks import load_config
    from mlpilot.reports import print_report, report_json, write_reports

    try:
        ctx = open_context()
        cfg = load_config(config)
        names = _only(only)
        candidate = ctx.store.resolve(ref)
        target_dir = out_dir or ctx.settings.home / "reports" / candidate.model / str(
            candidate.version)
        report = _run_with_progress(
            candidate.ref, _suite_names(cfg, names),
            baseline=None if baseline.strip().lower() in ("", "none") else baseline,
            data=data, target=target, config=cfg, only=names, output_dir=target_dir,
            store_report=not no_store, context=ctx,
        )
        if as_json:
            sys.stdout.write(report_json(report))
            sys.stdout.flush()
        else:
            print_report(report, out())
        version = ctx.store.get_version(candidate.model, candidate.version)
        paths = write_reports(report, version, target_dir, ctx.store, annotate=not no_store)
    except MlpilotError as exc:
        raise fail(exc.message, code=EXIT_USAGE) from None
    where = err() if as_json else out()
    where.print(Text.assemble("Reports written to ", (str(target_dir), "bold"), ": ",
                              ", ".join(paths)), soft_wrap=True)
    raise typer.Exit(EXIT_BLESSED if report.blessed else EXIT_NOT_BLESSED)


def register(app: typer.Typer) -> None:
    """Attach ``check`` to the root app."""
    app.command("check")(check)
