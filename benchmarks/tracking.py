"""Benchmark experiment tracking: mlpilot vs MLflow (SQLite backend), one process, one workload.

Workload (defaults): 50 runs x 10 params x 200 values of the metric ``loss``, then one
search over the runs::

    metrics.loss < 0.5 and params.p0 = 'x'    ordered by metrics.loss

Rows:

* ``mlpilot``       -- ``with mlpilot.start_run(): run.log_params(...); run.log_metric(...)``
                       in a loop (the idiomatic per-call API);
* ``mlflow``        -- ``with mlflow.start_run(): mlflow.log_params(...);
                       mlflow.log_metric(...)`` in a loop (the idiomatic per-call API;
                       the primary comparison);
* ``mlflow-batch``  -- ``with mlflow.start_run(): MlflowClient().log_batch(...)`` once
                       per run with every param and metric point (MLflow at its best).

Each tool gets a fresh temporary directory (and SQLite database) per repetition; the
store's one-time start-up (database creation, migrations) is timed apart from the
logging. Every row repeats ``--repeat`` times (default 3) and reports the median; the
tools are interleaved within each repetition. Before the repetitions each tool does one
small warm-up round in a throw-away directory, so imports and per-process caches (package
list, git lookup) are not charged to the first repetition; that round and the import time
(taken in fresh child processes) are reported apart as "first use".

After timing, everything each tool stored is read back and compared with what it was
given (run count, params, every metric point's step and value) and both searches are
compared with the answer computed from the workload itself. Any difference is an error:
the benchmark prints it and exits with status 1.

Run (from the repository root, in the benchmark venv, see benchmarks/README.md)::

    .venv-bench/bin/python benchmarks/tracking.py [--runs 50 --params 10 --metrics 200]
        [--repeat 3] [--json out.json] [--quick] [--profile-mlpilot out.prof]
"""

from __future__ import annotations

import os

# MLflow: no telemetry (there is no network here, and a benchmark must not phone home),
# no background logging, no system metrics. Set before mlflow is imported.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"
os.environ["MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"] = "false"
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from importlib import metadata  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

SEED = 20240601
METRIC = "loss"
EXPERIMENT = "bench"
SEARCH_FILTER = "metrics.loss < 0.5 and params.p0 = 'x'"
SEARCH_ORDER = ["metrics.loss"]
TARGET_RATIO = 10.0
TOOLS = ("mlpilot", "mlflow", "mlflow-batch")
MLFLOW_BATCH_METRICS = 1000  # MLflow's per-request limit on metrics in log_batch
MLFLOW_BATCH_PARAMS = 100  # ... and on params
FULL = {"runs": 50, "params": 10, "metrics": 200, "repeat": 3}
QUICK = {"runs": 6, "params": 3, "metrics": 20, "repeat": 1}


class BenchmarkError(RuntimeError):
    """What a tool stored or found differs from what it was given."""


# -- workload ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Workload:
    """Identical inputs for every tool: per run a name, params and a loss curve."""

    names: list[str]
    params: list[dict[str, Any]]
    losses: list[list[float]]  # Python floats, so both tools receive the very same values

    @property
    def points(self) -> int:
        return sum(len(curve) for curve in self.losses)

    def expected_params(self, i: int) -> dict[str, str]:
        """Params as both tools store them (str; a float's repr == its str)."""
        return {k: str(v) for k, v in self.params[i].items()}

    def expected_search(self) -> list[str]:
        """Run names the search must return, in order (last loss ascending)."""
        rows = zip(self.names, self.params, self.losses, strict=True)
        hits = [(curve[-1], name) for name, p, curve in rows
                if curve and curve[-1] < 0.5 and p.get("p0") == "x"]
        return [name for _, name in sorted(hits)]


