"""Causes and the diagnosis that ranks them.

Every analysis (drift × importance, attribution shift, slices, timeline) answers
with :class:`Cause` objects whose ``score`` lies in [0, 1], so that one ranking
can mix them: the diagnosis sorts all causes by score, highest first. Each cause
carries a one-sentence ``summary`` for people and its ``evidence`` (strict JSON)
for machines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlpilot.core.jsonsafe import json_safe

__all__ = ["CAUSE_KINDS", "Cause", "Diagnosis", "rank_causes"]

CAUSE_KINDS = ("drift", "attribution", "slice", "event")
"""The kinds of cause, one per analysis."""

DIAGNOSIS_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Cause:
    """One likely cause of an alert.

    Attributes:
        kind: ``"drift"`` (a drifted feature weighted by the model's importance),
            ``"attribution"`` (a feature whose SHAP attributions moved), ``"slice"``
            (a segment where errors or predictions concentrate) or ``"event"``
            (a change recorded shortly before the alert).
        subject: what the cause is about: a feature name, a slice such as
            ``"region=north"``, or an event such as ``"alias.set credit-risk"``.
        score: in [0, 1]; comparable across kinds (see each module's docstring).
        summary: one sentence for people.
        evidence: the numbers behind the score (strict JSON).
    """

    kind: str
    subject: str
    score: float
    summary: str
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON form."""
        return json_safe({"kind": self.kind, "subject": self.subject,
                          "score": round(float(self.score), 6), "summary": self.summary,
                          "evidence": dict(self.evidence)})


def rank_causes(causes: Iterable[Cause]) -> list[Cause]:
    """Causes by score, highest first (ties: kind order, then subject)."""
    order = {k: i for i, k in enumerate(CAUSE_KINDS)}
    return sorted(causes, key=lambda c: (-c.score, order.get(c.kind, len(order)), c.subject))


@dataclass(frozen=True)
class Diagnosis:
    """The ranked likely causes of an alert (or of one window against its reference).

    Attributes:
        causes: every cause found, highest score first.
        alert_id: the diagnosed alert, ``None`` for a frame-level diagnosis.
        model: the model name ("" when unknown).
        window: what was analysed: ``start``, ``end``, ``rows``, ``labelled_rows``,
            ``reference_rows``, ``reference_from``.
        drift: per-feature drift verdicts (column, effect, adjusted p-value, drifted).
        importances: normalised importance per feature (summing to 1).
        importance_method: where the importances came from (``"check_report"``,
            ``"shap-tree"``, ``"shap-kernel"``, ``"permutation"``, ``"given"`` or
            ``"none"``).
        attribution: the attribution shift per feature, or empty when skipped.
        slices: every significant slice (also among ``causes``, the top ones).
        timeline: every relevant event in the lookback.
        curves: per top drifted feature, the plotted reference/window distributions.
        notes: what was skipped and why.
        report_paths: file name → path of the written report (empty until written).
        created_at: when the diagnosis was made.
    """

    causes: Sequence[Cause]
    alert_id: int | None = None
    model: str = ""
    window: Mapping[str, Any] = field(default_factory=dict)
    drift: Sequence[Mapping[str, Any]] = field(default_factory=list)
    importances: Mapping[str, float] = field(default_factory=dict)
    importance_method: str = "none"
    attribution: Mapping[str, Any] = field(default_factory=dict)
    slices: Sequence[Mapping[str, Any]] = field(default_factory=list)
    timeline: Sequence[Mapping[str, Any]] = field(default_factory=list)
    curves: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    notes: Sequence[str] = field(default_factory=list)
    report_paths: Mapping[str, str] = field(default_factory=dict)
    created_at: datetime | None = None

    @property
    def top(self) -> Cause | None:
        """The most likely cause, or ``None`` when nothing was found."""
        return self.causes[0] if self.causes else None

    def of_kind(self, kind: str) -> list[Cause]:
        """The causes of one kind, in rank order."""
        return [c for c in self.causes if c.kind == kind]

    @property
    def summary(self) -> str:
        """One sentence: the top causes, or that none was found."""
        if not self.causes:
            return "No likely cause found."
        head = "; ".join(f"{c.kind} {c.subject} ({c.score:.2f})" for c in self.causes[:3])
        return f"Most likely causes: {head}."

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON form (no NaN or infinities), versioned by ``schema_version``."""
        return json_safe({
            "schema_version": DIAGNOSIS_SCHEMA_VERSION,
            "alert_id": self.alert_id,
            "model": self.model,
            "created_at": self.created_at,
            "summary": self.summary,
            "window": dict(self.window),
            "causes": [c.to_dict() for c in self.causes],
            "importance_method": self.importance_method,
            "importances": dict(self.importances),
            "drift": [dict(d) for d in self.drift],
            "attribution": dict(self.attribution),
            "slices": [dict(s) for s in self.slices],
            "timeline": [dict(t) for t in self.timeline],
            "curves": {k: dict(v) for k, v in self.curves.items()},
            "notes": list(self.notes),
            "report_paths": dict(self.report_paths),
        })
