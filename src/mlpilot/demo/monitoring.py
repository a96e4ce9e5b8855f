"""The demo's monitoring story: drifted traffic, one alert, a diagnosis that names the cause.

After the serving phase the gateway serves ``credit-risk@production`` again, on the
same home and inference log, and the clients send ``NORMAL_WINDOWS`` windows of
ordinary applicants, then ``DRIFT_WINDOWS`` windows in which a broker inflates the
stated income of education-loan applicants (x``INCOME_FACTOR``, up to ``INCOME_CAP``)
who in truth default at ``DRIFT_DEFAULT_RATE``. Outcomes arrive one window late. After
each window the :class:`~mlpilot.monitor.runner.Monitor` turns it into metric points and alerts;
the drift opens **one** alert, and later drifted windows fold into it as
occurrences. :func:`~mlpilot.diagnose.diagnose_alert` then ranks the causes: the
drifted feature (weighted by the model's importance for it) and the slice where
the errors concentrate, with an HTML report linked to the alert.

Windows are real, epoch-aligned ``WINDOW`` long time windows: each window's
traffic is sent at its start and the monitor runs once it has ended. The demo's
monitor raises a performance alert only when accuracy's upper confidence bound is
``PERFORMANCE_TOLERANCE`` below the reference; the drifted windows' accuracy drop
stays within it, so the drift alert is the one that fires. The demo's clock runs
fast (seconds stand for hours), so the diagnosis' timeline is scaled with it: it
looks back over the monitored period only, with a half-life of two windows.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlpilot.core.entities import Alert
from mlpilot.demo.gateway import LocalGateway
from mlpilot.demo.traffic import RoundResult, TrafficClient
from mlpilot.diagnose import DiagnoseOptions, Diagnosis, diagnose_alert
from mlpilot.monitor.runner import Monitor, MonitorConfig, WindowOutcome
from mlpilot.sdk._context import Context
from mlpilot.serve.gateway.settings import GatewaySettings

__all__ = ["MonitoringSummary", "WindowRow", "drifted_applicants", "run_monitoring"]

MODEL = "credit-risk"
WINDOW = timedelta(seconds=3)
NORMAL_WINDOWS = 3
DRIFT_WINDOWS = 3
REQUESTS_PER_WINDOW = 100
DRIFT_FEATURE = "income"
DRIFT_SLICE = ("purpose", "education")
INCOME_FACTOR = 2.0
#: below the training data's 99.9 % quantile: a careful broker, no out-of-range values
INCOME_CAP = 150_000.0
DRIFT_DEFAULT_RATE = 0.6
PERFORMANCE_TOLERANCE = 0.05
SEED = 23
#: a window's traffic starts this long after the window opens (clock granularity)
START_MARGIN_S = 0.05
#: a window whose traffic could not start in its first third is skipped (a busy machine)
LATE_SHARE = 1 / 3
#: the timeline scaled to the demo's clock: the monitored period, half-life two windows
DIAGNOSE = DiagnoseOptions(lookback=(NORMAL_WINDOWS + DRIFT_WINDOWS + 1) * WINDOW,
                           half_life=2 * WINDOW, seed=SEED)
#: the first run starts at the first window; a 1,000-row training sample is the
#: prediction-drift reference (the first run predicts it, beside the next window's traffic)
CONFIG = MonitorConfig(max_backfill_windows=1, performance_tolerance=PERFORMANCE_TOLERANCE,
                       reference_sample=1_000, n_resamples=100, seed=SEED)


@dataclass
class WindowRow:
    """One monitored window, as the demo shows it."""

    outcome: WindowOutcome
    traffic: str
    occurrences: dict[int, int] = field(default_factory=dict)  # alert id -> count then


@dataclass
class MonitoringSummary:
    """What the monitoring phase did."""

    windows: list[WindowRow] = field(default_factory=list)
    alerts_opened: list[Alert] = field(default_factory=list)
    alert: Alert | None = None
    diagnosis: Diagnosis | None = None


def drifted_applicants(data: pd.DataFrame, *, seed: int = SEED) -> pd.DataFrame:
    """``data`` with the broker's education-loan applicants: income inflated, riskier.

    The stated income of every ``purpose == "education"`` applicant is multiplied by
    ``INCOME_FACTOR`` up to ``INCOME_CAP`` (inside the training range, so no quality
    check fires), and their outcome is redrawn to default with ``DRIFT_DEFAULT_RATE``:
    the model, trusting the higher income, misses those defaults.
    """
    out = data.copy()
    column, value = DRIFT_SLICE
    mask = (out[column] == value).to_numpy()
    inflated = (out.loc[mask, DRIFT_FEATURE] * INCOME_FACTOR).clip(upper=INCOME_CAP)
    out.loc[mask, DRIFT_FEATURE] = inflated.round(-1)
    rng = np.random.default_rng(seed)
    out.loc[mask, "default"] = (rng.random(int(mask.sum())) < DRIFT_DEFAULT_RATE).astype("int64")
    return out


def run_monitoring(context: Context, console: Console,
                   holdout: pd.DataFrame) -> MonitoringSummary:
    """Serve normal then drifted traffic, monitor every window, diagnose the alert.

    Args:
        context: the demo's stores (production set, the serving phase done).
        console: where the story is told.
        holdout: the held-out applicants the clients send (with their outcomes).

    Returns:
        The windows, the alerts opened, the drift alert and its diagnosis.
    """
    store = context.store
    log_dir = context.settings.home / "inference-log"
    summary = MonitoringSummary()
    production = store.get_model(MODEL).aliases.get("production")
    console.rule("[bold]Monitoring and diagnosis[/bold] — drift in one slice of the traffic")
    settings = GatewaySettings(reconcile_interval_s=0.2, seed=SEED)
    before = {a.id for a in store.list_alerts(model=MODEL, limit=10_000)}
    with LocalGateway(context, log_dir, settings) as gateway:
        normal = TrafficClient(gateway.url, MODEL, holdout, seed=SEED, label_batches=True)
        drifted = TrafficClient(gateway.url, MODEL, drifted_applicants(holdout), seed=SEED + 1,
                                label_batches=True)
        try:
            gateway.wait_for_routes(normal.http, MODEL, store.get_deployment(MODEL).routes)
            monitor = Monitor(context, MODEL, window=WINDOW, log_dir=log_dir, config=CONFIG)
            reference = monitor.reference  # load the training snapshot before the clock runs
            console.print(
                f"The gateway serves {MODEL}@production (v{production}) again: "
                f"{REQUESTS_PER_WINDOW} requests every {WINDOW.total_seconds():g} s window, "
                "their outcomes one window late. After each window the monitor compares it "
                f"with v{reference.version}'s training data: drift per feature (BH-adjusted "
                f"p < {CONFIG.alpha}, effect > {CONFIG.min_effect}), prediction drift, data "
                "quality, latency, and accuracy (an alert when its upper confidence bound is "
                f"{PERFORMANCE_TOLERANCE * 100:g} points below the reference).")
            console.print(
                f"From window {NORMAL_WINDOWS + 1} on, a broker sends {DRIFT_SLICE[1]}-loan "
                f"applicants whose stated {DRIFT_FEATURE} is inflated x{INCOME_FACTOR:g} (up "
                f"to {INCOME_CAP:,.0f}); {DRIFT_DEFAULT_RATE:.0%} of them default.")
            _windows(console, gateway, monitor, normal, drifted, summary)
        finally:
            normal.close()
            drifted.close()
    summary.alerts_opened = [a for a in reversed(store.list_alerts(model=MODEL, limit=10_000))
                             if a.id not in before]
    console.print(_window_table(summary, production))
    drift_alerts = [a for a in summary.alerts_opened if a.kind == "drift"]
    if not drift_alerts:
        console.print("[yellow]No drift alert opened; nothing to diagnose.[/]")
        return summary
    summary.alert = alert = store.get_alert(drift_alerts[0].id)
    _show_alerts(console, summary.alerts_opened, alert)
    with console.status(f"Diagnosing alert #{alert.id}"):
        summary.diagnosis = diagnose_alert(context, alert.id, log_dir=log_dir,
                                           options=DIAGNOSE)
    _show_diagnosis(console, summary.diagnosis, alert)
    console.print("Try:\n"
                  "  mlpilot alerts\n"
                  f"  mlpilot diagnose {alert.id} --lookback 30s --half-life 6s   # the demo's "
                  "clock: seconds stand for hours\n"
                  f"  mlpilot drift {MODEL} --format html -o drift.html", highlight=False)
    return summary


# -- the windows -----------------------------------------------------------------------

def _boundary(after: float) -> float:
    """The first window boundary (epoch seconds) at or after ``after``."""
    step = WINDOW.total_seconds()
    return float(np.ceil(after / step) * step)


def _sleep_until(t: float) -> None:
    left = t - time.time()
    if left > 0:
        time.sleep(left)


def _windows(console: Console, gateway: LocalGateway, monitor: Monitor, normal: TrafficClient,
             drifted: TrafficClient, summary: MonitoringSummary) -> None:
    """Send each window's traffic at its start; monitor it once it has ended.

    The monitor runs in its own thread, as beside a real gateway, so a slow run (the
    first one predicts the training sample) never delays the next window's traffic;
    its runs stay in order, each after the outcomes it may read were posted.
    """
    step = WINDOW.total_seconds()
    start = _boundary(time.time() + START_MARGIN_S)
    late: tuple[TrafficClient, RoundResult] | None = None  # outcomes not posted yet
    sent: list[tuple[float, str]] = []  # window start, what its traffic was
    runs: list[Future[list[tuple[WindowOutcome, dict[int, int]]]]] = []
    total = NORMAL_WINDOWS + DRIFT_WINDOWS
    with console.status("Monitoring") as status, \
            ThreadPoolExecutor(1, thread_name_prefix="mlpilot-demo-monitor") as pool:
        for k in range(total):
            t = start if not sent else sent[-1][0] + step
            # a machine too busy to start a window's traffic early in the window skips to
            # the next one: a window's traffic never straddles a boundary
            while time.time() > t + step * LATE_SHARE:
                t += step
            _sleep_until(t + START_MARGIN_S)
            is_drift = k >= NORMAL_WINDOWS
            client = drifted if is_drift else normal
            status.update(f"Window {k + 1}/{total}: {'drifted' if is_drift else 'normal'} "
                          "traffic")
            result = client.predict(REQUESTS_PER_WINDOW)
            gateway.flush()
            if late is not None:  # the previous window's outcomes arrive now
                late[0].feedback(late[1])
                gateway.flush()
            late = (client, result)
            if sent:
                runs.append(pool.submit(_monitor, monitor, t))
            sent.append((t, "drifted" if is_drift else "normal"))
        end = sent[-1][0] + step
        status.update(f"Window {total}/{total}: waiting for it to end")
        _sleep_until(end + START_MARGIN_S)
        if late is not None:
            late[0].feedback(late[1])
            gateway.flush()
        runs.append(pool.submit(_monitor, monitor, end))
        kinds = {int(t): what for t, what in sent}
        for run in runs:
            for outcome, occurrences in run.result():
                what = kinds.get(int(outcome.since.timestamp()), "none")
                summary.windows.append(WindowRow(outcome, what, occurrences))


def _monitor(monitor: Monitor, now: float) -> list[tuple[WindowOutcome, dict[int, int]]]:
    """One monitor run as of ``now``: each window processed, with its alerts' counts then."""
    store = monitor.context.store
    result = monitor.run_once(now=datetime.fromtimestamp(now, UTC))
    return [(w, {a["id"]: store.get_alert(a["id"]).occurrences for a in w.alerts})
            for w in result.windows]


