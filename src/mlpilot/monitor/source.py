"""Windows of served traffic, and the reference they are compared with.

:func:`load_window` reads one ``[since, until)`` window of a model's inference log
(compacted Parquet partitions pruned by model and hour, plus live segments; the log
root and every ``worker-N`` sub-directory a multi-worker gateway writes) and joins
the feedback that arrived for it. Rules:

* **records** counts every answered request (all statuses); shadow traffic (another
  version's dark predictions) and feedback records are left out everywhere;
* the **row frames** (features, predictions, probabilities, labels, ids, versions,
  times) hold successful requests (status < 400) only, one row per predicted row: a
  batch request (every feature a list of one common length) expands to its rows;
* a row's **prediction** is the first output (``outputs["predict"]``, else the first
  output logged); multi-output rows keep their first value;
* **labels** follow :func:`mlpilot.monitor.performance.join_labels`: a scalar label
  (the only kind the gateway accepts) labels the request's first row; a list label
  of the request's length labels every row; the latest label per request wins.

:func:`reference_for` gathers what a version was trained on: its training dataset's
stored profile and schema (restricted to the model's input columns when the
signature names them), the snapshot itself when small enough, its target column
when the snapshot has one, the classes, and the SHAP importances of its check report.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd

from mlpilot.core.clock import as_utc
from mlpilot.core.errors import InvalidArgument, NotFound
from mlpilot.monitor.baseline import OpsMetrics
from mlpilot.monitor.quality import _is_batch

if TYPE_CHECKING:
    from mlpilot.core.entities import ModelVersion
    from mlpilot.sdk._context import Context

__all__ = ["EXCLUDED_ROUTES", "Reference", "WindowData", "default_log_dir", "load_window",
           "log_directories", "read_labels", "reference_for"]

EXCLUDED_ROUTES = frozenset({"shadow", "feedback"})
FEEDBACK_MARGIN = timedelta(minutes=5)  # clock skew between a gateway's workers
DEFAULT_REFERENCE_ROWS = 200_000
_WORKER = re.compile(r"^worker-(\d+)$")


@dataclass(frozen=True)
class WindowData:
    """One window of a model's served traffic, one row per predicted row.

    Attributes:
        model: the model.
        deployment: the deployment filter (``None``: every deployment).
        since: window start (inclusive, UTC).
        until: window end (exclusive, UTC).
        records: answered requests in the window (all statuses; no shadow/feedback).
        features: the raw features of successful requests, batch requests expanded.
        predictions: the first output per row, aligned with ``features``.
        probabilities: ``rows x classes`` when every row has them logged, else ``None``.
        labels: aligned; ``None`` where no feedback arrived yet.
        request_ids: aligned.
        versions: aligned.
        times: aligned (UTC).
        ops: operations metrics of the window's requests.
    """

    model: str
    deployment: str | None
    since: datetime
    until: datetime
    records: int
    features: pd.DataFrame
    predictions: pd.Series
    probabilities: np.ndarray | None
    labels: pd.Series
    request_ids: pd.Series
    versions: pd.Series
    times: pd.Series
    ops: OpsMetrics

    @property
    def rows(self) -> int:
        """Predicted rows."""
        return len(self.predictions)


@dataclass(frozen=True)
class Reference:
    """What a version was trained on, for drift and quality.

    Attributes:
        model: the model.
        version: the version the reference belongs to.
        dataset_id: its training dataset (``None`` when it has no lineage).
        profile: the dataset's profile, restricted to the model's inputs (or ``None``).
        schema: the dataset's schema, restricted likewise (or ``None``).
        frame: the snapshot's input columns when it has at most ``max_rows`` rows.
        labels: the snapshot's target column, aligned with ``frame``, when found.
        target: the name of that column.
        classes: a classifier's classes in probability-column order (signature).
        task: ``"classification"``, ``"regression"`` or ``None`` when unknown.
        importances: feature -> SHAP importance share from the version's check report.
        notes: why parts are missing.
    """

    model: str
    version: int
    dataset_id: str | None
    profile: Mapping[str, Any] | None
    schema: Mapping[str, Any] | None
    frame: pd.DataFrame | None = None
    labels: pd.Series | None = None
    target: str | None = None
    classes: list[Any] | None = None
    task: str | None = None
    importances: Mapping[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def features(self) -> list[str]:
        """The reference's feature columns."""
        if self.profile is not None:
            return list(self.profile.get("columns", {}))
        return [] if self.frame is None else [str(c) for c in self.frame.columns]


