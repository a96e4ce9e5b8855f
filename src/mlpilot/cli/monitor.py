"""``mlpilot monitor`` (turn the inference log into metric points and alerts, once or in a
loop) and ``mlpilot drift`` (a drift report of a recent window against the training data:
console table, JSON, or a self-contained HTML page with per-feature CDF overlays).
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from rich.text import Text

from mlpilot.cli._context import open_context
from mlpilot.cli._output import cell, err, fmt_number, new_table, out, print_json

if TYPE_CHECKING:
    import pandas as pd

    from mlpilot.monitor.drift import DriftReport
    from mlpilot.monitor.runner import MonitorResult
    from mlpilot.monitor.source import Reference

LogDir = Annotated[str | None, typer.Option(
    "--log-dir", help="Inference log directory (default: $MLPILOT_HOME/inference-log).")]
Deployment = Annotated[str | None, typer.Option(
    "--deployment", "-d", help="Only this deployment's traffic (default: all).")]
FORMATS = ("console", "json", "html")


def _duration(text: str) -> timedelta:
    from mlpilot.monitor.runner import parse_duration

    return parse_duration(text)


def _when(text: str | None, now: datetime) -> datetime | None:
    """An ISO time, or a duration meaning that long before ``now`` (``"2h"``)."""
    if text is None:
        return None
    from mlpilot.core.clock import as_utc
    from mlpilot.core.errors import InvalidArgument

    try:
        return as_utc(datetime.fromisoformat(text))
    except ValueError:
        pass
    try:
        return now - _duration(text)
    except InvalidArgument:
        raise InvalidArgument(f"A time is ISO 8601 ('2024-05-06T10:00') or a duration ago "
                              f"('2h'). Got {text!r}.") from None


# -- monitor ------------------------------------------------------------------------------
def _show_run(result: MonitorResult) -> None:
    console = out()
    if result.skipped:
        console.print(Text(f"{result.model}: skipped — another monitor holds the cursor.",
                           style="yellow"))
        return
    if result.windows:
        table = new_table("window (UTC)", "requests", "rows", "drift", "drifted features",
                          "pred. drift", "p99 ms", "errors", "accuracy", "est. acc.",
                          "alerts", no_wrap=("window (UTC)",))
        for w in result.windows:
            d = w.to_dict()
            pred = d["prediction_drift"]
            table.add_row(
                cell(f"{w.since:%Y-%m-%d %H:%M}–{w.until:%H:%M}"), cell(w.records),
                cell(w.rows), cell(fmt_number(d["drift_share"])),
                cell(", ".join(d["drifted_features"])),
                cell(None if pred is None else ("yes" if pred["drifted"] else "no")),
                cell(fmt_number(d["ops"].get("ops.latency_p99_ms"))),
                cell(fmt_number(d["ops"].get("ops.error_rate"))),
                cell(fmt_number(d["accuracy"])), cell(fmt_number(d["estimated_accuracy"])),
                cell(", ".join(f"{a['key'].rsplit(':', 1)[-1]} ({a['severity']})"
                               for a in d["alerts"])))
        console.print(table)
    console.print(Text(
        f"{result.model}: {result.windows_processed} windows, {result.points_written} points, "
        f"{result.alerts_opened} alerts opened, {result.alerts_updated} updated"
        + (f", {len(result.rescored)} re-scored for late labels" if result.rescored else "")
        + (f"; cursor at {result.cursor:%Y-%m-%d %H:%M} UTC" if result.cursor else "")))
    for note in result.notes:
        console.print(Text(f"  note: {note}", style="dim"), soft_wrap=True)


def monitor(
    model: Annotated[str, typer.Argument(help="The model to monitor.")],
    deployment: Deployment = None,
    window: Annotated[str, typer.Option("--window", help="Window length ('1h', '15m').")] = "1h",
    once: Annotated[bool, typer.Option("--once", help="Process the complete windows and "
                                       "exit (the default).")] = False,
    every: Annotated[str | None, typer.Option(
        "--every", help="Run again every interval ('60s') until Ctrl+C.")] = None,
    version: Annotated[int | None, typer.Option(
        "--version", help="Only this version's traffic, against its own training data.")] = None,
    log_dir: LogDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Turn the inference log into metric points and alerts, window by window."""
    from mlpilot.core.errors import InvalidArgument
    from mlpilot.monitor.runner import Monitor

    if once and every is not None:
        raise InvalidArgument("Use --once or --every, not both.")
    pause = _duration(every).total_seconds() if every is not None else None
    context = open_context()
    mon = Monitor(context, model, deployment=deployment, window=window, version=version,
                  log_dir=log_dir)
    try:
        while True:
            with err().status(f"Monitoring {model}…"):
                result = mon.run_once()
            if as_json:
                print_json(result.to_dict())
            else:
                _show_run(result)
            if pause is None:
                return
            time.sleep(pause)
    except KeyboardInterrupt:
        err().print(Text("Stopped.", style="dim"))