# -- what the console shows ------------------------------------------------------------

def _top_drift(outcome: WindowOutcome) -> str:
    """The drifted feature with the largest effect, with its test statistic."""
    report = outcome.drift
    drifted = [] if report is None else sorted(
        report.drifted_columns, key=lambda c: -(report.columns[c].result.effect_size or 0.0))
    if report is None or not drifted:
        return "—"
    result = report.columns[drifted[0]].result
    return f"{drifted[0]} {result.detector.upper()} {result.statistic:.2f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _window_table(summary: MonitoringSummary, production: int | None) -> Table:
    table = Table(title=f"Monitored {WINDOW.total_seconds():g} s windows of {MODEL}@production "
                  f"(v{production})", title_justify="left", box=box.SIMPLE_HEAD,
                  show_edge=False, pad_edge=False)
    for col in ("start", "traffic", "rows", "drift", "top drifted", "acc.", "p99 ms", "alert"):
        table.add_column(col, no_wrap=True)
    for row in summary.windows:
        w = row.outcome
        data = w.to_dict()
        alerts = []
        for a in w.alerts:
            word = "opened" if a["created"] else f"seen ×{row.occurrences.get(a['id'], 1)}"
            alerts.append(f"[red]#{a['id']} {word}[/]")
        p99 = data["ops"].get("ops.latency_p99_ms")
        table.add_row(f"{w.since:%H:%M:%S}", row.traffic, str(w.rows),
                      _pct(data["drift_share"]), _top_drift(w), _pct(data["accuracy"]),
                      "—" if p99 is None else f"{p99:.0f}", ", ".join(alerts) or "—")
    return table


