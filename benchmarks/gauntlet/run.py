"""Run the drift gauntlet and print markdown tables.

    python -m benchmarks.gauntlet.run [--quick] [--json PATH] [--plots DIR] [--no-evidently]

Every scenario is replayed by every strategy and watched by every detector, seeded; the
tables give detection delays (events after the change point), false alarms per 100k
events on the control, MTTR, errors beyond the oracle strategy's, retrains and requests
served by a bad version. See ``benchmarks/README.md`` for the method.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np
from benchmarks.gauntlet.detectors import (
    SLOW,
    EvidentlyJobs,
    cbpe_alarms,
    drift_alarms,
    matrix,
    oracle_cusum,
    streaming_detectors,
    windows,
)
from benchmarks.gauntlet.scenarios import Sizes, Stream, all_scenarios
from benchmarks.gauntlet.strategies import STRATEGIES, Knobs, bad_candidate, initial, replay
from threadpoolctl import threadpool_limits

EVIDENTLY = "Evidently DataDriftPreset"


def _delay(alarms: list[int], cp: int, end: int) -> tuple[int | None, int]:
    """(events from ``cp`` to the first alarm in [cp, end), alarms before cp)."""
    after = [t for t in alarms if cp <= t < end]
    return (after[0] - cp if after else None), sum(t < cp for t in alarms)


def _mttr(stream: Stream, out: Any) -> float | None:
    """Mean events from each change point until a model trained mostly after it serves."""
    if stream.bad_deploy_at is not None:
        back = out.bad_rolled_back_at
        return None if back is None else float(back - stream.bad_deploy_at)
    times = []
    for i, cp in enumerate(stream.change_points):
        nxt = stream.change_points[i + 1] if i + 1 < len(stream.change_points) else len(stream.y)
        hits = [t for t, lo in zip(out.retrains, out.trained_after, strict=True)
                if cp <= t < nxt and lo >= cp - 0.5 * (t - cp)]
        times.append(hits[0] - cp if hits else math.nan)
    done = [t for t in times if not math.isnan(t)]
    return float(np.mean(done)) if done and len(done) == len(times) else None


def run_stream(stream: Stream, sizes: Sizes, ev: EvidentlyJobs | None,
               seed: int = 0) -> dict[str, Any]:
    first = initial(stream, seed)
    M = matrix(stream.X)
    errors = (first.model.predict(M) != stream.y).astype(np.int64)
    n, delay = len(stream.y), stream.label_delay
    alarms: dict[str, list[int]] = {}
    watched: dict[str, int] = {}
    for name, det in streaming_detectors().items():
        lo, hi = 0, n
        if name in SLOW:  # 2 windows before the change to 10 (quick: 4) after; 50k control
            cp = (stream.change_points or [stream.bad_deploy_at or 0])[0]
            after = 10 if n >= 20 * sizes.window else 4
            lo, hi = ((0, min(n, 50_000)) if stream.is_control else
                      (max(0, cp - 2 * sizes.window), min(n, cp + after * sizes.window)))
        alarms[name] = [lo + i + delay for i in det(errors[lo:hi])]
        watched[name] = hi - lo
    alarms["mlpilot drift_report"] = drift_alarms(first.reference, stream.X, sizes.window)
    if first.cbpe is not None:
        alarms["mlpilot CBPE"] = cbpe_alarms(first.model, first.cbpe, stream.X, sizes.window)
    if ev is not None:
        spans = windows(n, sizes.window)
        if stream.change_points:
            cp = stream.change_points[0]
            spans = [w for w in spans if cp - 3 * sizes.window <= w[0] < cp + 12 * sizes.window]
        elif len(spans) > 60:
            spans = spans[::4]
        ev.add(stream.name, first.reference, stream.X, spans)
    oracle = oracle_cusum(stream, errors)
    knobs = Knobs.for_sizes(sizes)
    bad = bad_candidate(stream, seed) if stream.bad_deploy_at is not None else None
    outcomes = {s: replay(s, stream, sizes, knobs, first, bad, seed) for s in STRATEGIES}
    trig = outcomes["autopilot"].triggers
    alarms["mlpilot autopilot (first trigger)"] = [t for t, _ in trig]
    return {"stream": stream, "alarms": alarms, "oracle": oracle, "outcomes": outcomes,
            "watched": watched,
            "first_error": float(errors.mean())}


def _strategy_rows(res: dict[str, Any]) -> dict[str, dict[str, Any]]:
    stream, outs = res["stream"], res["outcomes"]
    y = stream.y
    oracle_err = int((outs["oracle"].predictions != y).sum())
    rows = {}
    for name, out in outs.items():
        err = int((out.predictions != y).sum())
        row = {"accuracy": 1 - err / len(y), "extra_errors_vs_oracle": err - oracle_err,
               "retrains": len(out.retrains), "mttr_events": _mttr(stream, out),
               "bad_requests": out.bad_requests}
        if stream.bad_deploy_at is not None:
            span = (out.bad_rolled_back_at or len(y)) - stream.bad_deploy_at
            row["bad_share_while_live"] = out.bad_requests / max(span, 1)
        rows[name] = row
    return rows


def _detector_rows(res: dict[str, Any], ev: dict[str, tuple[list[int], int]],
                   window: int) -> dict[str, dict[str, Any]]:
    stream = res["stream"]
    n = len(stream.y)
    alarms = dict(res["alarms"])
    rows: dict[str, dict[str, Any]] = {}
    if stream.name in ev:
        fired, count = ev[stream.name]
        alarms[EVIDENTLY] = fired
    if stream.is_control:
        for name, al in alarms.items():
            events = res["watched"].get(name, n)
            if name == EVIDENTLY:
                events = ev[stream.name][1] * window
            rows[name] = {"false_alarms_per_100k": len(al) / events * 1e5, "alarms": len(al),
                          "events": events}
        al = res["oracle"]["alarms"]
        rows["oracle CUSUM"] = {"false_alarms_per_100k": len(al) / n * 1e5, "alarms": len(al),
                                "events": n}
        return rows
    if not stream.change_points:
        return rows
    cp = stream.change_points[0]
    # recurring drift: only the first season counts (the next change reverses it)
    end = stream.change_points[1] if stream.name == "recurring" else n
    for name, al in alarms.items():
        d, before = _delay(al, cp, end)
        rows[name] = {"delay": d, "alarms_before_change": before}
    rows["oracle CUSUM"] = {"delay": None if res["oracle"]["detections"][0] is None
                            else res["oracle"]["detections"][0] - cp, "alarms_before_change": 0}
    return rows


def _fmt(v: Any, digits: int = 0) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}"


def tables(report: dict[str, Any]) -> str:
    strat, det = report["strategies"], report["detectors"]
    scen = [s for s in strat if s not in ("control",)]
    lines = ["### Strategies: errors beyond the oracle strategy (retrains)", "",
             "| scenario | " + " | ".join(STRATEGIES) + " |",
             "|---|" + "---:|" * len(STRATEGIES)]
    for s in scen:
        cells = [f"{_fmt(strat[s][k]['extra_errors_vs_oracle'])} ({strat[s][k]['retrains']})"
                 for k in STRATEGIES]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    tot = report["summary"]["extra_errors_total"]
    rt = report["summary"]["retrains_total"]
    lines.append("| **total (drift scenarios)** | " + " | ".join(
        f"**{_fmt(tot[k])} ({rt[k]})**" for k in STRATEGIES) + " |")
    lines += ["", "### Strategies: accuracy and MTTR (events from change to a model trained "
              "on post-change data; bad deploy: to rollback/replacement)", "",
              "| scenario | " + " | ".join(f"{k} acc / MTTR" for k in STRATEGIES) + " |",
              "|---|" + "---:|" * len(STRATEGIES)]
    for s in scen:
        lines.append(f"| {s} | " + " | ".join(
            f"{strat[s][k]['accuracy']:.4f} / {_fmt(strat[s][k]['mttr_events'])}"
            for k in STRATEGIES) + " |")
    if "bad_deploy" in strat:
        lines += ["", "### Bad deploy: requests served by the bad version", "",
                  "| strategy | bad requests | share of traffic while it was live | "
                  "removed after (events) |", "|---|---:|---:|---:|"]
        for k in STRATEGIES:
            row = strat["bad_deploy"][k]
            lines.append(f"| {k} | {_fmt(row['bad_requests'])} | "
                         f"{row['bad_share_while_live']:.1%} | {_fmt(row['mttr_events'])} |")
    drift = [s for s in det if s != "control" and det[s]]
    names = sorted({n for s in drift for n in det[s]}, key=_det_order)
    lines += ["", "### Detectors: delay in events after the (first) change point "
              "(false alarms before it)", "",
              "| detector | " + " | ".join(drift) + " |", "|---|" + "---:|" * len(drift)]
    for name in names:
        cells = []
        for s in drift:
            row = det[s].get(name)
            cells.append("n/a" if row is None else
                         f"{_fmt(row['delay'])}" + (f" ({row['alarms_before_change']})"
                                                   if row["alarms_before_change"] else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if "control" in det:
        lines += ["", "### Detectors: false alarms on the no-drift control", "",
                  "| detector | alarms | events watched | per 100k events |",
                  "|---|---:|---:|---:|"]
        for name in sorted(det["control"], key=_det_order):
            row = det["control"][name]
            lines.append(f"| {name} | {row['alarms']} | {_fmt(row['events'])} | "
                         f"{row['false_alarms_per_100k']:.1f} |")
    return "\n".join(lines)


def _det_order(name: str) -> tuple[int, str]:
    return (0 if name.startswith("oracle") else 1 if name.startswith("mlpilot") else 2, name)


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    strat, det = report["strategies"], report["detectors"]
    drift = [s for s in strat if s not in ("control", "bad_deploy")]
    tot = {k: sum(strat[s][k]["extra_errors_vs_oracle"] for s in drift) for k in STRATEGIES}
    rt = {k: sum(strat[s][k]["retrains"] for s in drift) for k in STRATEGIES}
    out: dict[str, Any] = {"extra_errors_total": tot, "retrains_total": rt}
    out["autopilot_loss_over_never"] = tot["autopilot"] / tot["never"] if tot["never"] else None
    out["autopilot_loss_over_scheduled"] = (tot["autopilot"] / tot["scheduled"]
                                            if tot["scheduled"] else None)
    ratios: dict[str, list[float]] = {}
    for s in det:
        if s == "control" or not det[s] or det[s]["oracle CUSUM"]["delay"] in (None, 0):
            continue
        floor = det[s]["oracle CUSUM"]["delay"]
        for name, row in det[s].items():
            if row.get("delay") is not None:
                ratios.setdefault(name, []).append(row["delay"] / floor)
    out["median_delay_over_oracle"] = {k: float(np.median(v)) for k, v in ratios.items()}
    if "bad_deploy" in strat:
        out["bad_deploy_autopilot"] = strat["bad_deploy"]["autopilot"]
    return out


def _svg(path: Path, title: str, series: dict[str, np.ndarray], marks: list[int]) -> None:
    w, h, pad = 720, 260, 40
    n = max(len(v) for v in series.values())
    lo = min(float(np.nanmin(v)) for v in series.values())
    hi = max(float(np.nanmax(v)) for v in series.values())
    lo, hi = math.floor(lo * 20) / 20, math.ceil(hi * 20) / 20 or 1.0

    def xy(i: int, v: float) -> str:
        return f"{pad + (w - 2 * pad) * i / max(n - 1, 1):.1f}," \
               f"{h - pad - (h - 2 * pad) * (v - lo) / max(hi - lo, 1e-9):.1f}"

    colors = ["#888", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}">',
             f'<text x="{pad}" y="16" font-size="13">{title}: rolling accuracy '
             f'({lo:.2f}–{hi:.2f})</text>']
    for m in marks:
        x = pad + (w - 2 * pad) * m / max(n - 1, 1)
        parts.append(f'<line x1="{x:.1f}" y1="{pad}" x2="{x:.1f}" y2="{h - pad}" '
                     'stroke="#bbb" stroke-dasharray="4"/>')
    for j, (name, v) in enumerate(series.items()):
        pts = " ".join(xy(i, float(x)) for i, x in enumerate(v) if np.isfinite(x))
        c = colors[j % len(colors)]
        parts.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.5" points="{pts}"/>')
        parts.append(f'<text x="{w - pad - 90}" y="{pad + 14 * j}" font-size="11" '
                     f'fill="{c}">{name}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts))


def plot(results: list[dict[str, Any]], folder: Path, window: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for res in results:
        stream = res["stream"]
        if stream.is_control:
            continue
        series = {}
        for name, out in res["outcomes"].items():
            ok = (out.predictions == stream.y).astype(float)
            k = len(ok) // window
            series[name] = ok[:k * window].reshape(k, window).mean(axis=1)
        marks = [c // window for c in stream.change_points]
        if stream.bad_deploy_at is not None:
            marks.append(stream.bad_deploy_at // window)
        _svg(folder / f"{stream.name}.svg", stream.name, series, marks)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CI-sized streams")
    ap.add_argument("--json", type=Path, help="write every figure here")
    ap.add_argument("--plots", type=Path, help="write one SVG per scenario into this folder")
    ap.add_argument("--no-evidently", action="store_true", help="skip the Evidently anchor")
    ap.add_argument("--only", nargs="*", help="scenario names to run (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    # one thread for OpenMP/BLAS: on a loaded 2-core machine threads made fits 100x slower
    with threadpool_limits(1):
        return _main(args)


def _main(args: argparse.Namespace) -> dict[str, Any]:
    start = time.perf_counter()
    sizes = Sizes.quick() if args.quick else Sizes()
    streams = all_scenarios(sizes, args.seed)
    if args.only:
        streams = [s for s in streams if s.name in args.only]
    ev = None if args.no_evidently else EvidentlyJobs()
    if ev is not None and not ev.available:
        ev = None
    results = []
    for stream in streams:
        t0 = time.perf_counter()
        results.append(run_stream(stream, sizes, ev, args.seed))
        print(f"  {stream.name}: {len(stream.y):,} events, "
              f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
        if ev is not None and stream is streams[-1]:
            ev.start()
    ev_res = ev.results() if ev is not None else {}
    report: dict[str, Any] = {
        "sizes": sizes.__dict__, "seed": args.seed,
        "scenarios": {r["stream"].name: {
            "family": r["stream"].family, "description": r["stream"].description,
            "events": len(r["stream"].y), "change_points": r["stream"].change_points,
            "label_delay": r["stream"].label_delay,
            "first_model_error": r["first_error"]} for r in results},
        "strategies": {r["stream"].name: _strategy_rows(r) for r in results},
        "detectors": {r["stream"].name: _detector_rows(r, ev_res, sizes.window)
                      for r in results},
        "evidently": ("every window from 3 before to 12 after the change point; every 4th "
                      "window of a long control" if ev_res else "not run"),
    }
    report["summary"] = summarise(report)
    report["wall_s"] = time.perf_counter() - start
    report["machine"] = {"python": platform.python_version(), "cpu": platform.processor(),
                         "platform": platform.platform()}
    print(tables(report))
    print(f"\nsummary: {json.dumps(report['summary'], default=str)}")
    print(f"wall time: {report['wall_s']:.0f} s")
    if args.plots:
        plot(results, args.plots, sizes.window)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return report


if __name__ == "__main__":
    main()
