"""The diagnosis report: a Rich table, strict JSON, and a standalone HTML page with SVG plots.

The HTML page reuses the check report's look (:mod:`mlpilot.reports.html`): the
ranked causes, one distribution plot per top drifted feature (the reference's and
the window's CDFs overlaid for numeric columns, category shares side by side for
categorical ones), the importances, worst slices and the event timeline. No
scripts, no external resources; every user-supplied string is escaped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from mlpilot import __version__
from mlpilot.core.errors import InvalidArgument
from mlpilot.diagnose.causes import Diagnosis
from mlpilot.reports.html import page, table_html
from mlpilot.reports.svg import PALETTE, bar_chart, fmt_value, grouped_bar_chart

__all__ = ["FILES", "cdf_chart", "causes_table", "diagnosis_json", "render_html",
           "write_diagnosis"]

FILES = ("diagnosis.json", "diagnosis.html")
"""The files :func:`write_diagnosis` writes."""

_FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12"'


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def cdf_chart(feature: str, grid: Sequence[float], reference: Sequence[float],
              window: Sequence[float], *, width: int = 560, height: int = 240) -> str:
    """An ``<svg>`` overlaying the reference's and the window's CDFs of one feature."""
    points = [(float(x), float(r), float(w)) for x, r, w in zip(grid, reference, window,
                                                                strict=False)]
    left, right, top, bottom = 48.0, width - 12.0, 36.0, height - 30.0
    title = f"{feature}: CDF, reference vs window"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart cdf" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{_e(title)}" {_FONT}><title>{_e(title)}</title>',
             f'<text x="0" y="14" font-weight="bold">{_e(title)}</text>']
    if not points:
        parts.append('<text x="48" y="60" fill="#888">no data</text></svg>')
        return "".join(parts)
    lo, hi = points[0][0], points[-1][0]
    span = (hi - lo) or 1.0

    def sx(x: float) -> float:
        return left + (x - lo) / span * (right - left)

    def sy(p: float) -> float:
        return bottom - p * (bottom - top)

    for p in (0.0, 0.5, 1.0):  # axes and grid
        parts.append(f'<line x1="{left:.1f}" y1="{sy(p):.1f}" x2="{right:.1f}" y2="{sy(p):.1f}" '
                     f'stroke="#e0e0e0"/><text x="{left - 6:.1f}" y="{sy(p):.1f}" '
                     f'text-anchor="end" dominant-baseline="middle">{p:g}</text>')
    for x in (lo, (lo + hi) / 2, hi):
        parts.append(f'<text x="{sx(x):.1f}" y="{bottom + 16:.1f}" text-anchor="middle">'
                     f"{_e(fmt_value(x))}</text>")
    for j, (name, index) in enumerate((("reference", 1), ("window", 2))):
        colour = PALETTE[j]
        steps = []
        prev = 0.0
        for pt in points:  # a step function: CDFs jump at each grid value
            steps.append(f"{sx(pt[0]):.1f},{sy(prev):.1f}")
            steps.append(f"{sx(pt[0]):.1f},{sy(pt[index]):.1f}")
            prev = pt[index]
        parts.append(f'<polyline class="{name}" fill="none" stroke="{colour}" stroke-width="2" '
                     f'points="{" ".join(steps)}"/>')
        lx = left + j * 110
        parts.append(f'<rect x="{lx:.1f}" y="20" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{lx + 14:.1f}" y="25" dominant-baseline="middle">{name}</text>')
    parts.append("</svg>")
    return "".join(parts)


def diagnosis_json(diagnosis: Diagnosis) -> str:
    """The diagnosis as strict, indented JSON."""
    return json.dumps(diagnosis.to_dict(), indent=2, allow_nan=False) + "\n"


def causes_table(diagnosis: Diagnosis, *, limit: int = 15) -> Table:
    """The ranked causes as a Rich table (user data never parsed as markup)."""
    title = (f"Diagnosis of alert {diagnosis.alert_id}" if diagnosis.alert_id is not None
             else "Diagnosis")
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("subject", overflow="fold")
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("why", overflow="fold")
    for i, c in enumerate(diagnosis.causes[:limit], start=1):
        table.add_row(str(i), Text(c.kind, style="cyan"), Text(c.subject), f"{c.score:.3f}",
                      Text(c.summary))
    return table


def render_html(diagnosis: Diagnosis) -> str:
    """The diagnosis as one standalone HTML page."""
    d = diagnosis.to_dict()
    what = f"alert {d['alert_id']}" if d["alert_id"] is not None else "window"
    window = d["window"]
    facts = " · ".join(f"{_e(k)}: {_e(v)}" for k, v in window.items() if v is not None)
    causes = table_html(
        ["#", "kind", "subject", "score", "why"],
        [[str(i), _e(c["kind"]), _e(c["subject"]), f"{c['score']:.3f}", _e(c["summary"])]
         for i, c in enumerate(d["causes"], start=1)], numeric=[0, 3])
    plots = []
    for feature, curve in d["curves"].items():
        if curve.get("kind") == "cdf":
            svg = cdf_chart(feature, curve["grid"], curve["reference"], curve["window"])
        else:
            svg = grouped_bar_chart(curve["categories"],
                                    {"reference": curve["reference"], "window": curve["window"]},
                                    title=f"{feature}: category shares, reference vs window")
        plots.append(f'<div class="plot" data-feature="{_e(feature)}">{svg}</div>')
    sections = [
        f"<h1>Diagnosis: {_e(d['model'] or 'model')} — {_e(what)}</h1>",
        f'<p class="muted">{facts}</p>',
        f'<section class="card"><h2>Likely causes</h2><p>{_e(d["summary"])}</p>'
        f"{causes if d['causes'] else '<p class=muted>none found</p>'}</section>",
    ]
    if plots:
        sections.append('<section class="card"><h2>Top drifted features</h2>'
                        + "".join(plots) + "</section>")
    if d["importances"]:
        items = sorted(d["importances"].items(), key=lambda kv: -(kv[1] or 0.0))[:20]
        sections.append(
            f'<section class="card"><h2>Importance ({_e(d["importance_method"])})</h2>'
            + bar_chart(items, fmt=lambda v: "n/a" if v is None else f"{v:.1%}")
            + "</section>")
    sections.append(_drift_section(d["drift"]))
    if d["attribution"].get("features"):
        sections.append(_attribution_section(d["attribution"]))
    if d["slices"]:
        sections.append(_slices_section(d["slices"]))
    sections.append(_timeline_section(d["timeline"]))
    if d["notes"]:
        sections.append('<section class="card"><h2>Notes</h2><ul>'
                        + "".join(f"<li>{_e(n)}</li>" for n in d["notes"]) + "</ul></section>")
    sections.append(f"<footer>mlpilot {_e(__version__)} · diagnosis schema "
                    f"{d['schema_version']} · {_e(d['created_at'])}</footer>")
    return page(f"mlpilot diagnose — {d['model']} {what}", "".join(sections))


def write_diagnosis(diagnosis: Diagnosis, out_dir: str | Path) -> dict[str, Path]:
    """Write ``diagnosis.json`` and ``diagnosis.html`` into ``out_dir`` (created if missing).

    Returns:
        ``{file name: path}``.

    Raises:
        InvalidArgument: ``out_dir`` is a file or cannot be written.
    """
    from mlpilot.reports._write import _write_atomic

    out = Path(out_dir)
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InvalidArgument(
            f"The diagnosis directory {str(out)!r} is a file; give a directory with --output."
        ) from None
    except OSError as exc:
        raise InvalidArgument(
            f"Cannot create the diagnosis directory {str(out)!r}: {exc.strerror}.") from None
    texts = {"diagnosis.json": diagnosis_json(diagnosis),
             "diagnosis.html": render_html(diagnosis)}
    paths = {}
    for name in FILES:
        paths[name] = out / name
        try:
            _write_atomic(paths[name], texts[name])
        except OSError as exc:
            raise InvalidArgument(f"Cannot write {str(paths[name])!r}: {exc.strerror or exc}."
                                  ) from None
    return paths


# -- sections -------------------------------------------------------------------------------


def _num(value: Any) -> str:
    return _e(fmt_value(value))


def _drift_section(rows: Sequence[Mapping[str, Any]]) -> str:
    ordered = sorted(rows, key=lambda r: (not r["drifted"], -(r["effect_size"] or 0.0)))
    body = table_html(
        ["column", "type", "detector", "effect", "adjusted p", "drifted", "importance"],
        [[_e(r["column"]), _e(r["dtype"]), _e(r["detector"]), _num(r["effect_size"]),
          _num(r["p_value_adjusted"]), "yes" if r["drifted"] else "no",
          _num(r["importance"])] for r in ordered], numeric=[3, 4, 6])
    return f'<section class="card"><h2>Drift per feature</h2>{body}</section>'


def _attribution_section(shift: Mapping[str, Any]) -> str:
    features = shift["features"]
    names = sorted(features, key=lambda n: -abs(features[n]["delta_mean_abs"] or 0.0))[:15]
    chart = grouped_bar_chart(
        names, {"reference": [features[n]["reference_mean_abs"] for n in names],
                "window": [features[n]["window_mean_abs"] for n in names]},
        title="mean |SHAP|, reference vs window")
    return (f'<section class="card"><h2>Attribution shift ({_e(shift.get("method"))}, '
            f'{shift.get("rows_reference")} + {shift.get("rows_window")} rows)</h2>'
            f"{chart}</section>")


def _slices_section(slices: Sequence[Mapping[str, Any]]) -> str:
    body = table_html(
        ["slice", "metric", "rows", "share", "slice", "baseline", "excess", "adjusted p",
         "score"],
        [[_e(s["subject"]), _e(s["metric"]), str(s["support"]), f"{s['support_share']:.1%}",
          _num(s["slice_value"]), _num(s["rest_value"]), _num(s["excess"]),
          _num(s["p_value_adjusted"]), f"{s['score']:.3f}"] for s in slices[:25]],
        numeric=[2, 3, 4, 5, 6, 7, 8])
    return f'<section class="card"><h2>Worst slices</h2>{body}</section>'


def _timeline_section(entries: Sequence[Mapping[str, Any]]) -> str:
    if not entries:
        return ('<section class="card"><h2>Timeline</h2><p class="muted">no relevant event '
                "in the lookback</p></section>")
    body = table_html(
        ["time", "action", "target", "actor", "gap (min)", "reason", "score"],
        [[_e(t["time"]), _e(t["action"]), _e(t["target"]), _e(t["actor"]),
          f"{t['gap_seconds'] / 60:.0f}", _e(t["reason"]), f"{t['score']:.3f}"]
         for t in entries[:25]], numeric=[4, 6])
    return f'<section class="card"><h2>Timeline</h2>{body}</section>'