def _show_alerts(console: Console, opened: list[Alert], alert: Alert) -> None:
    evidence = alert.evidence or {}
    what = [f"{f['feature']} ({str(f.get('detector', '')).upper()} {f['statistic']:.2f}, "
            f"effect {f['effect_size']:.2f})" for f in evidence.get("features") or []
            if isinstance(f.get("statistic"), int | float)
            and isinstance(f.get("effect_size"), int | float)]
    if evidence.get("prediction_drift"):
        what.append("predictions")
    others = [a for a in opened if a.id != alert.id]
    console.print(
        f"Alerts opened: {len(opened)}. #{alert.id} {alert.kind} ({alert.severity}) on "
        f"{alert.model}, drifted in its latest window: {', '.join(what) or 'see evidence'}; "
        f"seen in {alert.occurrences} windows — one alert per incident, not one per window."
        + (f" Also opened: {', '.join(f'#{a.id} {a.kind}' for a in others)}." if others
           else ""), highlight=False, markup=False)


def _show_diagnosis(console: Console, diagnosis: Diagnosis, alert: Alert) -> None:
    window = diagnosis.window
    start, end = window.get("start"), window.get("end")
    span = (f"{start:%H:%M:%S}–{end:%H:%M:%S} UTC" if isinstance(start, datetime)
            and isinstance(end, datetime) else "its window")
    console.print(f"[bold]Diagnosis of alert #{alert.id}[/] ({span}: {window.get('rows', 0)} "
                  f"rows, {window.get('labelled_rows', 0)} labelled), likely causes:")
    for i, cause in enumerate(diagnosis.causes[:4], 1):
        console.print(f"  {i}. [bold]{escape(cause.kind)} {escape(cause.subject)}[/] "
                      f"({cause.score:.2f}): {escape(cause.summary)}", highlight=False)
    html = diagnosis.report_paths.get("diagnosis.html")
    if html:
        console.print(f"Report, linked to the alert: {html}", highlight=False)