def make_workload(runs: int, params: int, metrics: int, seed: int = SEED) -> Workload:
    """Seeded runs: p0 in {'x', 'y'}, then ints, floats and strings; a decaying noisy loss."""
    rng = np.random.default_rng(seed)
    names, all_params, losses = [], [], []
    steps = np.arange(metrics)
    for i in range(runs):
        p: dict[str, Any] = {"p0": str(rng.choice(["x", "y"]))}
        for k in range(1, params):
            kind = k % 3
            if kind == 0:
                p[f"p{k}"] = str(rng.choice(["adam", "sgd", "rmsprop", "adagrad"]))
            elif kind == 1:
                p[f"p{k}"] = int(rng.integers(1, 1000))
            else:
                p[f"p{k}"] = float(rng.uniform(1e-5, 1.0))
        final = rng.uniform(0.1, 0.9)
        start = final + rng.uniform(1.0, 2.0)
        decay = np.exp(-6.0 * steps / max(metrics - 1, 1))
        curve = final + (start - final) * decay + rng.normal(0.0, 0.01, size=metrics)
        names.append(f"run-{i:04d}")
        all_params.append(p)
        losses.append(np.abs(curve).tolist())
    return Workload(names=names, params=all_params, losses=losses)


# -- helpers -----------------------------------------------------------------------------
@contextlib.contextmanager
def chdir(path: Path) -> Iterator[None]:
    """Work inside ``path``: MLflow's default artifact root (./mlruns) lands there, and
    mlpilot's git lookup (``git rev-parse``/``git status`` in the cwd) stays out of the
    repository."""
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    seconds, _, out = timed_cpu(fn)
    return seconds, out