# --- reading ------------------------------------------------------------------------------


def default_log_dir(context: Context) -> Path:
    """``$MLPILOT_HOME/inference-log``, where the gateway logs by default."""
    return Path(context.settings.home) / "inference-log"


def log_directories(root: str | os.PathLike[str]) -> list[Path]:
    """The log root and its ``worker-N`` sub-directories (multi-worker gateways)."""
    base = Path(root)
    if not base.is_dir():
        return []
    workers = sorted((p for p in base.iterdir() if p.is_dir() and _WORKER.match(p.name)),
                     key=lambda p: int(_WORKER.match(p.name).group(1)))  # type: ignore[union-attr]
    return [base, *workers]


def read_labels(root: str | os.PathLike[str], since: datetime | None = None,
                until: datetime | None = None) -> dict[str, Any]:
    """The latest label per request id in every feedback stream under ``root``.

    Feedback is kept where it arrived (``root/feedback``, ``root/worker-N/feedback``);
    ``since``/``until`` bound the arrival time read.
    """
    from mlpilot.serve.gateway.feedback import feedback_dir, from_record
    from mlpilot.serve.inference_log import read_records

    items = []
    for directory in log_directories(root):
        fb = feedback_dir(directory)
        if fb.is_dir():
            items.extend(r for r in read_records(fb, since=since, until=until)
                         if r.route == "feedback")
    items.sort(key=lambda r: r.time_us)
    return {r.request_id: from_record(r).label for r in items}


def _utc(value: Any, name: str) -> datetime:
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if not isinstance(value, datetime):
        raise InvalidArgument(f"'{name}' must be a datetime. Got {type(value).__name__}.",
                              field=name)
    return as_utc(value)


def _rows_of(outputs: Mapping[str, Any], n: int) -> tuple[list[Any], list[Any] | None]:
    """``n`` first-output values and (when logged for every row) probability rows."""
    value = None
    if outputs:
        value = outputs["predict"] if "predict" in outputs else next(iter(outputs.values()))
    rows = list(value) if isinstance(value, list | tuple) else [value]
    rows = [r[0] if isinstance(r, list | tuple) and r else r for r in rows]
    rows = (rows + [None] * n)[:n]
    proba = outputs.get("predict_proba") if outputs else None
    if isinstance(proba, list | tuple) and len(proba) == n and all(
            isinstance(p, list | tuple) and p for p in proba):
        return rows, [list(p) for p in proba]
    return rows, None


def _label_rows(label: Any, n: int) -> list[Any]:
    if isinstance(label, list | tuple):
        return list(label) if len(label) == n else [None] * n
    return [label] + [None] * (n - 1)


