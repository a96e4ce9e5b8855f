"""Benchmark mlpilot's drift report against Evidently, NannyML and a numpy/scipy floor.

The data: a seeded reference and current frame of ``--rows`` rows (1,000,000 by default;
``--quick``: 100,000) with 20 numeric columns (normal, log-normal, uniform, integer
counts; 1% NaN in a quarter of them) and 5 categorical ones (30 values; strings, one
``category``). Planted drift: ``x00`` mean +0.3 sd, ``x05`` scale ×1.5, ``x10`` log-normal
shape, ``x15`` mean +0.01 sd (negligible: should *not* be flagged on big windows),
``c0`` one value's share 10% → 25%, ``c3`` 3% of rows in a new value.

Tools, each timed in a fresh subprocess on the same frames read back from Parquet
(imports and loading untimed):

* ``mlpilot`` — ``drift_report(reference, current)`` (KS + chi², BH, min effect 0.05);
* ``mlpilot-profile`` — the same against ``compute_profile(reference)`` built beforehand
  (the monitor's path: the training data is not reloaded); its build time is shown apart;
* ``evidently`` — ``Report([DataDriftPreset()]).run(current, reference)`` then
  ``snapshot.dict()`` (Evidently 0.7; its defaults choose the tests by size and type);
* ``nannyml`` — ``UnivariateDriftCalculator`` with Kolmogorov–Smirnov and chi², one
  chunk (``chunk_number=1``): ``fit(reference)`` then ``calculate(current)``;
* ``floor`` — a plain loop: ``scipy.stats.ks_2samp`` per numeric column and
  ``chi2_contingency`` on aligned ``value_counts`` per categorical one, one thread.

Memory: the peak resident set size during the timed call above the resident size just
before it (Linux ``/proc/self/status`` VmHWM after resetting it through
``/proc/self/clear_refs``), so native allocations (numpy, Arrow) count. Evidently 0.7
and NannyML 0.13 need pandas < 3, so the anchors run under ``--anchor-python`` (default
``.venv-drift/bin/python`` when it exists); mlpilot and the floor under this interpreter.

Run::

    .venv/bin/python benchmarks/drift.py --quick
    .venv/bin/python benchmarks/drift.py --json /tmp/drift.json [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

SEED = 20241123
ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("mlpilot", "mlpilot-profile", "evidently", "nannyml", "floor")
ANCHORS = frozenset({"evidently", "nannyml"})
PLANTED = ["x00", "x05", "x10", "c0", "c3"]
NEGLIGIBLE = ["x15"]


# --- data --------------------------------------------------------------------------------


def make_frames(rows: int, seed: int = SEED) -> tuple[Any, Any]:
    """The reference and current frames (see the module docstring)."""
    import pandas as pd

    rng = np.random.default_rng(seed)

    def numeric(i: int, current: bool) -> np.ndarray:
        kind = i % 4
        if kind == 0:
            values = rng.normal(10.0 + i, 1.0 + i / 10, size=rows)
        elif kind == 1:
            values = rng.lognormal(0.0, 0.8 if current and i == 5 else 0.5, size=rows)
        elif kind == 2:
            values = rng.uniform(-50, 50, size=rows)
        else:
            values = rng.poisson(3 + i, size=rows).astype(np.float64)
        if current and i == 0:
            values += 0.3 * (1.0 + i / 10)
        if current and i == 5:
            values = 1.0 + (values - 1.0) * 1.5
        if current and i == 10:
            values = rng.lognormal(0.0, 0.9, size=rows)
        if current and i == 15:
            values = values + 0.01 * np.std(values)
        if i % 4 == 1:
            values[rng.random(rows) < 0.01] = np.nan
        return values

    labels = np.array([f"v{k:02d}" for k in range(30)], dtype=object)
    base = np.full(30, 0.9 / 29)
    base[0] = 0.1

    def categorical(i: int, current: bool) -> Any:
        p = base
        if current and i == 0:
            p = np.r_[0.25, base[1:] * 0.75 / 0.9]
        picked = labels[rng.choice(30, size=rows, p=p)]
        if current and i == 3:
            picked[rng.random(rows) < 0.03] = "new_value"
        return pd.Series(picked, dtype="category" if i == 4 else "str")

    frames = []
    for current in (False, True):
        columns: dict[str, Any] = {f"x{i:02d}": numeric(i, current) for i in range(20)}
        columns.update({f"c{i}": categorical(i, current) for i in range(5)})
        frames.append(pd.DataFrame(columns))
    return frames[0], frames[1]


# --- measuring in a child process ---------------------------------------------------------


def _status(field: str) -> int | None:
    """A VmRSS / VmHWM figure of this process in bytes (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _measure(run: Callable[[], Any], repeat: int) -> dict[str, Any]:
    walls: list[float] = []
    peaks: list[int] = []
    outcome: Any = None
    for _ in range(repeat):
        outcome = None
        gc.collect()
        before = _status("VmRSS")
        try:
            Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark
        except OSError:
            pass
        start = time.perf_counter()
        outcome = run()
        walls.append(time.perf_counter() - start)
        hwm = _status("VmHWM")
        if before is not None and hwm is not None:
            peaks.append(max(hwm - before, 0))
    return {"wall_s": walls, "peak_bytes": max(peaks) if peaks else None, "outcome": outcome}


def _worker(tool: str, data: Path, repeat: int) -> dict[str, Any]:
    import pandas as pd

    ref = pd.read_parquet(data / "reference.parquet")
    cur = pd.read_parquet(data / "current.parquet")
    extra: dict[str, Any] = {"pandas": pd.__version__}
    numeric = [c for c in ref.columns if c.startswith("x")]
    categorical = [c for c in ref.columns if c.startswith("c")]
    if tool in ("mlpilot", "mlpilot-profile"):
        from mlpilot.data import compute_profile
        from mlpilot.monitor import drift_report

        reference: Any = ref
        if tool == "mlpilot-profile":
            start = time.perf_counter()
            reference = compute_profile(ref)
            extra["profile_build_s"] = time.perf_counter() - start
            del ref
        figures = _measure(lambda: drift_report(reference, cur), repeat)
        figures["drifted"] = figures.pop("outcome").drifted_columns
    elif tool == "evidently":
        import evidently
        from evidently import Report
        from evidently.presets import DataDriftPreset

        extra["evidently"] = evidently.__version__
        figures = _measure(lambda: Report([DataDriftPreset()]).run(cur, ref).dict(), repeat)
        figures["drifted"] = _evidently_drifted(figures.pop("outcome"))
    elif tool == "nannyml":
        import logging
        import warnings

        import nannyml as nml

        logging.disable(logging.WARNING)
        warnings.filterwarnings("ignore")
        extra["nannyml"] = nml.__version__

        def run() -> Any:
            calc = nml.UnivariateDriftCalculator(
                column_names=numeric + categorical, continuous_methods=["kolmogorov_smirnov"],
                categorical_methods=["chi2"], chunk_number=1)
            calc.fit(ref)
            return calc.calculate(cur)

        figures = _measure(run, repeat)
        figures.pop("outcome")
        figures["drifted"] = None  # one chunk: NannyML's thresholds are degenerate
    elif tool == "floor":
        figures = _measure(lambda: _floor(ref, cur, numeric, categorical), repeat)
        figures["drifted"] = figures.pop("outcome")
    else:
        raise SystemExit(f"unknown tool {tool!r}")
    figures.update(extra)
    return figures


def _evidently_drifted(snapshot: dict[str, Any]) -> list[str]:
    drifted = []
    for metric in snapshot.get("metrics", []):
        config = metric.get("config", {})
        if not str(config.get("type", "")).endswith("ValueDrift"):
            continue
        value, threshold = float(metric["value"]), float(config["threshold"])
        is_p = "p_value" in str(config.get("method", ""))
        if (value < threshold) if is_p else (value >= threshold):
            drifted.append(config["column"])
    return drifted


def _floor(ref: Any, cur: Any, numeric: list[str], categorical: list[str]) -> list[str]:
    """The plain loop: one scipy test per column at 5%, no correction."""
    import pandas as pd
    from scipy import stats

    drifted = []
    for name in numeric:
        a, b = ref[name].dropna().to_numpy(), cur[name].dropna().to_numpy()
        if stats.ks_2samp(a, b).pvalue < 0.05:
            drifted.append(name)
    for name in categorical:
        table = pd.concat([ref[name].value_counts(), cur[name].value_counts()], axis=1)
        if stats.chi2_contingency(table.fillna(0).to_numpy().T).pvalue < 0.05:
            drifted.append(name)
    return drifted


# --- the runner ---------------------------------------------------------------------------


def _run_tool(python: str, tool: str, data: Path, repeat: int) -> dict[str, Any]:
    command = [python, str(Path(__file__).resolve()), "--_worker", tool, "--_data", str(data),
               "--repeat", str(repeat)]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {done.returncode}: " + " | ".join(tail)}
    return json.loads(lines[-1])


def _default_anchor_python() -> str:
    candidate = ROOT / ".venv-drift" / "bin" / "python"
    return str(candidate) if candidate.exists() else sys.executable


def bench(rows: int, repeat: int, tools: list[str], anchor_python: str) -> dict[str, Any]:
    """Build the frames, run every tool in its own process, gather the figures."""
    ref, cur = make_frames(rows)
    frames_bytes = int(ref.memory_usage(deep=True).sum() + cur.memory_usage(deep=True).sum())
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mlpilot-drift-bench-") as tmp:
        data = Path(tmp)
        ref.to_parquet(data / "reference.parquet")
        cur.to_parquet(data / "current.parquet")
        del ref, cur
        for tool in tools:
            python = anchor_python if tool in ANCHORS else sys.executable
            print(f"  {tool} ...", file=sys.stderr, flush=True)
            results[tool] = _run_tool(python, tool, data, repeat)
            results[tool]["python"] = python
    return {
        "rows": rows, "columns": 25, "repeat": repeat, "frames_bytes": frames_bytes,
        "planted": PLANTED, "negligible": NEGLIGIBLE, "results": results,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None},
    }


