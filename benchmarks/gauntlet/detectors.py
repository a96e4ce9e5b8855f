"""Drift detectors run on the same streams, and the oracle CUSUM (the floor on delay).

* Streaming detectors (mlpilot CUSUM / Page-Hinkley / ADWIN, river ADWIN / Page-Hinkley /
  KSWIN) read the first model's per-event error (0/1) in the order labels are revealed,
  so an alarm at update i is raised at event ``i + label_delay``.
* Window detectors read one monitoring window of features at a time: mlpilot's
  ``drift_report`` (any drifted column, BH + min effect, the monitor's drift-alert rule),
  mlpilot's CBPE (estimated accuracy flagged degraded), and Evidently's
  ``DataDriftPreset`` default dataset-drift verdict (run in ``.venv-drift``).
* The oracle CUSUM knows, for every change point, the pre- and post-change distributions
  of each monitored statistic (each feature as a normal score against the training data,
  each feature's null indicator, and the first model's error); it sums their
  log-likelihood ratios from the change point and alarms at ``h = ln(ARL x channels)``
  with ARL = 100,000 events (Lorden: at most one false alarm per 100k events).
"""

from __future__ import annotations

import json
import math
import subprocess
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from benchmarks.gauntlet.scenarios import Stream
from scipy import stats
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from mlpilot.monitor.cbpe import CBPE
from mlpilot.monitor.changepoint import ADWIN, CUSUM, PageHinkley
from mlpilot.monitor.drift import drift_report

ARL = 100_000
SLOW = {"river KSWIN"}  # ~0.5 ms per update (a scipy KS test each): run on a span only
EVIDENTLY_PYTHON = Path(__file__).resolve().parents[2] / ".venv-drift" / "bin" / "python"


# --- the model --------------------------------------------------------------------------


def matrix(X: pd.DataFrame) -> np.ndarray:
    """Numeric matrix for the model (categories as their codes, nulls kept)."""
    cols = [X[c].cat.codes.replace(-1, np.nan).to_numpy(float)
            if isinstance(X[c].dtype, pd.CategoricalDtype) else X[c].to_numpy(float)
            for c in X.columns]
    return np.column_stack(cols)


def fit_model(X: pd.DataFrame, y: np.ndarray, seed: int = 0) -> HistGradientBoostingClassifier:
    """The model every strategy trains: a small gradient-boosted tree ensemble."""
    model = HistGradientBoostingClassifier(max_iter=40, max_leaf_nodes=15, learning_rate=0.2,
                                           early_stopping=False, random_state=seed)
    M = matrix(X)
    M[:, np.isnan(M).all(axis=0)] = 0.0  # a column that arrived all null: constant
    # one thread: on a loaded 2-core machine OpenMP threads made one fit 100x slower
    with threadpool_limits(1):
        return model.fit(M, y)


# --- streaming detectors on the revealed error series --------------------------------------


def _mlpilot(cls: type) -> Callable[[np.ndarray], list[int]]:
    def run(series: np.ndarray) -> list[int]:
        det = cls()
        return [i for i, v in enumerate(series) if det.update(float(v)) is not None]
    return run


def _river(name: str) -> Callable[[np.ndarray], list[int]]:
    def run(series: np.ndarray) -> list[int]:
        from river import drift

        det = {"ADWIN": drift.ADWIN, "PageHinkley": drift.PageHinkley,
               "KSWIN": lambda: drift.KSWIN(seed=0)}[name]()
        out = []
        for i, v in enumerate(series):
            det.update(float(v))
            if det.drift_detected:
                out.append(i)
        return out
    return run


def streaming_detectors() -> dict[str, Callable[[np.ndarray], list[int]]]:
    """Name -> function(error series) -> indices of alarms (in update order)."""
    out = {"mlpilot CUSUM": _mlpilot(CUSUM), "mlpilot PageHinkley": _mlpilot(PageHinkley),
           "mlpilot ADWIN": _mlpilot(ADWIN)}
    try:
        import river  # noqa: F401
    except ImportError:
        return out
    out.update({f"river {n}": _river(n) for n in ("ADWIN", "PageHinkley", "KSWIN")})
    return out


# --- window detectors ---------------------------------------------------------------------


def windows(n: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(a + size, n)) for a in range(0, n, size) if min(a + size, n) - a >= size // 2]


def drift_alarms(reference: pd.DataFrame, X: pd.DataFrame, size: int) -> list[int]:
    """mlpilot: window ends where ``drift_report`` finds any drifted column."""
    out = []
    for a, b in windows(len(X), size):
        if drift_report(reference, X.iloc[a:b]).drifted_columns:
            out.append(b)
    return out


