"""Reading check evidence for display: numbers, importances, metric intervals, group rows.

Evidence is free-form JSON chosen by each check. The renderers show all of it
generically (a key/value table) and add a chart where they recognise a shape:

* ``evidence["importances"]``: ``{feature: share}`` (explainability) → bar chart;
* ``evidence["metrics"]``: ``{metric: {"improvement"|"difference", "ci": [lo, hi], ...}}``
  (performance) → interval plot against zero and the allowed-degradation margin;
* lists of rows carrying a ``group`` (or ``slice``/``segment``) key with numeric
  columns (fairness, robustness slices) → grouped bars and a table.

Nothing here raises on unexpected shapes: an unrecognised shape just gets no chart.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlpilot.reports.svg import Interval, fmt_value

GROUP_KEYS = ("group", "slice", "segment")
"""Row keys that name the group a row of per-group metrics belongs to."""

SPLIT_KEYS = ("feature", "column", "attribute")
"""Row keys that name which attribute a group belongs to: one table per attribute."""

_COUNT_KEYS = {"n", "count", "rows", "size", "support", "n_rows", "samples", "positives",
               "negatives"}
_DELTA_KEYS = {"improvement", "difference", "delta", "change"}
_MARGIN_KEYS = ("margin", "max_degradation", "tolerance", "min_improvement")
_GROUP_CONTAINERS = ("groups", "per_group", "by_group", "group_metrics", "slices")


def number(value: Any) -> float | None:
    """``value`` as a finite float, or None (bools, strings, NaN and None are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def fmt(value: Any) -> str:
    """A short display form of any evidence scalar."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return fmt_value(value)
    return str(value)


def compact_json(value: Any, limit: int = 300) -> str:
    """One-line JSON of ``value``, cut to ``limit`` characters."""
    try:
        text = json.dumps(value, default=str, separators=(", ", ": "))
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def carried_from(evidence: Any) -> str | None:
    """When a partial run kept this result from an earlier report, that report's time."""
    value = evidence.get("carried_from") if isinstance(evidence, Mapping) else None
    return str(value) if value else None


# -- importances ----------------------------------------------------------------------
def importances(evidence: Mapping[str, Any]) -> list[tuple[str, float]]:
    """``[(feature, share), ...]`` most important first, from ``evidence["importances"]``."""
    raw = evidence.get("importances")
    pairs: list[tuple[str, float]] = []
    if isinstance(raw, Mapping):
        pairs = [(str(k), x) for k, v in raw.items() if (x := number(v)) is not None]
    elif isinstance(raw, list):
        for row in raw:
            if isinstance(row, Mapping) and (x := number(row.get("importance"))) is not None:
                pairs.append((str(row.get("feature")), x))
    return sorted(pairs, key=lambda kv: (-kv[1], kv[0]))


# -- metric differences ---------------------------------------------------------------
@dataclass(frozen=True)
class MetricRow:
    """One metric of a performance comparison."""

    metric: str
    candidate: float | None
    baseline: float | None
    estimate: float | None  # improvement (positive = candidate better) or difference
    low: float | None
    high: float | None
    of_difference: bool  # the interval is of the difference, not the candidate's value
    passed: bool | None = None


def _margin_of(*sources: Any) -> float | None:
    for source in sources:
        if not isinstance(source, Mapping):
            continue
        for key in _MARGIN_KEYS:
            if (v := number(source.get(key))) is not None:
                return v
    return None


def metric_rows(evidence: Mapping[str, Any]) -> tuple[list[MetricRow], float | None]:
    """The metrics of ``evidence["metrics"]`` and the margin (the allowed degradation).

    Returns:
        ``(rows, margin)``; ``margin`` is the x position of the margin line in
        improvement units (``-max_degradation``), or None when the check sets none.
    """
    raw = evidence.get("metrics")
    items: list[tuple[str, Mapping[str, Any]]] = []
    if isinstance(raw, Mapping):
        items = [(str(k), v) for k, v in raw.items() if isinstance(v, Mapping)]
    elif isinstance(raw, list):
        items = [(str(v.get("metric", i)), v) for i, v in enumerate(raw) if isinstance(v, Mapping)]
    rows = []
    margins = []
    for name, entry in items:
        ci = entry.get("ci")
        low = high = None
        if isinstance(ci, Sequence) and not isinstance(ci, str) and len(ci) == 2:
            low, high = number(ci[0]), number(ci[1])
        else:
            low, high = number(entry.get("ci_low")), number(entry.get("ci_high"))
        estimate = number(entry.get("improvement"))
        if estimate is None:
            estimate = number(entry.get("difference"))
        of_difference = entry.get("ci_of", "improvement") != "candidate" and estimate is not None
        passed = entry.get("passed")
        rows.append(MetricRow(name, number(entry.get("candidate")), number(entry.get("baseline")),
                              estimate, low, high, of_difference,
                              passed if isinstance(passed, bool) else None))
        if (m := _margin_of(entry)) is not None:
            margins.append(m)
    primary = evidence.get("primary_metric")
    rows.sort(key=lambda r: r.metric != primary)  # the deciding metric first (stable)
    margin = margins[0] if margins else _margin_of(evidence, evidence.get("thresholds"),
                                                     evidence.get("limits"))
    return rows, (None if margin is None else -abs(margin))


def metric_intervals(evidence: Mapping[str, Any]) -> tuple[list[Interval], float | None]:
    """The interval-plot rows of the metric differences, and the margin line position."""
    rows, margin = metric_rows(evidence)
    return [Interval(r.metric, r.estimate, r.low, r.high) for r in rows if r.of_difference], margin


# -- per-group rows -------------------------------------------------------------------
@dataclass(frozen=True)
class GroupTable:
    """Rows of per-group values found in the evidence."""

    title: str
    label_key: str
    rows: list[dict[str, Any]]
    metrics: list[str]  # numeric columns worth plotting (counts left out)

    @property
    def columns(self) -> list[str]:
        seen: dict[str, None] = {self.label_key: None}
        for row in self.rows:
            seen.update(dict.fromkeys(row))
        return list(seen)


def _as_rows(value: Any, feature: str | None = None) -> tuple[str, list[dict[str, Any]]] | None:
    """``(label_key, rows)`` if ``value`` is a list of group rows or a ``{group: {…}}`` map."""
    if isinstance(value, list) and value and all(isinstance(r, Mapping) for r in value):
        for key in GROUP_KEYS:
            if all(key in r for r in value):
                return key, [dict(r) for r in value]
        return None
    if (feature is not None and isinstance(value, Mapping) and value
            and all(isinstance(v, Mapping) for v in value.values())
            and all(any(number(x) is not None for x in v.values()) for v in value.values())):
        return "group", [{"group": str(k), **v} for k, v in value.items()]
    return None


def _table(title: str, found: tuple[str, list[dict[str, Any]]]) -> GroupTable:
    key, rows = found
    metrics: dict[str, None] = {}
    for row in rows:
        for k, v in row.items():
            if k != key and k not in _COUNT_KEYS and number(v) is not None:
                metrics[k] = None
    values = [m for m in metrics if m not in _DELTA_KEYS]
    # a difference beside the values it is the difference of only squashes their bars
    return GroupTable(title, key, rows, values or list(metrics))


def _is_label(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


def _split(title: str, found: tuple[str, list[dict[str, Any]]]) -> list[GroupTable]:
    """One table per attribute when the rows say which one they belong to (fairness
    rows carry ``feature``, performance slices ``column``)."""
    key, rows = found
    for split in SPLIT_KEYS:
        if split != key and all(_is_label(r.get(split)) for r in rows):
            parts: dict[str, list[dict[str, Any]]] = {}
            for r in rows:
                parts.setdefault(str(r[split]), []).append(
                    {k: v for k, v in r.items() if k != split})
            return [_table(f"{title} · {name}", (key, part)) for name, part in parts.items()]
    return [_table(title, found)]


def group_tables(evidence: Mapping[str, Any]) -> list[GroupTable]:
    """Every table of per-group rows in ``evidence`` (searched two levels deep)."""
    tables: list[GroupTable] = []
    for key, value in evidence.items():
        nested = key in _GROUP_CONTAINERS
        found = _as_rows(value, feature=key if nested else None)
        if found:
            tables += _split(str(key), found)
            continue
        if not isinstance(value, Mapping):
            continue
        for sub, inner in value.items():
            found = _as_rows(inner, feature=str(sub) if nested else None)
            if found:
                tables += _split(f"{key} · {sub}", found)
    return tables