def timed_cpu(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall-clock and this process's CPU seconds of ``fn()``."""
    gc.collect()
    cpu, start = time.process_time(), time.perf_counter()
    out = fn()
    return time.perf_counter() - start, time.process_time() - cpu, out


def quiet_loggers() -> None:
    for name in ("mlflow", "alembic", "sqlalchemy", "git"):
        logging.getLogger(name).setLevel(logging.WARNING)


# -- mlpilot -----------------------------------------------------------------------------
def mlpilot_startup(home: Path) -> None:
    import mlpilot

    mlpilot.configure(home=str(home))


def mlpilot_log(w: Workload) -> None:
    import mlpilot

    for name, params, curve in zip(w.names, w.params, w.losses, strict=True):
        with mlpilot.start_run(name=name, model=EXPERIMENT) as run:
            run.log_params(params)
            for step, value in enumerate(curve):
                run.log_metric(METRIC, value, step=step)


def mlpilot_search() -> list[str]:
    import mlpilot

    runs = mlpilot.search_runs(SEARCH_FILTER, order_by=SEARCH_ORDER)
    return [r.name for r in runs]


def mlpilot_read_back() -> dict[str, tuple[dict[str, str], list[int], list[float]]]:
    import mlpilot

    store = mlpilot.get_context().store
    out = {}
    for run in store.search_runs(None, model=EXPERIMENT, max_results=100_000):
        history = store.metric_history(run.id, METRIC)
        out[run.name] = (dict(run.params), [p.step for p in history],
                         [p.value for p in history])
    return out


def mlpilot_close() -> None:
    import mlpilot

    mlpilot.set_context(None)


# -- MLflow ------------------------------------------------------------------------------
def mlflow_startup(root: Path) -> None:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    mlflow.set_experiment(EXPERIMENT)  # creates the database and runs its migrations


def mlflow_log(w: Workload) -> None:
    import mlflow

    for name, params, curve in zip(w.names, w.params, w.losses, strict=True):
        with mlflow.start_run(run_name=name):
            mlflow.log_params(params)
            for step, value in enumerate(curve):
                mlflow.log_metric(METRIC, value, step=step)


def mlflow_log_batch(w: Workload) -> None:
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    client = MlflowClient()
    for name, params, curve in zip(w.names, w.params, w.losses, strict=True):
        with mlflow.start_run(run_name=name) as run:
            run_id = run.info.run_id
            now = int(time.time() * 1000)
            metrics = [Metric(METRIC, value, now, step) for step, value in enumerate(curve)]
            plist = [Param(k, str(v)) for k, v in params.items()]
            # One call per run unless the workload exceeds MLflow's per-request limits.
            while True:
                client.log_batch(run_id, metrics=metrics[:MLFLOW_BATCH_METRICS],
                                 params=plist[:MLFLOW_BATCH_PARAMS])
                metrics = metrics[MLFLOW_BATCH_METRICS:]
                plist = plist[MLFLOW_BATCH_PARAMS:]
                if not metrics and not plist:
                    break


def mlflow_search() -> list[str]:
    import mlflow

    frame = mlflow.search_runs(filter_string=SEARCH_FILTER, order_by=SEARCH_ORDER)
    return [] if frame.empty else frame["tags.mlflow.runName"].tolist()


def mlflow_read_back() -> dict[str, tuple[dict[str, str], list[int], list[float]]]:
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    out = {}
    token = None
    while True:
        page = client.search_runs([experiment.experiment_id], max_results=1000,
                                  page_token=token)
        for run in page:
            history = sorted(client.get_metric_history(run.info.run_id, METRIC),
                             key=lambda m: (m.step, m.timestamp))
            out[run.info.run_name] = (dict(run.data.params), [m.step for m in history],
                                      [m.value for m in history])
        token = page.token
        if not token:
            break
    return out


def mlflow_close() -> None:
    import mlflow

    mlflow.set_tracking_uri(None)


@dataclass(frozen=True)
class Tool:
    startup: Callable[[Path], None]
    log: Callable[[Workload], None]
    search: Callable[[], list[str]]
    read_back: Callable[[], dict[str, tuple[dict[str, str], list[int], list[float]]]]
    close: Callable[[], None]


TOOL_IMPL = {
    "mlpilot": Tool(mlpilot_startup, mlpilot_log, mlpilot_search, mlpilot_read_back,
                    mlpilot_close),
    "mlflow": Tool(mlflow_startup, mlflow_log, mlflow_search, mlflow_read_back, mlflow_close),
    "mlflow-batch": Tool(mlflow_startup, mlflow_log_batch, mlflow_search, mlflow_read_back,
                         mlflow_close),
}


# -- verification ------------------------------------------------------------------------
def verify(tool: str, w: Workload, stored: dict[str, Any], found: list[str]) -> None:
    """Raise BenchmarkError unless ``tool`` stored exactly ``w`` and searched right."""
    problems = []
    if sorted(stored) != sorted(w.names):
        problems.append(f"stored {len(stored)} runs, expected {len(w.names)} "
                        f"(missing {sorted(set(w.names) - set(stored))[:5]}, "
                        f"extra {sorted(set(stored) - set(w.names))[:5]})")
    for i, name in enumerate(w.names):
        if name not in stored:
            continue
        params, steps, values = stored[name]
        if params != w.expected_params(i):
            problems.append(f"{name}: params {params} != {w.expected_params(i)}")
        if len(values) != len(w.losses[i]):
            problems.append(f"{name}: {len(values)} metric points read back, "
                            f"{len(w.losses[i])} logged")
        elif steps != list(range(len(w.losses[i]))) or values != w.losses[i]:
            bad = next(j for j, (s, v) in enumerate(zip(steps, values, strict=True))
                       if s != j or v != w.losses[i][j])
            problems.append(f"{name}: point {bad} read back as step {steps[bad]} value "
                            f"{values[bad]!r}, logged step {bad} value {w.losses[i][bad]!r}")
        if len(problems) > 10:
            break
    expected = w.expected_search()
    if found != expected:
        problems.append(f"search returned {len(found)} runs {found[:8]}, expected "
                        f"{len(expected)} {expected[:8]}")
    if problems:
        raise BenchmarkError(f"{tool}: " + "; ".join(problems))


# -- the benchmark -----------------------------------------------------------------------
def one_round(tool: str, w: Workload, root: Path, *, check: bool) -> dict[str, Any]:
    """Start-up, logging, search (each timed), then read everything back and verify."""
    impl = TOOL_IMPL[tool]
    workdir = root / tool
    workdir.mkdir()
    with chdir(workdir):
        startup_s, _ = timed(lambda: impl.startup(workdir))
        try:
            log_s, log_cpu_s, _ = timed_cpu(lambda: impl.log(w))
            search_s, found = timed(impl.search)
            if check:
                verify(tool, w, impl.read_back(), found)
        finally:
            impl.close()
    return {"startup_s": startup_s, "log_s": log_s, "log_cpu_s": log_cpu_s,
            "search_s": search_s, "search_hits": len(found)}


def import_seconds(tool: str) -> float | None:
    """Import time of the tool's tracking API in a fresh interpreter."""
    code = {
        "mlpilot": "import mlpilot; mlpilot.start_run; mlpilot.search_runs",
        "mlflow": "import mlflow; mlflow.start_run; mlflow.search_runs",
    }[tool]
    script = f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
    try:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              check=True, env=os.environ.copy(), timeout=300)
        return float(done.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError):
        return None


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for dist in ("mlpilot", "mlflow", "mlflow-skinny", "sqlalchemy", "alembic", "numpy",
                 "pandas"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    return {
        "load_average_1_5_15": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "packages": versions,
    }


def mlpilot_source_digest() -> str | None:
    """sha256 over mlpilot's installed Python sources: which code was measured."""
    import hashlib
    import importlib.util

    spec = importlib.util.find_spec("mlpilot")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def bench(args: argparse.Namespace) -> dict[str, Any]:
    w = make_workload(args.runs, args.params, args.metrics, args.seed)
    load_before = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    source_digest = mlpilot_source_digest()  # before importing it: the code measured
    if not w.expected_search():
        print("warning: the search matches no run with this workload; "
              "the search check is weak", file=sys.stderr)
    first_use: dict[str, dict[str, float | None]] = {}
    for name in ("mlpilot", "mlflow"):
        first_use[name] = {"import_s": import_seconds(name)}
    warm = make_workload(2, max(1, min(args.params, 3)), 5, args.seed + 1)
    samples: dict[str, list[dict[str, Any]]] = {t: [] for t in TOOLS}
    with tempfile.TemporaryDirectory(prefix="mlpilot-bench-warm-") as tmp:
        for tool in TOOLS:
            root = Path(tmp) / tool
            root.mkdir()
            seconds, _ = timed(lambda t=tool, r=root: one_round(t, warm, r, check=True))
            if tool in first_use:
                first_use[tool]["warmup_s"] = seconds
        quiet_loggers()
    for rep in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix=f"mlpilot-bench-{rep}-") as tmp:
            for tool in TOOLS:
                samples[tool].append(one_round(tool, w, Path(tmp), check=True))
                quiet_loggers()
                s = samples[tool][-1]
                print(f"  repetition {rep + 1}/{args.repeat} {tool:<12} "
                      f"start-up {s['startup_s']:.3f} s, logging {s['log_s']:.3f} s, "
                      f"search {s['search_s'] * 1000:.1f} ms, {s['search_hits']} hits",
                      file=sys.stderr, flush=True)
    results = {}
    for tool, rows in samples.items():
        log_s = median([r["log_s"] for r in rows])
        results[tool] = {
            "startup_s": median([r["startup_s"] for r in rows]),
            "log_s": log_s,
            "points_per_s": w.points / log_s,
            "runs_per_s": len(w.names) / log_s,
            "log_cpu_s": median([r["log_cpu_s"] for r in rows]),
            "search_s": median([r["search_s"] for r in rows]),
            "search_hits": rows[0]["search_hits"],
            "samples": rows,
        }
    hits = {r["search_hits"] for r in results.values()}
    if len(hits) != 1:
        raise BenchmarkError(f"the searches returned different numbers of runs: "
                             f"{ {t: r['search_hits'] for t, r in results.items()} }")
    mp = results["mlpilot"]
    ratios = {
        "throughput_mlpilot_over_mlflow": mp["points_per_s"] / results["mlflow"]["points_per_s"],
        "throughput_mlpilot_over_mlflow_batch":
            mp["points_per_s"] / results["mlflow-batch"]["points_per_s"],
        "search_mlflow_s_over_mlpilot_s": results["mlflow"]["search_s"] / mp["search_s"],
        "startup_mlflow_s_over_mlpilot_s": results["mlflow"]["startup_s"] / mp["startup_s"],
    }
    return {
        "benchmark": "tracking",
        "workload": {"runs": args.runs, "params": args.params, "metrics": args.metrics,
                     "points": w.points, "seed": args.seed, "repeat": args.repeat,
                     "search": {"filter": SEARCH_FILTER, "order_by": SEARCH_ORDER}},
        "command": shlex.join([sys.executable, *sys.argv]),
        "started": started,
        "machine": {**machine(), "load_average_at_start": load_before},
        "mlpilot_source_sha256": source_digest,
        "first_use": first_use,
        "results": results,
        "ratios": ratios,
        "target_ratio": TARGET_RATIO,
        "meets_target": ratios["throughput_mlpilot_over_mlflow"] >= TARGET_RATIO,
        "verified": True,
    }