def fit_cbpe(model: Any, X: pd.DataFrame, y: np.ndarray) -> CBPE:
    """CBPE fitted on a labelled reference the model did not train on."""
    return CBPE(metrics=("accuracy",)).fit(model.predict_proba(matrix(X)), y)


def cbpe_alarms(model: Any, cbpe: CBPE, X: pd.DataFrame, size: int) -> list[int]:
    """mlpilot CBPE: window ends where the estimated accuracy is flagged degraded."""
    proba = model.predict_proba(matrix(X))
    return [b for a, b in windows(len(X), size) if cbpe.estimate(proba[a:b])["accuracy"].degraded]


_EVIDENTLY_WORKER = r"""
import json, sys, warnings
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
warnings.filterwarnings("ignore")
out = {}
for job in json.load(open(sys.argv[1])):
    ref = pd.read_parquet(job["ref"]); cur = pd.read_parquet(job["cur"]); shares = []
    for a, b in job["spans"]:
        share = None
        try:
            snap = Report([DataDriftPreset()]).run(cur.iloc[a:b], ref).dict()
        except ValueError:  # e.g. a column that arrived all null: Evidently refuses it
            shares.append([b, "error"])
            continue
        for m in snap.get("metrics", []):
            if str(m.get("config", {}).get("type", "")).endswith("DriftedColumnsCount"):
                share = float(m["value"]["share"])
                break
        shares.append([b, share])
    out[job["name"]] = shares
print(json.dumps(out))
"""


class EvidentlyJobs:
    """Evidently's DataDriftPreset on chosen windows, run in ``.venv-drift`` in background.

    Evidently needs pandas < 3, so it runs in its own interpreter; the windows are queued
    with :meth:`add`, run while the rest of the gauntlet computes, and read with
    :meth:`results` (window ends where dataset drift fired: drifted share >= 0.5, its
    default).
    """

    def __init__(self) -> None:
        self.available = EVIDENTLY_PYTHON.exists()
        self._tmp = tempfile.TemporaryDirectory()
        self._jobs: list[dict[str, Any]] = []
        self._proc: subprocess.Popen[str] | None = None

    def add(self, name: str, reference: pd.DataFrame, X: pd.DataFrame,
            spans: list[tuple[int, int]]) -> None:
        if not self.available or not spans:
            return
        base = Path(self._tmp.name) / name
        reference.to_parquet(f"{base}-ref.parquet")
        X.to_parquet(f"{base}-cur.parquet")
        self._jobs.append({"name": name, "ref": f"{base}-ref.parquet",
                           "cur": f"{base}-cur.parquet", "spans": [list(s) for s in spans]})

    def start(self) -> None:
        if not self._jobs:
            return
        manifest = Path(self._tmp.name) / "jobs.json"
        manifest.write_text(json.dumps(self._jobs))
        self._proc = subprocess.Popen([str(EVIDENTLY_PYTHON), "-c", _EVIDENTLY_WORKER,
                                       str(manifest)], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)

    def results(self) -> dict[str, tuple[list[int], int]]:
        """Name -> (window ends that fired, windows evaluated); empty if Evidently failed."""
        if self._proc is None:
            return {}
        out, err = self._proc.communicate()
        self._tmp.cleanup()
        if self._proc.returncode != 0:
            warnings.warn(f"Evidently worker failed: {err[-800:]}", stacklevel=2)
            return {}
        shares = json.loads(out.strip().splitlines()[-1])
        # a window Evidently refused counts as an alarm (it did flag something wrong)
        return {name: ([b for b, sh in rows if sh == "error" or (sh is not None and sh >= 0.5)],
                       len(rows)) for name, rows in shares.items()}


# --- the oracle CUSUM -----------------------------------------------------------------------


