"""Server-rendered SVG for the UI: the lineage graph, the drift heat map, traffic splits.

Every string drawn comes from user data (dataset, run, feature and deployment
names) and is XML-escaped here; the result is returned as :class:`markupsafe.Markup`
so templates can embed it without ``|safe``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from markupsafe import Markup

from mlpilot.reports.svg import PALETTE, fmt_value

_FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12"'
_KIND_COLOURS = {"dataset": "#e3f2fd", "run": "#fff3e0", "version": "#e8f5e9",
                 "deployment": "#f3e5f5"}


def _x(text: object) -> str:
    return escape(str(text), quote=True)


def _short(text: str, limit: int = 26) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Node:
    """One box of the lineage graph."""

    key: tuple[str, str]  # (kind, id)
    label: str
    href: str | None
    focus: bool = False


def lineage_svg(nodes: Sequence[Node], edges: Sequence[tuple[tuple[str, str], tuple[str, str]]],
                *, title: str) -> Markup:
    """A left-to-right layered DAG; nodes with ``href`` are keyboard-focusable links."""
    index = {n.key: n for n in nodes}
    edges = [(a, b) for a, b in edges if a in index and b in index and a != b]
    layer: dict[tuple[str, str], int] = {n.key: 0 for n in nodes}
    for _ in range(len(nodes)):  # longest-path layering (the graph is small and acyclic)
        changed = False
        for a, b in edges:
            if layer[b] < layer[a] + 1:
                layer[b] = layer[a] + 1
                changed = True
        if not changed:
            break
    columns: dict[int, list[Node]] = {}
    for n in nodes:
        columns.setdefault(layer[n.key], []).append(n)
    box_w, box_h, gap_x, gap_y, pad = 190.0, 46.0, 60.0, 18.0, 10.0
    rows = max((len(c) for c in columns.values()), default=1)
    width = pad * 2 + len(columns) * box_w + max(len(columns) - 1, 0) * gap_x
    height = pad * 2 + rows * box_h + (rows - 1) * gap_y + 24
    pos: dict[tuple[str, str], tuple[float, float]] = {}
    for col, members in sorted(columns.items()):
        offset = (rows - len(members)) * (box_h + gap_y) / 2
        for i, n in enumerate(members):
            pos[n.key] = (pad + col * (box_w + gap_x), 24 + pad + offset + i * (box_h + gap_y))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart lineage" width="{width:.0f}" '
             f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
             f'aria-label="{_x(title)}" {_FONT}><title>{_x(title)}</title>',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
             'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
             'fill="#78909c"/></marker></defs>']
    for a, b in edges:
        (ax, ay), (bx, by) = pos[a], pos[b]
        x1, y1, x2, y2 = ax + box_w, ay + box_h / 2, bx, by + box_h / 2
        if x2 <= x1:  # same layer cannot happen after layering, but stay safe
            continue
        mid = (x1 + x2) / 2
        parts.append(f'<path d="M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} '
                     f'{x2:.1f},{y2:.1f}" fill="none" stroke="#78909c" stroke-width="1.5" '
                     'marker-end="url(#arrow)"/>')
    for n in nodes:
        x, y = pos[n.key]
        kind = n.key[0]
        fill = _KIND_COLOURS.get(kind, "#eeeeee")
        stroke = "#263238" if n.focus else "#90a4ae"
        box = (f'<rect x="{x:.1f}" y="{y:.1f}" width="{box_w:.0f}" height="{box_h:.0f}" rx="6" '
               f'fill="{fill}" stroke="{stroke}" stroke-width="{2.5 if n.focus else 1}"/>'
               f'<text x="{x + 10:.1f}" y="{y + 17:.1f}" fill="#546e7a" font-size="11">'
               f"{_x(kind)}</text>"
               f'<text x="{x + 10:.1f}" y="{y + 34:.1f}" font-weight="600">'
               f"{_x(_short(n.label))}</text>")
        if n.href:
            parts.append(f'<a href="{_x(n.href)}" class="node" data-kind="{_x(kind)}">'
                         f"<title>{_x(kind)} {_x(n.label)}</title>{box}</a>")
        else:
            parts.append(f'<g class="node" data-kind="{_x(kind)}"><title>{_x(kind)} '
                         f"{_x(n.label)}</title>{box}</g>")
    parts.append("</svg>")
    return Markup("".join(parts))


def _heat(ratio: float | None, drifted: bool) -> str:
    if ratio is None:
        return "#eceff1"
    r = max(0.0, min(ratio, 2.0)) / 2.0
    if drifted:
        return f"rgb({220},{int(120 - 80 * r)},{int(110 - 80 * r)})"
    return f"rgb({int(232 - 60 * r)},{int(245 - 40 * r)},{int(233 - 120 * r)})"


@dataclass(frozen=True)
class HeatCell:
    """One feature in one window."""

    value: float | None
    threshold: float | None
    drifted: bool
    detail: str


def heatmap_svg(features: Sequence[str], windows: Sequence[datetime],
                cells: Mapping[tuple[str, datetime], HeatCell], *, title: str) -> Markup:
    """Features (rows) × windows (columns); colour: statistic / threshold, red when drifted."""
    label_w = min(max((len(f) for f in features), default=4), 28) * 7.2 + 12
    cell_w = max(8.0, min(36.0, 900.0 / max(len(windows), 1)))
    cell_h = 20.0
    top = 34.0
    width = label_w + cell_w * len(windows) + 10
    height = top + cell_h * len(features) + 44
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart heatmap" width="{width:.0f}" '
             f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
             f'aria-label="{_x(title)}" {_FONT}><title>{_x(title)}</title>',
             f'<text x="0" y="14" font-weight="bold">{_x(title)}</text>']
    for i, feature in enumerate(features):
        y = top + i * cell_h
        parts.append(f'<text x="{label_w - 6:.1f}" y="{y + cell_h / 2:.1f}" text-anchor="end" '
                     f'dominant-baseline="middle">{_x(_short(feature, 28))}</text>')
        for j, window in enumerate(windows):
            cell = cells.get((feature, window))
            ratio = None
            if cell is not None and cell.value is not None and cell.threshold:
                ratio = cell.value / cell.threshold
            colour = _heat(ratio, bool(cell and cell.drifted))
            tip = (f"{feature} · {window:%Y-%m-%d %H:%M} · " + (cell.detail if cell else "no data"))
            parts.append(f'<rect x="{label_w + j * cell_w:.1f}" y="{y:.1f}" '
                         f'width="{cell_w - 1:.1f}" height="{cell_h - 1:.1f}" fill="{colour}" '
                         f'data-drifted="{"yes" if cell and cell.drifted else "no"}">'
                         f"<title>{_x(tip)}</title></rect>")
    if windows:
        y = top + len(features) * cell_h + 14
        parts.append(f'<text x="{label_w:.1f}" y="{y:.1f}">{_x(f"{windows[0]:%m-%d %H:%M}")}'
                     "</text>")
        if len(windows) > 1:
            parts.append(f'<text x="{width - 10:.1f}" y="{y:.1f}" text-anchor="end">'
                         f'{_x(f"{windows[-1]:%m-%d %H:%M}")}</text>')
        parts.append(f'<rect x="{label_w:.1f}" y="{y + 8:.1f}" width="10" height="10" '
                     f'fill="{_heat(0.5, False)}"/><text x="{label_w + 14:.1f}" y="{y + 17:.1f}">'
                     'below threshold</text>'
                     f'<rect x="{label_w + 130:.1f}" y="{y + 8:.1f}" width="10" height="10" '
                     f'fill="{_heat(1.5, True)}"/><text x="{label_w + 144:.1f}" y="{y + 17:.1f}">'
                     "drifted</text>")
    parts.append("</svg>")
    return Markup("".join(parts))


def split_svg(routes: Sequence[tuple[str, float]], *, title: str) -> Markup:
    """One horizontal bar split by route weight (label, weight)."""
    width, height, left = 560.0, 54.0, 0.0
    total = sum(max(w, 0.0) for _, w in routes) or 1.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart split" width="{width:.0f}" '
             f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
             f'aria-label="{_x(title)}" {_FONT}><title>{_x(title)}</title>']
    for i, (label, weight) in enumerate(routes):
        share = max(weight, 0.0) / total
        w = share * width
        colour = PALETTE[i % len(PALETTE)]
        if w > 0:
            parts.append(f'<rect x="{left:.1f}" y="0" width="{w:.1f}" height="24" '
                         f'fill="{colour}"><title>{_x(label)}: {share:.0%}</title></rect>')
        parts.append(f'<rect x="{i * 140:.0f}" y="34" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{i * 140 + 14:.0f}" y="43">{_x(_short(label, 14))} '
                     f"{share:.0%}</text>")
        left += w
    parts.append("</svg>")
    return Markup("".join(parts))


def finite(value: object) -> float | None:
    """``value`` as a finite float, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def fmt(value: object) -> str:
    """A compact number for tooltips."""
    return fmt_value(finite(value))
