"""The standalone HTML check report: verdict, every check's evidence, and charts.

The page is one file: inline CSS, inline SVG charts, no scripts, no external
resources, so it opens from a CI artifact or an e-mail attachment as is.
Everything that comes from user data (feature and group names, values, model
names, descriptions, summaries) is HTML-escaped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from html import escape
from typing import TYPE_CHECKING, Any

from mlpilot import __version__
from mlpilot.checks._base import CheckResult, Verdict
from mlpilot.checks._report import REPORT_SCHEMA_VERSION
from mlpilot.reports import _evidence as ev
from mlpilot.reports.svg import bar_chart, fmt_value, grouped_bar_chart, interval_plot

if TYPE_CHECKING:
    from mlpilot.checks._report import CheckReport
    from mlpilot.core.entities import ModelVersion

__all__ = ["CSS", "evidence_html", "page", "render_html", "table_html"]

MAX_ROWS = 25
"""Rows of a list shown in an evidence table before it is cut ("… N more")."""
MAX_ITEMS = 20
"""Scalars of a list shown inline before it is cut."""
MAX_DEPTH = 3
"""Nesting shown as tables; deeper values are shown as one-line JSON."""
MAX_BARS = 20
"""Features in an importance chart."""

CSS = """
:root { --pass:#2e7d32; --warn:#b26a00; --fail:#c62828; --error:#6a1b9a; --skip:#607d8b;
        --line:#e0e0e0; --muted:#666; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif; color:#222;
       background:#fafafa; }
main { max-width:1100px; margin:0 auto; padding:24px; }
h1 { font-size:22px; margin:0 0 4px; } h2 { font-size:18px; margin:0; }
h3 { font-size:15px; margin:16px 0 6px; }
.muted { color:var(--muted); }
.banner { padding:14px 18px; border-radius:8px; color:#fff; font-size:18px; font-weight:600;
          margin:16px 0; }
.banner.blessed { background:var(--pass); } .banner.not-blessed { background:var(--fail); }
.banner ul { margin:6px 0 0; font-size:14px; font-weight:normal; }
.card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:16px;
        margin:16px 0; }
.card header { display:flex; gap:12px; align-items:center; flex-wrap:wrap; }
table { border-collapse:collapse; margin:6px 0; }
th, td { border-bottom:1px solid var(--line); padding:4px 8px; text-align:left;
         vertical-align:top; }
