"""Model cards generated from the registry: lineage, metrics, signature, checks, fairness.

A card is built once as a list of sections (paragraphs, tables, charts) and
rendered to Markdown (stored on the version, shown by the UI) or to a standalone
HTML page. Intended use and limitations come from the model's description when
it has paragraphs starting ``Intended use:`` / ``Limitations:``; otherwise the
card holds a placeholder for the owner to fill in, plus what the checks found.
Everything taken from user data is escaped for the output format.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any

from mlpilot.checks._base import Verdict
from mlpilot.checks._report import CheckReport
from mlpilot.core.entities import Lineage, Model, ModelVersion
from mlpilot.core.errors import NotFound
from mlpilot.reports import _evidence as ev
from mlpilot.reports.html import evidence_html, page, table_html
from mlpilot.reports.svg import bar_chart, grouped_bar_chart

if TYPE_CHECKING:
    from mlpilot.store import Store

__all__ = ["card_report", "model_card", "model_card_html"]

MAX_FEATURES = 15
"""Features listed in the importance section."""
_PART = re.compile(
    r"^\s*(?P<heading>#{1,6}\s*)?(?:\*\*)?(?P<name>intended uses?|intended-use|use cases|"
    r"known limitations|limitations|caveats)(?:\*\*)?\s*(?P<colon>:)?(?:\*\*)?\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
PLACEHOLDER_USE = ("To be completed by the model owner: the decisions this model supports, "
                   "who uses it, and the uses it must not be put to. Add a paragraph starting "
                   "'Intended use:' to the model's description to fill this section.")
PLACEHOLDER_LIMITS = ("To be completed by the model owner: populations, ranges and conditions "
                      "where the model is known to perform poorly. Add a paragraph starting "
                      "'Limitations:' to the model's description to fill this section.")


# -- the intermediate form ------------------------------------------------------------
@dataclass(frozen=True)
class _Text:
    text: str
    note: bool = False  # a placeholder or remark, shown in italics


@dataclass(frozen=True)
class _Table:
    headers: list[str]
    rows: list[list[Any]]


@dataclass(frozen=True)
class _Chart:
    svg: str  # HTML only; Markdown leaves charts out


@dataclass
class _Section:
    title: str
    blocks: list[_Text | _Table | _Chart] = field(default_factory=list)

    def text(self, text: str, note: bool = False) -> None:
        self.blocks.append(_Text(text, note))

    def table(self, headers: list[str], rows: list[list[Any]]) -> None:
        self.blocks.append(_Table(headers, rows))

    def pairs(self, values: Mapping[str, Any]) -> None:
        rows = [[k, v] for k, v in values.items() if v not in (None, "", [], {})]
        if rows:
            self.table(["", ""], rows)


@dataclass
class _Card:
    title: str
    subtitle: str
    sections: list[_Section]


# -- reading the registry -------------------------------------------------------------
def card_report(version: ModelVersion, report: CheckReport | None = None) -> CheckReport | None:
    """``report``, else the report stored on ``version`` (None if absent or unreadable)."""
    if report is not None:
        return report
    if not version.check_report:
        return None
    try:
        return CheckReport.from_dict(version.check_report)
    except (KeyError, TypeError, ValueError):
        return None


def split_description(text: str) -> tuple[str, str | None, str | None]:
    """``(overview, intended use, limitations)`` from a free-text description.

    A paragraph (or line) starting ``Intended use:`` or ``Limitations:`` — or a
    Markdown heading of that name — opens that part; text before any of them is
    the overview.
    """
    parts: dict[str, list[str]] = {"overview": [], "use": [], "limits": []}
    current = "overview"
    for line in (text or "").splitlines():
        match = _PART.match(line)
        if match and (match.group("heading") or match.group("colon")):
            current = "limits" if match.group("name").lower().endswith(
                ("limitations", "caveats")) else "use"
            if match.group("rest"):
                parts[current].append(match.group("rest"))
            continue
        parts[current].append(line)
    joined = {k: "\n".join(v).strip() for k, v in parts.items()}
    return joined["overview"], joined["use"] or None, joined["limits"] or None


def _code_text(code: Mapping[str, Any]) -> str | None:
    commit = code.get("git_commit") or code.get("commit")
    if not commit:
        return None
    dirty = code.get("git_dirty", code.get("dirty"))
    entry = code.get("entry_point")
    return (f"{commit}{' (uncommitted changes)' if dirty else ''}"
            f"{f', entry point {entry}' if entry else ''}")


def _dataset_roles(lineage: Lineage) -> dict[str, list[str]]:
    roles: dict[str, list[str]] = {}
    for e in lineage.edges:
        if e.source_kind == "dataset" and e.relation not in roles.get(e.source_id, []):
            roles.setdefault(e.source_id, []).append(e.relation)
    if lineage.version.dataset_id and "training" not in roles.get(lineage.version.dataset_id, []):
        roles.setdefault(lineage.version.dataset_id, []).insert(0, "training")
    return roles


def _build(store: Store, version: ModelVersion | str, report: CheckReport | None) -> _Card:
    mv = store.resolve(version) if isinstance(version, str) else version
    mv = store.get_version(mv.model, mv.version)  # fresh: tags and aliases move
    lineage = store.lineage(mv.model, mv.version)
    try:
        model: Model | None = store.get_model(mv.model)
    except NotFound:
        model = None
    report = card_report(mv, report)
    description = "\n\n".join(t for t in ((model.description if model else ""),
                                          mv.description) if t)
    overview, intended, limits = split_description(description)
    subtitle = (f"{mv.format} model · status {mv.status.value} · created "
                f"{mv.created_at:%Y-%m-%d %H:%M} UTC by {mv.created_by}")
    sections = [
        _details(mv, model),
        _text_section("Description", overview, "No description recorded."),
        _text_section("Intended use", intended, PLACEHOLDER_USE),
        _limitations(limits, report),
        _training_data(lineage),
        _training_run(lineage),
        _metrics(mv, report),
        _signature(mv),
        _checks(report),
        *_fairness(report),
        *_importance(report),
        _deployment(mv, lineage),
    ]
    return _Card(f"Model card: {mv.ref}", subtitle, [s for s in sections if s.blocks])


# -- sections -------------------------------------------------------------------------
def _details(mv: ModelVersion, model: Model | None) -> _Section:
    s = _Section("Model details")
    s.pairs({
        "model": mv.model, "version": mv.version, "format": mv.format,
        "status": mv.status.value, "artifact": mv.artifact_digest,
        "artifact size": f"{mv.artifact_size:,} bytes",
        "created": f"{mv.created_at:%Y-%m-%d %H:%M:%S} UTC", "created by": mv.created_by,
        "parent version": f"{mv.model}/{mv.parent_version}" if mv.parent_version else None,
        "tags": ", ".join(f"{k}={v}" for k, v in sorted(mv.tags.items())),
        "model tags": ", ".join(f"{k}={v}" for k, v in sorted((model.tags if model else {})
                                                               .items())),
    })
    return s


def _text_section(title: str, text: str | None, placeholder: str) -> _Section:
    s = _Section(title)
    if text:
        for paragraph in re.split(r"\n\s*\n", text):
            s.text(paragraph.strip())
    else:
        s.text(placeholder, note=True)
    return s


def _limitations(text: str | None, report: CheckReport | None) -> _Section:
    s = _text_section("Limitations", text, PLACEHOLDER_LIMITS)
    found = [r for r in (report.results if report else ())
             if r.verdict in (Verdict.WARN, Verdict.FAIL)]
    if found:
        s.text("Found by the checks:")
        s.table(["check", "verdict", "finding"],
                [[r.check, r.verdict.value, r.summary] for r in found])
    return s


def _training_data(lineage: Lineage) -> _Section:
    s = _Section("Training data (lineage)")
    roles = _dataset_roles(lineage)
    if not lineage.datasets:
        s.text("No dataset is linked to this version or its run.", note=True)
        return s
    s.table(["dataset", "role", "rows", "columns", "id", "digest", "created"],
            [[d.name, ", ".join(roles.get(d.id, [])) or "—", d.num_rows, d.num_columns, d.id,
              d.digest, f"{d.created_at:%Y-%m-%d}"] for d in lineage.datasets])
    return s


def _training_run(lineage: Lineage) -> _Section:
    s = _Section("Training run")
    run = lineage.run
    if run is None:
        s.text("No producing run was recorded for this version.", note=True)
        return s
    env = run.environment or {}
    s.pairs({
        "run": f"{run.name} ({run.id})", "status": run.status.value,
        "started": f"{run.start_time:%Y-%m-%d %H:%M:%S} UTC",
        "ended": f"{run.end_time:%Y-%m-%d %H:%M:%S} UTC" if run.end_time else None,
        "code version": _code_text(run.code_version or {}),
        "python": env.get("python"), "parent run": run.parent_run_id,
    })
    if run.params:
        s.text("Parameters:")
        s.table(["param", "value"], [[k, v] for k, v in sorted(run.params.items())])
    return s


def _metrics(mv: ModelVersion, report: CheckReport | None) -> _Section:
    s = _Section("Metrics")
    if mv.metrics:
        s.table(["metric", "value"], [[k, ev.fmt(v)] for k, v in sorted(mv.metrics.items())])
    perf = _result(report, "performance")
    rows, margin = ev.metric_rows(perf.evidence) if perf else ([], None)
    if rows:
        base = f" against {report.baseline}" if report and report.baseline else ""
        s.text(f"Holdout evaluation by the performance check{base}"
               + (f" (allowed degradation {ev.fmt(-margin)})" if margin else "") + ":")
        s.table(["metric", "candidate", "baseline", "improvement", "confidence interval"],
                [[r.metric, ev.fmt(r.candidate), ev.fmt(r.baseline), ev.fmt(r.estimate),
                  f"[{ev.fmt(r.low)}, {ev.fmt(r.high)}]"] for r in rows])
    if not s.blocks:
        s.text("No metrics recorded.", note=True)
    return s


def _signature(mv: ModelVersion) -> _Section:
    s = _Section("Signature")
    sig = mv.signature or {}
    inputs = sig.get("inputs")
    if isinstance(inputs, list) and inputs:
        s.table(["input", "dtype", "nullable"],
                [[c.get("name"), c.get("dtype"), "yes" if c.get("nullable") else "no"]
                 if isinstance(c, Mapping) else [c, "—", "—"] for c in inputs])
    outputs = sig.get("outputs")
    if isinstance(outputs, Mapping) and outputs:
        s.pairs({f"output {k}": ev.compact_json(v) if not ev.is_scalar(v) else v
                 for k, v in outputs.items()})
    elif isinstance(outputs, list) and outputs:
        s.table(["output", "dtype"], [[c.get("name"), c.get("dtype")] for c in outputs
                                      if isinstance(c, Mapping)])
    if not s.blocks:
        s.text("No signature recorded.", note=True)
    return s


def _checks(report: CheckReport | None) -> _Section:
    s = _Section("Checks and blessing")
    if report is None:
        s.text("No check report recorded. Run `mlpilot check` on this version.", note=True)
        return s
    blocking = ", ".join(r.check for r in report.blocking_failures)
    s.text("Blessed: yes — every blocking check passed." if report.blessed else
            f"Blessed: no — blocking failures: {blocking}.")
    s.pairs({"baseline": report.baseline or "none",
             "checked": f"{report.created_at:%Y-%m-%d %H:%M:%S} UTC",
             "holdout rows": (report.data or {}).get("rows"),
             "label": (report.data or {}).get("target")})
    s.table(["check", "verdict", "severity", "summary"],
            [[r.check, r.verdict.value, r.severity.value, r.summary] for r in report.results])
    return s


def _result(report: CheckReport | None, name: str) -> Any:
    if report is None:
        return None
    try:
        return report.get(name)
    except KeyError:
        return None


def _fairness(report: CheckReport | None) -> list[_Section]:
    result = _result(report, "fairness")
    if result is None:
        return []
    s = _Section("Fairness")
    s.text(f"{result.verdict.value.upper()}: {result.summary}")
    disparities = result.evidence.get("disparities")
    if isinstance(disparities, list) and disparities and all(
            isinstance(d, Mapping) for d in disparities):
        s.table(["grouping", "disparity", "value", "bound", "passed"],
                [[d.get("feature"), d.get("disparity"), ev.fmt(d.get("value")),
                  f"{d.get('bound_kind', '')} {ev.fmt(d.get('bound'))}".strip(),
                  ev.fmt(d.get("passed"))] for d in disparities])
    for table in ev.group_tables(result.evidence):
        # nested cells (a row's attribute values) repeat the group label: leave them out
        columns = [c for c in table.columns if all(ev.is_scalar(r.get(c)) for r in table.rows)]
        s.text(f"{table.title}:")
        labels = [str(r.get(table.label_key)) for r in table.rows]
        if table.metrics and len(labels) <= 40:
            s.blocks.append(_Chart(grouped_bar_chart(
                labels, {m: [ev.number(r.get(m)) for r in table.rows] for m in table.metrics[:6]})))
        s.table(columns, [[r.get(c) for c in columns] for r in table.rows])
    return [s]


def _importance(report: CheckReport | None) -> list[_Section]:
    result = _result(report, "explainability")
    pairs = ev.importances(result.evidence) if result is not None else []
    if not pairs:
        return []
    s = _Section("Feature importance")
    method = result.evidence.get("method")
    s.text(f"Share of the mean absolute attribution per input column"
           f"{f' ({method})' if isinstance(method, str) else ''}, most important first.")
    shown = pairs[:MAX_FEATURES]
    s.blocks.append(_Chart(bar_chart(shown, fmt=lambda v: "n/a" if v is None else f"{v:.1%}")))
    s.table(["feature", "importance"], [[k, f"{v:.1%}"] for k, v in shown])
    if len(pairs) > MAX_FEATURES:
        s.text(f"{len(pairs) - MAX_FEATURES} less important features not listed.", note=True)
    return [s]


def _deployment(mv: ModelVersion, lineage: Lineage) -> _Section:
    s = _Section("Aliases and deployments")
    s.pairs({"aliases": ", ".join(sorted(mv.aliases)) or "none"})
    if lineage.deployments:
        rows = []
        for d in lineage.deployments:
            routes = [r for r in d.routes if r.version == mv.version]
            share = sum(r.weight for r in routes)
            rows.append([d.name, d.strategy, ", ".join(r.role for r in routes),
                         f"{share:.0%}", d.status])
        s.table(["deployment", "strategy", "role", "traffic", "status"], rows)
    else:
        s.text("Not routed by any deployment.", note=True)
    return s


# -- renderers ------------------------------------------------------------------------
def _md(value: Any) -> str:
    """Inline Markdown text: raw HTML neutralised, table pipes escaped, one line."""
    text = ev.fmt(value) if ev.is_scalar(value) else ev.compact_json(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"\s*\n\s*", " ", text.replace("|", "\\|"))


def _md_block(text: str) -> str:
    """A paragraph of user Markdown: kept as written, but raw HTML neutralised."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _render_md(card: _Card) -> str:
    lines = [f"# {_md(card.title)}", "", f"_{_md(card.subtitle)}_", ""]
    for section in card.sections:
        lines += [f"## {_md(section.title)}", ""]
        for block in section.blocks:
            if isinstance(block, _Text):
                lines += [f"_{_md(block.text)}_" if block.note else _md_block(block.text), ""]
            elif isinstance(block, _Table):
                headers = [_md(h) or " " for h in block.headers]
                lines.append("| " + " | ".join(headers) + " |")
                lines.append("|" + "|".join("---" for _ in headers) + "|")
                lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in block.rows]
                lines.append("")
    lines.append("_Generated by mlpilot from the registry, lineage and check report._")
    return "\n".join(lines) + "\n"


