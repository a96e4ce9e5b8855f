"""Shared by the chaos tests: a real gateway process, its workers, and a load generator.

The gateway runs as a subprocess on 127.0.0.1, either as ``mlpilot serve`` (the CLI
a user runs) or through :func:`mlpilot.serve.gateway.server.serve_gateway` with
settings the CLI does not expose (a short request timeout). Models are registered
in a temporary store by the test; ``chaos_models`` (next to this file) holds the
importable predict functions, and is put on the subprocess's ``PYTHONPATH``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import psutil
import pytest
from sklearn.dummy import DummyClassifier

import mlpilot
from mlpilot.core.settings import Settings
from mlpilot.sdk._context import Context
from mlpilot.store import Store
from mlpilot.store.artifacts import get_artifact_store

HERE = Path(__file__).parent
FRAME = pd.DataFrame({"x": [0.0, 1.0, 2.0], "z": [1, 0, 1]})
ROWS = [{"x": 0.5, "z": 1}, {"x": 1.5, "z": 0}, {"x": 2.5, "z": 1}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_context(home: Path) -> Context:
    """A fresh SQLite store and artifact directory under ``home``."""
    url = f"sqlite:///{home / 'store.db'}"
    settings = Settings(home=home, store_url=url, artifact_url=str(home / "artifacts"),
                        actor="chaos")
    settings.ensure_home()
    return Context(settings=settings, store=Store.open(url, actor="chaos"),
                   artifacts=get_artifact_store(settings.artifact_url))


def register_constant(ctx: Context, name: str, value: int, *, alias: str | None = "production"
                      ) -> None:
    """A model that predicts ``value`` for every row."""
    model = DummyClassifier(strategy="constant", constant=value).fit(FRAME, [1, 2, value])
    mlpilot.register(model, name, training_data=FRAME, alias=alias, context=ctx)


@dataclass
class Gateway:
    """A gateway subprocess (own session, so the whole group can be killed)."""

    proc: subprocess.Popen[bytes]
    base: str
    log_dir: Path
    output: Path

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def tail(self) -> str:
        return self.text()[-4000:]

    def workers(self) -> list[int]:
        """Process ids of uvicorn's worker processes (children of the supervisor)."""
        try:
            children = psutil.Process(self.proc.pid).children()
        except psutil.NoSuchProcess:
            return []
        # uvicorn's multiprocessing may also start a resource tracker: keep real workers.
        # A killed worker stays a zombie until the supervisor reaps it: not a worker.
        pids = []
        for c in children:
            try:
                if c.status() == psutil.STATUS_ZOMBIE:
                    continue
                if "resource_tracker" not in " ".join(c.cmdline() or []):
                    pids.append(c.pid)
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
        return pids

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.base}/v2/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None, f"the gateway exited early:\n{self.tail()}"
            assert time.monotonic() < deadline, f"the gateway never became ready:\n{self.tail()}"
            time.sleep(0.2)

    def stop(self) -> None:
        """Graceful stop (SIGINT, Ctrl+C); the exit must be clean.

        Not SIGTERM: with one worker uvicorn re-raises a captured SIGTERM once it has
        shut down, which ends the process before ``serve_gateway`` closes the log.
        """
        self.proc.send_signal(signal.SIGINT)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the gateway did not stop on SIGINT within 30 s:\n{self.tail()}")
        assert rc == 0, f"the gateway exited with {rc}:\n{self.tail()}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)


def _env(ctx: Context) -> dict[str, str]:
    s = ctx.settings
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "MLPILOT_HOME": str(s.home), "MLPILOT_STORE_URL": s.store_url,
            "MLPILOT_ARTIFACT_URL": s.artifact_url, "PYTHONPATH": path,
            "PYTHONUNBUFFERED": "1"}


_SERVE_GATEWAY = """
import sys, json
from mlpilot.core.settings import Settings
from mlpilot.sdk._context import Context
from mlpilot.serve.gateway import GatewaySettings
from mlpilot.serve.gateway.server import serve_gateway

port, log_dir, workers, settings = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
context = Context.from_settings(Settings.from_env())
serve_gateway(context, "127.0.0.1", int(port), workers=int(workers),
              log_dir=log_dir or None, settings=GatewaySettings(**json.loads(settings)),
              log_level="warning")
"""


