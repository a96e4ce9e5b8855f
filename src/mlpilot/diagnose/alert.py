"""Diagnose a stored alert: load its window and reference, rank causes, write and link the report.

The window is the alert's own when its evidence names one (``window_start`` and
``window_end``, ``since`` and ``until``, or a ``window`` object with either pair);
otherwise the ``window`` (default one hour) before ``first_seen`` up to ``last_seen``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlpilot.core.clock import as_utc
from mlpilot.core.entities import Alert, Event
from mlpilot.core.errors import InvalidArgument, MlpilotError
from mlpilot.diagnose.causes import Diagnosis
from mlpilot.diagnose.engine import DiagnoseOptions, diagnose_frames
from mlpilot.diagnose.report import FILES, write_diagnosis
from mlpilot.diagnose.timeline import schema_change

if TYPE_CHECKING:
    from mlpilot.sdk._context import Context

__all__ = ["DEFAULT_WINDOW", "alert_window", "diagnose_alert", "diagnosis_dir"]

DEFAULT_WINDOW = timedelta(hours=1)
"""The window analysed when the alert's evidence does not name one."""

_TOP_STORED = 5  # causes copied onto the alert


def diagnosis_dir(context: Context, alert_id: int) -> Path:
    """Where the report of ``alert_id`` goes by default: ``$MLPILOT_HOME/diagnoses/alert-<id>``."""
    return Path(context.settings.home) / "diagnoses" / f"alert-{int(alert_id)}"


def alert_window(alert: Alert, default: timedelta = DEFAULT_WINDOW) -> tuple[datetime, datetime]:
    """The ``[since, until)`` window an alert is about (module docstring)."""
    evidence = alert.evidence or {}
    for holder in (evidence, evidence.get("window")):
        if not isinstance(holder, Mapping):
            continue
        for lo, hi in (("window_start", "window_end"), ("since", "until"), ("start", "end")):
            start, end = _time(holder.get(lo)), _time(holder.get(hi))
            if start is not None and end is not None and start < end:
                return start, end
    first, last = as_utc(alert.first_seen), as_utc(alert.last_seen)
    return first - default, max(first, last) + timedelta(seconds=1)


def diagnose_alert(context: Context, alert_id: int, *,
                   log_dir: str | os.PathLike[str] | None = None,
                   output_dir: str | os.PathLike[str] | None = None,
                   options: DiagnoseOptions | None = None,
                   window: timedelta = DEFAULT_WINDOW) -> Diagnosis:
    """Rank the likely causes of an alert, write the report and link it to the alert.

    Reads the alert's window from the inference log (with its feedback), the
    reference the model was trained on (snapshot rows when small enough, else the
    profile), the version's stored SHAP importances, and the audit events before the
    alert; writes ``diagnosis.json`` and ``diagnosis.html`` under ``output_dir``
    (default :func:`diagnosis_dir`) and stores a summary with the alert
    (``store.set_alert_diagnosis``).

    Args:
        context: the stores.
        alert_id: the alert to diagnose.
        log_dir: the inference log (default ``$MLPILOT_HOME/inference-log``).
        output_dir: where the report files go.
        options: the analysis settings.
        window: the window analysed when the alert's evidence names none.

    Returns:
        The :class:`Diagnosis`, with ``report_paths`` filled in.

    Raises:
        NotFound: unknown alert, or its model is not registered.
        InvalidArgument: the window has no rows, or nothing to compare it with.
    """
    from mlpilot.monitor.source import load_window, reference_for

    opts = options or DiagnoseOptions()
    store = context.store
    alert = store.get_alert(alert_id)
    since, until = alert_window(alert, window)
    version = _int(alert.evidence.get("version"))
    data = load_window(context, alert.model, since, until,
                       deployment=alert.deployment or None, version=version, log_dir=log_dir)
    if data.rows == 0:
        raise InvalidArgument(
            f"Alert {alert_id} has no logged predictions for {alert.model!r} between "
            f"{since.isoformat()} and {until.isoformat()}; nothing to diagnose. Pass the "
            "inference log with --log-dir if it is not under $MLPILOT_HOME.")
    served = _common_version(data.versions)
    reference = reference_for(context, alert.model, version if version is not None else served)
    notes = list(reference.notes)
    ref_data: pd.DataFrame | Mapping[str, Any] | None = (
        reference.frame if reference.frame is not None else reference.profile)
    if ref_data is None:
        raise InvalidArgument(
            f"Version {alert.model}/{reference.version} has no training dataset to compare "
            "the window with; register it with training_data= to diagnose drift.")
    model = None
    try:
        import mlpilot

        model = mlpilot.load(f"{alert.model}/{served or reference.version}", context=context)
    except MlpilotError as exc:
        notes.append(f"model: not loaded ({exc.message}); no attributions")
    events = store.list_events(since=as_utc(alert.first_seen) - opts.lookback, limit=10_000)
    labels = data.labels.map(lambda v: np.nan if v is None else v)
    diagnosis = diagnose_frames(
        ref_data, data.features, model=model, predictions=data.predictions.to_numpy(),
        labels=labels.to_numpy() if labels.notna().any() else None,
        importances=dict(reference.importances) or None,
        importance_method="check_report" if reference.importances else None,
        events=events, alert_time=alert.first_seen, model_name=alert.model,
        deployment=alert.deployment, schema_of=_schema_lookup(context, alert.model),
        alert_id=alert.id, options=opts,
        window_info={"start": since, "end": until, "records": data.records,
                     "version": served or reference.version,
                     "reference_version": reference.version},
    )
    out = Path(output_dir) if output_dir is not None else diagnosis_dir(context, alert.id)
    paths = {name: str(out / name) for name in FILES}
    diagnosis = dataclasses.replace(diagnosis, notes=[*notes, *diagnosis.notes],
                                    report_paths=paths)
    write_diagnosis(diagnosis, out)
    store.set_alert_diagnosis(alert.id, {
        "summary": diagnosis.summary,
        "created_at": diagnosis.created_at,
        "causes": [c.to_dict() for c in diagnosis.causes[:_TOP_STORED]],
        "importance_method": diagnosis.importance_method,
        "window": dict(diagnosis.window),
        "report_paths": paths,
    })
    return diagnosis


# -- internals ------------------------------------------------------------------------------


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, str):
        try:
            return as_utc(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _common_version(versions: pd.Series) -> int | None:
    known = pd.to_numeric(versions, errors="coerce").dropna()
    return int(known.mode().iloc[0]) if len(known) else None


def _schema_lookup(context: Context, model: str) -> Any:
    """``version.create`` event → the input-schema change against the previous version."""
    def lookup(event: Event) -> dict[str, Any] | None:
        try:
            name, number = event.target.split("/", 1)
            new = context.store.get_version(name, int(number))
            previous = new.parent_version or int(number) - 1
            if name != model or previous < 1:
                return None
            old = context.store.get_version(name, previous)
        except (MlpilotError, ValueError):
            return None
        return schema_change(old.signature, new.signature)

    return lookup