def _clean_label(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def load_window(context: Context, model: str, since: datetime, until: datetime, *,
                deployment: str | None = None, version: int | None = None,
                log_dir: str | os.PathLike[str] | None = None) -> WindowData:
    """Read one window of ``model``'s served traffic with its labels (module rules).

    Args:
        context: the stores (the model must be registered).
        model: the model name.
        since: window start, inclusive (naive means UTC).
        until: window end, exclusive; after ``since``.
        deployment: only requests to this deployment (default: all).
        version: only requests answered by this version (default: all).
        log_dir: the inference log (default: ``$MLPILOT_HOME/inference-log``).

    Raises:
        InvalidArgument: non-datetime bounds, ``since >= until``, a bad model name.
        NotFound: the model is not registered.
    """
    return _load_window(context, model, since, until, deployment=deployment, version=version,
                        log_dir=log_dir)


def _load_window(context: Context, model: str, since: datetime, until: datetime, *,
                 deployment: str | None = None, version: int | None = None,
                 log_dir: str | os.PathLike[str] | None = None,
                 labels: Mapping[str, Any] | None = None, check_model: bool = True
                 ) -> WindowData:
    """:func:`load_window`, with the feedback given (read once by the caller) if known."""
    if not isinstance(model, str) or not model:
        raise InvalidArgument(f"The model must be a non-empty name. Got {model!r}.",
                              field="model")
    start, end = _utc(since, "since"), _utc(until, "until")
    if start >= end:
        raise InvalidArgument(f"The window must end after it starts. Got since="
                              f"{start.isoformat()} and until={end.isoformat()}.",
                              field="until")
    if check_model:
        context.store.get_model(model)  # NotFound names the model
    root = Path(log_dir) if log_dir is not None else default_log_dir(context)
    served = _served(root, model, start, end, deployment, version)
    if labels is None:
        labels = read_labels(root, since=start - FEEDBACK_MARGIN) if len(served) else {}
    ok = served[served["status"].to_numpy() < 400]
    features = _decode(ok["features_json"])
    present = np.array([bool(f) for f in features], dtype=bool)
    ok = ok[present]
    features = [f for f, keep in zip(features, present, strict=True) if keep]
    outputs = _decode(ok["outputs_json"])
    sizes = [_batch_rows(f, rid) for f, rid in zip(features, ok["request_id"], strict=True)]
    counts = np.array([1 if n is None else n for n in sizes], dtype=np.int64)
    preds: list[Any] = []
    probas: list[list[Any]] | None = []
    for out, n in zip(outputs, counts.tolist(), strict=True):
        rows, proba = _rows_of(out, n)
        preds.extend(rows)
        if proba is None and n:
            probas = None  # a row without probabilities: none for the window
        elif probas is not None and proba is not None:
            probas.extend(proba)
    probabilities = None
    if probas and len({len(p) for p in probas}) == 1:
        probabilities = np.asarray(probas, dtype=np.float64)
    predictions = pd.Series(preds, dtype=object, name="prediction")
    if len(predictions):
        predictions = predictions.infer_objects()
    ids = ok["request_id"].to_numpy(dtype=object)
    times = ok["time"].repeat(counts).reset_index(drop=True).rename("time")
    return WindowData(
        model=model, deployment=deployment, since=start, until=end, records=len(served),
        features=_features(features, sizes), predictions=predictions,
        probabilities=probabilities,
        labels=pd.Series(_labels(ids, counts, labels), dtype=object, name="label"),
        request_ids=pd.Series(np.repeat(ids, counts), dtype=object, name="request_id"),
        versions=pd.Series(np.repeat(ok["version"].to_numpy(), counts), name="version")
        .astype("Int64"),
        times=times.astype("datetime64[us, UTC]"),
        ops=_ops(served, start, end))


_COLUMNS = ["request_id", "time", "deployment", "model", "version", "route", "status",
            "latency_ms", "features_json", "outputs_json"]


def _served(root: Path, model: str, since: datetime, until: datetime,
            deployment: str | None, version: int | None) -> pd.DataFrame:
    """The window's answered requests (no shadow/feedback), by time then request id.

    Each log directory is read column-wise (:func:`~mlpilot.serve.inference_log.
    read_frame`: Parquet partitions pruned by model and hour, plus live segments).
    """
    from mlpilot.serve.inference_log import read_frame

    parts = [read_frame(d, since=since, until=until, model=model)
             for d in log_directories(root)
             if (d / "segments").is_dir() or (d / "parquet").is_dir()]
    parts = [p[_COLUMNS] for p in parts if len(p)]
    if not parts:
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in _COLUMNS})
        frame["time"] = pd.Series(dtype="datetime64[us, UTC]")
        return frame
    frame = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    keep = ~frame["route"].isin(EXCLUDED_ROUTES).to_numpy() & (frame["model"] == model)
    if deployment is not None:
        keep &= frame["deployment"] == deployment
    if version is not None:
        keep &= frame["version"] == version
    return frame[keep.to_numpy()].sort_values(["time", "request_id"], kind="stable") \
        .reset_index(drop=True)