def _normal_scores(reference: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each value as a normal score of its mid-rank in the reference (NaN stays NaN)."""
    ref = np.sort(reference[np.isfinite(reference)])
    lo = np.searchsorted(ref, values, side="left")
    hi = np.searchsorted(ref, values, side="right")
    u = (0.5 * (lo + hi) + 0.5) / (ref.size + 1)
    return np.where(np.isfinite(values), stats.norm.ppf(u), np.nan)


def _gauss_llr(pre: np.ndarray, post: np.ndarray, x: np.ndarray) -> np.ndarray:
    pre, post = pre[np.isfinite(pre)], post[np.isfinite(post)]
    if pre.size < 10 or post.size < 10:
        return np.zeros_like(x)
    m0, s0 = pre.mean(), max(pre.std(), 1e-3)
    m1, s1 = post.mean(), max(post.std(), 1e-3)
    llr = (stats.norm.logpdf(x, m1, s1) - stats.norm.logpdf(x, m0, s0))
    return np.where(np.isfinite(x), llr, 0.0)


def _bern_llr(p0: float, p1: float, x: np.ndarray) -> np.ndarray:
    p0, p1 = min(max(p0, 1e-4), 1 - 1e-4), min(max(p1, 1e-4), 1 - 1e-4)
    return np.where(x > 0.5, math.log(p1 / p0), math.log((1 - p1) / (1 - p0)))


def _first_crossing(llr: np.ndarray, h: float) -> int | None:
    """First n where the CUSUM of ``llr`` (started at 0) exceeds ``h``."""
    c = np.cumsum(llr)
    s = c - np.minimum(0.0, np.minimum.accumulate(c))
    hit = np.flatnonzero(s > h)
    return int(hit[0]) if hit.size else None


def _channels(stream: Stream, errors: np.ndarray) -> tuple[dict[str, np.ndarray], set[str]]:
    """Monitored statistics per event; the names of those revealed with the label delay."""
    out: dict[str, np.ndarray] = {"error": errors.astype(float)}
    for col in stream.X.columns:
        if isinstance(stream.X[col].dtype, pd.CategoricalDtype):
            codes = stream.X[col].cat.codes.to_numpy(float)
            ref = stream.train_X[col].cat.codes.to_numpy(float)
        else:
            codes, ref = stream.X[col].to_numpy(float), stream.train_X[col].to_numpy(float)
        out[f"{col}:score"] = _normal_scores(ref, codes)
        out[f"{col}:null"] = (~np.isfinite(codes)).astype(float)
    return out, {"error"}


def _llr(name: str, values: np.ndarray, pre: slice, post: slice) -> np.ndarray:
    if name.endswith(":null") or name == "error":
        return _bern_llr(float(values[pre].mean()), float(values[post].mean()), values)
    return _gauss_llr(values[pre], values[post], values)


def oracle_cusum(stream: Stream, errors: np.ndarray) -> dict[str, Any]:
    """Detection time (event index) per change point, and the alarms on a control stream.

    For change point i the oracle knows the segment before (from the previous change
    point) and after (to the next) and sums LLRs from the change point; a channel
    revealed with the label delay raises its alarm ``label_delay`` events later.
    """
    chans, delayed = _channels(stream, errors)
    h = math.log(ARL * len(chans))
    n = len(errors)
    if stream.is_control or stream.bad_deploy_at is not None:
        return {"alarms": _control_alarms(chans, delayed, stream.label_delay, h), "h": h}
    bounds = [0, *stream.change_points, n]
    detections = []
    for i, cp in enumerate(stream.change_points):
        pre, post = slice(bounds[i], cp), slice(cp, bounds[i + 2])
        best = None
        for name, values in chans.items():
            hit = _first_crossing(_llr(name, values, pre, post)[post], h)
            if hit is None:
                continue
            t = cp + hit + (stream.label_delay if name in delayed else 0)
            best = t if best is None else min(best, t)
        detections.append(best)
    return {"detections": detections, "h": h}


def _control_alarms(chans: dict[str, np.ndarray], delayed: set[str], delay: int,
                    h: float) -> list[int]:
    """Alarms on a change-free stream, against a fixed alternative per channel.

    Alternatives: a 0.5-sd mean shift of each normal score, a null rate of 5 %, an error
    rate 1.5x the training one. The CUSUM restarts after each alarm.
    """
    alarms = []
    for name, values in chans.items():
        head = slice(0, min(len(values), 2000))
        if name.endswith(":null"):
            llr = _bern_llr(float(values[head].mean()), 0.05, values)
        elif name == "error":
            p0 = float(values[head].mean())
            llr = _bern_llr(p0, min(1.5 * p0, 0.99), values)
        else:
            m, s = float(np.nanmean(values[head])), float(np.nanstd(values[head])) or 1.0
            z = np.where(np.isfinite(values), (values - m) / s, 0.0)
            llr = 0.5 * z - 0.125  # N(m + s/2, s) against N(m, s); the mirror image below
            alarms += _restarting(-0.5 * z - 0.125, h, 0)
        alarms += _restarting(llr, h, delay if name in delayed else 0)
    return sorted(alarms)


def _restarting(llr: np.ndarray, h: float, lag: int) -> list[int]:
    out, start = [], 0
    while start < len(llr):
        hit = _first_crossing(llr[start:], h)
        if hit is None:
            break
        out.append(start + hit + lag)
        start += hit + 1
    return out
