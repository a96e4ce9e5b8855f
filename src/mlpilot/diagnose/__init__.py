"""Root-cause analysis: rank the likely causes of an alert, with evidence and a report.

    diagnosis = diagnose_alert(context, alert_id)   # loads, ranks, writes, links
    diagnosis = diagnose_frames(reference, window, model=model, labels=y)  # DataFrames only

Four analyses each give :class:`Cause` objects scored in [0, 1], ranked together:
drifted features weighted by the model's importance, attribution (SHAP) shift,
worst slices, and recent changes from the audit log.
"""

from mlpilot.diagnose.alert import DEFAULT_WINDOW, alert_window, diagnose_alert, diagnosis_dir
from mlpilot.diagnose.attribution import (
    attribution_shift,
    compute_importances,
    stored_importances,
)
from mlpilot.diagnose.causes import CAUSE_KINDS, Cause, Diagnosis, rank_causes
from mlpilot.diagnose.engine import DiagnoseOptions, diagnose_frames, drift_causes
from mlpilot.diagnose.report import causes_table, render_html, write_diagnosis
from mlpilot.diagnose.slices import find_slices
from mlpilot.diagnose.timeline import timeline

__all__ = [
    "CAUSE_KINDS",
    "DEFAULT_WINDOW",
    "Cause",
    "DiagnoseOptions",
    "Diagnosis",
    "alert_window",
    "attribution_shift",
    "causes_table",
    "compute_importances",
    "diagnose_alert",
    "diagnose_frames",
    "diagnosis_dir",
    "drift_causes",
    "find_slices",
    "rank_causes",
    "render_html",
    "stored_importances",
    "timeline",
    "write_diagnosis",
]