def _decode(texts: pd.Series) -> list[Any]:
    """JSON texts decoded in bulk (orjson; logs written with NaN literals via json)."""
    loads = orjson.loads
    out = []
    for text in texts.tolist():
        try:
            out.append(loads(text))
        except orjson.JSONDecodeError:
            out.append(json.loads(text))
    return out


def _batch_rows(features: Any, request_id: str) -> int | None:
    """The rows of a batch request (:func:`~mlpilot.monitor.quality._is_batch`), else None."""
    if not isinstance(features, Mapping):
        raise InvalidArgument(f"Record {request_id!r}: features must be a mapping of column "
                              f"name to value(s). Got {type(features).__name__}.")
    return _is_batch(features)


def _features(features: list[Mapping[str, Any]], sizes: list[int | None]) -> pd.DataFrame:
    """One row per predicted row (batches expanded); columns in order of first appearance.

    The same frame as :func:`~mlpilot.monitor.quality.features_frame` builds record by
    record (object columns, then ``infer_objects``), built column by column.
    """
    names = list(dict.fromkeys(k for f in features for k in f))
    if all(n is None for n in sizes):
        columns = {k: [f.get(k) for f in features] for k in names}
    else:
        columns = {k: list(chain.from_iterable(
            [f.get(k)] if n is None else list(f[k]) if k in f else [None] * n
            for f, n in zip(features, sizes, strict=True))) for k in names}
    return pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in columns.items()},
                        index=pd.RangeIndex(sum(1 if n is None else n for n in sizes))
                        ).infer_objects()


def _labels(ids: np.ndarray, counts: np.ndarray, labels: Mapping[str, Any]) -> np.ndarray:
    """Each row's label (module rules); only the labelled requests are visited."""
    out = np.full(int(counts.sum()), None, dtype=object)
    if not labels:
        return out
    starts = np.cumsum(counts) - counts
    for i, rid in enumerate(ids.tolist()):
        if rid in labels:
            label = _clean_label(labels[rid])
            if label is not None:
                n = int(counts[i])
                out[starts[i]:starts[i] + n] = _label_rows(label, n)
    return out


def _ops(served: pd.DataFrame, start: datetime, end: datetime) -> OpsMetrics:
    """:func:`~mlpilot.monitor.baseline.ops_metrics` of the window, on its columns."""
    status = served["status"].to_numpy(dtype=np.int64)
    requests = len(status)
    errors = int((status >= 500).sum())
    client = int(((status >= 400) & (status < 500)).sum())
    latencies = served["latency_ms"].to_numpy(dtype=np.float64)[status < 400]
    p50, p95, p99 = (np.percentile(latencies, [50, 95, 99]).tolist() if len(latencies)
                     else (None, None, None))
    return OpsMetrics(start, end, requests, errors, client,
                      errors / requests if requests else None,
                      client / requests if requests else None,
                      requests / (end - start).total_seconds(), p50, p95, p99)


# --- the reference --------------------------------------------------------------------------


def resolve_version(context: Context, model: str, version: int | None) -> ModelVersion:
    """The version monitored: ``version``, else the production alias, else the latest.

    Raises:
        NotFound: unknown model or version.
    """
    if not isinstance(model, str) or not model:
        raise InvalidArgument(f"The model must be a non-empty name. Got {model!r}.",
                              field="model")
    store = context.store
    if version is not None:
        return store.get_version(model, int(version))
    try:
        return store.resolve(model)  # the production alias
    except InvalidArgument:  # no production alias yet: the newest version
        return store.resolve(f"{model}@latest")