# -- drift ---------------------------------------------------------------------------------
def _rows(report: DriftReport) -> list[dict[str, Any]]:
    rows = [c.to_dict() for c in report.columns.values()]
    return sorted(rows, key=lambda r: (not r["drifted"], -(r.get("effect_size") or 0.0),
                                       r["column"]))


def _svg_cdf(name: str, reference: list[float], current: np.ndarray) -> str:
    """Reference (profile quantiles) and window empirical CDFs, overlaid, as inline SVG."""
    w, h, pad = 420, 180, 34
    cur = np.sort(current[np.isfinite(current)])
    xs = np.asarray([v for v in reference if v is not None], dtype=float)
    if xs.size < 2 and cur.size < 2:
        return ""
    lo = float(min(xs.min() if xs.size else np.inf, cur.min() if cur.size else np.inf))
    hi = float(max(xs.max() if xs.size else -np.inf, cur.max() if cur.size else -np.inf))
    span = hi - lo or 1.0

    def path(x: np.ndarray, y: np.ndarray) -> str:
        px = pad + (x - lo) / span * (w - 2 * pad)
        py = h - pad - y * (h - 2 * pad)
        return " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py, strict=True))

    ref_line = path(xs, np.linspace(0, 1, xs.size)) if xs.size >= 2 else ""
    cur_line = path(cur, np.arange(1, cur.size + 1) / cur.size) if cur.size else ""
    label = escape(name, quote=True)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" '
            f'aria-label="CDF of {label}" font-family="system-ui, sans-serif" font-size="11">'
            f'<rect x="{pad}" y="{pad}" width="{w - 2 * pad}" height="{h - 2 * pad}" '
            'fill="none" stroke="#ccc"/>'
            f'<polyline points="{ref_line}" fill="none" stroke="#4c78a8" stroke-width="2"/>'
            f'<polyline points="{cur_line}" fill="none" stroke="#f58518" stroke-width="2"/>'
            f'<text x="{pad}" y="{pad - 8}">{label}: reference (blue) vs window (orange)'
            f'</text><text x="{pad}" y="{h - 10}">{escape(fmt_number(lo))}</text>'
            f'<text x="{w - pad}" y="{h - 10}" text-anchor="end">{escape(fmt_number(hi))}'
            '</text></svg>')


def _categories(name: str, profile_col: dict[str, Any], current: pd.Series) -> str:
    from mlpilot.data.profile import category_key
    from mlpilot.reports.svg import grouped_bar_chart

    freq = profile_col.get("frequencies") or {}
    total = sum(freq.values()) + int(profile_col.get("other_count") or 0)
    counts = current.dropna().map(category_key).value_counts()
    keys = list(dict.fromkeys(list(freq)[:12] + list(counts.index[:12])))
    n = max(int(counts.sum()), 1)
    return grouped_bar_chart(keys, {
        "reference": [freq.get(k, 0) / total if total else None for k in keys],
        "window": [int(counts.get(k, 0)) / n for k in keys]}, title=f"{name}: share per value")


def _html(model: str, ref: Reference, report: DriftReport, features: pd.DataFrame,
          since: datetime, until: datetime) -> str:
    import pandas as pd

    from mlpilot.reports.html import page, table_html

    rows = _rows(report)
    cells = [[escape(r["column"]), escape(str(r["dtype"])), escape(str(r["detector"])),
              escape(fmt_number(r.get("statistic"))), escape(fmt_number(r.get("p_value"))),
              escape(fmt_number(r.get("p_value_adjusted"))),
              escape(fmt_number(r.get("effect_size"))),
              "<strong>drifted</strong>" if r["drifted"] else "ok"] for r in rows]
    charts = []
    columns = (ref.profile or {}).get("columns", {})
    for r in rows:
        name, col = r["column"], columns.get(r["column"]) or {}
        if col.get("dtype") in ("integer", "float"):
            values = pd.to_numeric(features[name], errors="coerce").to_numpy(dtype=float)
            charts.append(_svg_cdf(name, col.get("quantiles") or [], values))
        elif col.get("frequencies") is not None:
            charts.append(_categories(name, col, features[name]))
    body = (f"<h1>Drift report: {escape(model)} v{ref.version}</h1>"
            f"<p>Window {escape(since.isoformat())} – {escape(until.isoformat())}: "
            f"{report.n_current} rows against {report.n_reference} training rows. "
            f"{len(report.drifted_columns)} of {len(report.columns)} features drifted "
            f"(share {report.share_drifted:.0%}).</p>"
            + table_html(["feature", "type", "test", "statistic", "p-value", "adjusted p",
                          "effect", "verdict"], cells, numeric=(3, 4, 5, 6))
            + "<h2>Distributions</h2>" + "".join(f"<figure>{c}</figure>" for c in charts if c))
    return page(f"Drift report: {model}", body)


