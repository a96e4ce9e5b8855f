"""Tiny dependency-free SVG charts for the check report and the model card.

Every function returns one ``<svg>`` element as a string, sized by its content,
ready to inline in an HTML page (no scripts, no external fonts or styles). Every
piece of text (labels, titles, values) is XML-escaped: feature and group names
come from user data. Values that are missing or not finite are drawn as ``n/a``
instead of a bar.

Example:
    >>> svg = bar_chart([("income", 0.4), ("<age>", 0.25)], title="Importance")
    >>> "&lt;age&gt;" in svg and "<age>" not in svg
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["PALETTE", "Interval", "bar_chart", "grouped_bar_chart", "interval_plot"]

PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b",
           "#9d755d")
"""Series colours (Tableau 10, colour-blind friendly enough for a few series)."""

_FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12"'
_ROW = 22  # height of one bar row, px
_CHAR = 7.3  # generous average glyph width at 12 px (DejaVu is wide), for the label column
_MAX_LABEL = 34  # characters shown before a label is shortened (the full one is a tooltip)


@dataclass(frozen=True)
class Interval:
    """One row of an interval plot: an estimate with its confidence interval."""

    label: str
    estimate: float | None
    low: float | None
    high: float | None
    color: str | None = None


# -- helpers --------------------------------------------------------------------------
def _x(text: object) -> str:
    """XML-escape ``text`` for element content and attribute values alike."""
    return escape(str(text), quote=True)


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def fmt_value(value: float | None) -> str:
    """A compact number: ``0.4123``, ``12``, ``1.5e-05``; ``n/a`` when missing."""
    v = _finite(value)
    if v is None:
        return "n/a"
    if v == int(v) and abs(v) < 1e9:
        return str(int(v))
    return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.6g}"


def _short(label: str) -> str:
    return label if len(label) <= _MAX_LABEL else label[: _MAX_LABEL - 1] + "…"


def _label_width(labels: Sequence[str]) -> float:
    longest = max((len(_short(s)) for s in labels), default=4)
    return min(max(longest * _CHAR + 14, 60.0), _MAX_LABEL * _CHAR + 14)


def _open(width: float, height: float, title: str | None, aria: str) -> list[str]:
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width:.0f}" '
             f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
             f'aria-label="{_x(title or aria)}" {_FONT}>',
             f"<title>{_x(title or aria)}</title>"]
    if title:
        parts.append(f'<text x="0" y="14" font-weight="bold">{_x(title)}</text>')
    return parts


def _label(x: float, y: float, label: str) -> str:
    """A right-aligned row label at ``x``, shortened, with the full text as a tooltip."""
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="end" dominant-baseline="middle">'
            f"<title>{_x(label)}</title>{_x(_short(label))}</text>")


class _Scale:
    """Maps data values onto the horizontal pixel range of the plot area."""

    def __init__(self, lo: float, hi: float, left: float, right: float) -> None:
        if hi <= lo:
            lo, hi = lo - 1.0, hi + 1.0
        self.lo, self.hi, self.left, self.right = lo, hi, left, right

    def __call__(self, value: float) -> float:
        return self.left + (value - self.lo) / (self.hi - self.lo) * (self.right - self.left)


def _domain(values: Sequence[float], *also: float) -> tuple[float, float]:
    pool = [*values, *also]
    lo, hi = min(pool, default=0.0), max(pool, default=1.0)
    pad = (hi - lo) * 0.05 or 0.05
    return (lo - pad if lo < 0 else lo), (hi + pad if hi > 0 else hi)


# -- charts ---------------------------------------------------------------------------
def bar_chart(
    items: Sequence[tuple[str, float | None]],
    *,
    title: str | None = None,
    width: int = 640,
    color: str = PALETTE[0],
    fmt: Callable[[float | None], str] = fmt_value,
) -> str:
    """A horizontal bar chart, one labelled bar per item, its value at the bar's end.

    Args:
        items: ``(label, value)`` pairs, drawn top to bottom in the order given.
        title: shown above the chart (and read by screen readers).
        width: total width in pixels.
        color: fill colour of the bars.
        fmt: formats each value printed beside its bar.

    Returns:
        An ``<svg>`` element.
    """
    labels = [str(label) for label, _ in items]
    values = [_finite(v) for _, v in items]
    top = 24.0 if title else 4.0
    left = _label_width(labels)
    value_room = 64.0
    scale = _Scale(*_domain([v for v in values if v is not None], 0.0), left + 4,
                   width - value_room)
    zero = scale(0.0)
    height = top + _ROW * max(len(items), 1) + 6
    parts = _open(width, height, title, "bar chart")
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + i * _ROW
        mid = y + _ROW / 2
        parts.append(_label(left - 6, mid, label))
        if value is None:
            parts.append(f'<text x="{zero + 4:.1f}" y="{mid:.1f}" dominant-baseline="middle" '
                         f'fill="#888">n/a</text>')
            continue
        x0, x1 = sorted((zero, scale(value)))
        parts.append(f'<rect class="bar" x="{x0:.1f}" y="{y + 4:.1f}" '
                     f'width="{max(x1 - x0, 0.5):.1f}" height="{_ROW - 8}" fill="{_x(color)}">'
                     f"<title>{_x(label)}: {_x(fmt(value))}</title></rect>")
        parts.append(f'<text x="{x1 + 4:.1f}" y="{mid:.1f}" dominant-baseline="middle">'
                     f"{_x(fmt(value))}</text>")
    parts.append(f'<line x1="{zero:.1f}" y1="{top:.1f}" x2="{zero:.1f}" '
                 f'y2="{height - 6:.1f}" stroke="#999" stroke-width="1"/>')
    parts.append("</svg>")
    return "".join(parts)


def grouped_bar_chart(
    groups: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    title: str | None = None,
    width: int = 640,
    fmt: Callable[[float | None], str] = fmt_value,
) -> str:
    """Horizontal grouped bars: per group (a row block), one bar per series, with a legend.

    Typical use: per-group metrics of a fairness check, ``groups`` being the
    values of the sensitive attribute and ``series`` the metrics.

    Args:
        groups: the group labels, top to bottom.
        series: ``{series name: one value per group}``.
        title: shown above the chart.
        width: total width in pixels.
        fmt: formats each value printed beside its bar.

    Returns:
        An ``<svg>`` element.

    Raises:
        ValueError: if a series does not have one value per group.
    """
    names = [str(n) for n in series]
    for name, values in series.items():
        if len(values) != len(groups):
            raise ValueError(f"Series {name!r} has {len(values)} values for {len(groups)} "
                             "groups; give one value per group.")
    columns = {n: [_finite(v) for v in vs] for n, vs in zip(names, series.values(), strict=True)}
    finite = [v for vs in columns.values() for v in vs if v is not None]
    top = (24.0 if title else 4.0) + 20  # room for the legend
    left = _label_width([str(g) for g in groups])
    scale = _Scale(*_domain(finite, 0.0), left + 4, width - 64)
    zero = scale(0.0)
    bar = 14.0
    block = bar * max(len(names), 1) + 10
    height = top + block * max(len(groups), 1) + 6
    parts = _open(width, height, title, "grouped bar chart")
    lx = left
    for j, name in enumerate(names):  # legend
        colour = PALETTE[j % len(PALETTE)]
        ly = top - 14
        parts.append(f'<rect x="{lx:.1f}" y="{ly - 5:.1f}" width="10" height="10" '
                     f'fill="{colour}"/>')
        parts.append(f'<text x="{lx + 14:.1f}" y="{ly:.1f}" dominant-baseline="middle">'
                     f"{_x(_short(name))}</text>")
        lx += 14 + len(_short(name)) * _CHAR + 16
    for i, group in enumerate(groups):
        y = top + i * block
        parts.append(_label(left - 6, y + block / 2 - 3, str(group)))
        for j, name in enumerate(names):
            value = columns[name][i]
            by = y + j * bar
            if value is None:
                parts.append(f'<text x="{zero + 4:.1f}" y="{by + bar / 2:.1f}" font-size="10" '
                             f'dominant-baseline="middle" fill="#888">n/a</text>')
                continue
            x0, x1 = sorted((zero, scale(value)))
            parts.append(f'<rect class="bar" x="{x0:.1f}" y="{by + 1:.1f}" '
                         f'width="{max(x1 - x0, 0.5):.1f}" height="{bar - 2:.1f}" '
                         f'fill="{PALETTE[j % len(PALETTE)]}"><title>{_x(group)} · {_x(name)}: '
                         f"{_x(fmt(value))}</title></rect>")
            parts.append(f'<text x="{x1 + 4:.1f}" y="{by + bar / 2:.1f}" font-size="10" '
                         f'dominant-baseline="middle">{_x(fmt(value))}</text>')
    parts.append(f'<line x1="{zero:.1f}" y1="{top:.1f}" x2="{zero:.1f}" '
                 f'y2="{height - 6:.1f}" stroke="#999" stroke-width="1"/>')
    parts.append("</svg>")
    return "".join(parts)


def interval_plot(
    intervals: Sequence[Interval],
    *,
    margin: float | None = None,
    title: str | None = None,
    width: int = 640,
    margin_label: str = "margin",
    fmt: Callable[[float | None], str] = fmt_value,
) -> str:
    """Error bars: each row's estimate and interval against a zero line and a margin line.

    Args:
        intervals: the rows, top to bottom. A row's colour defaults to green when
            its whole interval is above zero, red when below ``margin`` (or zero),
            grey otherwise.
        margin: x position of the dashed margin line (e.g. ``-0.01`` for an allowed
            degradation of 0.01), or None for no margin line.
        title: shown above the chart.
        width: total width in pixels.
        margin_label: the caption of the margin line.
        fmt: formats the numbers printed at the right of each row.

    Returns:
        An ``<svg>`` element.
    """
    labels = [str(r.label) for r in intervals]
    rows = [(_finite(r.estimate), _finite(r.low), _finite(r.high)) for r in intervals]
    finite = [v for row in rows for v in row if v is not None]
    margin_v = _finite(margin)
    top = (24.0 if title else 4.0) + 26  # room for the two line captions
    left = _label_width(labels)
    texts = [f"{fmt(est)} [{fmt(low)}, {fmt(high)}]" for est, low, high in rows]
    text_room = max((len(t) for t in texts), default=10) * _CHAR + 16
    extra = [0.0] if margin_v is None else [0.0, margin_v]
    scale = _Scale(*_domain(finite, *extra), left + 8, width - text_room)
    height = top + _ROW * max(len(intervals), 1) + 8
    parts = _open(width, height, title, "interval plot")
    zero = scale(0.0)
    parts.append(f'<line class="zero" x1="{zero:.1f}" y1="{top - 2:.1f}" x2="{zero:.1f}" '
                 f'y2="{height - 6:.1f}" stroke="#555" stroke-width="1"/>')
    parts.append(f'<text x="{zero:.1f}" y="{top - 5:.1f}" text-anchor="middle" '
                 f'font-size="10" fill="#555">0</text>')
    if margin_v is not None and margin_v != 0:
        # its caption sits a row above zero's and grows into the plot, never off the left edge
        mx = scale(margin_v)
        parts.append(f'<line class="margin" x1="{mx:.1f}" y1="{top - 14:.1f}" x2="{mx:.1f}" '
                     f'y2="{height - 6:.1f}" stroke="#e45756" stroke-width="1" '
                     f'stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{mx + 3:.1f}" y="{top - 17:.1f}" font-size="10" '
                     f'fill="#e45756">{_x(margin_label)} {_x(fmt(margin_v))}</text>')
    floor = margin_v if margin_v is not None else 0.0
    for i, (row, (est, low, high)) in enumerate(zip(intervals, rows, strict=True)):
        mid = top + i * _ROW + _ROW / 2
        parts.append(_label(left - 6, mid, labels[i]))
        colour = row.color or ("#54a24b" if low is not None and low > 0 else
                               "#e45756" if high is not None and high < floor else "#777")
        if low is not None and high is not None:
            x0, x1 = scale(low), scale(high)
            parts.append(f'<line class="ci" x1="{x0:.1f}" y1="{mid:.1f}" x2="{x1:.1f}" '
                         f'y2="{mid:.1f}" stroke="{_x(colour)}" stroke-width="2"/>')
            for xe in (x0, x1):
                parts.append(f'<line x1="{xe:.1f}" y1="{mid - 5:.1f}" x2="{xe:.1f}" '
                             f'y2="{mid + 5:.1f}" stroke="{_x(colour)}" stroke-width="2"/>')
        if est is not None:
            parts.append(f'<circle class="estimate" cx="{scale(est):.1f}" cy="{mid:.1f}" r="4" '
                         f'fill="{_x(colour)}"><title>{_x(labels[i])}: {_x(fmt(est))} '
                         f"[{_x(fmt(low))}, {_x(fmt(high))}]</title></circle>")
        parts.append(f'<text x="{width - text_room + 8:.1f}" y="{mid:.1f}" '
                     f'dominant-baseline="middle">{_x(texts[i])}</text>')
    parts.append("</svg>")
    return "".join(parts)