@contextmanager
def run_gateway(ctx: Context, tmp_path: Path, *, workers: int = 1,
                log_dir: Path | None = None, settings: dict[str, Any] | None = None,
                cli: bool = False) -> Iterator[Gateway]:
    """Start a gateway on ``ctx``'s store, wait until it is ready, kill it on the way out.

    Args:
        cli: run ``mlpilot serve`` itself (``settings`` must then be empty: the CLI sets
            only the reconcile interval here); otherwise ``serve_gateway`` with ``settings``.
    """
    import json

    port = free_port()
    log_dir = log_dir or tmp_path / "inference-log"
    output = tmp_path / f"gateway-{port}.out"
    settings = {"reconcile_interval_s": 0.2, **(settings or {})}
    if cli:
        extra = set(settings) - {"reconcile_interval_s"}
        assert not extra, f"mlpilot serve has no options for {extra}"
        cmd = [sys.executable, "-m", "mlpilot.cli.main", "serve", "--port", str(port),
               "--workers", str(workers), "--log-dir", str(log_dir),
               "--reconcile-interval", str(settings["reconcile_interval_s"])]
    else:
        cmd = [sys.executable, "-c", _SERVE_GATEWAY, str(port), str(log_dir), str(workers),
               json.dumps(settings)]
    with output.open("wb") as out:  # a file, not a pipe: access logs would fill a pipe
        proc = subprocess.Popen(cmd, env=_env(ctx), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    gw = Gateway(proc, f"http://127.0.0.1:{port}", log_dir, output)
    try:
        gw.wait_ready()
        yield gw
    finally:
        gw.kill()


# -- load ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One request as the client saw it (times are ``time.time()``)."""

    rid: str
    kind: str
    start: float
    end: float
    status: int | None  # None: no HTTP answer (connection error, client timeout)
    body: Any
    error: str | None = None


Request = Callable[[str], tuple[str, str, dict[str, Any]]]
"""``rid -> (kind, path, httpx request kwargs)``: what one client sends next."""


class LoadGenerator:
    """Closed-loop clients on a background thread's event loop until :meth:`stop`.

    Args:
        base: the gateway's URL.
        request: builds each request (see :data:`Request`).
        keepalive: clients on one pooled keep-alive connection each.
        fresh: clients that open a new connection per request (these spread over workers).
        timeout: client timeout per request, seconds.
    """

    def __init__(self, base: str, request: Request, *, keepalive: int = 4, fresh: int = 2,
                 timeout: float = 10.0) -> None:
        self.base, self.request = base, request
        self.keepalive, self.fresh, self.timeout = keepalive, fresh, timeout
        self.outcomes: list[Outcome] = []
        self._halt = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()),
                                        name="chaos-load", daemon=True)

    def __enter__(self) -> LoadGenerator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> list[Outcome]:
        self._halt.set()
        self._thread.join(timeout=self.timeout + 20)
        assert not self._thread.is_alive(), "the load generator did not stop"
        return self.outcomes

    def count(self) -> int:
        return len(self.outcomes)

    async def _main(self) -> None:
        timeout = httpx.Timeout(self.timeout)
        async with httpx.AsyncClient(base_url=self.base, timeout=timeout,
                                     limits=httpx.Limits(max_connections=self.keepalive)
                                     ) as pooled, \
                httpx.AsyncClient(base_url=self.base, timeout=timeout,
                                  headers={"Connection": "close"}) as fresh:
            await asyncio.gather(*(self._client(pooled, f"k{i}") for i in range(self.keepalive)),
                                 *(self._client(fresh, f"f{i}") for i in range(self.fresh)))

    async def _client(self, client: httpx.AsyncClient, tag: str) -> None:
        n = 0
        while not self._halt.is_set():
            rid, n = f"{tag}-{n}", n + 1
            kind, path, kwargs = self.request(rid)
            headers = {"X-Request-ID": rid, **kwargs.pop("headers", {})}
            start = time.time()
            try:
                reply = await client.post(path, headers=headers, **kwargs)
                try:
                    body = reply.json()
                except ValueError:
                    body = reply.text[:200]
                self.outcomes.append(Outcome(rid, kind, start, time.time(),
                                             reply.status_code, body))
            except httpx.HTTPError as exc:
                self.outcomes.append(Outcome(rid, kind, start, time.time(), None, None,
                                             f"{type(exc).__name__}: {exc}"))
                await asyncio.sleep(0.01)  # a dead peer: do not spin


def good_request(model: str) -> Request:
    def make(rid: str) -> tuple[str, str, dict[str, Any]]:
        return "good", f"/v1/models/{model}/predict", {"json": {"records": ROWS}}

    return make


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` with these labels in a Prometheus exposition."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        if head.split("{")[0] != name:
            continue
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total