def _h(value: Any) -> str:
    return escape(ev.fmt(value) if ev.is_scalar(value) else ev.compact_json(value), quote=True)


def _render_html(card: _Card) -> str:
    parts = [f"<h1>{_h(card.title)}</h1>", f'<p class="muted">{_h(card.subtitle)}</p>']
    for section in card.sections:
        parts.append(f'<section class="card"><h2>{_h(section.title)}</h2>')
        for block in section.blocks:
            if isinstance(block, _Text):
                body = "<br>".join(_h(line) for line in block.text.splitlines())
                parts.append(f'<p class="muted"><em>{body}</em></p>' if block.note
                             else f"<p>{body}</p>")
            elif isinstance(block, _Chart):
                parts.append(block.svg)
            elif block.headers == ["", ""]:
                parts.append(evidence_html({str(k): v for k, v in block.rows}))
            else:
                parts.append(table_html(block.headers, [[_h(c) for c in row]
                                                        for row in block.rows]))
        parts.append("</section>")
    parts.append("<footer>Generated by mlpilot from the registry, lineage and check report."
                 "</footer>")
    return page(card.title, "".join(parts))


# -- public ---------------------------------------------------------------------------
def model_card(store: Store, version: ModelVersion | str,
               report: CheckReport | None = None) -> str:
    """The model card of ``version`` as Markdown.

    Args:
        store: the metadata store (lineage, model description, deployments).
        version: the version or a reference to it (``"credit-risk/3"``, ``"m@production"``).
        report: the check report to show; default: the one stored on the version.

    Raises:
        NotFound: unknown model or version.
    """
    return _render_md(_build(store, version, report))


def model_card_html(store: Store, version: ModelVersion | str,
                    report: CheckReport | None = None) -> str:
    """The model card of ``version`` as a standalone HTML page (charts inline).

    Raises:
        NotFound: unknown model or version.
    """
    return _render_html(_build(store, version, report))