th { background:#f3f3f3; font-weight:600; }
table.kv th { background:none; color:#37474f; white-space:nowrap; }
table.kv table.kv { margin:0; }
td.num { text-align:right; font-variant-numeric:tabular-nums; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; color:#fff; font-size:12px;
         font-weight:600; text-transform:uppercase; letter-spacing:.03em; }
.badge.pass { background:var(--pass); } .badge.warn { background:var(--warn); }
.badge.fail { background:var(--fail); } .badge.error { background:var(--error); }
.badge.skip { background:var(--skip); }
.sev { font-size:12px; color:var(--muted); }
.sev.blocking { color:#000; font-weight:600; }
code, .json { font-family:ui-monospace,SFMono-Regular,Menlo,monospace; font-size:12px;
              word-break:break-all; }
details summary { cursor:pointer; color:#37474f; margin:8px 0; }
svg.chart { display:block; max-width:100%; height:auto; margin:8px 0; }
nav a { margin-right:10px; }
footer { margin-top:24px; color:var(--muted); font-size:12px; }
"""


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def slug(name: str) -> str:
    """An HTML id made of safe characters only."""
    return "check-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "x")


def page(title: str, body: str) -> str:
    """A complete standalone HTML document around ``body`` (already escaped HTML)."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head>\n"
            f"<body><main>\n{body}\n</main></body></html>\n")


def badge(verdict: Verdict | str) -> str:
    v = Verdict(verdict).value
    return f'<span class="badge {v}">{v}</span>'


def table_html(headers: Iterable[str], rows: Iterable[Iterable[str]], *,
               numeric: Iterable[int] = ()) -> str:
    """A table from already-escaped cells (``numeric``: indexes of right-aligned columns)."""
    right = set(numeric)
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i in right else f"<td>{c}</td>"
                         for i, c in enumerate(row)) + "</tr>"
        for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# -- generic evidence -----------------------------------------------------------------
def evidence_html(value: Any, depth: int = 0) -> str:
    """Any JSON value as escaped HTML: nested key/value tables, row tables, inline lists."""
    if ev.is_scalar(value):
        return _scalar(value)
    if depth >= MAX_DEPTH:
        return f'<span class="json">{_e(ev.compact_json(value))}</span>'
    if isinstance(value, Mapping):
        if not value:
            return '<span class="muted">none</span>'
        rows = "".join(f"<tr><th>{_e(k)}</th><td>{evidence_html(v, depth + 1)}</td></tr>"
                       for k, v in value.items())
        return f'<table class="kv">{rows}</table>'
    if isinstance(value, list | tuple):
        return _list(list(value), depth)
    return _e(value)


def _scalar(value: Any) -> str:
    if value is None:
        return '<span class="muted">—</span>'
    text = _e(ev.fmt(value))
    return f"<code>{text}</code>" if isinstance(value, str) and len(value) > 60 else text


def _list(items: list[Any], depth: int) -> str:
    if not items:
        return '<span class="muted">none</span>'
    if all(ev.is_scalar(v) for v in items):
        shown = ", ".join(_e(ev.fmt(v)) for v in items[:MAX_ITEMS])
        more = len(items) - MAX_ITEMS
        return shown + (f' <span class="muted">… {more} more</span>' if more > 0 else "")
    if all(isinstance(v, Mapping) for v in items):
        columns: dict[str, None] = {}
        for row in items:
            columns.update(dict.fromkeys(str(k) for k in row))
        # cells holding mappings or lists show as one-line JSON: tables in tables get wide
        rows = [[evidence_html(row.get(c), MAX_DEPTH) for c in columns]
                for row in items[:MAX_ROWS]]
        more = len(items) - MAX_ROWS
        tail = f'<div class="muted">… {more} more rows</div>' if more > 0 else ""
        return table_html(columns, rows) + tail
    return f'<span class="json">{_e(ev.compact_json(items))}</span>'


# -- charts ---------------------------------------------------------------------------
def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def importance_chart(evidence: Mapping[str, Any], title: str = "Feature importance") -> str:
    """The importance bar chart of an explainability result ('' when there is none)."""
    pairs = ev.importances(evidence)
    if not pairs:
        return ""
    more = len(pairs) - MAX_BARS
    note = f'<p class="muted">{more} less important features not shown.</p>' if more > 0 else ""
    shares = sum(v for _, v in pairs) <= 1.0001
    return bar_chart(pairs[:MAX_BARS], title=title,
                     fmt=_percent if shares else fmt_value) + note


def metrics_section(evidence: Mapping[str, Any]) -> str:
    """A performance result's metric table and its interval plot ('' when there is none)."""
    rows, margin = ev.metric_rows(evidence)
    if not rows:
        return ""
    intervals, _ = ev.metric_intervals(evidence)
    parts = []
    if intervals:
        parts.append(interval_plot(
            intervals, margin=margin, margin_label="allowed degradation",
            title="Candidate − baseline (positive: candidate better), with confidence interval"))
    cells = [[_e(r.metric), _e(ev.fmt(r.candidate)), _e(ev.fmt(r.baseline)),
              _e(ev.fmt(r.estimate)),
              _e(f"[{ev.fmt(r.low)}, {ev.fmt(r.high)}]"),
              "—" if r.passed is None else badge(Verdict.PASS if r.passed else Verdict.FAIL)]
             for r in rows]
    parts.append(table_html(["metric", "candidate", "baseline", "improvement", "CI", "passed"],
                            cells, numeric=(1, 2, 3)))
    return "".join(parts)


def groups_section(evidence: Mapping[str, Any]) -> str:
    """Grouped bars and a table for each set of per-group rows ('' when there is none)."""
    parts = []
    for table in ev.group_tables(evidence):
        labels = [str(r.get(table.label_key)) for r in table.rows]
        metrics = table.metrics[:6]
        parts.append(f"<h3>{_e(table.title)}</h3>")
        if metrics and len(labels) <= 40:
            parts.append(grouped_bar_chart(
                labels, {m: [ev.number(r.get(m)) for r in table.rows] for m in metrics}))
        columns = table.columns
        parts.append(table_html(columns, [[evidence_html(r.get(c), MAX_DEPTH)
                                           for c in columns] for r in table.rows[:MAX_ROWS]]))
    return "".join(parts)


def charts(result: CheckResult) -> str:
    """Every chart the result's evidence supports, in a fixed order."""
    evidence = result.evidence if isinstance(result.evidence, Mapping) else {}
    return metrics_section(evidence) + groups_section(evidence) + importance_chart(evidence)


# -- the page -------------------------------------------------------------------------
def _summary_table(report: CheckReport) -> str:
    rows = [[f'<a href="#{slug(r.check)}">{_e(r.check)}</a>', badge(r.verdict),
             f'<span class="sev {_e(r.severity.value)}">{_e(r.severity.value)}</span>',
             _e(r.summary), _duration(r)] for r in report.results]
    return table_html(["check", "verdict", "severity", "summary", "duration"], rows,
                      numeric=(4,))


def _duration(result: CheckResult) -> str:
    if ev.carried_from(result.evidence):
        return '<span class="muted">earlier</span>'
    return _e(f"{result.duration_s:.2f} s")


def _check_card(result: CheckResult) -> str:
    open_ = " open" if result.verdict in (Verdict.FAIL, Verdict.WARN, Verdict.ERROR) else ""
    blocking = " — blocks the candidate" if result.blocks else ""
    evidence = result.evidence if isinstance(result.evidence, Mapping) else {}
    earlier = ev.carried_from(evidence)
    carried = (f'<p class="muted">Not re-run: kept from the report of {_e(earlier)}.</p>'
               if earlier else "")
    body = (f'<details{open_}><summary>Evidence</summary>{evidence_html(evidence)}</details>'
            if evidence else '<p class="muted">No evidence recorded.</p>')
    return (f'<section class="card" id="{slug(result.check)}"><header>'
            f"<h2>{_e(result.check)}</h2>{badge(result.verdict)}"
            f'<span class="sev {_e(result.severity.value)}">{_e(result.severity.value)}'
            f"{_e(blocking)}</span>"
            f'<span class="muted">{_duration(result)}</span></header>'
            f"<p>{_e(result.summary)}</p>{carried}{charts(result)}{body}</section>")


def _version_info(version: ModelVersion | None) -> str:
    if version is None:
        return ""
    rows = {"format": version.format, "artifact": version.artifact_digest,
            "aliases": ", ".join(version.aliases) or None, "created": (
                f"{version.created_at:%Y-%m-%d %H:%M} UTC by {version.created_by}"),
            "description": version.description or None}
    return evidence_html({k: v for k, v in rows.items() if v is not None})


def render_html(report: CheckReport, version: ModelVersion | None = None) -> str:
    """The check report as one standalone HTML page.

    Args:
        report: the results to show.
        version: the candidate's registry entry, for its format, aliases and
            description (optional).

    Returns:
        The HTML document.
    """
    blocking = report.blocking_failures
    if report.blessed:
        banner = '<div class="banner blessed">BLESSED — every blocking check passed</div>'
    else:
        items = "".join(f"<li>{_e(r.check)}: {_e(r.summary)}</li>" for r in blocking)
        banner = (f'<div class="banner not-blessed">NOT BLESSED — {len(blocking)} blocking '
                  f"failure{'s' if len(blocking) != 1 else ''}<ul>{items}</ul></div>")
    counts = ", ".join(f"{n} {v}" for v, n in report.counts().items() if n)
    data = {k: v for k, v in (report.data or {}).items() if v is not None}
    head = (f"<h1>Check report: {_e(report.candidate)}</h1>"
            f'<p class="muted">baseline: {_e(report.baseline or "none")} · '
            f"{_e(f'{report.created_at:%Y-%m-%d %H:%M:%S} UTC')} · {_e(counts or 'no checks')}"
            "</p>")
    nav = "<nav>" + "".join(f'<a href="#{slug(r.check)}">{_e(r.check)}</a>'
                            for r in report.results) + "</nav>"
    body = "".join([
        head, banner, _version_info(version),
        "<h3>Holdout</h3>" + evidence_html(data) if data else "",
        '<section class="card"><h2>Summary</h2>', _summary_table(report), "</section>", nav,
        *(_check_card(r) for r in report.results),
        f"<footer>mlpilot {_e(__version__)} · report schema {REPORT_SCHEMA_VERSION}</footer>",
    ])
    return page(f"mlpilot check — {report.candidate}", body)