def print_table(f: dict[str, Any]) -> None:
    w, m = f["workload"], f["machine"]
    print(f"\nTracking: {w['runs']} runs x {w['params']} params x {w['metrics']} metric "
          f"values = {w['points']:,} points; median of {w['repeat']}")
    print(f"machine: {m['cpu']}, {m['usable_cpus']} usable CPUs, Python {m['python']}, "
          f"SQLite {m['sqlite']}, " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()))
    load = m.get("load_average_at_start")
    if load:
        print(f"load average at start {load[0]:.2f}, at end {m['load_average_1_5_15'][0]:.2f} "
              "(1 min; other processes share the CPUs if this is above ~0)")
    head = ("tool", "start-up s", "logging s", "(CPU s)", "points/s", "search ms", "hits",
            "mlpilot x")
    rows = []
    mp_rate = f["results"]["mlpilot"]["points_per_s"]
    for tool, r in f["results"].items():
        rows.append((tool, f"{r['startup_s']:.3f}", f"{r['log_s']:.3f}", f"{r['log_cpu_s']:.3f}",
                     f"{r['points_per_s']:,.0f}", f"{r['search_s'] * 1000:.1f}",
                     str(r["search_hits"]),
                     "1.0" if tool == "mlpilot" else f"{mp_rate / r['points_per_s']:.1f}"))
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    for row in (head, *rows):
        print("  ".join(str(c).ljust(wd) if i == 0 else str(c).rjust(wd)
                        for i, (c, wd) in enumerate(zip(row, widths, strict=True))))
    fu = f["first_use"]
    print("first use in a process (not in the table): " + "; ".join(
        f"{t} import {v['import_s'] if v['import_s'] is None else round(v['import_s'], 2)} s, "
        f"warm-up round {v.get('warmup_s', float('nan')):.2f} s" for t, v in fu.items()))
    ratio = f["ratios"]["throughput_mlpilot_over_mlflow"]
    print(f"mlpilot / MLflow throughput: {ratio:.1f}x per-call, "
          f"{f['ratios']['throughput_mlpilot_over_mlflow_batch']:.1f}x vs MLflow log_batch; "
          f"target >= {f['target_ratio']:.0f}x: {'met' if f['meets_target'] else 'NOT met'}"
          + ("" if all(w[k] == v for k, v in FULL.items()) else
             " (the target is for the default workload, not this one)"))
    print("verified: every run's params and metric points read back identical in every "
          "tool; all searches returned the expected runs in the expected order")


