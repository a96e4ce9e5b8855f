"""The demo's serving and delivery story, over real HTTP on 127.0.0.1.

1. the gateway serves ``credit-risk@production`` (v1); clients send scoring
   requests and, later, the ground truth;
2. the blessed candidate goes out as a canary; the canary engine steps its
   traffic up on passing analyses and promotes it;
3. a broken candidate (trained on shuffled labels) is forced past the CI gate
   and canaried; the engine rolls it back on the evidence;
4. the inference log and the decision log are read back.

The canary policy uses small minimum samples and a 2 s minimum per step, so the
story runs in seconds instead of the production defaults' minutes of traffic.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

from mlpilot.checks import run_checks
from mlpilot.core.clock import as_utc, utcnow
from mlpilot.core.entities import DecisionRecord, ModelVersion
from mlpilot.delivery.analysis import AnalysisConfig, CanaryAnalysis
from mlpilot.delivery.canary import CanaryPolicy
from mlpilot.delivery.engine import CanaryController
from mlpilot.demo.credit import FEATURES, TARGET
from mlpilot.demo.gates import DEMO_CHECKS
from mlpilot.demo.gateway import LocalGateway
from mlpilot.demo.traffic import RoundResult, TrafficClient
from mlpilot.sdk._context import Context
from mlpilot.sdk._deploy import UnblessedVersion, deploy
from mlpilot.sdk._registry import register
from mlpilot.sdk._tracking import start_run
from mlpilot.serve.gateway.feedback import feedback_dir, read_feedback
from mlpilot.serve.gateway.settings import GatewaySettings
from mlpilot.serve.inference_log import read_records

MODEL = "credit-risk"
STEPS = (0.2, 0.5, 1.0)
#: Small windows for a demo (the defaults want 100 per side and 300 s a step). The
#: boosting model answers a single row about 2x slower than the logistic one; at a 20 %
#: share the canary's requests also rarely share a micro-batch while the baseline's do,
#: and one machine runs client, server and models: measured medians come out 1.2-2.6x.
#: The demo's latency budget is therefore 4x median, 6x p99.
ANALYSIS = AnalysisConfig(min_requests=30, min_latency_samples=30, min_predictions=60,
                          min_labelled=30, max_median_latency_ratio=4.0, max_p99_ratio=6.0)
MIN_STEP_SECONDS = 2.0
MAX_TICKS = 15
WARMUP_REQUESTS = 200
#: canary requests aimed for per round: enough labelled ones for the accuracy check
#: (about 80 % of requests get a label); a short round just holds for another one
CANARY_REQUESTS_PER_ROUND = 45
ROUND_LIMITS = (100, 600)
SEED = 11


@dataclass
class ServingSummary:
    """What the serving phase did (for the final report and the tests)."""

    promoted: int | None = None
    rolled_back: int | None = None
    requests: int = 0
    rows: int = 0
    logged: int = 0
    dropped: int = 0
    feedback: int = 0
    joined: int = 0
    decisions: Counter[tuple[str, str]] = field(default_factory=Counter)


def run_serving(context: Context, console: Console, train: pd.DataFrame,
                holdout: pd.DataFrame, make_pipeline: Callable[[Any], Any],
                candidate: int) -> ServingSummary:
    """Serve production, canary ``candidate`` to promotion, then roll back a broken one.

    Args:
        context: the demo's stores (production must be set).
        console: where the story is told.
        train: the training split (the broken candidate is trained on it).
        holdout: the held-out split the simulated clients send.
        make_pipeline: wraps an estimator into the demo's preprocessing pipeline.
        candidate: the blessed version to canary.

    Returns:
        Counts of what was served, logged, labelled and decided.
    """
    store = context.store
    log_dir = context.settings.home / "inference-log"
    summary = ServingSummary()
    policy = CanaryPolicy(steps=STEPS, analysis=CanaryAnalysis(ANALYSIS),
                          min_step_seconds=MIN_STEP_SECONDS)
    controller = CanaryController(store, log_dir, policy=policy)
    settings = GatewaySettings(reconcile_interval_s=0.2, seed=SEED)
    console.rule("[bold]Serving and progressive delivery[/bold] — real HTTP on 127.0.0.1")
    with LocalGateway(context, log_dir, settings) as gateway:
        client = TrafficClient(gateway.url, MODEL, holdout, seed=SEED)
        try:
            console.print(f"Gateway listening on {gateway.url}; inference log in {log_dir}.")
            _warm_up(console, gateway, client)
            console.print(_policy_line())
            promoted = _canary(console, context, gateway, client, controller, candidate,
                               reason="demo: canary the blessed candidate",
                               force=_unblessed_note(console, context, candidate))
            if promoted.action == "promote" and promoted.outcome == "applied":
                summary.promoted = candidate
            broken = _train_broken(context, train, holdout, make_pipeline,
                                   parent=store.get_model(MODEL).aliases["production"])
            _gate(console, context, broken)
            pulled = _canary(console, context, gateway, client, controller, broken.version,
                             force=True, reason="demo: on-call overrides the gate for a hotfix")
            if pulled.action == "rollback" and pulled.outcome == "applied":
                summary.rolled_back = broken.version
                _show_rollback(console, pulled)
            _after_rollback(console, context, gateway, client)
            stats = gateway.log.stats() if gateway.log is not None else {}
            summary.dropped = sum((stats.get("dropped") or {}).values())
        finally:
            client.close()
    summary.requests, summary.rows = client.totals["requests"], client.totals["rows"]
    _read_back(context, log_dir, summary)
    _show_summary(console, summary, log_dir)
    return summary


# -- traffic --------------------------------------------------------------------------

def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    console=console, transient=True, disable=not console.is_terminal)


def _round(console: Console, gateway: LocalGateway, client: TrafficClient, n: int,
           what: str) -> RoundResult:
    """``n`` scoring requests, then their late feedback, then everything flushed to disk."""
    with _progress(console) as progress:
        task = progress.add_task(what, total=n)
        result = client.predict(n, progress, task)
        progress.update(task, description=f"{what}: posting ground truth")
        client.feedback(result)
    gateway.flush()
    return result


def _warm_up(console: Console, gateway: LocalGateway, client: TrafficClient) -> None:
    result = _round(console, gateway, client, WARMUP_REQUESTS, "Serving production")
    versions = ", ".join(f"v{v}: {n}" for v, n in sorted(result.by_version.items()))
    acc = [f"v{v} {a:.1%}" for v in sorted(result.by_version)
           if (a := result.accuracy(v)) is not None]
    console.print(f"Served {result.requests} requests ({result.rows} applicants, batches "
                  f"included) through {MODEL}@production — {versions}; "
                  f"{result.feedback_accepted} outcomes posted late to /v1/feedback; "
                  f"accuracy on single-applicant requests {', '.join(acc)}.")


def _round_size(weight: float) -> int:
    low, high = ROUND_LIMITS
    wanted = math.ceil(CANARY_REQUESTS_PER_ROUND / max(weight, 1e-3))
    return max(low, min(high, wanted))


# -- canary ---------------------------------------------------------------------------

def _canary(console: Console, context: Context, gateway: LocalGateway, client: TrafficClient,
            controller: CanaryController, version: int, *, reason: str,
            force: bool = False) -> DecisionRecord:
    """Deploy ``version`` as a canary and tick the controller until it finishes."""
    store = context.store
    dep = deploy(MODEL, version, strategy="canary", params={"steps": list(STEPS)},
                 force=force, reason=reason, context=context)
    baseline = int(dep.params["baseline"])
    if force:
        event = store.list_events(target=MODEL, limit=1)[0]
        console.print(f"Audit event #{event.id} ({event.action}, by {event.actor}): "
                      f"{event.reason}")
    gateway.wait_for_routes(client.http, MODEL, dep.routes)
    console.print(f"Deployed v{version} as a canary against v{baseline}: steps "
                  f"{' → '.join(f'{s:.0%}' for s in STEPS)}, at least "
                  f"{MIN_STEP_SECONDS:g} s per step; the canary controller ticks after each "
                  "round of traffic.")
    table = _canary_table(baseline, version)
    final: DecisionRecord | None = None
    for tick in range(1, MAX_TICKS + 1):
        dep = store.get_deployment(MODEL)
        weight = next((r.weight for r in dep.routes if r.role == "canary"), 0.0)
        n = _round_size(weight)
        _round(console, gateway, client, n, f"Canary v{version} at {weight:.0%}")
        # Wait out the minimum time per step before ticking, so the windows hold whole
        # rounds only: the seeded traffic then makes the same decisions on any machine.
        _sleep_until_step_minimum(store.get_deployment(MODEL))
        record = controller.tick(MODEL)
        decision = controller.last_decision
        if decision is None:
            break
        _add_tick(table, tick, weight, decision.action, decision.evidence, record)
        if record is not None and decision.action != "hold":
            final = record
            if record.outcome == "applied":
                gateway.wait_for_routes(client.http, MODEL,
                                        store.get_deployment(MODEL).routes)
        if decision.action in ("promote", "rollback"):
            break
    console.print(table)
    if final is None or final.action not in ("promote", "rollback"):
        raise RuntimeError(f"The canary of v{version} did not finish within {MAX_TICKS} "
                           f"ticks: {controller.last_note or 'still holding'}.")
    aliases = store.get_model(MODEL).aliases
    console.print(f"[bold]{final.action}[/] ({final.outcome}): {final.reason}. "
                  f"production → v{aliases.get('production')}.")
    return final


def _sleep_until_step_minimum(dep: Any) -> None:
    started = dep.params.get("step_started_at")
    since = as_utc(datetime.fromisoformat(started)) if started else as_utc(dep.updated_at)
    left = MIN_STEP_SECONDS - (utcnow() - since).total_seconds()
    if left > 0:
        time.sleep(left + 0.01)


def _unblessed_note(console: Console, context: Context, version: int) -> bool:
    """True (force it) when the candidate missed a gate on this run, saying which."""
    report = context.store.get_version(MODEL, version).check_report or {}
    failed = [r["check"] for r in report.get("results", [])
              if r.get("severity") == "blocking" and r.get("verdict") in ("fail", "error")]
    if failed:
        console.print(f"[yellow]v{version} missed blocking checks {failed} on this run (a "
                      "busy machine fails the latency budget); the demo forces it on.[/]")
    return bool(failed)


def _policy_line() -> str:
    a = ANALYSIS
    return (f"The controller rolls a canary back when it is significantly worse (p < "
            f"{a.alpha}) than the baseline by more than: accuracy −{a.accuracy_tolerance:.0%}, "
            f"error rate +{a.error_rate_tolerance:.1%}, class-distribution JS distance "
            f"{a.max_js_distance}, median latency {a.max_median_latency_ratio:g}× (p99 "
            f"{a.max_p99_ratio:g}×, no test); it needs {a.min_requests} requests and "
            f"{a.min_labelled} labels per side, else it holds.")


def _canary_table(baseline: int, canary: int) -> Table:
    table = Table(title=f"Canary v{canary} against v{baseline} (each cell: v{baseline}/v{canary})",
                  title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("tick", "traffic", "requests", "labels", "accuracy", "default", "p50 ms",
                "decision"):
        table.add_column(col, no_wrap=True)
    return table


_STYLE = {"step": "cyan", "promote": "green", "rollback": "red", "hold": "yellow"}


def _pair(a: Any, b: Any, fmt: str, unit: str = "") -> str:
    def one(v: Any) -> str:
        return "—" if v is None else format(v * 100 if unit == "%" else v, fmt)
    return f"{one(a)}/{one(b)}{unit}"


def _add_tick(table: Table, tick: int, weight: float, action: str, evidence: dict[str, Any],
              record: DecisionRecord | None) -> None:
    analysis = evidence.get("analysis") or {}
    checks = {c["name"]: c for c in analysis.get("checks", [])}
    windows = (record.evidence if record is not None else {}).get("windows") or {}

    def side(key: str) -> dict[str, Any]:
        """One side's numbers: the stored window summary, else the checks' sample sizes."""
        w = dict(windows.get(key) or {})
        w.setdefault("requests", (checks.get("error_rate", {}).get("n") or {}).get(key))
        w.setdefault("labelled", (checks.get("accuracy", {}).get("n") or {}).get(key))
        acc = checks.get("accuracy", {}).get("details") or {}
        if w.get("correct") is not None and w.get("labelled"):
            w["accuracy"] = w["correct"] / w["labelled"]
        else:
            w["accuracy"] = acc.get(key)
        latency = checks.get("latency", {}).get("details") or {}
        w.setdefault("latency_median_ms", latency.get(f"{key}_median_ms"))
        div = checks.get("prediction_divergence", {}).get("details") or {}
        w["default"] = (div.get(key) or {}).get("1")
        return w

    b, c = side("baseline"), side("canary")
    style = _STYLE.get(action, "")
    what = f"[{style}]{action}[/]"
    if action == "step" and "next_weight" in evidence:
        what += f"→{evidence['next_weight']:.0%}"
    if action == "hold":
        short = any(ch["verdict"] == "insufficient" for ch in checks.values())
        what += " (more data)" if short else " (min. time)"
        if record is None:
            what += " [dim]not re-recorded[/]"
    table.add_row(str(tick), f"{weight:.0%}", _pair(b["requests"], c["requests"], "d"),
                  _pair(b["labelled"], c["labelled"], "d"),
                  _pair(b["accuracy"], c["accuracy"], ".0f", "%"),
                  _pair(b["default"], c["default"], ".0f", "%"),
                  _pair(b["latency_median_ms"], c["latency_median_ms"], ".0f"), what)


def _show_rollback(console: Console, record: DecisionRecord) -> None:
    analysis = record.evidence.get("analysis") or {}
    table = Table(title=f"Evidence stored with decision #{record.id} (rollback)",
                  title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("check", "verdict", "statistic", "bound", "p-value", "n (b/c)"):
        table.add_column(col, no_wrap=True)
    failing = []
    for c in analysis.get("checks", []):
        verdict = c["verdict"]
        color = {"fail": "red", "pass": "green"}.get(verdict, "yellow")
        n = c.get("n") or {}
        table.add_row(c["name"], f"[{color}]{verdict}[/]", _num(c.get("statistic")),
                      _num(c.get("threshold")), _num(c.get("p_value")),
                      f"{n.get('baseline', 0)}/{n.get('canary', 0)}")
        if verdict == "fail":
            failing.append(c)
    console.print(table)
    for c in failing:
        console.print(f"  [red]✗[/] {c['name']}: {c.get('explanation', '')}", highlight=False)


def _num(value: Any) -> str:
    return "—" if value is None else f"{value:.3g}"


# -- the broken candidate -------------------------------------------------------------

def _train_broken(context: Context, train: pd.DataFrame, holdout: pd.DataFrame,
                  make_pipeline: Callable[[Any], Any], parent: int) -> ModelVersion:
    """A candidate whose training labels were shuffled (a bad join): it learned nothing."""
    shuffled = train.copy()
    shuffled[TARGET] = np.random.default_rng(SEED).permutation(shuffled[TARGET].to_numpy())
    with start_run(name="shuffled-labels", model=MODEL, context=context,
                   tags={"source": "mlpilot demo", "story": "broken"}) as run:
        model = make_pipeline(LogisticRegression(C=0.5, max_iter=500, class_weight="balanced"))
        model.fit(shuffled[FEATURES], shuffled[TARGET])
        run.log_params({"family": "logistic", "C": 0.5, "class_weight": "balanced",
                        "labels": "shuffled by a bad join"})
        proba = model.predict_proba(holdout[FEATURES])[:, 1]
        y = holdout[TARGET]
        metrics = {"auc": float(roc_auc_score(y, proba)),
                   "accuracy": float(accuracy_score(y, proba >= 0.5)),
                   "log_loss": float(log_loss(y, proba))}
        run.log_metrics(metrics)
        run.log_dataset(holdout, "credit-holdout", role="validation")
        return register(model, MODEL, run=run, training_data=shuffled.drop(columns=[TARGET]),
                        metrics=metrics, parent_version=parent, context=context,
                        description="retrained after a join that shuffled the labels")


def _gate(console: Console, context: Context, broken: ModelVersion) -> None:
    """Check the broken candidate and show that a plain deploy refuses it."""
    console.rule(f"[bold]A bad candidate[/bold] — {broken.ref}, trained on shuffled labels")
    with console.status(f"Checking {broken.ref}"):
        report = run_checks(broken.ref, baseline="production", config=DEMO_CHECKS,
                            context=context)
    failed = [r.check for r in report.blocking_failures]
    console.print(f"CI gate: {broken.ref} is "
                  f"{'blessed' if report.blessed else '[red]NOT blessed[/]'} "
                  f"(blocking failures: {', '.join(failed) or 'none'}); holdout AUC "
                  f"{broken.metrics['auc']:.3f}, accuracy {broken.metrics['accuracy']:.1%}.")
    try:
        # validation only: a blessed version would be deployed here and re-deployed next
        deploy(MODEL, broken.version, strategy="canary", params={"steps": list(STEPS)},
               reason="demo: try the hotfix", context=context)
    except UnblessedVersion as exc:
        console.print(f"mlpilot deploy refuses it: [yellow]{exc.message}[/]")
        console.print("On-call forces it anyway (deploy --force); the override is recorded "
                      "and the canary analysis is what stands between the bug and production.")


def _after_rollback(console: Console, context: Context, gateway: LocalGateway,
                    client: TrafficClient) -> None:
    store = context.store
    production = store.get_model(MODEL).aliases.get("production")
    result = _round(console, gateway, client, 100, "Traffic after the rollback")
    answered = ", ".join(f"v{v}: {n}" for v, n in sorted(result.by_version.items()))
    console.print(f"After the rollback: production is still v{production}; the gateway "
                  f"answered {result.requests} requests with {answered}.")


# -- read back ------------------------------------------------------------------------

def _read_back(context: Context, log_dir: Path, summary: ServingSummary) -> None:
    records = [r for r in read_records(log_dir) if r.deployment == MODEL]
    summary.logged = len(records)
    labels = read_feedback(feedback_dir(log_dir))
    summary.feedback = len(labels)
    summary.joined = sum(r.request_id in labels for r in records)
    decisions = context.store.list_decisions(target_kind="deployment", target=MODEL,
                                             limit=1000)
    summary.decisions = Counter((d.action, d.outcome) for d in decisions)


def _show_summary(console: Console, summary: ServingSummary, log_dir: Path) -> None:
    table = Table(title="Serving, in numbers", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("requests answered (rows scored)", f"{summary.requests:,} ({summary.rows:,})")
    table.add_row("inference-log records read back from disk", f"{summary.logged:,}")
    table.add_row("records dropped by the log", f"{summary.dropped:,}")
    table.add_row("labels received late (joined to a logged request)",
                  f"{summary.feedback:,} ({summary.joined:,})")
    for (action, outcome), n in sorted(summary.decisions.items()):
        table.add_row(f"decisions: {action} ({outcome})", str(n))
    console.print(table)
    console.print(f"The inference log is in {log_dir}. Try:\n"
                  f"  mlpilot events --target {MODEL}\n"
                  f"  mlpilot rollout tick {MODEL}\n"
                  "  mlpilot serve   # the gateway on 127.0.0.1:8081")
