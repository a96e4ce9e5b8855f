"""What the monitor computed: a window's :class:`WindowOutcome`, a run's :class:`MonitorResult`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlpilot.core.jsonsafe import json_safe

if TYPE_CHECKING:
    from mlpilot.monitor.baseline import BaselineScore
    from mlpilot.monitor.cbpe import CBPEEstimate
    from mlpilot.monitor.detector import DetectorResult
    from mlpilot.monitor.drift import DriftReport
    from mlpilot.monitor.performance import Performance
    from mlpilot.monitor.quality import QualityReport

__all__ = ["MonitorResult", "WindowOutcome"]


@dataclass
class WindowOutcome:
    """Everything computed for one window (also what :func:`alert_signals` reads)."""

    since: datetime
    until: datetime
    records: int = 0
    rows: int = 0
    drift: DriftReport | None = None
    domain: DetectorResult | None = None
    prediction: DetectorResult | None = None
    prediction_reference: str | None = None
    quality: QualityReport | None = None
    ops: dict[str, float | None] = field(default_factory=dict)
    ops_scores: dict[str, BaselineScore] = field(default_factory=dict)
    performance: Performance | None = None
    performance_final: bool = False
    reference_metrics: dict[str, float] = field(default_factory=dict)
    estimate: CBPEEstimate | None = None
    importances: Mapping[str, float] = field(default_factory=dict)
    points: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A compact strict-JSON summary."""
        acc = self.performance["accuracy"] if self.performance is not None and \
            "accuracy" in self.performance.metrics else None
        est = self.estimate["accuracy"] if self.estimate is not None and \
            "accuracy" in self.estimate.metrics else None
        return json_safe({
            "since": self.since.isoformat(), "until": self.until.isoformat(),
            "records": self.records, "rows": self.rows,
            "drift_share": self.drift.share_drifted if self.drift else None,
            "drifted_features": list(self.drift.drifted_columns) if self.drift else [],
            "prediction_drift": None if self.prediction is None else {
                "statistic": self.prediction.statistic, "p_value": self.prediction.p_value,
                "drifted": self.prediction.drifted, "reference": self.prediction_reference},
            "quality_findings": [f"{f.column}:{f.check}" for f in self.quality.findings]
            if self.quality else [],
            "ops": dict(self.ops),
            "ops_verdicts": {k: s.verdict for k, s in self.ops_scores.items()},
            "accuracy": acc.value if acc else None,
            "label_coverage": self.performance.coverage if self.performance else None,
            "performance_final": self.performance_final,
            "estimated_accuracy": est.value if est else None,
            "points": self.points, "alerts": list(self.alerts), "notes": list(self.notes),
        })


@dataclass
class MonitorResult:
    """What one :meth:`Monitor.run_once` did.

    Attributes:
        model, deployment: what was monitored.
        windows: the processed windows, oldest first.
        rescored: window starts re-scored for late labels.
        points_written: metric points newly stored or revised (performance).
        alerts_opened: alerts newly opened.
        alerts_updated: signals folded into an open alert.
        cursor: the cursor's ``until`` after the run.
        skipped: why nothing was processed (``"busy"``: another monitor holds the claim).
        notes: reference notes and anything skipped.
    """

    model: str
    deployment: str | None
    windows: list[WindowOutcome] = field(default_factory=list)
    rescored: list[datetime] = field(default_factory=list)
    points_written: int = 0
    alerts_opened: int = 0
    alerts_updated: int = 0
    cursor: datetime | None = None
    skipped: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def windows_processed(self) -> int:
        return len(self.windows)

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON form."""
        return json_safe({
            "model": self.model, "deployment": self.deployment,
            "windows_processed": self.windows_processed,
            "points_written": self.points_written, "alerts_opened": self.alerts_opened,
            "alerts_updated": self.alerts_updated,
            "rescored": [t.isoformat() for t in self.rescored],
            "cursor": self.cursor.isoformat() if self.cursor else None,
            "skipped": self.skipped, "notes": list(self.notes),
            "windows": [w.to_dict() for w in self.windows],
        })
