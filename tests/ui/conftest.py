"""Fixtures for the web UI: hostile data, a demo-filled home, a live server, a browser."""

from __future__ import annotations

import socket
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

from mlpilot.api import create_app
from mlpilot.core.clock import utcnow
from mlpilot.core.entities import MetricPoint, Route
from mlpilot.core.settings import Settings
from mlpilot.sdk._context import Context, set_context
from mlpilot.store import Store
from mlpilot.store.artifacts import get_artifact_store

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

CHROMIUM = Path("/usr/bin/chromium")
XSS_FEATURE = '"><img src=x onerror=alert(1)>'
XSS_TEXT = "<script>alert('xss')</script>"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"


def make_context(home: Path) -> Context:
    """A Context on a fresh SQLite home."""
    settings = Settings(home=home, store_url=f"sqlite:///{home}/mlpilot.db",
                        artifact_url=str(home / "artifacts"), actor="tester")
    settings.ensure_home()
    return Context(settings, Store.open(settings.store_url, actor="tester"),
                   get_artifact_store(settings.artifact_url))


def add_hostile(context: Context) -> None:
    """A model whose description and feature names are XSS attempts, with monitoring data.

    Also gives the model drift/performance/latency points over 12 hourly windows, an
    alert with a diagnosis, and a deployment, so every page has something to draw.
    """
    store = context.store
    store.create_model("hostile", description=f"desc {XSS_TEXT}", tags={"team": XSS_TEXT})
    signature = {"inputs": [{"name": XSS_FEATURE, "dtype": "float", "nullable": False},
                            {"name": "income", "dtype": "float", "nullable": False}],
                 "outputs": {"dtype": "integer", "classes": [0, 1]}}
    for _ in range(2):
        store.create_version("hostile", format="sklearn", artifact_digest="0" * 64,
                             artifact_size=1, signature=signature,
                             metrics={"auc": 0.8, "accuracy": 0.75},
                             description=f"version {XSS_TEXT}")
    store.put_deployment("hostile-ep", model="hostile", strategy="canary",
                         routes=[Route(1, 0.8, "primary"), Route(2, 0.2, "canary")],
                         params={"steps": [0.2, 0.5, 1.0], "step": 0, "note": XSS_TEXT})
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    points = []
    for i in range(12):
        start = now - timedelta(hours=12 - i)
        end = start + timedelta(hours=1)
        for feature, base in ((XSS_FEATURE, 0.02), ("income", 0.03)):
            value = base + (0.06 if i >= 9 and feature == XSS_FEATURE else 0.0)
            points.append(MetricPoint("hostile", "drift.ks", start, end, value, feature=feature,
                                      details={"threshold": 0.05, "drifted": value > 0.05,
                                               "p_value_adjusted": 0.5 if value < 0.05
                                               else 0.001}))
        acc = 0.82 - (0.08 if i >= 9 else 0.0)
        points.append(MetricPoint("hostile", "performance.accuracy", start, end, acc,
                                  details={"lower": acc - 0.03, "upper": acc + 0.03}))
        points.append(MetricPoint("hostile", "estimated.accuracy", start, end, acc + 0.01,
                                  details={"lower": acc - 0.02, "upper": acc + 0.04}))
        points.append(MetricPoint("hostile", "ops.latency_p99_ms", start, end, 40.0 + i,
                                  details={"baseline": {"lower": 30.0, "upper": 60.0}}))
        points.append(MetricPoint("hostile", "ops.error_rate", start, end, 0.001 * i,
                                  details={"baseline": {"lower": 0.0, "upper": 0.01}}))
    store.add_metric_points(points)
    alert, _ = store.raise_alert(
        "hostile:drift", model="hostile", kind="drift", severity="critical",
        title=f"Drift on {XSS_FEATURE}", summary=f"feature {XSS_FEATURE} drifted",
        evidence={"features": [XSS_FEATURE]}, deployment="hostile-ep")
    store.set_alert_diagnosis(alert.id, {
        "summary": f"Most likely: {XSS_FEATURE}", "created_at": now.isoformat(),
        "importance_method": "given", "window": {},
        "causes": [
            {"kind": "drift", "subject": XSS_FEATURE, "score": 0.9,
             "summary": f"{XSS_FEATURE} drifted and matters", "evidence": {}},
            {"kind": "slice", "subject": f"{XSS_FEATURE}=high", "score": 0.5,
             "summary": "errors concentrate", "evidence": {"metric": "error_rate",
                                                           "support": 40}},
            {"kind": "event", "subject": "alias.set hostile", "score": 0.4,
             "summary": "alias moved", "evidence": {"time": now.isoformat(),
                                                    "action": "alias.set",
                                                    "target": "hostile", "actor": XSS_TEXT}},
        ]})
    store.record_decision("rollback", "deployment", "hostile-ep", reason=f"bad {XSS_TEXT}",
                          evidence={"analysis": {"verdict": "fail", "checks": [
                              {"name": XSS_FEATURE, "verdict": "fail", "statistic": 0.3,
                               "threshold": 0.1, "explanation": XSS_TEXT}]}})


