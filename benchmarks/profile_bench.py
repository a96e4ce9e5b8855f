"""Benchmark mlpilot.data.compute_profile on a seeded 1,000,000 x 25 frame.

The frame: 15 float columns (normal, log-normal, uniform; 1% NaN, a few inf), 5 integer
columns (small to wide ranges, one nullable Int64), 5 categorical columns with about
50 values (3 ``str``, 2 ``category``; 2% missing).

Anchors, on the same frame in the same run: whylogs (``why.log``: KLL quantile
sketches, frequent items, counts; run it where whylogs is installed, e.g. the
benchmark venv ``.venv-bench``) and plain pandas (``describe`` with 101 percentiles
plus ``value_counts``). Each is reported with its ratio to mlpilot.

Figures: best and median wall time of ``compute_profile`` over ``--repeat`` runs, the
same single-threaded, peak memory traced by tracemalloc (Python and NumPy allocations),
and on Linux the peak resident set size above the resident size before one call, taken
in a fresh child process (this also sees Arrow's allocations). Run::

    python benchmarks/profile_bench.py [--rows N] [--repeat 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlpilot.data import compute_profile

SEED = 20240601


def make_frame(rows: int, seed: int = SEED) -> pd.DataFrame:
    """The benchmark frame: 15 float, 5 integer and 5 categorical columns."""
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for i in range(15):
        kind = i % 3
        if kind == 0:
            values = rng.normal(loc=i, scale=1 + i, size=rows)
        elif kind == 1:
            values = rng.lognormal(mean=0.0, sigma=1.0, size=rows)
        else:
            values = rng.uniform(-100, 100, size=rows)
        values[rng.random(rows) < 0.01] = np.nan
        values[rng.integers(0, rows, size=3)] = np.inf
        columns[f"f{i:02d}"] = values
    for i, high in enumerate([10, 1_000, 100_000, 10_000_000, 2**40]):
        columns[f"i{i:02d}"] = rng.integers(0, high, size=rows)
    columns["i04"] = pd.array(columns["i04"], dtype="Int64")
    columns["i04"][rng.random(rows) < 0.02] = pd.NA
    labels = np.array([f"value_{k:02d}" for k in range(50)], dtype=object)
    weights = rng.dirichlet(np.ones(50))
    for i in range(5):
        picked = labels[rng.choice(50, size=rows, p=weights)]
        picked[rng.random(rows) < 0.02] = None
        columns[f"c{i:02d}"] = pd.Series(picked, dtype="category" if i >= 3 else "str")
    return pd.DataFrame(columns)


def _rss_bytes() -> int | None:
    """Current resident set size (Linux), from /proc/self/statm."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def _release_free_memory() -> None:
    """Hand freed heap pages back to the OS (glibc), so reuse cannot hide new peaks."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _peak_rss_delta(run: Callable[[], object]) -> int | None:
    """Peak RSS during ``run`` above the RSS before it (Linux: resets VmHWM first)."""
    gc.collect()
    _release_free_memory()
    before = _rss_bytes()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark
    except OSError:
        return None
    run()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:") and before is not None:
            return int(line.split()[1]) * 1024 - before
    return None


def _child_peak_rss(rows: int) -> None:
    """In a fresh process: print the peak RSS delta of one compute_profile call.

    A fresh process matters: thread arenas left over from earlier calls hold freed
    pages that later calls reuse without raising the RSS.
    """
    frame = make_frame(rows)
    compute_profile(make_frame(1_000))  # import and initialise everything first
    print(json.dumps({"peak_rss_delta_bytes": _peak_rss_delta(lambda: compute_profile(frame))}))


def _measure_rss_in_child(rows: int) -> int | None:
    command = [sys.executable, str(Path(__file__).resolve()), "--rows", str(rows), "--rss-child"]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_delta_bytes"]


def _times(run: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        run()
        out.append(time.perf_counter() - start)
    return out


def _pandas_profile(frame: pd.DataFrame) -> object:
    numeric = frame.select_dtypes("number")
    summary = numeric.describe(percentiles=np.linspace(0.01, 0.99, 99))
    counts = {c: frame[c].value_counts() for c in frame.columns if c not in numeric.columns}
    return summary, counts


def _anchors(frame: pd.DataFrame, repeat: int) -> dict[str, float | None]:
    """Best wall time of each anchor tool on ``frame`` (None if not installed)."""
    out: dict[str, float | None] = {"pandas_best_s": min(_times(lambda: _pandas_profile(frame),
                                                                repeat))}
    try:
        import whylogs  # noqa: F401
    except ImportError:
        out["whylogs_best_s"] = None
        return out
    import whylogs as why

    if not hasattr(np, "unicode_"):  # whylogs 1.6 still names this NumPy-1 alias
        np.unicode_ = np.str_  # type: ignore[attr-defined]
    # whylogs 1.6 predates pandas 3's string and categorical dtypes: hand it object
    # columns (converted outside the timed region).
    plain = frame.astype({c: object for c in frame.columns
                          if not pd.api.types.is_numeric_dtype(frame[c])})
    why.log(plain.head(1000))  # warm-up
    out["whylogs_best_s"] = min(_times(lambda: why.log(plain), repeat))
    return out


def bench(rows: int, repeat: int) -> dict[str, Any]:
    """Build the frame, time and measure compute_profile, return the figures."""
    start = time.perf_counter()
    frame = make_frame(rows)
    build_s = time.perf_counter() - start
    profile = compute_profile(frame)  # warm-up (imports, thread pool)
    threaded = _times(lambda: compute_profile(frame), repeat)
    single = _times(lambda: compute_profile(frame, max_workers=1), repeat)
    peak_rss = _measure_rss_in_child(rows)
    gc.collect()
    tracemalloc.start()
    compute_profile(frame)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    anchors = _anchors(frame, repeat)
    return {
        **anchors,
        "rows": rows,
        "columns": frame.shape[1],
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "frame_build_s": build_s,
        "frame_bytes": int(frame.memory_usage(deep=True).sum()),
        "profile_json_bytes": len(json.dumps(profile, allow_nan=False)),
        "threaded_best_s": min(threaded),
        "threaded_median_s": float(np.median(threaded)),
        "single_best_s": min(single),
        "single_median_s": float(np.median(single)),
        "tracemalloc_peak_bytes": traced_peak,
        "peak_rss_delta_bytes": peak_rss,
    }


def _print_table(figures: dict[str, Any]) -> None:
    mib = 1024 * 1024
    rss = figures["peak_rss_delta_bytes"]
    rows = [
        (
            "frame",
            f"{figures['rows']:,} x {figures['columns']} "
            f"({figures['frame_bytes'] / mib:,.0f} MiB), {figures['cpu_count']} cores",
        ),
        (
            "compute_profile, threads",
            f"best {figures['threaded_best_s']:.3f} s, median {figures['threaded_median_s']:.3f} s",
        ),
        (
            "compute_profile, 1 thread",
            f"best {figures['single_best_s']:.3f} s, median {figures['single_median_s']:.3f} s",
        ),
        ("peak traced memory", f"{figures['tracemalloc_peak_bytes'] / mib:,.1f} MiB"),
        ("peak RSS above baseline", "n/a" if rss is None else f"{rss / mib:,.1f} MiB"),
        ("profile JSON", f"{figures['profile_json_bytes'] / 1024:,.0f} KiB"),
    ]
    best = figures["threaded_best_s"]
    for tool in ("pandas", "whylogs"):
        other = figures.get(f"{tool}_best_s")
        rows.append((f"{tool} (anchor)", "not installed" if other is None else
                     f"best {other:.3f} s = {other / best:.1f}x mlpilot's time"))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--rss-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        _child_peak_rss(args.rows)
        return 0
    figures = bench(args.rows, args.repeat)
    _print_table(figures)
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