def drift(
    model: Annotated[str, typer.Argument(help="The model.")],
    since: Annotated[str | None, typer.Option(
        "--since", help="Window start: ISO time or a duration ago ('2h'). Default: --window "
        "before --until.")] = None,
    until: Annotated[str | None, typer.Option(
        "--until", help="Window end: ISO time or a duration ago. Default: now.")] = None,
    window: Annotated[str, typer.Option("--window", help="Window length without --since.")
                      ] = "1h",
    version: Annotated[int | None, typer.Option(
        "--version", help="Compare with this version's training data (default: production; "
        "also filters the traffic to it).")] = None,
    deployment: Deployment = None,
    fmt: Annotated[str, typer.Option("--format", help="console, json or html.")] = "console",
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the report here instead of stdout.")] = None,
    log_dir: LogDir = None,
) -> None:
    """Drift of a recent window of traffic against the model's training data."""
    from mlpilot.core.clock import utcnow
    from mlpilot.core.errors import InvalidArgument
    from mlpilot.monitor.drift import drift_report
    from mlpilot.monitor.source import load_window, reference_for

    if fmt not in FORMATS:
        raise InvalidArgument(f"--format must be one of {list(FORMATS)}. Got {fmt!r}.")
    now = utcnow()
    end = _when(until, now) or now
    start = _when(since, now) or end - _duration(window)
    context = open_context()
    ref = reference_for(context, model, version)
    data = load_window(context, model, start, end, deployment=deployment, version=version,
                       log_dir=log_dir)
    if not ref.profile or not ref.profile.get("columns"):
        raise InvalidArgument(f"{model} v{ref.version} has no training profile to compare "
                              f"with ({'; '.join(ref.notes) or 'no dataset'}). Register it "
                              "with training_data=.")
    if data.features.empty:
        raise InvalidArgument(f"No successful requests for {model} between "
                              f"{start.isoformat()} and {end.isoformat()}.")
    cols = [c for c in ref.features if c in data.features.columns]
    report = drift_report(ref.profile, data.features[cols])
    if fmt == "json":
        text = json.dumps({"model": model, "version": ref.version,
                                         "since": start.isoformat(), "until": end.isoformat(),
                                         **report.to_dict(), "features": _rows(report)},
                                        indent=2)
    elif fmt == "html":
        text = _html(model, ref, report, data.features, start, end)
    else:
        text = ""
    if output is not None and fmt != "console":
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        out().print(Text(f"Wrote {output}"))
        return
    if fmt != "console":
        typer.echo(text)
        return
    table = new_table("feature", "type", "test", "statistic", "p-value", "adjusted p",
                      "effect", "verdict",
                      title=f"{model} v{ref.version}: {report.n_current} rows, "
                      f"{start:%Y-%m-%d %H:%M}–{end:%Y-%m-%d %H:%M} UTC")
    for r in _rows(report):
        table.add_row(cell(r["column"]), cell(r["dtype"]), cell(r["detector"]),
                      cell(fmt_number(r.get("statistic"))), cell(fmt_number(r.get("p_value"))),
                      cell(fmt_number(r.get("p_value_adjusted"))),
                      cell(fmt_number(r.get("effect_size"))),
                      Text("drifted", style="bold red") if r["drifted"] else Text("ok"))
    out().print(table)
    out().print(Text(f"{len(report.drifted_columns)} of {len(report.columns)} features "
                     f"drifted (share {report.share_drifted:.0%})."))


def register(app: typer.Typer) -> None:
    """Attach ``monitor`` and ``drift`` to the root app."""
    app.command("monitor")(monitor)
    app.command("drift")(drift)