@pytest.fixture
def ui_ctx(tmp_path: Path) -> Iterator[Context]:
    """A small home with the hostile model (no demo: fast)."""
    context = make_context(tmp_path / "home")
    add_hostile(context)
    yield context
    context.store.close()


@pytest.fixture
def tokens(ui_ctx: Context) -> dict[str, str]:
    """One token secret per role."""
    return {r: ui_ctx.store.create_token(r, r)[1] for r in ("viewer", "editor", "admin")}


def client_for(context: Context, *, auth: bool) -> TestClient:
    """A TestClient on the API app (UI mounted), auth on or off."""
    return TestClient(create_app(context, auth=auth), raise_server_exceptions=False,
                      follow_redirects=False)


def login(client: TestClient, secret: str) -> Any:
    """Sign ``client`` in through the form (GET for the CSRF token, then POST)."""
    page = client.get("/ui/login")
    csrf = csrf_of(page.text)
    return client.post("/ui/login", data={"token": secret, "csrf": csrf, "next": "/ui/"})


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    marker = 'name="csrf" value="'
    start = html.index(marker) + len(marker)
    return html[start:html.index('"', start)]


class UiKit:
    """What UI tests share, handed out by the ``ui`` fixture (tests import nothing)."""

    XSS_FEATURE = XSS_FEATURE
    XSS_TEXT = XSS_TEXT
    client = staticmethod(client_for)
    login = staticmethod(login)
    csrf_of = staticmethod(csrf_of)


@pytest.fixture
def ui() -> type[UiKit]:
    """Helpers: ``ui.client(context, auth=...)``, ``ui.login(client, secret)``, ``ui.csrf_of``."""
    return UiKit


# -- the live server for browser tests ------------------------------------------------------
@dataclass
class LiveServer:
    url: str
    context: Context
    tokens: dict[str, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The demo's home (serving included) plus the hostile model, served with auth on."""
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM} "
                    "(apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api", reason="browser tests need playwright (dev extra)")
    import uvicorn
    from rich.console import Console

    from mlpilot.demo import run_demo

    context = make_context(tmp_path_factory.mktemp("ui-demo") / "home")
    set_context(context)
    try:
        run_demo(context, Console(file=StringIO(), width=120), serving=True,
                 monitoring=False)
    finally:
        set_context(None)
    add_hostile(context)
    tokens = {r: context.store.create_token(f"{r}-user", r)[1]
              for r in ("viewer", "editor", "admin")}
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(context, auth=True), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the UI server did not start")
        time.sleep(0.05)
    yield LiveServer(f"http://127.0.0.1:{port}", context, tokens)
    server.should_exit = True
    thread.join(10)
    context.store.close()


@pytest.fixture(scope="session")
def browser(live_server: LiveServer) -> Iterator[Any]:
    """Headless Debian chromium driven by Playwright (no downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture
def shots() -> Path:
    """Where screenshots go (``test-artifacts/`` is git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