def _median(figures: dict[str, Any]) -> float | None:
    walls = figures.get("wall_s")
    return statistics.median(walls) if walls else None


def print_table(report: dict[str, Any]) -> None:
    """The markdown table and the ratios."""
    results = report["results"]
    frames_mb = report["frames_bytes"] / 2**20
    print(f"\n{report['rows']:,} rows × 25 columns, reference + current = {frames_mb:,.0f} MB "
          f"in pandas; median of {report['repeat']}; load average "
          f"{report['machine']['load_average']}\n")
    print("| tool | wall s (median) | best s | peak MB above start | peak ÷ frames | drifted |")
    print("|---|---:|---:|---:|---:|---|")
    for tool, figures in results.items():
        if "error" in figures:
            print(f"| {tool} | – | – | – | – | skipped: {figures['error'][:80]} |")
            continue
        peak = figures.get("peak_bytes")
        peak_mb = f"{peak / 2**20:,.0f}" if peak is not None else "n/a"
        share = f"{peak / report['frames_bytes']:.2f}" if peak is not None else "n/a"
        drifted = figures.get("drifted")
        shown = "n/a" if drifted is None else ", ".join(drifted) or "none"
        print(f"| {tool} | {_median(figures):.3f} | {min(figures['wall_s']):.3f} | {peak_mb} "
              f"| {share} | {shown} |")
    if "profile_build_s" in results.get("mlpilot-profile", {}):
        print(f"\nmlpilot-profile: compute_profile(reference) took "
              f"{results['mlpilot-profile']['profile_build_s']:.2f} s beforehand (untimed).")
    print(f"planted drift: {', '.join(PLANTED)}; negligible (should not flag): "
          f"{', '.join(NEGLIGIBLE)}\n")
    pairs = [("evidently", "mlpilot"), ("nannyml", "mlpilot"), ("mlpilot", "floor"),
             ("mlpilot-profile", "floor")]
    for top, bottom in pairs:
        a, b = _median(results.get(top, {})), _median(results.get(bottom, {}))
        if a is not None and b:
            print(f"- {top} ÷ {bottom}: {a / b:.2f}×")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 rows")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tools", default=",".join(TOOLS),
                        help=f"comma-separated subset of {','.join(TOOLS)}")
    parser.add_argument("--anchor-python", default=None,
                        help="interpreter with evidently and nannyml (pandas < 3)")
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    parser.add_argument("--_worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--_data", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._worker:
        print(json.dumps(_worker(args._worker, args._data, args.repeat)))
        return 0
    tools = [t for t in args.tools.split(",") if t]
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown:
        parser.error(f"unknown tools {unknown}; choose from {list(TOOLS)}")
    rows = 100_000 if args.quick else args.rows
    report = bench(rows, args.repeat, tools, args.anchor_python or _default_anchor_python())
    print_table(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