def _restrict(profile: Mapping[str, Any] | None, schema: Mapping[str, Any] | None,
              inputs: list[str] | None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    if inputs is None:
        return (dict(profile) if profile else None), (dict(schema) if schema else None)
    keep = set(inputs)
    out_profile = None
    if profile and isinstance(profile.get("columns"), Mapping):
        out_profile = {**profile, "columns": {k: v for k, v in profile["columns"].items()
                                              if k in keep}}
        out_profile["num_columns"] = len(out_profile["columns"])
    out_schema = None
    if schema and isinstance(schema.get("columns"), list):
        out_schema = {**schema, "columns": [c for c in schema["columns"]
                                            if isinstance(c, Mapping) and c.get("name") in keep]}
    return out_profile, out_schema


def _importances(version: ModelVersion) -> dict[str, float]:
    report = version.check_report or {}
    for entry in report.get("results", []) if isinstance(report, Mapping) else []:
        if isinstance(entry, Mapping) and entry.get("check") == "explainability":
            values = (entry.get("evidence") or {}).get("importances")
            if isinstance(values, Mapping):
                return {str(k): float(v) for k, v in values.items()
                        if isinstance(v, int | float) and math.isfinite(v)}
    return {}


def _target(frame: pd.DataFrame, inputs: list[str] | None, target: str | None) -> str | None:
    if target is not None:
        return target if target in frame.columns else None
    if inputs is None:
        return None
    rest = [str(c) for c in frame.columns if c not in set(inputs)]
    return rest[0] if len(rest) == 1 else None


def reference_for(context: Context, model: str, version: int | None = None, *,
                  max_rows: int = DEFAULT_REFERENCE_ROWS, target: str | None = None
                  ) -> Reference:
    """The training reference of a version (``None``: the production alias, else the latest).

    Args:
        context: the stores.
        model: the model name.
        version: the version; default the production alias (the latest without one).
        max_rows: the snapshot is loaded only up to this many rows (profile-only above).
        target: the label column of the snapshot (default: the one column that is not
            a model input, when there is exactly one).

    Raises:
        NotFound: unknown model or version.
    """
    v = resolve_version(context, model, version)
    signature = v.signature or {}
    raw_inputs = signature.get("inputs") if isinstance(signature, Mapping) else None
    inputs = [c["name"] for c in raw_inputs if isinstance(c, Mapping) and "name" in c] \
        if isinstance(raw_inputs, list) and raw_inputs else None
    outputs = signature.get("outputs") if isinstance(signature, Mapping) else None
    classes = list(outputs["classes"]) if isinstance(outputs, Mapping) and isinstance(
        outputs.get("classes"), list) else None
    task = "classification" if classes else None
    notes: list[str] = []
    if v.dataset_id is None:
        notes.append(f"{v.ref} has no training dataset: no profile to compare with")
        return Reference(model, v.version, None, None, None, classes=classes, task=task,
                         importances=_importances(v), notes=tuple(notes))
    try:
        ds = context.store.get_dataset(v.dataset_id)
    except NotFound:
        notes.append(f"training dataset {v.dataset_id} of {v.ref} is gone")
        return Reference(model, v.version, v.dataset_id, None, None, classes=classes,
                         task=task, importances=_importances(v), notes=tuple(notes))
    profile, schema = _restrict(ds.profile or None, ds.schema or None, inputs)
    frame = labels = None
    target_name = None
    if ds.num_rows <= max_rows:
        try:
            from mlpilot.sdk._datasets import load_dataset

            snapshot = load_dataset(ds, context=context)
        except Exception as exc:  # a missing or unreadable artifact: profile only
            notes.append(f"snapshot of {ds.name} unreadable ({type(exc).__name__}); "
                         "profile only")
        else:
            target_name = _target(snapshot, inputs, target)
            if target_name is not None:
                labels = snapshot[target_name].reset_index(drop=True)
            cols = [c for c in (inputs or snapshot.columns) if c in snapshot.columns
                    and c != target_name]
            frame = snapshot[cols].reset_index(drop=True)
    else:
        notes.append(f"snapshot has {ds.num_rows} rows (> {max_rows}); profile only")
    if task is None and labels is not None:
        task = "regression" if pd.api.types.is_float_dtype(labels.dtype) else "classification"
    return Reference(model, v.version, ds.id, profile, schema, frame, labels, target_name,
                     classes, task, _importances(v), tuple(notes))


def window_bounds(since: datetime, until: datetime, step: timedelta) -> Iterable[
        tuple[datetime, datetime]]:
    """Consecutive ``[start, start + step)`` windows covering ``[since, until)``."""
    t = since
    while t + step <= until:
        yield t, t + step
        t += step