def profile_mlpilot(w: Workload, path: Path) -> None:
    """cProfile one extra (untimed) mlpilot logging round; write stats and print the top."""
    import cProfile
    import pstats

    with tempfile.TemporaryDirectory(prefix="mlpilot-bench-prof-") as tmp, chdir(Path(tmp)):
        mlpilot_startup(Path(tmp))
        try:
            profiler = cProfile.Profile()
            profiler.enable()
            mlpilot_log(w)
            profiler.disable()
        finally:
            mlpilot_close()
    profiler.dump_stats(str(path))
    print(f"\ncProfile of mlpilot's logging written to {path}; top 25 by cumulative time:")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=None, help="runs (default 50)")
    parser.add_argument("--params", type=int, default=None,
                        help="params per run, at least 1 (default 10)")
    parser.add_argument("--metrics", type=int, default=None,
                        help="metric values per run (default 200)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="repetitions, the median is reported (default 3)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--quick", action="store_true",
                        help="tiny smoke run: 6 runs x 3 params x 20 values, 1 repetition "
                             "(explicit --runs/--params/--metrics/--repeat still win)")
    parser.add_argument("--profile-mlpilot", type=Path, default=None, metavar="PATH",
                        help="also cProfile one mlpilot logging round, write stats to PATH")
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.runs < 1 or args.params < 1 or args.metrics < 1 or args.repeat < 1:
        parser.error("--runs, --params, --metrics and --repeat must be at least 1")
    try:
        figures = bench(args)
    except BenchmarkError as exc:
        print(f"\nBENCHMARK FAILED: results differ: {exc}", file=sys.stderr)
        return 1
    print_table(figures)
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"figures written to {args.json}")
    if args.profile_mlpilot is not None:
        profile_mlpilot(make_workload(args.runs, args.params, args.metrics, args.seed),
                        args.profile_mlpilot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
